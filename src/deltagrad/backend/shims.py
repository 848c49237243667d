"""What the array API standard lacks, one small named shim per backend, all here.

- **Scatter-add** (``add_at``, ``rows_scatter_add``): NumPy's ``np.add.at`` and, for the
  embedding's rows, a sorted segment sum; CuPy's ``cupyx.scatter_add``; for any other
  library a fallback built from standard functions (a one-hot matrix product, in blocks).
- **Random numbers** (``random``, ``normal``): one generator per backend, seeded from the same
  seed (``dg.manual_seed``): NumPy's ``Generator``, CuPy's ``cupy.random`` generator; a
  library with no random numbers of its own gets NumPy's draws copied to its device.
- **Floating-point error state** (``errstate``): NumPy's ``np.errstate``; nothing elsewhere
  (CuPy and the standard do not warn on overflow or division by zero).
- **Writing into an array** (``out_module``): NumPy and CuPy functions take ``out=``; for
  other libraries an adapter computes the value and assigns it into ``out``.
"""

from __future__ import annotations

import contextlib

import numpy as np

from .. import _config
from .devices import device_of, to_device
from .namespaces import array_module, dtype_in, host_dtype


def _is_cupy(xp) -> bool:
    return getattr(xp, "__name__", "") == "array_api_compat.cupy"


# --- scatter-add ---------------------------------------------------------------------------


def add_at(out, index, values) -> None:
    """``out[index] += values``, in place, where repeated indices each add (``np.add.at``)."""
    xp = array_module(out)
    if xp is np:
        np.add.at(out, index, values)
    elif _is_cupy(xp):
        import cupyx  # only for a CuPy array

        cupyx.scatter_add(out, index, values)
    else:  # the flat position of every picked element, then one segment sum over them
        positions = xp.reshape(xp.arange(out.size, device=out.device), out.shape)[index]
        values = xp.broadcast_to(values, positions.shape)
        flat = _one_hot_rows_sum(xp.reshape(values, (-1, 1)), xp.reshape(positions, (-1,)),
                                 out.size)
        out += xp.reshape(flat, out.shape)


def rows_scatter_add(g, rows, num_rows: int):
    """A (num_rows, d) zero array with row ``g[k]`` added into row ``rows[k]`` (repeats
    sum): the embedding's backward. ``g`` is (n, d), ``rows`` (n,) integers."""
    xp = array_module(g)
    if xp is np:
        return _numpy_rows_scatter_add(g, rows, num_rows)
    if _is_cupy(xp):
        import cupyx  # only for a CuPy array

        out = xp.zeros((num_rows, g.shape[1]), dtype=g.dtype)
        cupyx.scatter_add(out, rows, g)
        return out
    return _one_hot_rows_sum(g, rows, num_rows)


# The fallback's one-hot block holds at most this many elements (64 MiB of float32).
_ONE_HOT_BLOCK = 1 << 24


def _one_hot_rows_sum(g, rows, num_rows: int):
    """The fallback: out[r] = Σ_k [rows[k] = r] g[k] as products of one-hot blocks with g,
    (block of table rows, n) @ (n, d), so the summation is the library's own matmul. Memory
    O(block * n); time O(num_rows * n * d): fine for tests and small tables."""
    xp = array_module(g)
    n = rows.shape[0]
    block = max(1, _ONE_HOT_BLOCK // max(n, 1))
    parts = []
    for start in range(0, num_rows, block):
        table_rows = xp.arange(start, min(start + block, num_rows), device=g.device)
        one_hot = xp.astype(table_rows[:, None] == rows[None, :], g.dtype)
        parts.append(one_hot @ g)
    if not parts:
        return xp.zeros((0, g.shape[1]), dtype=g.dtype, device=g.device)
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=0)


def _numpy_rows_scatter_add(g, rows, num_rows: int):
    """NumPy's fast path: a sorted segment sum. Sorting ``rows`` makes each index's rows one
    segment; segments of equal length c are summed together as one (n, c, d) -> (n, d)
    reduction, so the Python loop runs once per distinct segment length (a few dozen for
    text), never per index. Measured against ``np.add.at`` (NumPy 2.4, float32, d = 64-128):
    2-4x faster for uniform and Zipf-distributed indices, and ``np.add.reduceat`` is no
    faster than ``add.at`` (it pays ~1 µs per segment). Narrow rows (d <= 32) from a table
    with no more rows than lookups (characters, casing features) take one ``bincount`` per
    column instead, 3-4x faster again there (67 rows, d = 16, 2,048 lookups: 150 µs
    against 660).
    """
    if g.shape[1] <= 32 and num_rows <= rows.size:
        out = np.empty((num_rows, g.shape[1]), dtype=g.dtype)
        for j in range(g.shape[1]):  # bincount sums in float64; the column is cast back
            out[:, j] = np.bincount(rows, weights=g[:, j], minlength=num_rows)
        return out
    out = np.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    if rows.size == 0:
        return out
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    new_row = np.empty(rows.size, dtype=bool)
    new_row[0], new_row[1:] = True, sorted_rows[1:] != sorted_rows[:-1]
    starts = np.flatnonzero(new_row)  # where each index's segment begins
    lengths = np.diff(np.append(starts, rows.size))
    by_length = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[by_length]
    change = np.flatnonzero(sorted_lengths[1:] != sorted_lengths[:-1]) + 1
    for group in np.split(by_length, change.tolist()):
        first = starts[group]
        length = int(lengths[group[0]])
        if length == 1:
            out[sorted_rows[first]] = g[order[first]]
        else:
            picks = order[(first[:, None] + np.arange(length)).reshape(-1)]
            out[sorted_rows[first]] = g[picks].reshape(-1, length, g.shape[1]).sum(axis=1)
    return out


# --- random numbers ----------------------------------------------------------------------


def _generator(device):
    """The global generator of ``device``'s library: NumPy's (``dg.manual_seed``), CuPy's
    (seeded from the same seed, made on first use), or None for a library without one."""
    if device.xp is np:
        return _config.default_rng()
    if not _is_cupy(device.xp):
        return None
    generators = _config.device_generators()
    rng = generators.get(device.name)
    if rng is None:
        import cupy  # only for a CUDA device

        with device.native:
            rng = generators[device.name] = cupy.random.default_rng(_config.seed())
    return rng


def _source(like, rng):
    """(generator, its draws need moving): ``rng`` (a NumPy Generator) when given, else the
    generator of ``like``'s device, else NumPy's global one, whose draws are then copied."""
    where = device_of(like)
    generator = _generator(where) if rng is None else rng
    if generator is None:
        generator = _config.default_rng()
    return generator, where, isinstance(generator, np.random.Generator) and where.xp is not np


def _onto(host, where, dtype):
    """NumPy draws as an array of ``dtype`` (any library's) on device ``where``."""
    return to_device(host.astype(host_dtype(dtype), copy=False), where)


def random(like, shape: tuple, dtype, rng=None):
    """Uniform draws from [0, 1) of ``shape`` in the float ``dtype``, on ``like``'s device
    (float32 draws for float32: half the random bits of float64)."""
    generator, where, moved = _source(like, rng)
    if where.xp is np or moved:
        single = host_dtype(dtype) == np.float32
        host = generator.random(shape, dtype=np.float32 if single else np.float64)
        return _onto(host, where, dtype) if moved else host
    return generator.random(shape, dtype=dtype_in(where.xp, dtype))


def uniform(like, low: float, high: float, rng=None):
    """Draws from U(low, high) shaped and typed like ``like``, on its device (NumPy's draws
    are float64, as ``Generator.uniform`` makes them, cast when assigned)."""
    generator, where, moved = _source(like, rng)
    if where.xp is np or moved:
        host = generator.uniform(low, high, size=like.shape)
        return _onto(host, where, like.dtype) if moved else host
    return low + (high - low) * generator.random(like.shape, dtype=like.dtype)


def normal(like, mean: float, std: float, rng=None):
    """Draws from N(mean, std²) shaped and typed like ``like``, on its device (NumPy's
    draws are float64, as ``Generator.normal`` makes them, cast when assigned)."""
    generator, where, moved = _source(like, rng)
    if where.xp is np or moved:
        host = generator.normal(mean, std, size=like.shape)
        return _onto(host, where, like.dtype) if moved else host
    return mean + std * generator.standard_normal(like.shape, dtype=like.dtype)


# --- floating-point error state --------------------------------------------------------


def errstate(like, **settings):
    """``np.errstate(**settings)`` for NumPy arrays; a no-op context for other libraries."""
    if array_module(like) is np:
        return np.errstate(**settings)
    return contextlib.nullcontext()


# --- writing into an array ---------------------------------------------------------------


class _Into:
    """Elementwise functions taking ``out=``, for a library whose functions do not: each
    computes the result and assigns it into ``out`` (one temporary, as the standard allows).
    """

    def __init__(self, xp):
        self._xp = xp

    def __getattr__(self, name: str):
        function = getattr(self._xp, name)

        def into(*args, out):
            out[...] = function(*args)
            return out

        into.__name__ = name
        return into


_OUT_MODULES: dict = {np: np}


def out_module(like):
    """A module of ``like``'s library whose elementwise functions take ``out=``: NumPy or
    CuPy themselves, an adapter (``_Into``) for other libraries."""
    if type(like) is np.ndarray:  # the common case first: asked once per parameter per step
        return np
    xp = array_module(like)
    module = _OUT_MODULES.get(xp)
    if module is None:
        module = _OUT_MODULES[xp] = xp if _is_cupy(xp) else _Into(xp)
    return module
