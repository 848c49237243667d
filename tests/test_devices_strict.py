"""The array API seam, proved without a GPU: everything trains on array-api-strict arrays on
its non-default device, where any hidden copy to NumPy raises (``np.asarray`` refuses such
an array, and the library refuses NumPy arrays as operands), with results equal to the
NumPy run's. Plus gradcheck (float64, against central differences) on that backend.
"""

import numpy as np
import pytest

from device_cases import (LOSSES, OPS, OPTIMISERS, RNG, V, check_embedding_model,
                          check_gradcheck, check_loss, check_mlp_steps, check_normalised_mlp)

import deltagrad as dg
from deltagrad import nn
from deltagrad.nn import functional as F

xps = pytest.importorskip("array_api_strict")
DEVICE = dg.device(xps, xps.Device("device1"))


def on_device(array):
    return xps.asarray(np.asarray(array), device=xps.Device("device1"))


def host(x):
    return x.numpy() if isinstance(x, dg.Tensor) else dg.tensor(x).numpy()


def assert_on_device(x):
    data = x.data if isinstance(x, dg.Tensor) else x
    assert type(data).__module__.startswith("array_api_strict"), type(data)
    assert data.device == xps.Device("device1")


def test_the_tripwire_is_armed():
    """What makes these tests honest: a silent copy to NumPy, or a NumPy operand, raises."""
    x = on_device([1.0, 2.0])
    refusals = (TypeError, RuntimeError)  # which one varies with its version
    with pytest.raises(refusals):
        np.asarray(x)
    with pytest.raises(refusals):
        x + np.ones(2)


# --- tensors on the device ------------------------------------------------------------------


def test_tensor_keeps_the_library_and_device_of_its_data():
    t = dg.tensor(on_device([1.0, 2.0]), requires_grad=True)
    assert_on_device(t)
    assert t.device == DEVICE and t.device.name == "array_api_strict:device1"
    assert_on_device(dg.tensor([1.0, 2.0], device=DEVICE))
    assert dg.tensor([1.0, 2.0], device=DEVICE).dtype == xps.float32  # the default float dtype
    assert dg.tensor(on_device([1, 2]), dtype=np.float64).dtype == xps.float64


def test_to_and_numpy_copy_between_host_and_device_and_gradients_flow_back():
    x = dg.tensor([1.0, -2.0], requires_grad=True)
    y = x.to(DEVICE)
    assert_on_device(y)
    assert isinstance(y.numpy(), np.ndarray) and y.numpy().tolist() == [1.0, -2.0]
    (y * y).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_allclose(x.grad, [2.0, -4.0])
    assert y.to(DEVICE) is y and x.to("cpu") is x


def test_an_op_on_two_devices_is_a_value_error_naming_both():
    a = dg.tensor([1.0, 2.0], device=DEVICE)
    with pytest.raises(ValueError, match=r"add: inputs on different devices, "
                                         r"array_api_strict:device1 and cpu"):
        a + dg.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="matmul: inputs on different devices"):
        dg.tensor(np.ones((2, 2), np.float32)) @ dg.tensor(np.ones((2, 2)), device=DEVICE)
    other = dg.device(xps, xps.Device("device2"))
    with pytest.raises(ValueError, match="device1 and array_api_strict:device2"):
        a * dg.tensor([1.0, 2.0], device=other)


def test_printing_and_python_numbers_copy_explicitly():
    t = dg.tensor([1.5, 2.0], device=DEVICE)
    assert "device='array_api_strict:device1'" in repr(t)
    assert t.sum().item() == 3.5 and t.tolist() == [1.5, 2.0]


def test_in_place_updates_summary_and_jupyter_views_on_the_device():
    w = dg.tensor([1.0, 2.0], device=DEVICE, requires_grad=True)
    with dg.no_grad():
        w -= [0.5, 0.5]  # a list (float64) becomes an array there, cast as NumPy would
        w *= dg.tensor([2.0, 2.0], device=DEVICE)
    assert_on_device(w)
    assert w.tolist() == [1.0, 3.0] and "<table>" in w._repr_html_()
    model = nn.MLP(6, [16], 3, norm="batch").to(DEVICE)  # runs once on zeros on the device
    assert "(None, 16)" in str(model.summary((6,))) and "<table" in model._repr_html_()


# --- every op, optimiser and loss: the cases every device runs (device_cases.py) ---------


@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck_on_the_device(name):
    check_gradcheck(name, DEVICE)


def test_higher_order_on_the_device():
    x = dg.tensor(V, device=DEVICE)
    d2 = dg.grad(lambda x: dg.grad(lambda y: (y ** 3).sum())(x).sum())(x)
    assert_on_device(d2)
    np.testing.assert_allclose(d2.numpy(), 6 * V, rtol=1e-12)
    np.testing.assert_allclose(dg.hessian(lambda x: (x ** 3).sum())(x), np.diag(6 * V),
                               rtol=1e-12)


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_mlp_training_steps_on_the_device_equal_the_numpy_run(name):
    check_mlp_steps(name, DEVICE)


def test_embedding_model_training_steps_on_the_device_equal_the_numpy_run():
    check_embedding_model(DEVICE)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_normalised_residual_mlp_on_the_device_equals_the_numpy_run(norm):
    check_normalised_mlp(norm, DEVICE)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_and_its_gradient_on_the_device_equal_numpy(name):
    check_loss(name, DEVICE)


def test_dropout_on_the_device_draws_what_numpy_draws():
    x = np.ones((6, 5), np.float32)
    for rng_of in (lambda: np.random.default_rng(4), lambda: None):
        outputs = []
        for place in ("cpu", DEVICE):
            dg.manual_seed(5)
            t = dg.tensor(x, requires_grad=True, device=place)
            y = F.dropout(t, p=0.4, rng=rng_of())
            y.sum().backward()
            outputs.append((y.numpy(), host(t.grad)))
        np.testing.assert_array_equal(outputs[1][0], outputs[0][0])
        np.testing.assert_array_equal(outputs[1][1], outputs[0][1])
        assert 0 < (outputs[0][0] == 0).sum() < x.size


def test_init_one_hot_and_state_dict_on_the_device():
    w = dg.tensor(np.zeros((4, 3), np.float32), device=DEVICE)
    nn.init.kaiming_uniform_(w, rng=np.random.default_rng(0))
    reference = nn.init.kaiming_uniform_(np.zeros((4, 3), np.float32),
                                         rng=np.random.default_rng(0))
    assert_on_device(w)
    np.testing.assert_array_equal(w.numpy(), reference)
    nn.init.normal_(w, 1.0, 2.0, rng=np.random.default_rng(1))
    reference = nn.init.normal_(np.zeros((4, 3), np.float32), 1.0, 2.0,
                                rng=np.random.default_rng(1))
    np.testing.assert_array_equal(w.numpy(), reference)
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(3), atol=1e-5)
    hot = F.one_hot(on_device([2, 0]), 3)
    assert_on_device(hot)
    assert hot.numpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    model = nn.Linear(3, 2).to(DEVICE)
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    model.load_state_dict({k: v * 2 for k, v in state.items()})
    assert_on_device(model.weight)
    np.testing.assert_allclose(model.weight.numpy(), state["weight"] * 2)


def test_gradient_stats_of_a_run_on_the_device_equal_the_host_run():
    from deltagrad.train import GradientStats, Trainer

    x = RNG.standard_normal((24, 3)).astype(np.float32)
    y = x[:, :1] * 2 - x[:, 1:2]
    runs = []
    for device in (None, DEVICE):
        stats = GradientStats()
        model = nn.MLP(3, [5, 5], 1, norm="layer", rng=np.random.default_rng(1))
        Trainer(model, loss="mse", optimizer="sgd", lr=0.1, seed=0, progress="none",
                callbacks=[stats], device=device).fit(x, y, epochs=2, batch_size=8,
                                                      shuffle=False)
        runs.append(stats)
    host, dev = runs
    for series in ("grad_norm", "delta", "update_ratio"):
        assert list(getattr(dev, series)) == list(getattr(host, series))
        for name, values in getattr(host, series).items():
            np.testing.assert_allclose(getattr(dev, series)[name], values, rtol=1e-4,
                                       err_msg=f"{series} {name}")


def test_embedding_indices_on_another_device_are_refused():
    emb = nn.Embedding(5, 2).to(DEVICE)
    with pytest.raises(ValueError, match="embedding: weight on array_api_strict:device1 but "
                                         "indices on cpu"):
        emb(np.array([1, 2]))


def test_model_files_hold_host_arrays_and_load_onto_the_device_asked_for(tmp_path):
    model = nn.MLP(3, [4], 2, rng=np.random.default_rng(0)).to(DEVICE)
    dg.save(model, tmp_path / "model")
    on_host = dg.load(tmp_path / "model")
    assert all(type(p.data) is np.ndarray for p in on_host.parameters())
    loaded = dg.load(tmp_path / "model", device=DEVICE)
    for p in loaded.parameters():
        assert_on_device(p)
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(on_device(x)).numpy(), on_host(x).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(model(on_device(x)).numpy(), loaded(on_device(x)).numpy())


def test_a_checkpoint_of_an_optimiser_on_the_device_round_trips(tmp_path):
    from deltagrad.optim import Adam
    from deltagrad.train.checkpoint import load_checkpoint, save_checkpoint

    model = nn.Linear(3, 2, rng=np.random.default_rng(0)).to(DEVICE)
    opt = Adam(model.parameters(), lr=0.1)
    x, y = on_device(np.ones((4, 3), np.float32)), on_device(np.zeros((4, 2), np.float32))
    F.mse_loss(model(x), y).backward()
    opt.step()
    path = save_checkpoint(tmp_path / "checkpoint.safetensors",
                           {"model": model.state_dict(), "optimizer": opt.state_dict()})
    state = load_checkpoint(path)
    restored = Adam(model.parameters(), lr=0.5)
    restored.load_state_dict(state["optimizer"])
    for p in model.parameters():
        for name in ("exp_avg", "exp_avg_sq"):
            assert_on_device(restored.state[p][name])
            np.testing.assert_array_equal(dg.tensor(restored.state[p][name]).numpy(),
                                          dg.tensor(opt.state[p][name]).numpy())
    assert restored.param_groups[0]["lr"] == 0.1


def test_trainer_moves_the_model_and_every_batch_and_trains_as_on_the_host(tmp_path):
    from deltagrad.data import load_dataset
    from deltagrad.train import EarlyStopping, Trainer

    ds = load_dataset("moons", n_samples=120, seed=0)
    runs = []
    for device, out_dir in ((None, None), (DEVICE, tmp_path / "run")):
        model = nn.MLP(2, [16], 2, dropout=0.2, rng=np.random.default_rng(0))
        trainer = Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.05, seed=0,
                          metrics=["accuracy"], clip_norm=5.0, progress="none",
                          callbacks=[EarlyStopping(patience=2)], device=device)
        history = trainer.fit(ds.X, ds.y, epochs=4, batch_size=16, validation_split=0.25,
                              sample_weight=np.linspace(0.5, 1.5, 120), out_dir=out_dir)
        runs.append((history, trainer.predict(ds.X[:7]), model))
    (host, host_pred, _), (dev, dev_pred, dev_model) = runs
    for p in dev_model.parameters():
        assert_on_device(p)
    assert isinstance(dev_pred, np.ndarray)
    np.testing.assert_allclose(dev_pred, host_pred, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dev["loss"], host["loss"], rtol=1e-5)
    np.testing.assert_allclose(dev["val_accuracy"], host["val_accuracy"])
    loaded = dg.load(tmp_path / "run", device=DEVICE)  # the model folder the run wrote
    assert_on_device(next(loaded.parameters()))
    np.testing.assert_allclose(loaded(on_device(ds.X[:7])).numpy(), dev_pred, rtol=1e-6)
