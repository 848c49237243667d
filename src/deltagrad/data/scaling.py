"""Feature standardisation that can be stored as JSON next to a model's weights."""

from __future__ import annotations

import numpy as np


class StandardScaler:
    """Centre each column on its training mean and divide by its training standard deviation.

    Fit on the training split only, then transform every split with the same statistics. A
    column that is constant in the training data keeps scale 1 (it is only centred). Statistics
    are kept in float64; transformed data is float32. ``to_dict()`` gives plain lists of floats
    for a model's JSON metadata and ``from_dict()`` rebuilds the scaler from them.

    >>> sc = StandardScaler().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> sc.transform(np.array([[2.0, 6.0]])).tolist()
    [[0.0, 1.0]]
    >>> StandardScaler.from_dict(sc.to_dict()).scale_.tolist()
    [1.0, 1.0]
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    @property
    def n_features_in_(self) -> int | None:
        return None if self.mean_ is None else len(self.mean_)

    @staticmethod
    def _as_2d(X, what: str) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"StandardScaler.{what}: expected a 2-D array (samples, features), "
                             f"got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"StandardScaler.{what}: expected numbers, got dtype {X.dtype}")
        return X

    def fit(self, X) -> StandardScaler:
        """Learn each column's mean and standard deviation (population, ddof=0) from ``X``."""
        X = self._as_2d(X, "fit")
        if len(X) == 0:
            raise ValueError("StandardScaler.fit: X has no rows")
        X64 = X.astype(np.float64, copy=False)
        if not np.isfinite(X64).all():
            raise ValueError("StandardScaler.fit: X contains NaN or infinite values")
        mean = X64.mean(axis=0)
        std = np.sqrt(((X64 - mean) ** 2).mean(axis=0))
        # Exactly constant columns are found exactly (max == min), not by a tolerance on a
        # computed std that rounding can leave a hair above zero.
        constant = X64.max(axis=0) == X64.min(axis=0)
        self.mean_ = mean
        self.scale_ = np.where(constant | (std == 0), 1.0, std)
        return self

    def _check_fitted(self, X, what: str) -> np.ndarray:
        if self.mean_ is None:
            raise ValueError(f"StandardScaler.{what}: the scaler is not fitted yet; call fit() "
                             f"on the training data first")
        X = self._as_2d(X, what)
        if X.shape[1] != len(self.mean_):
            raise ValueError(f"StandardScaler.{what}: X has {X.shape[1]} features but the "
                             f"scaler was fitted on {len(self.mean_)}")
        return X

    def transform(self, X) -> np.ndarray:
        """``(X - mean_) / scale_`` as float32."""
        X = self._check_fitted(X, "transform")
        return ((X - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """``Z * scale_ + mean_`` as float32: back to the original units."""
        Z = self._check_fitted(Z, "inverse_transform")
        return (Z * self.scale_ + self.mean_).astype(np.float32)

    def to_dict(self) -> dict:
        """``{"mean": [...], "scale": [...]}``, JSON-serialisable."""
        if self.mean_ is None:
            raise ValueError("StandardScaler.to_dict: the scaler is not fitted yet")
        return {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> StandardScaler:
        """Rebuild a fitted scaler from ``to_dict()``'s output."""
        if not isinstance(d, dict) or not {"mean", "scale"} <= d.keys():
            raise ValueError("StandardScaler.from_dict: expected a dict with keys 'mean' and "
                             "'scale'")
        try:
            mean = np.asarray(d["mean"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"StandardScaler.from_dict: 'mean' and 'scale' must be lists of "
                             f"numbers ({exc})") from None
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise ValueError(f"StandardScaler.from_dict: 'mean' and 'scale' must be flat lists of "
                             f"one length, got shapes {mean.shape} and {scale.shape}")
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ValueError("StandardScaler.from_dict: 'mean' must be finite and 'scale' "
                             "finite and positive")
        scaler = cls()
        scaler.mean_, scaler.scale_ = mean, scale
        return scaler

    def __repr__(self) -> str:
        fitted = f"n_features_in_={self.n_features_in_}" if self.mean_ is not None else "unfitted"
        return f"StandardScaler({fitted})"
