"""The array vocabulary of forward and backward rules: one name per operation that works on
a NumPy array, on any array-API library's array, and on a Tensor.

One backward, two speeds (see ``function.py``): a rule runs on raw arrays (a plain
``backward()``) or on Tensors (a recorded backward pass, for higher order). NumPy arrays and
Tensors share NumPy's methods (``x.sum(axis=, keepdims=)``, ``x.reshape(shape)``, ...), the
fastest spelling on NumPy; arrays of other libraries need not have any methods beyond the
standard's operators, so they get the standard's functions (``xp.sum(x, axis=, ...)``).
Each function here picks one of the two; rules call these where an operator will not do.
"""

from __future__ import annotations

import numpy as np
from numpy import ndarray

from ..backend import array_module
from ..backend.shims import errstate


def builds_graph(x) -> bool:
    """True for a Tensor (the backward pass is being recorded), False for a raw array."""
    return hasattr(x, "_node")


def _has_methods(x) -> bool:
    """NumPy arrays (the common case, tested first), NumPy's scalars (0-d results) and
    Tensors have NumPy's methods."""
    return type(x) is ndarray or hasattr(x, "_node") or isinstance(x, np.generic)


def exp(x):
    return x.exp() if builds_graph(x) else array_module(x).exp(x)


def log(x):
    return x.log() if builds_graph(x) else array_module(x).log(x)


def tanh(x):
    return x.tanh() if builds_graph(x) else array_module(x).tanh(x)


def _reduction(name: str, doc: str):
    """``name(x, axis=None, keepdims=False)``: the method on NumPy arrays and Tensors, the
    namespace's function (same name in the standard) on other libraries' arrays."""

    numpy_method = getattr(ndarray, name)  # called unbound: the fastest spelling on NumPy

    def reduce(x, axis=None, keepdims: bool = False):
        if type(x) is ndarray:
            return numpy_method(x, axis=axis, keepdims=keepdims)
        if _has_methods(x):
            return getattr(x, name)(axis=axis, keepdims=keepdims)
        return getattr(array_module(x), name)(x, axis=axis, keepdims=keepdims)

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = doc
    return reduce


sum = _reduction("sum", "Σ over ``axis``.")  # noqa: A001 - the standard's names
mean = _reduction("mean", "The mean over ``axis``.")
max = _reduction("max", "The largest element over ``axis``.")  # noqa: A001
min = _reduction("min", "The smallest element over ``axis``.")  # noqa: A001
var = _reduction("var", "The population variance (ddof = 0) over ``axis``.")


def logsumexp(x, axis, keepdims: bool = False):
    """log Σ eˣ over ``axis`` (an int or a tuple), shifted by the max so that nothing
    overflows; where every term is -inf the answer is -inf (log 0), not NaN."""
    xp = array_module(x)
    shift = max(x, axis=axis, keepdims=True)
    shift = xp.where(xp.isfinite(shift), shift, 0)
    with errstate(x, divide="ignore"):  # log 0 = -inf is the right answer for such a slice
        z = xp.log(sum(xp.exp(x - shift), axis=axis, keepdims=True)) + shift
    return z if keepdims else xp.squeeze(z, axis=axis)


def reshape(x, shape: tuple):
    if _has_methods(x):
        return x.reshape(shape)
    return array_module(x).reshape(x, shape)


def permute_dims(x, axes: tuple):
    """``x`` with its axes reordered (NumPy's ``transpose``)."""
    if _has_methods(x):
        return x.transpose(axes)
    return array_module(x).permute_dims(x, axes)


def matrix_transpose(x):
    """``x`` with its last two axes swapped (a view on NumPy: BLAS reads it without a copy)."""
    if _has_methods(x):
        return x.swapaxes(-1, -2)
    return array_module(x).matrix_transpose(x)


def clip(x, lo=None, hi=None):
    if _has_methods(x):
        return x.clip(lo, hi)
    return array_module(x).clip(x, lo, hi)


def astype(x, dtype, copy: bool = True):
    """``x`` cast to ``dtype`` (of ``x``'s library); ``copy=False`` returns ``x`` when it
    has that dtype already."""
    if type(x) is ndarray or isinstance(x, np.generic):
        return x.astype(dtype, copy=copy)
    return array_module(x).astype(x, dtype, copy=copy)


def vector_norm(x, ord=2):  # noqa: A002 - the standard's name
    """The ``ord``-norm of all of ``x``'s elements, a 0-d array (NumPy has the standard's
    ``vector_norm`` only from NumPy 2)."""
    if type(x) is ndarray or isinstance(x, np.generic):
        return np.linalg.norm(x.reshape(-1), ord=ord)
    return array_module(x).linalg.vector_norm(x, ord=ord)


def copy(x):
    """A copy of array ``x`` that owns its memory."""
    if type(x) is ndarray or isinstance(x, np.generic):
        return x.copy()
    return array_module(x).asarray(x, copy=True)


# Creation on ``like``'s device. NumPy arrays have no device before NumPy 2 (and NumPy's
# functions take none before it), so NumPy is called without one.


def scalar_like(like, value):
    """``value`` as a 0-d array of ``like``'s dtype on its device."""
    xp = array_module(like)
    if xp is np:
        return np.asarray(value, dtype=like.dtype)
    return xp.asarray(value, dtype=like.dtype, device=like.device)


def zeros(like, shape: tuple, dtype=None):
    """Zeros of ``shape`` on ``like``'s device, of ``like``'s dtype unless ``dtype`` is given."""
    return _created("zeros", like, shape, dtype)


def empty(like, shape: tuple, dtype=None):
    """An uninitialised array of ``shape`` on ``like``'s device (``like``'s dtype by default)."""
    return _created("empty", like, shape, dtype)


def _created(name: str, like, shape: tuple, dtype):
    xp = array_module(like)
    dtype = like.dtype if dtype is None else dtype
    if xp is np:
        return getattr(np, name)(shape, dtype=dtype)
    return getattr(xp, name)(shape, dtype=dtype, device=like.device)


def arange(like, n: int):
    """0, 1, ..., n - 1 (integers) on ``like``'s device."""
    xp = array_module(like)
    return np.arange(n) if xp is np else xp.arange(n, device=like.device)


def concat(parts, axis: int = 0):
    """Arrays joined along an existing axis (the standard's ``concat``, NumPy's
    ``concatenate``: NumPy has the standard's name only from NumPy 2)."""
    xp = array_module(parts[0])
    return np.concatenate(parts, axis=axis) if xp is np else xp.concat(parts, axis=axis)
