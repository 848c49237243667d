"""Fixed-size inputs from token sequences: windows around each token (for a tagger) and
(context, next token) pairs (for a language model), padded at the edges."""

from __future__ import annotations

import numpy as np

from .._checks import check_int


def _ids(ids, where: str) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{where}: ids must be a 1-D sequence of integers, got an array of "
                         f"shape {arr.shape} and dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def sliding_windows(ids, radius: int, pad_id: int) -> np.ndarray:
    """One row per token: the ids of the ``radius`` tokens either side of it and itself,
    ``pad_id`` where the window runs past either end. Shape (len(ids), 2 * radius + 1).

    >>> sliding_windows([5, 6, 7], radius=1, pad_id=0)
    array([[0, 5, 6],
           [5, 6, 7],
           [6, 7, 0]])
    """
    radius = check_int(radius, "radius", "sliding_windows", minimum=0)
    arr = _ids(ids, "sliding_windows")
    if arr.size == 0:
        return np.zeros((0, 2 * radius + 1), np.int64)
    padded = np.concatenate([np.full(radius, pad_id, np.int64), arr,
                             np.full(radius, pad_id, np.int64)])
    # Row i of the strided view is padded[i : i + 2r + 1]; copy so rows own their memory.
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).copy()


def sentence_windows(sentences, radius: int, pad_id: int) -> np.ndarray:
    """:func:`sliding_windows` of every sentence (a list of id sequences), stacked: the
    windows never reach across a sentence boundary. Shape (total tokens, 2 * radius + 1).

    >>> sentence_windows([[1, 2], [3]], radius=1, pad_id=0)
    array([[0, 1, 2],
           [1, 2, 0],
           [0, 3, 0]])
    """
    radius = check_int(radius, "radius", "sentence_windows", minimum=0)
    parts = [sliding_windows(s, radius, pad_id) for s in sentences]
    if not parts:
        return np.zeros((0, 2 * radius + 1), np.int64)
    return np.concatenate(parts)


def window_positions(lengths, radius: int) -> np.ndarray:
    """Windows of *positions* into the flat concatenation of sentences of the given
    ``lengths``, with -1 past a sentence edge. ``flat_with_pad[positions]`` (the flat ids
    with the pad id appended, so -1 picks it) gives :func:`sentence_windows` for any ids:
    one index table serves every feature, and re-drawn ids each epoch cost one gather.

    >>> window_positions([2, 1], radius=1)
    array([[-1,  0,  1],
           [ 0,  1, -1],
           [-1,  2, -1]])
    """
    radius = check_int(radius, "radius", "window_positions", minimum=0)
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or (lengths.size and lengths.min() < 0):
        raise ValueError(f"window_positions: lengths must be a 1-D sequence of counts >= 0, "
                         f"got {lengths.tolist()!r}")
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # each token's sentence start
    ends = starts + np.repeat(lengths, lengths)
    pos = np.arange(total)[:, None] + np.arange(-radius, radius + 1)
    return np.where((pos >= starts[:, None]) & (pos < ends[:, None]), pos, -1)


def ngram_dataset(ids, context: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, targets) for language modelling: row t of ``contexts`` holds the
    ``context`` ids before ``ids[t]`` (``pad_id`` before the start), ``targets[t] = ids[t]``.
    Shapes (len(ids), context) and (len(ids),).

    >>> X, y = ngram_dataset([4, 5, 6], context=2, pad_id=0)
    >>> X.tolist(), y.tolist()
    ([[0, 0], [0, 4], [4, 5]], [4, 5, 6])
    """
    context = check_int(context, "context", "ngram_dataset")
    arr = _ids(ids, "ngram_dataset")
    padded = np.concatenate([np.full(context, pad_id, np.int64), arr])
    X = np.lib.stride_tricks.sliding_window_view(padded[:-1], context) if arr.size else \
        np.zeros((0, context), np.int64)
    return np.ascontiguousarray(X), arr.copy()
