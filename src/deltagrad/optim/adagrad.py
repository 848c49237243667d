"""Adagrad: per-coordinate steps shrinking with the sum of all past squared gradients."""

from __future__ import annotations

from typing import ClassVar

from ..backend.shims import out_module
from ._validation import Interval
from .optimizer import Optimizer, ParamsT, state_buffer, with_weight_decay


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011), PyTorch's algorithm. For each parameter, step t:

    .. math::
        g \leftarrow \nabla + \lambda p, \quad
        \tilde\eta = \frac{\eta}{1 + (t - 1)\,\delta}, \quad
        s \leftarrow s + g^2, \quad
        p \leftarrow p - \tilde\eta \, \frac{g}{\sqrt{s} + \epsilon}

    with ``lr_decay`` δ and the buffer ``sum`` s starting at zero.

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step is lr per coordinate
    >>> w.data
    array([ 0.9, -1.9], dtype=float32)
    """

    constraints: ClassVar[dict[str, Interval]] = {
        "lr": Interval(0, None),
        "lr_decay": Interval(0, None),
        "eps": Interval(0, None),
        "weight_decay": Interval(0, None),
    }

    def __init__(self, params: ParamsT, lr: float = 1e-2, eps: float = 1e-10,
                 weight_decay: float = 0.0, lr_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay})

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            hyper = {name: group[name] for name in ("lr", "lr_decay", "eps", "weight_decay")}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                state["step"] = state.get("step", 0) + 1
                adagrad_update(
                    p.data, p.grad, state_buffer(state, "sum", p.data),
                    self._workspace.get(p.data),
                    self._workspace.get(p.data, 1) if hyper["weight_decay"] != 0 else None,
                    step=state["step"], **hyper)
        return loss


def adagrad_update(param, grad, state_sum, work, decay_work, *, step: int, lr: float,
                   lr_decay: float, eps: float, weight_decay: float) -> None:
    """One Adagrad step for one parameter, in place on ``param`` and ``state_sum``; ``step``
    counts from 1; ``work`` and, with weight decay, ``decay_work`` are scratch of its shape.
    """
    xp = out_module(param)  # its functions take out=
    grad = with_weight_decay(param, grad, weight_decay, out=decay_work)
    xp.square(grad, out=work)
    state_sum += work
    xp.sqrt(state_sum, out=work)
    work += eps
    xp.divide(grad, work, out=work)
    work *= -lr / (1 + (step - 1) * lr_decay)
    param += work
