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
from deltagrad.text import LanguageModel, NERTagger, constrained_decode
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
    since 1970-01-01 (NaN where missing), text as strings."""
    with open(path, newline="") as f:
        records = list(csv.DictReader(f))[rows]
    out = {}
    for d in json.loads(meta["inputs"]):
        cells = [r[d["column"]].strip() for r in records]
        if d["dtype"] == "string":
            out[d["input"]] = np.array(cells, dtype=object)
        else:
            parse = _days if d["kind"] == "date" else float
            out[d["input"]] = np.array([np.nan if c.lower() in MISSING else parse(c)
                                        for c in cells], dtype=d["dtype"])
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
    assert capsys.readouterr().err.endswith("m.onnx: 'width', 'height' -> 'probabilities', "
                                            "'label'\n")
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


def mixed_table(path, n: int, seed: int, unseen: bool = False):
    """A table as practitioners have them: income with blanks and missing spellings in
    several cases, a plan (categorical; with ``unseen``, plans training never saw, one a
    case it never saw), autopay (boolean in mixed case, blanks; with ``unseen``, a cell that
    is no boolean), senior (0 or 1, blanks; with ``unseen``, a 2), a date with blanks and
    times of day, a number column called ``label`` (an output's name), and two targets:
    churn (yes/no) and spend (a number)."""
    rng = np.random.default_rng(seed)
    plans = ["basic", "plus", "pro"] + ["enterprise", "Pro"] * unseen
    pays = ["yes", "no", "Yes", "NO", "TRUE", "f"] + ["maybe"] * unseen
    rows = []
    for i in range(n):
        income = rng.normal(52000, 15000)
        plan, pay = plans[rng.integers(len(plans))], pays[rng.integers(len(pays))]
        day = np.datetime64("1995-01-01") + int(rng.integers(0, 12000))
        since = f"{day}T{rng.integers(24):02d}:{rng.integers(60):02d}:00" if i % 3 else str(day)
        churn = "yes" if (income < 50000) ^ (plan == "pro") else "no"
        rows.append([["", "NA", "n/a", "Null", "?"][i % 5] if i % 9 == 4 else f"{income:.2f}",
                     ["", "NA"][i % 2] if i % 11 == 3 else plan, "" if i % 13 == 5 else pay,
                     "" if i % 10 == 7 else rng.integers(2 + unseen),
                     "" if i % 17 == 6 else since, rng.integers(20), churn,
                     f"{income / 1000 + 30 * (plan == 'pro') + rng.normal():.3f}"])
    return write_csv(path, ["income", "plan", "autopay", "senior", "since", "label", "churn",
                            "spend"], rows)


@pytest.mark.parametrize("target, dropped", [("churn", "spend"), ("spend", "churn")])
def test_a_mixed_table_exports_with_its_preprocessing_and_matches_predict(
        tmp_path, capsys, target, dropped):
    data = mixed_table(tmp_path / "train.csv", 240, 0)
    folder = tmp_path / "model"
    assert main(["train", "--data", str(data), "--target", target, "--drop", dropped,
                 "--hidden", "8", "--epochs", "3", "--out", str(folder), "-q"]) == 0
    saved = dg.load_metadata(folder)
    kinds = {c["name"]: (c["kind"], c["indicator"]) for c in saved["preprocessing"]["columns"]}
    assert kinds == {"income": ("numeric", True), "plan": ("categorical", True),
                     "autopay": ("boolean", True), "senior": ("boolean", True),
                     "since": ("date", True), "label": ("numeric", False)}
    meta, run = exported(folder, tmp_path / "m.onnx")
    inputs = {d["column"]: (d["input"], d["dtype"]) for d in json.loads(meta["inputs"])}
    # "label" is an output of a classifier, so that column's input is named apart
    assert inputs == {"income": ("income", "float32"), "plan": ("plan", "string"),
                      "autopay": ("autopay", "string"), "senior": ("senior", "float32"),
                      "since": ("since", "float64"),
                      "label": ("label_1" if target == "churn" else "label", "float32")}
    assert json.loads(meta["preprocessing"])["columns"] == saved["preprocessing"]["columns"]
    new = mixed_table(tmp_path / "new.csv", 60, 1, unseen=True)
    rows = [r.split(",") for r in predicted(capsys, folder, new, *["--proba"] * (
        target == "churn"))]
    if target == "churn":
        probabilities, labels = run.run(["probabilities", "label"], feeds(new, meta))
        assert rows[0] == ["churn", "p_no", "p_yes"]
        assert labels.tolist() == [r[0] for r in rows[1:]]
        np.testing.assert_allclose(probabilities, [[float(v) for v in r[1:]] for r in rows[1:]],
                                   **TOL)
        one = run.run(["probabilities"], feeds(new, meta, slice(1)))[0]
    else:
        probabilities = run.run(["prediction"], feeds(new, meta))[0]
        assert rows[0] == ["spend"]
        np.testing.assert_allclose(probabilities[:, 0], [float(r[0]) for r in rows[1:]],
                                   rtol=1e-5, atol=1e-5)
        one = run.run(["prediction"], feeds(new, meta, slice(1)))[0]
    np.testing.assert_allclose(one, probabilities[:1], **TOL)


def preprocessing_session(encoder: TableEncoder, extra: dict | None = None):
    """An ORT session of the graph's preprocessing alone (output ``encoded``), and the
    description of its inputs."""
    import onnx
    import onnxruntime as ort

    from deltagrad.export import columns, tabular
    from deltagrad.export.graph import Graph

    g = Graph({}, output_names=("encoded",))
    cells = [columns.column_input(g, c) for c in encoder.codings]
    meta = {"preprocessing": encoder.to_dict(), **(extra or {})}
    g.output(tabular.encoded(g, encoder, cells, meta), "encoded")
    proto = g.model(17)
    onnx.checker.check_model(proto, full_check=True)
    return (ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]),
            {"inputs": json.dumps(tabular.described(encoder, cells))})


def test_the_graphs_preprocessing_is_the_encoders_on_every_kind_of_cell(tmp_path):
    """The network's inputs the graph makes equal ``TableEncoder.transform``'s: missing
    spellings in any case, booleans in any case and a cell that is none, a boolean of
    numbers and a 2, a category in another case (unseen, so other), dates over eight
    centuries, leap days, times."""
    rng = np.random.default_rng(3)
    edges = ["1600-02-29", "1899-12-31", "1900-02-28", "1900-03-01", "1969-12-31",
             "1970-01-01", "2000-02-29", "2024-03-31T23:59:59", "2399-12-31T00:00:01"]
    days = np.datetime64("1600-01-01") + rng.integers(0, 292_000, 300)
    dates = edges + [str(d) for d in days[len(edges):]]
    fit_rows = [[f"{v:.3f}" if i % 7 else "", ["a", "b", "c"][i % 3] if i % 5 else "NA",
                 ["yes", "no"][i % 2] if i % 6 else "", dates[i] if i % 19 else "",
                 i % 2 if i % 8 else ""] for i, v in enumerate(rng.normal(0, 50, 300))]
    header = ["x", "kind", "flag", "when", "bit"]
    fitted = read_table(write_csv(tmp_path / "fit.csv", header, fit_rows))
    problems = Problems("fit.csv")
    encoder = TableEncoder.fit(fitted, np.arange(150), target="", problems=problems,
                               min_frequency=1)
    problems.raise_if_any()
    assert [c.kind for c in encoder.codings] == ["numeric", "categorical", "boolean", "date",
                                                 "boolean"]
    odd = [["N/a", "A", "TRUE", "", "2"], ["nULL", "", "mAyBe", "#N/A", ""],
           ["?", "b", "No", "", "1"], ["1e3", "#n/A", "T", "1970-01-02", "0"]]
    new = write_csv(tmp_path / "new.csv", header, fit_rows + odd)
    table = read_table(new, text_columns=encoder.text_columns)
    expected = encoder.transform(table, None, problems)
    problems.raise_if_any()
    run, meta = preprocessing_session(encoder)
    got = run.run(["encoded"], feeds(new, meta))[0]
    assert got.dtype == np.float32 and got.shape == expected.shape == (304, 17)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)  # x: a float32 input
    exact = [*range(1, 10), *range(14, 17)]  # indicators, one-hot, booleans, day number
    np.testing.assert_array_equal(got[:, exact], expected[:, exact])
    np.testing.assert_allclose(got[:, 10:14], expected[:, 10:14], rtol=0, atol=1e-7)  # sin, cos


def test_the_month_in_the_graph_is_numpys_over_two_thousand_years():
    import onnxruntime as ort

    from deltagrad.export.columns import Arith, month_of
    from deltagrad.export.graph import Graph

    g = Graph({}, output_names=("month",))
    days = g.input("days", ("batch",), np.float64)
    g.output(month_of(Arith(g, days)).value, "month")
    run = ort.InferenceSession(g.model(17).SerializeToString(),
                               providers=["CPUExecutionProvider"])
    whole = np.arange(-400_000, 400_000)  # the years 875 to 3065
    expected = whole.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    np.testing.assert_array_equal(run.run(None, {"days": whole.astype(np.float64)})[0], expected)
    np.testing.assert_array_equal(month_of(whole.astype(np.float64)), expected)


def test_an_old_folder_with_a_scaler_still_exports(tmp_path, capsys):
    """A folder from before column kinds keeps ``scaler``: numeric columns, standardised."""
    folder = tmp_path / "iris"
    assert main(["train", "--data", "iris", "--epochs", "2", "--hidden", "4", "--out",
                 str(folder), "-q"]) == 0
    config = json.loads((folder / "config.json").read_text())
    columns = config["metadata"].pop("preprocessing")["columns"]
    config["metadata"]["scaler"] = {"mean": [c["mean"] for c in columns],
                                    "scale": [c["scale"] for c in columns]}
    (folder / "config.json").write_text(json.dumps(config))
    from deltagrad.data import load_dataset

    ds = load_dataset("iris")
    data = write_csv(tmp_path / "iris.csv", ds.feature_names, ds.X[::5].tolist())
    meta, run = exported(folder, tmp_path / "m.onnx")
    assert [d["kind"] for d in json.loads(meta["inputs"])] == ["numeric"] * 4
    labels = run.run(["label"], feeds(data, meta))[0]
    assert labels.tolist() == predicted(capsys, folder, data)[1:]


def test_a_column_kind_the_graph_can_not_express_is_named():
    from deltagrad.data.columns import Coding
    from deltagrad.export import columns
    from deltagrad.export.graph import Graph

    with pytest.raises(ValueError, match="column 'notes' is of kind 'text', which the ONNX "
                                         "export can not express"):
        columns.column_input(Graph({}), Coding("notes", "text", ""))


def _fewer_columns(meta):
    del meta["preprocessing"]["columns"][0], meta["preprocessing"]["inputs"][0]
    del meta["feature_names"][0]


@pytest.mark.parametrize("damage, message", [
    (lambda meta: meta.update(class_names=["setosa"]),
     "class_names must list the model's 3 classes"),
    (lambda meta: meta["preprocessing"]["columns"][1].update(kind="text"),
     r"its preprocessing is damaged \(a column's preprocessing is garbled \(kind 'text'"),
    (_fewer_columns, "the preprocessing gives 3 inputs, the model takes 4"),
    (lambda meta: meta["preprocessing"].update(missing_values="NA"),
     "preprocessing.missing_values must be a list of strings"),
])
def test_a_damaged_train_folder_is_refused_in_one_line(train_folder, tmp_path, capsys, damage,
                                                       message):
    folder = train_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    damage(config["metadata"])
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=message):
        dg.export.export_folder(folder, tmp_path / "m.onnx")
    capsys.readouterr()
    assert main(["export", str(folder), str(tmp_path / "m.onnx")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def train_folder(tmp_path_factory):
    """A copy, in the folder given, of one iris folder trained for the module."""
    import shutil

    trained = tmp_path_factory.mktemp("iris") / "iris"
    assert main(["train", "--data", "iris", "--epochs", "1", "--hidden", "4", "--out",
                 str(trained), "-q"]) == 0
    return lambda where: shutil.copytree(trained, where / "iris")


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
    # Each window word's prefix and suffix ids, side by side; <pad> twice past the edges.
    affixes = json.loads(meta["affixes"])
    known = {t: i for i, t in enumerate(affixes["tokens"])}
    forms = [w.lower().replace("2003", "0000") for w in sentence]
    pairs = [[known.get(a, known[affixes["unk"]]) for a in (f[:3] + "-", "-" + f[-3:])]
             for f in forms] + [[known[affixes["pad"]]] * 2]
    where = sliding_windows(list(range(len(sentence))), radius, len(sentence))
    feeds = {"word_ids": word_windows, "casing_ids": casing_windows,
             "affix_ids": np.array(pairs)[where].reshape(len(sentence), -1)}
    scores = run.run(["scores"], feeds)[0]
    z = scores - scores.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_probs, tagger.log_probs([sentence])[0], **TOL)
    one = run.run(["scores"], {k: v[:1] for k, v in feeds.items()})
    np.testing.assert_allclose(one[0], scores[:1], **TOL)
    assert json.loads(meta["tags"]) == tagger.tags
    # the tags, from the file alone: Viterbi with the learned transition scores it carries
    learned = {k: np.array(v) for k, v in json.loads(meta["crf_scores"]).items()}
    path = constrained_decode(log_probs, tagger.tags, **learned)
    assert [tagger.tags[i] for i in path] == tagger.predict([sentence])[0]


@pytest.mark.parametrize("network", [["--direct"], ["--tie-embeddings", "--direct"],
                                     ["--activation", "tanh"]], ids=["direct", "tied", "tanh"])
def test_language_model_exports_its_network_with_the_vocabulary(tmp_path, network):
    from typer.testing import CliRunner

    from deltagrad.cli.lm import app

    (tmp_path / "text.txt").write_text("to be or not to be, that is the question.\n" * 20)
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "text.txt"), "--out",
                                      str(tmp_path / "lm"), "--context", "3", "--epochs", "1",
                                      "--hidden", "16", *network, "--quiet"])
    assert result.exit_code == 0, result.output
    meta, run = exported(tmp_path / "lm", tmp_path / "lm.onnx")
    lm = LanguageModel.load(tmp_path / "lm")
    assert lm.module.config()["tie_embeddings"] == ("--tie-embeddings" in network)
    assert lm.module.config()["activation"] == ("tanh" if "tanh" in network else "relu")
    assert json.loads(meta["vocab"])["tokens"] == lm.vocab.tokens and meta["level"] == "char"
    contexts, _ = lm.dataset("not to be")
    for batch in (1, 7):
        with dg.no_grad():
            expected = lm.module(contexts[:batch]).numpy()
        got = run.run(["scores"], {"context_ids": contexts[:batch]})[0]
        np.testing.assert_allclose(got, expected, **TOL)
