"""Activations, softmax, dropout, one_hot, linear and embedding in ``deltagrad.nn.functional``:
values against closed forms, gradients against central differences, errors."""

import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.nn import _special
from deltagrad.nn import functional as F


@pytest.fixture
def float64():
    previous = dg.get_default_dtype()
    dg.set_default_dtype(np.float64)
    yield
    dg.set_default_dtype(previous)


def leaf(array):
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def away_from_zero(shape, seed=0):
    x = np.random.default_rng(seed).normal(size=shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)  # no finite difference straddles a kink


ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": F.softmax,
    "softmax_axis0": lambda x: F.softmax(x, axis=0),
    "log_softmax": F.log_softmax,
    "log_softmax_axis0": lambda x: F.log_softmax(x, axis=0),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(float64, name):
    assert dg.gradcheck(ACTIVATIONS[name], [leaf(away_from_zero((3, 4)) * 2)])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_second_derivative_matches_differenced_gradient(name):
    x0 = away_from_zero(5, seed=1)
    weights = np.linspace(-1, 2, 5)

    def f(x):
        return (ACTIVATIONS[name](x) * weights).sum()

    grad = dg.grad(f)
    eps = 1e-6
    numeric = np.stack([(grad(x0 + eps * e) - grad(x0 - eps * e)) / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(dg.hessian(f)(x0), numeric, atol=1e-6)


def test_activation_values():
    x = np.array([-2.0, -0.5, 0.0, 0.7, 3.0])
    np.testing.assert_allclose(F.relu(x).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(F.leaky_relu(x, 0.1).numpy(), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(F.leaky_relu(x).numpy(), np.where(x > 0, x, 0.01 * x))
    np.testing.assert_allclose(F.sigmoid(x).numpy(), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(F.tanh(x).numpy(), np.tanh(x))
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(F.gelu(x).numpy(), exact, rtol=1e-14, atol=1e-15)
    approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").numpy(), approx, rtol=1e-14)


def test_gelu_gradient_is_cdf_plus_x_pdf(float64):
    x = leaf(np.linspace(-6, 6, 25))
    F.gelu(x).sum().backward()
    cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.data])
    pdf = np.exp(-x.data**2 / 2) / math.sqrt(2 * math.pi)
    np.testing.assert_allclose(x.grad, cdf + x.data * pdf, rtol=1e-13, atol=1e-15)


def test_leaky_relu_gradient_at_zero_is_the_slope_as_pytorch():
    x = dg.tensor([0.0], requires_grad=True)
    F.leaky_relu(x, 0.3).sum().backward()
    np.testing.assert_allclose(x.grad, [0.3])


def test_activations_keep_float32():
    x = dg.tensor(np.array([-1.0, 2.0], np.float32), requires_grad=True)
    for fn in ACTIVATIONS.values():
        y = fn(x)
        y.sum().backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        x.grad = None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_finite_at_extreme_inputs(dtype):
    x = dg.tensor(np.array([-1e4, -50.0, 50.0, 1e4], dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, fn in ACTIVATIONS.items():
            y = fn(x)
            y.sum().backward()
            assert np.all(np.isfinite(y.data)) and np.all(np.isfinite(x.grad)), name
            x.grad = None
    np.testing.assert_allclose(F.gelu(x).numpy(), [0, 0, 50, 1e4], atol=1e-30)
    np.testing.assert_allclose(F.log_softmax(x).numpy(), [-2e4, -1e4 - 50, -1e4 + 50, 0])


# --- the error function under GELU ------------------------------------------------------


def test_erf_and_erfc_match_the_c_library_to_float64_rounding():
    x = np.concatenate([np.linspace(-8, 8, 4001), [-30.0, -26.0, 1e-300, 0.0, 30.0]])
    erf = _special.erf(x)
    erfc = _special.erfc(x)
    for value, e, ec in zip(x, erf, erfc):
        assert e == pytest.approx(math.erf(value), rel=1e-14, abs=1e-300)
        assert ec == pytest.approx(math.erfc(value), rel=1e-13, abs=1e-300)


def test_erf_handles_infinities_nan_and_float32():
    np.testing.assert_array_equal(_special.erf(np.array([-np.inf, np.inf])), [-1.0, 1.0])
    assert np.isnan(_special.erf(np.array([np.nan]))[0])
    x32 = np.linspace(-5, 5, 101, dtype=np.float32)
    out = _special.erf(x32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [math.erf(v) for v in x32.astype(np.float64)], atol=3e-7)


def test_normal_cdf_is_accurate_in_the_lower_tail():
    # Φ(-10) = erfc(10/√2) / 2 ≈ 7.62e-24: 1 + erf(...) would round it to 0.
    np.testing.assert_allclose(_special.normal_cdf(np.array([-10.0])),
                               [0.5 * math.erfc(10 / math.sqrt(2))], rtol=1e-13)


# --- softmax and log_softmax ------------------------------------------------------------------


def test_softmax_rows_sum_to_one_and_ignore_shifts():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5))
    s = F.softmax(x, axis=1).numpy()
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(F.softmax(x + 1000.0, axis=1).numpy(), s, rtol=1e-6)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, axis=1).numpy()), s, rtol=1e-6)


def test_fused_softmax_and_log_softmax_match_primitives(float64):
    rng = np.random.default_rng(3)
    x0 = rng.normal(size=(3, 4))
    weights = rng.normal(size=(3, 4))
    for fused, composed in [
        (lambda x: F.log_softmax(x, axis=1), lambda x: x - x.logsumexp(axis=1, keepdims=True)),
        (lambda x: F.softmax(x, axis=1),
         lambda x: (x - x.logsumexp(axis=1, keepdims=True)).exp()),
    ]:
        a, b = leaf(x0), leaf(x0)
        ya, yb = fused(a), composed(b)
        (ya * weights).sum().backward()
        (yb * weights).sum().backward()
        np.testing.assert_allclose(ya.data, yb.data, rtol=1e-13)
        np.testing.assert_allclose(a.grad, b.grad, atol=1e-13)


def test_softmax_axis_out_of_range():
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        F.softmax(np.zeros((2, 3)), axis=2)


# --- dropout ---------------------------------------------------------------------------------


def test_dropout_preserves_the_mean_and_drops_a_fraction_p():
    x = dg.tensor(np.ones((400, 500), np.float32), requires_grad=True)
    y = F.dropout(x, p=0.3, rng=np.random.default_rng(0))
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    assert abs(y.data.mean() - 1.0) < 0.01
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # the gradient is the same scaled mask


def test_dropout_identity_when_not_training_or_p_zero():
    x = dg.tensor([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(F.dropout(x, 0.9, training=False).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())


def test_dropout_is_reproducible_with_a_generator_or_manual_seed():
    x = np.ones(1000, np.float32)
    a = F.dropout(x, 0.5, rng=np.random.default_rng(7)).numpy()
    b = F.dropout(x, 0.5, rng=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)
    dg.manual_seed(123)
    c = F.dropout(x, 0.5).numpy()
    dg.manual_seed(123)
    d = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, F.dropout(x, 0.5).numpy())


def test_dropout_gradcheck_with_a_fixed_mask(float64):
    assert dg.gradcheck(lambda x: F.dropout(x, 0.4, rng=np.random.default_rng(1)),
                        [leaf(np.arange(6.0).reshape(2, 3))])


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "0.5", True])
def test_dropout_rejects_p_outside_0_1(p):
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\)"):
        F.dropout(np.ones(3), p)


# --- one_hot, linear, embedding -------------------------------------------------------------


def test_one_hot_values_shape_and_default_dtype(float64):
    out = F.one_hot(np.array([[2, 0], [1, 1]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.eye(3)[[[2, 0], [1, 1]]])
    assert F.one_hot([0, 4]).shape == (2, 5)  # num_classes inferred


def test_one_hot_is_float32_by_default():
    assert F.one_hot(np.array([1]), 2).dtype == np.float32


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"one_hot: index 3 is out of range for num_classes = 3"):
        F.one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="index -1 is out of range"):
        F.one_hot(np.array([-1]), 3)
    with pytest.raises(TypeError, match="one_hot: indices must be integers, got dtype float64"):
        F.one_hot(np.array([1.0]), 3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        F.one_hot(np.array([1]), 0)


def test_linear_matches_numpy_for_any_leading_axes(float64):
    rng = np.random.default_rng(4)
    w, b = rng.normal(size=(2, 3)), rng.normal(size=2)
    for shape in [(3,), (5, 3), (2, 4, 3)]:
        x = rng.normal(size=shape)
        np.testing.assert_allclose(F.linear(x, w, b).numpy(), x @ w.T + b, rtol=1e-13)
        assert dg.gradcheck(lambda x, w, b: F.linear(x, w, b), [leaf(x), leaf(w), leaf(b)])
        assert dg.gradcheck(lambda x, w: F.linear(x, w), [leaf(x), leaf(w)])


def test_linear_shape_errors():
    w = dg.tensor(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"linear: input of shape \(4, 5\) does not match weight "
                                         r"of shape \(2, 3\)"):
        F.linear(np.zeros((4, 5), np.float32), w)
    with pytest.raises(ValueError, match=r"bias of shape \(3,\) does not match"):
        F.linear(np.zeros((4, 3), np.float32), w, np.zeros(3, np.float32))


def test_embedding_gathers_rows_and_checks_indices():
    weight = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    idx = np.array([[3, 0], [1, 3]])
    np.testing.assert_array_equal(F.embedding(idx, weight).numpy(), weight[idx])
    with pytest.raises(ValueError, match=r"embedding: index 4 is out of range for "
                                         r"num_embeddings = 4"):
        F.embedding(np.array([4]), weight)
    with pytest.raises(ValueError, match="index -1"):
        F.embedding(np.array([-1]), weight)
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(np.array([1.0]), weight)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(np.zeros(2), approximate="erf")
