"""RMSprop: divide each gradient by a running root-mean-square of its recent values."""

from __future__ import annotations

from typing import ClassVar

from ..backend.shims import out_module
from ._validation import Interval, check_bool
from .optimizer import Optimizer, ParamsT, state_buffer, with_weight_decay


class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012), PyTorch's algorithm. For each parameter, every step:

    .. math::
        g &\leftarrow \nabla + \lambda p, \quad v \leftarrow \alpha v + (1 - \alpha) g^2 \\
        \bar g &\leftarrow \alpha \bar g + (1 - \alpha) g, \quad
        \tilde v \leftarrow v - \bar g^2 \text{ if centered, else } \tilde v \leftarrow v \\
        b &\leftarrow \mu b + g / (\sqrt{\tilde v} + \epsilon), \quad p \leftarrow p - \eta b
        \quad (\text{without momentum: } p \leftarrow p - \eta g / (\sqrt{\tilde v} + \epsilon))

    with buffers ``square_avg`` v, ``grad_avg`` ḡ (centered only) and
    ``momentum_buffer`` b (momentum only), all starting at zero.

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.01, alpha=0.99)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step is lr / sqrt(1 - alpha) = 0.1 per coordinate
    >>> w.data.round(4)
    array([ 0.9, -1.9], dtype=float32)
    """

    constraints: ClassVar[dict[str, Interval]] = {
        "lr": Interval(0, None),
        "alpha": Interval(0, 1),
        "eps": Interval(0, None),
        "momentum": Interval(0, None),
        "weight_decay": Interval(0, None),
    }

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0, centered: bool = False):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "momentum": momentum,
                                  "weight_decay": weight_decay, "centered": centered})

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        check_bool("centered", group["centered"])

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            hyper = {name: group[name] for name in
                     ("lr", "alpha", "eps", "momentum", "weight_decay")}
            centered, momentum = group["centered"], group["momentum"]
            decay = group["weight_decay"] != 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                data, state = p.data, self.state.setdefault(p, {})
                state["step"] = state.get("step", 0) + 1
                rmsprop_update(
                    data, p.grad, state_buffer(state, "square_avg", data),
                    state_buffer(state, "grad_avg", data) if centered else None,
                    state_buffer(state, "momentum_buffer", data) if momentum > 0 else None,
                    self._workspace.get(data), self._workspace.get(data, 1) if decay else None,
                    **hyper)
        return loss


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, work, decay_work, *,
                   lr: float, alpha: float, eps: float, momentum: float,
                   weight_decay: float) -> None:
    """One RMSprop step for one parameter, in place on ``param`` and the buffers.

    ``grad_avg`` is given when centered, ``momentum_buffer`` when momentum > 0 (else
    ``None``); ``work`` and, with weight decay, ``decay_work`` are scratch of its shape.
    """
    xp = out_module(param)  # its functions take out=
    grad = with_weight_decay(param, grad, weight_decay, out=decay_work)
    xp.square(grad, out=work)
    work *= 1 - alpha
    square_avg *= alpha
    square_avg += work
    if grad_avg is not None:
        grad_avg -= grad  # grad_avg <- g + alpha (grad_avg - g), with no temporary
        grad_avg *= alpha
        grad_avg += grad
        xp.square(grad_avg, out=work)
        xp.subtract(square_avg, work, out=work)
        xp.sqrt(work, out=work)
    else:
        xp.sqrt(square_avg, out=work)
    work += eps
    xp.divide(grad, work, out=work)
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += work
        xp.multiply(momentum_buffer, -lr, out=work)
    else:
        work *= -lr
    param += work
