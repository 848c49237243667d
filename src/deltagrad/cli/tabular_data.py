"""Data for the tabular commands: a built-in set or a table file (CSV, Parquet), split,
preprocessed, and lined up with what a saved model expects (its columns, its class labels).

The pipeline, in order: ``read_source`` reads the table and its target column, ``prepare``
splits the rows and fits a ``Preprocessing`` on the training rows (what each column is and
how it becomes the model's inputs: ``data.TableEncoder``), and the model's metadata keeps that
``Preprocessing`` so that ``evaluate`` and ``predict`` apply exactly the same steps to new
rows. Every problem of a file is gathered and reported in one error.

Everything a model needs to be used later on new data is kept in its metadata: the task,
the columns it reads, the class labels, the fitted preprocessing, and where the data came
from (so ``deltagrad evaluate DIR`` can rebuild the held-out test split).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data import (DataError, Problems, StandardScaler, Table, TableEncoder, Target,
                    load_dataset, read_table, target_of, train_val_test_split)
from ..data.csv import target_name
from .errors import CLIError
from .tabular_settings import read_options


def is_file(data: str) -> bool:
    path = Path(data)
    return path.suffix.lower() in (".csv", ".txt", ".tsv", ".parquet", ".pq") or path.exists()


def column_list(text: str | None) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]`` (an option naming columns)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


@dataclass
class Source:
    """A table, its target column made ready, and a description for the model's metadata:
    ``{"kind", "source", "target"}`` (and, for a file, its fingerprint)."""

    table: Table
    target: Target
    name: str
    info: dict
    notes: list[str] = field(default_factory=list)


def read_source(data: str, target: str | None, task: str | None, seed: int, problems: Problems,
                *, read: dict | None = None, text_columns=(), prefer: str | None = None
                ) -> Source | None:
    """The data ``data`` names (a built-in name or a table file); None when its problems
    (added to ``problems``) leave nothing to go on with. ``read``: the file's delimiter and
    encoding. Without a ``target``, the column ``prefer`` if the file has it, else the
    last."""
    if not is_file(data):
        if target is not None:
            raise CLIError(f"--target applies to table files; the built-in set {data!r} has "
                           f"its own target")
        ds = load_dataset(data, seed=seed)
        if task is not None and task != ds.task:
            raise CLIError(f"--task {task}: the built-in set {ds.name!r} is a {ds.task} task")
        table = Table.from_numbers(ds.name, ds.X, ds.feature_names)
        found = Target(ds.y, ds.task, ds.class_names, np.arange(len(ds.y)))
        return Source(table, found, ds.name, {"kind": "builtin", "source": ds.name,
                                              "target": "target"})
    table = read_table(data, text_columns=tuple(text_columns), **(read or {}))
    problems.where = table.path
    note_bad_rows(table, problems)
    if table.n_rows == 0:
        raise DataError(f"{table.path}: a header row but no data rows")
    if target is None:
        target = prefer if prefer in table.columns else -1
    name = target_name(table, target)
    found = target_of(table, name, task, problems)
    if found is None:
        return None
    notes = []
    if len(found.rows) < table.n_rows:
        left = table.n_rows - len(found.rows)
        notes.append(f"{left} row{'s' * (left > 1)} without a value of {name!r} left out")
    return Source(table, found, Path(data).stem, {"kind": "csv", "source": str(Path(
        data).resolve()), "target": name}, notes)


def note_bad_rows(table: Table, problems: Problems) -> None:
    """Rows with more or fewer fields than the header: one problem each."""
    for line, fields in table.bad_rows:
        problems.add(f"line {line} has {fields} fields, but the header has "
                     f"{len(table.header)} columns", "mend or delete the line")


@dataclass
class Preprocessing:
    """How a table's columns become the model's inputs (``encoder``), and its outputs
    predictions: fitted on the training rows only, saved in the model's metadata, and
    applied again by ``evaluate`` and ``predict``. A regression target is standardised."""

    encoder: TableEncoder
    target_scaler: StandardScaler | None  # regression only

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.feature_names

    def inputs(self, table: Table, rows: np.ndarray | None = None) -> np.ndarray:
        """Rows of ``table`` -> the model's inputs (all its problems in one error)."""
        problems = Problems(table.path)
        X = self.encoder.transform(table, rows, problems)
        problems.raise_if_any()
        return X

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model learns them: class indices as they are, regression values
        standardised (as a column)."""
        if self.target_scaler is None or not len(y):
            return y
        return self.target_scaler.transform(y.reshape(len(y), -1))

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """A regression model's outputs, back in the target's units."""
        return self.target_scaler.inverse_transform(outputs)

    def to_metadata(self) -> dict:
        return {"feature_names": self.feature_names, "preprocessing": self.encoder.to_dict(),
                "target_scaler": self.target_scaler.to_dict() if self.target_scaler else None}

    @classmethod
    def from_metadata(cls, meta: dict, folder) -> Preprocessing:
        try:
            encoder = TableEncoder.from_metadata(meta)
            target_scaler = (StandardScaler.from_dict(meta["target_scaler"])
                             if meta.get("target_scaler") else None)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"{folder}: its preprocessing is damaged ({exc})") from None
        if encoder.feature_names != list(meta["feature_names"]):
            raise CLIError(f"{folder}: its preprocessing and feature names disagree")
        return cls(encoder, target_scaler)


@dataclass
class Prepared:
    """The three splits, with the preprocessing fitted on the training split applied to the
    features (and to the targets the model trains on)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray  # in original units (regression) / class indices
    preprocessing: Preprocessing
    n_rows: int  # the rows with a target
    points: tuple | None = None  # (X, y) in original units for a 2-column picture


def split_rows(found: Target, s: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The table rows of the training, validation and test splits (seeded, stratified)."""
    index = np.arange(len(found.rows))
    parts = train_val_test_split(index, found.y, val_fraction=s["val_fraction"],
                                 test_fraction=s["test_fraction"],
                                 stratify=found.task == "classification", seed=s["seed"])
    return parts.X_train, parts.X_val, parts.X_test


def prepare(source: Source, s: dict, problems: Problems) -> Prepared:
    """Split ``source``, fit the preprocessing on the training rows (with the options of
    ``s``), and apply it to every split; all problems found are raised together."""
    found = source.target
    try:
        train, val, test = split_rows(found, s)
    except ValueError as exc:  # too few rows for the fractions asked
        raise DataError(f"{source.table.path}: {str(exc).removeprefix('train_val_test_split: ')}"
                        f" (fix: more rows, or a smaller --val-fraction or --test-fraction)"
                        ) from None
    if found.task == "classification":
        _check_classes(source, found.y[train])
    encoder = TableEncoder.fit(
        source.table, found.rows[train], target=source.info["target"], problems=problems,
        drop=column_list(s["drop"]), categorical=column_list(s["categorical"]),
        numeric=column_list(s["numeric"]), min_frequency=s["min_frequency"],
        max_categories=s["max_categories"])
    if not encoder.codings:
        problems.raise_if_any()
    target_scaler = None
    if found.task == "regression":
        target_scaler = StandardScaler().fit(found.y[train].reshape(-1, 1))
    prep = Preprocessing(encoder, target_scaler)
    # The columns' cells are checked even when fitting found problems, so that one error
    # lists them all.
    X = [encoder.transform(source.table, found.rows[part], problems)
         for part in (train, val, test)]
    problems.raise_if_any()
    return Prepared(X[0], prep.targets(found.y[train]), X[1], prep.targets(found.y[val]),
                    X[2], found.y[test], prep, len(found.rows), _points(source, encoder))


def _check_classes(source: Source, y_train: np.ndarray) -> None:
    names = source.target.class_names
    missing = sorted(set(range(len(names))) - set(y_train.tolist()))
    if missing:
        shown = [names[i] for i in missing]
        raise DataError(f"{source.table.path}: class{'es' * (len(shown) > 1)} {shown} "
                        f"{'have' if len(shown) > 1 else 'has'} no sample in the training "
                        f"split (fix: more rows of {'them' if len(shown) > 1 else 'it'}, or "
                        f"drop those rows)")


def _points(source: Source, encoder: TableEncoder) -> tuple | None:
    """The two numeric columns and the classes of every row, for a picture of the decision
    regions (None unless the model reads exactly two numeric inputs)."""
    if source.target.task != "classification" or encoder.inputs != encoder.feature_names \
            or len(encoder.inputs) != 2 or any(c.kind != "numeric" for c in encoder.codings):
        return None
    rows = source.target.rows
    X = np.column_stack([source.table.columns[n].data[rows] for n in encoder.inputs])
    return X, source.target.y


# --- a saved model's view of data ------------------------------------------------------------


def check_metadata(meta: dict, folder) -> None:
    needed = ("task", "feature_names", "data", "target")
    missing = [k for k in needed if k not in meta]
    if missing or not ("preprocessing" in meta or "scaler" in meta):
        raise CLIError(f"{folder}: this model was not made by 'deltagrad train' (its metadata "
                       f"lacks {missing or ['preprocessing']}); load it in Python with dg.load")
    if not isinstance(meta["data"], dict):
        raise CLIError(f"{folder}: damaged metadata: 'data' must be a JSON object, got "
                       f"{type(meta['data']).__name__}")


def class_indices(found: Target, meta: dict, where: str) -> np.ndarray:
    """``found``'s targets as the model's class indices (classification) or values."""
    if meta["task"] != found.task:
        raise DataError(f"{where}: the model does {meta['task']}, but this target is a "
                        f"{found.task} target")
    if found.task == "regression":
        return found.y
    index = {name: i for i, name in enumerate(meta["class_names"])}
    unknown = [c for c in found.class_names if c not in index]
    if unknown:
        raise DataError(f"{where}: the target holds {unknown[:5]}, not among the model's "
                        f"classes {meta['class_names'][:20]}")
    codes = np.array([index[c] for c in found.class_names], dtype=np.int64)
    return codes[found.y]


def evaluation_data(meta: dict, prep: Preprocessing, data: str | None, target: str | None,
                    read: dict) -> tuple[np.ndarray, np.ndarray, str]:
    """(inputs, y, description): the held-out test split of the training data when ``data``
    is None, else every row of ``data`` that has a target."""
    source, s = meta["data"], meta.get("settings", {})
    problems = Problems(data or source["source"])
    text = prep.encoder.text_columns
    if data is None:
        if not source.get("test_fraction"):
            raise CLIError("the training run kept no test split (--test-fraction 0); "
                           "pass --data to evaluate on other data")
        if source["kind"] == "csv" and not Path(source["source"]).exists():
            raise CLIError(f"the training data {source['source']} is gone; pass --data")
        read = read_options(s) if source["kind"] == "csv" else {}
        found = read_source(source["source"], source["target"] if source["kind"] == "csv"
                            else None, meta["task"], source["seed"], problems, read=read,
                            text_columns=text)
        problems.raise_if_any()
        if "fingerprint" in source and source["fingerprint"] != found.table.fingerprint():
            raise CLIError(f"the training data {source['source']} has changed since training, "
                           f"so its held-out test split can not be rebuilt; pass --data")
        _, _, test = split_rows(found.target, source)
        X = prep.inputs(found.table, found.target.rows[test])
        y = class_indices(found.target, meta, found.name)[test]
        name = Path(source["source"]).name if source["kind"] == "csv" else source["source"]
        return X, y, f"the held-out test split of {name}"
    prefer = source["target"] if source["kind"] == "csv" else None
    found = read_source(data, target, meta["task"], source["seed"], problems, read=read,
                        text_columns=text, prefer=prefer)
    problems.raise_if_any()
    X = prep.inputs(found.table, found.target.rows)
    y = class_indices(found.target, meta, data)
    where = Path(data).name if found.info["kind"] == "csv" else found.name
    return X, y, f"all rows of {where}"
