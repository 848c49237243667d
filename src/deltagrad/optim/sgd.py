"""Stochastic gradient descent with optional momentum, dampening, Nesterov and L2 decay."""

from __future__ import annotations

from typing import ClassVar

from ..autograd.arrays import astype
from ..backend.shims import out_module
from ._validation import Interval, check_bool
from .optimizer import Optimizer, ParamsT, with_weight_decay


class SGD(Optimizer):
    r"""Stochastic gradient descent, PyTorch's algorithm. For each parameter, every step:

    .. math::
        g &\leftarrow \nabla + \lambda p \\
        b &\leftarrow g \text{ on the first step, else } \mu b + (1 - \tau) g \\
        g &\leftarrow g + \mu b \text{ if nesterov, else } b \quad (\text{when } \mu \ne 0) \\
        p &\leftarrow p - \eta g

    with ``lr`` η, ``momentum`` μ, ``dampening`` τ and ``weight_decay`` λ.

    >>> import deltagrad as dg
    >>> from deltagrad.optim import SGD
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.data
    array([ 0.8, -1.6], dtype=float32)
    """

    constraints: ClassVar[dict[str, Interval]] = {
        "lr": Interval(0, None),
        "momentum": Interval(0, None),
        "dampening": Interval(0, 1),
        "weight_decay": Interval(0, None),
    }

    def __init__(self, params: ParamsT, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, dampening: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "nesterov": nesterov, "weight_decay": weight_decay})

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_bool("nesterov", group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            nesterov, weight_decay = group["nesterov"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {}) if momentum != 0 else {}
                buffer = sgd_update(p.data, p.grad, state.get("momentum_buffer"),
                                    self._workspace.get(p.data), lr=lr, momentum=momentum,
                                    dampening=dampening, nesterov=nesterov,
                                    weight_decay=weight_decay)
                if buffer is not None:
                    state["momentum_buffer"] = buffer
        return loss


def sgd_update(param, grad, momentum_buffer, work, *, lr: float, momentum: float,
               dampening: float, nesterov: bool, weight_decay: float):
    """One SGD step for one parameter, in place on ``param``; ``work`` is scratch space of
    its shape. Returns the momentum buffer: a new one (a copy of the gradient) on the
    first step, ``momentum_buffer`` itself after, ``None`` without momentum.
    """
    xp = out_module(param)  # its functions take out=
    grad = with_weight_decay(param, grad, weight_decay, out=work)
    if momentum == 0:
        xp.multiply(grad, -lr, out=work)
        param += work
        return None
    if momentum_buffer is None:
        momentum_buffer = astype(grad, param.dtype, copy=True)
    else:
        momentum_buffer *= momentum
        if dampening == 0:
            momentum_buffer += grad
        else:  # grad may be ``work`` itself: fine, it is not needed again (no Nesterov here)
            xp.multiply(grad, 1 - dampening, out=work)
            momentum_buffer += work
    if nesterov:  # p -= lr * (g + momentum * b), in two passes so no temporary is needed
        xp.multiply(grad, -lr, out=work)
        param += work
        xp.multiply(momentum_buffer, -lr * momentum, out=work)
    else:
        xp.multiply(momentum_buffer, -lr, out=work)
    param += work
    return momentum_buffer
