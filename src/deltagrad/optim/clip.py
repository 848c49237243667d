"""Gradient clipping, in place on the parameters' ``.grad`` arrays.

Call between ``loss.backward()`` and ``optimizer.step()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..autograd import Tensor
from ..autograd.arrays import vector_norm
from ..backend.shims import out_module
from ._validation import Interval


def _grads(params) -> list:
    params = [params] if isinstance(params, Tensor) else list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors, but parameter {i} is a {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(params: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; return
    the joint norm before clipping, as PyTorch does.

    The joint norm is the ``norm_type``-norm (``math.inf`` for the largest magnitude) of
    all gradient entries, as if concatenated. When it exceeds ``max_norm`` every gradient
    is multiplied in place by ``max_norm / (norm + 1e-6)``; otherwise none is touched.
    Parameters whose ``.grad`` is ``None`` are skipped (with none, the norm is 0.0).

    A NaN or infinite norm (a gradient holds NaN or inf) is returned as is and the
    gradients are left untouched rather than scaled by NaN or zero: check the result,
    e.g. ``if not math.isfinite(norm): skip this step``.

    >>> import deltagrad as dg
    >>> w = dg.tensor([3.0, 4.0], requires_grad=True)
    >>> w.grad = w.data.copy()
    >>> clip_grad_norm_([w], max_norm=1.0)
    5.0
    >>> w.grad.round(4)
    array([0.6, 0.8], dtype=float32)
    """
    Interval(0, None).check("max_norm", max_norm)
    if norm_type != math.inf:
        Interval(0, None, closed="neither").check("norm_type", norm_type)
    grads = _grads(params)
    if not grads:
        return 0.0
    norms = [float(vector_norm(g, ord=norm_type)) for g in grads]
    if norm_type == math.inf:
        total = max(norms)
    elif norm_type == 2:
        total = math.sqrt(math.fsum(n * n for n in norms))
    else:
        total = math.fsum(n ** norm_type for n in norms) ** (1.0 / norm_type)
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads:
            g *= scale
    return total


def clip_grad_value_(params: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry, in place, into ``[-clip_value, clip_value]``.

    Parameters whose ``.grad`` is ``None`` are skipped; NaN entries stay NaN.

    >>> import deltagrad as dg
    >>> w = dg.tensor([3.0, -0.5], requires_grad=True)
    >>> w.grad = w.data.copy()
    >>> clip_grad_value_([w], 1.0)
    >>> w.grad
    array([ 1. , -0.5], dtype=float32)
    """
    Interval(0, None).check("clip_value", clip_value)
    for g in _grads(params):
        out_module(g).clip(g, -clip_value, clip_value, out=g)
