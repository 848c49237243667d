"""Model folders: exact round trips, readable by the safetensors library, atomic writes, and
every kind of damaged or lying file refused with one ModelFileError line."""

import hashlib
import json
import os
import pickle

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _config, nn
from deltagrad.io import ModelFileError

X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def every_layer_model():
    rng = np.random.default_rng(1)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(4, 8, rng=rng), nn.LeakyReLU(0.2), nn.Dropout(0.25),
        nn.Sequential({"inner": nn.Linear(8, 8, bias=False, rng=rng), "act": nn.GELU("tanh")}),
        nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.ReLU(), nn.Linear(8, 3, rng=rng),
        nn.Softmax(axis=-1), nn.LogSoftmax(axis=1))


def outputs(model, x=X):
    with dg.no_grad():
        return model.eval()(x).numpy()


@pytest.mark.parametrize("make", [
    lambda: nn.MLP(4, [16, 8], 3, activation="tanh", dropout=0.1, rng=np.random.default_rng(2)),
    lambda: nn.MLP(4, [], 1, rng=np.random.default_rng(3)),
    every_layer_model,
], ids=["mlp", "linear-mlp", "every-layer"])
def test_round_trip_is_exact(tmp_path, make):
    model = make()
    folder = dg.save(model, tmp_path / "m")
    loaded = dg.load(folder)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    assert not loaded.training
    for (k1, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k1 == k2 and a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(outputs(loaded), outputs(model))


def trained_norm_model():
    """A model with every normalisation layer and a skip connection, its running statistics
    moved by two training batches."""
    rng = np.random.default_rng(4)
    model = nn.Sequential(
        nn.Linear(4, 6, rng=rng), nn.BatchNorm1d(6, momentum=None),
        nn.Residual(nn.Sequential(nn.Linear(6, 6, rng=rng), nn.LayerNorm(6, eps=1e-3),
                                  nn.Tanh())),
        nn.LayerNorm((6,), elementwise_affine=False), nn.BatchNorm1d(6, affine=False),
        nn.BatchNorm1d(6, track_running_stats=False), nn.Linear(6, 2, rng=rng))
    for _ in range(2):
        model(rng.normal(size=(8, 4)).astype(np.float32))
    return model


@pytest.mark.parametrize("make", [
    trained_norm_model,
    lambda: nn.MLP(4, [8, 8, 8], 2, norm="batch", residual=True, dropout=0.1,
                   rng=np.random.default_rng(5)),
    lambda: nn.MLP(4, [8, 8], 2, activation="gelu", norm="layer", rng=np.random.default_rng(6)),
], ids=["norm-layers", "mlp-batch-residual", "mlp-layer"])
def test_round_trip_with_buffers_is_exact(tmp_path, make):
    model = make()
    loaded = dg.load(dg.save(model, tmp_path / "m"))
    assert repr(loaded) == repr(model)
    saved, back = model.state_dict(), loaded.state_dict()
    assert list(saved) == list(back)
    for name in saved:
        assert saved[name].dtype == back[name].dtype and np.array_equal(saved[name], back[name])
    assert np.array_equal(outputs(loaded), outputs(model))


def test_buffers_are_saved_as_their_dtype_and_float64_models_load_as_float64(tmp_path):
    from safetensors.numpy import load_file

    model = nn.MLP(3, [4], 2, norm="batch").to(np.float64)
    folder = dg.save(model, tmp_path / "m")
    tensors = load_file(folder / "model.safetensors")
    assert tensors["layers.1.num_batches_tracked"].dtype == np.int64
    assert tensors["layers.1.running_var"].dtype == np.float64
    loaded = dg.load(folder)
    assert loaded.layers[1].running_mean.dtype == np.float64
    assert loaded.layers[1].num_batches_tracked.dtype == np.int64


def test_an_mlp_file_from_before_norm_and_residual_still_loads(tmp_path):
    model = nn.MLP(4, [5], 2, rng=np.random.default_rng(0))
    folder = dg.save(model, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    assert "norm" not in config["architecture"]  # left at their defaults: not written
    assert "residual" not in config["architecture"]
    assert np.array_equal(outputs(dg.load(folder)), outputs(model))
    with_norm = dg.save(nn.MLP(4, [5], 2, norm="layer"), tmp_path / "n")
    assert json.loads((with_norm / "config.json").read_text())["architecture"]["norm"] == "layer"


def test_embedding_and_float64_models_keep_their_dtype(tmp_path):
    emb = nn.Embedding(10, 3, rng=np.random.default_rng(0)).to(np.float64)
    loaded = dg.load(dg.save(emb, tmp_path / "e"))
    assert loaded.weight.dtype == np.float64 and np.array_equal(loaded.weight.data, emb.weight.data)
    idx = np.array([[1, 9, 1]])
    assert np.array_equal(loaded(idx).numpy(), emb(idx).numpy())


def test_files_are_standard_safetensors_and_json(tmp_path):
    from safetensors.numpy import load_file

    model = nn.MLP(4, [5], 2, rng=np.random.default_rng(0))
    folder = dg.save(model, tmp_path / "m", metadata={"classes": ["cat", "dog"]})
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors"]
    tensors = load_file(str(folder / "model.safetensors"))  # the library itself, independently
    expected = model.state_dict()
    assert tensors.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(tensors[name], expected[name])
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == {"type": "MLP", "in_features": 4, "hidden_sizes": [5],
                                      "out_features": 2, "activation": "relu", "dropout": 0.0}
    assert config["metadata"] == {"classes": ["cat", "dog"]}
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert config["weights_sha256"] == digest


def test_metadata_round_trips_numpy_values_nan_and_infinity(tmp_path):
    meta = {"scaler": {"mean": np.array([1.5, -2.0])}, "n": np.int64(7), "best": float("inf"),
            "history": [0.5, float("nan")], "nested": {"ok": True, "none": None}}
    folder = dg.save(nn.Linear(2, 1), tmp_path / "m", metadata=meta)
    back = dg.load_metadata(folder)
    assert back["scaler"] == {"mean": [1.5, -2.0]} and back["n"] == 7
    assert back["best"] == float("inf") and np.isnan(back["history"][1])
    assert back["nested"] == {"ok": True, "none": None}


def test_save_refuses_bad_arguments_before_writing(tmp_path):
    with pytest.raises(TypeError, match="nn.Module"):
        dg.save({"w": np.zeros(2)}, tmp_path / "a")
    with pytest.raises(TypeError, match="metadata must be a dict"):
        dg.save(nn.Linear(2, 1), tmp_path / "a", metadata=[1])
    with pytest.raises(TypeError, match=r"metadata\['fn'\].*can not be stored as JSON"):
        dg.save(nn.Linear(2, 1), tmp_path / "a", metadata={"fn": print})
    assert not (tmp_path / "a").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        dg.save(nn.Linear(2, 1), tmp_path / "file")


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(3, 4, rng=np.random.default_rng(0))
        self.scale = nn.Parameter(np.full(4, 2.0, np.float32))

    def forward(self, x):
        return self.body(x) * self.scale


def test_custom_module_keeps_weights_and_load_explains_what_to_do(tmp_path):
    model = Custom()
    model.scale.data[:] = 3.0
    folder = dg.save(model, tmp_path / "c")
    with pytest.raises(ModelFileError, match=r"custom module .*Custom.*"
                                             r"model\.load_state_dict\(dg\.load_state_dict"):
        dg.load(folder)
    fresh = Custom()
    fresh.load_state_dict(dg.load_state_dict(folder))
    assert np.array_equal(fresh.scale.data, np.full(4, 3.0, np.float32))
    x = np.ones((2, 3), np.float32)
    assert np.array_equal(fresh(x).numpy(), model(x).numpy())


def test_a_built_in_layer_changed_after_construction_counts_as_custom(tmp_path):
    model = nn.MLP(2, [4], 1)
    model.layers.append(nn.Sigmoid())  # load would otherwise silently drop it
    with pytest.raises(ModelFileError, match="custom module"):
        dg.load(dg.save(model, tmp_path / "m"))


def test_loading_never_unpickles_nor_touches_the_global_generator(tmp_path, monkeypatch):
    folder = dg.save(nn.MLP(3, [4], 2, dropout=0.5), tmp_path / "m")
    def refuse(*a, **k):
        raise AssertionError("unpickling attempted")
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(np, "load", refuse)
    before = _config.default_rng().bit_generator.state
    model = dg.load(folder)
    assert _config.default_rng().bit_generator.state == before
    assert all(m.rng is None for m in model.modules() if isinstance(m, nn.Dropout))
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "model.safetensors").write_bytes(pickle.dumps({"w": np.zeros(2)}))
    (tmp_path / "p" / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ModelFileError, match="not a valid safetensors file"):
        dg.load(tmp_path / "p")


def test_an_interrupted_save_leaves_the_old_files_intact(tmp_path, monkeypatch):
    folder = dg.save(nn.Linear(3, 2, rng=np.random.default_rng(0)), tmp_path / "m")
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    real_replace = os.replace

    def crash_on_config(src, dst):
        if str(dst).endswith("config.json"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_config)
    with pytest.raises(OSError, match="disk full"):
        dg.save(nn.Linear(3, 2, rng=np.random.default_rng(1)), folder)
    monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(os.listdir(folder)) == sorted(before)  # no temporary file left behind
    assert (folder / "config.json").read_bytes() == before["config.json"]
    # The weights were replaced but the config was not: the checksum catches the mix.
    with pytest.raises(ModelFileError, match="do not match the checksum"):
        dg.load(folder)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_files_get_the_usual_permissions_not_private_temp_ones(tmp_path):
    import importlib

    from deltagrad.io import atomic

    old = os.umask(0o027)  # a mask the private temp-file mode (0600) could not match
    try:
        importlib.reload(atomic)  # the mask is read once, at import
        folder = dg.save(nn.Linear(3, 2, rng=np.random.default_rng(0)), tmp_path / "m")
    finally:
        os.umask(old)
        importlib.reload(atomic)
    for name in ("model.safetensors", "config.json"):
        assert (folder / name).stat().st_mode & 0o777 == 0o640, name


# --- damaged and lying files -------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    return dg.save(nn.MLP(4, [6], 3, rng=np.random.default_rng(0)), tmp_path / "m")


def edit_config(folder, change):
    config = json.loads((folder / "config.json").read_text())
    change(config)
    (folder / "config.json").write_text(json.dumps(config))


def rewrite_weights(folder, tensors):
    """Replace the weights with a valid safetensors file and make the checksum agree, so
    only the check under test can catch the lie."""
    from safetensors.numpy import save_file

    save_file(tensors, str(folder / "model.safetensors"))
    digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    edit_config(folder, lambda c: c.update(weights_sha256=digest))


@pytest.mark.parametrize("keep", [0, 5, 8, 60, -1], ids=lambda k: f"keep{k}")
def test_truncated_weights_are_refused(saved, keep):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[:keep] if keep >= 0 else data[:-4])
    for fn in (dg.load, dg.load_state_dict):
        with pytest.raises(ModelFileError, match="model.safetensors: not a valid safetensors"):
            fn(saved)


def test_garbled_weights_are_refused(saved):
    path = saved / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[12:20] = b"@@@@@@@@"  # inside the JSON header
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="not a valid safetensors"):
        dg.load(saved)
    data = bytearray(dg.save(nn.MLP(4, [6], 3), saved).joinpath("model.safetensors")
                     .read_bytes())
    data[-3] ^= 0xFF  # a flipped bit in the numbers themselves: still valid safetensors
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="do not match the checksum"):
        dg.load(saved)


@pytest.mark.parametrize("text, message", [
    ('{"format": "deltagrad.model", "format_version": 1,', "not valid JSON"),
    ("\x00\x01garbage", "not valid JSON"),
    ("[1, 2, 3]", "not a deltagrad model config"),
    ('{"format": "deltagrad.model", "format_version": 1, "tensors": {}, "metadata": NaN}',
     "not valid JSON"),
    ('{"format": "deltagrad.model", "format_version": "1"}', "format_version must be"),
    ('{"format": "deltagrad.model", "format_version": 99}', "newer deltagrad"),
    ('{"format": "deltagrad.model", "format_version": 1, "tensors": [], "metadata": {}}',
     "'tensors' must be a JSON object"),
    ("[" * 100000, "not valid JSON"),
])
def test_garbled_config_is_refused(saved, text, message):
    (saved / "config.json").write_text(text)
    for fn in (dg.load, dg.load_state_dict, dg.load_metadata):
        with pytest.raises(ModelFileError, match=message) as info:
            fn(saved)
        assert "config.json" in str(info.value) and "\n" not in str(info.value)


def test_config_lying_about_tensor_shapes_is_refused(saved):
    edit_config(saved, lambda c: c["tensors"]["layers.0.weight"].update(shape=[6, 5]))
    with pytest.raises(ModelFileError, match=r"'layers.0.weight' of shape \(6, 4\)|"
                                             r"gives 'layers.0.weight' shape \(6, 4\)"):
        dg.load(saved)
    with pytest.raises(ModelFileError, match=r"'layers.0.weight' has shape \(6, 4\) and dtype "
                                             r"float32, but config.json says \(6, 5\)"):
        dg.load_state_dict(saved)


def test_architecture_lying_about_sizes_is_refused_before_building(saved):
    def lie(config):
        config["architecture"]["in_features"] = 5
        config["tensors"]["layers.0.weight"]["shape"] = [6, 5]
    edit_config(saved, lie)
    with pytest.raises(ModelFileError, match=r"shape \(6, 4\) and dtype float32, but "
                                             r"config.json says \(6, 5\)"):
        dg.load(saved)
    # A huge size is refused by comparison, without trying to allocate it.
    edit_config(saved, lambda c: c["architecture"].update(hidden_sizes=[10 ** 12]))
    with pytest.raises(ModelFileError, match=r"gives 'layers.0.weight' shape \(1000000000000, "):
        dg.load(saved)


@pytest.mark.parametrize("arch, message", [
    ({"type": "Conv9d"}, "unknown layer type 'Conv9d'"),
    ({"type": "MLP", "in_features": 4}, "MLP takes"),
    ({"type": "MLP", "in_features": -4, "hidden_sizes": [6], "out_features": 3,
      "activation": "relu", "dropout": 0.0}, "in_features must be a positive integer"),
    ({"type": "MLP", "in_features": 4, "hidden_sizes": [6], "out_features": 3,
      "activation": "swish", "dropout": 0.0}, "unknown activation 'swish'"),
    ("MLP", "expected an object with a 'type'"),
])
def test_bad_architecture_is_refused(saved, arch, message):
    edit_config(saved, lambda c: c.update(architecture=arch))
    with pytest.raises(ModelFileError, match=message):
        dg.load(saved)


def test_weights_with_missing_extra_or_wrong_typed_tensors_are_refused(saved):
    state = dg.load_state_dict(saved)
    rewrite_weights(saved, {k: v for k, v in state.items() if k != "layers.2.bias"})
    with pytest.raises(ModelFileError, match=r"lacks \['layers.2.bias'\]"):
        dg.load(saved)
    rewrite_weights(saved, {**state, "extra": np.zeros(2, np.float32)})
    with pytest.raises(ModelFileError, match=r"has unlisted \['extra'\]"):
        dg.load_state_dict(saved)
    rewrite_weights(saved, {**state, "layers.2.bias": state["layers.2.bias"].astype(np.int32)})
    with pytest.raises(ModelFileError, match="dtype int32, but config.json says"):
        dg.load(saved)


def test_missing_folder_and_files(tmp_path, saved):
    with pytest.raises(ModelFileError, match="no such model folder"):
        dg.load(tmp_path / "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match=r"not a model folder \(no model.safetensors\)"):
        dg.load(saved)
    (saved / "config.json").unlink()
    with pytest.raises(ModelFileError, match=r"not a model folder \(no config.json\)"):
        dg.load_metadata(saved)
    with pytest.raises(TypeError, match="path must be a str"):
        dg.load(3)
