"""What the training loop trains on: inputs, targets and sample weights, checked once up front
and then cut into batches without further checks.

Inputs are one array per argument of the model's ``forward``: a single array (float features,
or integer ids such as windows of word or character ids), a SciPy sparse matrix (densified a
batch at a time), or a tuple of them for a model that takes several inputs (the NER tagger's
word windows and casing windows). Float features are cast to the model's dtype; integer and
boolean arrays are never cast, since ids must stay ids.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..backend import to_device
from ..data.split import train_val_test_split
from ._resolve import CLASSIFICATION_LOSSES

#: built-in losses whose targets are numbers of the outputs' shape
LOSS_WITH_FLOAT_TARGET = ("bce_with_logits", "mse", "l1", "huber")


def is_sparse(x) -> bool:
    """A SciPy sparse matrix or array (recognised without importing SciPy)."""
    return not isinstance(x, np.ndarray) and hasattr(x, "tocsr") and hasattr(x, "toarray")


def batch_rows(x, rows: slice, device=None):
    """Rows ``rows`` of one input: a view of an array, a dense copy of sparse rows; a copy on
    ``device`` when one is given (the host's are kept: a data set need not fit the device)."""
    part = x[rows] if isinstance(x, np.ndarray) else x[rows].toarray()
    return part if device is None else to_device(part, device)


def on_device(inputs: tuple, target, device):
    """A batch's inputs and target copied to ``device`` (None: they stay on the host)."""
    if device is None:
        return inputs, target
    return tuple([to_device(x, device) for x in inputs]), to_device(target, device)


def _take(x, index: np.ndarray):
    """Rows ``index`` of ``x`` (None stays None); ``take`` is several times faster than
    fancy indexing for the small arrays of small data sets."""
    if isinstance(x, np.ndarray):
        return x.take(index, axis=0)
    return None if x is None else x[index]


class Samples:
    """Inputs (a tuple, one entry per argument of ``forward``), targets and optional
    per-sample weights, one row per sample, already checked and typed."""

    __slots__ = ("inputs", "target", "weight")

    def __init__(self, inputs: tuple, target, weight: np.ndarray | None = None):
        self.inputs, self.target, self.weight = inputs, target, weight

    def __len__(self) -> int:
        return self.inputs[0].shape[0]

    def take(self, index: np.ndarray) -> Samples:
        """The samples at ``index``: one gather per array, after which every batch is a
        view (sparse inputs stay sparse until their batch is cut)."""
        inputs = tuple([_take(x, index) for x in self.inputs])
        return Samples(inputs, _take(self.target, index), _take(self.weight, index))

    def batch(self, start: int, stop: int):
        """``(inputs, target, weight)`` of rows ``start:stop``, ready for the model."""
        rows = slice(start, stop)
        inputs = tuple([batch_rows(x, rows) for x in self.inputs])
        weight = None if self.weight is None else self.weight[rows]
        return inputs, self.target[rows], weight

    def fingerprint(self) -> str:
        """A short digest of every array's shape, dtype and bytes: a resumed run checks with
        it that it trains on the data it started with."""
        digest = hashlib.blake2b(digest_size=12)
        for x in (*self.inputs, self.target, self.weight):
            parts = () if x is None else (x.data, x.indices, x.indptr) if is_sparse(x) else (x,)
            for part in parts:
                part = np.ascontiguousarray(part)
                digest.update(f"{part.shape}{part.dtype.str}".encode())
                digest.update(part.view(np.uint8).reshape(-1))
        return digest.hexdigest()


def as_inputs(X, dtype: np.dtype, where: str, *, check_finite: bool = True) -> tuple:
    """``X`` as a tuple of arrays with one row per sample each (see the module's docstring);
    NaN or infinite features are refused unless ``check_finite`` is false."""
    parts = X if isinstance(X, tuple) else (X,)
    if not parts:
        raise ValueError(f"{where}: X is an empty tuple; give one array per model input")
    inputs = tuple(_one_input(x, dtype, where if len(parts) == 1 else f"{where}: X[{i}]",
                              check_finite) for i, x in enumerate(parts))
    counts = {x.shape[0] for x in inputs}
    if len(counts) > 1:
        raise ValueError(f"{where}: the inputs have different numbers of rows: "
                         f"{[x.shape[0] for x in inputs]}")
    return inputs


def _one_input(x, dtype: np.dtype, where: str, check_finite: bool):
    if is_sparse(x):
        x = x.tocsr().astype(dtype, copy=False)
        if check_finite and not np.isfinite(x.data).all():
            raise ValueError(f"{where}: X holds NaN or infinite values")
        return x
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{where}: X needs one row per sample, got a scalar")
    if x.dtype.kind in "fcO":
        x = np.ascontiguousarray(x, dtype=dtype)
        if check_finite and not np.isfinite(x).all():
            row = int(np.argwhere(~np.isfinite(x))[0][0])
            raise ValueError(f"{where}: X holds NaN or infinite values (row {row})")
    elif x.dtype.kind not in "biu":
        raise TypeError(f"{where}: X must hold numbers, got dtype {x.dtype}")
    return x


def check_weight(sample_weight, n: int, where: str) -> np.ndarray | None:
    """Per-sample weights as float64 of shape (n,): finite, >= 0, not all zero."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{where}: sample_weight must have shape {(n,)}, got {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.any()):
        raise ValueError(f"{where}: sample_weight must be finite, >= 0 and not all 0")
    return w


def check_target(y, loss_name: str | None, out_shape: tuple, dtype: np.dtype, where: str):
    """``y`` typed and shaped for the loss, against outputs of shape ``(n, *out_shape[1:])``:
    class labels for cross-entropy, numbers of the outputs' shape for the other built-in
    losses; a custom loss gets ``y`` as given."""
    if loss_name == "cross_entropy" and y.dtype.kind != "f":
        # Outputs (n, C) with labels (n,), or (n, C, d...) with labels (n, d...).
        if y.dtype.kind not in "biu" or len(out_shape) < 2 or y.shape[1:] != out_shape[2:]:
            raise ValueError(f"{where}: cross_entropy needs integer class labels of shape "
                             f"(n, {', '.join(map(str, out_shape[2:]))}) for outputs of "
                             f"shape (n, {', '.join(map(str, out_shape[1:]))}), got y of "
                             f"shape {y.shape} and dtype {y.dtype}".replace(", )", ",)"))
        n_classes = out_shape[1]
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{where}: y holds classes {int(y.min())}..{int(y.max())} but "
                             f"the model outputs {n_classes} scores per sample")
        return y.astype(np.int64, copy=False)
    if loss_name in LOSS_WITH_FLOAT_TARGET:
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{where}: y must hold numbers, got dtype {y.dtype}")
        y = y.astype(dtype, copy=False)
        if not np.isfinite(y).all():
            raise ValueError(f"{where}: y holds NaN or infinite values")
        if y.ndim == 1 and len(out_shape) == 2 and out_shape[1] == 1:
            y = y[:, None]  # (n,) against outputs (n, 1) would broadcast to (n, n)
        if y.shape[1:] != out_shape[1:]:
            raise ValueError(f"{where}: y has shape {y.shape} but the model outputs "
                             f"{out_shape[1:]} per sample")
    return y


def split_validation(data: Samples, fraction: float, loss_name: str | None,
                     seed: int) -> tuple[Samples, Samples]:
    """(training part, validation part) of ``data``: ``fraction`` of the samples drawn with
    ``seed``, stratified by class for a classification loss with one label per sample."""
    y = data.target
    stratify = loss_name in CLASSIFICATION_LOSSES and y.ndim == 1
    split = train_val_test_split(np.arange(len(data)), y, val_fraction=fraction,
                                 test_fraction=0.0, stratify=stratify, seed=seed)
    return data.take(split.X_train), data.take(split.X_val)
