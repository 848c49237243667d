"""A count-based n-gram language model with interpolated Kneser-Ney smoothing: the baseline
a neural language model has to beat (Bengio et al., 2003 compare against exactly this).

Smoothing (Chen & Goodman, 1999, "interpolated Kneser-Ney"): with a context h of k-1 ids
and h' the same context without its first id,

    P_k(w | h) = (max(c_k(h w) - D_k, 0) + D_k N(h •) P_{k-1}(w | h')) / Σ_w c_k(h w)

where c_k is the raw count for the highest order and the *continuation count* (the number
of distinct ids seen before the n-gram) for the lower ones, N(h •) is the number of
distinct ids seen after h, and one discount per order D_k = n1 / (n1 + 2 n2) comes from
the numbers of n-grams seen once (n1) and twice (n2). A context never seen falls back to
P_{k-1}; the unigram level is interpolated with the uniform distribution, so every id of
the vocabulary gets a probability above zero and each distribution sums to 1.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int

_INT64_MAX = np.iinfo(np.int64).max


def _rows(contexts, targets, order: int, vocab_size: int, where: str):
    X = np.asarray(contexts)
    y = np.asarray(targets)
    if X.ndim != 2 or X.dtype.kind not in "iu" or X.shape[1] < order - 1:
        raise ValueError(f"{where}: contexts must be a 2-D integer array with at least "
                         f"{order - 1} columns, got shape {X.shape} and dtype {X.dtype}")
    if y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(f"{where}: targets must be integers of shape {(X.shape[0],)}, got "
                         f"shape {y.shape} and dtype {y.dtype}")
    R = np.concatenate([X[:, X.shape[1] - (order - 1):], y[:, None]], axis=1).astype(np.int64)
    if R.size and (R.min() < 0 or R.max() >= vocab_size):
        raise ValueError(f"{where}: ids must lie in [0, {vocab_size}), got values in "
                         f"[{R.min()}, {R.max()}]")
    return R


class KneserNeyLM:
    """An interpolated Kneser-Ney n-gram model over integer ids: it predicts a token from
    the ``context`` ids before it (an n-gram model of order n = context + 1).

    Fit and evaluate it on the same (contexts, targets) arrays a neural language model
    uses (:func:`~deltagrad.text.windows.ngram_dataset`); wider context arrays are cut to
    their last ``context`` columns.

    >>> import numpy as np
    >>> from deltagrad.text.windows import ngram_dataset
    >>> X, y = ngram_dataset([1, 2, 3, 1, 2, 3, 1, 2], context=2, pad_id=0)
    >>> lm = KneserNeyLM(context=2, vocab_size=4).fit(X, y)
    >>> p = lm.distribution([1, 2])
    >>> round(float(p.sum()), 6), int(p.argmax())
    (1.0, 3)
    """

    def __init__(self, context: int, vocab_size: int):
        self.context = check_int(context, "context", "KneserNeyLM", minimum=0)
        self.order = self.context + 1
        self.vocab_size = check_int(vocab_size, "vocab_size", "KneserNeyLM")
        self.fitted = False

    # --- ids of id sequences ------------------------------------------------------------
    # Every distinct sequence of length k seen in training gets an id at level k, built
    # right to left: a sequence is (its first id, the id of the rest), packed into one int64
    # key, and the sorted unique keys of level k are its table (an id is a position in it).
    # Sequences of length 1 are their own id. Looking a sequence up is one searchsorted per
    # level, vectorised over all rows at once.

    def _key(self, level: int, first, rest_ids):
        return first * self._sizes[level - 1] + rest_ids

    def _lookup(self, level: int, first, rest_ids):
        keys = self._keys[level]
        key = self._key(level, first, np.maximum(rest_ids, 0))
        pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
        found = (rest_ids >= 0) & (keys[pos] == key)
        return np.where(found, pos, -1)

    def fit(self, contexts, targets) -> KneserNeyLM:
        """Count every n-gram of orders 1 to n in the rows (context, target)."""
        n = self.order
        R = _rows(contexts, targets, n, self.vocab_size, "KneserNeyLM.fit")
        if len(R) == 0:
            raise ValueError("KneserNeyLM.fit: no training rows")
        V = self.vocab_size
        self._keys, self._sizes = {}, {1: V}
        # gram[k]: id of the row's last k ids (the n-gram ending at the target);
        # ctx[k]: id of the last k ids of its context. Both live in the level-k id space.
        gram, ctx = {1: R[:, -1]}, {0: np.zeros(len(R), np.int64), 1: R[:, -2] if n > 1
                                      else None}
        for k in range(2, n + 1):
            if V * 2 * len(R) >= _INT64_MAX:
                raise ValueError(f"KneserNeyLM.fit: vocabulary of {V} ids with {len(R)} rows "
                                 f"is too large to index n-grams in int64")
            parts = [R[:, n - k] * self._sizes[k - 1] + gram[k - 1]]
            if k <= n - 1:  # contexts are at most n - 1 long
                parts.append(R[:, n - 1 - k] * self._sizes[k - 1] + ctx[k - 1])
            keys, inverse = np.unique(np.concatenate(parts), return_inverse=True)
            self._keys[k], self._sizes[k] = keys, len(keys)
            gram[k] = inverse[:len(R)]
            if k <= n - 1:
                ctx[k] = inverse[len(R):]
        # counts[k][g]: raw counts at the top order, continuation counts below it.
        self._counts, self._totals, self._distinct, self.discounts = {}, {}, {}, {}
        for k in range(1, n + 1):
            if k == n:
                counts = np.bincount(gram[n], minlength=self._sizes[n])
            else:
                seen = np.unique(gram[k + 1])  # distinct (k+1)-grams; their last k ids:
                counts = np.bincount(self._keys[k + 1][seen] % self._sizes[k],
                                     minlength=self._sizes[k])
            self._counts[k] = counts
            n1, n2 = np.count_nonzero(counts == 1), np.count_nonzero(counts == 2)
            self.discounts[k] = float(n1 / (n1 + 2 * n2)) if n1 and n2 else 0.5
            # Per context (level k-1 id): the total count after it and how many distinct ids.
            context_of = np.zeros(self._sizes[k], np.int64)
            context_of[gram[k]] = ctx[k - 1]
            nonzero = np.flatnonzero(counts)
            size = 1 if k == 1 else self._sizes[k - 1]
            self._totals[k] = np.bincount(context_of[nonzero], weights=counts[nonzero],
                                          minlength=size)
            self._distinct[k] = np.bincount(context_of[nonzero], minlength=size)
        self.fitted = True
        return self

    def log_prob(self, contexts, targets) -> np.ndarray:
        """Natural-log probability of each target given its context row, float64 (N,)."""
        if not self.fitted:
            raise ValueError("KneserNeyLM.log_prob: call fit() first")
        n = self.order
        R = _rows(contexts, targets, n, self.vocab_size, "KneserNeyLM.log_prob")
        y = R[:, -1]
        D = self.discounts[1]
        p = (np.maximum(self._counts[1][y] - D, 0)
             + D * self._distinct[1][0] / self.vocab_size) / self._totals[1][0]
        gram = y
        ctx = np.zeros(len(R), np.int64)  # the empty context has id 0
        for k in range(2, n + 1):
            ctx = R[:, n - 2] if k == 2 else self._lookup(k - 1, R[:, n - k], ctx)
            gram = self._lookup(k, R[:, n - k], gram)
            D = self.discounts[k]
            known = ctx >= 0
            total = np.where(known, self._totals[k][np.maximum(ctx, 0)], 0.0)
            distinct = np.where(known, self._distinct[k][np.maximum(ctx, 0)], 0)
            count = np.where(gram >= 0, self._counts[k][np.maximum(gram, 0)], 0)
            seen = total > 0  # an unseen context leaves the lower order's estimate
            p = np.where(seen, (np.maximum(count - D, 0) + D * distinct * p)
                         / np.where(seen, total, 1.0), p)
        return np.log(p)

    def distribution(self, context) -> np.ndarray:
        """P(w | context) for every id w of the vocabulary, float64 (vocab_size,)."""
        context = np.asarray(context, dtype=np.int64).reshape(1, -1)
        rows = np.repeat(context, self.vocab_size, axis=0)
        return np.exp(self.log_prob(rows, np.arange(self.vocab_size)))

    def cross_entropy(self, contexts, targets) -> float:
        """Mean negative log-likelihood of the targets, in nats per token."""
        return float(-self.log_prob(contexts, targets).mean())
