"""Learning-rate schedules: call ``.step()`` after each epoch (or batch), as in PyTorch.

Every schedule but ``ReduceLROnPlateau`` is a closed form of the group's initial
learning rate and the number of steps taken, so it never drifts and a checkpoint needs
only the step count. One schedule drives an optimiser at a time: each ``step()`` sets
the groups' ``lr`` outright.

>>> import deltagrad as dg
>>> from deltagrad.optim import SGD
>>> from deltagrad.optim.lr_scheduler import StepLR
>>> opt = SGD([dg.tensor([1.0], requires_grad=True)], lr=1.0)
>>> sched = StepLR(opt, step_size=2, gamma=0.5)
>>> for epoch in range(4):
...     # ... train one epoch with opt ...
...     sched.step()
>>> sched.get_last_lr()
[0.25]
"""

from __future__ import annotations

import math

from ._validation import Interval, check_option
from .optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR", "ExponentialLR", "InverseTimeLR", "LRScheduler", "LinearWarmup",
    "ReduceLROnPlateau", "StepLR",
]


def _check_optimizer(scheduler, optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(scheduler).__name__}: expected an Optimizer, got "
                        f"{type(optimizer).__name__}")


class LRScheduler:
    """Base of the closed-form schedules: each group's ``lr`` is ``lr_at(base_lr, epoch)``,
    with ``base_lr`` the group's ``lr`` when the scheduler was made and ``epoch`` the
    number of ``step()`` calls so far (``last_epoch``). Making one sets epoch 0's rate.
    """

    #: the constructor's arguments, saved by ``state_dict``
    hyperparameters: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer):
        _check_optimizer(self, optimizer)
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, epoch) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch (or batch) and set each group's ``lr``."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group as last set by this scheduler."""
        return list(self._last_lr)

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise ValueError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter "
                             f"groups but the scheduler was made for {len(self.base_lrs)}")
        self._last_lr = [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]
        for group, lr in zip(groups, self._last_lr):
            group["lr"] = lr

    def state_dict(self) -> dict:
        """``last_epoch``, ``base_lrs`` and the hyperparameters, as plain numbers and lists."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                **{name: getattr(self, name) for name in self.hyperparameters}}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()`` and set the groups' ``lr`` to the restored epoch's,
        so a resumed run trains at the right rate whichever of optimiser and scheduler
        is loaded first.
        """
        missing = {"last_epoch", "base_lrs", *self.hyperparameters} - state_dict.keys()
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing entries "
                             f"{sorted(missing)}")
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state dict has "
                             f"{len(state_dict['base_lrs'])} learning rates but the optimizer "
                             f"has {len(self.optimizer.param_groups)} parameter groups")
        for name in self.hyperparameters:
            setattr(self, name, state_dict[name])
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = state_dict["last_epoch"]
        self._apply()

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.hyperparameters)
        return f"{type(self).__name__}({args}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """``lr = lr0 * gamma ** (epoch // step_size)``: decay by ``gamma`` every ``step_size``."""

    hyperparameters = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        Interval(1, None, integer=True).check("step_size", step_size)
        Interval(0, None, closed="neither").check("gamma", gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr = lr0 * gamma ** epoch``."""

    hyperparameters = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float):
        Interval(0, None, closed="neither").check("gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    PyTorch's closed form: from ``lr0`` down to ``eta_min`` over ``T_max`` steps, then
    back up over the next ``T_max`` (a period of ``2 * T_max``), never restarting abruptly.
    """

    hyperparameters = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        Interval(1, None, integer=True).check("T_max", T_max)
        Interval(0, None).check("eta_min", eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


class InverseTimeLR(LRScheduler):
    """scikit-learn's ``learning_rate="invscaling"``: ``lr = lr0 / (t + 1) ** power_t``.

    ``t`` counts plain ``step()`` calls; ``step(t)`` sets it outright (scikit-learn passes
    the number of samples seen) and later plain steps count on from there.
    """

    hyperparameters = ("power_t",)

    def __init__(self, optimizer: Optimizer, power_t: float = 0.5):
        Interval(0, None).check("power_t", power_t)
        self.power_t = power_t
        super().__init__(optimizer)

    def step(self, t: float | None = None) -> None:
        """Advance ``t`` by one, or set it to the given ``t`` (a number >= 0)."""
        if t is None:
            self.last_epoch += 1
        else:
            Interval(0, None).check("t", t)
            self.last_epoch = t
        self._apply()

    def lr_at(self, base_lr, epoch):
        return base_lr / (epoch + 1) ** self.power_t


class LinearWarmup(LRScheduler):
    """PyTorch's ``LinearLR`` up to the base rate: ``lr = lr0 * (start_factor + (1 -
    start_factor) * min(epoch, warmup_steps) / warmup_steps)``, so ``start_factor * lr0``
    before the first step, ``lr0`` from step ``warmup_steps`` on, in equal increments.
    ``warmup_steps=0`` means no warm-up.
    """

    hyperparameters = ("warmup_steps", "start_factor")

    def __init__(self, optimizer: Optimizer, warmup_steps: int, start_factor: float = 0.1):
        Interval(0, None, integer=True).check("warmup_steps", warmup_steps)
        Interval(0, 1).check("start_factor", start_factor)
        self.warmup_steps, self.start_factor = warmup_steps, start_factor
        super().__init__(optimizer)

    def lr_at(self, base_lr, epoch):
        if epoch >= self.warmup_steps:
            return base_lr
        return base_lr * (self.start_factor + (1 - self.start_factor) * epoch / self.warmup_steps)


class ReduceLROnPlateau:
    """Multiply each group's ``lr`` by ``factor`` when a metric stops improving, exactly as
    PyTorch's ``ReduceLROnPlateau``.

    ``step(metric)`` once per epoch. A metric is an improvement if (``mode="min"``) it is
    below ``best * (1 - threshold)`` (``threshold_mode="rel"``) or ``best - threshold``
    (``"abs"``); ``mode="max"`` mirrors this. After more than ``patience`` epochs in a row
    without improvement the rate drops (never below ``min_lr``, a number or one per group;
    changes smaller than ``eps`` are skipped), and for ``cooldown`` epochs after a drop
    bad epochs are not counted.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel", *,
                 min_lr: float | list[float] = 0.0, cooldown: int = 0, eps: float = 1e-8):
        _check_optimizer(self, optimizer)
        check_option("mode", mode, ("min", "max"))
        check_option("threshold_mode", threshold_mode, ("rel", "abs"))
        Interval(0, 1, closed="left").check("factor", factor)
        Interval(0, None, integer=True).check("patience", patience)
        Interval(0, None).check("threshold", threshold)
        Interval(0, None, integer=True).check("cooldown", cooldown)
        Interval(0, None).check("eps", eps)
        n_groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n_groups
        if len(min_lrs) != n_groups:
            raise ValueError(f"ReduceLROnPlateau: min_lr has {len(min_lrs)} values but the "
                             f"optimizer has {n_groups} parameter groups")
        for value in min_lrs:
            Interval(0, None).check("min_lr", value)
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.min_lrs, self.cooldown, self.eps = min_lrs, cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def is_better(self, value: float, best: float) -> bool:
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < best * (1 - self.threshold)
            return value < best - self.threshold
        if self.threshold_mode == "rel":
            return value > best * (1 + self.threshold)
        return value > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metric) -> None:
        """Record this epoch's ``metric`` (a number or one-element Tensor) and maybe
        reduce the learning rates."""
        try:
            current = float(metric)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metric must be a number, got "
                            f"{type(metric).__name__}") from None
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group after the last ``step``."""
        return list(self._last_lr)

    _saved = ("mode", "factor", "patience", "threshold", "threshold_mode", "min_lrs",
              "cooldown", "eps", "best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def state_dict(self) -> dict:
        """Counters, best metric, hyperparameters and last rates, as numbers, strings, lists."""
        state = {name: getattr(self, name) for name in self._saved}
        return {**state, "min_lrs": list(self.min_lrs), "last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``, setting the groups' ``lr`` to the saved last rates."""
        missing = {*self._saved, "last_lr"} - state_dict.keys()
        if missing:
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: missing entries "
                             f"{sorted(missing)}")
        n_groups = len(self.optimizer.param_groups)
        for name in ("min_lrs", "last_lr"):
            if len(state_dict[name]) != n_groups:
                raise ValueError(f"ReduceLROnPlateau.load_state_dict: {name} has "
                                 f"{len(state_dict[name])} values but the optimizer has "
                                 f"{n_groups} parameter groups")
        for name in self._saved:
            setattr(self, name, state_dict[name])
        self.min_lrs = list(self.min_lrs)
        self._last_lr = list(state_dict["last_lr"])
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, "
                f"patience={self.patience}, best={self.best}, "
                f"num_bad_epochs={self.num_bad_epochs})")
