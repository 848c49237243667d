"""A small builder for ONNX graphs, over ``onnx.helper``: the converters of ``layers``,
``text`` and ``tabular`` add nodes through it and never touch protobuf themselves.

Every value carries its shape (ints for fixed sizes, a name such as ``"batch"`` for a dynamic
axis, None for a size only known at run time) and NumPy dtype, so a converter can check what
it is given and say what it makes.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..io.jsonio import dumps

#: the opset models are stamped with, and the oldest ``opset=`` accepts (why: see the docstring
#: of ``deltagrad.export``)
DEFAULT_OPSET = MIN_OPSET = 17
#: the ``ai.onnx.ml`` opset of graphs that use its operators (a train folder's LabelEncoder):
#: 3, the one released with opset 17 (LabelEncoder has had its meaning since 2)
ML_OPSET = 3
ML_DOMAIN = "ai.onnx.ml"

_ELEMENT_TYPES = {np.dtype(np.float32): onnx.TensorProto.FLOAT,
                  np.dtype(np.float64): onnx.TensorProto.DOUBLE,
                  np.dtype(np.int64): onnx.TensorProto.INT64,
                  np.dtype(np.bool_): onnx.TensorProto.BOOL,
                  np.dtype(object): onnx.TensorProto.STRING}


@dataclass(frozen=True)
class Value:
    """A tensor of the graph: its name, shape and NumPy dtype."""

    name: str
    shape: tuple
    dtype: np.dtype


def check_opset(opset) -> int:
    """``opset`` as an int, or a ValueError saying which this ``onnx`` can write."""
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) \
            or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"export_onnx: opset must be an int from {MIN_OPSET} to {newest} (the "
                         f"newest the installed onnx {onnx.__version__} knows), got {opset!r}")
    return int(opset)


class Graph:
    """The nodes, weights, inputs, outputs and metadata of one ONNX model being built."""

    def __init__(self, converters: dict, float_dtype=np.float32, output_names=()):
        self.converters = converters
        self.float_dtype = np.dtype(float_dtype)
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self.outputs: list = []
        self.metadata: dict[str, str] = {}
        # The outputs' names are kept free from the start, whatever the layers are called.
        self._names: set[str] = set(output_names)
        self._free_outputs = set(output_names)
        self._weights: dict[int, Value] = {}  # id(array) -> its initializer: stored once
        self._ml = False  # whether a node is of ai.onnx.ml (then the opset is imported)

    def convert(self, module, name: str, *inputs: Value) -> Value:
        """The output of ``module`` (at dotted path ``name``) on ``inputs``, added by the
        converter of its type; a ValueError names a module no converter knows."""
        convert_one = self.converters.get(type(module))
        if convert_one is None:
            kind = type(module)
            where = f"module {name!r}" if name else "the model"
            known = ", ".join(sorted(c.__name__ for c in self.converters))
            raise ValueError(f"export_onnx: {where} is a {kind.__module__}.{kind.__qualname__}"
                             f", which can not be exported to ONNX (a Module subclass of your "
                             f"own has no converter; these layers have: {known})")
        return convert_one(self, module, name, *inputs)

    def name(self, hint: str) -> str:
        """A name no value of the graph has yet, made from ``hint``."""
        hint = hint or "value"
        name, i = hint, 1
        while name in self._names:
            name, i = f"{hint}_{i}", i + 1
        self._names.add(name)
        return name

    def input(self, name: str, shape: tuple, dtype) -> Value:
        value = Value(self.name(name), tuple(shape), np.dtype(dtype))
        self.inputs.append(_info(value))
        return value

    def output(self, value: Value, name: str) -> Value:
        """Make ``value`` a graph output called ``name``: the node that made it is renamed
        when nothing else reads it, else an Identity node copies it."""
        self._free_outputs.remove(name)  # a KeyError here is a converter's bug
        maker = next((n for n in self.nodes if value.name in n.output), None)
        read = any(value.name in n.input for n in self.nodes)
        if maker is not None and not read:
            maker.output[:] = [name if o == value.name else o for o in maker.output]
        else:
            self.nodes.append(helper.make_node("Identity", [value.name], [name], name=name))
        value = Value(name, value.shape, value.dtype)
        self.outputs.append(_info(value))
        return value

    def weight(self, name: str, array: np.ndarray) -> Value:
        """An initializer holding ``array`` (a parameter shared by two layers is stored once)."""
        known = self._weights.get(id(array))
        if known is not None:
            return known
        value = self.constant(array, name)
        self._weights[id(array)] = value
        return value

    def constant(self, array, hint: str) -> Value:
        array = np.asarray(array)
        value = Value(self.name(hint), array.shape, array.dtype)
        if array.dtype == object:
            tensor = helper.make_tensor(value.name, onnx.TensorProto.STRING, array.shape,
                                        [s.encode("utf-8") for s in array.reshape(-1)])
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), value.name)
        self.initializers.append(tensor)
        return value

    def op(self, op_type: str, inputs: list[Value], shape: tuple, dtype=None, hint: str = "",
           domain: str = "", **attributes) -> Value:
        """Add one node (of the default domain, or ``ML_DOMAIN``); return its (single)
        output, of ``shape`` and ``dtype`` (by default the first input's)."""
        out = Value(self.name(hint or op_type.lower()), tuple(shape),
                    np.dtype(dtype) if dtype is not None else inputs[0].dtype)
        self.nodes.append(helper.make_node(op_type, [v.name for v in inputs], [out.name],
                                           name=out.name, domain=domain, **attributes))
        self._ml = self._ml or domain == ML_DOMAIN
        return out

    def cast(self, x: Value, dtype, hint: str = "") -> Value:
        """``x`` as ``dtype`` (itself when it already is)."""
        dtype = np.dtype(dtype)
        if x.dtype == dtype:
            return x
        return self.op("Cast", [x], x.shape, dtype, hint=hint, to=_ELEMENT_TYPES[dtype])

    def model(self, opset: int, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "deltagrad", self.inputs, self.outputs,
                                  initializer=self.initializers, doc_string=doc)
        opsets = [helper.make_opsetid("", opset)]
        if self._ml:
            opsets.append(helper.make_opsetid(ML_DOMAIN, ML_OPSET))
        model = helper.make_model(graph, opset_imports=opsets, producer_name="deltagrad",
                                  producer_version=_version(), doc_string=doc,
                                  ir_version=helper.find_min_ir_version_for(opsets))
        helper.set_model_props(model, self.metadata)
        return model

    def set_metadata(self, items: dict) -> None:
        """Add ``items`` to the model's metadata: strings as they are, anything else as JSON."""
        for key, value in items.items():
            self.metadata[key] = value if isinstance(value, str) else \
                dumps(value, f"metadata[{key!r}]", indent=None)


def _version() -> str:
    # From the installed distribution: importing deltagrad.__version__ here would make
    # deltagrad -> export -> graph -> deltagrad a cycle.
    try:
        return importlib.metadata.version("deltagrad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _info(value: Value):
    shape = [d if isinstance(d, (int, str)) else None for d in value.shape]
    return helper.make_tensor_value_info(value.name, _ELEMENT_TYPES[value.dtype], shape)
