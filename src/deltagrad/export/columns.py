"""The columns of a ``deltagrad train`` table inside an ONNX graph: each column is one graph
input, named after it, and each kind of column (``data.columns``) one function here giving
the block of the network's inputs that ``data.columns.encode`` gives, in float64 as it
computes them.

The graph inputs, each of shape (batch,), hold the cells as a table reader gives them:

- ``numeric``: float32, NaN for a missing cell;
- ``boolean`` and ``categorical``: strings, stripped of surrounding spaces. The missing-value
  spellings (``""``, ``NA``, ``null``, ... in any case) are missing; a boolean cell that is
  no true/false spelling (true/false, yes/no, y/n, t/f, 1/0, in any case) is missing too; a
  category never seen in training goes to the ``other`` slot. Strings are looked up with
  ``ai.onnx.ml.LabelEncoder``, every case of each spelling a key, so no locale is involved.
  A boolean column whose training cells were the numbers 0 and 1 takes float32 instead:
  1 or 0, anything else (NaN) missing;
- ``date``: float64, days since 1970-01-01 (a time of day as a fraction), NaN for a missing
  cell. ONNX (opset 17) can not parse date strings; float64 keeps a time of day to the
  millisecond, where float32 would keep today's day numbers to about three minutes. The
  month and weekday are computed in the graph (``month_of``: days to calendar months in
  floor divisions).

A new kind of column is one more function in ``KINDS``, ``(graph, coding, cell, missing) ->
[blocks]``, each block (batch, width) float64, and its input's dtype in ``INPUT_DTYPES``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..data.columns import FALSE, TRUE, Coding
from .graph import ML_DOMAIN, Graph, Value

#: the dtype of each kind's graph input (object: strings); a boolean column of numbers
#: takes float32
INPUT_DTYPES = {"numeric": np.dtype(np.float32), "boolean": np.dtype(object),
                "categorical": np.dtype(object), "date": np.dtype(np.float64)}


def column_input(g: Graph, c: Coding) -> Value:
    """The graph input of column ``c`` (named after it unless an output has that name); a
    ValueError names a column whose kind the export can not express."""
    if c.kind not in KINDS:
        raise ValueError(f"export_onnx: column {c.name!r} is of kind {c.kind!r}, which the "
                         f"ONNX export can not express (it knows {', '.join(KINDS)})")
    return g.input(c.name, ("batch",), np.float32 if c.from_numbers else INPUT_DTYPES[c.kind])


def encode(g: Graph, c: Coding, cell: Value, missing: list[str]) -> list[Value]:
    """Column ``c``'s blocks of the network's input, from its graph input ``cell``;
    ``missing``: the spellings of a missing cell, lower-case."""
    return KINDS[c.kind](g, c, cell, missing)


# --- the kinds --------------------------------------------------------------------------------


def numeric(g: Graph, c: Coding, cell: Value, missing: list[str]) -> list[Value]:
    """``((x, or the fill where it is NaN) - mean) / scale``, and the indicator."""
    filled, absent = _filled(g, c, cell)
    return [_column(g, _standardised(g, c, filled))] + _indicator(g, c, absent)


def boolean(g: Graph, c: Coding, cell: Value, missing: list[str]) -> list[Value]:
    """1 or 0 for a true or false spelling (or the number 1 or 0), the fill for anything
    else, and the indicator (1 for anything else)."""
    if c.from_numbers:
        return _number_bits(g, c, cell)
    bits = {**dict.fromkeys(spellings(TRUE), 1.0), **dict.fromkeys(spellings(FALSE), 0.0)}
    blocks = [_column(g, _lookup(g, cell, bits, float(c.fill), f"{c.name}.bit"))]
    if c.indicator:
        blocks.append(_column(g, _lookup(g, cell, dict.fromkeys(bits, 0.0), 1.0,
                                         f"{c.name}.missing")))
    return blocks


def _number_bits(g: Graph, c: Coding, cell: Value) -> list[Value]:
    """``boolean`` on float32 cells: 1 and 0 as they are, anything else (NaN, 2) missing."""
    one, zero = (g.op("Equal", [cell, g.constant(np.float32(v), "k")], cell.shape, np.bool_)
                 for v in (1, 0))
    as_zero = g.op("Where", [zero, g.constant(np.float64(0), "k"),
                             g.constant(np.float64(c.fill), f"{c.name}.fill")], cell.shape,
                   np.float64)
    bit = g.op("Where", [one, g.constant(np.float64(1), "k"), as_zero], cell.shape,
               hint=f"{c.name}.bit")
    known = g.op("Or", [one, zero], cell.shape)
    return [_column(g, bit)] + _indicator(g, c, g.op("Not", [known], cell.shape))


def categorical(g: Graph, c: Coding, cell: Value, missing: list[str]) -> list[Value]:
    """One-hot over the categories and ``other``: a missing cell counts as the fill, an
    unseen value as ``other``; and the indicator (1 for a missing spelling)."""
    slot = {v: k for k, v in enumerate(c.categories)}
    other = len(c.categories)
    absent = spellings(missing)
    index = _lookup(g, cell, {**slot, **dict.fromkeys(absent, slot.get(c.fill, other))},
                    other, f"{c.name}.slot")
    # float32 0/1 (ONNX Runtime's OneHot makes no float64), exact in float64
    onehot = g.op("OneHot", [index, g.constant(np.int64(other + 1), f"{c.name}.width"),
                             g.constant(np.array([0, 1], dtype=np.float32), "off_on")],
                  ("batch", other + 1), np.float32, hint=f"{c.name}.onehot", axis=-1)
    blocks = [g.cast(onehot, np.float64)]
    if c.indicator:
        blocks.append(_column(g, _lookup(g, cell, dict.fromkeys(absent, 1.0), 0.0,
                                         f"{c.name}.missing")))
    return blocks


def date(g: Graph, c: Coding, cell: Value, missing: list[str]) -> list[Value]:
    """The standardised day number, (sin, cos) of the month and of the weekday of the
    filled day, and the indicator (``data.columns.date_cycles``)."""
    filled, absent = _filled(g, c, cell)
    whole = Arith(g, g.op("Floor", [filled], filled.shape))
    weekday = (whole + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    parts = [_standardised(g, c, filled)]
    for index, period in ((month_of(whole), 12), (weekday, 7)):
        # A table of the period's sines and cosines, looked up (Gather): ONNX Runtime before
        # 1.19 has no float64 Sin or Cos, and there are only 12 months and 7 days.
        slot = g.cast(index.value, np.int64)
        angles = np.arange(period, dtype=np.float64) * (2 * math.pi) / period
        parts += [g.op("Gather", [g.constant(f(angles), f"{f.__name__}_{period}"), slot],
                       slot.shape, np.float64) for f in (np.sin, np.cos)]
    return [_column(g, p) for p in parts] + _indicator(g, c, absent)


KINDS = {"numeric": numeric, "boolean": boolean, "categorical": categorical, "date": date}


# --- pieces ------------------------------------------------------------------------------------


def spellings(words) -> list[str]:
    """Every upper/lower-case spelling of each of ``words`` (lower-case), once each, in
    order: the keys that match a word in any case."""
    out: dict[str, None] = {}
    for word in words:
        out.update(dict.fromkeys("".join(p) for p in itertools.product(
            *[dict.fromkeys((ch.lower(), ch.upper())) for ch in word])))
    return list(out)


def _lookup(g: Graph, cell: Value, table: dict, default, hint: str) -> Value:
    """``table[cell]`` for each string cell, ``default`` for any other: int64 for an int
    default, else float64 (the LabelEncoder's float32 values are 0, 1 or a fill that is)."""
    keys, values = list(table), list(table.values())
    if isinstance(default, int):
        return g.op("LabelEncoder", [cell], cell.shape, np.int64, hint=hint, domain=ML_DOMAIN,
                    keys_strings=keys, values_int64s=values, default_int64=default)
    out = g.op("LabelEncoder", [cell], cell.shape, np.float32, hint=hint, domain=ML_DOMAIN,
               keys_strings=keys, values_floats=values, default_float=default)
    return g.cast(out, np.float64)


def _filled(g: Graph, c: Coding, cell: Value) -> tuple[Value, Value]:
    """The cells in float64 with NaN replaced by the fill, and where they were NaN."""
    absent = g.op("IsNaN", [cell], cell.shape, np.bool_, hint=f"{c.name}.absent")
    value = g.cast(cell, np.float64)
    filled = g.op("Where", [absent, g.constant(np.float64(c.fill), f"{c.name}.fill"), value],
                  cell.shape, np.float64, hint=f"{c.name}.filled")
    return filled, absent


def _standardised(g: Graph, c: Coding, x: Value) -> Value:
    centred = g.op("Sub", [x, g.constant(np.float64(c.mean), f"{c.name}.mean")], x.shape)
    return g.op("Div", [centred, g.constant(np.float64(c.scale), f"{c.name}.scale")], x.shape,
                hint=f"{c.name}.standardised")


def _indicator(g: Graph, c: Coding, absent: Value) -> list[Value]:
    return [_column(g, g.cast(absent, np.float64))] if c.indicator else []


def _column(g: Graph, x: Value) -> Value:
    """(batch,) -> (batch, 1)."""
    return g.op("Unsqueeze", [x, g.constant(np.array([1], dtype=np.int64), "axis_1")],
                (x.shape[0], 1))


class Arith:
    """A float64 value of the graph with Python's arithmetic (``//`` floor division, ``%``
    the floor modulo), so that ``month_of`` reads the same for the graph as for NumPy."""

    def __init__(self, g: Graph, value: Value):
        self.g, self.value = g, value

    def _op(self, op_type: str, other) -> Arith:
        if not isinstance(other, Arith):
            other = Arith(self.g, self.g.constant(np.float64(other), "k"))
        return Arith(self.g, self.g.op(op_type, [self.value, other.value], self.value.shape))

    def __add__(self, other):
        return self._op("Add", other)

    def __sub__(self, other):
        return self._op("Sub", other)

    def __mul__(self, other):
        return self._op("Mul", other)

    def __truediv__(self, other):
        return self._op("Div", other)

    def __floordiv__(self, other):
        quotient = self._op("Div", other)
        return Arith(self.g, self.g.op("Floor", [quotient.value], self.value.shape))

    def __mod__(self, other):
        return self - (self // other) * other


def month_of(days):
    """The calendar month (0 for January) of whole day numbers (days since 1970-01-01), in
    the proleptic Gregorian calendar as NumPy's ``datetime64``: H. Hinnant's civil-from-days
    in floor divisions, exact in float64 for day numbers below 2**52 in magnitude.
    ``days``: a float64 array, or an ``Arith`` value of a graph."""
    z = days + 719468  # days since 0000-03-01, so that a leap day ends its year
    era = z // 146097  # 400-year eras
    doe = z - era * 146097  # day of the era, 0-146096
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365  # year of the era, 0-399
    doy = doe - (yoe * 365 + yoe // 4 - yoe // 100)  # day of the year from March 1st, 0-365
    march_based = (doy * 5 + 2) // 153  # 0 for March ... 11 for February
    return (march_based + 2) % 12
