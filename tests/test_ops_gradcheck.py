"""Every op of API.md section 1 against central differences (``dg.gradcheck``, float64)
and against NumPy for its forward value, on random shapes including broadcasting.

Inputs are kept away from the points where an op is not differentiable: positive values
for log/sqrt, |x| >= 0.1 for abs/relu, a margin around clip's bounds, distinct values for
max/min/maximum/minimum (ties have their own exact tests in test_engine.py).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deltagrad as dg

FAST = settings(max_examples=50, deadline=None)

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                    min_side=1, max_side=3)


# --- helpers --------------------------------------------------------------------------


def leaf(values) -> dg.Tensor:
    return dg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def uniform(rng, shape, lo=-2.0, hi=2.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape)


def away_from_zero(rng, shape, low=0.1, high=2.0) -> np.ndarray:
    """Random signs, magnitudes in [low, high]: no kink of abs/relu within reach of eps."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def distinct(rng, shape, spacing=0.3) -> np.ndarray:
    """Values at least ``spacing / 3`` apart from each other (no ties for max/min)."""
    size = int(np.prod(shape, dtype=int))
    values = (rng.permutation(size) - size / 2) * spacing
    values = values + rng.uniform(-spacing / 3, spacing / 3, size=size)
    return values.reshape(shape)


def check(f, *inputs, expected=None):
    """gradcheck ``f`` and, when given, compare its forward value with NumPy's."""
    assert dg.gradcheck(f, list(inputs)) is True
    if expected is not None:
        out = f(*inputs)
        assert isinstance(out, dg.Tensor)
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


# --- binary arithmetic with broadcasting ----------------------------------------------


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
}


def binary_inputs(rng, name, shape_a, shape_b):
    if name == "pow":  # positive base so that d/db = a^b ln a exists
        return rng.uniform(0.5, 2.0, shape_a), rng.uniform(-2.0, 2.0, shape_b)
    if name == "div":
        return uniform(rng, shape_a), away_from_zero(rng, shape_b, 0.5, 2.0)
    return uniform(rng, shape_a), uniform(rng, shape_b)


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=broadcast_pairs, seed=seeds)
def test_binary_op_broadcasting_both_require_grad(name, shapes, seed):
    rng = np.random.default_rng(seed)
    op, np_op = BINARY[name]
    a, b = binary_inputs(rng, name, *shapes.input_shapes)
    check(op, leaf(a), leaf(b), expected=np_op(a, b))


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=broadcast_pairs, seed=seeds)
def test_binary_op_with_ndarray_on_either_side(name, shapes, seed):
    rng = np.random.default_rng(seed)
    op, np_op = BINARY[name]
    a, b = binary_inputs(rng, name, *shapes.input_shapes)
    # ndarray on the left: NumPy must defer to the Tensor's reflected operator.
    check(lambda y: op(a, y), leaf(b), expected=np_op(a, b))
    check(lambda x: op(x, b), leaf(a), expected=np_op(a, b))


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shape=shapes, seed=seeds)
def test_binary_op_with_python_scalar_on_either_side(name, shape, seed):
    rng = np.random.default_rng(seed)
    op, np_op = BINARY[name]
    scalar = float(rng.uniform(0.5, 2.0))
    if name == "pow":
        x = rng.uniform(0.5, 2.0, shape)  # positive for both x ** s and s ** x
    elif name == "div":
        x = away_from_zero(rng, shape, 0.5, 2.0)
    else:
        x = uniform(rng, shape)
    check(lambda t: op(scalar, t), leaf(x), expected=np_op(scalar, x))
    check(lambda t: op(t, scalar), leaf(x), expected=np_op(x, scalar))


@FAST
@given(shape=shapes, seed=seeds, exponent=st.sampled_from([2, 3, -1, 0.5, -1.5, 0]))
def test_pow_with_fixed_exponents(shape, seed, exponent):
    x = np.random.default_rng(seed).uniform(0.3, 2.0, shape)
    check(lambda t: t**exponent, leaf(x), expected=x**exponent)


@FAST
@given(shape=shapes, seed=seeds)
def test_unary_negation(shape, seed):
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: -t, leaf(x), expected=-x)


@FAST
@given(shapes=broadcast_pairs, seed=seeds)
def test_composite_expression_with_forks_and_broadcasting(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = uniform(rng, shapes.input_shapes[0]), away_from_zero(rng, shapes.input_shapes[1])
    expected = (a * b - a / b) * a + 2.0 - b**2
    check(lambda x, y: (x * y - x / y) * x + 2.0 - y**2, leaf(a), leaf(b), expected=expected)


# --- elementwise functions ------------------------------------------------------------


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


UNARY = {
    # name: (deltagrad method call, NumPy forward, input generator)
    "exp": (lambda t: t.exp(), np.exp, uniform),
    "log": (lambda t: t.log(), np.log, lambda rng, s: rng.uniform(0.2, 3.0, s)),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, lambda rng, s: rng.uniform(0.2, 3.0, s)),
    "abs": (lambda t: t.abs(), np.abs, away_from_zero),
    "tanh": (lambda t: t.tanh(), np.tanh, uniform),
    "sigmoid": (lambda t: t.sigmoid(), np_sigmoid, lambda rng, s: uniform(rng, s, -6, 6)),
    "relu": (lambda t: t.relu(), lambda x: np.maximum(x, 0), away_from_zero),
}

DG_FUNCTIONS = {
    "exp": dg.exp, "log": dg.log, "sqrt": dg.sqrt, "abs": dg.abs, "tanh": dg.tanh,
    "sigmoid": dg.sigmoid, "relu": dg.relu,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=shapes, seed=seeds)
def test_unary_method_and_function(name, shape, seed):
    method, np_f, make = UNARY[name]
    x = make(np.random.default_rng(seed), shape)
    check(method, leaf(x), expected=np_f(x))
    check(DG_FUNCTIONS[name], leaf(x), expected=np_f(x))


def clip_inputs(rng, shape, lo, hi, margin=0.05):
    """Values in [-2, 2] that stay ``margin`` away from both bounds."""
    x = rng.uniform(-2.0, 2.0, shape)
    for bound in (lo, hi):
        if bound is not None:
            near = np.abs(x - bound) < margin
            x = np.where(near, bound + np.where(x >= bound, margin, -margin) * 2, x)
    return x


@FAST
@given(shape=shapes, seed=seeds,
       bounds=st.sampled_from([(-0.5, 0.5), (-1.0, None), (None, 0.7), (0.0, 1.5)]))
def test_clip(shape, seed, bounds):
    lo, hi = bounds
    x = clip_inputs(np.random.default_rng(seed), shape, lo, hi)
    expected = np.clip(x, lo, hi)
    check(lambda t: t.clip(lo, hi), leaf(x), expected=expected)
    check(lambda t: dg.clip(t, lo, hi), leaf(x), expected=expected)


# --- reductions -----------------------------------------------------------------------


@st.composite
def shape_axis_keepdims(draw):
    """A shape and an axis of every kind: None, int, negative int, tuple (mixed signs)."""
    shape = draw(nonscalar_shapes)
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "negative", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(0, ndim - 1))
    elif kind == "negative":
        axis = draw(st.integers(-ndim, -1))
    else:
        axis = draw(hnp.valid_tuple_axes(ndim, min_size=1))
    return shape, axis, draw(st.booleans())


def np_logsumexp(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


REDUCTIONS = {
    "sum": (np.sum, dg.sum, uniform),
    "mean": (np.mean, dg.mean, uniform),
    "var": (np.var, dg.var, uniform),
    "max": (np.max, dg.max, distinct),
    "min": (np.min, dg.min, distinct),
    "logsumexp": (np_logsumexp, dg.logsumexp, uniform),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=80, deadline=None)
@given(case=shape_axis_keepdims(), seed=seeds)
def test_reduction_axis_and_keepdims(name, case, seed):
    shape, axis, keepdims = case
    np_f, dg_f, make = REDUCTIONS[name]
    x = make(np.random.default_rng(seed), shape)
    expected = np_f(x, axis=axis, keepdims=keepdims)
    check(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), leaf(x), expected=expected)
    check(lambda t: dg_f(t, axis=axis, keepdims=keepdims), leaf(x), expected=expected)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_a_zero_dim_tensor(name):
    np_f, _, _ = REDUCTIONS[name]
    x = np.array(0.75)
    check(lambda t: getattr(t, name)(), leaf(x), expected=np_f(x))


# --- shape ops ------------------------------------------------------------------------


@st.composite
def shape_and_new_shape(draw):
    """A shape and another of the same size, possibly using -1."""
    shape = draw(shapes)
    size = int(np.prod(shape, dtype=int))
    factors = [f for f in range(1, size + 1) if size % f == 0]
    first = draw(st.sampled_from(factors))
    new = draw(st.sampled_from([(size,), (first, size // first), (size // first, 1, first),
                                (-1,), (first, -1), ()] if size == 1 else
                               [(size,), (first, size // first), (size // first, 1, first),
                                (-1,), (first, -1)]))
    return shape, new


@FAST
@given(case=shape_and_new_shape(), seed=seeds)
def test_reshape_tuple_varargs_and_function(case, seed):
    shape, new = case
    x = uniform(np.random.default_rng(seed), shape)
    expected = x.reshape(new)
    check(lambda t: t.reshape(new), leaf(x), expected=expected)
    check(lambda t: t.reshape(*new), leaf(x), expected=expected)
    check(lambda t: dg.reshape(t, new), leaf(x), expected=expected)


@st.composite
def shape_and_axes(draw):
    shape = draw(nonscalar_shapes)
    axes = tuple(draw(st.permutations(range(len(shape)))))
    # The same permutation written with some negative axes.
    signs = draw(st.lists(st.booleans(), min_size=len(axes), max_size=len(axes)))
    written = tuple(a - len(shape) if neg else a for a, neg in zip(axes, signs))
    return shape, axes, written


@FAST
@given(case=shape_and_axes(), seed=seeds)
def test_transpose_permutations(case, seed):
    shape, axes, written = case
    x = uniform(np.random.default_rng(seed), shape)
    expected = x.transpose(axes)
    check(lambda t: t.transpose(*written), leaf(x), expected=expected)
    check(lambda t: t.transpose(written), leaf(x), expected=expected)
    check(lambda t: dg.transpose(t, written), leaf(x), expected=expected)


@FAST
@given(shape=shapes, seed=seeds)
def test_transpose_without_axes_and_T(shape, seed):
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: t.transpose(), leaf(x), expected=x.T)
    check(lambda t: t.T, leaf(x), expected=x.T)


@st.composite
def shape_and_two_axes(draw):
    shape = draw(nonscalar_shapes)
    ndim = len(shape)
    return shape, draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1))


@FAST
@given(case=shape_and_two_axes(), seed=seeds)
def test_swapaxes(case, seed):
    shape, axis1, axis2 = case
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: t.swapaxes(axis1, axis2), leaf(x), expected=np.swapaxes(x, axis1, axis2))


# --- indexing -------------------------------------------------------------------------


BASIC_INDICES = [
    np.s_[1:3],
    np.s_[::-2, 1:],
    np.s_[..., 0],
    np.s_[None, 1],
    np.s_[-1],
    np.s_[2, 3],
    np.s_[1:4:2, ::2],
    np.s_[:, None, -2:],
]

ADVANCED_INDICES = [
    [0, 0, 3, 1, 0],  # a list with repeats
    np.s_[:, [4, 4, 0]],
    np.s_[[0, 0, 3], [1, 1, 2]],  # the same element picked twice
    np.array([[0, 1], [1, 1]]),
    np.s_[[3, 3], 1:4],
    np.s_[np.array([-1, -1, 0]), :],
]


def mask_rows():
    return np.array([True, False, True, True])


MASK_INDICES = [
    np.s_[mask_rows()],
    np.s_[:, np.array([True, False, True, True, False])],
    np.s_[mask_rows(), 2],
]


@pytest.mark.parametrize("index", BASIC_INDICES + ADVANCED_INDICES + MASK_INDICES,
                         ids=lambda i: repr(i).replace(" ", ""))
def test_getitem(index):
    x = uniform(np.random.default_rng(0), (4, 5))
    check(lambda t: t[index], leaf(x), expected=x[index])


def test_getitem_with_full_boolean_mask_and_tensor_indices():
    rng = np.random.default_rng(1)
    x = uniform(rng, (3, 4))
    mask = x > 0
    check(lambda t: t[mask], leaf(x), expected=x[mask])
    check(lambda t: t[dg.tensor(mask)], leaf(x), expected=x[mask])
    check(lambda t: t[t.detach() > 0], leaf(x), expected=x[mask])
    index = np.array([2, 0, 2])
    check(lambda t: t[dg.tensor(index)], leaf(x), expected=x[index])


@FAST
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_getitem_integer_arrays_with_repeats(shape, seed, data):
    x = uniform(np.random.default_rng(seed), shape)
    index = np.array(data.draw(st.lists(st.integers(-shape[0], shape[0] - 1),
                                        min_size=1, max_size=6)))
    check(lambda t: t[index], leaf(x), expected=x[index])
    # Weighted, so that each repeat's contribution is visible in the gradient.
    weights = np.arange(1.0, 1.0 + x[index].size).reshape(x[index].shape)
    check(lambda t: t[index] * weights, leaf(x), expected=x[index] * weights)


@FAST
@given(shape=nonscalar_shapes, seed=seeds, data=st.data())
def test_getitem_boolean_masks(shape, seed, data):
    x = uniform(np.random.default_rng(seed), shape)
    mask = data.draw(hnp.arrays(bool, shape))
    check(lambda t: t[mask], leaf(x), expected=x[mask])
    rows = data.draw(hnp.arrays(bool, shape[:1]))
    check(lambda t: t[rows], leaf(x), expected=x[rows])


def test_getitem_repeated_index_gradient_accumulates_exactly():
    x = dg.tensor(np.array([1.0, 2.0, 3.0, 4.0]), requires_grad=True)
    index = np.array([0, 2, 0, 0, 3])
    weights = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    (x[index] * weights).sum().backward()
    expected = np.zeros(4)
    for position, i in enumerate(index):  # an explicit loop: the oracle
        expected[i] += weights[position]
    np.testing.assert_array_equal(x.grad, expected)


# --- matmul ---------------------------------------------------------------------------


@st.composite
def matmul_shapes(draw):
    """Operand shapes under NumPy's matmul rules: 1-D vectors, matrices, broadcast stacks."""
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3)).input_shapes
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    a_shape = (k,) if draw(st.booleans()) else batch_a + (n, k)
    b_shape = (k,) if draw(st.booleans()) else batch_b + (k, m)
    return a_shape, b_shape


@settings(max_examples=80, deadline=None)
@given(case=matmul_shapes(), seed=seeds)
def test_matmul(case, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = case
    a, b = uniform(rng, a_shape), uniform(rng, b_shape)
    expected = np.matmul(a, b)
    check(lambda x, y: x @ y, leaf(a), leaf(b), expected=expected)
    check(lambda x, y: x.matmul(y), leaf(a), leaf(b), expected=expected)
    check(lambda x, y: dg.matmul(x, y), leaf(a), leaf(b), expected=expected)
    # A constant NumPy operand on either side.
    check(lambda y: a @ y, leaf(b), expected=expected)
    check(lambda x: x @ b, leaf(a), expected=expected)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((4, 2, 3), (3, 5)), ((3,), (2, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 2)), ((2, 3, 4), (4,)), ((1, 2, 3), (5, 3, 1)),
])
def test_matmul_fixed_cases(a_shape, b_shape):
    rng = np.random.default_rng(2)
    a, b = uniform(rng, a_shape), uniform(rng, b_shape)
    check(lambda x, y: x @ y, leaf(a), leaf(b), expected=a @ b)


# --- joining, selecting ---------------------------------------------------------------


@st.composite
def join_case(draw):
    """Shapes of 1 to 3 tensors that agree except along ``axis`` (for concatenate)."""
    base = list(draw(nonscalar_shapes))
    axis = draw(st.integers(-len(base), len(base) - 1))
    count = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 3)) for _ in range(count)]
    join_shapes = []
    for size in sizes:
        shape = list(base)
        shape[axis] = size
        join_shapes.append(tuple(shape))
    return join_shapes, axis


@FAST
@given(case=join_case(), seed=seeds)
def test_concatenate(case, seed):
    rng = np.random.default_rng(seed)
    join_shapes, axis = case
    arrays = [uniform(rng, s) for s in join_shapes]
    check(lambda *ts: dg.concatenate(ts, axis=axis), *[leaf(a) for a in arrays],
          expected=np.concatenate(arrays, axis=axis))


@FAST
@given(shape=shapes, seed=seeds, count=st.integers(1, 3), data=st.data())
def test_stack(shape, seed, count, data):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    arrays = [uniform(rng, shape) for _ in range(count)]
    check(lambda *ts: dg.stack(ts, axis=axis), *[leaf(a) for a in arrays],
          expected=np.stack(arrays, axis=axis))


def test_concatenate_and_stack_with_constants_mixed_in():
    rng = np.random.default_rng(3)
    a, c = uniform(rng, (2, 3)), uniform(rng, (2, 3))
    check(lambda t: dg.concatenate([t, c, t], axis=1), leaf(a),
          expected=np.concatenate([a, c, a], axis=1))
    check(lambda t: dg.stack([c, t * 2.0], axis=-1), leaf(a), expected=np.stack([c, a * 2], -1))


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3,
                                                 min_side=1, max_side=3),
       seed=seeds, data=st.data())
def test_where_with_broadcasting(shapes, seed, data):
    rng = np.random.default_rng(seed)
    cond_shape, a_shape, b_shape = shapes.input_shapes
    cond = data.draw(hnp.arrays(bool, cond_shape))
    a, b = uniform(rng, a_shape), uniform(rng, b_shape)
    expected = np.where(cond, a, b)
    check(lambda x, y: dg.where(cond, x, y), leaf(a), leaf(b), expected=expected)
    check(lambda x: dg.where(cond, x, 0.5), leaf(a), expected=np.where(cond, a, 0.5))
    check(lambda y: dg.where(dg.tensor(cond), a, y), leaf(b), expected=expected)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@FAST
@given(shapes=broadcast_pairs, seed=seeds)
def test_maximum_minimum_with_broadcasting(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    size_a = int(np.prod(a_shape, dtype=int))
    values = distinct(rng, (size_a + int(np.prod(b_shape, dtype=int)),))
    a, b = values[:size_a].reshape(a_shape), values[size_a:].reshape(b_shape)
    dg_f, np_f = getattr(dg, name), getattr(np, name)
    check(lambda x, y: dg_f(x, y), leaf(a), leaf(b), expected=np_f(a, b))
    check(lambda x: dg_f(x, b), leaf(a), expected=np_f(a, b))
    check(lambda y: dg_f(a, y), leaf(b), expected=np_f(a, b))


@FAST
@given(case=shape_axis_keepdims(), seed=seeds)
def test_logsumexp_of_large_inputs_matches_shifted_oracle(case, seed):
    shape, axis, keepdims = case
    x = uniform(np.random.default_rng(seed), shape) + 1e4
    # log Σ e^x = 1e4 + log Σ e^(x - 1e4), computed without overflow by hand.
    expected = 1e4 + np_logsumexp(x - 1e4, axis=axis, keepdims=keepdims)
    check(lambda t: dg.logsumexp(t, axis=axis, keepdims=keepdims), leaf(x), expected=expected)


# --- a composite model: every kind of op in one graph ---------------------------------


def test_small_network_composite_gradcheck():
    rng = np.random.default_rng(4)
    X = uniform(rng, (5, 3))
    W1, b1, W2 = uniform(rng, (3, 4)), uniform(rng, (4,)), uniform(rng, (4, 2))

    def loss(w1, bias, w2):
        hidden = (X @ w1 + bias).tanh()
        logits = hidden @ w2
        picked = logits[np.arange(5), np.array([0, 1, 1, 0, 1])]
        return (dg.logsumexp(logits, axis=1) - picked).mean() + 0.1 * (w1 * w1).sum()

    check(loss, leaf(W1), leaf(b1), leaf(W2))
