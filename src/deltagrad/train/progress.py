"""What ``Trainer.fit`` shows while it works: a live bar on a terminal, one line per epoch
elsewhere (logs, CI), or nothing.

The bar (rich) shows the epoch, the running loss, the last validation metrics and the time
left for the whole run; it is redrawn at most ten times a second, so it costs the training
loop one clock read per batch.
"""

from __future__ import annotations

import math
import sys
import time

KINDS = ("auto", "bar", "plain", "none")


def format_value(value: float) -> str:
    """A logged number in at most ~6 characters of precision that still shows its size.

    >>> format_value(0.123456), format_value(1234.5), format_value(1e-5), format_value(0.0)
    ('0.1235', '1234.5', '1.00e-05', '0')
    """
    if value == 0:
        return "0"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.1f}"
    if abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}"


def epoch_line(epoch: int, epochs: int, logs: dict) -> str:
    """``epoch  3/20  loss 0.1234  val_loss 0.2345  lr 0.001  0.4s``"""
    width = len(str(epochs))
    parts = [f"epoch {epoch:>{width}}/{epochs}"]
    for key, value in logs.items():
        if key == "time":
            continue
        parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {format_value(value)}")
    if "time" in logs:
        parts.append(f"{logs['time']:.2f}s")
    return "  ".join(parts)


class Progress:
    """Silent reporter; the base of the others."""

    per_batch = False  # does ``batch`` need calling?

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr

    def train_begin(self, epochs: int, start_epoch: int, batches_per_epoch: int) -> None:
        self.epochs = epochs

    def batch(self, epoch: int, done: int, loss: float) -> None:
        pass

    def epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def train_end(self) -> None:
        pass


class PlainProgress(Progress):
    """One line per epoch, flushed at once (so a log tail shows it live)."""

    def epoch_end(self, epoch: int, logs: dict) -> None:
        self.message(epoch_line(epoch, self.epochs, logs))

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class BarProgress(PlainProgress):
    """A rich progress bar over every batch of the run, with a line above it per epoch."""

    per_batch = True

    def __init__(self, stream=None):
        from rich.console import Console

        super().__init__(stream)
        self._console = Console(file=self.stream)
        self._bar = None

    def train_begin(self, epochs: int, start_epoch: int, batches_per_epoch: int) -> None:
        from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.epochs, self.batches = epochs, batches_per_epoch
        self._start = start_epoch
        self._next = 0.0
        self._bar = Progress(
            TextColumn("epoch {task.fields[epoch]}"), BarColumn(),
            TextColumn("{task.fields[info]}"), TextColumn("ETA"), TimeRemainingColumn(),
            TimeElapsedColumn(), console=self._console, transient=True)
        total = max(1, (epochs - start_epoch) * batches_per_epoch)
        self._task = self._bar.add_task("train", total=total,
                                        epoch=f"{start_epoch + 1}/{epochs}", info="")
        self._last = ""
        self._bar.start()

    def batch(self, epoch: int, done: int, loss: float) -> None:
        now = time.perf_counter()
        if now < self._next:
            return
        self._next = now + 0.1
        completed = (epoch - 1 - self._start) * self.batches + done
        info = f"loss {format_value(loss)}" + (f"  {self._last}" if self._last else "")
        self._bar.update(self._task, completed=completed, epoch=f"{epoch}/{self.epochs}",
                         info=info)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        self._last = "  ".join(f"{k} {format_value(v)}" for k, v in logs.items()
                               if k.startswith("val_"))
        self._bar.update(self._task, completed=(epoch - self._start) * self.batches,
                         epoch=f"{min(epoch + 1, self.epochs)}/{self.epochs}", info=self._last)
        self.message(epoch_line(epoch, self.epochs, logs))

    def message(self, text: str) -> None:
        self._console.print(text, highlight=False, markup=False, soft_wrap=True)

    def train_end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def make_progress(kind, stream=None) -> Progress:
    """``"auto"`` (a bar on a terminal, else lines), ``"bar"``, ``"plain"``, ``"none"``;
    also True (auto), False or None (none)."""
    if kind is True:
        kind = "auto"
    elif kind is False or kind is None:
        kind = "none"
    if kind not in KINDS:
        raise ValueError(f"progress must be one of {KINDS} (or True/False), got {kind!r}")
    stream = stream if stream is not None else sys.stderr
    if kind == "auto":
        kind = "bar" if _is_terminal(stream) and _has_rich() else "plain"
    return {"bar": BarProgress, "plain": PlainProgress, "none": Progress}[kind](stream)


def _has_rich() -> bool:
    import importlib.util

    return importlib.util.find_spec("rich") is not None


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
