"""Turning the names a user passes to ``Trainer`` (``loss="cross_entropy"``,
``optimizer="adam"``, ``metrics=["accuracy"]``) into the functions and objects they name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import optim
from ..nn import functional as F
from . import metrics as M

LOSSES: dict[str, Callable] = {
    "cross_entropy": F.cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
}
CLASSIFICATION_LOSSES = ("cross_entropy", "bce_with_logits")

OPTIMIZERS = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD,
              "rmsprop": optim.RMSprop, "adagrad": optim.Adagrad}
_DEFAULT_LR = {"sgd": 0.01}  # SGD has no default rate; the others use their class default


def resolve_loss(loss) -> tuple[str | None, Callable | None]:
    """(name, function) for a loss name or a callable ``(outputs, targets) -> Tensor``."""
    if loss is None:
        return None, None
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"Trainer: unknown loss {loss!r}; choose one of {list(LOSSES)} or "
                             f"pass a function (outputs, targets) -> scalar Tensor")
        return loss, LOSSES[loss]
    if callable(loss):
        return getattr(loss, "__name__", type(loss).__name__), loss
    raise TypeError(f"Trainer: loss must be a name or a callable, got {type(loss).__name__}")


def resolve_optimizer(optimizer, model, lr, weight_decay) -> optim.Optimizer:
    if isinstance(optimizer, optim.Optimizer):
        if lr is not None or weight_decay is not None:
            raise ValueError("Trainer: lr and weight_decay apply to an optimizer given by "
                             "name; set them on the Optimizer you passed instead")
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(f"Trainer: optimizer must be a name ({', '.join(OPTIMIZERS)}) or an "
                        f"Optimizer, got {type(optimizer).__name__}")
    key = optimizer.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"Trainer: unknown optimizer {optimizer!r}; choose one of "
                         f"{', '.join(OPTIMIZERS)}")
    options = {}
    if lr is not None or key in _DEFAULT_LR:
        options["lr"] = _DEFAULT_LR.get(key) if lr is None else lr
    if weight_decay is not None:
        options["weight_decay"] = weight_decay
    params = list(model.parameters())
    if not params:
        raise ValueError("Trainer: the model has no parameters to train")
    return OPTIMIZERS[key](params, **options)


# --- metrics: each takes (targets, outputs) as the trainer holds them --------------------------


def predicted_labels(outputs: np.ndarray) -> np.ndarray:
    """Class indices from model outputs, flattened: the argmax over the class axis (1) of
    several scores, or ``logit > 0`` for one (binary with ``bce_with_logits``)."""
    if outputs.ndim >= 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1).reshape(-1)
    return (outputs.reshape(-1) > 0).astype(np.int64)


def _true_labels(y: np.ndarray) -> np.ndarray:
    y = y.reshape(-1)
    return y.astype(np.int64) if y.dtype.kind == "f" else y


def _log_loss(y, out):
    if out.ndim >= 2 and out.shape[1] > 1:  # class axis last, one row per label
        scores = np.moveaxis(out, 1, -1).reshape(-1, out.shape[1])
    else:
        scores = out.reshape(-1)
    return M.log_loss(_true_labels(y), scores, from_logits=True)


METRICS: dict[str, Callable] = {
    "accuracy": lambda y, out: M.accuracy(_true_labels(y), predicted_labels(out)),
    "precision": lambda y, out: M.precision(_true_labels(y), predicted_labels(out)),
    "recall": lambda y, out: M.recall(_true_labels(y), predicted_labels(out)),
    "f1": lambda y, out: M.f1(_true_labels(y), predicted_labels(out)),
    "log_loss": _log_loss,
    "mse": lambda y, out: M.mse(y, out.reshape(y.shape)),
    "rmse": lambda y, out: M.rmse(y, out.reshape(y.shape)),
    "mae": lambda y, out: M.mae(y, out.reshape(y.shape)),
    "r2": lambda y, out: M.r2(y, out.reshape(y.shape)),
}


def resolve_metrics(metrics) -> list[tuple[str, Callable]]:
    """[(name, fn(targets, outputs) -> float)] from names, callables, or a dict of them."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, dict)) or callable(metrics):
        metrics = [metrics] if not isinstance(metrics, dict) else list(metrics.items())
    resolved = []
    for item in metrics:
        name, fn = item if isinstance(item, tuple) else (None, item)
        if isinstance(fn, str):
            if fn not in METRICS:
                raise ValueError(f"Trainer: unknown metric {fn!r}; choose from "
                                 f"{list(METRICS)} or pass a function (y_true, outputs)")
            name, fn = name or fn, METRICS[fn]
        elif not callable(fn):
            raise TypeError(f"Trainer: a metric must be a name or a callable, got "
                            f"{type(fn).__name__}")
        name = name or getattr(fn, "__name__", "metric")
        if name in ("loss", "lr", "time") or any(name == n for n, _ in resolved):
            raise ValueError(f"Trainer: metric name {name!r} is taken")
        resolved.append((name, fn))
    return resolved
