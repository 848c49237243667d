"""Seeded train / validation / test splits, stratified by class for classification."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class Split(NamedTuple):
    """The arrays of a three-way split; the order of the fields is scikit-learn's (all X, then
    all y)."""

    X_train: np.ndarray
    X_val: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray


def _split_size(fraction: float, n: int) -> int:
    # Rounded before the ceiling so that 0.2 * 10 (= 2.0000000000000004) gives 2, not 3.
    return math.ceil(round(fraction * n, 9))


def _controlled_round(counts: np.ndarray, sizes: np.ndarray, rng: np.random.Generator):
    """Integer table ``M`` (classes x splits) with row sums ``counts``, column sums ``sizes``
    and each entry the floor or the ceiling of its exact share ``counts[c] * sizes[s] / n``.

    Such a table always exists (controlled rounding; both margins are integers). Start from the
    floors and give each class its missing units one at a time along an augmenting path: put
    the unit in a split that still has room, or in a full split while moving another class's
    extra unit from there to a split with room, and so on (a breadth-first search over the
    few splits). The exact share is then within one sample of every entry.
    """
    n = int(counts.sum())
    prod = np.outer(counts, sizes)
    M, rem = prod // n, prod % n
    bumped = np.zeros(M.shape, dtype=bool)  # entries rounded up
    room = sizes - M.sum(axis=0)
    for c in rng.permutation(len(counts)):
        for _ in range(int(counts[c] - M[c].sum())):
            # Splits the class is not yet in first (so a class appears wherever it can), then
            # the largest remainders.
            starts = sorted((s for s in range(len(sizes)) if rem[c, s] and not bumped[c, s]),
                            key=lambda s: (M[c, s] > 0, -rem[c, s]))
            parent = {s: None for s in starts}
            queue, end = list(starts), None
            while queue and end is None:
                s = queue.pop(0)
                if room[s] > 0:
                    end = s
                    break
                for c2 in np.flatnonzero(bumped[:, s]):
                    for s2 in range(len(sizes)):
                        if rem[c2, s2] and not bumped[c2, s2] and s2 not in parent:
                            parent[s2] = (s, c2)
                            queue.append(s2)
            assert end is not None, "controlled rounding found no augmenting path"
            room[end] -= 1
            s = end
            while parent[s] is not None:
                prev, c2 = parent[s]
                bumped[c2, s], bumped[c2, prev] = True, False
                s = prev
            bumped[c, s] = True
    return M + bumped


def train_val_test_split(X, y, *, val_fraction: float = 0.1, test_fraction: float = 0.2,
                         stratify: bool = True, seed: int = 0) -> Split:
    """Shuffle the rows of ``X`` and ``y`` and cut them into train, validation and test sets.

    The validation and test sets get ``ceil(fraction * n)`` rows each (none for a fraction of
    0) and the training set the rest. With ``stratify`` and class labels in ``y`` (a 1-D array
    of ints, bools or strings; float targets are never stratified) each class is shared out in
    proportion: its count in every split is within one row of the exact share, so a class
    appears in every split where its share is at least one row. The same ``seed`` gives the
    same split.

    >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    >>> s = train_val_test_split(X, y, val_fraction=0.2, test_fraction=0.2, seed=0)
    >>> len(s.X_train), len(s.X_val), len(s.X_test), sorted(s.y_val.tolist())
    (6, 2, 2, [0, 1])
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("train_val_test_split: X and y must be arrays with one row per sample")
    n = len(X)
    if len(y) != n:
        raise ValueError(f"train_val_test_split: X has {n} rows but y has {len(y)}")
    for label, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(f, bool) or not isinstance(f, (int, float, np.floating, np.integer)):
            raise TypeError(f"train_val_test_split: {label} must be a number, got {f!r}")
        if not 0 <= f < 1:
            raise ValueError(f"train_val_test_split: {label} must lie in [0, 1), got {f}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"train_val_test_split: val_fraction + test_fraction must be below 1 "
                         f"to leave rows for training, got {val_fraction} + {test_fraction}")
    n_val, n_test = _split_size(val_fraction, n), _split_size(test_fraction, n)
    if n - n_val - n_test < 1:
        raise ValueError(f"train_val_test_split: {n} rows are too few: val_fraction="
                         f"{val_fraction} and test_fraction={test_fraction} take {n_val} and "
                         f"{n_test} rows, leaving none for training")
    rng = np.random.default_rng(seed)
    sizes = np.array([n - n_val - n_test, n_val, n_test])
    if stratify and y.ndim == 1 and y.dtype.kind in "biuUSO":
        _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        groups = np.split(np.argsort(codes, kind="stable"), np.cumsum(counts)[:-1])
    else:
        groups = [np.arange(n)]
    table = _controlled_round(np.array([len(g) for g in groups]), sizes, rng)
    parts: list[list[np.ndarray]] = [[], [], []]
    for members, counts in zip(groups, table):
        members = rng.permutation(members)
        for s, (lo, hi) in enumerate(zip(np.cumsum(counts) - counts, np.cumsum(counts))):
            parts[s].append(members[lo:hi])
    index = [rng.permutation(np.concatenate(p)) for p in parts]
    return Split(*(X[i] for i in index), *(y[i] for i in index))
