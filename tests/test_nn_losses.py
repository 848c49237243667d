"""Losses: gradients against central differences and closed forms, every reduction, label
smoothing, probability targets, extreme logits, higher order, and user errors."""

import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]


@pytest.fixture
def float64():
    previous = dg.get_default_dtype()
    dg.set_default_dtype(np.float64)
    yield
    dg.set_default_dtype(previous)


def leaf(array):
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def np_log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def np_reduce(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


# --- gradcheck: every loss, every reduction -------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_index_targets_gradcheck(float64, reduction, smoothing):
    rng = np.random.default_rng(0)
    target = np.array([0, 3, 1, 3, 2])
    assert dg.gradcheck(lambda x: F.cross_entropy(x, target, label_smoothing=smoothing,
                                                  reduction=reduction),
                        [leaf(rng.normal(size=(5, 4)))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets_gradcheck_both_inputs(float64, reduction, smoothing):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(4), size=3)
    assert dg.gradcheck(lambda x, q: F.cross_entropy(x, q, label_smoothing=smoothing,
                                                     reduction=reduction),
                        [leaf(rng.normal(size=(3, 4))), leaf(probs)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_spatial_axes_gradcheck(float64, reduction):
    rng = np.random.default_rng(2)
    target = rng.integers(0, 3, size=(2, 4, 2))
    assert dg.gradcheck(lambda x: F.cross_entropy(x, target, label_smoothing=0.1,
                                                  reduction=reduction),
                        [leaf(rng.normal(size=(2, 3, 4, 2)))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_gradcheck(float64, reduction):
    rng = np.random.default_rng(3)
    target = np.array([2, 0, 1])
    assert dg.gradcheck(lambda z: F.nll_loss(z, target, reduction=reduction),
                        [leaf(rng.normal(size=(3, 4)))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "huber_loss",
                                  "binary_cross_entropy_with_logits"])
def test_elementwise_losses_gradcheck_input_and_target(float64, loss, reduction):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4)) * 2
    t = rng.random((3, 4))
    # Keep |x - t| away from the kinks of l1 (0) and huber (±delta) where differences lie.
    x = np.where(np.abs(np.abs(x - t) - 1.0) < 0.05, x + 0.2, x)
    x = np.where(np.abs(x - t) < 0.05, x + 0.2, x)
    fn = getattr(F, loss)
    assert dg.gradcheck(lambda x, t: fn(x, t, reduction=reduction), [leaf(x), leaf(t)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_gradcheck(float64, reduction):
    rng = np.random.default_rng(5)
    assert dg.gradcheck(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
                        [leaf(rng.uniform(0.05, 0.95, (3, 4))), leaf(rng.random((3, 4)))])


def test_huber_gradcheck_with_other_delta(float64):
    rng = np.random.default_rng(6)
    x = rng.normal(size=20) * 3
    x = np.where(np.abs(np.abs(x) - 2.5) < 0.05, x + 0.2, x)
    assert dg.gradcheck(lambda x: F.huber_loss(x, np.zeros(20), delta=2.5), [leaf(x)])


def test_losses_broadcast_a_scalar_target(float64):
    x = leaf(np.array([[1.0, -2.0], [0.5, 3.0]]))
    assert dg.gradcheck(lambda x: F.mse_loss(x, 0.5), [x])
    assert np.isclose(F.mse_loss(x, 0.5).item(), np.mean((x.data - 0.5) ** 2))


# --- closed forms ---------------------------------------------------------------------------


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(float64):
    rng = np.random.default_rng(7)
    x = leaf(rng.normal(size=(6, 5)))
    target = rng.integers(0, 5, size=6)
    loss = F.cross_entropy(x, target)
    loss.backward()
    log_probs = np_log_softmax(x.data)
    onehot = np.eye(5)[target]
    np.testing.assert_allclose(loss.item(), -(onehot * log_probs).sum(1).mean(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, (np.exp(log_probs) - onehot) / 6, atol=1e-14)


def test_label_smoothing_closed_form(float64):
    rng = np.random.default_rng(8)
    x = leaf(rng.normal(size=(4, 3)))
    target = np.array([0, 2, 1, 1])
    eps = 0.2
    loss = F.cross_entropy(x, target, label_smoothing=eps, reduction="sum")
    loss.backward()
    q = (1 - eps) * np.eye(3)[target] + eps / 3
    log_probs = np_log_softmax(x.data)
    np.testing.assert_allclose(loss.item(), -(q * log_probs).sum(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, np.exp(log_probs) - q, atol=1e-14)


def test_probability_targets_equal_index_targets_when_one_hot(float64):
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(5, 4))
    target = rng.integers(0, 4, size=5)
    for eps in (0.0, 0.1):
        by_index, by_probs = leaf(logits), leaf(logits)
        a = F.cross_entropy(by_index, target, label_smoothing=eps)
        b = F.cross_entropy(by_probs, np.eye(4)[target], label_smoothing=eps)
        a.backward()
        b.backward()
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
        np.testing.assert_allclose(by_index.grad, by_probs.grad, atol=1e-14)


def test_cross_entropy_fused_matches_composition_of_primitives():
    rng = np.random.default_rng(10)
    logits = rng.normal(size=(8, 5)).astype(np.float32) * 3
    target = rng.integers(0, 5, size=8)
    fused, composed = dg.tensor(logits, requires_grad=True), dg.tensor(logits, requires_grad=True)
    a = F.cross_entropy(fused, target)
    log_probs = composed - composed.logsumexp(axis=1, keepdims=True)
    b = -(log_probs * np.eye(5, dtype=np.float32)[target]).sum(axis=1).mean()
    a.backward()
    b.backward()
    assert a.dtype == np.float32 and fused.grad.dtype == np.float32
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)
    np.testing.assert_allclose(fused.grad, composed.grad, atol=1e-6)


def test_cross_entropy_spatial_equals_flattened(float64):
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(2, 3, 4))  # (N, C, d)
    target = rng.integers(0, 3, size=(2, 4))
    spatial = F.cross_entropy(leaf(logits), target, reduction="none")
    flat = F.cross_entropy(leaf(logits.transpose(0, 2, 1).reshape(8, 3)), target.reshape(8),
                           reduction="none")
    assert spatial.shape == (2, 4)
    np.testing.assert_allclose(spatial.data.reshape(8), flat.data, rtol=1e-12)


def test_cross_entropy_unbatched_logits(float64):
    x = leaf(np.array([1.0, 2.0, 0.5]))
    loss = F.cross_entropy(x, 1, reduction="none")
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), -np_log_softmax(x.data[None])[0, 1], rtol=1e-12)
    assert dg.gradcheck(lambda x: F.cross_entropy(x, np.array(2)), [x])
    assert dg.gradcheck(lambda x: F.nll_loss(x, 0), [x])


def test_nll_of_log_softmax_equals_cross_entropy(float64):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 6))
    target = np.array([5, 0, 2, 2])
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(leaf(x), axis=1), target).item(),
                               F.cross_entropy(leaf(x), target).item(), rtol=1e-12)


def test_regression_losses_closed_forms(float64):
    x = np.array([0.5, -3.0, 2.0, 0.1])
    t = np.array([0.0, 0.0, 1.0, 0.3])
    d = x - t
    huber = np.where(np.abs(d) <= 1, 0.5 * d**2, np.abs(d) - 0.5)
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(F.mse_loss(leaf(x), t, reduction=reduction).data,
                                   np_reduce(d**2, reduction), rtol=1e-12)
        np.testing.assert_allclose(F.l1_loss(leaf(x), t, reduction=reduction).data,
                                   np_reduce(np.abs(d), reduction), rtol=1e-12)
        np.testing.assert_allclose(F.huber_loss(leaf(x), t, reduction=reduction).data,
                                   np_reduce(huber, reduction), rtol=1e-12)
    x_leaf = leaf(x)
    F.huber_loss(x_leaf, t).backward()
    np.testing.assert_allclose(x_leaf.grad, np.clip(d, -1, 1) / 4)


def test_binary_cross_entropy_values_and_log_clamp():
    p = dg.tensor(np.array([0.8, 0.0, 1.0, 0.3], np.float32), requires_grad=True)
    t = np.array([1.0, 1.0, 0.0, 0.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = F.binary_cross_entropy(p, t, reduction="none")
        losses.sum().backward()
    np.testing.assert_allclose(losses.data, [-np.log(0.8), 100.0, 100.0, -np.log(0.7)],
                               rtol=1e-6)
    assert np.all(np.isfinite(p.grad))
    np.testing.assert_allclose(p.grad[[0, 3]], [-1 / 0.8, 1 / 0.7], rtol=1e-5)


def test_bce_with_logits_closed_form(float64):
    rng = np.random.default_rng(13)
    x = leaf(rng.normal(size=(5, 2)) * 4)
    t = rng.random((5, 2))
    loss = F.binary_cross_entropy_with_logits(x, t)
    loss.backward()
    np.testing.assert_allclose(loss.item(), (np.logaddexp(0, x.data) - x.data * t).mean(),
                               rtol=1e-12)
    np.testing.assert_allclose(x.grad, (1 / (1 + np.exp(-x.data)) - t) / 10, atol=1e-14)


def test_bce_with_logits_equals_bce_of_sigmoid(float64):
    rng = np.random.default_rng(14)
    x = rng.normal(size=7)
    t = (rng.random(7) > 0.5).astype(float)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(leaf(x), t).item(),
                               F.binary_cross_entropy(F.sigmoid(leaf(x)), t).item(), rtol=1e-10)


# --- extreme logits: finite values and the closed-form gradient ---------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_at_logits_of_1e4(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype)
    target = np.array([1, 2, 0])
    for eps in (0.0, 0.1):
        x = dg.tensor(logits, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = F.cross_entropy(x, target, label_smoothing=eps)
            loss.backward()
        softmax = np.array([[1, 0, 0], [0, 0, 1], [0.5, 0.5, 0]])
        q = (1 - eps) * np.eye(3)[target] + eps / 3
        # log p = -2e4 (row 0 at class 1), 0, -log 2; the ε/C part adds -Σ log p / 3.
        expected = (1 - eps) * (2e4 + 0 + np.log(2)) / 3 + eps * (
            (1e4 + 2e4 + 0 + 2e4 + 2e4 + 0 + np.log(2) * 2 + 2e4 + np.log(2)) / 9)
        assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad))
        np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)
        np.testing.assert_allclose(x.grad, (softmax - q) / 3, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_stable_at_logits_of_1e4(dtype):
    x = dg.tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 1e4])
    np.testing.assert_allclose(x.grad, [0.0, 0.0, 1.0, -1.0])


def test_nll_and_log_softmax_stable_at_1e4():
    x = dg.tensor(np.array([[1e4, -1e4]], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.nll_loss(F.log_softmax(x, axis=1), np.array([1]))
        loss.backward()
    assert loss.item() == pytest.approx(2e4)
    np.testing.assert_allclose(x.grad, [[1.0, -1.0]])


# --- higher order: fused ops decompose exactly -------------------------------------------


def finite_difference_jacobian(g, w, eps=1e-6):
    return np.stack([(g(w + eps * e) - g(w - eps * e)) / (2 * eps)
                     for e in np.eye(w.size)], axis=-1)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_hessian_of_cross_entropy_of_linear_model_matches_differenced_gradient(smoothing):
    rng = np.random.default_rng(15)
    X = rng.normal(size=(6, 3))
    target = np.array([0, 1, 2, 1, 0, 2])

    def loss(w):
        return F.cross_entropy(F.linear(X, w.reshape(3, 3)), target, label_smoothing=smoothing)

    w0 = rng.normal(size=9)
    hessian = dg.hessian(loss)(w0)
    numeric = finite_difference_jacobian(dg.grad(loss), w0)
    assert hessian.shape == (9, 9)
    np.testing.assert_allclose(hessian, numeric, atol=1e-7)
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)


@pytest.mark.parametrize("make_loss", [
    lambda z, t: F.binary_cross_entropy_with_logits(z, t),
    lambda z, t: F.binary_cross_entropy(F.sigmoid(z), t),
    lambda z, t: F.mse_loss(z, t),
    lambda z, t: F.huber_loss(z, t, delta=0.7),
    lambda z, t: F.cross_entropy(z.reshape(2, 2), np.array([[0.3, 0.7], [0.9, 0.1]])),
    lambda z, t: F.nll_loss(F.log_softmax(z.reshape(2, 2), axis=1), np.array([1, 0])),
])
def test_hessians_of_losses_match_differenced_gradients(make_loss):
    rng = np.random.default_rng(16)
    X = rng.normal(size=(4, 3))
    t = np.array([1.0, 0.0, 1.0, 0.0])

    def loss(w):
        return make_loss(X @ w, t)

    w0 = rng.normal(size=3)
    np.testing.assert_allclose(dg.hessian(loss)(w0), finite_difference_jacobian(dg.grad(loss), w0),
                               atol=1e-7)


# --- user errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "huber_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits"])
def test_invalid_reduction_and_mismatched_target_shape(loss):
    fn = getattr(F, loss)
    x = dg.tensor(np.full((4, 1), 0.5, np.float32))
    with pytest.raises(ValueError, match=f"{loss}: reduction must be one of"):
        fn(x, np.zeros((4, 1)), reduction="avg")
    # (4,) against (4, 1) would silently broadcast to (4, 4): refuse it.
    with pytest.raises(ValueError, match=rf"{loss}: target of shape \(4,\) does not match .* "
                                         rf"of shape \(4, 1\)"):
        fn(x, np.zeros(4))


def test_cross_entropy_target_errors_name_function_and_shapes():
    logits = dg.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"cross_entropy: target holds class index 4, but logits "
                                         r"of shape \(3, 4\) have 4 classes"):
        F.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="class index -1"):
        F.cross_entropy(logits, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"target of shape \(2,\) does not match logits of shape "
                                         r"\(3, 4\); class indices need shape \(3,\)"):
        F.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"probability target of shape \(3,\)"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        F.cross_entropy(logits, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, np.array([0, 1, 2]), reduction="average")
    with pytest.raises(ValueError, match="0-d"):
        F.cross_entropy(dg.tensor(1.0), 0)


def test_nll_loss_rejects_float_targets():
    with pytest.raises(ValueError, match=r"nll_loss: target of shape \(2,\) and dtype float64 "
                                         r"is not integer class indices"):
        F.nll_loss(dg.tensor(np.zeros((2, 3), np.float32)), np.array([0.0, 1.0]))


def test_other_argument_errors():
    x = dg.tensor(np.array([0.2, 0.5], np.float32))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: probs must lie in \[0, 1\], "
                                         r"found 1.5"):
        F.binary_cross_entropy(dg.tensor([0.2, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="huber_loss: delta must be a positive number"):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(TypeError, match="mse_loss: input must be floating point"):
        F.mse_loss(np.array([1, 2]), np.array([1, 2]))
