"""The loss and metrics of a model on checked samples, as the training loop logs them (the
validation after each epoch, ``Trainer.evaluate``), batched and without a graph.

In a run over several ranks each predicts a contiguous share of the batches (so that every
row is computed in the batch it would be in one process) and the results are combined:
the per-sample losses by an exact sum when no metric needs the outputs, else the outputs
themselves, on which every rank then computes the same loss and metrics.
"""

from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..autograd.tensor import as_tensor
from .inference import predict_batches
from .inputs import Samples


def metric_values(metrics, y, outputs, prefix: str) -> dict:
    """``{prefix + name: value}`` of every ``(name, fn)`` in ``metrics``."""
    return {prefix + name: float(fn(y, outputs)) for name, fn in metrics}


def evaluate(trainer, data: Samples, batch_size: int, prefix: str = "") -> dict:
    """``{prefix + "loss": ..., prefix + metric: ...}`` of ``trainer``'s model on ``data``
    (its loss, metrics and ranks)."""
    model, objective, metrics, parallel = (trainer.model, trainer.objective, trainer.metrics,
                                           trainer.parallel)
    lo, hi = parallel.shard(len(data), batch_size)
    inputs, target = data.inputs, data.target
    if (lo, hi) != (0, len(data)):  # (a slice of a sparse matrix is a copy)
        inputs, target = tuple(x[lo:hi] for x in inputs), target[lo:hi]
    if not metrics:  # no outputs kept: memory stays one loss per sample
        losses = predict_batches(model, inputs, batch_size,
                                 transform=lambda out, rows: objective.per_sample(
                                     out, target[rows]))
        return {prefix + "loss": parallel.mean_loss(losses, batch_size)}
    outputs = parallel.gather_rows(predict_batches(model, inputs, batch_size), lo, len(data))
    with no_grad():  # the loss as training computes it, on the kept outputs
        losses = objective.per_sample(as_tensor(outputs), data.target)
    return {prefix + "loss": float(np.mean(losses, dtype=np.float64)),
            **metric_values(metrics, data.target, outputs, prefix)}
