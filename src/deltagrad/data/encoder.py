"""``TableEncoder``: every feature column of a table coded as ``columns.py`` describes, fitted
on the training rows, stored as plain JSON, applied the same way to any later table."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .columns import Coding, encode, fit_coding, infer_kind, numbers_of
from .errors import Problems
from .scaling import StandardScaler
from .table import MISSING, Column, Table, names_shown

FORMAT = 1


@dataclass
class TableEncoder:
    """The codings of the kept columns, in the file's order, and the columns left out (with
    why). ``transform`` gives the model's float32 inputs, named by ``inputs``."""

    codings: list[Coding]
    dropped: list[dict] = field(default_factory=list)  # {"name", "reason"}

    @property
    def feature_names(self) -> list[str]:
        """The columns the encoder reads."""
        return [c.name for c in self.codings]

    @property
    def inputs(self) -> list[str]:
        """The model's input names: ``age``, ``age_missing``, ``region=west``, ..."""
        return [name for c in self.codings for name in c.inputs]

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The columns to read as text whatever they hold."""
        return tuple(c.name for c in self.codings if c.kind == "categorical")

    @classmethod
    def fit(cls, table: Table, rows: np.ndarray, *, target: str, problems: Problems,
            drop=(), categorical=(), numeric=(), min_frequency: int = 5,
            max_categories: int = 100) -> TableEncoder:
        """Decide each column's kind (the options first, then ``infer_kind``) and fit its
        coding on ``rows``. Problems go to ``problems``; the encoder returned is only
        meaningful when there are none."""
        asked = _asked(table, target, problems, drop=drop, categorical=categorical,
                       numeric=numeric)
        codings, dropped = [], []
        for name, col in table.columns.items():
            if name == target:
                continue
            kind, note = _kind(col, asked.get(name), rows, table, problems)
            if kind is None:
                dropped.append({"name": name, "reason": note.removeprefix("dropped: ")})
                continue
            if kind == "numeric" and col.kind == "text":
                col, _ = numbers_of(col)
            coding = fit_coding(col, kind, rows, min_frequency, max_categories)
            coding.text_as_missing = asked.get(name) == "numeric"
            coding.note = "; ".join(p for p in (note, coding.note) if p)
            codings.append(coding)
        if not codings:
            problems.add(f"no feature column is left to learn from (left out: "
                         f"{names_shown([d['name'] for d in dropped])})",
                         "keep a column with --categorical or --numeric")
        return cls(codings, dropped)

    def transform(self, table: Table, rows: np.ndarray | None, problems: Problems
                  ) -> np.ndarray:
        """The model's inputs for ``rows`` of ``table`` (all rows when None), float32."""
        missing = [c.name for c in self.codings if c.name not in table.columns]
        if missing:
            problems.add(f"the model needs feature columns {self.feature_names[:20]}: there "
                         f"{'is no column' if len(missing) == 1 else 'are no columns'} "
                         f"{names_shown(missing)} (the data has {names_shown(table.names)})")
            return np.empty((0, len(self.inputs)), dtype=np.float32)
        n = table.n_rows if rows is None else len(rows)
        out = np.empty((n, len(self.inputs)), dtype=np.float32)
        start = 0
        for c in self.codings:
            width = len(c.inputs)
            encode(c, table.columns[c.name], rows, out[:, start:start + width], problems,
                   table)
            start += width
        return out

    def summary(self) -> list[tuple[str, str, str]]:
        """(column, kind, what was done) for every feature column, in the file's order."""
        rows = [(c.name, c.kind, _treatment(c)) for c in self.codings]
        rows += [(d["name"], "dropped", d["reason"]) for d in self.dropped]
        return rows

    def to_dict(self) -> dict:
        return {"format": FORMAT, "missing_values": sorted(MISSING),
                "columns": [c.to_dict() for c in self.codings], "dropped": self.dropped,
                "inputs": self.inputs}

    @classmethod
    def from_dict(cls, d: dict) -> TableEncoder:
        if not isinstance(d, dict) or d.get("format") != FORMAT \
                or not isinstance(d.get("columns"), list):
            raise ValueError("the preprocessing is not one this version of deltagrad reads")
        encoder = cls([Coding.from_dict(c) for c in d["columns"]], list(d.get("dropped", [])))
        if d.get("inputs") != encoder.inputs:
            raise ValueError("the preprocessing's input names disagree with its columns")
        return encoder

    @classmethod
    def from_metadata(cls, meta: dict) -> TableEncoder:
        """The encoder a ``deltagrad train`` model's metadata keeps: its ``preprocessing``,
        or, in a folder from before column kinds, its ``scaler`` over ``feature_names``. A
        ValueError or TypeError says what is garbled."""
        if "preprocessing" in meta:
            return cls.from_dict(meta["preprocessing"])
        scaler = StandardScaler.from_dict(meta["scaler"])
        return cls.from_scaler(meta["feature_names"], scaler.mean_, scaler.scale_)

    @classmethod
    def from_scaler(cls, names: list[str], mean, scale) -> TableEncoder:
        """The encoder of a model folder from before column kinds: numeric columns, each
        standardised, none missing."""
        return cls([Coding(n, "numeric", float(m), False, float(m), float(s))
                    for n, m, s in zip(names, mean, scale)])


def _asked(table: Table, target: str, problems: Problems, **options) -> dict[str, str]:
    """{column: "drop" | "categorical" | "numeric"} from the options, their mistakes
    (unknown columns, the target, a column named twice) added to ``problems``."""
    asked: dict[str, str] = {}
    for option, names in options.items():
        for name in names:
            flag = f"--{option}"
            if name not in table.columns:
                problems.add(f"{flag}: no column {name!r} (the columns are "
                             f"{names_shown(table.names)})", "check the spelling")
            elif name == target:
                problems.add(f"{flag}: {name!r} is the target", f"leave it out of {flag}")
            elif name in asked:
                problems.add(f"{name!r} is given to both --{asked[name]} and {flag}",
                             "name it once")
            else:
                asked[name] = option
    return asked


def _kind(col: Column, asked: str | None, rows, table, problems) -> tuple[str | None, str]:
    if asked == "drop":
        return None, "dropped: --drop"
    if asked == "categorical":
        return "categorical", "--categorical"
    if asked == "numeric":
        numbers, bad = numbers_of(col)
        if np.isnan(numbers.data[rows]).all():
            problems.add(f"--numeric {col.name}: the column holds no numbers",
                         f"--categorical {col.name}, or --drop {col.name}")
            return None, "dropped: no numbers"
        return "numeric", (f"--numeric: {bad} cell{'s' * (bad > 1)} that are no numbers "
                           f"read as missing" if bad else "--numeric")
    return infer_kind(col, rows, table, problems)


def _treatment(c: Coding) -> str:
    what = {"numeric": "standardised", "boolean": "0/1",
            "categorical": "one-hot", "date": "day number, month and weekday cycles"}[c.kind]
    if c.kind == "boolean" and c.indicator:
        what += f"; missing -> {int(c.fill)}"
    if c.kind == "date" and c.indicator:
        what += "; missing -> median date"
    parts = [what, c.note] + (["+ missing indicator"] if c.indicator else [])
    return "; ".join(p for p in parts if p)
