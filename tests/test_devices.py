"""Devices in the API (NumPy only here): naming them, what a tensor and a module report, and
the clear errors. The seam itself is proved in test_devices_strict.py (array-api-strict) and,
on a GPU machine, test_gpu.py."""

import importlib.util

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.backend import array_module, to_device, to_host


def test_cpu_is_numpy_on_the_host():
    cpu = dg.device("cpu")
    assert cpu == "cpu" and cpu == dg.device(np) and cpu == dg.device(np, "cpu")
    assert repr(cpu) == "device('cpu')" and str(cpu) == "cpu"
    assert hash(cpu) == hash(dg.device("cpu")) and dg.device(cpu) is cpu
    t = dg.tensor([1.0, 2.0])
    assert t.device == cpu and t.to("cpu") is t and t.to(cpu) is t
    assert t.numpy() is t.data  # NumPy data: no copy


def test_bad_devices_are_clear_errors():
    with pytest.raises(ValueError, match="device: unknown device 'gpu'; use 'cpu', 'cuda'"):
        dg.device("gpu")
    with pytest.raises(ValueError, match="unknown device 'cuda:x'"):
        dg.tensor([1.0]).to("cuda:x")
    with pytest.raises(ValueError, match="NumPy has only the device 'cpu', got 'gpu'"):
        dg.device(np, "gpu")
    with pytest.raises(TypeError, match="expected a device name such as 'cpu'"):
        dg.device(3)
    with pytest.raises(TypeError, match="a second argument goes with a namespace"):
        dg.device("cpu", "cpu")
    with pytest.raises(TypeError, match="expected a device such as 'cpu', 'cuda'"):
        dg.tensor([1.0]).to(3)


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_says_which_extra_to_install():
    with pytest.raises(ImportError, match=r"needs CuPy.*deltagrad\[cuda12\]"):
        dg.device("cuda")
    with pytest.raises(ImportError, match="device 'cuda:1' needs CuPy"):
        nn.Linear(2, 2).to("cuda:1")


def test_module_to_takes_a_device_or_a_dtype_name():
    model = nn.MLP(2, [3], 1)
    weights = [p.data for p in model.parameters()]
    assert model.to("cpu") is model
    assert [p.data for p in model.parameters()] == weights  # already there: nothing copied
    assert all(p.dtype == np.float64 for p in model.to("float64").parameters())


def test_numpy_arrays_take_the_numpy_fast_path():
    a = np.ones(3, np.float32)
    assert array_module(a) is np and array_module(np.float32(1)) is np
    assert to_device(a, "cpu") is a and to_host(a) is a
    np.testing.assert_array_equal(to_device([1, 2], dg.device("cpu")), [1, 2])


# --- the training commands' --device ----------------------------------------------------------


@pytest.mark.parametrize("command", [["train"], ["lm", "train", "--data", "x.txt", "--out", "o"],
                                     ["ner", "train", "--train", "x.conll", "--out", "o"]])
def test_an_unknown_device_is_one_error_line_before_any_data_is_read(command, tmp_path):
    from test_cli import assert_one_line_error, run_here

    assert_one_line_error(run_here(*command, "--device", "gpu", cwd=tmp_path),
                          "unknown device 'gpu'", "'cuda:N'")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_cuda_without_cupy_is_one_error_line_naming_the_extra(tmp_path):
    from test_cli import assert_one_line_error, run_here

    assert_one_line_error(run_here("train", "--device", "cuda", cwd=tmp_path), "needs CuPy",
                          "deltagrad[cuda12]")


def test_train_on_cpu_given_by_name(tmp_path):
    from test_cli import ok

    result = ok("train", "--data", "iris", "--epochs", "2", "--device", "cpu", "--quiet",
                "--json", cwd=tmp_path)
    assert "accuracy" in result.stdout
