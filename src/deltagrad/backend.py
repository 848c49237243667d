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
