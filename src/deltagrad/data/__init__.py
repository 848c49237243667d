"""Data sets, CSV loading, splitting, scaling and mini-batching, on plain NumPy arrays.

scikit-learn is needed only for the real built-in sets (``pip install deltagrad[data]``) and is
imported only when one is loaded.
"""

from .batching import iterate_minibatches
from .csv import MAX_INFERRED_CLASSES, load_csv, load_csv_features
from .datasets import (DATASETS, Dataset, load_dataset, make_blobs, make_circles,
                       make_gaussians, make_moons, make_plane, make_spirals, make_xor)
from .errors import DataError
from .scaling import StandardScaler
from .split import Split, train_val_test_split

__all__ = [
    "DATASETS", "MAX_INFERRED_CLASSES", "DataError", "Dataset", "Split", "StandardScaler",
    "iterate_minibatches", "load_csv", "load_csv_features", "load_dataset", "make_blobs",
    "make_circles", "make_gaussians", "make_moons", "make_plane", "make_spirals", "make_xor",
    "train_val_test_split",
]
