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


def hang(prefix: str, text: str) -> str:
    """``prefix + text``, the later lines of a multi-line ``text`` (a matrix) indented to
    start under its first character, so that the rows of a matrix line up.

    >>> print(hang("   δW = ", "[[1, 2],\\n [3, 4]]"))
       δW = [[1, 2],
             [3, 4]]
    """
    return prefix + text.replace("\n", "\n" + " " * len(prefix))


def sum_of(head: str, parts, total, fmt, tail: str = "") -> str:
    """``head = total`` or, for a δ that is a sum over several branches (``parts``, each
    with ``.via`` and ``.delta``), ``head = a (via f) + b (via g) = total``: on one line when
    every term fits on one, else one term under the other."""
    if len(parts) <= 1:
        return hang(head + "= ", fmt(total) + tail)
    texts = [fmt(p.delta) for p in parts]
    if not any("\n" in t for t in texts + [fmt(total)]):
        terms = " + ".join(f"{t} (via {p.via})" for t, p in zip(texts, parts))
        return hang(head + "= ", f"{terms} = {fmt(total)}{tail}")
    under = " " * len(head)
    lines = [hang((head + "= ") if i == 0 else (under + "+ "), f"{t}   (via {p.via})")
             for i, (t, p) in enumerate(zip(texts, parts))]
    return "\n".join(lines + [hang(under + "= ", fmt(total) + tail)])
