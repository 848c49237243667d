"""A ``deltagrad train`` model folder as one ONNX graph: raw feature values in, the
preprocessing the model was trained behind, the network, and class probabilities and labels
(or the regression value in the target's own units) out, so that ONNX Runtime alone gives
what ``deltagrad predict`` gives.

The preprocessing is a list of steps, one converter each, read from the folder's metadata in
the order ``deltagrad train`` applies them; a new kind of preprocessing is one more function
in ``PREPROCESSING``. The arithmetic of standardisation is done in float64, as
``StandardScaler`` does it, so the network sees the very numbers it sees in deltagrad.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..data import StandardScaler
from ..io import ModelFileError
from .graph import Graph, Value

TASKS = ("classification", "regression")
#: the metadata keys that mark a folder written by ``deltagrad train``
MARKERS = ("task", "feature_names", "scaler", "target")


def is_tabular(meta: dict) -> bool:
    return all(key in meta for key in MARKERS)


def _scaler(d, what: str, n: int, where: str) -> StandardScaler:
    try:
        scaler = StandardScaler.from_dict(d)
    except ValueError as exc:
        raise ModelFileError(f"{where}: bad {what} ({exc})") from None
    if scaler.n_features_in_ != n:
        raise ModelFileError(f"{where}: the {what} has {scaler.n_features_in_} columns, the "
                             f"model {n}")
    return scaler


def check(meta: dict, model: nn.Module, where: str) -> None:
    """Refuse metadata the graph could not be built from, naming what is wrong."""
    names, task = meta["feature_names"], meta["task"]
    if task not in TASKS:
        raise ModelFileError(f"{where}: task must be one of {TASKS}, got {task!r}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{where}: feature_names must be a list of strings")
    n_out = _out_features(model, where)
    _scaler(meta["scaler"], "scaler", len(names), where)
    if task == "classification":
        classes = meta.get("class_names")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) \
                or len(classes) != n_out:
            raise ModelFileError(f"{where}: class_names must list the model's {n_out} classes "
                                 f"as strings")
    else:
        _scaler(meta.get("target_scaler"), "target_scaler", n_out, where)


def _out_features(model: nn.Module, where: str) -> int:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelFileError(f"{where}: a deltagrad train model has a Linear output layer")
    return linears[-1].out_features


# --- preprocessing steps: (graph, metadata, values) -> values ----------------------------------


def standardise(g: Graph, meta: dict, x: Value) -> Value:
    """(x - mean) / scale per column, in float64 as ``StandardScaler.transform``."""
    scaler = StandardScaler.from_dict(meta["scaler"])
    x64 = g.cast(x, np.float64)
    centred = g.op("Sub", [x64, g.constant(scaler.mean_, "scaler.mean")], x.shape)
    scaled = g.op("Div", [centred, g.constant(scaler.scale_, "scaler.scale")], x.shape,
                  hint="standardised")
    return g.cast(scaled, np.float32)


PREPROCESSING = (standardise,)


# --- what comes out -----------------------------------------------------------------------------


def classify(g: Graph, meta: dict, logits: Value) -> None:
    """``probabilities`` (softmax of the scores) and ``label``, the class name of the top
    score (the first on a tie, as NumPy's argmax)."""
    batch = logits.shape[0]
    g.output(g.op("Softmax", [logits], logits.shape, axis=1), "probabilities")
    best = g.op("ArgMax", [logits], (batch,), np.int64, axis=1, keepdims=0)
    names = g.constant(np.array(meta["class_names"], dtype=object), "class_names")
    g.output(g.op("Gather", [names, best], (batch,), object, axis=0), "label")


def regress(g: Graph, meta: dict, out: Value) -> None:
    """``prediction``: the network's output back in the target's units, in float64 as
    ``StandardScaler.inverse_transform``."""
    scaler = StandardScaler.from_dict(meta["target_scaler"])
    scaled = g.op("Mul", [g.cast(out, np.float64),
                          g.constant(scaler.scale_, "target_scaler.scale")], out.shape)
    value = g.op("Add", [scaled, g.constant(scaler.mean_, "target_scaler.mean")], out.shape)
    g.output(g.cast(value, np.float32), "prediction")


OUTPUTS = {"classification": ("probabilities", "label"), "regression": ("prediction",)}


def build(g: Graph, model: nn.Module, meta: dict) -> None:
    """Fill ``g``: input ``features`` (batch, columns in ``feature_names`` order), the
    preprocessing, ``model``, and the task's outputs; the names go in the metadata."""
    x = g.input("features", ("batch", len(meta["feature_names"])), np.float32)
    for step in PREPROCESSING:
        x = step(g, meta, x)
    out = g.convert(model, "", g.cast(x, g.float_dtype))
    (classify if meta["task"] == "classification" else regress)(g, meta, out)
    g.set_metadata({"kind": "deltagrad.tabular", "task": meta["task"],
                    "target": str(meta["target"]), "feature_names": meta["feature_names"]})
    if meta["task"] == "classification":
        g.set_metadata({"class_names": meta["class_names"]})


def doc(meta: dict) -> str:
    outputs = ("probabilities (batch, classes) float32, label (batch,) string"
               if meta["task"] == "classification" else "prediction (batch, targets) float32")
    return (f"deltagrad train model ({meta['task']} of {meta['target']!r}). Input features "
            f"(batch, {len(meta['feature_names'])}) float32: raw values of the columns in "
            f"metadata 'feature_names', in that order. Outputs: {outputs}.")
