"""End-to-end learning: MLPs with 2 and 5 hidden layers fit XOR and two moons; one training
step worked by hand; bit-for-bit reproducibility under dg.manual_seed."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.nn import functional as F

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([0, 1, 1, 0])


def two_moons(n=400, noise=0.1, seed=0):
    """Two interleaved half circles (as scikit-learn's make_moons), labels 0 and 1."""
    rng = np.random.default_rng(seed)
    n_outer = n // 2
    outer = rng.uniform(0, np.pi, n_outer)
    inner = rng.uniform(0, np.pi, n - n_outer)
    X = np.concatenate([np.stack([np.cos(outer), np.sin(outer)], axis=1),
                        np.stack([1 - np.cos(inner), 0.5 - np.sin(inner)], axis=1)])
    X += rng.normal(0, noise, X.shape)
    y = np.concatenate([np.zeros(n_outer, int), np.ones(n - n_outer, int)])
    return X.astype(np.float32), y


def fit(model, X, y, steps, lr):
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(X), y).backward()
        opt.step()
    with dg.no_grad():
        return float((model.eval()(X).numpy().argmax(axis=1) == y).mean())


@pytest.mark.parametrize("hidden", [[16, 16], [16] * 5], ids=["2-hidden", "5-hidden"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_learns_xor(hidden, activation):
    model = nn.MLP(2, hidden, 2, activation=activation, rng=np.random.default_rng(0))
    assert fit(model, XOR_X, XOR_Y, steps=300, lr=0.03) == 1.0


@pytest.mark.parametrize("hidden", [[32, 32], [32] * 5], ids=["2-hidden", "5-hidden"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_learns_two_moons(hidden, activation):
    X, y = two_moons()
    model = nn.MLP(2, hidden, 2, activation=activation, rng=np.random.default_rng(1))
    assert fit(model, X, y, steps=300, lr=0.01) >= 0.97


def test_mlp_with_bce_and_plain_sgd_learns_xor():
    model = nn.MLP(2, [16, 16], 1, activation="tanh", rng=np.random.default_rng(2))
    target = XOR_Y[:, None].astype(np.float32)
    for _ in range(1000):
        model.zero_grad()
        F.binary_cross_entropy_with_logits(model(XOR_X), target).backward()
        for p in model.parameters():
            p.data -= 0.5 * p.grad
    assert np.array_equal(model(XOR_X).numpy() > 0, target > 0.5)


def test_one_sgd_step_by_hand():
    layer = nn.Linear(2, 1)
    layer.load_state_dict({"weight": np.array([[0.5, -1.0]]), "bias": np.array([0.25])})
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    y = np.array([[1.0], [0.0]], np.float32)
    F.mse_loss(layer(x), y).backward()
    # prediction p = x w + b = [-1.25, 2.75]; residual r = p - y = [-2.25, 2.75];
    # dL/dw = 2/N Σ r x = [-2.25 + 8.25, -4.5 - 2.75] = [6, -7.25]; dL/db = 2/N Σ r = 0.5.
    np.testing.assert_allclose(layer.weight.grad, [[6.0, -7.25]])
    np.testing.assert_allclose(layer.bias.grad, [0.5])
    optim.SGD(layer.parameters(), lr=0.1).step()
    np.testing.assert_allclose(layer.weight.data, [[-0.1, -0.275]], rtol=1e-6)
    np.testing.assert_allclose(layer.bias.data, [0.2], rtol=1e-6)


def test_training_with_dropout_is_bit_for_bit_reproducible_under_manual_seed():
    X, y = two_moons(n=64, seed=3)

    def run():
        dg.manual_seed(42)
        model = nn.MLP(2, [16, 16], 2, dropout=0.2)
        fit(model, X, y, steps=20, lr=0.01)
        return model.state_dict()

    first, second = run(), run()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
