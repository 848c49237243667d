"""Mini-batches over arrays, in order or shuffled by a ``numpy.random.Generator``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._config import resolve_rng


def iterate_minibatches(X, y=None, batch_size: int = 32, *, shuffle: bool = True,
                        rng: np.random.Generator | None = None
                        ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(xb, yb)`` batches of ``batch_size`` rows; the last one holds what is left.

    With ``shuffle`` the row order is a fresh permutation drawn from ``rng`` (the global
    generator seeded by ``dg.manual_seed`` when None), and each batch is gathered from it.
    Without, the batches are slices: views of ``X`` and ``y``, nothing copied. ``y`` may be
    None, for predicting; then ``yb`` is None.

    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in iterate_minibatches(X, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    X = np.asarray(X)
    y = None if y is None else np.asarray(y)
    if X.ndim == 0:
        raise ValueError("iterate_minibatches: X must be an array with one row per sample")
    if y is not None and (y.ndim == 0 or len(y) != len(X)):
        raise ValueError(f"iterate_minibatches: X has {len(X)} rows but y has shape {y.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"iterate_minibatches: batch_size must be a positive int, got "
                         f"{batch_size!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"iterate_minibatches: rng must be a numpy.random.Generator, got "
                        f"{type(rng).__name__}")
    # Validate now, not at the first next(): the work itself is in a generator.
    order = resolve_rng(rng).permutation(len(X)) if shuffle else None
    return _batches(X, y, int(batch_size), order)


def _batches(X, y, batch_size, order):
    for start in range(0, len(X), batch_size):
        if order is None:
            rows = slice(start, start + batch_size)
        else:
            rows = order[start:start + batch_size]
        yield X[rows], None if y is None else y[rows]
