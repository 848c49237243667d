"""nn.init: bounds and standard deviations on large tensors, PyTorch's fans and gains,
orthogonality, in-place writes, reproducible randomness."""

import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.nn import init


def empty(*shape):
    return dg.tensor(np.empty(shape, np.float32))


def rng(seed=0):
    return np.random.default_rng(seed)


def test_calculate_gain_matches_pytorch():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="calculate_gain: unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_constant_fills_in_place_and_keep_dtype():
    t = empty(3, 4)
    data = t.data
    assert init.constant_(t, 2.5) is t and t.data is data and t.dtype == np.float32
    np.testing.assert_array_equal(t.data, 2.5)
    np.testing.assert_array_equal(init.zeros_(t).data, 0)
    np.testing.assert_array_equal(init.ones_(t).data, 1)
    array = np.empty(3)
    assert init.ones_(array) is array and np.all(array == 1)


def test_uniform_and_normal_statistics():
    t = init.uniform_(empty(500, 400), -2.0, 3.0, rng=rng())
    assert t.data.min() >= -2 and t.data.max() <= 3
    assert t.data.mean() == pytest.approx(0.5, abs=0.01)
    t = init.normal_(empty(500, 400), mean=1.0, std=0.5, rng=rng())
    assert t.data.mean() == pytest.approx(1.0, abs=0.005)
    assert t.data.std() == pytest.approx(0.5, rel=0.01)


def test_xavier_bounds_and_std():
    fan_in, fan_out = 300, 200
    t = init.xavier_uniform_(empty(fan_out, fan_in), gain=2.0, rng=rng())
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound
    assert t.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    t = init.xavier_normal_(empty(fan_out, fan_in), rng=rng())
    assert t.data.std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.01)


def test_kaiming_uses_gain_and_the_chosen_fan():
    t = init.kaiming_uniform_(empty(200, 300), nonlinearity="relu", rng=rng())
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(t.data).max() <= bound and t.data.std() == pytest.approx(bound / math.sqrt(3),
                                                                           rel=0.01)
    t = init.kaiming_normal_(empty(200, 300), mode="fan_out", nonlinearity="relu", rng=rng())
    assert t.data.std() == pytest.approx(math.sqrt(2 / 200), rel=0.01)
    # PyTorch's Linear default: a = √5 gives U(-1/√fan_in, 1/√fan_in).
    t = init.kaiming_uniform_(empty(200, 300), a=math.sqrt(5), rng=rng())
    assert np.abs(t.data).max() <= 1 / math.sqrt(300)
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal_(empty(2, 2), mode="fan_avg")


def test_fans_of_a_convolution_shaped_weight():
    # (out, in, kh, kw) = (64, 16, 3, 3): fan_in = 16 * 9, fan_out = 64 * 9, as PyTorch.
    t = init.kaiming_normal_(empty(64, 16, 3, 3), nonlinearity="linear", rng=rng())
    assert t.data.std() == pytest.approx(1 / math.sqrt(144), rel=0.02)
    t = init.xavier_normal_(empty(64, 16, 3, 3), rng=rng())
    assert t.data.std() == pytest.approx(math.sqrt(2 / (144 + 576)), rel=0.02)


def test_lecun_normal_std():
    t = init.lecun_normal_(empty(300, 250), rng=rng())
    assert t.data.std() == pytest.approx(1 / math.sqrt(250), rel=0.01)


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (6, 6)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(empty(*shape), gain=1.0, rng=rng()).data.astype(np.float64)
    rows, cols = shape
    if rows <= cols:
        np.testing.assert_allclose(w @ w.T, np.eye(rows), atol=1e-6)
    else:
        np.testing.assert_allclose(w.T @ w, np.eye(cols), atol=1e-6)


def test_orthogonal_gain_and_extra_axes():
    w = init.orthogonal_(empty(4, 2, 3), gain=3.0, rng=rng()).data.reshape(4, 6)
    np.testing.assert_allclose(w @ w.T, 9 * np.eye(4), atol=1e-5)


@pytest.mark.parametrize("fn", [init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
                                init.kaiming_normal_, init.lecun_normal_, init.orthogonal_])
def test_fan_based_initialisers_need_two_dimensions(fn):
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        fn(empty(5))


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_,
                                init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
                                init.lecun_normal_, init.orthogonal_])
def test_randomness_is_reproducible(fn):
    a = fn(empty(4, 3), rng=rng(5)).data
    b = fn(empty(4, 3), rng=rng(5)).data
    np.testing.assert_array_equal(a, b)
    dg.manual_seed(5)
    c = fn(empty(4, 3)).data
    dg.manual_seed(5)
    d = fn(empty(4, 3)).data
    np.testing.assert_array_equal(c, d)
    assert not np.array_equal(c, fn(empty(4, 3)).data)


def test_initialisers_work_on_parameters_of_a_layer():
    layer = nn.Linear(3, 2)
    weight = layer.weight
    init.orthogonal_(layer.weight, rng=rng())
    init.zeros_(layer.bias)
    assert layer.weight is weight and layer.weight.requires_grad
    np.testing.assert_allclose(layer.weight.data @ layer.weight.data.T, np.eye(2), atol=1e-6)
    with pytest.raises(TypeError, match="init: expected a Parameter, Tensor or NumPy array"):
        init.zeros_([1.0, 2.0])
