"""The losses as Modules (``nn.CrossEntropyLoss()(logits, target)``), for code written the
PyTorch way; each holds its options and calls the function of the same name in ``F``.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad import nn
>>> nn.MSELoss(reduction="sum")(dg.tensor([1.0, 2.0]), np.array([0.0, 0.0])).item()
5.0
"""

from __future__ import annotations

from . import losses
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        losses._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """``F.mse_loss`` as a module."""

    def forward(self, input, target):
        return losses.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """``F.l1_loss`` as a module."""

    def forward(self, input, target):
        return losses.l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """``F.huber_loss`` as a module."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.delta = delta

    def forward(self, input, target):
        return losses.huber_loss(input, target, delta=self.delta, reduction=self.reduction)


class BCELoss(_Loss):
    """``F.binary_cross_entropy`` (of probabilities) as a module."""

    def forward(self, probs, target):
        return losses.binary_cross_entropy(probs, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``F.binary_cross_entropy_with_logits`` as a module."""

    def forward(self, logits, target):
        return losses.binary_cross_entropy_with_logits(logits, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """``F.cross_entropy`` (softmax cross-entropy from logits) as a module."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, logits, target):
        return losses.cross_entropy(logits, target, label_smoothing=self.label_smoothing,
                                    reduction=self.reduction)


class NLLLoss(_Loss):
    """``F.nll_loss`` (of log-probabilities) as a module."""

    def forward(self, log_probs, target):
        return losses.nll_loss(log_probs, target, reduction=self.reduction)
