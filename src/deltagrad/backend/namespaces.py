"""Which array library holds an array: its namespace, found once per array type.

The engine is written against the Python array API standard: ops ask ``array_module(x)``
for the namespace whose functions operate on ``x`` and call standard functions on it
(``xp.exp``, ``xp.where``, ``xp.take``, ...). NumPy's namespace is ``numpy`` itself
(NumPy 2 implements the standard in its main namespace, with the speed of its own
functions); a CuPy array answers ``array_api_compat.cupy`` (CuPy, with the standard's
names added); any other conforming library answers what ``array_api_compat.
array_namespace`` gives, e.g. ``array_api_strict``.

The lookup is cached by the array's type: one dict lookup per call, the same cost as the
type test it replaces. ``array_api_compat`` is imported only when the first array of a
library other than NumPy is seen, so ``import deltagrad`` still loads NumPy alone.
"""

from __future__ import annotations

import numpy as np

# type of array -> its namespace. NumPy's scalars answer NumPy too: 0-d results of NumPy
# reductions are scalars, and the same code handles them.
_NAMESPACES: dict[type, object] = {np.ndarray: np}


def array_module(x):
    """The namespace whose functions operate on ``x``: ``numpy`` for NumPy arrays (and for
    Python numbers and lists), ``array_api_compat.cupy`` for CuPy, the array API namespace
    of any other library (``array_api_strict``, ...)."""
    xp = _NAMESPACES.get(type(x))
    return _lookup(x) if xp is None else xp


def _lookup(x):
    kind = type(x)
    if issubclass(kind, (np.ndarray, np.generic)):
        xp = np
    elif kind.__module__.startswith("cupy"):
        # Only reached for a CuPy array, so neither CuPy nor array_api_compat is needed
        # for NumPy work.
        import array_api_compat.cupy as xp
    elif hasattr(kind, "__array_namespace__") or kind.__module__.startswith(("torch", "jax")):
        from array_api_compat import array_namespace  # only reached for such an array

        xp = array_namespace(x)
    else:  # a Python number or list, a Tensor's constant: NumPy makes it an array
        return np
    _NAMESPACES[kind] = xp
    return xp


def is_array(x) -> bool:
    """True for an array (NumPy, CuPy or any array-API library's) or a NumPy scalar, as
    opposed to a Tensor, a Python number or a list."""
    kind = type(x)
    if kind in _NAMESPACES or isinstance(x, (np.ndarray, np.generic)):
        return True
    return hasattr(kind, "__array_namespace__") or kind.__module__.startswith("cupy")


# --- dtypes --------------------------------------------------------------------------------

_KINDS: dict = {}


def kind(dtype) -> str:
    """NumPy's one-letter kind of any library's dtype: ``"f"`` floating, ``"c"`` complex,
    ``"i"``/``"u"`` signed/unsigned integer, ``"b"`` bool.

    NumPy's (and CuPy's, which are NumPy's) dtypes carry it; other libraries' dtypes are
    known by the standard's names (``float32``, ``int64``, ...), which every library's
    dtype ends its printed form with (``array_api_strict.float32``, ``torch.int64``).
    """
    letter = getattr(dtype, "kind", None)
    if letter is None:
        letter = _KINDS.get(dtype)
        if letter is None:
            letter = _KINDS[dtype] = host_dtype(dtype).kind
    return letter


def host_dtype(dtype) -> np.dtype:
    """The NumPy dtype of the same name as ``dtype`` (of any library)."""
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rpartition(".")[2])


def dtype_in(xp, dtype):
    """The dtype of namespace ``xp`` with the name of ``dtype`` (a NumPy dtype or any
    library's): ``float32`` of ``array_api_strict`` for ``np.float32``, for instance."""
    if xp is np:
        return host_dtype(dtype)
    return getattr(xp, host_dtype(dtype).name)


# NumPy 1.x computes a float32 scalar or 0-d array combined with a Python number in float64
# (value-based casting: ``np.float32(2) * 0.5`` is a float64 there), NumPy 2 in float32
# (NEP 50). deltagrad follows NumPy 2 on both, so that float32 training stays float32: on
# NumPy 1.x, recording casts such 0-d results back (``keep_dtype_of_arrays``) and the engine
# hands each input a gradient of the input's own dtype.
NUMPY1_PROMOTION = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def keep_dtype_of_arrays(out, arrays):
    """``out``, a 0-d result computed from ``arrays``, in the dtype NumPy 2 would give it:
    Python numbers among the inputs do not widen the floating-point arrays' dtype."""
    if out.dtype.kind != "f":
        return out
    floats = [a.dtype for a in arrays if getattr(a, "dtype", None) is not None
              and kind(a.dtype) == "f"]
    if not floats:
        return out
    dtype = np.result_type(*floats)  # of dtypes, not values: no value-based casting
    return out.astype(dtype) if dtype.itemsize < out.dtype.itemsize else out


def as_array(out):
    """An op's result as an array: NumPy hands back 0-d results as scalars."""
    return np.asarray(out) if isinstance(out, np.generic) else out
