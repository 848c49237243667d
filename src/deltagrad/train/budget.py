"""The time budget of a run (``fit(max_time=...)``): a wall-clock contract.

Training starts no batch whose expected end, with the end-of-epoch work after it (the
evaluation, the callbacks, the checkpoint), would fall past the budget. A batch is expected
to last as long as the run's batches have lasted on average; the end-of-epoch work as long
as it last took. Before it has been timed once, it is expected to last as long as
``end_batches`` training batches: the trainer counts one per two batches of validation data
(a training step costs about three forward passes, so this errs on the safe side) and, for
a ``validate`` hook without validation data, a quarter of an epoch's batches; and not at all
before ``SETTLE`` batches have been timed, because on a busy machine the mean of one or two
batch times is no estimate (one stalled batch, a few hundred times the others, stopped a
4-minute run at its second batch). A run so stopped
ends its epoch early, evaluates it, and reports ``stop_reason == "max_time"``.
"""

from __future__ import annotations

import time


class Budget:
    """Seconds allowed (None: no limit) and how they are being spent. ``spent`` is time
    already used by an earlier, interrupted part of the run. ``clock`` reads the time (in a
    data-parallel run: rank 0's, as of the last step, so that every rank measures alike)."""

    SETTLE = 20  # batches timed before the end-of-epoch estimate counts

    def __init__(self, seconds: float | None = None, spent: float = 0.0, clock=None):
        self.seconds = seconds
        self.spent = spent
        self.clock = clock or time.perf_counter
        self.started = self.clock()
        self.batches = 0
        self.batch_seconds = 0.0  # total over self.batches
        self.end_seconds: float | None = None  # the last end-of-epoch work, once timed
        self.end_batches = 0  # its estimate in training batches until then

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return self.spent + self.clock() - self.started

    def fraction(self) -> float:
        """The share of the budget used (0 without a budget)."""
        return self.elapsed() / self.seconds if self.seconds else 0.0

    def record_batch(self, seconds: float) -> None:
        self.batches += 1
        self.batch_seconds += seconds

    def allows_batch(self) -> bool:
        """Whether one more batch and the end-of-epoch work fit in what is left."""
        if self.seconds is None:
            return True
        batch = self.batch_seconds / self.batches if self.batches else 0.0
        if self.end_seconds is not None:
            end = self.end_seconds
        else:
            end = self.end_batches * batch if self.batches >= self.SETTLE else 0.0
        return self.elapsed() + batch + end <= self.seconds
