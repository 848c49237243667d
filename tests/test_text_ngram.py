"""Interpolated Kneser-Ney: against a direct dictionary-based reading of the formulas,
distributions summing to 1, and its place below the uniform guess on real text."""

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from deltagrad.text import KneserNeyLM, Vocabulary, ngram_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare"


class ReferenceKN:
    """Interpolated Kneser-Ney written straight from Chen & Goodman's formulas with dicts
    of n-gram tuples: slow, independent of the array implementation."""

    def __init__(self, rows, order, vocab_size):
        self.n, self.V = order, vocab_size
        self.counts = {}
        for k in range(1, order + 1):
            c = defaultdict(int)
            if k == order:  # raw counts at the top order
                for r in rows:
                    c[r[order - k:]] += 1
            else:  # continuation counts: distinct ids seen just before the k-gram
                for e in {r[order - k - 1:] for r in rows}:
                    c[e[1:]] += 1
            self.counts[k] = dict(c)
        self.D = {}
        for k, c in self.counts.items():
            values = list(c.values())
            n1, n2 = values.count(1), values.count(2)
            self.D[k] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    def prob(self, w, h):
        k = len(h) + 1
        D = self.D[k]
        if k == 1:
            c = self.counts[1]
            total = sum(c.values())
            return (max(c.get((w,), 0) - D, 0) + D * len(c) / self.V) / total
        lower = self.prob(w, h[1:])
        after_h = {g: n for g, n in self.counts[k].items() if g[:-1] == h}
        total = sum(after_h.values())
        if total == 0:
            return lower
        return (max(after_h.get(h + (w,), 0) - D, 0) + D * len(after_h) * lower) / total


@pytest.mark.parametrize("context", [0, 1, 2, 3])
def test_matches_the_reference_formulas(context):
    rng = np.random.default_rng(context)
    V = 6
    ids = rng.integers(1, V, 400)
    ids[::5] = 3  # some structure, so higher orders see repeats
    X, y = ngram_dataset(ids, max(context, 1), pad_id=0)
    lm = KneserNeyLM(context, V).fit(X, y)
    rows = [tuple(r[len(r) - context:]) + (t,) for r, t in zip(X.tolist(), y.tolist())]
    ref = ReferenceKN(rows, context + 1, V)
    assert lm.discounts == pytest.approx(ref.D)
    # seen contexts (from the data) and random ones (many unseen), every id incl. unseen
    Xt = np.concatenate([X[50:80], rng.integers(0, V, (30, X.shape[1]))])
    yt = np.concatenate([y[50:80], rng.integers(0, V, 30)])
    expected = [math.log(ref.prob(int(w), tuple(h[len(h) - context:])))
                for h, w in zip(Xt.tolist(), yt)]
    np.testing.assert_allclose(lm.log_prob(Xt, yt), expected, rtol=1e-12, atol=1e-12)


def test_distributions_sum_to_one_for_seen_and_unseen_contexts():
    rng = np.random.default_rng(1)
    V = 12
    X, y = ngram_dataset(rng.integers(1, 8, 2000), 4, pad_id=0)  # ids 8..11 never occur
    lm = KneserNeyLM(4, V).fit(X, y)
    for context in [X[10], X[500], [11, 10, 9, 8], [0, 0, 0, 0], rng.integers(0, V, 4)]:
        p = lm.distribution(context)
        assert p.shape == (V,)
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (p > 0).all()  # even ids never seen in training


def test_more_context_fits_repetitive_text_better():
    text = np.array([1, 2, 3, 4, 2, 3, 1, 4] * 60)
    scores = []
    for context in (1, 2, 3):
        X, y = ngram_dataset(text, context, pad_id=0)
        scores.append(KneserNeyLM(context, 5).fit(X, y).cross_entropy(X, y))
    assert scores[0] > scores[1] > scores[2]
    assert scores[2] < 0.1  # two ids back fix the next one in this cycle


def test_wider_context_arrays_use_their_last_columns():
    rng = np.random.default_rng(2)
    ids = rng.integers(1, 5, 300)
    X2, y = ngram_dataset(ids, 2, pad_id=0)
    X5, _ = ngram_dataset(ids, 5, pad_id=0)
    a = KneserNeyLM(2, 5).fit(X2, y)
    b = KneserNeyLM(2, 5).fit(X5, y)
    np.testing.assert_allclose(a.log_prob(X2, y), b.log_prob(X5, y))


def test_argument_errors():
    with pytest.raises(ValueError, match="context"):
        KneserNeyLM(-1, 5)
    with pytest.raises(ValueError, match="vocab_size"):
        KneserNeyLM(2, 0)
    lm = KneserNeyLM(2, 5)
    with pytest.raises(ValueError, match="call fit"):
        lm.log_prob(np.zeros((1, 2), np.int64), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="at least 2 columns"):
        lm.fit(np.zeros((3, 1), np.int64), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        lm.fit(np.full((3, 2), 7), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="no training rows"):
        lm.fit(np.zeros((0, 2), np.int64), np.zeros(0, np.int64))


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder ../shared/data/"
                    "tinyshakespeare is absent")
def test_on_a_slice_of_shakespeare_it_beats_lower_orders_and_sums_to_one():
    text = (DATA / "input.txt").read_text()[:60_000]
    train, valid = text[:54_000], text[54_000:]
    vocab = Vocabulary.build(list(train))
    tr, va = vocab.encode(list(train)), vocab.encode(list(valid))
    losses = []
    for context in (0, 1, 3):
        lm = KneserNeyLM(context, len(vocab)).fit(*ngram_dataset(tr, max(context, 1), 0))
        losses.append(lm.cross_entropy(*ngram_dataset(va, max(context, 1), 0)))
        assert lm.distribution(vocab.encode(list("the "[-max(context, 1):]))).sum() == \
            pytest.approx(1.0)
    assert math.log(len(vocab)) > losses[0] > losses[1] > losses[2]
