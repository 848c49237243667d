"""The argument checks every loss function shares: the reduction, a floating-point input,
a target matching it, integer class indices, and a single sample made a batch of one."""

from __future__ import annotations

import numpy as np

from ..autograd import arrays
from ..autograd.tensor import Tensor, as_tensor
from ..backend import is_array, kind, to_device

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(fname: str, reduction) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{fname}: reduction must be one of 'mean', 'sum', 'none', "
                         f"got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _float_input(fname: str, x, what: str = "input") -> Tensor:
    x = as_tensor(x)
    if kind(x.dtype) != "f":
        raise TypeError(f"{fname}: {what} must be floating point, got dtype {x.dtype}; "
                        f"convert it with .astype(np.float32)")
    return x


def _float_target(fname: str, target, x: Tensor, what: str = "input"):
    """The target as a constant array of ``x``'s dtype (or a Tensor, if it requires grad),
    checked to broadcast to ``x``'s shape without changing it."""
    if isinstance(target, Tensor) and target.requires_grad:
        t = target
    else:
        t = target.data if isinstance(target, Tensor) else target
        t = _on_device_of(x, t)
        if t.dtype != x.dtype:
            t = arrays.astype(t, x.dtype)
    try:
        fits = np.broadcast_shapes(t.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{fname}: target of shape {tuple(t.shape)} does not match {what} of "
                         f"shape {x.shape}; give the target the same shape "
                         f"(for example target.reshape{x.shape})")
    return t


def _class_indices(fname: str, target, logits: Tensor) -> np.ndarray:
    """``target`` checked to be integer class indices of shape (N, d...) for logits
    (N, C, d...), each in [0, C)."""
    t = _on_device_of(logits, target.data if isinstance(target, Tensor) else target)
    expected = logits.shape[:1] + logits.shape[2:]
    if kind(t.dtype) not in "iu":
        raise ValueError(
            f"{fname}: target of shape {t.shape} and dtype {t.dtype} is not integer class "
            f"indices; for logits of shape {logits.shape} give integer indices of shape "
            f"{expected}" + (" or class probabilities of the logits' shape"
                             if fname == "cross_entropy" else ""))
    if t.shape != expected:
        raise ValueError(f"{fname}: target of shape {t.shape} does not match logits of shape "
                         f"{logits.shape}; class indices need shape {expected}")
    num_classes = logits.shape[1]
    if t.size:
        lo, hi = int(arrays.min(t)), int(arrays.max(t))
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{fname}: target holds class index {bad}, but logits of shape "
                             f"{logits.shape} have {num_classes} classes (valid: 0 to "
                             f"{num_classes - 1})")
    return t


def _batched(fname: str, x: Tensor, target):
    """Logits of shape (C,) with one target -> a batch of one; also checks ndim >= 1."""
    if x.ndim == 0:
        raise ValueError(f"{fname}: logits must have a class axis, got a 0-d tensor")
    if x.ndim > 1:
        return x, target, False
    if isinstance(target, Tensor):
        target = target.reshape((1,) + target.shape) if target.requires_grad \
            else arrays.reshape(target.data, (1,) + target.shape)
    else:
        target = _on_device_of(x, target)
        target = arrays.reshape(target, (1,) + target.shape)
    return x.reshape(1, x.shape[0]), target, True


def _on_device_of(x: Tensor, target):
    """A target given as numbers or lists, as an array on ``x``'s device (an array stays as
    it is: one on another device is refused by the loss op, naming both devices)."""
    if is_array(target):
        return np.asarray(target) if isinstance(target, np.generic) else target
    target = np.asarray(target)
    return target if type(x.data) is np.ndarray else to_device(target, x.device)
