"""``export_onnx`` and ``export_folder``: a model, or a model folder, as an ONNX file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx

from .. import io, nn
from ..autograd import Tensor, no_grad
from ..text.lm import KIND as LM_KIND
from ..text.lm import LanguageModel
from ..text.ner import KIND as NER_KIND
from ..text.ner import NERTagger
from . import layers, tabular, text
from .graph import Graph, check_opset

CONVERTERS = {**layers.CONVERTERS, **text.CONVERTERS}
#: layers that keep their input's shape, so the input's size is the size of what follows
_SHAPE_KEEPING = (nn.Identity, nn.Dropout, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU,
                  nn.Softmax, nn.LogSoftmax)


def _float_dtype(module: nn.Module) -> np.dtype:
    dtypes = {p.data.dtype for p in module.parameters()}
    if len(dtypes) > 1:
        raise ValueError(f"export_onnx: the model mixes parameter dtypes {sorted(map(str, dtypes))}"
                         f"; call model.to(np.float32) first")
    dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"export_onnx: parameters of dtype {dtype} are not exported (float32 "
                         f"and float64 are); call model.to(np.float32) first")
    return np.dtype(dtype)


def _first_layers(module: nn.Module):
    """The leaf layers the input meets first, in order, looking into containers."""
    for child in (module.layers if isinstance(module, nn.MLP) else module):
        if isinstance(child, (nn.Sequential, nn.MLP)):
            yield from _first_layers(child)
        else:
            yield child


def _inferred_input(module: nn.Module, dtype) -> tuple[tuple, np.dtype]:
    """The input shape and dtype the first layers imply (an Embedding takes int64 ids; a
    Linear, behind layers that keep shapes, takes its in_features)."""
    if not isinstance(module, (nn.Sequential, nn.MLP)):
        module = nn.Sequential(module)
    for layer in _first_layers(module):
        if isinstance(layer, nn.Embedding):
            return ("batch", "sequence"), np.dtype(np.int64)
        if isinstance(layer, nn.Linear):
            return ("batch", layer.in_features), dtype
        if not isinstance(layer, (*_SHAPE_KEEPING, nn.Flatten)):
            break
    return ("batch", "features"), dtype


def _examples(example_input) -> list[np.ndarray]:
    items = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    arrays = [np.asarray(a.numpy() if isinstance(a, Tensor) else a) for a in items]
    for a in arrays:
        if a.ndim == 0 or a.dtype.kind not in "biuf":
            raise ValueError(f"export_onnx: example_input must be arrays of numbers with a "
                             f"batch axis first, got {a.dtype} of shape {a.shape}")
    return arrays


def _check_example(module: nn.Module, arrays: list[np.ndarray]) -> None:
    """Run the model on the example, in eval mode (restored afterwards), so a misfit is
    reported by the model itself, before anything is written."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with no_grad():
            module(*arrays)
    finally:
        for m, mode in modes:
            m.training = mode


def _inputs(module: nn.Module, example_input, dtype) -> list[tuple[str, tuple, np.dtype]]:
    """(name, shape, dtype) of each graph input; the first axis is the dynamic batch."""
    fixed = text.INPUTS.get(type(module))
    if fixed is not None:
        specs = [(name, shape, np.dtype(np.int64)) for name, shape in fixed(module)]
    elif example_input is None:
        specs = [("input", *_inferred_input(module, dtype))]
    else:
        specs = [(f"input{i}" if i else "input", ("batch",) + a.shape[1:],
                  np.dtype(np.int64) if a.dtype.kind in "biu" else dtype)
                 for i, a in enumerate(_examples(example_input))]
    if example_input is not None:
        arrays = _examples(example_input)
        if len(arrays) != len(specs):
            raise ValueError(f"export_onnx: the model takes {len(specs)} inputs, "
                             f"example_input gives {len(arrays)}")
        _check_example(module, [a.astype(s[2]) for a, s in zip(arrays, specs)])
    return specs


def _write(model: onnx.ModelProto, path) -> Path:
    # Checked before writing: a file that exists is a file ONNX Runtime accepts.
    onnx.checker.check_model(model, full_check=True)
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"export_onnx: path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"export_onnx: {path} is a folder, expected a file name")
    if not path.parent.is_dir():
        raise ValueError(f"export_onnx: the folder {path.parent} does not exist")
    return io.atomic_write_bytes(path, model.SerializeToString())


def export_onnx(model, path, example_input=None, opset=None, *, metadata: dict | None = None
                ) -> Path:
    """See ``deltagrad.export.export_onnx``."""
    opset = check_opset(opset)
    doc = ""
    wrapper = text.WRAPPERS.get(type(model))
    if wrapper is not None:
        model, metadata, doc = wrapper(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"export_onnx: model must be an nn.Module (or a NERTagger or "
                        f"LanguageModel), got {type(model).__name__}")
    dtype = _float_dtype(model)
    specs = _inputs(model, example_input, dtype)
    output = "scores" if type(model) in text.INPUTS else "output"
    g = Graph(CONVERTERS, dtype, output_names=(output,))
    out = g.convert(model, "", *[g.input(*spec) for spec in specs])
    g.output(out, output)
    g.set_metadata(metadata or {})
    return _write(g.model(opset, doc), path)


def export_folder(folder, path, opset=None) -> Path:
    """See ``deltagrad.export.export_folder``."""
    opset = check_opset(opset)
    meta = io.load_metadata(folder)
    kind = meta.get("kind")
    if kind == NER_KIND:
        return export_onnx(NERTagger.load(folder), path, opset=opset)
    if kind == LM_KIND:
        return export_onnx(LanguageModel.load(folder), path, opset=opset)
    model = io.load(folder)
    if not tabular.is_tabular(meta):
        return export_onnx(model, path, opset=opset, metadata=meta)
    encoder = tabular.check(meta, model, f"{Path(folder) / 'config.json'}")
    g = Graph(CONVERTERS, _float_dtype(model), output_names=tabular.OUTPUTS[meta["task"]])
    tabular.build(g, model, meta, encoder)
    return _write(g.model(opset, tabular.doc(meta)), path)
