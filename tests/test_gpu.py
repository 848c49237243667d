"""On a CUDA GPU through CuPy: ``pytest -m gpu`` (deselected by default; skipped without CuPy
or a GPU). A training run on the GPU ends where the CPU run does (float32, 20 steps, weights
within 1e-5); every op passes gradcheck in float64 on the GPU; every optimiser, loss and the
embedding's scatter-add (cupyx.scatter_add) agree with NumPy."""

import numpy as np
import pytest

from device_cases import (LOSSES, OPS, OPTIMISERS, check_embedding_model, check_gradcheck,
                          check_loss, check_mlp_steps, check_normalised_mlp)

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.nn import functional as F

pytestmark = pytest.mark.gpu
cupy = pytest.importorskip("cupy", reason="the GPU tests need CuPy: pip install "
                                          "'deltagrad[cuda12]' (or [cuda13])")
try:
    GPUS = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError:
    GPUS = 0
if not GPUS:
    pytest.skip("no CUDA GPU on this machine", allow_module_level=True)
CUDA = dg.device("cuda")


def test_tensors_live_on_the_gpu_and_come_back_to_the_host():
    t = dg.tensor([1.0, 2.0], device="cuda")
    assert isinstance(t.data, cupy.ndarray) and t.device == CUDA == "cuda:0"
    assert isinstance(t.numpy(), np.ndarray) and t.numpy().tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="inputs on different devices, cuda:0 and cpu"):
        t + dg.tensor([1.0, 2.0])
    with pytest.raises(TypeError):  # CuPy refuses a hidden copy to the host
        np.asarray(t)


def test_a_training_run_on_the_gpu_ends_where_the_cpu_run_does():
    def make():
        return nn.MLP(64, [128, 128], 10, rng=np.random.default_rng(0))

    cpu, gpu = make(), make().to("cuda")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 32, 64)).astype(np.float32)
    y = rng.integers(0, 10, (20, 32))
    for model, place in ((cpu, "cpu"), (gpu, "cuda")):
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for step in range(20):
            opt.zero_grad()
            loss = F.cross_entropy(model(dg.tensor(x[step], device=place)),
                                   dg.tensor(y[step], device=place))
            loss.backward()
            opt.step()
    for (name, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
        assert isinstance(b.data, cupy.ndarray)
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck_in_float64_on_the_gpu(name):
    check_gradcheck(name, CUDA)


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_every_optimiser_on_the_gpu_equals_numpy(name):
    check_mlp_steps(name, CUDA)


def test_embedding_scatter_add_on_the_gpu_equals_numpy():
    check_embedding_model(CUDA)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_normalised_residual_mlp_on_the_gpu_equals_numpy(norm):
    check_normalised_mlp(norm, CUDA)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_on_the_gpu_equals_numpy(name):
    check_loss(name, CUDA, rtol=1e-10)


def test_dropout_on_the_gpu_draws_from_cupys_generator_seeded_by_manual_seed():
    x = dg.tensor(np.ones((256, 256), np.float32), device="cuda")
    masks = []
    for _ in range(2):
        dg.manual_seed(7)
        masks.append(F.dropout(x, p=0.25).numpy())
    np.testing.assert_array_equal(masks[0], masks[1])
    assert abs((masks[0] == 0).mean() - 0.25) < 0.01
    assert set(np.unique(masks[0]).tolist()) == {0.0, np.float32(1 / 0.75)}


def test_model_files_load_onto_the_gpu(tmp_path):
    model = nn.MLP(3, [4], 2, rng=np.random.default_rng(0)).to("cuda")
    dg.save(model, tmp_path / "model")
    loaded = dg.load(tmp_path / "model", device="cuda")
    assert all(isinstance(p.data, cupy.ndarray) for p in loaded.parameters())
    x = dg.tensor(np.ones((2, 3), np.float32), device="cuda")
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_trainer_on_the_gpu_trains_as_on_the_host():
    from deltagrad.data import load_dataset
    from deltagrad.train import Trainer

    ds = load_dataset("moons", n_samples=256, seed=0)
    runs = []
    for device in (None, "cuda"):
        model = nn.MLP(2, [32, 32], 2, rng=np.random.default_rng(0))
        trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.05, seed=0,
                          metrics=["accuracy"], progress="none", device=device)
        history = trainer.fit(ds.X, ds.y, epochs=3, batch_size=32, validation_split=0.25)
        runs.append((history["loss"], trainer.predict(ds.X[:9])))
    assert isinstance(model.layers[0].weight.data, cupy.ndarray)
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-4)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-4, atol=1e-5)


def test_deltagrad_train_on_the_gpu(tmp_path):
    from test_cli import ok

    ok("train", "--data", "iris", "--epochs", "3", "--device", "cuda", "--out",
       tmp_path / "run", "--quiet", cwd=tmp_path)
    assert all(isinstance(p.data, np.ndarray) for p in dg.load(tmp_path / "run").parameters())
