"""The NaN guard: training stops at the first batch whose loss or gradients are NaN or
infinite, before the step that would spoil the weights, with a message that names the epoch,
the batch, the first op that went non-finite and the layer it belongs to.

Per batch the guard costs one sum per gradient (a NaN or an infinity makes the sum
non-finite); only when something looks wrong is the batch re-run under
``dg.detect_anomaly()`` (same weights, same dropout mask) to find where it went wrong.
"""

from __future__ import annotations

import math

from ..autograd import AnomalyError, arrays, detect_anomaly
from ..autograd.anomaly import describe_nonfinite


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


def finite_gradients(params) -> bool:
    """Whether every gradient is finite: one sum per gradient; only a non-finite sum, which
    may be a mere overflow, is looked at closely."""
    for p in params:
        g = p.grad
        if g is not None and not math.isfinite(arrays.sum(g)) and \
                describe_nonfinite(g) is not None:
            return False
    return True


def diverged(trainer, batch: int, inputs: tuple, target, weight, value: float, params,
             rng_state) -> NonFiniteError:
    """The error for a non-finite ``value`` or gradient at ``batch`` of the trainer's epoch:
    re-runs the batch under ``detect_anomaly`` (its dropout masks drawn again for the rows
    ``rng_state`` = (epoch, start, stop) when given) to name the first bad op and its
    layer."""
    model = trainer.model
    names = {id(p): name for name, p in model.named_parameters()}
    if not math.isfinite(value):
        what = f"the loss is {value}"
    else:
        bad = next(p for p in params if p.grad is not None
                   and describe_nonfinite(p.grad) is not None)
        what = (f"the gradient of {names.get(id(bad), 'a parameter')!r} holds "
                f"{describe_nonfinite(bad.grad)}")
    if rng_state is not None:
        trainer.rng.at(*rng_state)
    anomaly = None
    trainer.optimizer.zero_grad()
    try:
        with detect_anomaly():
            trainer.objective.backward(model(*inputs), target, weight)
    except AnomalyError as exc:
        anomaly = exc
    trainer.optimizer.zero_grad()
    if anomaly is not None:
        detail = str(anomaly).removeprefix("detect_anomaly: ")
        layer = {id(m): name for name, m in model.named_modules()}.get(id(anomaly.module))
        if layer:
            detail += f" (layer {layer!r})"
        found = f"; the first non-finite value: {detail}"
    else:
        found = "; re-running the batch under dg.detect_anomaly() found no non-finite op"
    lr = trainer.optimizer.param_groups[0]["lr"]
    epoch = trainer.epoch
    return NonFiniteError(
        f"training diverged at epoch {epoch}, batch {batch}: {what}{found}. The weights "
        f"are those from before this batch; try a smaller learning rate (now {lr:g}), "
        f"gradient clipping, or check the data", epoch=epoch, batch=batch, anomaly=anomaly)
