"""The training example runs, learns, and leaves a model folder that reloads."""

import re
import runpy
import sys
from pathlib import Path

import deltagrad as dg

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "train_breast_cancer.py"


def test_breast_cancer_example(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), str(tmp_path / "run")])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    accuracy = float(re.search(r"reloaded model: test accuracy ([\d.]+)", out).group(1))
    assert accuracy > 0.9
    assert {"model.safetensors", "config.json", "checkpoint.safetensors", "history.json"} <= {
        p.name for p in (tmp_path / "run").iterdir()}
    assert dg.load_metadata(tmp_path / "run")["class_names"] == ["malignant", "benign"]
