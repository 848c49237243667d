"""A table's target column as class indices or values, and ``load_csv``: a CSV file of numbers
read into a ``Dataset``, refusing anything else clearly (``deltagrad train`` reads any
table; see ``encoder.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .columns import numbers_of
from .datasets import TASKS, Dataset
from .errors import DataError, Problems
from .table import FLOAT32_MAX, Table, names_shown, number_text, read_table

#: A numeric target is taken as class labels when all its values are whole numbers and there
#: are at most this many distinct ones; otherwise it is a regression target.
MAX_INFERRED_CLASSES = 20


def _target_index(path: str, header: list[str], target: str | int) -> int:
    if isinstance(target, bool) or not isinstance(target, (str, int, np.integer)):
        raise TypeError(f"load_csv: target must be a column name or an int index, got "
                        f"{type(target).__name__}")
    if isinstance(target, str):
        if target.strip() in header:
            return header.index(target.strip())
        try:
            target = int(target)
        except ValueError:
            raise DataError(f"{path}: no column named {target!r}; available columns: "
                            f"{names_shown(header)}") from None
    if not -len(header) <= target < len(header):
        raise DataError(f"{path}: target column index {target} is out of range for "
                        f"{len(header)} columns ({names_shown(header)})")
    return int(target) % len(header)


def target_name(table: Table, target: str | int) -> str:
    """The name of the column ``target`` names or indexes (a digit string is an index when
    no column has that name; negative indexes count from the end)."""
    return table.header[_target_index(table.path, table.header, target)]


@dataclass
class Target:
    """A target column made ready to learn: ``y`` (class indices, int64, or float32 values)
    for the data rows ``rows`` (those with a target), the task, the class names."""

    y: np.ndarray
    task: str
    class_names: list[str] | None
    rows: np.ndarray


def target_of(table: Table, name: str, task: str | None, problems: Problems) -> Target | None:
    """The target column ``name`` of ``table``; rows without a value are left out. The task
    is inferred unless given: text labels, or whole numbers with at most
    ``MAX_INFERRED_CLASSES`` distinct values, are classes; other numbers a regression
    target. Class labels are sorted (numerically for numbers). Problems (a text or an
    infinite value in a regression target, dates, a single class) go to ``problems``."""
    col = table.columns[name]
    rows = np.flatnonzero(~col.missing)
    if col.kind == "date" or not len(rows):
        problems.add(f"the target column {name!r} holds {'dates' if len(rows) else 'no values'}"
                     f"; deltagrad predicts classes or numbers", "pick another --target")
        return None
    if col.kind == "text":
        if task == "regression":
            numbers, _ = numbers_of(col)
            row = int(rows[np.isnan(numbers.data[rows])][0])
            problems.add(table.cell_problem(row, name, "a regression target must be numeric"))
            return None
        codes = col.data[rows].astype(np.int64)
        return _classes(Target(codes, "classification", list(col.values), rows), name, problems)
    values = col.data[rows]
    if np.isinf(values).any():
        problems.add(table.cell_problem(int(rows[np.isinf(values)][0]), name, "a target"))
        return None
    distinct = np.unique(values)
    if task is None:
        whole = bool(np.all(distinct == np.round(distinct)))
        task = "classification" if whole and len(distinct) <= MAX_INFERRED_CLASSES else \
            "regression"
    if task == "regression":
        return Target(values.astype(np.float32), task, None, rows)
    y = np.searchsorted(distinct, values).astype(np.int64)
    return _classes(Target(y, task, [number_text(v) for v in distinct], rows), name, problems)


def _classes(target: Target, name: str, problems: Problems) -> Target | None:
    if len(target.class_names) < 2:
        problems.add(f"the target column {name!r} holds a single class "
                     f"({target.class_names[0]!r}); classification needs at least two")
        return None
    return target


def load_csv(path: str | os.PathLike, target: str | int, *, task: str | None = None,
             min_rows: int = 2) -> Dataset:
    """Read a CSV file of numbers with a header row; ``target`` names (or indexes) the
    column to predict.

    Every other column is a feature and must hold finite numbers in every cell (``deltagrad
    train`` takes any table: text categories, missing cells, dates). The target may hold
    numbers or any strings; the task is inferred unless ``task`` says it (see
    :func:`target_of`), and class labels are kept as strings in ``class_names``. ``target``
    is a column name, or an int index (negative counts from the end); a string that is no
    column name but reads as an integer is taken as an index too. The file is read as
    :func:`~deltagrad.data.read_table` reads it (delimiter detected, UTF-8).

    Bad data raises ``DataError`` with one line naming the file and, where it applies, the
    line (1-based, counting the header and blank lines) and the column: an empty file, a
    header without rows, rows of the wrong length, empty or non-numeric or non-finite cells,
    a missing target column, a single class, fewer than ``min_rows`` data rows.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pets.csv"
    >>> _ = p.write_text("weight,height,kind\\n4.0,30,cat\\n30,60,dog\\n5,25,cat\\n")
    >>> ds = load_csv(p, "kind")
    >>> ds.task, ds.class_names, ds.y.tolist(), ds.feature_names
    ('classification', ['cat', 'dog'], [0, 1, 0], ['weight', 'height'])
    """
    if task is not None and task not in TASKS:
        raise ValueError(f"load_csv: task must be None or one of {TASKS}, got {task!r}")
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 1:
        raise ValueError(f"load_csv: min_rows must be an int >= 1, got {min_rows!r}")
    table = _read_strictly(path)
    name = target_name(table, target)
    features = [n for n in table.names if n != name]
    if not features:
        raise DataError(f"{table.path}: no feature columns besides the target {name!r}")
    X = _numbers(table, features)
    missing = np.flatnonzero(table.columns[name].missing)
    if len(missing):
        raise DataError(f"{table.path}, {table.cell_problem(int(missing[0]), name, 'a target')}")
    if table.n_rows < min_rows:
        raise DataError(f"{table.path}: {table.n_rows} data row{'s' * (table.n_rows != 1)}, "
                        f"but at least {min_rows} are needed")
    problems = Problems(table.path)
    found = target_of(table, name, task, problems)
    problems.raise_if_any()
    return Dataset(X=X, y=found.y, task=found.task, feature_names=features,
                   class_names=found.class_names, name=Path(table.path).stem)


def _read_strictly(path) -> Table:
    table = read_table(path)
    if table.bad_rows:
        line, fields = table.bad_rows[0]
        raise DataError(f"{table.path}, line {line}: {fields} fields, but the header has "
                        f"{len(table.header)} columns")
    if table.n_rows == 0:
        raise DataError(f"{table.path}: a header row but no data rows")
    return table


def _numbers(table: Table, names: list[str]) -> np.ndarray:
    """The columns ``names`` as float32 (rows, columns); the first cell that is no finite
    float32 number is refused, naming its line and column."""
    X = np.empty((table.n_rows, len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        col = table.columns[name]
        values = numbers_of(col)[0].data if col.kind != "date" else np.full(len(X), np.nan)
        bad = ~np.isfinite(values) | (np.abs(values) > FLOAT32_MAX)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{table.path}, "
                            f"{table.cell_problem(row, name, 'features must be numeric')}")
        X[:, j] = values
    return X


def load_csv_features(path: str | os.PathLike, columns: list[str]) -> np.ndarray:
    """The named ``columns`` of a CSV file with a header row, as float32 ``(rows, columns)``,
    for predicting with a model trained on those features. Other columns (an id, the target)
    are ignored and may hold anything.

    Bad data raises ``DataError`` naming the file, line and column, as ``load_csv`` does: an
    empty file, no data rows, a missing column, rows of the wrong length, empty, non-numeric
    or non-finite cells.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "new.csv"
    >>> _ = p.write_text("id,height,weight\\nrex,60,30\\ntom,25,5\\n")
    >>> load_csv_features(p, ["weight", "height"]).tolist()
    [[30.0, 60.0], [5.0, 25.0]]
    """
    table = _read_strictly(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{table.path}, line 1: no column{'s' * (len(missing) > 1)} "
                        f"{names_shown(missing)}; the file has {names_shown(table.names)}")
    return _numbers(table, columns)
