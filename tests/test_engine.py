"""Graph behaviour of the engine: forks, accumulation, shapes and dtypes of ``.grad``,
aliasing, grad mode, detach, very deep graphs, freeing, comparisons and dtype rules.

The oracles are closed forms worked out by hand (d/dx (x*x + x) = 2x + 1, ...).
"""

import threading
import weakref

import numpy as np
import pytest

import deltagrad as dg


@pytest.fixture
def default_float64():
    """Switch the default float dtype to float64 for one test, and always switch it back."""
    previous = dg.get_default_dtype()
    dg.set_default_dtype(np.float64)
    try:
        yield
    finally:
        dg.set_default_dtype(previous)


def leaf(values, dtype=np.float64) -> dg.Tensor:
    return dg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# --- forks and accumulation -----------------------------------------------------------


def test_value_used_twice_sums_both_paths():
    x = leaf([-1.5, 0.0, 2.0])
    y = x * x + x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_intermediate_used_by_several_consumers():
    x = leaf([0.3, -0.7])
    a = x.exp()
    y = a * a + 3.0 * a - a / 2.0  # d/dx = (2a + 3 - 1/2) * a
    y.sum().backward()
    a_np = np.exp(x.data)
    np.testing.assert_allclose(x.grad, (2 * a_np + 2.5) * a_np)


def test_same_leaf_on_both_sides_of_every_binary_op():
    x = leaf([0.5, 1.5, 2.5])
    (x + x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
    x.grad = None
    (x - x).sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 0.0])
    x.grad = None
    (x / x).sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 0.0], atol=1e-15)
    x.grad = None
    (x**x).sum().backward()  # d/dx x^x = x^x (ln x + 1)
    np.testing.assert_allclose(x.grad, x.data**x.data * (np.log(x.data) + 1))
    x.grad = None
    (x @ x).backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, -2.0, 3.0])
    (x * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])
    (x * x).sum().backward()  # a fresh graph: its gradient is added to the first
    np.testing.assert_allclose(x.grad, 2.0 + 2 * x.data)
    x.grad = None  # .grad is assignable; None starts afresh
    (x**3).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data**2)


def test_closed_form_cube_and_sigmoid():
    x = leaf(np.linspace(-3, 3, 7))
    (x**3).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data**2)

    z = leaf(np.linspace(-5, 5, 11))
    z.sigmoid().sum().backward()
    s = 1 / (1 + np.exp(-z.data))
    np.testing.assert_allclose(z.grad, s * (1 - s))


CLOSED_FORMS = {
    # name: (op, derivative from NumPy, input)
    "exp": (lambda t: t.exp(), np.exp, np.linspace(-2, 2, 5)),
    "log": (lambda t: t.log(), lambda x: 1 / x, np.linspace(0.5, 3, 5)),
    "sqrt": (lambda t: t.sqrt(), lambda x: 0.5 / np.sqrt(x), np.linspace(0.5, 3, 5)),
    "abs": (lambda t: t.abs(), np.sign, np.array([-2.0, -0.5, 0.5, 2.0])),
    "tanh": (lambda t: t.tanh(), lambda x: 1 - np.tanh(x) ** 2, np.linspace(-2, 2, 5)),
    "relu": (lambda t: t.relu(), lambda x: (x > 0).astype(float), np.array([-2.0, -0.5, 0.5, 2])),
    "clip": (lambda t: t.clip(-1.0, 1.0), lambda x: (np.abs(x) < 1).astype(float),
             np.array([-2.0, -0.5, 0.5, 2.0])),
    "neg": (lambda t: -t, lambda x: -np.ones_like(x), np.array([-1.0, 2.0])),
    "rsub": (lambda t: 3.0 - t, lambda x: -np.ones_like(x), np.array([-1.0, 2.0])),
    "rdiv": (lambda t: 2.0 / t, lambda x: -2.0 / x**2, np.array([-1.0, 2.0])),
    "rpow": (lambda t: 2.0**t, lambda x: 2.0**x * np.log(2.0), np.array([-1.0, 2.0])),
    "mean": (lambda t: t.mean() * t.size, np.ones_like, np.array([1.0, 2.0, 4.0])),
    "var": (lambda t: t.var() * t.size, lambda x: 2 * (x - x.mean()), np.array([1.0, 2.0, 4.0])),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_closed_form_derivatives(name):
    op, derivative, values = CLOSED_FORMS[name]
    x = leaf(values)
    op(x).sum().backward()
    np.testing.assert_allclose(x.grad, derivative(values), rtol=1e-12, atol=1e-15)


def test_max_and_min_split_gradient_evenly_among_ties():
    x = leaf([1.0, 3.0, 3.0, 2.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5, 0.0])

    y = leaf([[1.0, 1.0, 1.0], [0.0, 2.0, 2.0], [5.0, 4.0, 3.0]])
    y.max(axis=1).sum().backward()
    np.testing.assert_allclose(y.grad, [[1 / 3, 1 / 3, 1 / 3], [0, 0.5, 0.5], [1, 0, 0]])

    z = leaf([[4.0, -1.0], [-1.0, -1.0]])
    z.min().backward()
    np.testing.assert_allclose(z.grad, [[0, 1 / 3], [1 / 3, 1 / 3]])

    w = leaf([[2.0, 7.0], [2.0, 1.0]])
    (w.min(axis=0, keepdims=True) * np.array([[10.0, 100.0]])).sum().backward()
    np.testing.assert_allclose(w.grad, [[5.0, 0.0], [5.0, 100.0]])


def test_maximum_and_minimum_ties_give_half_to_each_side():
    a = leaf([1.0, 2.0, 3.0])
    b = leaf([1.0, 5.0, 0.0])
    dg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.0])

    c = leaf([[2.0, -1.0]])
    d = leaf([2.0, 4.0])
    dg.minimum(c, d).sum().backward()
    np.testing.assert_array_equal(c.grad, [[0.5, 1.0]])
    np.testing.assert_array_equal(d.grad, [0.5, 0.0])

    e = leaf([3.0, 3.0])
    dg.maximum(e, 3.0).sum().backward()  # a tie with a constant: half still goes to e
    np.testing.assert_array_equal(e.grad, [0.5, 0.5])


# --- shape and dtype of .grad ---------------------------------------------------------


def test_grad_matches_float32_leaf_mixed_with_float64_constants():
    x = leaf([1.0, 2.0, 3.0], dtype=np.float32)
    constant = np.array([0.5, 0.25, 0.125], dtype=np.float64)
    y = (x * constant + np.float64(2.0) * x).sum()
    assert y.dtype == np.float64  # NumPy promotes the value ...
    y.backward()
    assert isinstance(x.grad, np.ndarray)
    assert x.grad.dtype == np.float32  # ... but the gradient has the leaf's dtype
    assert x.grad.shape == (3,)
    np.testing.assert_allclose(x.grad, constant + 2.0)


def test_grad_of_float64_leaf_with_float32_partner_stays_float64():
    x = leaf([1.0, 2.0])
    w = leaf([3.0, 4.0], dtype=np.float32)
    (x * w).sum().backward()
    assert x.grad.dtype == np.float64 and w.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3.0, 4.0])
    np.testing.assert_allclose(w.grad, [1.0, 2.0])


@pytest.mark.parametrize("shape", [(1, 3), (3,), (4, 1), (), (1, 1)])
def test_broadcast_leaf_gets_gradient_of_its_own_shape(shape):
    rng = np.random.default_rng(0)
    small = leaf(rng.uniform(-1, 1, shape), dtype=np.float32)
    big = leaf(rng.uniform(-1, 1, (4, 3)))
    weights = np.arange(12.0).reshape(4, 3)
    ((small * big) * weights).sum().backward()
    assert small.grad.shape == shape and small.grad.dtype == np.float32
    assert big.grad.shape == (4, 3) and big.grad.dtype == np.float64
    # Oracle: sum the full (4, 3) gradient over the broadcast axes by hand.
    full = big.data * weights
    expected = full.sum(axis=0) if shape == (3,) else full.sum() if shape == () else \
        full.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
    np.testing.assert_allclose(small.grad, expected, rtol=1e-5)
    np.testing.assert_allclose(big.grad, np.broadcast_to(small.data, (4, 3)) * weights,
                               rtol=1e-6)


def test_zero_dim_leaf_grad_is_an_ndarray_even_after_accumulating():
    x = dg.tensor(2.0, requires_grad=True)
    (x * x).backward()  # a fork into a 0-d leaf
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad.dtype == np.float32
    (x * 3.0).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad.dtype == np.float32
    assert x.grad == pytest.approx(7.0)


def test_constant_tensor_gets_no_grad():
    x = leaf([1.0, 2.0])
    c = dg.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None and not c.requires_grad
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


# --- aliasing -------------------------------------------------------------------------


def test_leaves_grads_do_not_alias_each_other():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    x.grad += 10.0  # in place
    np.testing.assert_array_equal(y.grad, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [11.0, 11.0])


@pytest.mark.parametrize("build", [
    lambda x, y: x + y,
    lambda x, y: (y + 1.0) + x,
    lambda x, y: x.reshape(2, 1).reshape(2) + y,
    lambda x, y: (x + (y - 0.0)) * 2.0,
    lambda x, y: dg.stack([x, y]).sum(axis=0),
], ids=["add", "add-nested", "reshape", "scaled", "stack"])
def test_grads_alias_neither_each_other_nor_the_seed(build):
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    seed = np.array([5.0, 7.0])
    build(x, y).backward(grad=seed)
    x_grad, y_grad = x.grad.copy(), y.grad.copy()
    seed[...] = -1.0
    np.testing.assert_array_equal(x.grad, x_grad)
    np.testing.assert_array_equal(y.grad, y_grad)
    x.grad[...] = 100.0
    np.testing.assert_array_equal(y.grad, y_grad)
    assert not np.shares_memory(x.grad, y.grad)


def test_backward_from_a_leaf_copies_the_seed():
    x = leaf([1.0, 2.0])
    seed = np.array([3.0, 4.0])
    x.backward(grad=seed)
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    seed[...] = 0.0
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    x.grad[...] = 9.0
    np.testing.assert_array_equal(seed, [0.0, 0.0])


def test_accumulation_does_not_write_into_an_array_the_user_assigned():
    x = leaf([1.0, 2.0])
    mine = np.array([10.0, 20.0])
    x.grad = mine
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [13.0, 23.0])
    np.testing.assert_array_equal(mine, [10.0, 20.0])


# --- grad mode ------------------------------------------------------------------------


def records(x: dg.Tensor) -> bool:
    return (x * 2.0).requires_grad


def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with dg.no_grad():
        y = x * x + 1.0
        assert not y.requires_grad
        with pytest.raises(ValueError):
            y.sum().backward()
    assert records(x)
    assert x.grad is None


def test_no_grad_decorator():
    x = leaf([1.0])

    @dg.no_grad()
    def square(t):
        return t * t

    y = square(x)
    assert not y.requires_grad
    np.testing.assert_array_equal(y.data, [1.0])
    assert square.__name__ == "square"
    assert records(x)


def test_no_grad_nested_restores_each_level():
    x = leaf([1.0])
    with dg.no_grad():
        with dg.no_grad():
            assert not records(x)
        assert not records(x)
        with dg.enable_grad():
            assert records(x)
            with dg.no_grad():
                assert not records(x)
            assert records(x)
        assert not records(x)
    assert records(x)


def test_grad_mode_restored_after_exceptions():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="boom"), dg.no_grad():
        raise RuntimeError("boom")
    assert records(x)

    @dg.no_grad()
    def failing():
        raise KeyError("inside")

    with pytest.raises(KeyError):
        failing()
    assert records(x)

    with dg.no_grad():
        with pytest.raises(ValueError), dg.enable_grad():
            raise ValueError("inner")
        assert not records(x)
    assert records(x)


def test_enable_grad_inside_no_grad_records_and_backpropagates():
    x = leaf([1.0, 2.0])
    with dg.no_grad():
        with dg.enable_grad():
            y = (x * x).sum()
        z = x * 3.0
    assert y.requires_grad and not z.requires_grad
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])

    @dg.enable_grad()
    def double(t):
        return t * 2.0

    with dg.no_grad():
        assert double(x).requires_grad


def test_grad_mode_is_per_thread():
    x = leaf([1.0])
    seen = []
    inside, release = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        seen.append(records(x))
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    with dg.no_grad():
        inside.set()
        release.wait(5)
    thread.join(5)
    assert seen == [True]


# --- detach ---------------------------------------------------------------------------


def test_detach_shares_data_and_stops_the_gradient():
    x = leaf([1.0, 2.0, 3.0])
    d = x.detach()
    assert not d.requires_grad and d.grad is None
    assert np.shares_memory(d.data, x.data)
    (x * x.detach()).sum().backward()  # d/dx (x * c) = c, not 2x
    np.testing.assert_allclose(x.grad, x.data)

    h = (x * 2.0).detach()
    assert not h.requires_grad
    with pytest.raises(ValueError):
        h.sum().backward()


# --- deep graphs and freeing ----------------------------------------------------------


def test_backward_through_a_100_000_op_chain():
    x = leaf([1.0, -2.0])
    y = x
    for i in range(100_000):
        y = y + 1.0 if i % 2 else y * 1.0
    y.sum().backward()  # recursion would fail long before this depth
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
    np.testing.assert_array_equal(y.data, x.data + 50_000)
    for _ in range(100_000):  # a deep graph that is never walked must also be freed quietly
        y = y * 1.0
    del y


def test_second_backward_through_a_freed_graph_raises_clearly():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(ValueError, match="freed"):
        y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])  # the failed call added nothing

    h = x.exp()
    h.sum().backward()
    with pytest.raises(ValueError, match="freed"):
        (h * 2.0).sum().backward()  # reuses h, whose graph is gone


def test_backward_releases_saved_values():
    x = leaf(np.ones(1000))
    hidden = (x * 3.0).exp()  # Exp keeps its output for backward
    watcher = weakref.ref(hidden.data)
    loss = hidden.sum()
    del hidden
    assert watcher() is not None  # the graph still holds it
    loss.backward()
    assert watcher() is None  # ... and lets go once backward ran


# --- comparisons ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_comparisons_return_tensors_without_grad(name):
    import operator

    compare = getattr(operator, name)
    x = leaf([1.0, 2.0, 3.0])
    others = [2.0, np.array([3.0, 2.0, 1.0]), dg.tensor(np.array([0.0, 2.0, 4.0]))]
    for other in others:
        result = compare(x, other)
        assert isinstance(result, dg.Tensor)
        assert not result.requires_grad
        assert result.dtype == np.bool_
        plain = other.data if isinstance(other, dg.Tensor) else other
        np.testing.assert_array_equal(result.data, compare(x.data, plain))


# --- dtype rules ----------------------------------------------------------------------


def test_python_floats_take_the_default_float32():
    assert dg.get_default_dtype() == np.float32
    assert dg.tensor(1.5).dtype == np.float32
    assert dg.tensor([1.0, 2.0]).dtype == np.float32
    assert dg.tensor([[1, 2.5], [3, 4]]).dtype == np.float32  # mixed ints and floats
    assert dg.tensor(1.5, requires_grad=True).dtype == np.float32


def test_set_default_dtype_float64(default_float64):
    assert dg.get_default_dtype() == np.float64
    assert dg.tensor(1.5).dtype == np.float64
    assert dg.tensor([[1.0], [2.0]]).dtype == np.float64
    assert dg.tensor(np.ones(2, dtype=np.float32)).dtype == np.float32  # arrays keep theirs


def test_default_dtype_restored_after_the_fixture():
    assert dg.get_default_dtype() == np.float32


def test_set_default_dtype_rejects_non_floats():
    with pytest.raises(TypeError):
        dg.set_default_dtype(np.int32)
    assert dg.get_default_dtype() == np.float32


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int32,
                                   np.int64, np.uint8, np.bool_])
def test_numpy_arrays_keep_their_dtype(dtype):
    array = np.ones((2, 2), dtype=dtype)
    assert dg.tensor(array).dtype == dtype


def test_python_ints_and_bools_keep_numpys_dtype():
    assert dg.tensor(3).dtype == np.asarray(3).dtype
    assert dg.tensor([1, 2, 3]).dtype == np.asarray([1, 2, 3]).dtype
    assert dg.tensor(True).dtype == np.bool_
    assert dg.tensor([True, False]).dtype == np.bool_


def test_numpy_scalars_keep_their_dtype():
    assert dg.tensor(np.float64(2.0)).dtype == np.float64
    assert dg.tensor(np.float16(2.0)).dtype == np.float16


def test_a_given_dtype_casts():
    assert dg.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert dg.tensor(np.ones(2, dtype=np.float64), dtype=np.float32).dtype == np.float32
    assert dg.tensor(1.7, dtype=np.int32).dtype == np.int32
    t = dg.tensor([1, 2], dtype=np.float32, requires_grad=True)
    assert t.requires_grad and t.dtype == np.float32


def test_ops_follow_numpy_promotion():
    x = dg.tensor(np.ones(2, dtype=np.float32))
    assert (x + 1.5).dtype == np.float32  # Python scalars do not promote
    assert (2.0 * x).dtype == np.float32
    assert (x * np.ones(2, dtype=np.float64)).dtype == np.float64
    assert (x + np.ones(2, dtype=np.float32)).dtype == np.float32
