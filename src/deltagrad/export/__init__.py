"""Models that leave deltagrad: ONNX files for ONNX Runtime and any other ONNX consumer.

``dg.export_onnx(model, "model.onnx")`` writes any model ``dg.load`` can rebuild (and the
text models' networks); ``deltagrad export DIR model.onnx`` writes a model folder from any
training command, a ``deltagrad train`` folder with its preprocessing inside the graph.
Needs the optional extra: ``pip install 'deltagrad[onnx]'``.

The graph is built from the weights with ``onnx.helper``, one small converter per layer type
(``deltagrad.export.layers``), and checked with ``onnx.checker.check_model(full_check=True)``
before it is written. The batch axis is dynamic, named ``batch``. Export is inference:
dropout is the identity.

Opset and IR version: models are stamped **opset 17, IR version 8** unless ``opset=`` asks
for a newer opset (up to the newest the installed ``onnx`` knows; the IR version is then the
oldest that opset needs). Why 17: every operator the converters emit (Gemm, MatMul, Gather,
Reshape, Concat, Softmax, LogSoftmax, ArgMax, Erf, Tanh, ...) has had its present meaning
since opset 13-16 (and ``ai.onnx.ml``'s LabelEncoder, for a train folder's text columns,
since its opset 2; the graph imports that domain at opset 3), so a newer stamp buys nothing
but excludes older runtimes; opset 17 is implemented by every ONNX Runtime since 1.13
(2022), and by current TensorRT, OpenVINO and onnx2torch; and it is the first opset with
LayerNormalization, which a LayerNorm converter will use as one node. IR version 8 is the
one opset 17 was released with, so runtimes that read opset 17 read the file. The tests run
ONNX Runtime at opset 17 and at the newest opset the installed ``onnx`` writes.
"""

from __future__ import annotations

import os
from pathlib import Path


def export_onnx(model, path: str | os.PathLike, example_input=None, opset: int | None = None,
                *, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``path`` as an ONNX model; return the path.

    ``model`` is a module made of built-in layers (anything ``dg.load`` rebuilds), a text
    model's network (``WindowTagger``, ``FeedForwardLM``), or a trained ``NERTagger`` /
    ``LanguageModel`` (then the vocabulary, tags and settings go in the model's metadata).
    A module no converter knows (a ``Module`` subclass of your own) is a ``ValueError``
    naming it.

    The graph input is ``input`` (``word_ids``/``casing_ids`` or ``context_ids`` for the
    text networks) with a dynamic first axis ``batch``; the output is ``output`` (``scores``
    for the text networks). Without ``example_input`` the input's shape and dtype come from
    the first layers: an ``Embedding`` takes int64 ids of shape (batch, sequence), a
    ``Linear`` float (batch, in_features). With it (an array, or a tuple of arrays for
    several inputs) the sizes after the batch axis are fixed to the example's, integer
    examples make int64 inputs, and the model is run on it first, so a misfit is reported
    by the model itself. Floats are the model's dtype (float32 or float64). ``opset``: see
    the module docstring; ``metadata``: string keys to values (strings, or anything JSON
    holds) stored as the model's metadata.

    >>> import tempfile, numpy as np, deltagrad as dg
    >>> from deltagrad import nn
    >>> model = nn.MLP(4, [8], 3, rng=np.random.default_rng(0))
    >>> dg.export_onnx(model, tempfile.mkdtemp() + "/mlp.onnx").name  # needs deltagrad[onnx]
    'mlp.onnx'
    """
    return _build().export_onnx(model, path, example_input, opset, metadata=metadata)


def export_folder(folder: str | os.PathLike, path: str | os.PathLike,
                  opset: int | None = None) -> Path:
    """Write the model in ``folder`` to ``path`` as an ONNX model; return the path.

    A folder from ``deltagrad train`` becomes one graph from a table's raw cells to the
    prediction, so that ONNX Runtime alone gives what ``deltagrad predict`` gives:

    - inputs: one per column the model reads, named after it (``name_1`` if an output has
      its name), each of shape (batch,): a numeric column float32 (NaN: missing); a boolean
      or categorical column strings, the cells stripped of surrounding spaces (the
      missing-value spellings ``""``, ``NA``, ``N/A``, ``null``, ``NaN``, ``?``, ``#N/A`` in
      any case are missing, a category never seen in training counts as ``other``, a boolean
      cell that is no true/false, yes/no, y/n, t/f or 1/0 spelling as missing); a boolean
      column trained on the numbers 0 and 1 float32; a date column float64 days since
      1970-01-01, a time of day as a fraction (NaN: missing);
    - inside: the preprocessing it was trained behind (missing cells filled, indicators,
      standardisation, one-hot, the month and weekday of dates), then the network;
    - outputs: ``probabilities`` (batch, classes) float32 and ``label`` (batch,) strings
      for classification, or ``prediction`` (batch, targets) float32 in the target's units.

    The metadata holds ``inputs`` (JSON: each input's name, column, kind and dtype),
    ``feature_names``, ``class_names`` and ``preprocessing``. A folder from before column
    kinds (a ``scaler`` in its metadata) exports with a float32 input per column. A NER
    tagger's or language model's folder exports its network with the vocabulary as
    metadata; any other ``dg.save`` folder its model, with its metadata. A damaged folder
    raises ``ModelFileError``.

    >>> import numpy as np, onnxruntime as ort                       # doctest: +SKIP
    >>> run = ort.InferenceSession("churn.onnx")                      # doctest: +SKIP
    >>> run.run(["label"], {"age": np.array([31, np.nan], np.float32),  # doctest: +SKIP
    ...                     "plan": np.array(["pro", "NA"], object),
    ...                     "signup": np.array(["2024-03-31", "2023-11-02"],
    ...                                        "datetime64[ms]").astype(np.int64) / 86_400_000})
    """
    return _build().export_folder(folder, path, opset)


def _build():
    """The exporter, imported when first used: it needs onnx, an optional dependency."""
    try:
        from . import build
    except ImportError as exc:
        if exc.name != "onnx":
            raise
        raise ImportError("exporting to ONNX needs the onnx package: pip install "
                          "'deltagrad[onnx]'") from None
    return build


__all__ = ["export_folder", "export_onnx"]
