"""Ops that move elements without changing them: the backward moves δ back the same way."""

from __future__ import annotations

import numpy as np

from ...backend import array_module, device_of, to_device
from .. import arrays
from ..arrays import builds_graph
from ..function import Function, OpError


class Identity(Function):
    """z = a  ->  δa = δz  (used to give a tensor a fresh node of its own)"""

    __slots__ = ()
    name = "identity"

    def forward(self, a):
        return a

    def backward(self, g):
        return g


class Reshape(Function):
    """z = a viewed with a new shape  ->  δa = δz viewed with a's shape"""

    __slots__ = constants = ("in_shape",)
    name = "reshape"

    def forward(self, a, shape):
        self.in_shape = a.shape
        try:
            return arrays.reshape(a, shape)
        except ValueError:  # NumPy writes the target as (4,2); name both shapes as tuples
            raise OpError(f"reshape: can not reshape a tensor of shape {a.shape} (size {a.size}) "
                          f"into shape {tuple(shape)}") from None

    def backward(self, g):
        return arrays.reshape(g, self.in_shape)


class Transpose(Function):
    """z = a with axes permuted  ->  δa = δz with the inverse permutation"""

    __slots__ = constants = ("inverse",)
    name = "transpose"

    def forward(self, a, axes=None):
        if axes is None:
            axes = tuple(reversed(range(a.ndim)))
        self.inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return arrays.permute_dims(a, axes)

    def backward(self, g):
        return arrays.permute_dims(g, self.inverse)


class BroadcastTo(Function):
    """z = a repeated along broadcast axes  ->  δa = δz summed over them (by the engine)"""

    __slots__ = ()
    name = "broadcast_to"

    def forward(self, a, shape):
        return array_module(a).broadcast_to(a, shape)

    def backward(self, g):
        return g  # the engine sums δz back down to a's shape, as for any broadcast


class ToDevice(Function):
    """z = a copied to another device  ->  δa = δz copied back to a's device"""

    __slots__ = constants = ("source",)
    name = "to_device"

    def forward(self, a, device):
        self.source = device_of(a)
        return to_device(a, device)

    def backward(self, g):
        return g.to(self.source) if builds_graph(g) else to_device(g, self.source)


def broadcast_to(g, shape):
    """``g`` repeated to ``shape``, for backward rules: an op on Tensors; on arrays a new
    array (NumPy's read-only broadcast view costs microseconds of Python per call, and a
    leaf could not keep it as its ``.grad`` without copying it anyway)."""
    if type(g) is np.ndarray:
        out = np.empty(shape, dtype=g.dtype)
        out[...] = g
        return out
    if builds_graph(g):
        return g.apply(BroadcastTo, g, shape=shape)
    # Another library: its broadcast (the engine copies what a leaf keeps).
    return array_module(g).broadcast_to(g, shape)


def _slice_along(axis: int, key) -> tuple:
    """An index that applies ``key`` to ``axis`` and takes everything on the other axes."""
    return (slice(None),) * axis + (key, Ellipsis)


class Concatenate(Function):
    """z = [a₀ | a₁ | ...] along an axis  ->  δaᵢ = the slice of δz where aᵢ went"""

    __slots__ = constants = ("axis", "bounds")
    name = "concatenate"

    def forward(self, *parts, axis=0):
        z = arrays.concat(parts, axis=axis)
        self.axis = axis % z.ndim
        ends, end = [], 0
        for a in parts:
            end += a.shape[self.axis]
            ends.append(end)
        self.bounds = list(zip([0] + ends[:-1], ends))
        return z

    def backward(self, g):
        return tuple(g[_slice_along(self.axis, slice(start, end))] if self.needs_grad(i) else None
                     for i, (start, end) in enumerate(self.bounds))


class Stack(Function):
    """z = [a₀, a₁, ...] along a new axis  ->  δaᵢ = δz[..., i, ...]"""

    __slots__ = constants = ("axis",)
    name = "stack"

    def forward(self, *parts, axis=0):
        z = array_module(parts[0]).stack(parts, axis=axis)
        self.axis = axis % z.ndim
        return z

    def backward(self, g):
        return tuple(g[_slice_along(self.axis, i)] if self.needs_grad(i) else None
                     for i in range(len(self.inputs)))
