"""Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay)."""

from __future__ import annotations

import math
from typing import ClassVar

from ..backend.shims import out_module
from ._validation import Interval
from .optimizer import Optimizer, ParamsT, state_buffer, with_weight_decay


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), PyTorch's algorithm. For each parameter, step t:

    .. math::
        g &\leftarrow \nabla + \lambda p \\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \quad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2 \\
        p &\leftarrow p - \frac{\eta}{1 - \beta_1^t} \cdot
            \frac{m}{\sqrt{v} / \sqrt{1 - \beta_2^t} + \epsilon}

    ``weight_decay`` λ here is L2 regularisation: it joins the gradient and so is scaled
    by Adam's per-coordinate step. For decay that is not, use :class:`AdamW`.

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step moves each coordinate by about lr
    >>> w.data
    array([ 0.9, -1.9], dtype=float32)
    """

    constraints: ClassVar[dict[str, Interval]] = {
        "lr": Interval(0, None),
        "eps": Interval(0, None),
        "weight_decay": Interval(0, None),
    }
    decoupled = False

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    def _check_group(self, group: dict) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Invalid betas value: {betas!r} (betas must be a pair "
                            f"(beta1, beta2))")
        for i, beta in enumerate(betas):
            Interval(0, 1, closed="left").check(f"betas[{i}]", beta)
        group["betas"] = tuple(betas)

    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                state["step"] = state.get("step", 0) + 1
                adam_update(p.data, p.grad, state_buffer(state, "exp_avg", p.data),
                            state_buffer(state, "exp_avg_sq", p.data),
                            self._workspace.get(p.data), step=state["step"], lr=lr,
                            beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                            decoupled=self.decoupled)
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), PyTorch's algorithm.

    Each step first shrinks the parameter, :math:`p \leftarrow p (1 - \eta \lambda)`, then
    takes an Adam step on the plain gradient, so the decay is the same for every
    coordinate however large its gradients.
    """

    decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def adam_update(param, grad, exp_avg, exp_avg_sq, work, *, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, decoupled: bool) -> None:
    """One Adam (``decoupled=False``) or AdamW step for one parameter, in place on ``param``
    and the moment buffers; ``step`` counts from 1 and ``work`` is scratch of its shape.
    """
    xp = out_module(param)  # its functions take out=
    if decoupled:
        if weight_decay != 0:
            param *= 1 - lr * weight_decay
    else:
        grad = with_weight_decay(param, grad, weight_decay, out=work)
    # m <- g + beta1 (m - g), which is beta1 m + (1 - beta1) g without a temporary
    exp_avg -= grad
    exp_avg *= beta1
    exp_avg += grad
    xp.square(grad, out=work)  # grad is not needed after this
    work *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += work
    xp.sqrt(exp_avg_sq, out=work)
    work /= math.sqrt(1 - beta2 ** step)
    work += eps
    xp.divide(exp_avg, work, out=work)
    work *= -lr / (1 - beta1 ** step)
    param += work
