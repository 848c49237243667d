"""Data sets, tables (CSV and Parquet) and their columns, splitting, scaling and
mini-batching, on plain NumPy arrays.

scikit-learn is needed only for the real built-in sets, and pyarrow only to read a table
file; each is imported only when it is used.
"""

from .batching import iterate_minibatches
from .csv import MAX_INFERRED_CLASSES, Target, load_csv, load_csv_features, target_of
from .datasets import (DATASETS, Dataset, load_dataset, make_blobs, make_circles,
                       make_gaussians, make_moons, make_plane, make_spirals, make_xor)
from .encoder import TableEncoder
from .errors import DataError, Problems
from .scaling import StandardScaler
from .split import Split, train_val_test_split
from .table import Column, Table, read_table

__all__ = [
    "DATASETS", "MAX_INFERRED_CLASSES", "Column", "DataError", "Dataset", "Problems", "Split",
    "StandardScaler", "Table", "TableEncoder", "Target", "iterate_minibatches", "load_csv",
    "load_csv_features", "load_dataset", "make_blobs", "make_circles", "make_gaussians",
    "make_moons", "make_plane", "make_spirals", "make_xor", "read_table", "target_of",
    "train_val_test_split",
]
