"""Declarative checks of hyperparameters (scikit-learn's ``Interval``, in miniature).

An optimiser or scheduler lists what each hyperparameter may be, and one loop checks
them all, so every message reads the same: ``Invalid momentum value: -0.5 (momentum
must be >= 0)``.
"""

from __future__ import annotations

import math
import numbers


class Interval:
    """The finite real numbers (or integers) between ``low`` and ``high``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; a missing bound
    is unbounded. NaN and infinities are always rejected.
    """

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 closed: str = "both", integer: bool = False):
        self.low, self.high, self.closed, self.integer = low, high, closed, integer

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (
                value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        return self.high is None or not (
            value > self.high or (value == self.high and self.closed in ("left", "neither")))

    def __str__(self) -> str:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
        if self.low is not None:
            return f"{'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{'<=' if right else '<'} {self.high}"
        return "finite"

    def check(self, name: str, value) -> None:
        """Raise ``TypeError`` for a non-number, ``ValueError`` for a number outside."""
        kind = numbers.Integral if self.integer else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            noun = "an integer" if self.integer else "a real number"
            raise TypeError(f"Invalid {name} value: {value!r} ({name} must be {noun} {self})")
        if value not in self:
            raise ValueError(f"Invalid {name} value: {value!r} ({name} must be {self})")


def check_bool(name: str, value) -> None:
    if not isinstance(value, bool) and type(value).__name__ != "bool_":
        raise TypeError(f"Invalid {name} value: {value!r} ({name} must be True or False)")


def check_option(name: str, value, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ValueError(f"Invalid {name} value: {value!r} ({name} must be one of "
                         f"{', '.join(repr(o) for o in options)})")
