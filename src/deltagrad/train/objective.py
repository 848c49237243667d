"""What a training step minimises, as the loop uses it.

An :class:`Objective` turns a batch's outputs into gradients (``backward``, which returns the
value to log) and, for evaluation, into each sample's loss (``per_sample``). The built-in
losses and any function ``(outputs, targets) -> scalar Tensor`` are wrapped in a
:class:`LossObjective`; a subclass can say more precisely what a step computes (the
scikit-learn estimators' L2 term and reported loss are one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..autograd import arrays
from ..backend import host_dtype, to_device
from ._resolve import resolve_loss


class Objective:
    """Base class. ``name`` is the loss's name (``"cross_entropy"``...), used to check the
    targets of built-in losses; a custom objective keeps ``None`` and gets targets as given."""

    name: str | None = None

    def backward(self, outputs, target, weight: np.ndarray | None) -> float:
        """Accumulate the gradient of the batch's loss into the parameters' ``.grad`` (the
        trainer has zeroed them) and return the batch's loss. ``weight`` (or None) holds the
        batch's sample weights."""
        raise NotImplementedError

    def per_sample(self, outputs, target) -> np.ndarray:
        """Each sample's loss (shape (n,) or (n, d...)), without a graph: evaluation takes
        the mean over all of them."""
        raise NotImplementedError


class LossObjective(Objective):
    """A loss function: ``fn(outputs, target)`` gives the batch's mean loss as a scalar
    Tensor; the built-in ones also take ``reduction="none"``, which sample weights and
    per-sample evaluation use. Weighted, a batch's loss is the weighted mean of its samples'
    losses (weights normalised by their sum in the batch, as scikit-learn does)."""

    def __init__(self, name: str | None, fn: Callable):
        self.name, self.fn = name, fn
        self.weighable = name is not None  # the built-in losses take reduction="none"

    def backward(self, outputs, target, weight):
        if weight is None:
            loss = self.fn(outputs, target)
            loss.backward()
            return float(loss.data)
        total = weight.sum()
        if total == 0:
            return 0.0  # no sample of this batch counts: no gradient, no step
        losses = self.fn(outputs, target, reduction="none")
        share = (weight / (total * (losses.data.size // len(weight)))).astype(
            host_dtype(losses.dtype))
        seed = np.ascontiguousarray(
            np.broadcast_to(share.reshape((-1,) + (1,) * (losses.ndim - 1)), losses.shape))
        seed = to_device(seed, losses.device)  # the weights are on the host
        losses.backward(seed)  # the weighted mean's gradient, without a reduction node
        return float(arrays.sum(losses.data * seed))

    def per_sample(self, outputs, target):
        if self.weighable:
            return self.fn(outputs, target, reduction="none").data
        # A custom loss gives only the batch mean: each sample gets it, so the mean over
        # all samples is the mean of the batch means weighted by batch size.
        return np.full(target.shape[0], float(self.fn(outputs, target).data))


def resolve_objective(loss) -> Objective | None:
    """An :class:`Objective` from a loss name, a function ``(outputs, targets) -> scalar
    Tensor`` or an ``Objective``; None stays None (the trainer picks one from the targets)."""
    if loss is None or isinstance(loss, Objective):
        return loss
    name, fn = resolve_loss(loss)
    return LossObjective(name if isinstance(loss, str) else None, fn)
