"""How far ONNX Runtime's outputs are from deltagrad's, model by model, for exported files.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/onnx_parity.py

For each model: the largest absolute difference and the largest difference relative to the
output's scale (max |ort - dg| / max |dg|), over batches of 1 and 256 inputs drawn from
N(0, 3²). Needs onnx and onnxruntime (pip install 'deltagrad[onnx]').
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from _util import print_table

import deltagrad as dg
from deltagrad import nn
from deltagrad.cli import main as deltagrad
from deltagrad.data import Problems, StandardScaler, Table, TableEncoder, load_dataset
from deltagrad.text import train_lm, train_tagger


def _rng(seed=0):
    return np.random.default_rng(seed)


MODELS = {
    "MLP relu 64-64": lambda: nn.MLP(16, [64, 64], 10, rng=_rng()),
    "MLP tanh": lambda: nn.MLP(16, [64], 10, activation="tanh", rng=_rng()),
    "MLP sigmoid": lambda: nn.MLP(16, [64], 10, activation="sigmoid", rng=_rng()),
    "MLP leaky_relu": lambda: nn.MLP(16, [64], 10, activation="leaky_relu", rng=_rng()),
    "MLP gelu (erf)": lambda: nn.MLP(16, [64], 10, activation="gelu", rng=_rng()),
    "MLP gelu, float64": lambda: nn.MLP(16, [64], 10, activation="gelu",
                                         rng=_rng()).to(np.float64),
    "every layer": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(16, 32, rng=_rng()), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.GELU("tanh"), nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.ReLU(),
        nn.Linear(32, 10, rng=_rng(1)), nn.Softmax(), nn.LogSoftmax(axis=1)),
}


def _diffs(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    gap = float(np.abs(got.astype(np.float64) - want).max())
    return gap, gap / max(float(np.abs(want).max()), 1e-30)


def _run(path, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def layer_rows(tmp: Path) -> list[tuple]:
    rows = []
    for name, make in MODELS.items():
        model = make().eval()
        path = dg.export_onnx(model, tmp / "m.onnx")
        dtype = next(model.parameters()).dtype
        worst = (0.0, 0.0)
        for batch in (1, 256):
            x = (_rng(batch).normal(size=(batch, 16)) * 3).astype(dtype)
            with dg.no_grad():
                want = model(x).numpy()
            worst = max(worst, _diffs(_run(path, {"input": x})[0], want))
        rows.append((name, str(dtype), f"{worst[0]:.2e}", f"{worst[1]:.2e}"))
    return rows


def tabular_rows(tmp: Path) -> list[tuple]:
    rows = []
    for data in ("digits", "diabetes"):
        folder = tmp / data
        assert deltagrad(["train", "--data", data, "--epochs", "20", "--out", str(folder),
                          "-q"]) == 0
        dg.export.export_folder(folder, tmp / f"{data}.onnx")
        meta = dg.load_metadata(folder)
        ds = load_dataset(data)
        encoder = TableEncoder.from_metadata(meta)
        X = encoder.transform(Table.from_numbers(data, ds.X, ds.feature_names), None,
                              Problems(data))
        with dg.no_grad():
            out = dg.load(folder)(X).numpy()
        if meta["task"] == "classification":
            z = np.exp(out - out.max(axis=1, keepdims=True))
            want, label = z / z.sum(axis=1, keepdims=True), "probabilities"
        else:
            want = StandardScaler.from_dict(meta["target_scaler"]).inverse_transform(out)
            label = "prediction (target units)"
        # one graph input per column, named after it
        feeds = {name: ds.X[:, j].astype(np.float32) for j, name in enumerate(ds.feature_names)
                 if name in encoder.feature_names}
        gap, rel = _diffs(_run(tmp / f"{data}.onnx", feeds)[0], want)
        rows.append((f"deltagrad train {data}: {label}", "float32", f"{gap:.2e}", f"{rel:.2e}"))
    return rows


def text_rows(tmp: Path) -> list[tuple]:
    sents = [(["Peter", "lives", "in", "Paris", "."], ["B-PER", "O", "O", "B-LOC", "O"])] * 50
    tagger = train_tagger(sents, epochs=2, hidden=64, word_dim=16, seed=0)
    lm = train_lm("to be or not to be, that is the question.\n" * 50, context=6, epochs=2,
                  hidden=[128], embed_dim=8, direct=True, valid_fraction=0, seed=0)
    rng = _rng(3)
    w = rng.integers(0, len(tagger.words), (256, tagger.module.width))
    c = rng.integers(0, tagger.module.casings.num_embeddings, (256, tagger.module.width))
    ids = rng.integers(0, len(lm.vocab), (256, lm.context))
    rows = []
    for name, obj, feeds, module_inputs in (
            ("NER tagger scores", tagger, {"word_ids": w, "casing_ids": c}, (w, c)),
            ("LM scores", lm, {"context_ids": ids}, (ids,))):
        path = dg.export_onnx(obj, tmp / "t.onnx")
        with dg.no_grad():
            want = obj.module(*module_inputs).numpy()
        gap, rel = _diffs(_run(path, feeds)[0], want)
        rows.append((name, "float32", f"{gap:.2e}", f"{rel:.2e}"))
    return rows


def main() -> None:
    print(f"onnxruntime {ort.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = layer_rows(Path(tmp)) + tabular_rows(Path(tmp)) + text_rows(Path(tmp))
    print_table(rows, ("model", "dtype", "max |ort - dg|", "relative to max |dg|"))


if __name__ == "__main__":
    main()
