"""Decoding BIO tag sequences: the most likely sequence of per-token tag scores that is also
a valid BIO sequence (an ``I-X`` only after ``B-X`` or ``I-X``), optionally with learned
start, transition and end scores."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def allowed_transitions(tags) -> tuple[np.ndarray, np.ndarray]:
    """``(start, trans)``: which tags may open a sentence (T,) and which may follow which
    (T, T) under BIO rules. Tags other than O, B-X, I-X are unrestricted.

    >>> start, trans = allowed_transitions(["O", "B-PER", "I-PER"])
    >>> start.tolist(), trans[0].tolist(), trans[1].tolist()
    ([True, True, False], [True, True, False], [True, True, True])
    """
    tags = list(tags)
    start = np.ones(len(tags), dtype=bool)
    trans = np.ones((len(tags), len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            kind = tag[2:]
            start[j] = False
            trans[:, j] = [t in (f"B-{kind}", f"I-{kind}") for t in tags]
    return start, trans


@lru_cache(maxsize=8)
def penalties(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """0 where allowed, -inf where not: at the start (T,) and between tags (from, to). A
    tagger decodes thousands of sentences with one tag list; this is built once for it."""
    start, trans = allowed_transitions(tags)
    return np.where(start, 0.0, -np.inf), np.where(trans, 0.0, -np.inf)


def constrained_decode(log_probs, tags, start=None, transitions=None, end=None) -> np.ndarray:
    """The tag ids maximising the summed ``log_probs`` (n, T) of one sentence among the
    valid BIO sequences (Viterbi over the allowed transitions). With learned scores (a
    linear-chain CRF's, see :mod:`deltagrad.nn.crf`), ``start`` (T,), ``transitions`` (T, T)
    (from, to) and ``end`` (T,) are added to the path's score; forbidden moves stay
    forbidden whatever their score. Without them the allowed moves carry no score.

    >>> import numpy as np
    >>> lp = np.log(np.array([[0.4, 0.35, 0.25], [0.1, 0.1, 0.8]]))  # O, B-PER, I-PER
    >>> constrained_decode(lp, ["O", "B-PER", "I-PER"]).tolist()  # greedy: O I-PER
    [1, 2]
    >>> stay_out = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, -5.0], [0.0, 0.0, 0.0]])
    >>> constrained_decode(lp, ["O", "B-PER", "I-PER"], transitions=stay_out).tolist()
    [0, 0]
    """
    scores = np.asarray(log_probs, dtype=np.float64)
    n = scores.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first, penalty = penalties(tuple(tags))
    if start is not None:
        first = first + start
    if transitions is not None:
        penalty = penalty + transitions
    best = scores[0] + first
    back = np.zeros((n, scores.shape[1]), dtype=np.int64)
    for i in range(1, n):
        total = best[:, None] + penalty  # (from, to)
        back[i] = total.argmax(axis=0)
        best = total.max(axis=0) + scores[i]
    if end is not None:
        best = best + end
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(best.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path
