"""End-to-end: the installed `deltagrad` command run in a subprocess, as a new user would:
train, evaluate and predict on a built-in set and on CSV files, checked against metrics
recomputed here with scikit-learn from the saved model. The helpers are shared with
test_cli_errors.py and test_cli_resume.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.cli import main
from deltagrad.data import StandardScaler, load_dataset, train_val_test_split


def command() -> list[str]:
    """The installed console script (next to this Python, else on PATH); failing that, the
    same entry point through ``python -m deltagrad.cli``."""
    beside = Path(sys.executable).parent / "deltagrad"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("deltagrad")
    return [found] if found else [sys.executable, "-m", "deltagrad.cli"]


def run(*args, cwd=None, env=None, timeout=120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run([*command(), *map(str, args)], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def run_here(*args, cwd=None) -> subprocess.CompletedProcess:
    """As :func:`run`, but through ``deltagrad.cli.main`` in this process: the same exit
    status, standard output and standard error, without a new interpreter's second or two of
    imports. For the many error paths; :func:`run` tests the installed command itself."""
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([str(a) for a in args])
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(list(args), status, out.getvalue(), err.getvalue())


def ok(*args, **kwargs) -> subprocess.CompletedProcess:
    """Run and insist on success, showing what went wrong otherwise."""
    result = run(*args, **kwargs)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """A failed run: non-zero exit, nothing on stdout, exactly one ``error:`` line on stderr
    containing every fragment; returns that line."""
    assert result.returncode != 0, result.stdout
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in line
    for fragment in fragments:
        assert fragment in line, line
    return line


def write_csv(path: Path, header: list[str], rows) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def blob_table(n: int, seed: int = 0):
    """Three well separated 2-D blobs with string labels: features and labels."""
    rng = np.random.default_rng(seed)
    names = np.array(["red", "green", "blue"])
    centres = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    k = rng.integers(0, 3, n)
    X = centres[k] + rng.normal(0, 0.8, (n, 2))
    return X.round(4), names[k]


# --- the tests --------------------------------------------------------------------------------


def printed_metrics(text: str) -> dict:
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^\s+(\w+)\s+(-?[\d.]+)", text, re.MULTILINE)}


def model_outputs(folder: Path, X: np.ndarray) -> np.ndarray:
    """What the saved model computes, here in the test process: the standardisation its
    preprocessing records for each (numeric, never missing) column, then its layers."""
    columns = dg.load_metadata(folder)["preprocessing"]["columns"]
    assert all(c["kind"] == "numeric" and not c["indicator"] for c in columns)
    mean = np.array([c["mean"] for c in columns])
    scale = np.array([c["scale"] for c in columns])
    with dg.no_grad():
        return dg.load(folder)(((X - mean) / scale).astype(np.float32)).numpy()


def test_help_lists_the_commands():
    result = ok("--help")
    for name in ("train", "evaluate", "predict"):
        assert name in result.stdout
    assert ok("--version").stdout.startswith("deltagrad ")


def test_train_with_no_options_prints_test_metrics(tmp_path):
    # How long it takes is measured, not asserted here (the README gives the figure).
    result = ok("train", cwd=tmp_path)
    assert "test metrics (360 samples):" in result.stdout  # digits: 20% of 1797
    metrics = printed_metrics(result.stdout)
    assert metrics["accuracy"] > 0.9 and set(metrics) >= {"precision", "recall", "f1",
                                                          "log_loss"}
    assert "data: digits" in result.stderr and re.search(r"epoch +1/\d+", result.stderr)
    assert list(tmp_path.iterdir()) == []  # nothing written without --out


def test_builtin_set_train_evaluate_predict(tmp_path):
    from sklearn.metrics import accuracy_score, f1_score

    out = tmp_path / "blobs"
    result = ok("train", "--data", "blobs", "--epochs", "20", "--seed", "1", "--out", out,
                "--json", "-q")
    report = json.loads(result.stdout)
    assert result.stderr == ""
    # Oracle: rebuild the test split from the documented recipe and score the saved model.
    meta = dg.load_metadata(out)
    assert meta["data"] == {"kind": "builtin", "source": "blobs", "target": "target", "seed": 1,
                            "val_fraction": 0.1, "test_fraction": 0.2}
    ds = load_dataset("blobs", seed=1)
    split = train_val_test_split(ds.X, ds.y, val_fraction=0.1, test_fraction=0.2, seed=1)
    pred = model_outputs(out, split.X_test).argmax(axis=1)
    assert report["n_samples"] == len(split.y_test) == 60
    assert report["metrics"]["accuracy"] == pytest.approx(accuracy_score(split.y_test, pred))
    assert report["metrics"]["f1"] == pytest.approx(f1_score(split.y_test, pred,
                                                             average="macro"))
    assert report["metrics"]["accuracy"] > 0.9
    assert meta["test_metrics"] == pytest.approx(report["metrics"])
    # evaluate: the same held-out split by default, every row with --data.
    again = json.loads(ok("evaluate", out, "--json").stdout)
    assert again["metrics"] == pytest.approx(report["metrics"])
    assert again["data"] == "the held-out test split of blobs"
    whole = json.loads(ok("evaluate", out, "--data", "blobs", "--json").stdout)
    all_pred = model_outputs(out, ds.X).argmax(axis=1)
    assert whole["n_samples"] == 300
    assert whole["metrics"]["accuracy"] == pytest.approx(accuracy_score(ds.y, all_pred))
    # predict: one label per row, the original class names.
    inputs = write_csv(tmp_path / "in.csv", ["x0", "x1"], ds.X[:7])
    lines = ok("predict", out, inputs).stdout.splitlines()
    assert lines[0] == "prediction"
    assert lines[1:] == [ds.class_names[k] for k in all_pred[:7]]


def test_csv_with_string_labels_train_evaluate_predict(tmp_path):
    from sklearn.metrics import accuracy_score, log_loss

    X, labels = blob_table(400, seed=2)
    data = write_csv(tmp_path / "colours.csv", ["width", "height", "colour"],
                     [(*x, c) for x, c in zip(X, labels)])
    out = tmp_path / "model"
    result = ok("train", "--data", data, "--target", "colour", "--hidden", "16",
                "--epochs", "40", "--lr", "0.01", "--out", out, "--plot")
    assert "test metrics (80 samples):" in result.stdout
    assert "saved the model to" in result.stderr and "plots:" in result.stderr
    for name in ("history.png", "confusion_matrix.png", "decision_boundary.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    meta = dg.load_metadata(out)
    assert meta["class_names"] == ["blue", "green", "red"] and meta["target"] == "colour"
    assert meta["feature_names"] == ["width", "height"]
    # evaluate on a new file whose columns come in another order, with an id column.
    X2, labels2 = blob_table(90, seed=3)
    other = write_csv(tmp_path / "other.csv", ["colour", "height", "id", "width"],
                      [(c, x[1], i, x[0]) for i, (x, c) in enumerate(zip(X2, labels2))])
    other_noid = write_csv(tmp_path / "other2.csv", ["colour", "height", "width"],
                           [(c, x[1], x[0]) for x, c in zip(X2, labels2)])
    report = json.loads(ok("evaluate", out, "--data", other_noid, "--json").stdout)
    outputs = model_outputs(out, X2.astype(np.float32))
    truth = np.array([meta["class_names"].index(c) for c in labels2])
    assert report["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(truth, outputs.argmax(axis=1)))
    assert report["metrics"]["accuracy"] > 0.95
    z = outputs - outputs.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert report["metrics"]["log_loss"] == pytest.approx(log_loss(truth, probs), rel=1e-4)
    # predict: the file's extra columns (id, even the target) are ignored; labels are strings.
    written = tmp_path / "pred.csv"
    ok("predict", out, other, "--out", written, "--proba")
    rows = written.read_text().splitlines()
    assert rows[0] == "colour,p_blue,p_green,p_red" and len(rows) == 91
    predicted = [r.split(",")[0] for r in rows[1:]]
    assert predicted == [meta["class_names"][k] for k in outputs.argmax(axis=1)]
    p = np.array([[float(v) for v in r.split(",")[1:]] for r in rows[1:]])
    np.testing.assert_allclose(p, probs, rtol=1e-4, atol=1e-6)


def test_csv_regression_reports_rmse_and_r2_in_the_targets_units(tmp_path):
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 3))
    y = 100 + 30 * X[:, 0] - 20 * X[:, 1] + 5 * X[:, 2] + rng.normal(0, 2, 500)
    data = write_csv(tmp_path / "prices.csv", ["a", "b", "c", "price"],
                     [(*np.round(x, 4), round(v, 3)) for x, v in zip(X, y)])
    out = tmp_path / "reg"
    report = json.loads(ok("train", "--data", data, "--target", "price", "--hidden", "none",
                           "--lr", "0.05", "--epochs", "60", "--out", out, "--json",
                           "-q").stdout)
    meta = dg.load_metadata(out)
    assert meta["task"] == "regression" and meta["class_names"] is None
    table = np.loadtxt(data, delimiter=",", skiprows=1, dtype=np.float32)
    split = train_val_test_split(table[:, :3], table[:, 3], val_fraction=0.1,
                                 test_fraction=0.2, stratify=False, seed=0)
    target = StandardScaler.from_dict(meta["target_scaler"])
    pred = target.inverse_transform(model_outputs(out, split.X_test))[:, 0]
    assert report["metrics"]["rmse"] == pytest.approx(
        mean_squared_error(split.y_test, pred) ** 0.5, rel=1e-4)
    assert report["metrics"]["r2"] == pytest.approx(r2_score(split.y_test, pred), rel=1e-4)
    assert report["metrics"]["r2"] > 0.98 and report["metrics"]["rmse"] < 4
    text = ok("evaluate", out).stdout
    assert set(printed_metrics(text)) == {"rmse", "mae", "mse", "r2"}
    lines = ok("predict", out, data).stdout.splitlines()
    assert lines[0] == "price" and len(lines) == 501
    np.testing.assert_allclose([float(v) for v in lines[1:]], table[:, 3], atol=12)
