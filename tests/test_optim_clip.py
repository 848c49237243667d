"""Gradient clipping by joint norm and by value, and the explicit L2 penalty."""

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import optim

SHAPES = [(4, 5), (5,), (2, 3, 2)]


def params_with_grads(scale=1.0, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = []
    for shape in SHAPES:
        p = dg.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        p.grad = (scale * rng.standard_normal(shape)).astype(dtype)
        params.append(p)
    return params


def joint(params):
    return np.concatenate([p.grad.ravel() for p in params if p.grad is not None])


# --- clip_grad_norm_ --------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.5, 1.0, 3.0])
def test_clip_grad_norm_returns_the_true_norm_and_clips_to_max_norm(max_norm):
    params = params_with_grads(scale=10.0)
    before = [p.grad.copy() for p in params]
    arrays = [p.grad for p in params]
    true_norm = np.linalg.norm(joint(params))
    total = optim.clip_grad_norm_(params, max_norm)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, true_norm, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(joint(params)), max_norm, rtol=1e-5)
    scale = max_norm / (true_norm + 1e-6)
    for p, g, array in zip(params, before, arrays):
        assert p.grad is array  # scaled in place
        np.testing.assert_allclose(p.grad, g * scale, rtol=1e-12)  # one common factor


def test_clip_grad_norm_leaves_small_gradients_untouched():
    params = params_with_grads(scale=0.01)
    before = [p.grad.copy() for p in params]
    total = optim.clip_grad_norm_(params, max_norm=100.0)
    np.testing.assert_allclose(total, np.linalg.norm(joint(params)))
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)


@pytest.mark.parametrize("norm_type", [1.0, 3.0, math.inf])
def test_clip_grad_norm_other_norms(norm_type):
    params = params_with_grads(scale=5.0, seed=1)
    true_norm = np.linalg.norm(joint(params), ord=norm_type)
    total = optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    np.testing.assert_allclose(total, true_norm, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(joint(params), ord=norm_type), 1.0, rtol=1e-5)


def test_clip_grad_norm_skips_params_without_grad_and_takes_one_tensor():
    params = params_with_grads(scale=10.0, seed=2)
    params[1].grad = None
    total = optim.clip_grad_norm_(params, max_norm=1.0)
    assert params[1].grad is None
    np.testing.assert_allclose(np.linalg.norm(joint(params)), 1.0, rtol=1e-5)
    assert total > 1.0

    single = params_with_grads(scale=10.0, seed=3)[0]
    expected = np.linalg.norm(single.grad)
    np.testing.assert_allclose(optim.clip_grad_norm_(single, max_norm=2.0), expected)
    np.testing.assert_allclose(np.linalg.norm(single.grad), 2.0, rtol=1e-5)


def test_clip_grad_norm_with_no_grads_is_zero():
    p = dg.tensor(np.ones(3), requires_grad=True)
    assert optim.clip_grad_norm_([p], 1.0) == 0.0
    assert optim.clip_grad_norm_([], 1.0) == 0.0


def test_clip_grad_norm_float32():
    params = params_with_grads(scale=10.0, seed=4, dtype=np.float32)
    true_norm = np.linalg.norm(joint(params).astype(np.float64))
    total = optim.clip_grad_norm_(params, 1.0)
    np.testing.assert_allclose(total, true_norm, rtol=1e-6)
    assert all(p.grad.dtype == np.float32 for p in params)
    np.testing.assert_allclose(np.linalg.norm(joint(params).astype(np.float64)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("bad, expected", [(math.nan, math.nan), (math.inf, math.inf)])
def test_clip_grad_norm_returns_a_non_finite_norm_and_does_not_scale(bad, expected):
    params = params_with_grads(scale=10.0, seed=5)
    params[0].grad[1, 2] = bad
    before = [p.grad.copy() for p in params]
    total = optim.clip_grad_norm_(params, max_norm=1.0)
    if math.isnan(expected):
        assert math.isnan(total)
    else:
        assert total == expected
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad, g)  # NaN == NaN for assert_array_equal


def test_clip_grad_norm_validates():
    params = params_with_grads()
    with pytest.raises(ValueError, match="Invalid max_norm value: -1.0"):
        optim.clip_grad_norm_(params, -1.0)
    with pytest.raises(ValueError, match="Invalid norm_type value: 0"):
        optim.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        optim.clip_grad_norm_([np.ones(3)], 1.0)


# --- clip_grad_value_ -------------------------------------------------------------------

def test_clip_grad_value_clips_each_entry_in_place():
    params = params_with_grads(scale=3.0, seed=6)
    params[2].grad = None
    before = [None if p.grad is None else p.grad.copy() for p in params]
    arrays = [p.grad for p in params]
    assert optim.clip_grad_value_(params, 1.5) is None
    for p, g, array in zip(params, before, arrays):
        if g is None:
            assert p.grad is None
            continue
        assert p.grad is array
        np.testing.assert_array_equal(p.grad, np.minimum(np.maximum(g, -1.5), 1.5))
    assert np.abs(joint(params)).max() == 1.5


def test_clip_grad_value_keeps_dtype_and_validates():
    w = dg.tensor(np.zeros(3, np.float32), requires_grad=True)
    w.grad = np.array([-5.0, 0.25, 5.0], np.float32)
    optim.clip_grad_value_(w, 0.5)
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad, [-0.5, 0.25, 0.5])
    with pytest.raises(ValueError, match="Invalid clip_value value: -0.5"):
        optim.clip_grad_value_(w, -0.5)


# --- l2_penalty -------------------------------------------------------------------------

def test_l2_penalty_value_and_gradient():
    rng = np.random.default_rng(7)
    params = [dg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in SHAPES]
    penalty = optim.l2_penalty(params, alpha=0.3)
    expected = 0.3 / 2 * sum(float((p.data ** 2).sum()) for p in params)
    np.testing.assert_allclose(penalty.item(), expected, rtol=1e-12)
    penalty.backward()
    for p in params:
        np.testing.assert_allclose(p.grad, 0.3 * p.data, rtol=1e-12)


def test_l2_penalty_matches_sgd_weight_decay():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal(6)
    w0 = rng.standard_normal(3)
    penalised = dg.tensor(w0.copy(), requires_grad=True)
    decayed = dg.tensor(w0.copy(), requires_grad=True)
    opt_penalised = optim.SGD([penalised], lr=0.1, momentum=0.9)
    opt_decayed = optim.SGD([decayed], lr=0.1, momentum=0.9, weight_decay=0.2)
    for _ in range(5):
        for w, opt, alpha in ((penalised, opt_penalised, 0.2), (decayed, opt_decayed, 0.0)):
            opt.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            if alpha:
                loss = loss + optim.l2_penalty([w], alpha)
            loss.backward()
            opt.step()
        np.testing.assert_allclose(penalised.data, decayed.data, rtol=1e-12)


def test_l2_penalty_edge_cases():
    w = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert optim.l2_penalty(w, 1.0).item() == 2.5  # a single Tensor
    assert optim.l2_penalty([], 1.0).item() == 0.0
    with pytest.raises(ValueError, match="Invalid alpha value: -1"):
        optim.l2_penalty([w], -1)
    with pytest.raises(TypeError, match="expected Tensors"):
        optim.l2_penalty([np.ones(2)], 1.0)


# --- l1_penalty -------------------------------------------------------------------------

def test_l1_penalty_value_and_gradient():
    rng = np.random.default_rng(9)
    params = [dg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in SHAPES]
    params[0].data.flat[0] = 0.0  # at 0 the gradient is 0 (the subgradient PyTorch takes)
    penalty = optim.l1_penalty(params, alpha=0.3)
    expected = 0.3 * sum(float(np.abs(p.data).sum()) for p in params)
    np.testing.assert_allclose(penalty.item(), expected, rtol=1e-12)
    penalty.backward()
    for p in params:
        np.testing.assert_allclose(p.grad, 0.3 * np.sign(p.data), rtol=1e-12)
    assert params[0].grad.flat[0] == 0.0


def test_l1_penalty_gradient_matches_central_differences():
    rng = np.random.default_rng(10)
    w = rng.standard_normal((3, 4))
    w[np.abs(w) < 0.1] = 0.5  # away from the kink at 0, where differences are meaningless
    assert dg.gradcheck(lambda t: optim.l1_penalty([t, t * 2.0], alpha=0.7),
                        [dg.tensor(w, requires_grad=True)])


def test_l1_penalty_shrinks_useless_weights_to_zero():
    # Least squares where only the first feature matters: with L1 the other weights end at
    # (about) 0 while plain least squares leaves them at their noisy fit.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((200, 5))
    y = 2.0 * x[:, 0] + 0.3 * rng.standard_normal(200)
    fits = {}
    for alpha in (0.0, 0.1):
        w = dg.tensor(np.zeros(5), requires_grad=True)
        opt = optim.SGD([w], lr=0.03)
        for _ in range(500):
            opt.zero_grad()
            loss = ((x @ w - y) ** 2).mean() + optim.l1_penalty([w], alpha)
            loss.backward()
            opt.step()
        fits[alpha] = w.data
    assert np.abs(fits[0.1][1:]).max() < 0.01 < np.abs(fits[0.0][1:]).max()
    assert abs(fits[0.1][0] - 2.0) < 0.1


def test_l1_penalty_edge_cases():
    w = dg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    assert optim.l1_penalty(w, 1.0).item() == 3.0  # a single Tensor
    assert optim.l1_penalty([], 1.0).item() == 0.0
    with pytest.raises(ValueError, match="Invalid alpha value: -1"):
        optim.l1_penalty([w], -1)
    with pytest.raises(TypeError, match="l1_penalty: expected Tensors"):
        optim.l1_penalty([np.ones(2)], 1.0)
