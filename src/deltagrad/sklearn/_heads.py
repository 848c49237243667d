"""Output heads: the output activation and its matched loss, as scikit-learn pairs them.

=========  ==================  ==============================  ==========================
head       ``out_activation_``  training loss (per sample)       used for
=========  ==================  ==============================  ==========================
softmax    ``"softmax"``        cross-entropy                   multiclass
logistic   ``"logistic"``       Σ_k binary cross-entropy        binary, multilabel
squared    ``"identity"``       ½ Σ_k (y - ŷ)²                  regression
poisson    ``"exp"``            Σ_k (e^z - y z)                 regression, ``loss="poisson"``
=========  ==================  ==============================  ==========================

Each loss is one fused deltagrad op on the logits (three primitives for Poisson), left
unreduced: ``backward`` is seeded with 1/n per sample (or the sample weights over their
sum), so the gradient is scikit-learn's ``(output - y) / n``. :func:`batch_loss` also returns the
value scikit-learn *reports* as ``loss_``, which differs in two places: for several
squared-error outputs scikit-learn averages over the outputs (its gradient does not), and
its Poisson deviance includes the constant Σ y log y - y.
"""

from __future__ import annotations

import numpy as np

from ..nn import functional as F


class Head:
    """Base: ``elementwise`` loss of the logits, its training ``scale``, and what turns
    logits into outputs."""

    out_activation = ""
    scale = 1.0  # training objective = scale * (loss summed over outputs, mean over samples)

    def elementwise(self, z, target):
        """The unreduced loss: shape (n,) for softmax, (n, n_outputs) otherwise."""
        raise NotImplementedError

    def report_scale(self, n_outputs: int) -> float:
        """Factor from the summed-over-outputs data loss to scikit-learn's reported one."""
        return self.scale

    def report_offset(self, target, weight) -> float:
        """A constant of the targets in scikit-learn's reported loss (0 but for Poisson)."""
        return 0.0

    def output(self, z: np.ndarray) -> np.ndarray:
        """The output activation, on float64 logits."""
        return z


class Softmax(Head):
    out_activation = "softmax"

    def elementwise(self, z, target):
        return F.cross_entropy(z, target, reduction="none")

    def output(self, z):
        return np.exp(self.log_output(z))

    @staticmethod
    def log_output(z):
        """log softmax, shifted by the row maximum: exact where softmax underflows."""
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class Logistic(Head):
    out_activation = "logistic"

    def elementwise(self, z, target):
        return F.binary_cross_entropy_with_logits(z, target, reduction="none")

    def output(self, z):
        return np.exp(-np.logaddexp(0.0, -z))  # σ(z) without overflow for any z

    @staticmethod
    def log_output(z):
        """(log σ(z), log(1 - σ(z))) in log space: log σ(z) = -log(1 + e^-z)."""
        return -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)


class Squared(Head):
    out_activation = "identity"
    scale = 0.5

    def elementwise(self, z, target):
        return F.mse_loss(z, target, reduction="none")

    def report_scale(self, n_outputs):
        return 0.5 / n_outputs  # scikit-learn's squared_loss is also a mean over outputs


class Poisson(Head):
    out_activation = "exp"

    def elementwise(self, z, target):
        return z.exp() - z * target  # the half deviance up to a constant of the target

    def report_offset(self, target, weight):
        t = target.astype(np.float64)
        const = (np.where(t > 0, t * np.log(np.where(t > 0, t, 1.0)), 0.0) - t).sum(axis=1)
        return float(np.average(const, weights=weight))

    def output(self, z):
        return np.exp(z)


HEADS = {"softmax": Softmax(), "logistic": Logistic(), "identity": Squared(), "exp": Poisson()}


def batch_loss(head: Head, z, target, weight, n_outputs: int):
    """The training loss of logits ``z`` (a Tensor) on one batch.

    Returns ``(loss, seed, reported, denominator)``: call ``loss.backward(seed)`` for the
    gradient of the training objective; ``reported`` is scikit-learn's loss value without
    the L2 term, and ``denominator`` the batch size or the sum of its sample weights (the
    L2 term is ``alpha / 2 * ||W||² / denominator``). The loss stays unreduced: the mean (or
    the sample weights) enter as the seed of ``backward``, which saves the graph a reduction
    node, forward and backward, on every batch.
    """
    loss = head.elementwise(z, target)
    if weight is None:
        n = z.shape[0]
        seed = np.full(loss.shape, head.scale / n, dtype=z.dtype)
        reported = float(loss.data.sum()) * head.report_scale(n_outputs) / n
        if head.out_activation == "exp":
            reported += head.report_offset(target, None)
        return loss, seed, reported, n
    denominator = float(weight.sum())
    w = (weight / denominator).astype(z.dtype)
    w = w.reshape((-1,) + (1,) * (loss.ndim - 1))
    seed = np.ascontiguousarray(np.broadcast_to(head.scale * w, loss.shape))
    reported = float((loss.data * w).sum()) * head.report_scale(n_outputs)
    if head.out_activation == "exp":
        reported += head.report_offset(target, weight)
    return loss, seed, reported, denominator
