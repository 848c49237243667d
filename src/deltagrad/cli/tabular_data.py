"""Data for the tabular commands: a built-in set or a CSV file, split, preprocessed, and
lined up with what a saved model expects (its feature columns, its class labels).

The pipeline, in order: ``load_source`` reads the table (``data.load_csv`` turns a CSV file's
cells into numbers), ``prepare`` splits it and fits a ``Preprocessing`` on the training split,
and the model's metadata keeps that ``Preprocessing`` so that ``evaluate`` and ``predict``
apply exactly the same steps to new rows. Handling of column types (categories, missing
values, id columns) belongs in ``Preprocessing``, with its fitted state in the metadata.

Everything a model needs to be used later on new data is kept in its metadata: the task,
the feature names, the class labels, the fitted preprocessing, and where the data came from
(so ``deltagrad evaluate DIR`` can rebuild the held-out test split).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import (DataError, Dataset, StandardScaler, load_csv, load_dataset,
                    train_val_test_split)
from .errors import CLIError


def _is_csv(data: str) -> bool:
    path = Path(data)
    return path.suffix.lower() in (".csv", ".txt") or path.exists()


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f, skipinitialspace=True):
            if row and any(cell.strip() for cell in row):
                return [cell.strip() for cell in row]
    return []


def load_source(data: str, target: str | None, task: str | None, seed: int
                ) -> tuple[Dataset, dict]:
    """The data set ``data`` names (a built-in name or a CSV path) and a description of the
    source for the model's metadata: ``{"kind", "source", "target"}``."""
    if _is_csv(data):
        path = Path(data)
        if path.is_dir():
            raise CLIError(f"--data {data}: is a folder, expected a CSV file")
        column = target if target is not None else -1
        ds = load_csv(path, column, task=task)
        header = _header(path)
        name = column if isinstance(column, str) and column.strip() in header else \
            header[int(column)]
        return ds, {"kind": "csv", "source": str(path.resolve()), "target": name}
    if target is not None:
        raise CLIError(f"--target applies to CSV files; the built-in set {data!r} has its own "
                       f"target")
    ds = load_dataset(data, seed=seed)
    if task is not None and task != ds.task:
        raise CLIError(f"--task {task}: the built-in set {ds.name!r} is a {ds.task} task")
    return ds, {"kind": "builtin", "source": ds.name, "target": "target"}


@dataclass
class Preprocessing:
    """How a table's feature columns become the model's inputs, and its outputs predictions:
    fitted on the training split only, saved in the model's metadata, and applied again by
    ``evaluate`` and ``predict``. Today each feature is standardised, and so is a regression
    target."""

    feature_names: list[str]  # the model's input columns, in order
    scaler: StandardScaler
    target_scaler: StandardScaler | None  # regression only

    @classmethod
    def fit(cls, ds: Dataset, X_train: np.ndarray, y_train: np.ndarray) -> Preprocessing:
        target_scaler = None
        if ds.task == "regression":
            target_scaler = StandardScaler().fit(_column(y_train))
        return cls(list(ds.feature_names), StandardScaler().fit(X_train), target_scaler)

    def inputs(self, X: np.ndarray) -> np.ndarray:
        """Rows of the feature columns, in original units -> the model's input."""
        return self.scaler.transform(X) if len(X) else X

    def targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model learns them: class indices as they are, regression values
        standardised (as a column)."""
        if self.target_scaler is None or not len(y):
            return y
        return self.target_scaler.transform(_column(y))

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """A regression model's outputs, back in the target's units."""
        return self.target_scaler.inverse_transform(outputs)

    def to_metadata(self) -> dict:
        return {"feature_names": self.feature_names, "scaler": self.scaler.to_dict(),
                "target_scaler": self.target_scaler.to_dict() if self.target_scaler else None}

    @classmethod
    def from_metadata(cls, meta: dict, folder) -> Preprocessing:
        scaler = StandardScaler.from_dict(meta["scaler"])
        target_scaler = (StandardScaler.from_dict(meta["target_scaler"])
                         if meta.get("target_scaler") else None)
        if scaler.n_features_in_ != len(meta["feature_names"]):
            raise CLIError(f"{folder}: its scaler and feature names disagree")
        return cls(list(meta["feature_names"]), scaler, target_scaler)


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


def prepare(ds: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Prepared:
    classification = ds.task == "classification"
    s = train_val_test_split(ds.X, ds.y, val_fraction=val_fraction,
                             test_fraction=test_fraction, stratify=classification, seed=seed)
    if classification:
        missing = sorted(set(range(len(ds.class_names))) - set(s.y_train.tolist()))
        if missing:
            names = [ds.class_names[i] for i in missing]
            raise DataError(f"{ds.name}: class{'es' * (len(names) > 1)} {names} "
                            f"{'have' if len(names) > 1 else 'has'} no sample in the training "
                            f"split; more data is needed")
    prep = Preprocessing.fit(ds, s.X_train, s.y_train)
    return Prepared(prep.inputs(s.X_train), prep.targets(s.y_train),
                    prep.inputs(s.X_val), prep.targets(s.y_val),
                    prep.inputs(s.X_test), s.y_test, prep)


def _column(y: np.ndarray) -> np.ndarray:
    return y.reshape(len(y), -1)


# --- a saved model's view of data ------------------------------------------------------------


def check_metadata(meta: dict, folder) -> None:
    needed = ("task", "feature_names", "scaler", "data", "target")
    missing = [k for k in needed if k not in meta]
    if missing:
        raise CLIError(f"{folder}: this model was not made by 'deltagrad train' (its metadata "
                       f"lacks {missing}); load it in Python with dg.load")


def align(ds: Dataset, meta: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``ds``'s features in the model's column order, and its targets as the model's class
    indices (classification) or values (regression)."""
    features = meta["feature_names"]
    missing = [f for f in features if f not in ds.feature_names]
    if missing:
        raise DataError(f"{where}: the model needs feature column{'s' * (len(missing) > 1)} "
                        f"{missing[:10]}, which the data lacks (it has "
                        f"{ds.feature_names[:10]})")
    X = ds.X[:, [ds.feature_names.index(f) for f in features]]
    if meta["task"] != ds.task:
        raise DataError(f"{where}: the model does {meta['task']}, but this target is a "
                        f"{ds.task} target")
    if ds.task == "regression":
        return X, ds.y
    index = {name: i for i, name in enumerate(meta["class_names"])}
    unknown = [c for c in ds.class_names if c not in index]
    if unknown:
        raise DataError(f"{where}: the target holds {unknown[:5]}, not among the model's "
                        f"classes {meta['class_names'][:20]}")
    codes = np.array([index[c] for c in ds.class_names], dtype=np.int64)
    return X, codes[ds.y]


def evaluation_data(meta: dict, data: str | None, target: str | None
                    ) -> tuple[np.ndarray, np.ndarray, str]:
    """(X, y, description): the held-out test split of the training data when ``data`` is
    None, else every row of ``data``. X is in original units (not yet standardised)."""
    source = meta["data"]
    if data is None:
        if not source.get("test_fraction"):
            raise CLIError("the training run kept no test split (--test-fraction 0); "
                           "pass --data to evaluate on other data")
        if source["kind"] == "csv" and not Path(source["source"]).exists():
            raise CLIError(f"the training data {source['source']} is gone; pass --data")
        ds, _ = load_source(source["source"], source["target"] if source["kind"] == "csv"
                            else None, meta["task"], source["seed"])
        X, y = align(ds, meta, ds.name)
        s = train_val_test_split(X, y, val_fraction=source["val_fraction"],
                                 test_fraction=source["test_fraction"],
                                 stratify=meta["task"] == "classification",
                                 seed=source["seed"])
        name = Path(source["source"]).name if source["kind"] == "csv" else source["source"]
        return s.X_test, s.y_test, f"the held-out test split of {name}"
    if target is None and _is_csv(data):
        target = meta["target"] if meta["data"]["kind"] == "csv" else None
        if target is not None and target not in _header(Path(data)):
            target = None  # not there: the last column, as for training
    ds, info = load_source(data, target, meta["task"], meta["data"]["seed"])
    X, y = align(ds, meta, data)
    return X, y, f"all rows of {Path(data).name if info['kind'] == 'csv' else ds.name}"
