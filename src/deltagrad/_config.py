"""Process-wide settings: the default float dtype and the global random generator."""

from __future__ import annotations

import numpy as np

_default_dtype = np.dtype(np.float32)
_rng = np.random.default_rng()
_seed: int | None = None
# device name -> the generator of that device's library (CuPy's), seeded from ``_seed``
# when first used; ``manual_seed`` starts them afresh.
_device_generators: dict = {}


def set_default_dtype(dtype) -> None:
    """Set the float dtype used for Python floats and new parameters (float32 by default).

    >>> import numpy as np, deltagrad as dg
    >>> dg.set_default_dtype(np.float64); dg.tensor(1.5).dtype
    dtype('float64')
    >>> dg.set_default_dtype(np.float32)
    """
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype such as float32 or "
                        f"float64, got {dt}")
    _default_dtype = dt


def get_default_dtype() -> np.dtype:
    """The float dtype used for Python floats and new parameters."""
    return _default_dtype


def manual_seed(seed: int) -> None:
    """Re-seed the global generator used wherever no ``rng`` is passed (init, dropout, ...),
    and the generators of other devices (a GPU's), each from the same seed."""
    global _rng, _seed
    _rng, _seed = np.random.default_rng(seed), seed
    _device_generators.clear()


def default_rng() -> np.random.Generator:
    """The global ``numpy.random.Generator`` (re-seeded by ``manual_seed``)."""
    return _rng


def seed() -> int | None:
    """The last seed given to ``manual_seed`` (None before any)."""
    return _seed


def device_generators() -> dict:
    """The generators of devices other than the host, by device name (see ``manual_seed``)."""
    return _device_generators


def resolve_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself, or the global generator when it is None."""
    return _rng if rng is None else rng
