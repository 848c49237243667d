"""What a student's first parameter update meets: ``w -= lr * w.grad`` on a Tensor, and the
warning when ``.grad`` is read on a tensor made by an op (how a lost parameter shows up).

In place (``w -= lr * w.grad``) works on the data itself where no graph is recorded (inside
``dg.no_grad()``, or nothing requires grad); it is refused on a leaf that requires grad while
a graph is recorded (it would stop being the leaf that is trained); otherwise it is a
recorded op giving a new tensor, as Python's ``x = x + y``.
"""

from __future__ import annotations

import operator
import warnings

import numpy as np

from ..backend import is_array, kind
from .arrays import astype
from .recording import grad_mode

#: the in-place operators by symbol; each returns its (updated) left operand
_UPDATES = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul,
            "/=": operator.itruediv}


def update(t, other, symbol: str, out_of_place):
    """``t {symbol} other`` (``other`` a Tensor, number or array on ``t``'s device);
    ``out_of_place`` is the recorded op (``t.__add__``, ...)."""
    recording = grad_mode.enabled and (t.requires_grad or getattr(other, "requires_grad", False))
    if recording and not (t.requires_grad and t._node is None):
        return out_of_place(other)  # a new node, as Python's x = x + y would give
    if recording:
        raise ValueError(
            f"tensor {symbol} ...: an in-place change of a leaf that requires grad can not "
            f"be recorded in the graph; update its values with t.data {symbol} ... (e.g. "
            f"W.data -= lr * W.grad) or inside `with dg.no_grad():`")
    operand, data = (other.data if hasattr(other, "_node") else other), t.data
    if type(data) is not np.ndarray and is_array(operand) and operand.dtype != data.dtype \
            and kind(operand.dtype) == kind(data.dtype):
        operand = astype(operand, data.dtype)  # NumPy's same-kind casting, on any library
    try:
        t.data = _UPDATES[symbol](data, operand)  # NumPy: the same array, changed in place
    except (ValueError, TypeError) as exc:  # the library's words, with shapes and dtypes
        raise type(exc)(f"tensor {symbol}: can not update a tensor of shape {t.shape} and "
                        f"dtype {t.dtype} in place with "
                        f"{tuple(getattr(operand, 'shape', ()))} ({exc})") from None
    return t


def warn_not_a_leaf(t) -> None:
    """The warning of reading ``.grad`` on ``t``, a tensor made by an op."""
    warnings.warn(
        f"reading .grad of a tensor made by op '{t._node.name}', not a leaf: backward() fills "
        f".grad only for leaves, so it stays None. If this was a parameter, an update such as "
        f"`W = W - lr * W.grad` replaced it by a new tensor; update it in place instead: "
        f"`W.data -= lr * W.grad`, or `with dg.no_grad(): W -= lr * W.grad`",
        UserWarning, stacklevel=3)
