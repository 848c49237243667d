"""ONNX export: every layer dg.load rebuilds, the text networks, and `deltagrad train` folders
with their preprocessing; each file passes the full ONNX checker, and ONNX Runtime gives
deltagrad's numbers (1e-5 in float32) at two batch sizes."""

import importlib.util
import sys

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.cli import main
from deltagrad.io.architecture import BUILTIN_TYPES

needs_onnx = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export tests need onnx and onnxruntime: pip install 'deltagrad[onnx]'")
TOL = {"rtol": 1e-5, "atol": 1e-5}
BATCHES = (1, 7)


def session(path):
    import onnx
    import onnx.numpy_helper
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def deltagrad_outputs(model, *inputs):
    with dg.no_grad():
        return dg.as_tensor(model.eval()(*inputs)).numpy()


def floats(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def rng(seed=0):
    return np.random.default_rng(seed)


def trained_once(model):
    """``model`` after one training-mode forward pass, so that a BatchNorm's running
    statistics are no longer their defaults (zeros and ones)."""
    model(dg.tensor(floats(16, 5, seed=7) * 2 + 1))
    return model


# --- every layer type -------------------------------------------------------------------------

LAYER_MODELS = {
    "Linear": lambda: nn.Linear(5, 3, rng=rng()),
    "Linear-no-bias": lambda: nn.Linear(5, 3, bias=False, rng=rng()),
    "MLP-relu-dropout": lambda: nn.MLP(5, [8, 6], 3, dropout=0.3, rng=rng()),
    "MLP-tanh": lambda: nn.MLP(5, [8], 2, activation="tanh", rng=rng()),
    "MLP-sigmoid": lambda: nn.MLP(5, [8], 2, activation="sigmoid", rng=rng()),
    "MLP-leaky_relu": lambda: nn.MLP(5, [8], 2, activation="leaky_relu", rng=rng()),
    "MLP-gelu": lambda: nn.MLP(5, [8], 2, activation="gelu", rng=rng()),
    "MLP-linear": lambda: nn.MLP(5, [], 1, rng=rng()),
    "Sequential-nested": lambda: nn.Sequential(
        nn.Linear(5, 8, rng=rng()), nn.LeakyReLU(0.2), nn.Dropout(0.5),
        nn.Sequential({"inner": nn.Linear(8, 8, bias=False, rng=rng(1)),
                       "act": nn.GELU("tanh")}),
        nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.ReLU(), nn.Linear(8, 4, rng=rng(2)),
        nn.Softmax(axis=-1), nn.LogSoftmax(axis=1)),
    "ReLU": nn.ReLU, "Tanh": nn.Tanh, "Sigmoid": nn.Sigmoid, "Identity": nn.Identity,
    "LeakyReLU": lambda: nn.LeakyReLU(0.3), "GELU": nn.GELU, "GELU-tanh": lambda: nn.GELU("tanh"),
    "Softmax": nn.Softmax, "Softmax-axis0": lambda: nn.Softmax(axis=0),
    "LogSoftmax": nn.LogSoftmax, "Dropout": lambda: nn.Dropout(0.9),
    "LayerNorm": lambda: nn.LayerNorm(5), "LayerNorm-no-affine": lambda: nn.LayerNorm(
        5, elementwise_affine=False),
    "BatchNorm1d": lambda: trained_once(nn.BatchNorm1d(5)),
    "BatchNorm1d-no-affine": lambda: trained_once(nn.BatchNorm1d(5, affine=False)),
    "Residual": lambda: nn.Residual(nn.Sequential(nn.Linear(5, 5, rng=rng()), nn.Tanh())),
    "MLP-layer-norm-residual": lambda: nn.MLP(5, [8, 8], 3, norm="layer", residual=True,
                                              rng=rng()),
    "MLP-batch-norm": lambda: trained_once(nn.MLP(5, [8, 6], 3, norm="batch", rng=rng())),
}


@needs_onnx
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", LAYER_MODELS.values(), ids=LAYER_MODELS.keys())
def test_layer_exports_and_runs_like_deltagrad(tmp_path, make, dtype):
    model = make().to(dtype)
    path = dg.export_onnx(model, tmp_path / "m.onnx")
    run = session(path)
    dtype = next((p.dtype for p in model.parameters()), np.float32)  # no weights: float32
    for batch in BATCHES:
        x = floats(batch, 5, seed=batch).astype(dtype) * 3
        got = run.run(None, {"input": x})[0]
        assert got.dtype == dtype and got.shape == deltagrad_outputs(model, x).shape
        np.testing.assert_allclose(got, deltagrad_outputs(model, x), **TOL)


@needs_onnx
@pytest.mark.parametrize("make, example", [
    (lambda: nn.Linear(4, 3, rng=rng()), floats(2, 6, 4)),                  # MatMul path
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 2, rng=rng())), floats(2, 3, 4)),
    (lambda: nn.Flatten(0, 1), floats(2, 3, 4)),
    (lambda: nn.Flatten(1, 2), floats(2, 3, 4, 5)),
    (lambda: nn.Softmax(axis=(1, 2)), floats(2, 3, 4)),
    (lambda: nn.LogSoftmax(axis=(0, 2)), floats(2, 3, 4)),
    (lambda: nn.Embedding(10, 3, rng=rng()), np.array([[1, 9], [0, 0]])),
])
def test_layers_on_inputs_of_more_axes(tmp_path, make, example):
    model = make()
    run = session(dg.export_onnx(model, tmp_path / "m.onnx", example_input=example))
    for batch in BATCHES:
        x = np.resize(example, (batch,) + example.shape[1:])
        np.testing.assert_allclose(run.run(None, {"input": x})[0], deltagrad_outputs(model, x),
                                   **TOL)


@needs_onnx
def test_docstring_examples():
    import doctest

    import deltagrad.export
    from deltagrad.export import graph, layers

    for module in (deltagrad.export, graph, layers):
        assert doctest.testmod(module).failed == 0


@needs_onnx
def test_every_layer_dg_load_rebuilds_has_a_converter():
    from deltagrad.export.build import CONVERTERS

    exported = {cls.__name__ for cls in CONVERTERS}
    assert set(BUILTIN_TYPES) <= exported, set(BUILTIN_TYPES) - exported


@needs_onnx
def test_a_saved_folder_exports_with_its_metadata_and_the_batch_axis_is_dynamic(tmp_path):
    import onnx

    model = nn.Sequential(nn.Embedding(12, 3, rng=rng()), nn.Flatten(), nn.Linear(6, 2, rng=rng()))
    folder = dg.save(model, tmp_path / "m", metadata={"classes": ["a", "b"], "note": "x"})
    assert main(["export", str(folder), str(tmp_path / "m.onnx")]) == 0
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    assert {p.key: p.value for p in proto.metadata_props} == {"classes": '["a", "b"]',
                                                              "note": "x"}
    first_axis = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert first_axis.dim_param == "batch"
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for name, array in model.state_dict().items():  # stored as state_dict names them
        assert np.array_equal(weights[name], array)
    run = session(tmp_path / "m.onnx")
    for batch in BATCHES:
        ids = rng(batch).integers(0, 12, size=(batch, 2))
        np.testing.assert_allclose(run.run(None, {"input": ids})[0],
                                   deltagrad_outputs(model, ids), **TOL)


@needs_onnx
def test_newest_opset_runs_too_and_a_bad_opset_is_refused(tmp_path):
    import onnx

    newest = onnx.defs.onnx_opset_version()
    model = LAYER_MODELS["Sequential-nested"]()
    run = session(dg.export_onnx(model, tmp_path / "m.onnx", opset=newest))
    x = floats(3, 5)
    np.testing.assert_allclose(run.run(None, {"input": x})[0], deltagrad_outputs(model, x), **TOL)
    for bad in (16, newest + 1, "17", 17.0, True):
        with pytest.raises(ValueError, match="opset must be an int from 17"):
            dg.export_onnx(model, tmp_path / "bad.onnx", opset=bad)
    assert not (tmp_path / "bad.onnx").exists()


class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


@needs_onnx
def test_a_module_of_ones_own_is_a_clear_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"the model is a .*Doubler, which can not be exported"):
        dg.export_onnx(Doubler(), tmp_path / "m.onnx")
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), Doubler()))
    with pytest.raises(ValueError, match=r"module .1.1. is a .*Doubler.*Linear, LogSoftmax, MLP"):
        dg.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@needs_onnx
def test_bad_arguments_are_refused_before_writing(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        dg.export_onnx("model", tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"input of shape \(2, 4\) does not match weight"):
        dg.export_onnx(model, tmp_path / "m.onnx", example_input=floats(2, 4))
    with pytest.raises(ValueError, match="is a folder"):
        dg.export_onnx(model, tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        dg.export_onnx(model, tmp_path / "no" / "m.onnx")
    with pytest.raises(ValueError, match="float16"):
        dg.export_onnx(nn.Linear(3, 2).to(np.float16), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_without_onnx_the_error_says_what_to_install(tmp_path, monkeypatch, capsys):
    import deltagrad.export

    for name in [m for m in sys.modules if m.startswith("deltagrad.export.")]:
        monkeypatch.delitem(sys.modules, name)  # as if never imported
        monkeypatch.delattr(deltagrad.export, name.rsplit(".", 1)[1], raising=False)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'deltagrad\[onnx\]'"):
        dg.export_onnx(nn.Linear(2, 2), tmp_path / "m.onnx")
    folder = dg.save(nn.Linear(2, 2), tmp_path / "m")
    assert main(["export", str(folder), str(tmp_path / "m.onnx")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: exporting to ONNX needs the onnx package: pip install 'deltagrad[onnx]'"]
