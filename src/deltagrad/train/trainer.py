"""``Trainer``: the training loop. Every command and estimator that trains in epochs trains
through it: ``deltagrad train``, ``lm train`` and ``ner train``, the scikit-learn
estimators' stochastic solvers and the playground.

The loop, on one screen: :meth:`Trainer.fit` runs epochs (:meth:`Trainer.train_epoch`),
each a pass over the data in batches, one optimiser step each (``_step``: forward, loss
and backward, the gradients final, the NaN guard, clipping, the update); after each epoch
the validation, the callbacks, the checkpoint. Around it: ``inputs.py`` checks and cuts the
data, ``state.py`` says what a checkpoint holds, ``budget.py`` keeps the time budget,
``guard.py`` explains a divergence, ``inference.py`` predicts in batches.

>>> import numpy as np
>>> from deltagrad import nn
>>> from deltagrad.data import load_dataset
>>> from deltagrad.train import Trainer, EarlyStopping
>>> ds = load_dataset("moons", n_samples=200, seed=0)
>>> model = nn.MLP(2, [16], 2, rng=np.random.default_rng(0))
>>> trainer = Trainer(model, loss="cross_entropy", lr=0.05, metrics=["accuracy"], seed=0,
...                   callbacks=[EarlyStopping("val_loss", patience=5)], progress="none")
>>> history = trainer.fit(ds.X, ds.y, epochs=30, batch_size=16, validation_split=0.2)
>>> history["val_accuracy"][-1] > 0.8
True
"""

from __future__ import annotations

import math
import os
import time
from functools import partial

import numpy as np

from .. import _config, nn
from .._checks import check_float, check_int, check_optional_float, check_seed
from ..backend import host_dtype, to_host
from ..backend.memory import reusing_freed_memory
from ..distributed import DataParallel, raised_on_every_rank, world
from ..optim import clip_grad_norm_, clip_grad_value_
from . import state as run_state
from ._resolve import resolve_metrics, resolve_optimizer
from .budget import Budget
from .callbacks import Hooks, check_callbacks
from .evaluation import evaluate, metric_values
from .guard import diverged, finite_gradients
from .history import History
from .inference import model_device, predict_batches
from .inputs import Samples, as_inputs, check_target, check_weight, on_device, split_validation
from .objective import resolve_objective
from .progress import make_progress


class Trainer:
    """Trains ``model`` on arrays with mini-batches, as Keras' ``fit``.

    - ``loss``: ``"cross_entropy"`` (integer class labels), ``"bce_with_logits"``, ``"mse"``,
      ``"l1"``, ``"huber"``, a function ``(outputs, targets) -> scalar Tensor`` or an
      :class:`~deltagrad.train.objective.Objective`; None picks cross-entropy for integer
      targets and MSE otherwise.
    - ``optimizer``: a name (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``,
      built with ``lr`` and ``weight_decay`` when given) or an ``Optimizer``.
    - ``metrics``: names (``"accuracy"``, ``"precision"``, ``"recall"``, ``"f1"`` (macro),
      ``"log_loss"``, ``"mse"``, ``"rmse"``, ``"mae"``, ``"r2"``) or functions
      ``(y_true, outputs) -> float``; logged each epoch for the training data (as seen during
      the epoch) and, with ``val_`` in front, for the validation data.
    - ``clip_norm`` / ``clip_value``: gradient clipping before every step.
    - ``nan_guard``: stop with ``NonFiniteError`` naming the epoch, batch, first bad op and
      its layer as soon as the loss or a gradient is NaN or infinite (before the step that
      would spoil the weights).
    - ``augment``: a function ``(inputs, rng) -> inputs`` applied to every training batch
      (``inputs`` is the tuple of the model's inputs; ``rng`` the trainer's augmentation
      generator), e.g. hiding context tokens; never applied to validation data.
    - ``seed``: seeds the shuffling, the dropout masks (dropout layers without their own
      generator draw from the trainer's while it trains), augmentation and the validation
      split; None takes a seed from the global generator (``dg.manual_seed``).
    - ``progress``: ``"auto"`` (a live bar on a terminal, one line per epoch otherwise),
      ``"bar"``, ``"plain"`` or ``"none"``, written to ``stream`` (standard error).
    - ``deterministic``: sum the gradients of micro-batches of ``micro_batch_size`` rows (None:
      an eighth of the batch) exactly, so that ``fit`` over any number of MPI processes (see
      ``deltagrad.distributed``: ``batch_size`` is then the global batch) ends bit-identical.
    - ``device``: ``"cuda"``, ``dg.device(...)``...: the model moves there; batches follow it.
    """

    def __init__(self, model: nn.Module, loss=None, optimizer="adam", *, lr: float | None = None,
                 weight_decay: float | None = None, metrics=(), callbacks=(),
                 clip_norm: float | None = None, clip_value: float | None = None,
                 nan_guard: bool = True, augment=None, seed: int | None = None,
                 progress="auto", stream=None, deterministic: bool = False,
                 micro_batch_size: int | None = None, device=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer: model must be an nn.Module, got {type(model).__name__}")
        if augment is not None and not callable(augment):
            raise TypeError(f"Trainer: augment must be a function (inputs, rng) -> inputs, got "
                            f"{type(augment).__name__}")
        self.model, self.device = model, model_device(model if device is None else model.to(device))
        self.objective = resolve_objective(loss)  # None until the targets say which
        self.optimizer = resolve_optimizer(optimizer, model, lr, weight_decay)
        self.metrics = resolve_metrics(metrics)
        self.callbacks = check_callbacks(callbacks)
        self.clip_norm = check_optional_float(clip_norm, "clip_norm", "Trainer")
        self.clip_value = check_optional_float(clip_value, "clip_value", "Trainer")
        self.nan_guard = bool(nan_guard)
        self.augment = augment
        seed = check_seed(seed, "seed", "Trainer")
        self.seeded = seed is not None
        self.rng = run_state.Generators(  # shuffling, dropout, augmentation, the split
            seed if seed is not None else int(_config.default_rng().integers(2 ** 63)))
        self.parallel = DataParallel(None, deterministic, micro_batch_size)  # fit: the ranks
        self.display = make_progress(progress, stream)
        self.history = History()
        self.stop_training = False
        self.epoch = 0  # epochs trained (while one runs: its number, counted from 1)
        self.step = 0  # optimiser steps taken in the run
        self.total_steps: int | None = None  # steps the run will take, set by fit
        self.budget = Budget()  # fit's time budget (none outside fit)
        self.hooks = Hooks(self.callbacks)  # the callbacks that act per epoch or batch
        for cb in self.callbacks:
            cb.set_trainer(self)
        self.replay_dropout = False  # does a diverged batch need its dropout mask back?
        self.keyed = augment is not None  # do the batches draw per-sample random numbers?
        self.last_rows = None  # inputs, target, weight and rows of the last forward pass

    # --- the loop ------------------------------------------------------------------------

    def fit(self, X, y, *, epochs: int = 10, batch_size: int = 32, validation_data=None,
            validation_split: float = 0.0, shuffle: bool = True, sample_weight=None,
            max_time: float | None = None, validate=None, callbacks=(),
            out_dir: str | os.PathLike | None = None, resume: bool | str = False,
            metadata: dict | None = None, run_info: dict | None = None) -> History:
        """Train for up to ``epochs`` epochs (counted from 1); return the ``History``.

        ``X`` is an array (float features or integer ids), a sparse matrix, or a tuple of
        arrays for a model of several inputs. Validation: ``validation_data=(X_val,
        y_val)``, or ``validation_split`` (a fraction of ``X``, drawn with the trainer's seed,
        stratified for classification). ``validate(logs) -> dict``, if given, runs after
        each epoch's validation (model in eval mode, no graph) and its values are logged as
        named (e.g. ``{"val_f1": ...}``). ``sample_weight`` weighs each sample's loss.

        ``max_time`` (seconds) is a wall-clock budget that includes the per-epoch
        evaluation: no batch is started that would end, with the evaluation after it, past
        it (see ``budget.py``); the history then says ``stop_reason == "max_time"``.

        With ``out_dir`` a checkpoint (see ``state.py``) is written atomically after every
        epoch, and at the end the model folder (``dg.save``, with ``metadata`` and the
        history) and ``history.json``. ``resume=True`` continues from that checkpoint
        exactly, as if the run had never stopped; ``resume="auto"`` does so if there is one.
        Without it an ``out_dir`` holding a checkpoint is refused, and so is a resume with
        another batch size, shuffling or data. ``run_info`` (JSON data) is kept in the
        checkpoint for the caller.
        """
        epochs = check_int(epochs, "epochs", "fit")
        batch_size = check_int(batch_size, "batch_size", "fit")
        max_time = check_optional_float(max_time, "max_time", "fit")
        if validate is not None and not callable(validate):
            raise TypeError(f"fit: validate must be a function (logs) -> dict, got "
                            f"{type(validate).__name__}")
        alone = self.parallel
        self.parallel = DataParallel(world(), alone.deterministic,  # the ranks of an MPI launch
                                     alone.micro_batch_size)
        try:
            with self.parallel.failures_stop_all(), reusing_freed_memory():
                if not self.seeded:  # every rank shuffles (and splits) as rank 0 does
                    self.rng = run_state.Generators(self.parallel.root_seed(self.rng.seed))
                data, val = self._fit_data(X, y, sample_weight, validation_data,
                                           validation_split)
                settings = {"batch_size": batch_size, "shuffle": bool(shuffle)}
                if out_dir is not None:
                    settings["data"] = {"train": data.fingerprint(),
                                        "validation": val.fingerprint() if val else None}
                self.parallel.check_batch(batch_size, len(data))
                saved = run_state.open_run(out_dir, resume, settings)
                run = _Run(self.callbacks + check_callbacks(callbacks), settings, val,
                           validate, batch_size, out_dir, run_info)
                return self._run(run, data, saved, epochs, max_time, shuffle, metadata)
        finally:
            self.parallel = alone

    def _run(self, run: _Run, data: Samples, saved: dict | None, epochs: int,
             max_time: float | None, shuffle: bool, metadata: dict | None) -> History:
        """``fit`` once its data and folder are checked: resume, start, epochs, finish."""
        batches = math.ceil(len(data) / run.batch_size)
        borrowed, shown = self._begin(run, epochs * batches, max_time)
        # Until it is timed, the evaluation is budgeted as so many training batches.
        self.budget.end_batches = (math.ceil(len(run.val) / run.batch_size / 2) if run.val
                                   else math.ceil(batches / 4) if run.validate else 0)
        try:
            for cb in run.callbacks:
                cb.on_train_begin()
            if saved is not None and self._resume(saved, run.callbacks):
                return self.history
            self.parallel.start(self.model, lambda: run_state.fingerprint(
                self, data, run.val, run.settings, epochs))
            self.budget.started = self.budget.clock()
            self.display.train_begin(epochs, self.epoch, batches)
            while self.epoch < epochs and not self.stop_training:
                if self.budget.limited and not self.parallel.decide(self.budget.allows_batch):
                    self.history.stop_reason = "max_time"
                    break
                self._fit_epoch(data, shuffle, run)
            self._finish(run, metadata)
            return self.history
        finally:
            self.display.train_end()
            self.display = shown
            self.hooks = Hooks(self.callbacks)
            for module, own in borrowed:
                module.rng = own
            self.keyed = self.augment is not None

    def _fit_epoch(self, data: Samples, shuffle: bool, run: _Run) -> None:
        """One epoch of ``fit``: train, evaluate, log, call back, checkpoint."""
        began = time.perf_counter()
        lr = self.optimizer.param_groups[0]["lr"]
        logs = self.train_epoch(data, run.batch_size, shuffle=shuffle)
        self.parallel.average_buffers(self.model)
        trained = time.perf_counter()
        logs.update(self._end_of_epoch_logs(run))
        logs["lr"] = lr
        logs["time"] = time.perf_counter() - began
        self.history.append(self.epoch, logs)
        for cb in run.callbacks:
            cb.on_epoch_end(self.epoch, logs)
        if run.out_dir is not None and self.parallel.is_root:
            run_state.write_checkpoint(run.out_dir, run_state.capture(
                self, run.callbacks, run.settings, run.run_info, finished=False))
        self.budget.end_seconds = time.perf_counter() - trained
        self.display.epoch_end(self.epoch, logs)

    def train_epoch(self, data: Samples, batch_size: int, *, shuffle: bool = True,
                    order: np.ndarray | None = None) -> dict:
        """Train one epoch (number ``self.epoch + 1``) on ``data`` (from :meth:`prepare`):
        the samples in a new random order (or in ``order``, or as they are without
        ``shuffle``), ``batch_size`` at a time, one optimiser step each. Returns the epoch's
        logs: the mean loss over the samples trained on, and the metrics. ``fit`` calls it
        once per epoch; a caller that decides itself when to stop (the playground, the
        scikit-learn estimators) may call it directly.
        """
        self.epoch += 1
        if not self.model.training:
            self.model.train()
        for hook in self.hooks.epoch_begin:
            hook(self.epoch)
        if order is None and shuffle:
            order = self.rng.shuffle.permutation(len(data))
        if order is not None:
            data = data.take(order)  # one gather; every batch is then a view
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        n, keep, budget, parallel = len(data), bool(self.metrics), self.budget, self.parallel
        timed = budget.limited
        show = self.display.batch if self.display.per_batch else None
        total, done, outputs, began = 0.0, 0, None, 0.0
        compute = partial(self._compute, data)
        for b, start in enumerate(range(0, n, batch_size), 1):
            if timed:
                if b > 1 and not parallel.decide(budget.allows_batch):
                    self.stop_training, self.history.stop_reason = True, "max_time"
                    break
                began = time.perf_counter()
            done = min(start + batch_size, n)
            value, pieces = self._step(b, compute, data.weight, start, done, batch_size,
                                       params)
            if timed:
                budget.record_batch(time.perf_counter() - began)
            total += value * (done - start)
            for lo, hi, out in pieces if keep else ():
                if outputs is None:  # zeros: the rows other ranks compute are summed in
                    outputs = np.zeros((n, *out.shape[1:]), host_dtype(out.dtype))
                outputs[lo:hi] = to_host(out.data)
            for hook in self.hooks.batch_end:
                hook(b, value)
            if show is not None:
                show(self.epoch, b, total / done)
        logs = {"loss": total / done}
        if keep:
            outputs = parallel.combine(outputs[:done])
            logs.update(metric_values(self.metrics, data.target[:done], outputs, ""))
        return logs

    def _step(self, batch: int, compute, weight, start: int, stop: int, batch_size: int,
              params) -> tuple:
        """One optimiser step on the batch of rows ``start:stop`` (on every rank); returns
        (the batch's loss, ``[(lo, hi, outputs)]`` for the rows this rank computed)."""
        for hook in self.hooks.batch_begin:
            hook(batch)
        value, pieces = self.parallel.step(compute, params, start, stop, batch_size, weight)
        # The gradients are final here (summed over the ranks): whatever reads or changes
        # them (on_gradients hooks) comes before the guard, clipping, the step.
        for hook in self.hooks.gradients:
            hook(batch)
        if self.clip_norm is not None:
            norm = clip_grad_norm_(params, self.clip_norm)
            finite = math.isfinite(value) and math.isfinite(norm)
        else:
            finite = not self.nan_guard or (math.isfinite(value) and finite_gradients(params))
        if self.nan_guard and not finite:
            inputs, target, weight, rows = self.last_rows
            raise raised_on_every_rank(diverged(  # the same sums, so the same on every rank
                self, batch, inputs, target, weight, value, params,
                rows if self.replay_dropout else None))
        if self.clip_value is not None:
            clip_grad_value_(params, self.clip_value)
        self.optimizer.step()
        self.step += 1
        return value, pieces

    def _compute(self, data: Samples, lo: int, hi: int) -> tuple:
        """Forward and backward on rows ``lo:hi`` of the epoch's order: (their mean loss,
        their outputs). Dropout and augmentation draw for those rows' places."""
        inputs, target, weight = data.batch(lo, hi)
        if self.keyed:
            self.rng.at(self.epoch, lo, hi)
        if self.augment is not None:
            inputs = self.augment(inputs, self.rng.augment)
        inputs, target = on_device(inputs, target, self.device)  # augmented on the host
        self.last_rows = (inputs, target, weight, (self.epoch, lo, hi))
        self.optimizer.zero_grad()
        out = self.model(*inputs)
        return self.objective.backward(out, target, weight), out

    def fraction_done(self) -> float:
        """How far the run is, from 0 to 1: the share of its steps taken or, with a time
        budget, the share of the time used, whichever is larger (what a learning-rate
        schedule over the whole run follows; see ``ProgressSchedule``)."""
        steps = self.step / self.total_steps if self.total_steps else 0.0
        return max(steps, self.budget.fraction())

    # --- data ----------------------------------------------------------------------------

    def prepare(self, X, y, sample_weight=None, *, where: str = "fit") -> Samples:
        """The data as :meth:`train_epoch` takes it, everything checked here once rather
        than per batch: inputs in the model's float dtype (integer ids kept as they are),
        targets typed and shaped for the loss and the model's outputs, weights checked."""
        inputs = as_inputs(X, self._dtype(), where)
        y = np.asarray(y)
        n = inputs[0].shape[0]
        if y.ndim == 0 or len(y) != n:
            raise ValueError(f"{where}: X and y need one row per sample, got shapes "
                             f"{inputs[0].shape} and {y.shape}")
        if n == 0:
            raise ValueError(f"{where}: no samples")
        if self.objective is None:  # infer: integer targets are class labels
            self.objective = resolve_objective(
                "cross_entropy" if y.dtype.kind in "biu" else "mse")
        # One sample through the model: early, clear shape errors.
        out_shape = predict_batches(self.model, tuple(x[:1] for x in inputs), 1).shape
        y = check_target(y, self.objective.name, out_shape, self._dtype(), where)
        weight = check_weight(sample_weight, n, where)
        if weight is not None and not getattr(self.objective, "weighable", True):
            raise ValueError(f"{where}: sample_weight needs a built-in loss (one that gives "
                             f"each sample's loss) or an Objective that weighs samples")
        return Samples(inputs, y, weight)

    def _fit_data(self, X, y, sample_weight, validation_data, validation_split):
        data = self.prepare(X, y, sample_weight)
        if validation_data is not None:
            if validation_split:
                raise ValueError("fit: pass validation_data or validation_split, not both")
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
            return data, self.prepare(*validation_data, where="fit: validation_data")
        if not validation_split:
            return data, None
        fraction = check_float(validation_split, "validation_split", "fit", below=1)
        return split_validation(data, fraction, self.objective.name, self.rng.split_seed)

    def _dtype(self) -> np.dtype:
        return host_dtype(next(iter(self.model.parameters())).dtype)

    # --- evaluation ----------------------------------------------------------------------

    def evaluate(self, X, y, batch_size: int = 1024) -> dict:
        """The loss and the metrics on ``(X, y)``, in eval mode, without a graph."""
        data = self.prepare(X, y, where="evaluate")
        return evaluate(self, data, check_int(batch_size, "batch_size", "evaluate"))

    def predict(self, X, batch_size: int = 1024) -> np.ndarray:
        """The model's raw outputs for ``X`` (logits for classification), in eval mode."""
        inputs = as_inputs(X, self._dtype(), "predict", check_finite=False)
        return predict_batches(self.model, inputs, check_int(batch_size, "batch_size",
                                                             "predict"))

    def _end_of_epoch_logs(self, run: _Run) -> dict:
        """The validation's values (with the training batch size: a larger product would
        wake the BLAS threads, which then slow the small products of the next epoch)."""
        logs = {} if run.val is None else evaluate(self, run.val, run.batch_size, "val_")
        if run.validate is not None:
            was_training = self.model.training
            self.model.eval()
            try:
                logs.update(run.validate(dict(logs)))
            finally:
                self.model.train(was_training)
        return logs

    # --- the run around the loop ---------------------------------------------------------

    def _begin(self, run: _Run, total_steps: int, max_time: float | None) -> tuple:
        """Set up a run: hooks, step count, time budget, the display (silent but on rank 0);
        lend the trainer's dropout generator to dropout layers without their own (to all of
        them in a data-parallel or deterministic run). Returns what to give back after:
        (layer, its generator) pairs and the display."""
        self.hooks = Hooks(run.callbacks)
        self.total_steps = total_steps
        self.budget = Budget(max_time, clock=self.parallel.clock)
        self.stop_training = False
        borrowed = []
        self.replay_dropout = False
        self.model.train()
        for cb in run.callbacks:
            cb.set_trainer(self)
        for module in self.model.modules():
            if isinstance(module, nn.Dropout):
                self.replay_dropout = self.replay_dropout or module.p > 0
                if module.rng is None or not self.parallel.alone:  # (see the docstring)
                    borrowed.append((module, module.rng))
                    module.rng = self.rng.dropout
        self.keyed = bool(borrowed) or self.augment is not None
        shown = self.display
        if not self.parallel.is_root:
            self.display = make_progress("none")
        return borrowed, shown

    def _resume(self, saved: dict, callbacks) -> bool:
        """Restore the saved run; True if it had already finished."""
        run_state.restore(self, saved, callbacks)
        self.display.message(f"resuming from the checkpoint of epoch {self.epoch}")
        if saved.get("finished"):
            self.display.message(f"that run had already finished "
                                 f"({self.history.stop_reason}); nothing to do")
            return True
        return False

    def _finish(self, run: _Run, metadata: dict | None) -> None:
        if self.history.stop_reason is None:
            self.history.stop_reason = "completed" if not self.stop_training else "stopped"
        final = self.history.last()
        for cb in run.callbacks:
            cb.on_train_end(final)
        if run.out_dir is not None and self.parallel.is_root:
            run_state.write_checkpoint(run.out_dir, run_state.capture(
                self, run.callbacks, run.settings, run.run_info, finished=True))
            run_state.write_final(run.out_dir, self, metadata)


class _Run:
    """What one ``fit`` call runs with, beside the data."""

    def __init__(self, callbacks, settings, val, validate, batch_size, out_dir, run_info):
        self.callbacks, self.settings, self.val, self.validate = callbacks, settings, val, validate
        self.batch_size, self.out_dir, self.run_info = batch_size, out_dir, run_info
