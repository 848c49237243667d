"""Random numbers keyed by where a sample sits in its epoch, not by who draws them.

Dropout masks and augmentation noise are drawn by the trainer's :class:`SampleRandom`
generators. Before each forward pass the trainer says which rows of the epoch's order the
batch holds (:meth:`SampleRandom.at`); then ``random(shape)`` with one row per sample gives
each sample's numbers from a counter-based generator (Philox) whose key is (seed, epoch, the
how-manieth draw of the pass) and whose counter starts at the sample's position. So sample i
of epoch e gets the same mask whether it is trained alone, in a batch of 256, in a
micro-batch, or on another rank of a data-parallel run, and a resumed run (which knows its
epoch) draws exactly what the uninterrupted run would have. Drawing a row costs what an
ordinary generator costs; no row is drawn for another.

Any other draw (``integers``, ``normal``, ``random`` of a shape without one row per sample)
comes from the same Philox keyed by the whole batch (epoch and rows), which is reproducible
too, but depends on how the epoch is cut into batches.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn

_PER_ROW = 0  # the second key word's top bit tells per-row streams from per-batch ones
_PER_BATCH = 1 << 63


class SampleRandom(np.random.Generator):
    """A ``numpy.random.Generator`` whose draws depend on the samples being trained (see the
    module's docstring). ``seed`` picks the stream."""

    def __init__(self, seed: int):
        self._key = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
        super().__init__(np.random.Philox(key=[self._key, _PER_BATCH]))
        self._where: tuple[int, int, int] | None = None
        self._draws = 0

    def at(self, epoch: int, start: int, stop: int) -> None:
        """The next draws are for rows ``start:stop`` of epoch ``epoch``'s order."""
        self._where, self._draws = (epoch, start, stop), 0
        self.bit_generator.state = _philox_state(
            [0, start, stop, epoch], [self._key, _PER_BATCH])

    @property
    def where(self) -> tuple[int, int, int] | None:
        """(epoch, start, stop) of the current rows (what :meth:`at` last set)."""
        return self._where

    def random(self, size=None, dtype=np.float64, out=None):
        """Uniform numbers in [0, 1), one row per sample when ``size[0]`` is the number of
        rows :meth:`at` set; otherwise as ``Generator.random``."""
        shape = (size,) if isinstance(size, (int, np.integer)) else size
        if self._where is None or out is not None or not shape:
            return super().random(size, dtype, out)
        epoch, start, stop = self._where
        if shape[0] != stop - start:
            return super().random(size, dtype, out)
        width = math.prod(shape[1:])
        key = [self._key, _PER_ROW | (epoch << 24) | min(self._draws, (1 << 24) - 1)]
        self._draws += 1
        # Each row starts a Philox block of four 64-bit words. float32 needs only 24 random
        # bits, so each word gives two numbers (its 32-bit halves): half the words to make.
        per_word = 2 if np.dtype(dtype) == np.float32 else 1
        stride = -(-width // (4 * per_word)) * 4  # words per row
        raw = np.random.Philox(counter=[start * (stride // 4), 0, 0, 0], key=key).random_raw(
            shape[0] * stride)
        if per_word == 2:
            raw = raw.view(np.uint32).reshape(shape[0], 2 * stride)[:, :width]
            values = (raw >> np.uint32(8)).astype(np.float32)
            values *= np.float32(2.0 ** -24)
        else:
            raw = raw.reshape(shape[0], stride)[:, :width]
            values = (raw >> np.uint64(11)).astype(np.float64)
            values *= 2.0 ** -53
        return values.reshape(shape)


def use_trainer_dropout(module: nn.Module) -> None:
    """Dropout layers draw from the trainer's seeded, checkpointed, per-sample generator
    while they train, not from the generator that initialised the weights."""
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.rng = None


def _philox_state(counter, key) -> dict:
    return {"bit_generator": "Philox",
            "state": {"counter": np.array(counter, np.uint64), "key": np.array(key, np.uint64)},
            "buffer": np.zeros(4, np.uint64), "buffer_pos": 4, "has_uint32": 0,
            "uinteger": 0}
