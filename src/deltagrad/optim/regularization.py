"""Explicit penalties to add to a loss (the alternative to an optimiser's ``weight_decay``)."""

from __future__ import annotations

from collections.abc import Iterable

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
    Interval(0, None).check("alpha", alpha)
    params = [params] if isinstance(params, Tensor) else list(params)
    total = None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"l2_penalty: expected Tensors, but parameter {i} is a "
                            f"{type(p).__name__}")
        term = (p * p).sum()
        total = term if total is None else total + term
    if total is None:
        return tensor(0.0)
    return total * (alpha / 2)
