"""What the model-file fuzzer (bench/fuzz_model_files.py) found, each kept as a test, and a
short seeded run of the fuzzer itself."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn
from deltagrad.cli import main
from deltagrad.io import ModelFileError
from deltagrad.train import load_checkpoint, save_checkpoint

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs and /dev files are POSIX")
READERS = {"load": dg.load, "load_state_dict": dg.load_state_dict,
           "load_metadata": dg.load_metadata}


@pytest.fixture
def folder(tmp_path):
    return dg.save(nn.MLP(3, [4], 2, rng=np.random.default_rng(0)), tmp_path / "m")


def finishes(fn, seconds=20):
    """Run ``fn`` in a thread; its outcome (exception or value), or a failure if it hangs."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the reader hangs"
    return box


@posix_only
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_fifo_in_place_of_a_file_is_refused_without_waiting_for_a_writer(folder, name):
    (folder / name).unlink()
    os.mkfifo(folder / name)
    for fn in ([dg.load_metadata] if name == "config.json" else []) + [dg.load]:
        box = finishes(lambda fn=fn: fn(folder))
        assert isinstance(box.get("error"), ModelFileError)
        assert f"{name}: not a regular file" in str(box["error"])


@posix_only
def test_a_link_to_a_device_is_refused_before_reading(folder):
    # /dev/zero would be read until memory runs out; /dev/null shows the same check safely.
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("/dev/null")
    for fn in (dg.load, dg.load_state_dict):
        with pytest.raises(ModelFileError, match="model.safetensors: not a regular file"):
            fn(folder)


@posix_only
def test_a_checkpoint_that_is_a_fifo_or_device_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    box = finishes(lambda: load_checkpoint(tmp_path / "fifo"))
    assert "not a regular file" in str(box.get("error"))
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_checkpoint("/dev/null")


def test_links_to_regular_files_outside_the_folder_still_load(folder, tmp_path):
    # As in a Hugging Face cache, where the files of a model are links into a blob store.
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).rename(blobs / name)
        (folder / name).symlink_to(blobs / name)
    assert dg.load(folder).hidden_sizes == (4,)
    path = save_checkpoint(blobs / "ck", {"epoch": 3, "w": np.ones(2)})
    (tmp_path / "ck_link").symlink_to(path)
    assert load_checkpoint(tmp_path / "ck_link")["epoch"] == 3


@pytest.mark.parametrize("how", ["folder", "loop", "dangling"])
def test_a_folder_or_broken_link_in_place_of_a_file_is_one_clear_error(folder, how):
    path = folder / "model.safetensors"
    path.unlink()
    if how == "folder":
        path.mkdir()
    elif how == "loop":
        path.symlink_to(path.name)
    else:
        path.symlink_to(folder / "nowhere")
    for name in ("load", "load_state_dict"):
        with pytest.raises(ModelFileError, match="model.safetensors") as info:
            READERS[name](folder)
        assert "\n" not in str(info.value)


def test_a_dtype_numpy_lacks_is_refused_by_name_not_a_key_error(folder):
    # A valid file (a PyTorch state dict in bfloat16, say): the header's dtype and shape fit
    # the bytes, but NumPy has no bfloat16. safetensors raised a bare KeyError('BF16').
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}})
    header += " " * (-len(header) % 8)
    data = len(header).to_bytes(8, "little") + header.encode() + b"\x80\x3f\x00\x40"
    (folder / "model.safetensors").write_bytes(data)
    for fn in (dg.load, dg.load_state_dict):
        with pytest.raises(ModelFileError, match="dtype BF16, which NumPy can not hold; save "
                                                 r"them as float32 \(tensor.float\(\)\)"):
            fn(folder)


def test_json_nested_deeper_than_any_config_is_refused_before_it_is_walked(folder, tmp_path):
    # 900 levels parse, but the checkpoint reader's walk of them overflowed the stack.
    deep = "[" * 900 + "]" * 900
    # an array as well: safetensors 0.4.0 writes a malformed header for a file without one
    path = save_checkpoint(tmp_path / "ck", {"epoch": 1, "w": np.ones(2), "rng": {"state": 0}})
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["__metadata__"]["state"] = header["__metadata__"]["state"].replace("0}", deep + "}")
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + n:])
    with pytest.raises(ModelFileError, match="nested more than 200 levels deep"):
        load_checkpoint(path)
    config = json.loads((folder / "config.json").read_text())
    config["metadata"]["x"] = json.loads("[" * 300 + "]" * 300)
    (folder / "config.json").write_text(json.dumps(config))
    for fn in READERS.values():
        with pytest.raises(ModelFileError, match="config.json: JSON nested more than 200"):
            fn(folder)


@pytest.mark.parametrize("spec, message", [
    ({"type": "Flatten", "start_dim": 1, "end_dim": "x"}, "Flatten's end_dim must be an int"),
    ({"type": "Softmax", "axis": []}, "Softmax's axis must be an int or a list of ints"),
    ({"type": "LogSoftmax", "axis": 1.5}, "LogSoftmax's axis must be an int or a list"),
    ({"type": "LeakyReLU", "negative_slope": "0.1"}, "negative_slope must be a number"),
])
def test_layer_arguments_of_the_wrong_type_are_refused_at_load(tmp_path, spec, message):
    # These layers check their arguments only when they run: dg.load returned a model that
    # failed on its first input (and the exporter met a TypeError).
    folder = dg.save(nn.Sequential(nn.Identity()), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["architecture"]["children"]["0"] = spec
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=message):
        dg.load(folder)


def test_a_layer_whose_arguments_a_config_can_not_hold_is_saved_as_weights_only(tmp_path):
    folder = dg.save(nn.Sequential(nn.Flatten(start_dim=1.5), nn.Linear(2, 2)), tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["architecture"] is None
    assert set(dg.load_state_dict(folder)) == {"1.weight", "1.bias"}


@pytest.fixture(scope="module")
def text_folders(tmp_path_factory):
    from deltagrad.text import train_lm, train_tagger

    root = tmp_path_factory.mktemp("text")
    sents = [(["Peter", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])] * 4
    ner = train_tagger(sents, epochs=1, hidden=4, word_dim=3, dropout=0.5).save(root / "ner")
    lm = train_lm("abcab " * 20, context=2, epochs=1, hidden=[4, 4], embed_dim=2, direct=True,
                  valid_fraction=0).save(root / "lm")
    return {"ner": ner, "lm": lm}


@pytest.mark.parametrize("kind, key, value", [
    ("ner", "num_tags", 2 ** 31), ("ner", "radius", 47_244_640_267), ("ner", "hidden", [10 ** 9]),
    ("ner", "casing_dim", 2 ** 31), ("lm", "vocab_size", 2 ** 40), ("lm", "context", 10 ** 12),
    ("lm", "direct", False), ("ner", "radius", "2"), ("lm", "hidden", "many"),
])
def test_text_model_settings_that_lie_about_sizes_are_refused_before_allocating(
        text_folders, tmp_path, kind, key, value):
    # The loaders built the network from the settings first: a tagger claiming 2**31 tags
    # asked for 32 GiB (MemoryError, or worse, the memory, where overcommit allows).
    import shutil

    from deltagrad.text import LanguageModel, NERTagger

    folder = shutil.copytree(text_folders[kind], tmp_path / kind)
    config = json.loads((folder / "config.json").read_text())
    config["metadata"]["network"][key] = value
    (folder / "config.json").write_text(json.dumps(config))
    loader = NERTagger.load if kind == "ner" else LanguageModel.load
    with pytest.raises(ModelFileError, match="settings do not fit its weights|damaged"):
        loader(folder)


def test_the_text_folders_layer_table_knows_both_kinds():
    from deltagrad.text import _model_folder, lm, ner

    assert set(_model_folder._LAYERS) == {ner.KIND, lm.KIND}


@pytest.mark.parametrize("data", [None, 5, "iris", [1]])
def test_evaluate_refuses_metadata_whose_data_entry_is_not_an_object(tmp_path, capsys, data):
    folder = tmp_path / "iris"
    assert main(["train", "--data", "iris", "--epochs", "1", "--hidden", "4", "--out",
                 str(folder), "-q"]) == 0
    config = json.loads((folder / "config.json").read_text())
    config["metadata"]["data"] = data
    (folder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["evaluate", str(folder)]) == 1
    expected = (f"error: {folder}: damaged metadata: 'data' must be a JSON object, got "
                f"{type(data).__name__}")
    assert capsys.readouterr().err.splitlines() == [expected]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run of 'deltagrad train' and of 'deltagrad lm train', each with its
    checkpoint, and the command that made it (less --out)."""
    root = tmp_path_factory.mktemp("runs")
    (root / "text.txt").write_text("abcab " * 20)
    commands = {"train": ["train", "--data", "iris", "--epochs", "2", "--hidden", "4", "-q"],
                "lm": ["lm", "train", "--data", str(root / "text.txt"), "--context", "2",
                       "--epochs", "1", "--hidden", "4", "--embed-dim", "2", "-q"]}
    for name, command in commands.items():
        assert main([*command, "--out", str(root / name)]) == 0
    return {name: (root / name, command) for name, command in commands.items()}


def resumed_with(runs, kind, tmp_path, capsys, edit) -> list:
    """Resume a copy of the ``kind`` run after ``edit(state)`` of its checkpoint; the lines
    of standard error, once the command has exited with status 1."""
    import shutil

    folder, command = runs[kind]
    case = shutil.copytree(folder, tmp_path / kind)
    state = load_checkpoint(case / "checkpoint.safetensors")
    edit(state)
    save_checkpoint(case / "checkpoint.safetensors", state)
    capsys.readouterr()
    assert main([*command, "--out", str(case), "--resume"]) == 1
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("kind", ["train", "lm"])
@pytest.mark.parametrize("keys, value", [
    (("fit",), 5), (("fit",), None), (("fit", "data"), []), (("run",), "x"),
    (("run", "settings"), None), (("run", "data"), 7),
])
def test_a_checkpoint_whose_run_entries_are_not_objects_is_refused_on_resume(
        runs, tmp_path, capsys, kind, keys, value):
    # The resume read them as dicts: an AttributeError ('int' object has no attribute 'keys').
    def edit(state):
        parent = state
        for key in keys[:-1]:
            parent = parent[key]
        parent[keys[-1]] = value
    err = resumed_with(runs, kind, tmp_path, capsys, edit)
    assert len(err) == 1 and err[0].endswith(
        f"checkpoint.safetensors: damaged checkpoint: {'.'.join(keys)!r} must be a JSON "
        f"object, got {type(value).__name__}")


def test_a_checkpoint_whose_random_state_is_out_of_range_is_refused_on_resume(
        runs, tmp_path, capsys):
    # NumPy's generator refused the number with an OverflowError (fuzz case 1015, seed 0).
    def edit(state):
        state["rng"]["global"]["state"]["state"] = 2 ** 200
    err = resumed_with(runs, "train", tmp_path, capsys, edit)
    assert len(err) == 1 and err[0].startswith(
        "error: fit: the checkpoint holds a number out of range (")  # NumPy's words follow


@pytest.mark.parametrize("kind", ["train", "lm"])
def test_a_checkpoint_whose_random_state_is_empty_is_refused_on_resume(
        runs, tmp_path, capsys, kind):
    # NumPy read the first counter word of an empty array: an IndexError (fuzz cases 21848
    # and 23384, seed 0).
    def edit(state):
        state["rng"]["dropout"]["state"]["counter"] = np.zeros(0, np.uint64)
    err = resumed_with(runs, kind, tmp_path, capsys, edit)
    assert len(err) == 1 and err[0].startswith("error: fit: the checkpoint lacks or garbles ")


@pytest.mark.parametrize("key, value", [("categorical", ["a"]), ("epochs", 2.5),
                                        ("residual", "yes"), ("lr", None), ("target", 3)])
def test_a_checkpoint_whose_settings_have_the_wrong_types_is_refused_on_resume(
        runs, tmp_path, capsys, key, value):
    # A list where a column name belongs was an AttributeError (fuzz case 26369, seed 0).
    def edit(state):
        state["run"]["settings"][key] = value
    err = resumed_with(runs, "train", tmp_path, capsys, edit)
    assert len(err) == 1 and "is damaged: its setting " + repr(key) in err[0]


def test_a_checkpoint_whose_run_settings_lack_one_resumes_with_its_default(runs, tmp_path):
    # 'deltagrad train --resume' took the saved settings as complete: a KeyError (case 3962).
    # A setting the checkpoint lacks now takes its default, as for a run from before it.
    import shutil

    folder, command = runs["train"]
    case = shutil.copytree(folder, tmp_path / "train")
    state = load_checkpoint(case / "checkpoint.safetensors")
    del state["run"]["settings"]["target"], state["run"]["settings"]["min_frequency"]
    save_checkpoint(case / "checkpoint.safetensors", state)
    assert main([*command, "--out", str(case), "--resume"]) == 0


def test_a_checkpoint_whose_history_lacks_the_watched_metric_is_refused_on_resume(
        runs, tmp_path, capsys):
    # The run resumed, then asked its history for the best val_loss: a KeyError.
    def edit(state):
        state["history"]["history"] = {}
    err = resumed_with(runs, "train", tmp_path, capsys, edit)
    assert err == ["error: fit: can not resume from the checkpoint: its history lacks "
                   "'val_loss', which EarlyStopping watches"]


# --- the fuzzer itself, a short run --------------------------------------------------------------

FUZZER = Path(__file__).resolve().parents[1] / "bench" / "fuzz_model_files.py"


@pytest.mark.skipif(not FUZZER.exists(), reason="the bench folder is not here")
def test_a_seeded_fuzz_run_meets_the_goals(tmp_path):
    """600 damaged folders and checkpoints (10 of them resumed), about 20 s of CPU: only
    ModelFileError/ValueError, no crash or hang, peak RSS growth under 100 MB, nothing
    outside the case folders touched (the fuzzer's own exit status); the full run is 10^5
    cases, see the script."""
    log = tmp_path / "failures.jsonl"
    result = subprocess.run([sys.executable, str(FUZZER), "--cases", "600", "--cli", "0",
                             "--resume", "10", "--seed", "20", "--log", str(log)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + log.read_text()[:3000]
    assert "failures                                                0" in result.stdout
