"""Per-batch cost of ``Trainer.fit`` against the same steps written by hand.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/train_loop.py
The difference is what the trainer adds per batch (the NaN guard's sums, bookkeeping).
"""

import time

import numpy as np

from deltagrad import nn, optim
from deltagrad.nn import functional as F
from deltagrad.train import Trainer

N, D, C, BATCH, EPOCHS = 4096, 64, 10, 32, 5
rng = np.random.default_rng(0)
X = rng.normal(size=(N, D)).astype(np.float32)
y = rng.integers(0, C, N)
batches = EPOCHS * (N // BATCH)


def by_hand() -> float:
    model = nn.MLP(D, [64, 64], C, rng=np.random.default_rng(0))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    order_rng = np.random.default_rng(0)
    began = time.perf_counter()
    for _ in range(EPOCHS):
        order = order_rng.permutation(N)
        Xs, ys = X[order], y[order]
        for s in range(0, N, BATCH):
            loss = F.cross_entropy(model(Xs[s:s + BATCH]), ys[s:s + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - began


def with_trainer(**options) -> float:
    model = nn.MLP(D, [64, 64], C, rng=np.random.default_rng(0))
    trainer = Trainer(model, "cross_entropy", lr=1e-3, seed=0, progress="none", **options)
    began = time.perf_counter()
    trainer.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    return time.perf_counter() - began


if __name__ == "__main__":
    cases = {"by hand": by_hand, "Trainer": with_trainer,
             "Trainer, nan_guard=False": lambda: with_trainer(nan_guard=False),
             "Trainer, accuracy metric": lambda: with_trainer(metrics=["accuracy"])}
    for name, fn in cases.items():
        best = min(fn() for _ in range(3))
        print(f"{name:28s} {best / batches * 1e6:7.1f} us/batch")
