"""Read a numeric CSV table with a header row into a ``Dataset``, refusing bad data clearly."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from .datasets import TASKS, Dataset
from .errors import DataError

#: A numeric target is taken as class labels when all its values are whole numbers and there
#: are at most this many distinct ones; otherwise it is a regression target.
MAX_INFERRED_CLASSES = 20

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _show(cell: str) -> str:
    """A cell as it will read in a one-line message: quoted, escaped, and cut when long."""
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")


def _names(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > 20 else "")


def _read_rows(path: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped cells) for every non-blank row, header included; an empty
    file is refused."""
    rows = []
    try:
        # utf-8-sig drops the byte-order mark that spreadsheet programs put first.
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, skipinitialspace=True)
            try:
                for row in reader:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue
                    rows.append((reader.line_num, [cell.strip() for cell in row]))
            except csv.Error as exc:
                raise DataError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from exc
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start} can not be decoded)") from exc
    except OSError as exc:
        raise DataError(f"{path}: can not be read ({exc.strerror or exc})") from exc
    if not rows:
        raise DataError(f"{path}: the file is empty (expected a header row, then one row per "
                        f"sample)")
    return rows


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
                            f"{_names(header)}") from None
    if not -len(header) <= target < len(header):
        raise DataError(f"{path}: target column index {target} is out of range for "
                        f"{len(header)} columns ({_names(header)})")
    return int(target) % len(header)


def _where(path: str, line: int, col: int, name: str) -> str:
    return f"{path}, line {line}, column {col + 1} ({name!r})"


def _parse_number(path: str, line: int, col: int, name: str, cell: str, what: str) -> float:
    where = _where(path, line, col, name)
    if not cell:
        raise DataError(f"{where}: empty cell")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{where}: {_show(cell)} is not a number ({what})") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {_show(cell)} is not a finite number")
    if abs(value) > _FLOAT32_MAX:
        raise DataError(f"{where}: {_show(cell)} is too large for float32")
    return value


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label_name(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _check_header(path: str, line: int, header: list[str]) -> None:
    for j, name in enumerate(header):
        if not name:
            raise DataError(f"{path}, line {line}, column {j + 1}: empty column name in the "
                            f"header")
        if name in header[:j]:
            raise DataError(f"{path}, line {line}, column {j + 1}: duplicate column name "
                            f"{name!r} (also column {header.index(name) + 1})")


def _data_rows(path: str, rows: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    if len(rows) < 2:
        raise DataError(f"{path}: a header row but no data rows")
    return rows[1:]


def _feature_matrix(path: str, header: list[str], data: list[tuple[int, list[str]]],
                    columns: list[int], nonempty: tuple[int, ...] = ()) -> np.ndarray:
    """The cells of ``columns`` (indices into ``header``) of every data row as float32
    ``(rows, len(columns))``, row by row: each row must have the header's length, its feature
    cells must be finite numbers, and its cells in ``nonempty`` (the target) not be empty.

    This is where a feature column's text becomes numbers, for training and prediction alike:
    per-column handling (categories, missing values) belongs here.
    """
    X = np.empty((len(data), len(columns)), dtype=np.float32)
    for i, (line, row) in enumerate(data):
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} fields, but the header has "
                            f"{len(header)} columns")
        X[i] = [_parse_number(path, line, j, header[j], row[j], "features must be numeric")
                for j in columns]
        for j in nonempty:
            if not row[j]:
                raise DataError(f"{_where(path, line, j, header[j])}: empty cell")
    return X


def load_csv(path: str | os.PathLike, target: str | int, *, task: str | None = None,
             min_rows: int = 2) -> Dataset:
    """Read a CSV file with a header row; ``target`` names (or indexes) the column to predict.

    Every other column is a feature and must hold numbers. The target may hold numbers or any
    strings. The task is inferred unless ``task`` says it: a target with any non-numeric value
    is a classification target; so is a numeric one whose values are all whole numbers with at
    most ``MAX_INFERRED_CLASSES`` (20) distinct values; anything else is a regression target.
    Class labels are sorted (numerically when they are all numbers, else as strings), mapped
    to indices 0, 1, ..., and kept as strings in ``class_names``.

    ``target`` is a column name, or an int index (negative counts from the end); a string
    that is no column name but reads as an integer is taken as an index too.

    Bad data raises ``DataError`` with one line naming the file and, where it applies, the
    line (1-based, counting the header) and the column: an empty file, a header without rows,
    rows of the wrong length, empty or non-numeric or non-finite cells, a missing target
    column, a single class, fewer than ``min_rows`` data rows.

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
    path = os.fspath(path)
    rows = _read_rows(path)
    header_line, header = rows[0]
    _check_header(path, header_line, header)
    data = _data_rows(path, rows)
    t = _target_index(path, header, target)
    features = [j for j in range(len(header)) if j != t]
    if not features:
        raise DataError(f"{path}: no feature columns besides the target {header[t]!r}")
    X = _feature_matrix(path, header, data, features, nonempty=(t,))
    if len(data) < min_rows:
        raise DataError(f"{path}: {len(data)} data row{'s' * (len(data) != 1)}, but at least "
                        f"{min_rows} are needed")
    y, task, class_names = _target(path, t, header[t], [(line, row[t]) for line, row in data],
                                   task)
    return Dataset(X=X, y=y, task=task, feature_names=[header[j] for j in features],
                   class_names=class_names, name=Path(path).stem)


def _target(path: str, col: int, name: str, cells: list[tuple[int, str]], task: str | None
            ) -> tuple[np.ndarray, str, list[str] | None]:
    """(y, task, class names) from the (line, cell) pairs of the target column ``col``
    (``name``); the task is inferred when ``task`` is None."""
    # The target is numeric when every cell reads as a number (non-finite ones are refused
    # like a feature's); otherwise it holds class labels, and can not be a regression target.
    numeric = all(_is_number(cell) for _, cell in cells)
    if not numeric and task == "regression":
        line, cell = next((line, cell) for line, cell in cells if not _is_number(cell))
        _parse_number(path, line, col, name, cell, "a regression target must be numeric")
    values = None
    if numeric:
        values = [_parse_number(path, line, col, name, cell, "a numeric target")
                  for line, cell in cells]
    if task is None:
        whole = numeric and all(v.is_integer() for v in values)
        few = numeric and len(set(values)) <= MAX_INFERRED_CLASSES
        task = "regression" if numeric and not (whole and few) else "classification"
    if task == "regression":
        return np.asarray(values, dtype=np.float32), task, None
    labels = values if values is not None else [cell for _, cell in cells]
    classes = sorted(set(labels))
    if len(classes) < 2:
        shown = _label_name(classes[0]) if values is not None else classes[0]
        raise DataError(f"{path}: the target column {name!r} holds a single class "
                        f"({shown!r}); classification needs at least two")
    index = {c: k for k, c in enumerate(classes)}
    y = np.asarray([index[c] for c in labels], dtype=np.int64)
    class_names = [_label_name(c) for c in classes] if values is not None else classes
    return y, task, class_names


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
    path = os.fspath(path)
    rows = _read_rows(path)
    header_line, header = rows[0]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}, line {header_line}: no column{'s' * (len(missing) > 1)} "
                        f"{_names(missing)}; the file has {_names(header)}")
    data = _data_rows(path, rows)
    return _feature_matrix(path, header, data, [header.index(c) for c in columns])
