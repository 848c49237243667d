"""A ``deltagrad train`` model folder as one ONNX graph: the table's raw columns in (one
input each, ``export.columns``), the preprocessing the model was trained behind, the
network, and class probabilities and labels (or the regression value in the target's own
units) out, so that ONNX Runtime alone gives what ``deltagrad predict`` gives.

The preprocessing is the folder's ``data.TableEncoder`` (its ``preprocessing`` metadata, or
the ``scaler`` of a folder from before column kinds, read as numeric columns), column by
column; a new kind of column is one more function in ``export.columns.KINDS``. Its
arithmetic is done in float64, as ``TableEncoder.transform`` does it, so the network sees
the very numbers it sees in deltagrad.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..data import StandardScaler, TableEncoder
from ..data.table import MISSING
from ..io import ModelFileError
from . import columns
from .graph import Graph, Value

TASKS = ("classification", "regression")
#: the metadata keys that mark a folder written by ``deltagrad train`` (with
#: ``preprocessing``, or ``scaler`` in a folder from before column kinds)
MARKERS = ("task", "feature_names", "target")


def is_tabular(meta: dict) -> bool:
    return all(key in meta for key in MARKERS) and ("preprocessing" in meta or "scaler" in meta)


def check(meta: dict, model: nn.Module, where: str) -> TableEncoder:
    """The folder's encoder; a ModelFileError names what in its metadata the graph could
    not be built from."""
    names, task = meta["feature_names"], meta["task"]
    if task not in TASKS:
        raise ModelFileError(f"{where}: task must be one of {TASKS}, got {task!r}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"{where}: feature_names must be a list of strings")
    try:
        encoder = TableEncoder.from_metadata(meta)
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{where}: its preprocessing is damaged ({exc})") from None
    if encoder.feature_names != names:
        raise ModelFileError(f"{where}: its preprocessing and feature_names disagree")
    _missing_values(meta, where)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelFileError(f"{where}: a deltagrad train model has Linear layers")
    if linears[0].in_features != len(encoder.inputs):
        raise ModelFileError(f"{where}: the preprocessing gives {len(encoder.inputs)} inputs, "
                             f"the model takes {linears[0].in_features}")
    n_out = linears[-1].out_features
    if task == "classification":
        classes = meta.get("class_names")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) \
                or len(classes) != n_out:
            raise ModelFileError(f"{where}: class_names must list the model's {n_out} classes "
                                 f"as strings")
    else:
        _target_scaler(meta, n_out, where)
    return encoder


def _missing_values(meta: dict, where: str = "") -> list[str]:
    """The spellings of a missing cell the folder was trained with (those of this version
    for a folder from before column kinds)."""
    spellings = meta.get("preprocessing", {}).get("missing_values", sorted(MISSING))
    if not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
        raise ModelFileError(f"{where}: preprocessing.missing_values must be a list of strings")
    return [s.lower() for s in spellings]


def _target_scaler(meta: dict, n_out: int, where: str) -> StandardScaler:
    try:
        scaler = StandardScaler.from_dict(meta.get("target_scaler"))
    except ValueError as exc:
        raise ModelFileError(f"{where}: bad target_scaler ({exc})") from None
    if scaler.n_features_in_ != n_out:
        raise ModelFileError(f"{where}: the target_scaler has {scaler.n_features_in_} columns, "
                             f"the model {n_out}")
    return scaler


def encoded(g: Graph, encoder: TableEncoder, cells: list[Value], meta: dict) -> Value:
    """The network's input made from the columns' graph inputs ``cells``: each column's
    blocks side by side, in float64, then float32 as ``TableEncoder.transform`` gives."""
    missing = _missing_values(meta)
    blocks = []
    for c, cell in zip(encoder.codings, cells):
        blocks += columns.encode(g, c, cell, missing)
    joined = g.op("Concat", blocks, ("batch", len(encoder.inputs)), hint="encoded", axis=1)
    return g.cast(joined, np.float32)


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


def described(encoder: TableEncoder, cells: list[Value]) -> list[dict]:
    """What the metadata says of each graph input: ``{"input", "column", "kind", "dtype"}``
    (dtype ``float32``, ``float64`` or ``string``)."""
    return [{"input": cell.name, "column": c.name, "kind": c.kind,
             "dtype": "string" if cell.dtype == object else cell.dtype.name}
            for c, cell in zip(encoder.codings, cells)]


def build(g: Graph, model: nn.Module, meta: dict, encoder: TableEncoder) -> None:
    """Fill ``g``: one input per column (``export.columns``), the preprocessing, ``model``,
    and the task's outputs; the inputs, the class names and the preprocessing go in the
    metadata."""
    cells = [columns.column_input(g, c) for c in encoder.codings]
    out = g.convert(model, "", g.cast(encoded(g, encoder, cells, meta), g.float_dtype))
    (classify if meta["task"] == "classification" else regress)(g, meta, out)
    g.set_metadata({"kind": "deltagrad.tabular", "task": meta["task"],
                    "target": str(meta["target"]), "feature_names": meta["feature_names"],
                    "inputs": described(encoder, cells), "preprocessing": {
                        **encoder.to_dict(), "missing_values": _missing_values(meta)}})
    if meta["task"] == "classification":
        g.set_metadata({"class_names": meta["class_names"]})


def doc(meta: dict) -> str:
    outputs = ("probabilities (batch, classes) float32, label (batch,) string"
               if meta["task"] == "classification" else "prediction (batch, targets) float32")
    return (f"deltagrad train model ({meta['task']} of {meta['target']!r}). Inputs: one per "
            f"column, shape (batch,), listed in metadata 'inputs': numeric float32 (NaN: "
            f"missing), boolean and categorical strings (stripped cells; NA, null, ... or "
            f"empty: missing), date float64 days since 1970-01-01 (NaN: missing). Outputs: "
            f"{outputs}.")
