"""Small pieces shared by the text models' training loops: optimiser by name, a wall-clock
budget, keeping the best weights, and checks of the settings users pass."""

from __future__ import annotations

import math
import numbers
import time

from .. import optim

OPTIMIZERS = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad,
              "rmsprop": optim.RMSprop, "sgd": optim.SGD}


def make_optimizer(name: str, params, lr: float, where: str):
    """The optimiser called ``name`` (adam, adamw, adagrad, rmsprop, sgd) over ``params``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"{where}: optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name](list(params), lr=lr)


def positive_int(value, what: str, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: {what} must be an int >= {minimum}, got {value!r}")
    return int(value)


def positive_float(value, what: str, where: str, *, allow_zero: bool = False,
                   upper: float | None = None) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
          and (upper is None or value < upper))
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        extra = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"{where}: {what} must be a finite number {bound}{extra}, got "
                         f"{value!r}")
    return float(value)


def hidden_sizes(value, where: str) -> tuple[int, ...]:
    """``(300,)`` from 300, [300] or "300"; ``(256, 128)`` from "256,128"."""
    if isinstance(value, str):
        try:
            value = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"{where}: hidden must be comma-separated widths such as "
                             f"'300' or '256,128', got {value!r}") from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where}: hidden must be one width or a non-empty list of widths, "
                         f"got {value!r}")
    return tuple(positive_int(v, "each hidden width", where) for v in value)


class Budget:
    """A wall-clock limit on training: ``over()`` turns true ``seconds`` after creation
    (never, for None)."""

    def __init__(self, seconds: float | None, where: str):
        if seconds is not None:
            positive_float(seconds, "max_time", where)
        self.seconds = seconds
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self) -> bool:
        return self.seconds is not None and self.elapsed() >= self.seconds


def cosine_lr(base: float, progress: float, floor: float = 0.05) -> float:
    """A learning rate falling from ``base`` to ``floor * base`` along a half cosine as
    ``progress`` goes from 0 to 1 (and staying there past 1)."""
    progress = min(max(progress, 0.0), 1.0)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
