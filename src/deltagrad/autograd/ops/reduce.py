"""Reductions: many elements in, fewer out. Each input element's local derivative is
read off the output element it fed, so δ is broadcast back along the reduced axes."""

from __future__ import annotations

from .. import arrays
from ..arrays import exp
from ..function import OUTPUT, Function, OpError
from .shape import broadcast_to


def reduced_axes(op: str, shape: tuple, axis) -> tuple:
    """``axis`` (None, int or tuple; negatives allowed) as a sorted tuple of non-negative axes."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise OpError(f"{op}: axis {a!r} is out of range for a tensor of shape {shape}")
    normalized = sorted(a % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise OpError(f"{op}: repeated axis in {axis!r}")
    return tuple(normalized)


def kept_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape of the result with ``keepdims=True``: 1 on every reduced axis."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def reduced_count(shape: tuple, axes: tuple) -> int:
    """How many input elements feed each output element."""
    count = 1
    for i in axes:
        count *= shape[i]
    return count


class Sum(Function):
    """z = Σ a over axes  ->  δa = δz broadcast back (each a fed z with weight 1)"""

    __slots__ = constants = ("in_shape", "kept")
    name = "sum"

    def forward(self, a, axis=None, keepdims=False):
        axes = reduced_axes(self.name, a.shape, axis)
        self.in_shape, self.kept = a.shape, kept_shape(a.shape, axes)
        return arrays.sum(a, axis=axes, keepdims=keepdims)

    def backward(self, g):
        return broadcast_to(arrays.reshape(g, self.kept), self.in_shape)


class Mean(Function):
    """z = Σ a / n over axes  ->  δa = δz / n broadcast back"""

    __slots__ = constants = ("in_shape", "kept", "count")
    name = "mean"

    def forward(self, a, axis=None, keepdims=False):
        axes = reduced_axes(self.name, a.shape, axis)
        self.in_shape, self.kept = a.shape, kept_shape(a.shape, axes)
        self.count = reduced_count(a.shape, axes)
        # sum / n, not a.mean(): NumPy's mean spends microseconds in Python on tiny arrays.
        return arrays.sum(a, axis=axes, keepdims=keepdims) / self.count

    def backward(self, g):
        return broadcast_to(arrays.reshape(g, self.kept) / self.count, self.in_shape)


class Var(Function):
    """z = Σ (a - ā)² / n  ->  δa = δz * 2 (a - ā) / n  (population variance, ddof = 0)"""

    __slots__ = constants = ("axes", "kept", "count")
    name = "var"
    saves = (0,)

    def forward(self, a, axis=None, keepdims=False):
        self.axes = reduced_axes(self.name, a.shape, axis)
        self.kept = kept_shape(a.shape, self.axes)
        self.count = reduced_count(a.shape, self.axes)
        return arrays.var(a, axis=self.axes, keepdims=keepdims)

    def backward(self, g):
        (a,) = self.saved
        centred = a - arrays.mean(a, axis=self.axes, keepdims=True)
        return arrays.reshape(g, self.kept) * centred * (2 / self.count)


class Max(Function):
    """z = max a over axes  ->  δa = δz at the maximum; tied maxima split δz evenly"""

    # Which element won is piecewise constant, so its share of δz is a constant.
    __slots__ = constants = ("in_shape", "kept", "share")
    name = "max"
    pick = "max"

    def forward(self, a, axis=None, keepdims=False):
        axes = reduced_axes(self.name, a.shape, axis)
        if a.size == 0:
            raise OpError(f"{self.name}: zero-size tensor of shape {a.shape} has no {self.pick}")
        self.in_shape, self.kept = a.shape, kept_shape(a.shape, axes)
        z = getattr(arrays, self.pick)(a, axis=axes, keepdims=True)
        winners = arrays.astype(a == z, a.dtype)
        self.share = winners / arrays.sum(winners, axis=axes, keepdims=True)
        return z if keepdims else arrays.reshape(z, tuple(n for i, n in enumerate(a.shape)
                                                          if i not in axes))

    def backward(self, g):
        return arrays.reshape(g, self.kept) * self.share


class Min(Max):
    """z = min a over axes  ->  δa = δz at the minimum; tied minima split δz evenly"""

    __slots__ = ()
    name = "min"
    pick = "min"


class LogSumExp(Function):
    """z = log Σ e^a  ->  δa = δz * e^(a - z) = δz * softmax(a)"""

    __slots__ = constants = ("kept",)
    name = "logsumexp"
    saves = (0, OUTPUT)

    def forward(self, a, axis=None, keepdims=False):
        axes = reduced_axes(self.name, a.shape, axis)
        self.kept = kept_shape(a.shape, axes)
        z = arrays.logsumexp(a, axis=axes, keepdims=True)
        if not keepdims:
            z = arrays.reshape(z, tuple(n for i, n in enumerate(a.shape) if i not in axes))
        return z

    def backward(self, g):
        a, z = self.saved
        return arrays.reshape(g, self.kept) * exp(a - arrays.reshape(z, self.kept))
