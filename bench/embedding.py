"""Embedding backward: ``rows_scatter_add`` (what ``nn.Embedding`` uses: a sorted segment
sum, or one ``np.bincount`` per column for narrow rows of a small table) against
``np.add.at``, a ``np.bincount`` per column and a one-hot matrix product.

Run:  python bench/embedding.py

Word ids from a 10k vocabulary in (batch, 5) windows (the NER tagger's shape), drawn
uniformly and from a Zipf law (as words in text are), embedding dims 50 and 128; then the
small tables: 67 characters in (256, 8) contexts (the character LM), dim 16, and 8 casing
classes in (64, 5) windows, dim 8.
"""

from __future__ import annotations

import numpy as np
from _util import blas_info, median_time, print_table

from deltagrad import nn
from deltagrad.nn.ops import rows_scatter_add

VOCAB = 10_000
# (ids, vocabulary, batch, window, dim)
CASES = [(kind, VOCAB, batch, 5, dim) for kind in ("uniform", "zipf")
         for batch, dim in ((256, 50), (2048, 50), (2048, 128))]
CASES += [("chars", 67, 256, 8, 16), ("casing", 8, 64, 5, 8)]


def add_at(g, rows, n):
    out = np.zeros((n, g.shape[1]), g.dtype)
    np.add.at(out, rows, g)
    return out


def bincount_columns(g, rows, n):
    # one weighted bincount per column: a C loop per column, no Python loop per index
    return np.stack([np.bincount(rows, weights=g[:, j], minlength=n) for j in
                     range(g.shape[1])], axis=1).astype(g.dtype)


def one_hot_matmul(g, rows, n):
    # only sensible while n * len(rows) fits in memory: a dense (n, len(rows)) indicator
    onehot = np.zeros((n, rows.size), g.dtype)
    onehot[rows, np.arange(rows.size)] = 1
    return onehot @ g


def draw(kind, vocab, size, rng):
    if kind != "zipf":
        return rng.integers(0, vocab, size)
    ids = rng.zipf(1.1, size) - 1  # Zipf-distributed word ranks, clipped to the vocabulary
    return np.minimum(ids, vocab - 1)


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"BLAS: {blas_info()}")
    rows_out = []
    for kind, vocab, batch, window, dim in CASES:
        idx = draw(kind, vocab, (batch, window), rng).reshape(-1)
        g = rng.standard_normal((idx.size, dim)).astype(np.float32)
        ref = add_at(g, idx, vocab)
        times = {}
        for name, fn in (("rows_scatter_add", rows_scatter_add), ("np.add.at", add_at),
                         ("bincount/col", bincount_columns), ("one-hot @", one_hot_matmul)):
            if name == "one-hot @" and idx.size * vocab > 2e8:
                times[name] = float("nan")
                continue
            np.testing.assert_allclose(fn(g, idx, vocab), ref, rtol=1e-4, atol=1e-4)
            times[name] = median_time(lambda fn=fn, g=g, idx=idx: fn(g, idx, vocab)) * 1e3
        emb = nn.Embedding(vocab, dim, rng=rng)
        ids2 = idx.reshape(batch, window)

        def layer_step(emb=emb, ids2=ids2):
            emb.weight.grad = None
            emb(ids2).sum().backward()

        times["Embedding fwd+bwd"] = median_time(layer_step) * 1e3
        rows_out.append((kind, vocab, idx.size, dim, *(f"{t:.3f}" for t in times.values())))
    print_table(rows_out, ("ids", "vocab", "indices", "dim", "rows_scatter_add ms", "np.add.at ms",
                           "bincount/col ms", "one-hot @ ms", "Embedding fwd+bwd ms"))


if __name__ == "__main__":
    main()
