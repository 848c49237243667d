"""One ONNX converter per built-in layer: ``converter(graph, module, name, x) -> Value``.

``name`` is the module's dotted path in the model (its parameters become initializers named
as in ``state_dict``), ``x`` its input; a container converts its children with
``graph.convert``. Export is inference: ``Dropout`` is the identity. A new layer type is
exported by one more function here, marked ``@converts(nn.TheLayer)``; a layer ``dg.load``
rebuilds without one fails ``test_every_layer_dg_load_rebuilds_has_a_converter``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from .graph import Graph, Value


#: the converter of each layer type, filled by ``@converts``
CONVERTERS: dict = {}


def converts(*layer_types):
    """Make the decorated function the converter of ``layer_types``."""
    def register(fn):
        CONVERTERS.update(dict.fromkeys(layer_types, fn))
        return fn
    return register


def join(prefix: str, name: str) -> str:
    """The dotted path of child ``name`` of the module at ``prefix``."""
    return f"{prefix}.{name}" if prefix else name


def _float(x: Value, name: str) -> None:
    if x.dtype.kind != "f":
        raise ValueError(f"export_onnx: module {name!r} takes floats, but its input is "
                         f"{x.dtype} (an Embedding must come first to look up integer ids)")


# --- containers -------------------------------------------------------------------------------


@converts(nn.Sequential)
def sequential(g: Graph, m: nn.Sequential, name: str, x: Value) -> Value:
    for child_name, child in m.named_children():
        x = g.convert(child, join(name, child_name), x)
    return x


@converts(nn.MLP)
def mlp(g: Graph, m: nn.MLP, name: str, x: Value) -> Value:
    return g.convert(m.layers, join(name, "layers"), x)


@converts(nn.Identity, nn.Dropout)
def identity(g: Graph, m: nn.Module, name: str, x: Value) -> Value:
    """``Identity``, and ``Dropout``, which is the identity at inference."""
    return x


# --- layers with weights --------------------------------------------------------------------


@converts(nn.Linear)
def linear(g: Graph, m: nn.Linear, name: str, x: Value) -> Value:
    _float(x, name)
    if isinstance(x.shape[-1], int) and x.shape[-1] != m.in_features:
        raise ValueError(f"export_onnx: module {name!r} (Linear) takes {m.in_features} "
                         f"features, but its input has shape {x.shape}")
    shape = x.shape[:-1] + (m.out_features,)
    w = g.weight(join(name, "weight"), m.weight.data)
    b = [] if m.bias is None else [g.weight(join(name, "bias"), m.bias.data)]
    if len(x.shape) == 2:  # one Gemm, the weight as stored: (out, in), transposed in the op
        return g.op("Gemm", [x, w, *b], shape, hint=name, transB=1)
    wt = g.op("Transpose", [w], (m.in_features, m.out_features), hint=f"{name}.weight_t",
              perm=[1, 0])
    y = g.op("MatMul", [x, wt], shape, hint=name)
    return g.op("Add", [y, *b], shape, hint=name) if b else y


@converts(nn.Embedding)
def embedding(g: Graph, m: nn.Embedding, name: str, ids: Value) -> Value:
    if ids.dtype.kind not in "iu":
        raise ValueError(f"export_onnx: module {name!r} (Embedding) looks up integer ids, but "
                         f"its input is {ids.dtype}")
    w = g.weight(join(name, "weight"), m.weight.data)
    return g.op("Gather", [w, ids], ids.shape + (m.embedding_dim,), w.dtype, hint=name, axis=0)


# --- activations ----------------------------------------------------------------------------


def _elementwise(op_type: str):
    def convert_one(g: Graph, m: nn.Module, name: str, x: Value) -> Value:
        _float(x, name)
        return g.op(op_type, [x], x.shape, hint=name)
    convert_one.__name__ = op_type.lower()
    return convert_one


@converts(nn.LeakyReLU)
def leaky_relu(g: Graph, m: nn.LeakyReLU, name: str, x: Value) -> Value:
    _float(x, name)
    return g.op("LeakyRelu", [x], x.shape, hint=name, alpha=float(m.negative_slope))


@converts(nn.GELU)
def gelu(g: Graph, m: nn.GELU, name: str, x: Value) -> Value:
    """x Φ(x) = x (1 + erf(x / √2)) / 2, or the tanh form (opset 20's Gelu op does the same,
    but older runtimes lack it)."""
    _float(x, name)

    def c(value, what):
        return g.constant(np.asarray(value, x.dtype), f"{name}.{what}")

    if m.approximate == "tanh":  # x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2
        cube = g.op("Mul", [g.op("Mul", [x, x], x.shape), x], x.shape)
        inner = g.op("Add", [x, g.op("Mul", [cube, c(0.044715, "k")], x.shape)], x.shape)
        core = g.op("Tanh", [g.op("Mul", [inner, c(math.sqrt(2 / math.pi), "s")], x.shape)],
                    x.shape)
    else:  # ONNX Runtime has Erf for float32 only: a float64 model's erf is float32's
        scaled = g.cast(g.op("Mul", [x, c(1 / math.sqrt(2), "s")], x.shape), np.float32)
        core = g.cast(g.op("Erf", [scaled], x.shape), x.dtype)
    half_x = g.op("Mul", [x, c(0.5, "half")], x.shape)
    return g.op("Mul", [half_x, g.op("Add", [core, c(1.0, "one")], x.shape)], x.shape,
                hint=name)


def _axes(axis, rank: int, name: str) -> list[int]:
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not all(isinstance(a, (int, np.integer)) and -rank <= a < rank for a in axes):
        raise ValueError(f"export_onnx: module {name!r}: axis {axis!r} does not fit an input "
                         f"of {rank} axes")
    return sorted({int(a) % rank for a in axes})


def _softmax(op_type: str):
    """Softmax or LogSoftmax along ``m.axis``; over several axes, they are moved last and
    merged into one, since the ONNX ops normalise along a single axis."""
    def convert_one(g: Graph, m: nn.Module, name: str, x: Value) -> Value:
        _float(x, name)
        axes = _axes(m.axis, len(x.shape), name)
        if len(axes) == 1:
            return g.op(op_type, [x], x.shape, hint=name, axis=axes[0])
        rank, kept = len(x.shape), [a for a in range(len(x.shape)) if a not in axes]
        perm = kept + axes
        moved = g.op("Transpose", [x], tuple(x.shape[a] for a in perm), perm=perm)
        shape = g.op("Shape", [moved], (rank,), np.int64)
        flat_to = g.constant(np.array([0] * len(kept) + [-1], np.int64), f"{name}.flat")
        flat = g.op("Reshape", [moved, flat_to], tuple(moved.shape[:len(kept)]) + (None,))
        y = g.op(op_type, [flat], flat.shape, axis=len(kept))
        back = g.op("Reshape", [y, shape], moved.shape)
        return g.op("Transpose", [back], x.shape, hint=name,
                    perm=[perm.index(a) for a in range(rank)])
    convert_one.__name__ = op_type.lower()
    return convert_one


# --- normalisation and skip connections -----------------------------------------------------


def _affine(g: Graph, m: nn.Module, name: str, shape: tuple, dtype) -> list[Value]:
    """The layer's scale and shift, or ones and zeros where it has none (``affine=False``)."""
    if m.weight is not None:
        return [g.weight(join(name, "weight"), m.weight.data),
                g.weight(join(name, "bias"), m.bias.data)]
    return [g.constant(np.ones(shape, dtype), f"{name}.ones"),
            g.constant(np.zeros(shape, dtype), f"{name}.zeros")]


@converts(nn.LayerNorm)
def layer_norm(g: Graph, m: nn.LayerNorm, name: str, x: Value) -> Value:
    """One LayerNormalization node (opset 17) over the last axes, its statistics in the
    model's float type."""
    _float(x, name)
    k = len(m.normalized_shape)
    last = x.shape[-k:] if len(x.shape) >= k else ()
    if len(last) != k or any(isinstance(d, int) and d != n for d, n in zip(last,
                                                                            m.normalized_shape)):
        raise ValueError(f"export_onnx: module {name!r} (LayerNorm) normalises the last axes "
                         f"{m.normalized_shape}, but its input has shape {x.shape}")
    stash = 11 if x.dtype == np.float64 else 1  # TensorProto.DOUBLE / FLOAT
    return g.op("LayerNormalization", [x, *_affine(g, m, name, m.normalized_shape, x.dtype)],
                x.shape, hint=name, axis=-k, epsilon=float(m.eps), stash_type=stash)


@converts(nn.BatchNorm1d)
def batch_norm(g: Graph, m: nn.BatchNorm1d, name: str, x: Value) -> Value:
    """Inference: one BatchNormalization node with the running statistics."""
    _float(x, name)
    if not m.track_running_stats:
        raise ValueError(f"export_onnx: module {name!r} is a BatchNorm1d without running "
                         f"statistics (track_running_stats=False), so in eval mode it "
                         f"normalises with each batch's own, which an inference graph does "
                         f"not reproduce; train it with track_running_stats=True")
    if len(x.shape) not in (2, 3) or x.shape[1] not in (m.num_features, None) \
            and not isinstance(x.shape[1], str):
        raise ValueError(f"export_onnx: module {name!r} (BatchNorm1d) takes (N, "
                         f"{m.num_features}) or (N, {m.num_features}, L), but its input has "
                         f"shape {x.shape}")
    # in the input's float type: a layer without affine weights may hold float64 statistics
    # for a float32 input, and BatchNormalization takes one type for both (constants, not
    # weights: a converted copy is a temporary, and weights are shared by the array's id)
    stats = [g.constant(np.asarray(getattr(m, stat), x.dtype), join(name, stat))
             for stat in ("running_mean", "running_var")]
    return g.op("BatchNormalization", [x, *_affine(g, m, name, (m.num_features,), x.dtype),
                                       *stats], x.shape, hint=name, epsilon=float(m.eps))


@converts(nn.Residual)
def residual(g: Graph, m: nn.Residual, name: str, x: Value) -> Value:
    """x + module(x)."""
    y = g.convert(m.module, join(name, "module"), x)
    if len(y.shape) != len(x.shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(y.shape,
                                                                                 x.shape)):
        raise ValueError(f"export_onnx: module {name!r} (Residual): its module maps shape "
                         f"{x.shape} to {y.shape}; x + module(x) needs the same shape")
    return g.op("Add", [y, x], x.shape, hint=name)


# --- shapes ---------------------------------------------------------------------------------


@converts(nn.Flatten)
def flatten(g: Graph, m: nn.Flatten, name: str, x: Value) -> Value:
    rank = len(x.shape)
    start = m.start_dim + rank if m.start_dim < 0 else m.start_dim
    end = m.end_dim + rank if m.end_dim < 0 else m.end_dim
    if not 0 <= start <= end < rank:
        raise ValueError(f"export_onnx: module {name!r}: Flatten(start_dim={m.start_dim}, "
                         f"end_dim={m.end_dim}) does not fit an input of shape {x.shape}")
    if start == end:
        return x
    merged = x.shape[start:end + 1]
    size = math.prod(merged) if all(isinstance(d, int) for d in merged) else None
    after = x.shape[end + 1:]
    if not all(isinstance(d, int) for d in after):
        raise ValueError(f"export_onnx: module {name!r}: Flatten keeps axes of unknown size "
                         f"{after}; pass example_input so that their sizes are known")
    # In Reshape, 0 copies the input's size on that axis (the dynamic batch) and -1 is
    # inferred: one layout serves any batch size.
    to = g.constant(np.array([0] * start + [-1] + list(after), np.int64), f"{name}.shape")
    return g.op("Reshape", [x, to], x.shape[:start] + (size,) + after, hint=name)


for layer, op_type in ((nn.ReLU, "Relu"), (nn.Tanh, "Tanh"), (nn.Sigmoid, "Sigmoid")):
    converts(layer)(_elementwise(op_type))
for layer, op_type in ((nn.Softmax, "Softmax"), (nn.LogSoftmax, "LogSoftmax")):
    converts(layer)(_softmax(op_type))
