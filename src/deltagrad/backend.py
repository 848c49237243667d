"""The one place that knows which array library holds the data.

Ops never import NumPy for their arithmetic directly: they ask ``array_module(x)``
for the module that owns ``x``. Today that is NumPy; a CuPy array answers CuPy, so
a GPU backend needs no change to the ops.
"""

from __future__ import annotations

import numpy as np


def array_module(x):
    """Return ``numpy`` or ``cupy``: the module whose functions operate on ``x``."""
    if type(x) is np.ndarray or not type(x).__module__.startswith("cupy"):
        return np
    import cupy  # only reached for a CuPy array, so CuPy is never a hard dependency

    return cupy


def is_array(x) -> bool:
    """True for a NumPy (or CuPy) array or scalar, as opposed to a Tensor or a Python number."""
    return isinstance(x, (np.ndarray, np.generic)) or type(x).__module__.startswith("cupy")


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
              and a.dtype.kind == "f"]
    if not floats:
        return out
    dtype = np.result_type(*floats)  # of dtypes, not values: no value-based casting
    return out.astype(dtype) if dtype.itemsize < out.dtype.itemsize else out
