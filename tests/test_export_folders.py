"""`deltagrad export DIR OUT.onnx` on folders from each training command: ONNX Runtime alone
reproduces `deltagrad predict` (labels exactly, probabilities and values to 1e-5), the NER
tagger's and the LM's scores, from the metadata the file carries. A train folder's graph
takes one input per column, fed here as a deployer would: the CSV read with Python's csv
module, not deltagrad's reader."""

import csv
import importlib.util
import json

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.cli import main
from deltagrad.data import Problems, TableEncoder, read_table
from deltagrad.io import ModelFileError
from deltagrad.text import LanguageModel, NERTagger
from deltagrad.text.casing import casing_ids
from deltagrad.text.windows import sliding_windows

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None,
    reason="ONNX export tests need onnx and onnxruntime: pip install 'deltagrad[onnx]'")
TOL = {"rtol": 1e-5, "atol": 1e-5}
#: the spellings of a missing cell, as the README lists them
MISSING = {"", "na", "n/a", "null", "nan", "?", "#n/a"}


def exported(folder, out):
    """Export through the command line; the checked file, its metadata, an ORT session."""
    import onnx
    import onnxruntime as ort

    assert main(["export", str(folder), str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    return meta, ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n")
    return path


def predicted(capsys, *args):
    capsys.readouterr()
    assert main(["predict", *map(str, args)]) == 0
    return capsys.readouterr().out.splitlines()


def _days(cell: str) -> float:
    return np.datetime64(cell.replace(" ", "T"), "ms").astype(np.int64) / 86_400_000


def feeds(path, meta: dict, rows=slice(None)) -> dict:
    """The graph's inputs for ``rows`` of the CSV file ``path``, as the file's metadata
    describes them: each column's stripped cells; numbers float32 and dates float64 days
    since 1970-01-01 (NaN where missing), booleans and categories as strings."""
    with open(path, newline="") as f:
        records = list(csv.DictReader(f))[rows]
    out = {}
    for d in json.loads(meta["inputs"]):
        cells = [r[d["column"]].strip() for r in records]
        if d["kind"] in ("numeric", "date"):
            parse = float if d["kind"] == "numeric" else _days
            out[d["input"]] = np.array([np.nan if c.lower() in MISSING else parse(c)
                                        for c in cells], dtype=d["dtype"])
        else:
            out[d["input"]] = np.array(cells, dtype=object)
    return out


def network_outputs(folder, path) -> np.ndarray:
    """The model's outputs on every row of ``path``, through deltagrad's own reading and
    preprocessing."""
    encoder = TableEncoder.from_metadata(dg.load_metadata(folder))
    problems = Problems(str(path))
    X = encoder.transform(read_table(path, text_columns=encoder.text_columns), None, problems)
    problems.raise_if_any()
    with dg.no_grad():
        return dg.load(folder)(X).numpy()


def test_classifier_with_string_labels_matches_deltagrad_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    names = np.array(["red", "green", "blue"])
    k = rng.integers(0, 3, 300)
    X = np.array([[0.0, 40.0], [40.0, -20.0], [-40.0, -20.0]])[k] + rng.normal(0, 15, (300, 2))
    data = write_csv(tmp_path / "c.csv", ["width", "height", "colour"],
                     [(*x.round(3), c) for x, c in zip(X, names[k])])
    folder = tmp_path / "model"
    assert main(["train", "--data", str(data), "--target", "colour", "--hidden", "8,8",
                 "--activation", "gelu", "--epochs", "5", "--out", str(folder), "-q"]) == 0
    meta, run = exported(folder, tmp_path / "m.onnx")
    assert json.loads(meta["class_names"]) == ["blue", "green", "red"]
    assert json.loads(meta["feature_names"]) == ["width", "height"] and meta["task"] == \
        "classification"
    assert [(i.name, i.type, i.shape) for i in run.get_inputs()] == [
        ("width", "tensor(float)", ["batch"]), ("height", "tensor(float)", ["batch"])]
    # A new file, its columns in another order: the inputs are fed by name.
    new = write_csv(tmp_path / "new.csv", ["height", "id", "width"],
                    [(x[1].round(3), i, x[0].round(3)) for i, x in enumerate(X[:57])])
    probabilities, labels = run.run(["probabilities", "label"], feeds(new, meta))
    rows = predicted(capsys, folder, new, "--proba")
    assert rows[0] == "colour,p_blue,p_green,p_red"
    assert labels.tolist() == [r.split(",")[0] for r in rows[1:]]
    logits = network_outputs(folder, new)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probabilities, z / z.sum(axis=1, keepdims=True), **TOL)
    for batch in (1, 7):  # the batch axis is dynamic: any batch gives the same rows
        some, names = run.run(["probabilities", "label"], feeds(new, meta, slice(batch)))
        np.testing.assert_allclose(some, probabilities[:batch], **TOL)
        assert names.tolist() == labels[:batch].tolist()


def test_regression_gives_the_value_in_the_targets_units(tmp_path, capsys):
    folder = tmp_path / "diabetes"
    assert main(["train", "--data", "diabetes", "--hidden", "16", "--epochs", "3",
                 "--out", str(folder), "-q"]) == 0
    meta, run = exported(folder, tmp_path / "m.onnx")
    from deltagrad.data import StandardScaler, load_dataset

    ds = load_dataset("diabetes")
    data = write_csv(tmp_path / "d.csv", ds.feature_names, ds.X[:40].tolist())
    values = run.run(None, feeds(data, meta))[0]
    assert values.shape == (40, 1) and "class_names" not in meta
    target = StandardScaler.from_dict(dg.load_metadata(folder)["target_scaler"])
    # 1e-5 in the network's standardised units, whatever the target's own scale
    np.testing.assert_allclose(values, target.inverse_transform(network_outputs(folder, data)),
                               rtol=1e-5, atol=1e-5 * target.scale_[0])
    printed = np.array([float(v) for v in predicted(capsys, folder, data)[1:]])
    np.testing.assert_allclose(values[:, 0], printed, rtol=1e-5)  # predict prints 7 digits
    np.testing.assert_allclose(run.run(None, feeds(data, meta, slice(1)))[0], values[:1], **TOL)


def test_a_damaged_train_folder_is_refused_in_one_line(tmp_path, capsys):
    folder = tmp_path / "iris"
    assert main(["train", "--data", "iris", "--epochs", "1", "--hidden", "4", "--out",
                 str(folder), "-q"]) == 0
    config = json.loads((folder / "config.json").read_text())
    config["metadata"]["class_names"] = ["setosa"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="class_names must list the model's 3 classes"):
        dg.export.export_folder(folder, tmp_path / "m.onnx")
    capsys.readouterr()
    assert main(["export", str(folder), str(tmp_path / "m.onnx")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists()


SENTENCES = [(["Anna", "Ng", "lives", "in", "Paris", "."], ["B-PER", "I-PER", "O", "O", "B-LOC",
                                                            "O"]),
             (["Boris", "visited", "Oslo", "in", "1996", "."], ["B-PER", "O", "B-LOC", "O", "O",
                                                               "O"])] * 20


def test_ner_tagger_exports_its_network_with_the_vocabulary(tmp_path):
    from typer.testing import CliRunner

    from deltagrad.cli.ner import app

    blocks = ["\n".join(f"{w} X {t}" for w, t in zip(*pair)) for pair in SENTENCES]
    (tmp_path / "train.txt").write_text("\n\n".join(blocks) + "\n")
    result = CliRunner().invoke(app, ["train", "--train", str(tmp_path / "train.txt"), "--out",
                                      str(tmp_path / "ner"), "--epochs", "2", "--hidden", "12",
                                      "--word-dim", "6", "--quiet"])
    assert result.exit_code == 0, result.output
    meta, run = exported(tmp_path / "ner", tmp_path / "ner.onnx")
    tagger = NERTagger.load(tmp_path / "ner")
    # Ids from the file's metadata alone: normalised words, <unk>, <pad> past the edges.
    words = json.loads(meta["words"])
    index = {t: i for i, t in enumerate(words["tokens"])}
    sentence = ["Carla", "lives", "in", "Paris", "in", "2003", "."]
    ids = [index.get(w.lower().replace("2003", "0000"), index[words["unk"]]) for w in sentence]
    radius = int(meta["radius"])
    word_windows = sliding_windows(ids, radius, index[words["pad"]])
    casing_windows = sliding_windows(casing_ids(sentence), radius, 0)
    assert json.loads(meta["casings"])[0] == "<pad>"
    scores = run.run(["scores"], {"word_ids": word_windows, "casing_ids": casing_windows})[0]
    z = scores - scores.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_probs, tagger.log_probs([sentence])[0], **TOL)
    one = run.run(["scores"], {"word_ids": word_windows[:1], "casing_ids": casing_windows[:1]})
    np.testing.assert_allclose(one[0], scores[:1], **TOL)
    assert json.loads(meta["tags"]) == tagger.tags


def test_language_model_exports_its_network_with_the_vocabulary(tmp_path):
    from typer.testing import CliRunner

    from deltagrad.cli.lm import app

    (tmp_path / "text.txt").write_text("to be or not to be, that is the question.\n" * 20)
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "text.txt"), "--out",
                                      str(tmp_path / "lm"), "--context", "3", "--epochs", "1",
                                      "--hidden", "16", "--direct", "--quiet"])
    assert result.exit_code == 0, result.output
    meta, run = exported(tmp_path / "lm", tmp_path / "lm.onnx")
    lm = LanguageModel.load(tmp_path / "lm")
    assert json.loads(meta["vocab"])["tokens"] == lm.vocab.tokens and meta["level"] == "char"
    contexts, _ = lm.dataset("not to be")
    for batch in (1, 7):
        with dg.no_grad():
            expected = lm.module(contexts[:batch]).numpy()
        got = run.run(["scores"], {"context_ids": contexts[:batch]})[0]
        np.testing.assert_allclose(got, expected, **TOL)
