"""Checks of the settings users pass: one function per kind of value, one wording.

Each returns the value as a plain Python ``int`` or ``float`` or raises a ``ValueError``
that names where it was passed, the setting and the value, e.g. ``fit: epochs must be a
positive integer, got 0``. Booleans are refused where a number is expected (``True`` is an
``int`` to Python, never a batch size to a user).

>>> check_int(3, "epochs", "fit"), check_float(0.5, "p", "Dropout", below=1)
(3, 0.5)
>>> check_int(0, "epochs", "fit")
Traceback (most recent call last):
...
ValueError: fit: epochs must be a positive integer, got 0
"""

from __future__ import annotations

import math
import numbers


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name: str, where: str, *, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (a positive integer by default)."""
    if not _is_int(value) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{where}: {name} must be {what}, got {value!r}")
    return int(value)


def check_float(value, name: str, where: str, *, minimum: float = 0.0,
                allow_minimum: bool = False, below: float | None = None) -> float:
    """``value`` as a finite float > ``minimum`` (>= with ``allow_minimum``) and, when
    given, < ``below``. The defaults ask for a positive number."""
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value)
          and (value >= minimum if allow_minimum else value > minimum)
          and (below is None or value < below))
    if not ok:
        if below is not None:
            what = f"lie in {'[' if allow_minimum else '('}{minimum:g}, {below:g})"
        elif minimum == 0 and not allow_minimum:
            what = "be a positive number"
        else:
            what = f"be a finite number {'>=' if allow_minimum else '>'} {minimum:g}"
        raise ValueError(f"{where}: {name} must {what}, got {value!r}")
    return float(value)


def check_optional_float(value, name: str, where: str, **bounds) -> float | None:
    """None, or ``value`` checked as :func:`check_float` checks it (positive by default)."""
    if value is None:
        return None
    try:
        return check_float(value, name, where, **bounds)
    except ValueError as exc:
        raise ValueError(f"{exc}".replace(", got", " or None, got", 1)) from None


def check_seed(value, name: str, where: str, *, optional: bool = True) -> int | None:
    """A seed: a non-negative int (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not _is_int(value) or value < 0:
        extra = " or None" if optional else ""
        raise ValueError(f"{where}: {name} must be a non-negative int{extra}, got {value!r}")
    return int(value)


def check_widths(value, name: str, where: str, *, allow_none: bool = False) -> tuple[int, ...]:
    """Layer widths: ``"64,64"``, ``64`` or ``[64, 64]`` -> ``(64, 64)``, each a positive
    integer (a width of 0 is refused, never read as "no layer"). With ``allow_none``,
    ``"none"`` (or an empty list) is ``()``: no hidden layer, a linear model.

    >>> check_widths("64, 32", "hidden", "--hidden"), check_widths("none", "h", "x",
    ...                                                          allow_none=True)
    ((64, 32), ())
    >>> check_widths("64,0", "layer", "--hidden", allow_none=True)
    Traceback (most recent call last):
    ...
    ValueError: --hidden: each layer width must be a positive integer, got 0 (write 'none' \
for no hidden layer)
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "none" and allow_none:
            return ()
        try:
            value = [int(part) for part in text.split(",")]
        except ValueError:
            spelled = "64,64 (or 'none')" if allow_none else "64,64"
            raise ValueError(f"{where}: expected comma-separated positive {name} widths "
                             f"such as {spelled}, got {value!r}") from None
    if _is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or (not value and not allow_none):
        raise ValueError(f"{where}: {name} must be one width or a non-empty list of widths, "
                         f"got {value!r}")
    for v in value:
        if not _is_int(v) or v < 1:
            hint = " (write 'none' for no hidden layer)" if allow_none else ""
            raise ValueError(f"{where}: each {name} width must be a positive integer, got "
                             f"{v!r}{hint}")
    return tuple(int(v) for v in value)
