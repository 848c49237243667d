"""PyTorch interchange: model.safetensors holds PyTorch's names and layouts, so a deltagrad
MLP's weights load into the equivalent torch.nn.Sequential, and a PyTorch state dict saved
with safetensors loads into the deltagrad model (docs/interchange.md has the recipe)."""

import importlib.util

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.io import ModelFileError

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                 reason="PyTorch is not installed (it is never a dependency)")
X = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)


def torch_sequential(torch, activation="tanh"):
    """What nn.MLP(5, [16, 8], 3, activation=..., dropout=0.1) is, in PyTorch."""
    act = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "gelu": torch.nn.GELU}[activation]
    return torch.nn.Sequential(torch.nn.Linear(5, 16), act(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(16, 8), act(), torch.nn.Dropout(0.1),
                               torch.nn.Linear(8, 3))


def deltagrad_mlp(activation="tanh", seed=0):
    return nn.MLP(5, [16, 8], 3, activation=activation, dropout=0.1,
                  rng=np.random.default_rng(seed)).eval()


def outputs(model, x=X):
    with dg.no_grad():
        return model(x).numpy()


@needs_torch
@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_a_saved_mlp_loads_into_torch_and_gives_the_same_outputs(tmp_path, activation):
    import torch
    from safetensors.torch import load_file

    mlp = deltagrad_mlp(activation)
    folder = dg.save(mlp, tmp_path / "mlp")
    state = load_file(str(folder / "model.safetensors"))  # PyTorch reads the file as it is
    net = torch_sequential(torch, activation).eval()
    # MLP keeps its layers in a Sequential named "layers": drop that prefix, or load
    # mlp.layers.state_dict(), whose names are the Sequential's own.
    net.load_state_dict({k.removeprefix("layers."): v for k, v in state.items()}, strict=True)
    with torch.no_grad():
        got = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, outputs(mlp), rtol=1e-6, atol=1e-6)
    fresh = torch_sequential(torch, activation).eval()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in mlp.layers.state_dict().items()})
    with torch.no_grad():
        np.testing.assert_array_equal(fresh(torch.from_numpy(X)).numpy(), got)


@needs_torch
def test_a_torch_state_dict_saved_with_safetensors_loads_into_deltagrad(tmp_path):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = torch_sequential(torch).eval()
    save_file(net.state_dict(), str(tmp_path / "torch.safetensors"))
    mlp = deltagrad_mlp(seed=1)
    result = mlp.layers.load_state_dict(dg.load_state_dict(tmp_path / "torch.safetensors"))
    assert not result.missing_keys and not result.unexpected_keys
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(outputs(mlp), expected, rtol=1e-6, atol=1e-6)
    # A whole torch module whose attribute is "layers" maps onto the MLP itself.
    wrapped = torch.nn.Module()
    wrapped.layers = net
    save_file(wrapped.state_dict(), str(tmp_path / "wrapped.safetensors"))
    mlp2 = deltagrad_mlp(seed=2)
    mlp2.load_state_dict(dg.load_state_dict(tmp_path / "wrapped.safetensors"))
    np.testing.assert_array_equal(outputs(mlp2), outputs(mlp))


@needs_torch
def test_a_bfloat16_state_dict_is_refused_with_what_to_do(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"weight": torch.ones(2, 2, dtype=torch.bfloat16)}, str(tmp_path / "b.safetensors"))
    with pytest.raises(ModelFileError, match=r"dtype BF16.*tensor.float\(\)"):
        dg.load_state_dict(tmp_path / "b.safetensors")


def test_a_bare_safetensors_file_loads_as_a_state_dict(tmp_path):
    from safetensors.numpy import save_file

    mlp = deltagrad_mlp()
    save_file(mlp.state_dict(), str(tmp_path / "w.safetensors"))
    state = dg.load_state_dict(tmp_path / "w.safetensors")
    assert set(state) == set(mlp.state_dict())
    other = deltagrad_mlp(seed=3)
    other.load_state_dict(state)
    np.testing.assert_array_equal(outputs(other), outputs(mlp))
    (tmp_path / "bad.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"{}garbage")
    with pytest.raises(ModelFileError, match="bad.safetensors: not a valid safetensors"):
        dg.load_state_dict(tmp_path / "bad.safetensors")
