"""Callbacks: code that ``Trainer.fit`` runs at fixed points of training.

Subclass ``Callback`` and override what you need: ``on_train_begin()``,
``on_epoch_begin(epoch)``, ``on_batch_begin(batch)``, ``on_gradients(batch)``,
``on_batch_end(batch, loss)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
``self.trainer`` is the running ``Trainer`` (its ``model``, ``optimizer``, ``history``,
``step``, ``fraction_done()``; set ``trainer.stop_training = True`` to stop after this
epoch). Epochs and batches count from 1. ``on_gradients`` runs when the batch's gradients
are final (after backward, before clipping and the optimiser step): the place to read or
change them. The three batch hooks cost nothing unless a callback overrides them.

A callback whose state must survive a crash returns it from ``state_dict()`` (numbers,
strings, lists, dicts and NumPy arrays) and takes it back in ``load_state_dict()``; the
trainer's checkpoints hold it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

from .._checks import check_float, check_int
from ..io import save
from ..optim.lr_scheduler import ReduceLROnPlateau
from .history import better_mode


class Callback:
    """Base class: every hook does nothing."""

    trainer = None

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self) -> None:
        pass

    def on_epoch_begin(self, epoch: int) -> None:
        pass

    def on_batch_begin(self, batch: int) -> None:
        pass

    def on_gradients(self, batch: int) -> None:
        pass

    def on_batch_end(self, batch: int, loss: float) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        pass

    def on_train_end(self, logs: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _monitored(where: str, monitor: str, logs: dict) -> float:
    if monitor not in logs:
        hint = " (validation metrics need validation data)" if monitor.startswith("val_") \
            else ""
        raise ValueError(f"{where}: monitor {monitor!r} is not logged{hint}; logged: "
                         f"{sorted(logs)}")
    return float(logs[monitor])


class _Improvement:
    """Tracks the best value of a monitored quantity; ``min_delta`` is the smallest change
    that counts as an improvement."""

    def __init__(self, where: str, monitor: str, mode: str, min_delta: float):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{where}: monitor must be a logged name such as 'val_loss', got "
                             f"{monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{where}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        min_delta = check_float(min_delta, "min_delta", where, allow_minimum=True)
        self.where, self.monitor, self.min_delta = where, monitor, min_delta
        self.mode = better_mode(monitor) if mode == "auto" else mode
        self.best = math.inf if self.mode == "min" else -math.inf

    def improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class BestWeights(Callback):
    """Keep a copy of the weights of the epoch where ``monitor`` was best (by more than
    ``min_delta``) and load them into the model when training ends, however it ends.
    ``mode="auto"`` maximises accuracy-like metrics (accuracy, f1, precision, recall, r2)
    and minimises anything else.

    >>> keep = BestWeights(monitor="val_f1")  # mode "max", from the name
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 *, keep_weights: bool = True):
        self._best = _Improvement(type(self).__name__, monitor, mode, min_delta)
        self.monitor, self.keep_weights = monitor, bool(keep_weights)
        self.best_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    @property
    def best(self) -> float:
        return self._best.best

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        """Record the epoch if it is the best so far; return whether it was."""
        value = _monitored(type(self).__name__, self.monitor, logs)
        if not self._best.improves(value):
            return False
        self._best.best, self.best_epoch = value, epoch
        if self.keep_weights:
            self.best_weights = self.trainer.model.state_dict()
        return True

    def on_train_end(self, logs: dict) -> None:
        if self.keep_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict) -> None:
        self._best.best, self.best_epoch = float(state["best"]), int(state["best_epoch"])
        self.best_weights = state["best_weights"]


class EarlyStopping(BestWeights):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row; with ``restore_best_weights`` the model ends with the weights of its best
    epoch (whether or not training stopped early).

    ``mode="auto"`` maximises accuracy-like metrics (accuracy, f1, precision, recall, r2)
    and minimises anything else.

    >>> stop = EarlyStopping(monitor="val_loss", patience=3, min_delta=1e-4)
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = True):
        super().__init__(monitor, mode, min_delta, keep_weights=restore_best_weights)
        self.patience = check_int(patience, "patience", "EarlyStopping", minimum=0)
        self.restore_best_weights = self.keep_weights
        self.wait, self.stopped_epoch = 0, 0

    def on_epoch_end(self, epoch: int, logs: dict) -> bool:
        if super().on_epoch_end(epoch, logs):
            self.wait = 0
            return True
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            self.trainer.history.stop_reason = "early_stopping"
        return False

    def state_dict(self) -> dict:
        return {**super().state_dict(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.wait, self.stopped_epoch = int(state["wait"]), int(state["stopped_epoch"])


class ModelCheckpoint(Callback):
    """Save the model (a ``dg.save`` folder) when ``monitor`` improves, or after every epoch
    with ``save_best_only=False``. ``path`` may hold ``{epoch}`` and logged names, e.g.
    ``"runs/epoch{epoch:03d}"``. The folder's metadata gets ``epoch`` and the epoch's logs.

    >>> keep = ModelCheckpoint("runs/best", monitor="val_accuracy")
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = True, metadata: dict | None = None):
        if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: path must be a str or os.PathLike, got "
                            f"{type(path).__name__}")
        self.path, self.save_best_only = os.fspath(path), bool(save_best_only)
        self.monitor, self.metadata = monitor, dict(metadata or {})
        self._best = _Improvement("ModelCheckpoint", monitor, mode, 0.0)
        self.saved: list[str] = []

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            if not self._best.improves(value):
                return
            self._best.best = value
        try:
            path = self.path.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: can not fill in path {self.path!r} ({exc}); "
                             f"it may use {{epoch}} and {sorted(logs)}") from None
        if self.trainer.parallel.is_root:  # one rank of an MPI run writes
            save(self.trainer.model, path, {**self.metadata, "epoch": epoch, "logs": logs})
        self.saved.append(path)

    def state_dict(self) -> dict:
        return {"best": self._best.best, "saved": list(self.saved)}

    def load_state_dict(self, state: dict) -> None:
        self._best.best, self.saved = float(state["best"]), list(state["saved"])


class LearningRateScheduler(Callback):
    """Step a learning-rate schedule after every epoch (``interval="epoch"``) or batch.

    ``schedule`` is a scheduler from ``deltagrad.optim.lr_scheduler``, or a function that
    makes one from the optimiser (handy when the ``Trainer`` builds the optimiser).
    ``ReduceLROnPlateau`` is stepped with the epoch's value of ``monitor``.

    >>> from deltagrad.optim import lr_scheduler
    >>> cosine = LearningRateScheduler(lambda opt: lr_scheduler.CosineAnnealingLR(opt, 50))
    >>> plateau = LearningRateScheduler(
    ...     lambda opt: lr_scheduler.ReduceLROnPlateau(opt, patience=3), monitor="val_loss")
    """

    def __init__(self, schedule, interval: str = "epoch", monitor: str = "val_loss"):
        if interval not in ("epoch", "batch"):
            raise ValueError(f"LearningRateScheduler: interval must be 'epoch' or 'batch', got "
                             f"{interval!r}")
        if not (hasattr(schedule, "step") or callable(schedule)):
            raise TypeError(f"LearningRateScheduler: schedule must be a scheduler or a function "
                            f"of the optimizer, got {type(schedule).__name__}")
        self.schedule: Callable | None = None if hasattr(schedule, "step") else schedule
        self.scheduler = schedule if hasattr(schedule, "step") else None
        self.interval, self.monitor = interval, monitor
        self._plateau = False  # set when the scheduler is known (on_train_begin)
        if interval == "batch":  # only then is on_batch_end a hook the trainer calls
            self.on_batch_end = self._batch_step

    def on_train_begin(self) -> None:
        if self.scheduler is None:
            self.scheduler = self.schedule(self.trainer.optimizer)
            self.schedule = None
        if self.scheduler.optimizer is not self.trainer.optimizer:
            raise ValueError("LearningRateScheduler: the scheduler drives a different "
                             "optimizer than the trainer's")
        self._plateau = isinstance(self.scheduler, ReduceLROnPlateau)
        if self._plateau and self.interval == "batch":
            raise ValueError("LearningRateScheduler: ReduceLROnPlateau steps once per epoch "
                             "on a metric; use interval='epoch'")

    def _batch_step(self, batch: int, loss: float) -> None:
        self.scheduler.step()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self._plateau:
            self.scheduler.step(_monitored("LearningRateScheduler", self.monitor, logs))
        elif self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict() if self.scheduler else None}

    def load_state_dict(self, state: dict) -> None:
        if state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])


class ProgressSchedule(Callback):
    """Before every step, set each parameter group's learning rate to its rate at the start
    of training times ``factor(progress)``, where progress (0 to 1) is
    ``trainer.fraction_done()``: the share of the run's steps done or, with a time budget,
    the share of the time used, whichever is larger. So a schedule ends on time however the
    run is measured. (The rate is set when the previous step ends, so the rate an epoch
    logs is the one its first step used.)

    >>> from functools import partial
    >>> cosine = ProgressSchedule(partial(half_cosine, floor=0.05))  # to 5 % of the rate
    """

    def __init__(self, factor: Callable[[float], float]):
        if not callable(factor):
            raise TypeError(f"ProgressSchedule: factor must be a function of the progress, got "
                            f"{type(factor).__name__}")
        self.factor = factor
        self.base_lrs: list[float] | None = None

    def on_train_begin(self) -> None:
        if self.base_lrs is None:
            self.base_lrs = [g["lr"] for g in self.trainer.optimizer.param_groups]
        self._set()

    def on_batch_end(self, batch: int, loss: float) -> None:
        self._set()

    def _set(self) -> None:
        scale = self.factor(min(self.trainer.fraction_done(), 1.0))
        for group, base in zip(self.trainer.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale

    def state_dict(self) -> dict:
        return {"base_lrs": self.base_lrs}

    def load_state_dict(self, state: dict) -> None:
        self.base_lrs = None if state["base_lrs"] is None else [float(v) for v in
                                                                 state["base_lrs"]]


def half_cosine(progress: float, floor: float = 0.05) -> float:
    """A factor falling from 1 to ``floor`` along a half cosine as ``progress`` goes from 0
    to 1 (and staying at ``floor`` past 1).

    >>> half_cosine(0.0), half_cosine(0.5, floor=0.0), half_cosine(2.0, floor=0.1)
    (1.0, 0.5, 0.1)
    """
    progress = min(max(progress, 0.0), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs:
    print(e, logs["loss"]))``."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_begin=None,
                 on_gradients=None, on_batch_end=None, on_epoch_end=None, on_train_end=None):
        hooks = {"on_train_begin": on_train_begin, "on_epoch_begin": on_epoch_begin,
                 "on_batch_begin": on_batch_begin, "on_gradients": on_gradients,
                 "on_batch_end": on_batch_end, "on_epoch_end": on_epoch_end,
                 "on_train_end": on_train_end}
        for name, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {name} must be callable")
                setattr(self, name, fn)


def overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` does something in ``hook`` (so the trainer can skip the rest)."""
    return hook in vars(callback) or getattr(type(callback), hook) is not getattr(Callback, hook)


def check_callbacks(callbacks) -> list[Callback]:
    """A list of callbacks from one callback or an iterable of them."""
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
    return callbacks


class Hooks:
    """The callbacks' per-epoch and per-batch hooks, only those a callback overrides (so a
    hook nobody uses costs nothing per batch)."""

    def __init__(self, callbacks):
        def bound(name):
            return [getattr(cb, name) for cb in callbacks if overrides(cb, name)]

        self.epoch_begin = bound("on_epoch_begin")
        self.batch_begin = bound("on_batch_begin")
        self.gradients = bound("on_gradients")
        self.batch_end = bound("on_batch_end")
