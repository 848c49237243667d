"""The ``dg.`` function forms: the same ops as the Tensor methods, taking array-likes too."""

from __future__ import annotations

import numpy as np

from ..backend import array_module, dtype_in, kind
from .arrays import astype
from .ops import elementwise as ew
from .ops import shape as shape_ops
from .recording import apply
from .tensor import Tensor, as_tensor


def _operands(*values) -> list:
    """Tensors stay Tensors (they may be in the graph); anything else becomes a constant
    array, except that the first becomes a constant Tensor when no value is a Tensor (an op
    needs one Tensor among its inputs to make a Tensor of its result)."""
    operands = [x if isinstance(x, Tensor) else as_tensor(x).data for x in values]
    if not any(isinstance(x, Tensor) for x in values):
        operands[0] = Tensor._make(operands[0], None)
    return operands


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001 - NumPy's name, on purpose
    return as_tensor(x).sum(axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False) -> Tensor:
    return as_tensor(x).mean(axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False) -> Tensor:
    return as_tensor(x).var(axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return as_tensor(x).max(axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    return as_tensor(x).min(axis=axis, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    """log Σ exp(x), computed without overflow."""
    return as_tensor(x).logsumexp(axis=axis, keepdims=keepdims)


def reshape(x, *shape) -> Tensor:
    return as_tensor(x).reshape(*shape)


def transpose(x, *axes) -> Tensor:
    return as_tensor(x).transpose(*axes)


def exp(x) -> Tensor:
    return as_tensor(x).exp()


def log(x) -> Tensor:
    return as_tensor(x).log()


def sqrt(x) -> Tensor:
    return as_tensor(x).sqrt()


def abs(x) -> Tensor:  # noqa: A001
    return as_tensor(x).abs()


def tanh(x) -> Tensor:
    return as_tensor(x).tanh()


def sigmoid(x) -> Tensor:
    return as_tensor(x).sigmoid()


def relu(x) -> Tensor:
    return as_tensor(x).relu()


def clip(x, lo=None, hi=None) -> Tensor:
    return as_tensor(x).clip(lo, hi)


def matmul(a, b) -> Tensor:
    return as_tensor(a) @ as_tensor(b)


def maximum(a, b) -> Tensor:
    """Elementwise maximum; at a tie each input gets half the gradient."""
    return apply(ew.Maximum, *_operands(a, b))


def minimum(a, b) -> Tensor:
    """Elementwise minimum; at a tie each input gets half the gradient."""
    return apply(ew.Minimum, *_operands(a, b))


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; the gradient goes to the chosen side."""
    condition = as_tensor(cond).data
    if kind(condition.dtype) != "b":
        condition = astype(condition, dtype_in(array_module(condition), np.bool_))
    return apply(ew.Where, *_operands(a, b), cond=condition)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    return apply(shape_ops.Concatenate, *_operands(*tensors), axis=axis)


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    return apply(shape_ops.Stack, *_operands(*tensors), axis=axis)
