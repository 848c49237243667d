"""From a table's columns to a model's inputs: what each column is, fitted on the training rows
only, kept as plain JSON, and applied identically to any later table.

The kinds, and the inputs each column gives the model (in this order, one block per column
in the file's order):

- ``numeric``: the value, missing cells filled with the training median, standardised with
  the training mean and standard deviation of the filled values;
- ``boolean`` (true/false, yes/no, y/n, t/f, 1/0 in any case): 1 or 0, missing cells filled
  with the training's more frequent value;
- ``categorical`` (other text): one-hot over the categories seen at least ``min_frequency``
  times in training (the ``max_categories`` most frequent), plus one ``other`` slot for
  the rarer ones and for values never seen in training; missing cells are filled with the
  training's most frequent value;
- ``date`` (ISO 8601): the day number (days since 1970-01-01, standardised) for trends,
  and the month and the weekday each as a point on a circle (sine, cosine) for seasons and
  weeks, so December sits next to January and Sunday next to Monday; missing cells are
  filled with the training median date.

A column with missing cells in its training rows gets one more input: 1 where the cell was
missing (the indicator), 0 elsewhere. Dropped, with the reason shown: identifier-like
columns (text, unique per row), constant columns, columns with no values, and the columns
asked for. Problems (a mostly numeric column with a few texts, infinite numbers, overrides
naming no column) go to a ``Problems`` collector, each with its fix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .errors import Problems
from .table import Column, Table, number_text, parse_number

KINDS = ("numeric", "boolean", "categorical", "date")
TRUE = ("1", "t", "true", "y", "yes")
FALSE = ("0", "f", "false", "n", "no")
#: a text column is taken for numbers with typos when this share of its cells are numbers
MOSTLY_NUMBERS = 0.9
_DATE_PARTS = ("days", "month_sin", "month_cos", "weekday_sin", "weekday_cos")


@dataclass
class Coding:
    """How one column becomes inputs (see the module's docstring); ``to_dict`` is what
    ``config.json`` holds for it."""

    name: str
    kind: str
    fill: float | str
    indicator: bool = False
    mean: float = 0.0  # numeric and date: the standardisation
    scale: float = 1.0
    categories: list[str] = field(default_factory=list)  # categorical
    text_as_missing: bool = False  # numeric by --numeric: cells that are no numbers
    from_numbers: bool = False  # boolean: its training cells were numbers (0 and 1), not text
    note: str = ""  # what a user is told (not saved)

    @property
    def inputs(self) -> list[str]:
        if self.kind == "categorical":
            names = [f"{self.name}={c}" for c in self.categories] + [f"{self.name}=other"]
        elif self.kind == "date":
            names = [f"{self.name}_{part}" for part in _DATE_PARTS]
        else:
            names = [self.name]
        return names + ([f"{self.name}_missing"] if self.indicator else [])

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "fill": self.fill,
             "indicator": self.indicator}
        if self.kind in ("numeric", "date"):
            d.update(mean=self.mean, scale=self.scale)
            if self.text_as_missing:
                d["text_as_missing"] = True
        elif self.kind == "categorical":
            d["categories"] = list(self.categories)
        else:
            d.update(true=list(TRUE), false=list(FALSE))
            if self.from_numbers:
                d["from_numbers"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Coding:
        try:
            kind, name = d["kind"], d["name"]
            if kind not in KINDS or not isinstance(name, str):
                raise ValueError(f"kind {kind!r} of column {name!r}")
            c = cls(name, kind, d["fill"], bool(d["indicator"]),
                    float(d.get("mean", 0.0)), float(d.get("scale", 1.0)),
                    [str(v) for v in d.get("categories", [])],
                    bool(d.get("text_as_missing", False)), bool(d.get("from_numbers", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a column's preprocessing is garbled ({exc})") from None
        fill_ok = isinstance(c.fill, str) if kind == "categorical" else \
            isinstance(c.fill, (int, float)) and np.isfinite(c.fill)
        if not (fill_ok and np.isfinite(c.mean) and np.isfinite(c.scale) and c.scale > 0):
            raise ValueError(f"column {name!r}: its fill value or scale is garbled")
        return c


# --- what each column is ------------------------------------------------------------------


def _distinct(col: Column, present: np.ndarray) -> np.ndarray:
    return np.unique(col.data[present])


def _texts_of(col: Column) -> Column:
    """A number or date column as text (its values written out), for ``--categorical``."""
    if col.kind == "text":
        return col
    present = ~np.isnan(col.data)
    values, codes = np.unique(col.data[present], return_inverse=True)
    out = np.full(len(col.data), -1, dtype=np.int32)
    out[present] = codes
    return Column(col.name, "text", out, [number_text(v) for v in values])


def numbers_of(col: Column, delimiter: str = ",") -> tuple[Column, int]:
    """A text column as numbers (cells that are none: missing), and how many were not."""
    if col.kind != "text":
        return col, 0
    parsed = np.array([parse_number(v, delimiter) for v in col.values] + [None], dtype=float)
    numbers = parsed[col.data]
    return Column(col.name, "number", numbers), int((col.data >= 0).sum() - (~np.isnan(
        numbers)).sum())


def infer_kind(col: Column, rows: np.ndarray, table: Table, problems: Problems
               ) -> tuple[str | None, str]:
    """``(kind, note)`` for a column no option names, from its training ``rows``; kind None
    drops it, the note says why."""
    data = col.data[rows]
    present = data >= 0 if col.kind == "text" else ~np.isnan(data)
    n = int(present.sum())
    if n == 0:
        return None, "dropped: no values (every cell is missing)"
    distinct = np.unique(data[present])
    if len(distinct) == 1 and n == len(rows):
        shown = col.values[distinct[0]] if col.kind == "text" else number_text(distinct[0])
        return None, f"dropped: constant ({shown!r} in every row)"
    if col.kind == "date":
        return "date", ""
    if col.kind == "number":
        return ("boolean", "") if set(distinct.tolist()) <= {0.0, 1.0} else ("numeric", "")
    lowered = {col.values[k].lower() for k in distinct}
    if lowered <= set(TRUE) | set(FALSE) and lowered & set(TRUE) and lowered & set(FALSE):
        return "boolean", ""
    _mostly_numbers(col, rows, distinct, problems, table)
    if len(distinct) == n and n > 1:
        return None, "dropped: identifier-like (text, unique per row)"
    return "categorical", ""


def _mostly_numbers(col: Column, rows, distinct, problems: Problems, table: Table) -> None:
    """A text column whose cells are mostly numbers is a numeric column with typos (or with
    a missing-value spelling of its own): a problem, with the two ways out."""
    delimiter = table._csv["delimiter"] if table._csv else ","
    numeric = np.array([parse_number(col.values[k], delimiter) is not None for k in distinct])
    if not numeric.any():
        return
    codes = col.data[rows]
    counts = np.bincount(codes[codes >= 0], minlength=len(col.values))[distinct]
    share = counts[numeric].sum() / counts.sum()
    if share < MOSTLY_NUMBERS:
        return
    n_odd = int(counts[~numeric].sum())
    odd = distinct[~numeric]
    first = [int(rows[np.flatnonzero(codes == k)[0]]) for k in odd[:3]]
    examples = ", ".join(f"{col.values[k]!r} ({table.where(r)})" for k, r in zip(odd, first))
    problems.add(f"column {col.name!r} holds numbers but also {n_odd} text "
                 f"cell{'s' * (n_odd > 1)}: {examples}",
                 f"--numeric {col.name} to read them as missing, or --categorical "
                 f"{col.name}")


# --- fitting: the statistics of the training rows -----------------------------------------


def fit_coding(col: Column, kind: str, rows: np.ndarray, min_frequency: int,
               max_categories: int) -> Coding:
    """The fitted ``Coding`` of ``col`` as ``kind`` over its training ``rows``."""
    if kind == "categorical":
        return _fit_categorical(_texts_of(col), rows, min_frequency, max_categories)
    if kind == "boolean":
        bits = boolean_bits(col)[rows]
        present = ~np.isnan(bits)
        fill = float(bits[present].mean() >= 0.5) if present.any() else 0.0
        return Coding(col.name, kind, fill, bool((~present).any()),
                      from_numbers=col.kind == "number")
    values = col.data[rows]
    present = np.isfinite(values)  # an infinite value is a problem encode() reports
    fill = float(np.median(values[present])) if present.any() else 0.0
    filled = np.where(present, values, fill)
    std = float(filled.std())
    scale = std if std > 0 and filled.max() != filled.min() else 1.0
    note = f"missing -> median {fill:.6g}" if not present.all() else ""
    return Coding(col.name, kind, fill, bool((~present).any()), float(filled.mean()), scale,
                  note=note)


def _fit_categorical(col: Column, rows, min_frequency: int, max_categories: int) -> Coding:
    codes = col.data[rows]
    counts = Counter(codes[codes >= 0].tolist())
    frequent = [k for k, c in sorted(counts.items(), key=lambda kc: (-kc[1], kc[0]))
                if c >= min_frequency][:max_categories]
    categories = sorted(col.values[k] for k in frequent)
    fill = col.values[max(counts, key=lambda k: (counts[k], -k))]
    folded = len(counts) - len(categories)
    note = f"{len(categories)} categories + other"
    if folded:
        note += f" ({folded} rare value{'s' * (folded > 1)} in other)"
    indicator = bool((codes < 0).any())
    if indicator:
        note += f"; missing -> {fill!r}"
    return Coding(col.name, "categorical", fill, indicator, categories=categories, note=note)


def boolean_bits(col: Column) -> np.ndarray:
    """1.0 / 0.0 for true / false spellings (numbers 1 / 0), NaN for anything else."""
    if col.kind == "text":
        lookup = np.array([1.0 if v.lower() in TRUE else 0.0 if v.lower() in FALSE else np.nan
                           for v in col.values] + [np.nan])
        return lookup[col.data]
    return np.where(col.data == 1, 1.0, np.where(col.data == 0, 0.0, np.nan))


# --- applying it ---------------------------------------------------------------------------


def encode(c: Coding, col: Column, rows, out: np.ndarray, problems: Problems,
           table: Table) -> None:
    """Write ``c``'s inputs for ``rows`` of ``col`` into ``out`` (rows x ``len(c.inputs)``,
    float32, in place)."""
    if c.kind == "categorical":
        col = _texts_of(col)
        slot = {v: k for k, v in enumerate(c.categories)}
        other = len(c.categories)
        lookup = np.array([slot.get(v, other) for v in col.values]
                          + [slot.get(c.fill, other)], dtype=np.int64)
        codes = col.data if rows is None else col.data[rows]
        out[:, :other + 1] = 0
        out[np.arange(len(out)), lookup[codes]] = 1
        missing = codes < 0
    else:
        values = _values(c, col, rows, problems, table)
        missing = np.isnan(values)
        filled = np.where(missing, c.fill, values)
        if c.kind == "boolean":
            out[:, 0] = filled
        else:
            out[:, 0] = (filled - c.mean) / c.scale
        if c.kind == "date":
            out[:, 1:5] = date_cycles(filled)
    if c.indicator:
        out[:, -1] = missing


def _values(c: Coding, col: Column, rows, problems: Problems, table: Table) -> np.ndarray:
    if c.kind == "boolean":
        values = boolean_bits(col)
    elif col.kind == "text":
        parsed, bad = numbers_of(col)
        if bad and not c.text_as_missing:
            first = int(np.flatnonzero(np.isnan(parsed.data) & (col.data >= 0))[0])
            problems.add(table.cell_problem(first, c.name, f"the model reads {c.name!r} as "
                                                           f"{c.kind} values"),
                         "correct the cell, or empty it to have it filled in",
                         key=("text", c.name))
        values = parsed.data
    else:
        values = col.data
    values = values if rows is None else values[rows]
    if np.isinf(values).any():
        first = int(np.flatnonzero(np.isinf(values))[0])
        problems.add(table.cell_problem(first if rows is None else int(rows[first]), c.name,
                                        "a number"), f"correct the cell, or --drop {c.name}",
                     key=("infinite", c.name))
    return values


def date_cycles(days: np.ndarray) -> np.ndarray:
    """(sin, cos) of the month and of the weekday of each day number, as columns."""
    whole = np.floor(days).astype(np.int64)
    month = whole.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12
    weekday = (whole + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    m, w = 2 * np.pi * month / 12, 2 * np.pi * weekday / 7
    return np.stack([np.sin(m), np.cos(m), np.sin(w), np.cos(w)], axis=1)
