"""The public Tensor surface of API.md section 1: properties, conversions, operators with
every kind of operand on either side, method and function forms, numerical stability."""

import math
import operator
import warnings

import numpy as np
import pytest

import deltagrad as dg


def leaf(values, dtype=np.float64) -> dg.Tensor:
    return dg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# --- properties and conversions -------------------------------------------------------


def test_properties():
    data = np.arange(6.0).reshape(2, 3)
    x = dg.tensor(data, requires_grad=True)
    assert isinstance(x, dg.Tensor)
    assert type(x.data) is np.ndarray
    np.testing.assert_array_equal(x.data, data)
    assert x.grad is None
    assert x.shape == (2, 3) and isinstance(x.shape, tuple)
    assert x.ndim == 2 and x.size == 6 and x.dtype == np.float64
    assert x.requires_grad is True
    assert dg.tensor(data).requires_grad is False
    np.testing.assert_array_equal(x.T.data, data.T)
    assert x.T.shape == (3, 2) and x.T.requires_grad


def test_T_of_one_and_three_dim_tensors():
    v = leaf([1.0, 2.0])
    np.testing.assert_array_equal(v.T.data, [1.0, 2.0])
    cube = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(leaf(cube).T.data, cube.T)


def test_tensor_class_constructor():
    x = dg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert x.requires_grad and x.dtype == np.float64
    assert dg.Tensor([1.0]).dtype == np.float32


def test_grad_is_assignable():
    x = leaf([1.0, 2.0])
    x.grad = np.array([5.0, 6.0])
    np.testing.assert_array_equal(x.grad, [5.0, 6.0])
    x.grad = None
    assert x.grad is None


def test_numpy_item_detach():
    x = leaf([[1.5, 2.5]])
    array = x.numpy()
    assert type(array) is np.ndarray
    np.testing.assert_array_equal(array, [[1.5, 2.5]])
    scalar = leaf(3.25).item()
    assert type(scalar) is float and scalar == 3.25
    assert leaf([[4.0]]).item() == 4.0
    assert type(dg.tensor(7).item()) is int
    d = x.detach()
    assert isinstance(d, dg.Tensor) and not d.requires_grad and d.grad is None
    np.testing.assert_array_equal(d.data, x.data)


# --- operators: every operand kind on either side -------------------------------------


OPERATORS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "truediv": operator.truediv, "pow": operator.pow,
}


def operands():
    """(name, value) pairs of everything that may stand next to a Tensor."""
    return [
        ("tensor", dg.tensor(np.array([[0.5], [2.0]]))),
        ("ndarray", np.array([[0.5], [2.0]])),
        ("float", 1.5),
        ("int", 2),
        ("numpy_scalar", np.float64(1.25)),
    ]


def plain(value):
    return value.data if isinstance(value, dg.Tensor) else value


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operators_with_every_operand_on_either_side(name):
    op = OPERATORS[name]
    x = leaf([[0.5, 1.0, 1.5]])
    for kind, other in operands():
        for left, right in [(x, other), (other, x)]:
            result = op(left, right)
            assert isinstance(result, dg.Tensor), (kind, type(result))
            assert result.requires_grad
            np.testing.assert_allclose(result.data, op(plain(left), plain(right)),
                                       err_msg=f"{name} with {kind}")


@pytest.mark.parametrize("left_kind", ["tensor", "ndarray"])
def test_matmul_operator_with_ndarray_on_either_side(left_kind):
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(12.0).reshape(3, 4)
    x = leaf(a) if left_kind == "tensor" else a
    y = leaf(b) if left_kind == "ndarray" else b
    result = x @ y
    assert isinstance(result, dg.Tensor) and result.requires_grad
    np.testing.assert_allclose(result.data, a @ b)


def test_reflected_operators_give_correct_gradients():
    x = leaf([1.0, 2.0, 4.0])
    array = np.array([3.0, 5.0, 7.0])
    (array - x).sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, -1.0, -1.0])
    x.grad = None
    (array / x).sum().backward()
    np.testing.assert_allclose(x.grad, -array / x.data**2)
    x.grad = None
    (2.0**x).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0**x.data * np.log(2.0))
    x.grad = None
    (np.float64(3.0) * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])
    x.grad = None
    (np.eye(3) @ x).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_unary_minus_and_plus():
    x = leaf([1.0, -2.0])
    np.testing.assert_array_equal((-x).data, [-1.0, 2.0])
    assert (-x).requires_grad
    np.testing.assert_array_equal((+x).data, [1.0, -2.0])


def test_integer_constants_work_with_float_leaves():
    x = leaf([1.0, 2.0, 3.0], dtype=np.float32)
    n = dg.tensor([2, 3, 4])
    assert n.dtype.kind == "i"
    y = (x * n).sum()
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 3.0, 4.0])
    assert n.grad is None


def test_ops_on_constants_do_not_require_grad():
    c = dg.tensor(np.array([1.0, 2.0]))
    assert not (c * 2.0).requires_grad
    assert not c.exp().sum().requires_grad
    assert not dg.maximum(c, np.zeros(2)).requires_grad
    mixed = c * leaf([1.0, 1.0])
    assert mixed.requires_grad


# --- method and function forms agree --------------------------------------------------


def sample(shape=(2, 3), seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


METHOD_FUNCTION_PAIRS = [
    ("sum", {}), ("sum", {"axis": 1}), ("sum", {"axis": (0, 1), "keepdims": True}),
    ("mean", {"axis": -1}), ("var", {"axis": 0, "keepdims": True}), ("max", {"axis": 1}),
    ("min", {}), ("logsumexp", {"axis": 0}), ("exp", {}), ("log", {}), ("sqrt", {}),
    ("abs", {}), ("tanh", {}), ("sigmoid", {}), ("relu", {}),
]


@pytest.mark.parametrize("name, kwargs", METHOD_FUNCTION_PAIRS,
                         ids=[f"{n}-{k}" for n, k in METHOD_FUNCTION_PAIRS])
def test_function_form_equals_method_form(name, kwargs):
    values = sample()
    x1, x2 = leaf(values), leaf(values)
    by_method = getattr(x1, name)(**kwargs)
    by_function = getattr(dg, name)(x2, **kwargs)
    assert isinstance(by_function, dg.Tensor)
    np.testing.assert_array_equal(by_method.data, by_function.data)
    by_method.sum().backward()
    by_function.sum().backward()
    np.testing.assert_array_equal(x1.grad, x2.grad)
    # The function form takes plain array-likes too, and gives a constant Tensor.
    constant = getattr(dg, name)(values, **kwargs)
    assert isinstance(constant, dg.Tensor) and not constant.requires_grad
    np.testing.assert_array_equal(constant.data, by_method.data)


def test_shape_functions_and_methods():
    values = sample((2, 3, 4))
    x = leaf(values)
    np.testing.assert_array_equal(dg.reshape(x, (4, 6)).data, values.reshape(4, 6))
    np.testing.assert_array_equal(dg.reshape(x, 4, 6).data, values.reshape(4, 6))
    np.testing.assert_array_equal(x.reshape(-1).data, values.reshape(-1))
    np.testing.assert_array_equal(dg.transpose(x, (2, 0, 1)).data, values.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).data, values.transpose(2, 0, 1))
    np.testing.assert_array_equal(dg.transpose(x).data, values.T)
    np.testing.assert_array_equal(x.swapaxes(0, -1).data, values.swapaxes(0, -1))
    np.testing.assert_array_equal(dg.clip(x, 0.8, 1.2).data, np.clip(values, 0.8, 1.2))
    np.testing.assert_array_equal(x.clip(hi=1.0).data, np.minimum(values, 1.0))
    np.testing.assert_array_equal(x.clip(lo=1.0).data, np.maximum(values, 1.0))
    w = sample((4, 5), seed=1)
    np.testing.assert_allclose(x.matmul(w).data, values @ w)
    np.testing.assert_allclose(dg.matmul(values, leaf(w)).data, values @ w)
    assert dg.matmul(values, leaf(w)).requires_grad


def test_joining_and_selecting_functions_accept_mixed_operands():
    a, b = sample((2, 2), 0), sample((2, 2), 1)
    x = leaf(a)
    cat = dg.concatenate([x, b], axis=-1)
    assert cat.requires_grad
    np.testing.assert_array_equal(cat.data, np.concatenate([a, b], axis=-1))
    stacked = dg.stack((b, x), axis=1)
    np.testing.assert_array_equal(stacked.data, np.stack([b, a], axis=1))
    chosen = dg.where(a > 1.0, x, b)
    np.testing.assert_array_equal(chosen.data, np.where(a > 1.0, a, b))
    chosen_from_tensor = dg.where(x > 1.0, x, 0.0)  # a comparison Tensor as the condition
    np.testing.assert_array_equal(chosen_from_tensor.data, np.where(a > 1.0, a, 0.0))
    np.testing.assert_array_equal(dg.maximum(x, 1.0).data, np.maximum(a, 1.0))
    np.testing.assert_array_equal(dg.minimum(b, x).data, np.minimum(b, a))
    (cat.sum() + stacked.sum() + chosen.sum()).backward()
    np.testing.assert_array_equal(x.grad, 2.0 + (a > 1.0))


def test_iterating_and_len_follow_the_first_axis():
    x = leaf(sample((3, 2)))
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, dg.Tensor) for r in rows)
    sum(r.sum() for r in rows).backward()
    np.testing.assert_array_equal(x.grad, np.ones((3, 2)))


# --- numerical stability --------------------------------------------------------------


def stable_sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    return math.exp(v) / (1.0 + math.exp(v))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_at_large_magnitudes(dtype):
    values = [-1e4, -80.0, -30.0, 0.0, 30.0, 80.0, 1e4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow / invalid warning fails the test
        x = leaf(values, dtype=dtype)
        s = x.sigmoid()
        s.sum().backward()
    assert s.dtype == dtype and x.grad.dtype == dtype
    assert np.all(np.isfinite(s.data)) and np.all(np.isfinite(x.grad))
    expected = np.array([stable_sigmoid(v) for v in values])
    np.testing.assert_allclose(s.data, expected.astype(dtype), rtol=1e-6, atol=0)
    assert s.data[0] == 0.0 and s.data[-1] == 1.0 and s.data[3] == 0.5
    # s (1 - s) can not resolve 1 - s below the dtype's epsilon: that much absolute error is fine.
    np.testing.assert_allclose(x.grad, expected * (1 - expected), rtol=1e-5,
                               atol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logsumexp_is_stable_for_huge_inputs(dtype):
    values = np.array([[1e4, 1e4], [1e4, 1e4 - 1.0], [-1e4, -1e4 + 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = leaf(values, dtype=dtype)
        out = dg.logsumexp(x, axis=1)
        out.sum().backward()
    e = math.e
    expected = [1e4 + math.log(2), 1e4 + math.log(1 + 1 / e), -1e4 + 2 + math.log(1 + e**-2)]
    tolerance = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out.data, expected, rtol=tolerance)
    expected_grad = [[0.5, 0.5], [1 / (1 + 1 / e), (1 / e) / (1 + 1 / e)],
                     [1 / (1 + e**2), e**2 / (1 + e**2)]]
    # δ = e^(x - z): z near 1e4 is rounded to its dtype's spacing there, and so is x - z.
    grad_tolerance = 2 * float(np.spacing(dtype(1e4)))
    np.testing.assert_allclose(x.grad, expected_grad, rtol=grad_tolerance)


def test_logsumexp_with_minus_infinity():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        all_minus_inf = dg.logsumexp(dg.tensor(np.full((2, 3), -np.inf)), axis=1)
        assert np.all(all_minus_inf.data == -np.inf)
        assert dg.logsumexp(dg.tensor(np.full(3, -np.inf))).item() == -np.inf

        x = leaf([[0.0, -np.inf, 1.0], [-1e4, -1e4, -np.inf]])
        out = x.logsumexp(axis=1, keepdims=True)
        assert out.shape == (2, 1)
        out.sum().backward()
    np.testing.assert_allclose(out.data[:, 0], [math.log(1 + math.e), -1e4 + math.log(2)])
    e = math.e
    np.testing.assert_allclose(x.grad, [[1 / (1 + e), 0.0, e / (1 + e)], [0.5, 0.5, 0.0]])


def test_tanh_and_exp_of_large_inputs_without_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = leaf([-1e4, 1e4])
        y = x.tanh()
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [-1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


# --- .grad of a non-leaf, and in-place updates ---------------------------------------------


def test_reading_grad_of_a_non_leaf_warns_and_says_how_to_update_in_place():
    W = dg.tensor([1.0, 2.0], requires_grad=True)
    (W * W).sum().backward()
    W = W - 0.1 * W.grad  # the update a student writes first: W is now made by an op
    (W * W).sum().backward()
    with pytest.warns(UserWarning, match=r"made by op 'sub', not a leaf.*W.data -= lr \* W.grad"
                                         r".*with dg.no_grad\(\): W -= lr \* W.grad"):
        assert W.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dg.tensor([1.0], requires_grad=True).grad is None  # a leaf: no warning
        assert (dg.tensor([1.0]) * 2).grad is None  # needs no grad: no warning


def test_in_place_update_inside_no_grad_keeps_the_leaf():
    W = dg.tensor([1.0, 2.0], requires_grad=True)
    data = W.data
    for _ in range(2):
        W.grad = None
        (W * W).sum().backward()
        with dg.no_grad():
            W -= 0.25 * W.grad
    assert W.is_leaf and W.requires_grad and W.data is data
    np.testing.assert_allclose(W.data, [0.25, 0.5])
    with dg.no_grad():
        W *= 2
        W /= dg.tensor([2.0, 4.0])
        W += 1
    np.testing.assert_allclose(W.data, [1.25, 1.25])


def test_in_place_update_of_a_leaf_that_requires_grad_is_refused_while_recording():
    W = dg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"-=.*W.data -= lr \* W.grad.*dg.no_grad"):
        W -= 1.0
    np.testing.assert_allclose(W.data, [1.0, 2.0])


def test_in_place_operators_elsewhere_record_a_new_tensor_as_before():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h_before = h
    h += x  # h is made by an op: a new node, the graph stays right
    assert h is not h_before
    total = dg.tensor(0.0)
    total += h.sum()  # a constant accumulating a graph: a new node too
    total.backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])
    c = dg.tensor([1.0, 2.0])
    c += np.array([1.0, 1.0])  # nothing requires grad: in place
    np.testing.assert_allclose(c.data, [2.0, 3.0])
    with pytest.raises(ValueError, match=r"tensor \+=: can not update a tensor of shape \(2,\)"):
        c += np.ones(3)
