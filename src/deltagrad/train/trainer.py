"""``Trainer``: mini-batch training with validation, metrics, callbacks, a NaN guard, a
progress display, and checkpoints from which an interrupted run resumes exactly.

The batch loop does only what each step needs: forward, loss, backward, a finiteness check
of the loss and gradients (the NaN guard; a sum per gradient), optional clipping, the
optimiser step. Metrics are computed once per epoch from the outputs the loop kept anyway;
callbacks that do nothing per batch cost nothing per batch.

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
import numbers
import os
import time
from pathlib import Path

import numpy as np

from .. import _config, nn
from ..autograd import AnomalyError, detect_anomaly, no_grad
from ..autograd.anomaly import describe_nonfinite
from ..optim import clip_grad_norm_, clip_grad_value_
from ._resolve import CLASSIFICATION_LOSSES, resolve_loss, resolve_metrics, resolve_optimizer
from .callbacks import Callback, overrides
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from .history import History
from .progress import make_progress


class NonFiniteError(FloatingPointError):
    """Training stopped because the loss or a gradient became NaN or infinite.

    The message names the epoch, the batch and (found by re-running the batch under
    ``dg.detect_anomaly()``) the first op whose output or gradient went non-finite, which is
    also ``anomaly`` (an ``AnomalyError``, or None). The weights are those from before the
    bad step.
    """

    def __init__(self, message: str, *, epoch: int, batch: int, anomaly=None):
        super().__init__(message)
        self.epoch, self.batch, self.anomaly = epoch, batch, anomaly


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"fit: {name} must be a positive integer, got {value!r}")
    return int(value)


def _optional_positive(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"Trainer: {name} must be a positive number or None, got {value!r}")
    return float(value)


class Trainer:
    """Trains ``model`` on arrays with mini-batches, as Keras' ``fit``.

    - ``loss``: ``"cross_entropy"`` (integer class labels), ``"bce_with_logits"``, ``"mse"``,
      ``"l1"``, ``"huber"``, or a function ``(outputs, targets) -> scalar Tensor``; None picks
      cross-entropy for integer targets and MSE otherwise.
    - ``optimizer``: a name (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, ``"adagrad"``,
      built with ``lr`` and ``weight_decay`` when given) or an ``Optimizer``.
    - ``metrics``: names (``"accuracy"``, ``"precision"``, ``"recall"``, ``"f1"`` (macro),
      ``"log_loss"``, ``"mse"``, ``"rmse"``, ``"mae"``, ``"r2"``) or functions
      ``(y_true, outputs) -> float``; logged each epoch for the training data (as seen during
      the epoch) and, with ``val_`` in front, for the validation data.
    - ``clip_norm`` / ``clip_value``: gradient clipping before every step.
    - ``nan_guard``: stop with ``NonFiniteError`` naming the epoch, batch and first bad op as
      soon as the loss or a gradient is NaN or infinite (before the step that would spoil
      the weights).
    - ``seed``: seeds the shuffling and the dropout masks (dropout layers without their own
      generator draw from the trainer's while it trains); None takes a seed from the global
      generator (``dg.manual_seed``).
    - ``progress``: ``"auto"`` (a live bar on a terminal, one line per epoch otherwise),
      ``"bar"``, ``"plain"`` or ``"none"``, written to ``stream`` (standard error).
    """

    def __init__(self, model: nn.Module, loss=None, optimizer="adam", *, lr: float | None = None,
                 weight_decay: float | None = None, metrics=(), callbacks=(),
                 clip_norm: float | None = None, clip_value: float | None = None,
                 nan_guard: bool = True, seed: int | None = None, progress="auto",
                 stream=None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer: model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        self.loss_name, self.loss_fn = resolve_loss(loss)
        self.optimizer = resolve_optimizer(optimizer, model, lr, weight_decay)
        self.metrics = resolve_metrics(metrics)
        self.callbacks = _check_callbacks(callbacks)
        self.clip_norm = _optional_positive(clip_norm, "clip_norm")
        self.clip_value = _optional_positive(clip_value, "clip_value")
        self.nan_guard = bool(nan_guard)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise ValueError(f"Trainer: seed must be a non-negative int or None, got {seed!r}")
        entropy = int(seed) if seed is not None else int(_config.default_rng().integers(2 ** 63))
        sequence = np.random.SeedSequence(entropy)
        self._split_seed = int(sequence.generate_state(1)[0])
        self.shuffle_rng, self.dropout_rng = (np.random.default_rng(s)
                                              for s in sequence.spawn(2))
        self.progress = make_progress(progress, stream)
        self.history = History()
        self.stop_training = False
        self.epoch = 0

    # --- data ----------------------------------------------------------------------------

    def _dtype(self) -> np.dtype:
        return next(iter(self.model.parameters())).dtype

    def _prepare(self, X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Arrays as the loop wants them: X in the model's float dtype, y shaped and typed
        for the loss; everything checked once here rather than per batch."""
        X, y = np.asarray(X), np.asarray(y)
        if X.ndim == 0 or y.ndim == 0 or len(X) != len(y):
            raise ValueError(f"{what}: X and y need one row per sample, got shapes {X.shape} "
                             f"and {y.shape}")
        if len(X) == 0:
            raise ValueError(f"{what}: no samples")
        if X.dtype.kind in "fc" or X.dtype.kind == "O":
            X = np.ascontiguousarray(X, dtype=self._dtype())
            if not np.isfinite(X).all():
                row = int(np.argwhere(~np.isfinite(X))[0][0])
                raise ValueError(f"{what}: X holds NaN or infinite values (row {row})")
        elif X.dtype.kind not in "biu":
            raise TypeError(f"{what}: X must hold numbers, got dtype {X.dtype}")
        if self.loss_fn is None:  # infer: integer targets are class labels
            self.loss_name, self.loss_fn = resolve_loss(
                "cross_entropy" if y.dtype.kind in "biu" else "mse")
        with no_grad():  # one sample through the model: early, clear shape errors
            was_training = self.model.training
            out = self.model.eval()(X[:1])
            self.model.train(was_training)
        out_shape = tuple(out.shape)
        if self.loss_name == "cross_entropy" and y.dtype.kind != "f":
            # Outputs (n, C) with labels (n,), or (n, C, d...) with labels (n, d...).
            if y.dtype.kind not in "biu" or len(out_shape) < 2 or y.shape[1:] != out_shape[2:]:
                raise ValueError(f"{what}: cross_entropy needs integer class labels of shape "
                                 f"(n, {', '.join(map(str, out_shape[2:]))}) for outputs of "
                                 f"shape (n, {', '.join(map(str, out_shape[1:]))}), got y of "
                                 f"shape {y.shape} and dtype {y.dtype}".replace(", )", ",)"))
            n_classes = out_shape[1]
            if y.min() < 0 or y.max() >= n_classes:
                raise ValueError(f"{what}: y holds classes {int(y.min())}..{int(y.max())} but "
                                 f"the model outputs {n_classes} scores per sample")
            y = y.astype(np.int64, copy=False)
        elif self.loss_name in LOSS_WITH_FLOAT_TARGET:
            if y.dtype.kind not in "biuf":
                raise TypeError(f"{what}: y must hold numbers, got dtype {y.dtype}")
            y = y.astype(self._dtype(), copy=False)
            if not np.isfinite(y).all():
                raise ValueError(f"{what}: y holds NaN or infinite values")
            if y.ndim == 1 and len(out_shape) == 2 and out_shape[1] == 1:
                y = y[:, None]  # (n,) against outputs (n, 1) would broadcast to (n, n)
            if y.shape[1:] != out_shape[1:]:
                raise ValueError(f"{what}: y has shape {y.shape} but the model outputs "
                                 f"{out_shape[1:]} per sample")
        return X, y

    # --- training ------------------------------------------------------------------------

    def fit(self, X, y, *, epochs: int = 10, batch_size: int = 32, validation_data=None,
            validation_split: float = 0.0, shuffle: bool = True, callbacks=(),
            out_dir: str | os.PathLike | None = None, resume: bool | str = False,
            metadata: dict | None = None, run_info: dict | None = None) -> History:
        """Train for ``epochs`` epochs (counted from 1); return the ``History``.

        Validation: ``validation_data=(X_val, y_val)``, or ``validation_split`` (a fraction
        of ``X``, drawn with the trainer's seed, stratified for classification).

        With ``out_dir`` a checkpoint (``checkpoint.safetensors``: weights, optimiser,
        callbacks, random generators, history) is written atomically after every epoch, and
        at the end the model folder (``dg.save``, with ``metadata`` and the history) and
        ``history.json``. ``resume=True`` continues from that checkpoint exactly, as if the
        run had never stopped; ``resume="auto"`` does so if there is one. Without it an
        ``out_dir`` holding a checkpoint is refused, so a finished run is never overwritten
        by accident. ``run_info`` (JSON data) is kept in the checkpoint for the caller.
        """
        epochs = _positive_int(epochs, "epochs")
        batch_size = _positive_int(batch_size, "batch_size")
        X, y = self._prepare(X, y, "fit")
        val = self._validation(X, y, validation_data, validation_split)
        if val is not None and validation_data is None:
            X, y, val = val
        callbacks = self.callbacks + _check_callbacks(callbacks)
        state = self._open_out_dir(out_dir, resume, batch_size, shuffle)
        for cb in callbacks:
            cb.set_trainer(self)
        keep_outputs = bool(self.metrics)
        borrowed = self._lend_dropout_rng()
        self.model.train()
        self.stop_training = False
        n_batches = math.ceil(len(X) / batch_size)
        try:
            for cb in callbacks:
                cb.on_train_begin()
            if state is not None:
                self._restore(state, callbacks)
                self.progress.message(f"resuming from the checkpoint of epoch {self.epoch}")
                if state.get("finished"):
                    self.progress.message(f"that run had already finished "
                                          f"({self.history.stop_reason}); nothing to do")
                    return self.history
            start = self.epoch
            self.progress.train_begin(epochs, start, n_batches)
            epoch_hooks = [cb for cb in callbacks if overrides(cb, "on_epoch_begin")]
            batch_hooks = [cb.on_batch_end for cb in callbacks if overrides(cb, "on_batch_end")]
            for epoch in range(start + 1, epochs + 1):
                self.epoch = epoch
                began = time.perf_counter()
                for cb in epoch_hooks:
                    cb.on_epoch_begin(epoch)
                lr = self.optimizer.param_groups[0]["lr"]
                logs = self._train_epoch(epoch, X, y, batch_size, shuffle, keep_outputs,
                                         batch_hooks)
                if val is not None:
                    # The training batch size, not a larger one: a big product wakes the BLAS
                    # threads, which then slow the small products of the next epoch.
                    logs.update(self._evaluate(*val, batch_size, prefix="val_"))
                logs["lr"] = lr
                logs["time"] = time.perf_counter() - began
                self.history.append(epoch, logs)
                for cb in callbacks:
                    cb.on_epoch_end(epoch, logs)
                if out_dir is not None:
                    self._checkpoint(out_dir, callbacks, batch_size, shuffle, run_info, False)
                self.progress.epoch_end(epoch, logs)
                if self.stop_training:
                    break
            if self.history.stop_reason is None:
                self.history.stop_reason = "completed" if not self.stop_training else "stopped"
            final = self.history.last()
            for cb in callbacks:
                cb.on_train_end(final)
            if out_dir is not None:
                self._finish(out_dir, callbacks, batch_size, shuffle, run_info, metadata)
            return self.history
        finally:
            self.progress.train_end()
            for module in borrowed:
                module.rng = None

    def _train_epoch(self, epoch, X, y, batch_size, shuffle, keep_outputs, batch_hooks) -> dict:
        n = len(X)
        if shuffle:
            order = self.shuffle_rng.permutation(n)
            X, y = X[order], y[order]  # one gather; each batch is then a view
        model, loss_fn, optimizer = self.model, self.loss_fn, self.optimizer
        params = [p for group in optimizer.param_groups for p in group["params"]]
        guard, clip_norm, clip_value = self.nan_guard, self.clip_norm, self.clip_value
        replay = guard and self._has_dropout
        show = self.progress.batch if self.progress.per_batch else None
        total, outputs, rng_state = 0.0, [], None
        for b, start in enumerate(range(0, n, batch_size), 1):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            if replay:
                rng_state = self.dropout_rng.bit_generator.state
            out = model(xb)
            loss = loss_fn(out, yb)
            optimizer.zero_grad()
            loss.backward()
            value = float(loss.data)
            if clip_norm is not None:
                norm = clip_grad_norm_(params, clip_norm)
                if guard and not (math.isfinite(value) and math.isfinite(norm)):
                    self._diverged(epoch, b, xb, yb, value, params, rng_state)
            elif guard and not (math.isfinite(value) and _finite(params)):
                self._diverged(epoch, b, xb, yb, value, params, rng_state)
            if clip_value is not None:
                clip_grad_value_(params, clip_value)
            optimizer.step()
            total += value * len(xb)
            if keep_outputs:
                outputs.append(out.data)
            for hook in batch_hooks:
                hook(b, value)
            if show is not None:
                show(epoch, b, total / min(n, start + batch_size))
        logs = {"loss": total / n}
        if keep_outputs:
            logs.update(self._metrics(y, np.concatenate(outputs), ""))
        return logs

    def _metrics(self, y, outputs, prefix: str) -> dict:
        return {prefix + name: float(fn(y, outputs)) for name, fn in self.metrics}

    def _diverged(self, epoch, batch, xb, yb, value, params, rng_state):
        """Re-run the bad batch under ``detect_anomaly`` (same weights, same dropout mask) to
        find the first op that went non-finite, then raise ``NonFiniteError``."""
        names = {id(p): name for name, p in self.model.named_parameters()}
        if not math.isfinite(value):
            what = f"the loss is {value}"
        else:
            bad = next(p for p in params if p.grad is not None
                       and describe_nonfinite(p.grad) is not None)
            what = (f"the gradient of {names.get(id(bad), 'a parameter')!r} holds "
                    f"{describe_nonfinite(bad.grad)}")
        if rng_state is not None:
            self.dropout_rng.bit_generator.state = rng_state
        anomaly = None
        self.optimizer.zero_grad()
        try:
            with detect_anomaly():
                self.loss_fn(self.model(xb), yb).backward()
        except AnomalyError as exc:
            anomaly = exc
        self.optimizer.zero_grad()
        if anomaly is not None:
            detail = str(anomaly).removeprefix("detect_anomaly: ")
            layer = {id(m): name for name, m in self.model.named_modules()}.get(
                id(anomaly.module))
            if layer:
                detail += f" (layer {layer!r})"
            found = f"; the first non-finite value: {detail}"
        else:
            found = "; re-running the batch under dg.detect_anomaly() found no non-finite op"
        lr = self.optimizer.param_groups[0]["lr"]
        raise NonFiniteError(
            f"training diverged at epoch {epoch}, batch {batch}: {what}{found}. The weights "
            f"are those from before this batch; try a smaller learning rate (now {lr:g}), "
            f"gradient clipping, or check the data", epoch=epoch, batch=batch, anomaly=anomaly)

    # --- evaluation ----------------------------------------------------------------------

    def _evaluate(self, X, y, batch_size: int, prefix: str = "") -> dict:
        outputs = self._predict(X, batch_size)
        total = 0.0
        with no_grad():
            for start in range(0, len(X), batch_size):
                out, yb = outputs[start:start + batch_size], y[start:start + batch_size]
                total += float(self.loss_fn(out, yb).data) * len(yb)
        return {prefix + "loss": total / len(X), **self._metrics(y, outputs, prefix)}

    def _predict(self, X, batch_size: int) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            with no_grad():
                parts = [self.model(X[start:start + batch_size]).data
                         for start in range(0, len(X), batch_size)]
        finally:
            self.model.train(was_training)
        return np.concatenate(parts)

    def evaluate(self, X, y, batch_size: int = 1024) -> dict:
        """The loss and the metrics on ``(X, y)``, in eval mode, without a graph."""
        X, y = self._prepare(X, y, "evaluate")
        return self._evaluate(X, y, _positive_int(batch_size, "batch_size"))

    def predict(self, X, batch_size: int = 1024) -> np.ndarray:
        """The model's raw outputs for ``X`` (logits for classification), in eval mode."""
        X = np.asarray(X)
        if X.dtype.kind == "f" and X.dtype != self._dtype():
            X = X.astype(self._dtype())
        return self._predict(X, _positive_int(batch_size, "batch_size"))

    # --- validation data -----------------------------------------------------------------

    def _validation(self, X, y, validation_data, validation_split):
        if validation_data is not None:
            if validation_split:
                raise ValueError("fit: pass validation_data or validation_split, not both")
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (X_val, y_val)")
            return self._prepare(*validation_data, "fit: validation_data")
        if not validation_split:
            return None
        from ..data.split import train_val_test_split

        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
                or not 0 < validation_split < 1:
            raise ValueError(f"fit: validation_split must lie in (0, 1), got "
                             f"{validation_split!r}")
        stratify = self.loss_name in CLASSIFICATION_LOSSES and y.ndim == 1
        split = train_val_test_split(X, y, val_fraction=float(validation_split),
                                     test_fraction=0.0, stratify=stratify,
                                     seed=self._split_seed)
        return split.X_train, split.y_train, (split.X_val, split.y_val)

    # --- random generators ---------------------------------------------------------------

    def _lend_dropout_rng(self) -> list:
        """Point dropout layers without a generator of their own at the trainer's (undone
        after fit), so a seed fixes the masks and a checkpoint can hold their state."""
        borrowed = []
        self._has_dropout = False
        for module in self.model.modules():
            if isinstance(module, nn.Dropout):
                self._has_dropout = self._has_dropout or module.p > 0
                if module.rng is None:
                    module.rng = self.dropout_rng
                    borrowed.append(module)
        return borrowed

    def _rng_states(self) -> dict:
        own = {name: m.rng.bit_generator.state for name, m in self.model.named_modules()
               if isinstance(getattr(m, "rng", None), np.random.Generator)
               and m.rng is not self.dropout_rng}
        return {"shuffle": self.shuffle_rng.bit_generator.state,
                "dropout": self.dropout_rng.bit_generator.state,
                "global": _config.default_rng().bit_generator.state, "modules": own}

    def _set_rng_states(self, states: dict) -> None:
        self.shuffle_rng.bit_generator.state = states["shuffle"]
        self.dropout_rng.bit_generator.state = states["dropout"]
        _config.default_rng().bit_generator.state = states["global"]
        modules = dict(self.model.named_modules())
        for name, state in states["modules"].items():
            module = modules.get(name)
            if module is None or not isinstance(getattr(module, "rng", None),
                                                np.random.Generator):
                raise ValueError(f"the checkpoint holds a random generator for module "
                                 f"{name!r}, which this model lacks")
            module.rng.bit_generator.state = state

    # --- checkpoints ---------------------------------------------------------------------

    def _open_out_dir(self, out_dir, resume, batch_size, shuffle) -> dict | None:
        if resume not in (False, True, "auto"):
            raise ValueError(f"fit: resume must be False, True or 'auto', got {resume!r}")
        if out_dir is None:
            if resume:
                raise ValueError("fit: resume needs the out_dir of the run to continue")
            return None
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"fit: out_dir {out} exists and is not a folder")
        path = out / CHECKPOINT
        if not path.exists():
            if resume is True:
                raise ValueError(f"fit: nothing to resume: {path} does not exist")
            out.mkdir(parents=True, exist_ok=True)
            return None
        if not resume:
            raise ValueError(f"fit: {out} already holds a training run ({CHECKPOINT}); pass "
                             f"resume=True to continue it, or choose another out_dir")
        state = load_checkpoint(path)
        saved = state.get("fit", {})
        for name, value in (("batch_size", batch_size), ("shuffle", shuffle)):
            if saved.get(name) != value:
                raise ValueError(f"fit: the run in {out} used {name}={saved.get(name)!r}, "
                                 f"not {value!r}; resume it with the same settings")
        return state

    def _state(self, callbacks, batch_size, shuffle, run_info, finished) -> dict:
        return {
            "epoch": self.epoch, "finished": finished,
            "fit": {"batch_size": batch_size, "shuffle": shuffle},
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "callbacks": [{"class": type(cb).__name__, "state": cb.state_dict()}
                          for cb in callbacks],
            "rng": self._rng_states(),
            "history": self.history.to_dict(),
            "run": run_info,
        }

    def _checkpoint(self, out_dir, callbacks, batch_size, shuffle, run_info, finished):
        save_checkpoint(Path(out_dir) / CHECKPOINT,
                        self._state(callbacks, batch_size, shuffle, run_info, finished))

    def _restore(self, state: dict, callbacks) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            saved = [entry["class"] for entry in state["callbacks"]]
            have = [type(cb).__name__ for cb in callbacks]
            if saved != have:
                raise ValueError(f"the run was made with callbacks {saved}, this one has {have}")
            for cb, entry in zip(callbacks, state["callbacks"]):
                cb.load_state_dict(entry["state"])
            self._set_rng_states(state["rng"])
            self.history = History.from_dict(state["history"])
            self.epoch = int(state["epoch"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"fit: the checkpoint lacks or garbles {exc}") from None
        except ValueError as exc:
            raise ValueError(f"fit: can not resume from the checkpoint: {exc}") from None

    def _finish(self, out_dir, callbacks, batch_size, shuffle, run_info, metadata) -> None:
        from ..io import atomic_write_text, save
        from ..io.jsonio import dumps

        self._checkpoint(out_dir, callbacks, batch_size, shuffle, run_info, True)
        save(self.model, out_dir, {**(metadata or {}), "history": self.history.to_dict()})
        atomic_write_text(Path(out_dir) / "history.json",
                          dumps(self.history.to_dict(), "history") + "\n")


LOSS_WITH_FLOAT_TARGET = ("bce_with_logits", "mse", "l1", "huber")


def _finite(params) -> bool:
    """Whether every gradient is finite: one sum per gradient (NaN and inf make the sum
    non-finite); only a non-finite sum, which may be a mere overflow, is looked at closely."""
    for p in params:
        g = p.grad
        if g is not None and not math.isfinite(g.sum()) and describe_nonfinite(g) is not None:
            return False
    return True


def _check_callbacks(callbacks) -> list:
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
    return callbacks
