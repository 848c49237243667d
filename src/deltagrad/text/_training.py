"""How the text models hand their training to ``Trainer``: the same schedule for both (the
learning rate falls along a half cosine to 5 % over the run, measured in steps or in time,
whichever ends first), the best epoch's weights kept, checkpoints and exact resume in
``out_dir``, and the per-epoch records kept in the model's ``info``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from .. import nn
from .._checks import check_widths
from ..train import BestWeights, Callback, ProgressSchedule, Trainer, half_cosine
from ..train.state import check_same_settings, saved_run_info

#: the learning rate's floor at the end of the run, as a share of the starting rate
LR_FLOOR = 0.05


def hidden_sizes(value, where: str) -> tuple[int, ...]:
    """``(300,)`` from 300, [300] or "300"; ``(256, 128)`` from "256,128"."""
    return check_widths(value, "hidden", where)


def check_resume(out_dir, resume, run_info: dict, where: str) -> None:
    """Before any work: a run resumed in ``out_dir`` must be given the settings (and the
    data the trainer does not see, such as the sentences a validation hook scores) it was
    started with; the first setting that differs is named. ``run_info`` is
    ``{"settings": {...}, "data": {name: digest}}``."""
    if out_dir is None or not resume:
        return
    saved = saved_run_info(out_dir)
    if saved is not None:
        what = f"{where}: the run in {os.fspath(out_dir)}"
        check_same_settings(saved.get("settings", {}), run_info["settings"], what)
        check_same_settings({"data": saved.get("data") or {}}, {"data": run_info["data"]},
                            what)


def digest(value) -> str:
    """A short digest of JSON data (e.g. sentences), for :func:`check_resume`."""
    return hashlib.blake2b(json.dumps(value).encode(), digest_size=12).hexdigest()


class _EpochLines(Callback):
    """Hands one line per epoch to ``log`` (if any): the epoch's record, see
    :func:`history_records`."""

    def __init__(self, log: Callable[[str], None] | None):
        self.log = log

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.log is not None:
            record = history_records(self.trainer.history)[-1]
            self.log(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in record.items()))


class _EvaluationEstimate(Callback):
    """What the time budget expects the end-of-epoch evaluation to cost until it has been
    timed once: ``batches`` training batches, counted from the rows the tagger's
    ``validate`` hook scores as the trainer counts validation data (one per two batches of
    rows); the trainer's own guess for a hook, a quarter of an epoch, is many times what
    scoring a tagger's validation sentences takes."""

    def __init__(self, batches: int):
        self.batches = batches

    def on_train_begin(self) -> None:
        self.trainer.budget.end_batches = self.batches


def fit(module: nn.Module, X, y, *, run_info: dict, monitor: str | None, started: float,
        augment=None, validation_data=None, validate=None, validate_rows: int = 0,
        out_dir=None, resume=False, metadata=None, progress="none", log=None,
        device=None, reserve: float = 0.0) -> tuple[Trainer, BestWeights | None]:
    """Train ``module`` with the optimiser, learning rate, weight decay, clipping, seed,
    epochs, batch size and time budget of ``run_info["settings"]``, on ``device`` (None: the
    host); keep the weights of the best epoch by ``monitor`` (a name in the logs; None keeps
    the last).
    The time budget counts from ``started`` (a ``time.perf_counter()`` reading), so that
    preparing the data (vocabulary, windows) is part of it, and ``reserve`` seconds of it
    are left for work after training (the tagger's CRF stage). ``validate_rows``: the rows the
    ``validate`` hook runs through the network, for the budget's first estimate of the
    evaluation's cost (see ``_EvaluationEstimate``). Returns the trainer and the
    best-weights keeper; ``module`` is back on the host, where the text models' own
    inference (decoding, sampling) runs."""
    settings = run_info["settings"]
    best = None if monitor is None else BestWeights(monitor)
    callbacks = [ProgressSchedule(partial(half_cosine, floor=LR_FLOOR)), _EpochLines(log),
                 *([best] if best else [])]
    rows = validate_rows + (0 if validation_data is None else len(validation_data[1]))
    if rows:
        callbacks.append(_EvaluationEstimate(-(-rows // (2 * settings["batch_size"]))))
    trainer = Trainer(module, "cross_entropy", settings["optimizer"], lr=settings["lr"],
                      weight_decay=settings.get("weight_decay"),  # 0 too: AdamW's is 0.01
                      clip_norm=settings.get("clip_norm"), augment=augment,
                      seed=settings["seed"], callbacks=callbacks, progress=progress,
                      deterministic=settings.get("deterministic", False),
                      device=device)
    with np.errstate(all="ignore"):  # the NaN guard reports what these warnings would
        trainer.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                    max_time=_left(settings["max_time"], started - reserve),
                    validation_data=validation_data,
                    validate=validate, out_dir=out_dir, resume=resume, metadata=metadata,
                    run_info=run_info)
    if device is not None:
        module.to("cpu")
    return trainer, best


def _left(max_time: float | None, started: float) -> float | None:
    """What is left of ``max_time`` seconds counted from ``started`` (never quite 0: the
    trainer takes one batch whatever its budget)."""
    return None if max_time is None else max(max_time - (time.perf_counter() - started), 1e-3)


def history_records(history) -> list[dict]:
    """One record per epoch, as the text models keep them in ``info["history"]``:
    ``epoch``, ``train_loss``, the validation values (``valid_loss``, ``valid_f1``...) and
    ``seconds``, the training time up to the end of that epoch."""
    records, seconds = [], 0.0
    for i, epoch in enumerate(history.epoch):
        record = {"epoch": epoch}
        for key, values in history.history.items():
            if key == "loss":
                record["train_loss"] = values[i]
            elif key.startswith("val_"):
                record["valid_" + key[4:]] = values[i]
        seconds += history.history.get("time", [0.0] * (i + 1))[i]
        record["seconds"] = round(seconds, 2)
        records.append(record)
    return records


def training_info(trainer: Trainer, best: BestWeights | None, settings: dict) -> dict:
    """What a text model's ``info`` says about its training."""
    records = history_records(trainer.history)
    return {"training": dict(settings), "history": records,
            "best_epoch": best.best_epoch if best and best.best_epoch else len(records),
            "seconds": records[-1]["seconds"] if records else 0.0}
