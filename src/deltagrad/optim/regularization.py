"""Explicit penalties to add to a loss (the alternative to an optimiser's ``weight_decay``):
``l2_penalty`` (ridge, weight decay) and ``l1_penalty`` (lasso, which drives weights to 0)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..autograd import Tensor, tensor
from ._validation import Interval


def l2_penalty(params: Tensor | Iterable[Tensor], alpha: float) -> Tensor:
    """``alpha / 2 * sum(||p||^2)`` over ``params``, as a differentiable Tensor.

    Its gradient with respect to each ``p`` is ``alpha * p``, so adding it to the loss is
    the same as ``SGD(..., weight_decay=alpha)`` (and as ``Adam``'s L2 ``weight_decay``,
    but not ``AdamW``'s decoupled decay). Unlike ``weight_decay`` it shows up in the loss
    value and can be applied to some tensors only (e.g. weights but not biases).

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> penalty = l2_penalty([w], alpha=0.1)
    >>> penalty.backward()
    >>> w.grad
    array([ 0.1, -0.2], dtype=float32)
    """
    return _penalty("l2_penalty", params, alpha, lambda p: (p * p).sum(), alpha / 2)


def l1_penalty(params: Tensor | Iterable[Tensor], alpha: float) -> Tensor:
    """``alpha * sum(|p|)`` over ``params``, as a differentiable Tensor.

    Its gradient with respect to each ``p`` is ``alpha * sign(p)`` (0 where ``p`` is exactly
    0): every step pulls each weight towards 0 by the same amount whatever its size, so
    weights that do not earn their keep reach 0 and stay near it (a sparse network).

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.5, -2.0, 0.0], requires_grad=True)
    >>> penalty = l1_penalty([w], alpha=0.1)
    >>> round(penalty.item(), 4)
    0.35
    >>> penalty.backward()
    >>> w.grad
    array([ 0.1, -0.1,  0. ], dtype=float32)
    """
    return _penalty("l1_penalty", params, alpha, lambda p: p.abs().sum(), alpha)


def _penalty(where: str, params, alpha: float, term: Callable[[Tensor], Tensor],
             scale: float) -> Tensor:
    """``scale * sum(term(p))`` over ``params``, after checking them and ``alpha``."""
    Interval(0, None).check("alpha", alpha)
    params = [params] if isinstance(params, Tensor) else list(params)
    total = None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: expected Tensors, but parameter {i} is a "
                            f"{type(p).__name__}")
        total = term(p) if total is None else total + term(p)
    if total is None:
        return tensor(0.0)
    return total * scale
