"""``dg.grad``, ``dg.jacobian`` and ``dg.hessian``: return types, purity, and derivatives
of every order against closed forms and against finite differences of lower orders."""

import numpy as np
import pytest

import deltagrad as dg


def finite_difference_jacobian(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of an array-valued ``f`` (NumPy in, NumPy out): out.shape + x.shape."""
    x = np.array(x, dtype=np.float64)
    out_shape = np.shape(f(x))
    jac = np.zeros(out_shape + x.shape)
    for position in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[position] = h
        jac[(...,) + position] = (np.asarray(f(x + step)) - np.asarray(f(x - step))) / (2 * h)
    return jac


# --- dg.grad: types and purity --------------------------------------------------------


def cubic_sum(x):
    return (x**3).sum()


def test_grad_of_numpy_input_returns_numpy():
    x = np.array([1.0, -2.0, 0.5])
    g = dg.grad(cubic_sum)(x)
    assert type(g) is np.ndarray
    assert g.dtype == np.float64 and g.shape == (3,)
    np.testing.assert_allclose(g, 3 * x**2)


def test_grad_keeps_the_input_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = dg.grad(cubic_sum)(x)
    assert type(g) is np.ndarray and g.dtype == np.float32
    np.testing.assert_allclose(g, 3 * x**2)


def test_grad_of_python_number_returns_numpy():
    g = dg.grad(lambda x: x * x * x)(1.5)
    assert isinstance(g, np.ndarray) and g.shape == ()
    assert float(g) == pytest.approx(3 * 1.5**2)


def test_grad_of_tensor_input_returns_differentiable_tensor():
    x = dg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    g = dg.grad(cubic_sum)(x)
    assert isinstance(g, dg.Tensor)
    assert g.requires_grad  # it can be differentiated again
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    g.sum().backward()  # d/dx Σ 3x² = 6x, into x.grad
    np.testing.assert_allclose(x.grad, 6 * x.data)


def test_grad_never_writes_grad_fields():
    x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = dg.tensor(np.array([3.0, -1.0]), requires_grad=True)
    g = dg.grad(lambda t: (t * w).sum() * (t * t).sum())(x)
    assert x.grad is None and w.grad is None
    expected = w.data * (x.data**2).sum() + (x.data * w.data).sum() * 2 * x.data
    np.testing.assert_allclose(g.data, expected)

    g_np = dg.grad(lambda t: (t * w).sum())(np.array([1.0, 2.0]))
    np.testing.assert_allclose(g_np, w.data)
    assert w.grad is None


def test_grad_leaves_an_outer_graph_usable():
    x = dg.tensor(np.array([1.0, 3.0]), requires_grad=True)
    y = x * 2.0  # a graph built outside dg.grad
    g = dg.grad(lambda t: (t * y).sum())(x)
    np.testing.assert_allclose(g.data, y.data)
    assert x.grad is None
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_grad_of_unused_argument_is_zero():
    g = dg.grad(lambda x, y: (y * y).sum(), argnums=(0, 1))(np.ones(2), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g[0], [0.0, 0.0])
    np.testing.assert_allclose(g[1], [2.0, 6.0])


def test_grad_argnums_tuple_and_single():
    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])

    def f(a, b):
        return (a * a * b).sum() + (b**3).sum()

    gx, gy = dg.grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, 2 * x * y)
    np.testing.assert_allclose(gy, x**2 + 3 * y**2)
    np.testing.assert_allclose(dg.grad(f, argnums=1)(x, y), x**2 + 3 * y**2)
    np.testing.assert_allclose(dg.grad(f, argnums=-1)(x, y), x**2 + 3 * y**2)
    only = dg.grad(f, argnums=(1,))(x, y)
    assert isinstance(only, tuple) and len(only) == 1
    np.testing.assert_allclose(only[0], x**2 + 3 * y**2)


# --- second and third derivatives -----------------------------------------------------


SECOND_DERIVATIVES = {
    # name: (f elementwise on a Tensor, f'' from NumPy, inputs)
    "sin_series": (lambda t: t - t**3 / 6 + t**5 / 120, lambda x: -x + x**3 / 6,
                   np.linspace(-1.5, 1.5, 7)),
    "polynomial": (lambda t: 2 * t**4 - t**2 + 3 * t, lambda x: 24 * x**2 - 2,
                   np.linspace(-2, 2, 5)),
    "exp": (lambda t: t.exp(), np.exp, np.linspace(-2, 2, 5)),
    "exp_scaled": (lambda t: (2.0 * t).exp(), lambda x: 4 * np.exp(2 * x), np.linspace(-1, 1, 5)),
    "tanh": (lambda t: t.tanh(), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
             np.linspace(-2, 2, 5)),
    "log": (lambda t: t.log(), lambda x: -1 / x**2, np.linspace(0.5, 3, 5)),
    "sqrt": (lambda t: t.sqrt(), lambda x: -0.25 * x**-1.5, np.linspace(0.5, 3, 5)),
    "sigmoid": (lambda t: t.sigmoid(),
                lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s),
                np.linspace(-3, 3, 7)),
    "reciprocal": (lambda t: 1.0 / t, lambda x: 2 / x**3, np.array([-2.0, -0.5, 0.5, 2.0])),
    "x_pow_3": (lambda t: t**3.0, lambda x: 6 * x, np.linspace(0.5, 2, 4)),
    "two_pow_x": (lambda t: 2.0**t, lambda x: 2.0**x * np.log(2.0) ** 2, np.linspace(-1, 1, 5)),
}


@pytest.mark.parametrize("name", sorted(SECOND_DERIVATIVES))
def test_second_derivative_closed_forms(name):
    f, second, x = SECOND_DERIVATIVES[name]
    # f is elementwise, so d/dx Σ f'(x) = f''(x), elementwise.
    d2 = dg.grad(lambda t: dg.grad(lambda u: f(u).sum())(t).sum())(x)
    assert isinstance(d2, np.ndarray)
    np.testing.assert_allclose(d2, second(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SECOND_DERIVATIVES))
def test_grad_of_grad_on_zero_dim_inputs(name):
    f, second, xs = SECOND_DERIVATIVES[name]
    x = float(xs[1])
    d2 = dg.grad(dg.grad(f))(x)  # a Python number in: NumPy out
    assert isinstance(d2, np.ndarray)
    assert float(d2) == pytest.approx(second(x), rel=1e-10)
    t = dg.tensor(np.array(x), requires_grad=True)
    d2_tensor = dg.grad(dg.grad(f))(t)  # a Tensor in: a Tensor out, still differentiable
    assert isinstance(d2_tensor, dg.Tensor) and d2_tensor.requires_grad
    assert float(d2_tensor.data) == pytest.approx(second(x), rel=1e-10)
    assert t.grad is None


def test_power_with_tensor_exponent_second_derivatives():
    x, y = np.array([0.5, 1.5, 2.0]), np.array([1.5, -0.5, 2.5])

    def f(a, b):
        return (a**b).sum()

    def gx(a, b):
        return dg.grad(f, argnums=0)(a, b).sum()

    def gy(a, b):
        return dg.grad(f, argnums=1)(a, b).sum()

    dxx, dxy = dg.grad(gx, argnums=(0, 1))(x, y)
    dyx, dyy = dg.grad(gy, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(dxx, y * (y - 1) * x ** (y - 2))
    np.testing.assert_allclose(dyy, x**y * np.log(x) ** 2)
    mixed = x ** (y - 1) * (1 + y * np.log(x))
    np.testing.assert_allclose(dxy, mixed)
    np.testing.assert_allclose(dyx, mixed)


THIRD_DERIVATIVES = {
    "x4": (lambda t: t**4, lambda x: 24 * x),
    "exp2x": (lambda t: (2.0 * t).exp(), lambda x: 8 * np.exp(2 * x)),
    "tanh": (lambda t: t.tanh(), lambda x: (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2)),
    "log": (lambda t: t.log(), lambda x: 2 / x**3),
    "x_exp_x": (lambda t: t * t.exp(), lambda x: (x + 3) * np.exp(x)),
}


@pytest.mark.parametrize("name", sorted(THIRD_DERIVATIVES))
@pytest.mark.parametrize("x", [0.4, 1.3])
def test_third_derivative_by_triple_nesting(name, x):
    f, third = THIRD_DERIVATIVES[name]
    d3 = dg.grad(dg.grad(dg.grad(f)))(x)
    assert float(d3) == pytest.approx(third(x), rel=1e-9)


# --- higher order through every kind of op --------------------------------------------


RNG = np.random.default_rng(7)
A34 = RNG.uniform(-1, 1, (3, 4))

SCALAR_FUNCTIONS = {
    # Functions of a (3, 4) input, built from every op, smooth near the test point.
    "matmul": lambda x: ((x @ A34.T) ** 2).sum() + (x.T @ x).tanh().sum(),
    "matmul_vector": lambda x: (x[0] @ x.T).tanh().sum() + (x @ x[1]).exp().sum(),
    "var_mean": lambda x: x.var(axis=1).sum() * x.mean() + x.var(),
    "logsumexp": lambda x: dg.logsumexp(x * x, axis=0).sum() + x.logsumexp(),
    "max_min": lambda x: (x * x).max(axis=1).sum() + (x**3).min(),
    "maximum": lambda x: dg.maximum(x * x, x + 0.05).sum() + dg.minimum(x, x.exp()).sum(),
    "where_clip": lambda x: dg.where(x.data > 0, x**3, x * x).sum() + (x**2).clip(0.1, 0.4).sum(),
    "abs_relu": lambda x: (x.abs() * x).sum() + (x.relu() ** 3).sum(),
    "sigmoid_sqrt": lambda x: (x.sigmoid() * (x * x + 1.0).sqrt()).sum(),
    "indexing": lambda x: (x[[0, 0, 2], 1:] ** 3).sum() + (x[x.data > 0] ** 2).sum(),
    "shapes": lambda x: (dg.concatenate([x, x * x], axis=1) ** 2).sum()
    + (dg.stack([x.T, x.T.exp()]).swapaxes(0, 2).reshape(4, -1) ** 2).sum(),
    "division": lambda x: (1.0 / (x * x + 1.0)).sum() + (x / (x.exp() + 1.0)).sum(),
    # Broadcasting in the forward pass: the recorded backward must un-broadcast too.
    "broadcasting": lambda x: (x.reshape(3, 1, 4) * x.reshape(1, 3, 4)).tanh().sum()
    + (x.mean(axis=0) * x * x[:, :1]).sum()
    + dg.where(np.array([True, False, True, False]), x, x.sum(axis=1, keepdims=True) ** 2).sum()
    + dg.maximum(x, x.max(axis=1, keepdims=True) - 0.5).sum(),
}


@pytest.mark.parametrize("name", sorted(SCALAR_FUNCTIONS))
def test_hessian_matches_finite_differences_of_grad(name):
    f = SCALAR_FUNCTIONS[name]
    x = np.random.default_rng(11).uniform(-1, 1, (3, 4))
    x = np.where(np.abs(x) < 0.1, 0.3, x)  # away from the kinks of abs / relu
    H = dg.hessian(f)(x)
    assert H.shape == (3, 4, 3, 4)
    numeric = finite_difference_jacobian(dg.grad(f), x)
    np.testing.assert_allclose(H, numeric, rtol=1e-5, atol=1e-6)
    flat = H.reshape(12, 12)
    np.testing.assert_allclose(flat, flat.T, atol=1e-10)


# --- jacobian -------------------------------------------------------------------------


def test_jacobian_of_linear_map_is_the_matrix():
    A = np.random.default_rng(0).uniform(-1, 1, (4, 3))
    x = np.array([0.5, -1.0, 2.0])
    J = dg.jacobian(lambda t: A @ t)(x)
    assert isinstance(J, np.ndarray) and J.shape == (4, 3)
    np.testing.assert_allclose(J, A)
    J_left = dg.jacobian(lambda t: t @ A.T)(x)  # the same map, ndarray on the right
    np.testing.assert_allclose(J_left, A)


def test_jacobian_of_elementwise_function_is_diagonal():
    x = np.array([0.5, -1.0, 2.0])
    J = dg.jacobian(lambda t: t.tanh())(x)
    np.testing.assert_allclose(J, np.diag(1 - np.tanh(x) ** 2))
    J2 = dg.jacobian(lambda t: t * t)(x)
    np.testing.assert_allclose(J2, np.diag(2 * x))


def test_jacobian_shape_is_out_shape_plus_in_shape():
    X = np.random.default_rng(1).uniform(-1, 1, (2, 3))
    J = dg.jacobian(lambda t: (t**2).sum(axis=1))(X)
    assert J.shape == (2, 2, 3)
    expected = np.zeros((2, 2, 3))
    for i in range(2):
        expected[i, i, :] = 2 * X[i]
    np.testing.assert_allclose(J, expected)

    J_scalar = dg.jacobian(lambda t: (t**2).sum())(X)
    assert J_scalar.shape == (2, 3)
    np.testing.assert_allclose(J_scalar, 2 * X)

    J_0d = dg.jacobian(lambda t: t * X)(0.5)
    assert J_0d.shape == (2, 3)
    np.testing.assert_allclose(J_0d, X)


def test_jacobian_tuple_argnums():
    rng = np.random.default_rng(2)
    A, x = rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, 3)
    JA, Jx = dg.jacobian(lambda a, v: a @ v, argnums=(0, 1))(A, x)
    assert JA.shape == (2, 2, 3) and Jx.shape == (2, 3)
    expected_A = np.zeros((2, 2, 3))
    for i in range(2):
        expected_A[i, i, :] = x  # d(Ax)_i / dA_pq = δ_ip x_q
    np.testing.assert_allclose(JA, expected_A)
    np.testing.assert_allclose(Jx, A)


def test_jacobian_does_not_write_grad_fields():
    w = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    J = dg.jacobian(lambda t: t * w)(np.array([3.0, 4.0]))
    np.testing.assert_allclose(J, np.diag(w.data))
    assert w.grad is None


# --- hessian --------------------------------------------------------------------------


def test_hessian_of_quadratic_form():
    rng = np.random.default_rng(3)
    A = rng.uniform(-1, 1, (4, 4))  # not symmetric
    x = rng.uniform(-1, 1, 4)
    H = dg.hessian(lambda t: t @ (A @ t))(x)
    assert isinstance(H, np.ndarray) and H.shape == (4, 4)
    np.testing.assert_allclose(H, A + A.T, atol=1e-12)
    H_T = dg.hessian(lambda t: (t * (t @ A.T)).sum())(x)  # the same form, written otherwise
    np.testing.assert_allclose(H_T, A + A.T, atol=1e-12)


def test_hessian_of_matrix_input_has_doubled_shape():
    X = np.random.default_rng(4).uniform(0.5, 1.5, (2, 3))
    H = dg.hessian(lambda t: (t**3).sum())(X)
    assert H.shape == (2, 3, 2, 3)
    expected = np.zeros((2, 3, 2, 3))
    for i, j in np.ndindex(2, 3):
        expected[i, j, i, j] = 6 * X[i, j]
    np.testing.assert_allclose(H, expected)


def test_hessian_tuple_argnums_gives_blocks():
    rng = np.random.default_rng(5)
    A = rng.uniform(-1, 1, (3, 2))
    x, y = rng.uniform(-1, 1, 3), rng.uniform(0.5, 1.5, 2)

    def f(a, b):
        return a @ (A @ b) + 3 * (a * a).sum() + (b**3).sum()

    blocks = dg.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(blocks, tuple) and len(blocks) == 2
    (Hxx, Hxy), (Hyx, Hyy) = blocks
    assert Hxx.shape == (3, 3) and Hxy.shape == (3, 2)
    assert Hyx.shape == (2, 3) and Hyy.shape == (2, 2)
    np.testing.assert_allclose(Hxx, 6 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(Hxy, A, atol=1e-12)
    np.testing.assert_allclose(Hyx, A.T, atol=1e-12)
    np.testing.assert_allclose(Hyy, np.diag(6 * y), atol=1e-12)


def test_hessian_of_tanh_mlp_with_logsumexp_loss_matches_finite_differences():
    rng = np.random.default_rng(6)
    X = rng.uniform(-1, 1, (5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    sizes = [(3, 4), (4,), (4, 3), (3,)]
    counts = [int(np.prod(s)) for s in sizes]
    theta = rng.uniform(-0.8, 0.8, sum(counts))

    def loss(params):
        pieces, start = [], 0
        for shape, count in zip(sizes, counts):
            pieces.append(params[start:start + count].reshape(shape))
            start += count
        W1, b1, W2, b2 = pieces
        logits = (X @ W1 + b1).tanh() @ W2 + b2
        picked = logits[np.arange(5), labels]
        return (dg.logsumexp(logits, axis=1) - picked).mean()

    H = dg.hessian(loss)(theta)
    assert H.shape == (theta.size, theta.size)
    numeric = finite_difference_jacobian(dg.grad(loss), theta, h=1e-5)
    np.testing.assert_allclose(H, numeric, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    # The gradient itself against finite differences of the loss: the chain is anchored.
    numeric_grad = finite_difference_jacobian(lambda p: loss(dg.tensor(p)).data, theta)
    np.testing.assert_allclose(dg.grad(loss)(theta), numeric_grad, rtol=1e-6, atol=1e-9)


def test_first_order_backward_still_works_after_higher_order_calls():
    x = dg.tensor(np.array([0.5, 1.0]), requires_grad=True)
    dg.hessian(lambda t: (t**3).sum())(x.data)
    dg.grad(dg.grad(lambda t: (t**3).sum()))  # building the function records nothing
    (x**3).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data**2)
    assert x.grad.dtype == np.float64 and type(x.grad) is np.ndarray


def test_derivatives_of_functions_that_ignore_their_input_are_zero():
    g = dg.grad(lambda x: dg.tensor(3.0))(np.ones(2))
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, [0.0, 0.0])
    g_tensor = dg.grad(lambda x: dg.tensor(3.0))(dg.tensor(np.ones(2)))
    assert isinstance(g_tensor, dg.Tensor)
    np.testing.assert_array_equal(g_tensor.data, [0.0, 0.0])
    np.testing.assert_array_equal(dg.jacobian(lambda x: x.detach() * 2.0)(np.ones(2)),
                                  np.zeros((2, 2)))
    np.testing.assert_array_equal(dg.hessian(lambda x: (3.0 * x).sum())(np.ones(3)),
                                  np.zeros((3, 3)))  # linear: the gradient is constant


def test_grad_through_very_deep_chains():
    def deep(x, depth):
        y = x
        for i in range(depth):
            y = y * 1.0 if i % 2 else y + 1.0
        return y

    g = dg.grad(lambda x: deep(x, 100_000).sum())(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])
    # Second order through a recorded backward pass that is itself 20,000 ops deep.
    d2 = dg.grad(lambda x: dg.grad(lambda u: (deep(u, 20_000) ** 2).sum())(x).sum())(
        np.array([1.0, 2.0]))
    np.testing.assert_array_equal(d2, [2.0, 2.0])
