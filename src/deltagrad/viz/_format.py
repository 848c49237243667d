"""Writing values down: small arrays in full, large ones as a one-line summary.

Pictures and traces keep a *snapshot* of each value as they see it (later in-place updates,
such as an optimiser step, must not change what was shown), and they keep only a summary of
large arrays, so that recording a big graph does not hold on to every intermediate.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Stats(NamedTuple):
    """What is kept of an array too large to keep whole."""

    shape: tuple
    dtype: str
    mean: float
    std: float
    min: float
    max: float


Snapshot = np.ndarray | Stats


def snapshot(value, keep: int) -> Snapshot:
    """A copy of ``value`` when it has at most ``keep`` elements, else its ``Stats``."""
    a = np.asarray(value)
    if a.size <= keep:
        return a.copy()
    f = a.astype(np.float64, copy=False)
    finite = f[np.isfinite(f)]
    if finite.size == 0:
        finite = np.zeros(1)
    return Stats(a.shape, str(a.dtype), float(finite.mean()), float(finite.std()),
                 float(finite.min()), float(finite.max()))


def number(v, digits: int, decimals: int | None = None) -> str:
    """One number with ``digits`` significant digits, or rounded to ``decimals`` places
    (trailing zeros dropped, as worked examples print them); integers and booleans as they are.

    >>> number(0.0821670405642, 4), number(0.0821670405642, 4, decimals=9)
    ('0.08217', '0.082167041')
    """
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if decimals is not None and np.isfinite(v):
        text = f"{v:.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def format_value(value, digits: int = 4, max_elements: int = 16, shape: bool = True,
                 decimals: int | None = None) -> str:
    """``value`` written out: in full when it has at most ``max_elements`` elements,
    otherwise as its shape (unless ``shape=False``), mean, standard deviation and range.
    Numbers get ``digits`` significant digits, or ``decimals`` places when that is given.

    >>> format_value(np.array([[0.5, 1/3]]), digits=3)
    '[[0.5, 0.333]]'
    >>> format_value(np.arange(100.0), digits=3)
    'shape (100,): mean 49.5, std 28.9, range [0, 99]'
    """
    if value is None:
        return "—"
    if not isinstance(value, Stats):
        a = np.asarray(value)
        if a.ndim == 0:
            return number(a.item(), digits, decimals)
        if a.size <= max_elements:
            return np.array2string(a, separator=", ", max_line_width=10_000, threshold=a.size + 1,
                                   formatter={"all": lambda v: number(v, digits, decimals)})
        value = snapshot(a, 0)
    s = value
    def n(v):
        return number(v, digits, decimals)

    text = f"mean {n(s.mean)}, std {n(s.std)}, range [{n(s.min)}, {n(s.max)}]"
    return f"shape {s.shape}: {text}" if shape else text


def shape_of(value) -> tuple:
    return value.shape if isinstance(value, Stats) else tuple(np.shape(value))
