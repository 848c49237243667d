"""LayerNorm, BatchNorm1d and Residual: gradients against central differences (float64, random
shapes), second derivatives, the running statistics over several steps, eval mode, and every
value against PyTorch where it is installed (those tests skip without it)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltagrad as dg
from deltagrad import nn
from deltagrad.nn import functional as F

FAST = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)


def leaf(array) -> dg.Tensor:
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# --- the fused op against central differences ------------------------------------------------


@FAST
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
       normalized=st.lists(st.integers(2, 4), min_size=1, max_size=2),
       affine=st.booleans(), seed=seeds)
def test_layer_norm_gradcheck(lead, normalized, affine, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(normalized)
    x = leaf(rng.normal(size=(*lead, *shape)))
    params = [leaf(rng.normal(size=shape)), leaf(rng.normal(size=shape))] if affine else []

    def f(x, *wb):
        return F.layer_norm(x, shape, *wb, eps=1e-3) * np.arange(x.size).reshape(x.shape)

    assert dg.gradcheck(f, [x, *params])


@FAST
@given(n=st.integers(2, 5), c=st.integers(1, 4), length=st.sampled_from([None, 1, 3]),
       affine=st.booleans(), seed=seeds)
def test_batch_norm_training_gradcheck(n, c, length, affine, seed):
    rng = np.random.default_rng(seed)
    shape = (n, c) if length is None else (n, c, length)
    x = leaf(rng.normal(size=shape))
    params = [leaf(rng.normal(size=c)), leaf(rng.normal(size=c))] if affine else []

    def f(x, *wb):
        y = F.batch_norm(x, None, None, *wb, training=True, eps=1e-3)
        return y * np.cos(np.arange(x.size)).reshape(x.shape)  # a loss that is not symmetric

    assert dg.gradcheck(f, [x, *params])


@pytest.mark.parametrize("ndim", [2, 3])
def test_batch_norm_eval_gradcheck(ndim):
    rng = np.random.default_rng(0)
    shape = (4, 3) if ndim == 2 else (4, 3, 2)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2.0, 3)
    x, w, b = leaf(rng.normal(size=shape)), leaf(rng.normal(size=3)), leaf(rng.normal(size=3))
    assert dg.gradcheck(lambda x, w, b: F.batch_norm(x, mean, var, w, b) ** 2, [x, w, b])


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_second_derivatives_through_the_fused_op(norm):
    """dg.hessian goes through the hand-written backward (its x̂ and 1/σ rebuilt as ops)."""
    from test_higher_order import finite_difference_jacobian

    rng = np.random.default_rng(1)
    w, b = rng.normal(size=4), rng.normal(size=4)

    def f(x):
        if norm == "layer":
            y = F.layer_norm(x, (4,), w, b)
        else:
            y = F.batch_norm(x, None, None, w, b, training=True)
        return (y.tanh() * np.arange(12.0).reshape(3, 4)).sum()

    x = rng.normal(size=(3, 4))
    H = dg.hessian(f)(x)
    np.testing.assert_allclose(H, finite_difference_jacobian(dg.grad(f), x), rtol=1e-5,
                               atol=1e-6)


def test_layer_norm_values_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 6.0]])
    mean, var = x.mean(), x.var()
    expected = (x - mean) / np.sqrt(var + 1e-5) * 2.0 + 0.5
    y = F.layer_norm(dg.tensor(x), 4, np.full(4, 2.0), np.full(4, 0.5))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


def test_float32_stays_float32():
    x = dg.tensor(np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32),
                  requires_grad=True)
    for layer in (nn.LayerNorm(3), nn.BatchNorm1d(3)):
        y = layer(x)
        (y * y).sum().backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        assert all(g.dtype == np.float32 for g in (layer.weight.grad, layer.bias.grad))
    assert nn.BatchNorm1d(3).running_var.dtype == np.float32


# --- batch norm's running statistics ---------------------------------------------------------


def test_running_statistics_follow_pytorchs_formula_over_several_steps():
    rng = np.random.default_rng(2)
    bn = nn.BatchNorm1d(3, momentum=0.2).to(np.float64)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = rng.normal(3.0, 2.0, (10, 3))
        bn(x)
        mean = 0.8 * mean + 0.2 * x.mean(axis=0)
        var = 0.8 * var + 0.2 * x.var(axis=0, ddof=1)  # unbiased, as PyTorch
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)
    assert bn.num_batches_tracked.dtype == np.int64 and int(bn.num_batches_tracked) == 4
    x = rng.normal(size=(5, 3))
    bn.eval()
    np.testing.assert_allclose(bn(x).numpy(), (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10)
    assert int(bn.num_batches_tracked) == 4  # eval mode changes nothing


def test_momentum_none_is_the_cumulative_average():
    rng = np.random.default_rng(3)
    bn = nn.BatchNorm1d(2, momentum=None).to(np.float64)
    batches = [rng.normal(size=(6, 2)) for _ in range(3)]
    for x in batches:
        bn(x)
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(0) for x in batches], axis=0))


def test_eval_mode_uses_the_running_statistics_and_no_batch_dependence():
    bn = nn.BatchNorm1d(2).eval()
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    np.testing.assert_allclose(bn(x).numpy(), x / np.sqrt(1 + 1e-5), rtol=1e-6)
    np.testing.assert_allclose(bn(x[:1]).numpy(), bn(x).numpy()[:1])  # a batch of one is fine


def test_without_running_statistics_batches_are_normalised_in_both_modes():
    bn = nn.BatchNorm1d(2, track_running_stats=False, affine=False)
    assert bn.running_mean is None and list(bn.state_dict()) == []
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    np.testing.assert_allclose(bn.eval()(x).numpy(), [[-1, -1], [1, 1]], atol=1e-4)


def test_batch_norm_on_n_c_l_normalises_each_channel_over_batch_and_length():
    x = np.random.default_rng(4).normal(size=(4, 3, 5))
    y = nn.BatchNorm1d(3).to(np.float64)(x).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2)), 1, atol=1e-3)


@pytest.mark.parametrize("make, x, message", [
    (lambda: nn.BatchNorm1d(3), np.ones((1, 3)), r"more than 1 value per channel.*\(1, 3\)"),
    (lambda: nn.BatchNorm1d(3), np.ones((4, 2)), r"\(N, 3\) or \(N, 3, L\), got \(4, 2\)"),
    (lambda: nn.BatchNorm1d(3), np.ones((4, 3, 2, 2)), r"got \(4, 3, 2, 2\)"),
    (lambda: nn.LayerNorm((2, 3)), np.ones((4, 3)), r"\(4, 3\) does not end in .*\(2, 3\)"),
])
def test_shape_errors_name_the_layer_and_the_shapes(make, x, message):
    with pytest.raises(ValueError, match=message):
        make()(x)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.BatchNorm1d(0), "num_features must be a positive integer, got 0"),
    (lambda: nn.BatchNorm1d(2, momentum=1.5), r"momentum must lie in \[0, 1\]"),
    (lambda: nn.BatchNorm1d(2, eps=0), "eps must be a positive number"),
    (lambda: nn.LayerNorm(()), "normalized_shape must be an int or a non-empty tuple"),
    (lambda: nn.LayerNorm(3, elementwise_affine="yes"), "elementwise_affine must be True"),
    (lambda: nn.MLP(2, [4], 1, norm="group"), "norm must be None, 'layer' or 'batch'"),
    (lambda: nn.Residual(lambda x: x), "Residual: module must be a Module"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


# --- Residual and the MLP's options ----------------------------------------------------------


def test_residual_adds_the_skip_and_its_gradient():
    rng = np.random.default_rng(5)
    lin = nn.Linear(3, 3).to(np.float64)
    block = nn.Residual(lin)
    x = leaf(rng.normal(size=(2, 3)))
    np.testing.assert_allclose(block(x).numpy(), x.data + lin(x).numpy())
    assert dg.gradcheck(lambda x: block(x).tanh(), [x])
    with pytest.raises(ValueError, match=r"Residual: Linear maps shape \(2, 3\) to \(2, 4\)"):
        nn.Residual(nn.Linear(3, 4))(np.ones((2, 3), np.float32))


def test_mlp_layout_with_norm_and_residual():
    model = nn.MLP(2, [4, 4, 3], 1, norm="layer", residual=True, dropout=0.1)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Linear", "LayerNorm", "ReLU", "Dropout", "Residual", "Linear",
                     "LayerNorm", "ReLU", "Dropout", "Linear"]
    inner = [type(m).__name__ for m in model.layers[4].module]
    assert inner == ["Linear", "LayerNorm", "ReLU", "Dropout"]
    assert "layers.4.module.1.weight" in model.state_dict()
    plain = nn.MLP(2, [4, 4], 1)
    assert [type(m).__name__ for m in plain.layers] == ["Linear", "ReLU", "Linear", "ReLU",
                                                         "Linear"]


def test_a_deep_residual_batch_norm_mlp_learns_moons():
    from deltagrad.data import load_dataset
    from deltagrad.train import Trainer

    ds = load_dataset("moons", n_samples=200, seed=0)
    model = nn.MLP(2, [16] * 6, 2, norm="batch", residual=True, rng=np.random.default_rng(0))
    trainer = Trainer(model, lr=0.01, metrics=["accuracy"], seed=0, progress="none")
    history = trainer.fit(ds.X, ds.y, epochs=15, batch_size=32)
    assert history["accuracy"][-1] > 0.95
    assert model.layers[1].num_batches_tracked == 15 * 7


# --- buffers -----------------------------------------------------------------------------------


def test_buffers_are_listed_saved_loaded_and_cast():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert [n for n, _ in model.named_buffers()] == [
        "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert len(list(model.buffers())) == 3
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                        "1.running_mean", "1.running_var",
                                        "1.num_batches_tracked"]
    state = model.state_dict()
    state["1.running_mean"] = np.array([1.0, 2.0, 3.0])  # float64: cast on the way in
    state["1.num_batches_tracked"] = np.array(7)
    model.load_state_dict(state)
    bn = model[1]
    assert bn.running_mean.dtype == np.float32 and bn.running_mean.tolist() == [1, 2, 3]
    assert int(bn.num_batches_tracked) == 7
    model.state_dict()["1.running_mean"][0] = 99  # a copy
    assert bn.running_mean[0] == 1
    model.to(np.float64)
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    with pytest.raises(ValueError, match=r"'1.running_var' has shape \(2,\)"):
        model.load_state_dict({**state, "1.running_var": np.ones(2)})


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("scratch", np.zeros(2), persistent=False)
    m.register_buffer("steps", np.zeros((), np.int64))
    m.steps += 1  # a NumPy scalar comes back from +=: it is kept as a 0-d array
    assert isinstance(m.steps, np.ndarray) and m.state_dict() == {"steps": np.array(1)}
    assert [n for n, _ in m.named_buffers()] == ["scratch", "steps"]
    with pytest.raises(ValueError, match="already has an attribute 'training'"):
        m.register_buffer("training", np.zeros(1))
    with pytest.raises(TypeError, match="buffer 'bad' must be a numeric array"):
        m.register_buffer("bad", np.array(["a"]))
    del m.scratch
    assert [n for n, _ in m.named_buffers()] == ["steps"]
    with pytest.raises(AttributeError, match="has no attribute 'scratch'"):
        m.scratch  # noqa: B018


# --- PyTorch, where installed ----------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="the PyTorch comparisons need torch")


def same_step(torch, ours, theirs, x, g) -> None:
    """One forward and backward pass through both: outputs, δx and parameter gradients agree
    (the gradients accumulate alike over several calls)."""
    xt, xo = torch.tensor(x, requires_grad=True), leaf(x)
    yt, yo = theirs(xt), ours(xo)
    yt.backward(torch.tensor(g))
    yo.backward(g)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(theirs, name).grad.numpy(), rtol=1e-9)


def test_layer_norm_matches_pytorch():
    torch = _torch()
    rng = np.random.default_rng(6)
    x, g = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    ours = nn.LayerNorm((4, 5), eps=1e-4).to(np.float64)
    ours.load_state_dict({"weight": rng.normal(size=(4, 5)), "bias": rng.normal(size=(4, 5))})
    theirs = torch.nn.LayerNorm((4, 5), eps=1e-4).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    same_step(torch, ours, theirs, x, g)


@pytest.mark.parametrize("shape, momentum, affine", [((8, 3), 0.1, True),
                                                      ((6, 3, 4), 0.3, False),
                                                      ((5, 3), None, True)])
def test_batch_norm_matches_pytorch_over_several_steps_and_in_eval(shape, momentum, affine):
    torch = _torch()
    rng = np.random.default_rng(7)
    ours = nn.BatchNorm1d(3, momentum=momentum, affine=affine).to(np.float64)
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum, affine=affine).double()
    if affine:
        ours.load_state_dict({**ours.state_dict(), "weight": rng.normal(size=3),
                              "bias": rng.normal(size=3)})
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for step in range(3):
        same_step(torch, ours, theirs, rng.normal(1.0, 2.0, shape), rng.normal(size=shape))
        for name, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12,
                                       err_msg=f"{name} after step {step + 1}")
    ours.eval(), theirs.eval()
    x = rng.normal(size=shape)
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)
