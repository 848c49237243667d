"""Indexing: z = a[index] picks elements, so δa is zero except where they came from.
Where one element is picked several times (a repeated integer index), its δ sums."""

from __future__ import annotations

from ...backend import kind
from ...backend.shims import add_at
from ..arrays import builds_graph, zeros
from ..function import Function, OpError


class TensorIndexError(IndexError, OpError):
    """An index out of range or of the wrong kind (an IndexError and a ValueError)."""


def _parts(index) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def picks_each_element_once(index) -> bool:
    """True when no element can be picked twice: no integer arrays in the index."""
    for part in _parts(index):
        dtype = getattr(part, "dtype", None)
        if dtype is not None and kind(dtype) in "iu" and getattr(part, "ndim", 0) > 0:
            return False
    return True


class GetItem(Function):
    """z = a[index]  ->  δa = zeros with δz added back at index (repeats accumulate)"""

    __slots__ = constants = ("in_shape", "index")
    name = "getitem"

    def forward(self, a, index):
        self.in_shape, self.index = a.shape, index
        try:
            return a[index]
        except IndexError as e:
            raise TensorIndexError(f"getitem: {e} (tensor of shape {a.shape})") from None

    def backward(self, g):
        return scatter_add(g, self.in_shape, self.index)


class ScatterAdd(Function):
    """z = zeros(shape) with a added at index  ->  δa = δz[index]  (GetItem's backward as an op)"""

    __slots__ = constants = ("index",)
    name = "scatter_add"

    def forward(self, a, shape, index):
        self.index = index
        return scatter_add(a, shape, index)

    def backward(self, g):
        return g[self.index]


def scatter_add(g, shape: tuple, index):
    """A zero array of ``shape`` with ``g`` added at ``index``; an op when ``g`` is a Tensor."""
    if builds_graph(g):
        return g.apply(ScatterAdd, g, shape=shape, index=index)
    out = zeros(g, shape)
    if picks_each_element_once(index):
        out[index] = g  # plain assignment is safe and much faster than an unbuffered add
    else:
        add_at(out, index, g)
    return out
