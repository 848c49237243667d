"""Built-in data sets: the small real ones scikit-learn ships, and seeded synthetic 2-D ones
(classification: moons, circles, spirals, xor, blobs; regression: plane, gaussians).

The real sets (iris, digits, wine, breast_cancer, diabetes) are read from the copies bundled
with scikit-learn, so nothing is downloaded; scikit-learn is imported only when one is asked
for. The synthetic sets are made here in NumPy from a seed, so the same seed always gives the
same points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

TASKS = ("classification", "regression")


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A table of features and targets, ready for splitting and training.

    ``X`` is a float32 array of shape ``(n_samples, n_features)``. ``y`` holds int64 class
    indices (into ``class_names``) for classification, float32 values for regression; it is
    1-D, or 2-D for several regression targets.

    >>> ds = load_dataset("moons", n_samples=10)
    >>> ds.X.shape, ds.y.dtype, ds.task, ds.class_names
    ((10, 2), dtype('int64'), 'classification', ['0', '1'])
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    feature_names: list[str]
    class_names: list[str] | None
    name: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"Dataset {self.name!r}: task must be one of {TASKS}, "
                             f"got {self.task!r}")
        if self.X.ndim != 2 or self.X.dtype != np.float32:
            raise ValueError(f"Dataset {self.name!r}: X must be a 2-D float32 array, got shape "
                             f"{self.X.shape} and dtype {self.X.dtype}")
        if self.y.ndim not in (1, 2) or len(self.y) != len(self.X):
            raise ValueError(f"Dataset {self.name!r}: y must be 1-D or 2-D with {len(self.X)} "
                             f"rows, got shape {self.y.shape}")
        if len(self.feature_names) != self.X.shape[1]:
            raise ValueError(f"Dataset {self.name!r}: {len(self.feature_names)} feature names "
                             f"for {self.X.shape[1]} columns")
        if self.task == "classification":
            if self.y.dtype != np.int64 or self.y.ndim != 1 or self.class_names is None:
                raise ValueError(f"Dataset {self.name!r}: classification needs 1-D int64 y and "
                                 f"class_names, got y of shape {self.y.shape} and dtype "
                                 f"{self.y.dtype}")
            if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
                raise ValueError(f"Dataset {self.name!r}: class indices must lie in "
                                 f"[0, {len(self.class_names)})")
        elif self.y.dtype != np.float32 or self.class_names is not None:
            raise ValueError(f"Dataset {self.name!r}: regression needs float32 y and "
                             f"class_names=None, got dtype {self.y.dtype}")

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int | None:
        """The number of classes, or None for regression."""
        return None if self.class_names is None else len(self.class_names)

    def __repr__(self) -> str:
        extra = f", n_classes={self.n_classes}" if self.class_names is not None else ""
        return (f"Dataset(name={self.name!r}, task={self.task!r}, n_samples={self.n_samples}, "
                f"n_features={self.n_features}{extra})")


# ---------------------------------------------------------------------------------------------
# Synthetic 2-D sets. Each draws everything from one seeded Generator, then shuffles the rows,
# so classes are not in blocks. `noise` is the standard deviation of Gaussian noise added to
# each coordinate (for blobs: the spread of each blob).

def _check_synthetic(name: str, n_samples: int, noise: float, seed: int, min_samples: int):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"{name}: n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < min_samples:
        why = " (one per class)" if min_samples > 1 else ""
        raise ValueError(f"{name}: n_samples must be at least {min_samples}{why}, "
                         f"got {n_samples}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.number)) \
            or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"{name}: noise must be a finite number >= 0, got {noise}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name}: seed must be an int, got {type(seed).__name__}")
    return np.random.default_rng(seed)


def _per_class(n_samples: int, n_classes: int) -> list[int]:
    """Split n_samples into n_classes counts that differ by at most one."""
    return [n_samples // n_classes + (k < n_samples % n_classes) for k in range(n_classes)]


def _finish(name: str, parts: list[np.ndarray], noise: float, rng: np.random.Generator,
            feature_names: list[str] | None = None) -> Dataset:
    X = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), k, dtype=np.int64) for k, p in enumerate(parts)])
    X = X + rng.normal(scale=noise, size=X.shape) if noise > 0 else X
    order = rng.permutation(len(X))
    return Dataset(X=np.ascontiguousarray(X[order], dtype=np.float32), y=y[order],
                   task="classification", feature_names=feature_names or ["x0", "x1"],
                   class_names=[str(k) for k in range(len(parts))], name=name)


def make_moons(n_samples: int = 200, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles, classes 0 (upper) and 1 (lower).

    >>> make_moons(6, seed=1).y.tolist() == make_moons(6, seed=1).y.tolist()
    True
    """
    rng = _check_synthetic("moons", n_samples, noise, seed, 2)
    n0, n1 = _per_class(n_samples, 2)
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    return _finish("moons", [upper, lower], noise, rng)


def make_circles(n_samples: int = 200, *, noise: float = 0.05, seed: int = 0,
                 factor: float = 0.5) -> Dataset:
    """Two concentric circles: class 0 of radius 1 outside, class 1 of radius ``factor`` inside.

    >>> make_circles(8).X.shape
    (8, 2)
    """
    rng = _check_synthetic("circles", n_samples, noise, seed, 2)
    if not 0 < factor < 1:
        raise ValueError(f"circles: factor must lie in (0, 1), got {factor}")
    parts = []
    for n, radius in zip(_per_class(n_samples, 2), (1.0, factor)):
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return _finish("circles", parts, noise, rng)


def make_spirals(n_samples: int = 300, *, noise: float = 0.05, seed: int = 0,
                 n_arms: int = 2) -> Dataset:
    """``n_arms`` interleaved spiral arms from the centre outwards, one class per arm.

    Each arm turns 1.5 times around the centre; arm ``k`` starts at angle ``2 pi k / n_arms``.

    >>> sorted(set(make_spirals(30, n_arms=3).y.tolist()))
    [0, 1, 2]
    """
    if isinstance(n_arms, bool) or not isinstance(n_arms, (int, np.integer)) or n_arms < 2:
        raise ValueError(f"spirals: n_arms must be an int >= 2, got {n_arms!r}")
    name = "spirals" if n_arms == 2 else f"spirals{n_arms}"
    rng = _check_synthetic(name, n_samples, noise, seed, n_arms)
    parts = []
    for k, n in enumerate(_per_class(n_samples, n_arms)):
        r = np.linspace(0.05, 1.0, n)
        theta = 2 * np.pi * k / n_arms + 3 * np.pi * r
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return _finish(name, parts, noise, rng)


def make_xor(n_samples: int = 200, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Points uniform in the square [-1, 1]^2, class 1 where the two coordinates differ in sign.

    Each class fills two opposite quadrants, so no straight line separates them.

    >>> ds = make_xor(100); bool(((ds.y == 1) == (ds.X[:, 0] * ds.X[:, 1] < 0)).mean() > 0.8)
    True
    """
    rng = _check_synthetic("xor", n_samples, noise, seed, 2)
    parts = []
    for k, n in enumerate(_per_class(n_samples, 2)):
        # Draw the magnitudes, then pick a quadrant of the class for each point.
        pts = rng.uniform(0.0, 1.0, size=(n, 2))
        sx = rng.choice([-1.0, 1.0], size=n)
        sy = sx if k == 0 else -sx
        parts.append(pts * np.stack([sx, sy], axis=1))
    return _finish("xor", parts, noise, rng)


def make_blobs(n_samples: int = 300, *, noise: float = 0.75, seed: int = 0,
               n_centers: int = 3) -> Dataset:
    """Gaussian blobs of spread ``noise`` around ``n_centers`` points evenly spaced on a circle
    of radius 3.

    >>> make_blobs(9).n_classes
    3
    """
    if isinstance(n_centers, bool) or not isinstance(n_centers, (int, np.integer)) \
            or n_centers < 2:
        raise ValueError(f"blobs: n_centers must be an int >= 2, got {n_centers!r}")
    rng = _check_synthetic("blobs", n_samples, noise, seed, n_centers)
    parts = []
    for k, n in enumerate(_per_class(n_samples, n_centers)):
        angle = 2 * np.pi * k / n_centers + np.pi / 2
        parts.append(np.tile([3 * np.cos(angle), 3 * np.sin(angle)], (n, 1)))
    return _finish("blobs", parts, noise, rng)


# Synthetic 2-D regression sets: points uniform in the square [-1, 1]^2, a target in about
# [-1, 1] that is a function of the point, and `noise`: the standard deviation of Gaussian
# noise added to the target (the points stay where they are).

def _regression(name: str, n_samples: int, noise: float, seed: int, target) -> Dataset:
    rng = _check_synthetic(name, n_samples, noise, seed, 1)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, 2))
    y = target(X[:, 0], X[:, 1])
    y = y + rng.normal(scale=noise, size=y.shape) if noise > 0 else y
    return Dataset(X=np.ascontiguousarray(X, dtype=np.float32), y=y.astype(np.float32),
                   task="regression", feature_names=["x0", "x1"], class_names=None, name=name)


def make_plane(n_samples: int = 200, *, noise: float = 0.05, seed: int = 0) -> Dataset:
    """A tilted plane: the target is ``(x0 + x1) / 2``, from -1 in one corner to 1 in the other.

    >>> ds = make_plane(50, noise=0.0); ds.task, bool(np.allclose(ds.y, ds.X.sum(axis=1) / 2))
    ('regression', True)
    """
    return _regression("plane", n_samples, noise, seed, lambda a, b: (a + b) / 2)


#: Centres and signs of the bumps of ``make_gaussians``: two rows of three, alternating.
GAUSSIANS = ((-0.6, 0.45, 1.0), (0.0, 0.45, -1.0), (0.6, 0.45, 1.0),
             (-0.6, -0.45, -1.0), (0.0, -0.45, 1.0), (0.6, -0.45, -1.0))


def make_gaussians(n_samples: int = 300, *, noise: float = 0.05, seed: int = 0,
                   width: float = 0.2) -> Dataset:
    """Six Gaussian bumps of height +1 or -1 (``GAUSSIANS``), each of standard deviation
    ``width``; the target is their sum, near 0 between them.

    >>> ds = make_gaussians(400, noise=0.0); bool(ds.y.max() > 0.5 and ds.y.min() < -0.5)
    True
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"gaussians: width must be a number > 0, got {width!r}")

    def bumps(a, b):
        return sum(sign * np.exp(-((a - cx) ** 2 + (b - cy) ** 2) / (2 * width ** 2))
                   for cx, cy, sign in GAUSSIANS)

    return _regression("gaussians", n_samples, noise, seed, bumps)


_SYNTHETIC = {"moons": make_moons, "circles": make_circles, "xor": make_xor,
              "blobs": make_blobs, "plane": make_plane, "gaussians": make_gaussians}
_REAL = ("iris", "digits", "wine", "breast_cancer", "diabetes")
_SPIRALS = re.compile(r"spirals(\d*)")

#: The names ``load_dataset`` knows. Any ``spiralsK`` with K >= 2 arms works too.
DATASETS = _REAL + ("moons", "circles", "spirals", "spirals3", "xor", "blobs", "plane",
                    "gaussians")


def _load_real(name: str, seed: int, n_samples: int | None) -> Dataset:
    try:  # scikit-learn is heavy: imported when one of its bundled sets is loaded
        from sklearn import datasets as skd
    except ImportError as exc:
        raise ImportError(f"load_dataset({name!r}) reads the copy bundled with scikit-learn, "
                          f"which is not installed: pip install scikit-learn "
                          f"(or pip install deltagrad[data])") from exc
    bunch = getattr(skd, f"load_{name}")()
    X = np.asarray(bunch.data, dtype=np.float32)
    if name == "diabetes":
        y = np.asarray(bunch.target, dtype=np.float32)
        task, class_names = "regression", None
    else:
        y = np.asarray(bunch.target, dtype=np.int64)
        task, class_names = "classification", [str(c) for c in bunch.target_names]
    if n_samples is not None:
        if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
                or not 1 <= n_samples <= len(X):
            raise ValueError(f"{name}: n_samples must be an int in [1, {len(X)}], "
                             f"got {n_samples!r}")
        keep = np.sort(np.random.default_rng(seed).choice(len(X), n_samples, replace=False))
        X, y = X[keep], y[keep]
    return Dataset(X=np.ascontiguousarray(X), y=y, task=task,
                   feature_names=[str(f) for f in bunch.feature_names],
                   class_names=class_names, name=name)


def load_dataset(name: str, *, seed: int = 0, n_samples: int | None = None,
                 noise: float | None = None) -> Dataset:
    """Load a built-in data set by name (see ``DATASETS``).

    Real sets come whole unless ``n_samples`` asks for a seeded random subset of rows; they
    take no ``noise``. Synthetic sets use their own defaults for ``n_samples`` and ``noise``
    where these are None, and are the same for the same ``seed``. ``spirals`` has two arms;
    ``spirals3``, ``spirals4``, ... have that many.

    >>> ds = load_dataset("spirals3", n_samples=90, noise=0.0, seed=1)
    >>> ds.X.shape, ds.n_classes
    ((90, 2), 3)
    """
    if not isinstance(name, str):
        raise TypeError(f"load_dataset: name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key in _REAL:
        if noise is not None:
            raise ValueError(f"load_dataset: noise applies to the synthetic sets only, not to "
                             f"the real set {key!r}")
        return _load_real(key, seed, n_samples)
    kwargs = {"seed": seed}
    if n_samples is not None:
        kwargs["n_samples"] = n_samples
    if noise is not None:
        kwargs["noise"] = noise
    if key in _SYNTHETIC:
        return _SYNTHETIC[key](**kwargs)
    match = _SPIRALS.fullmatch(key)
    if match and (not match.group(1) or int(match.group(1)) >= 2):
        return make_spirals(n_arms=int(match.group(1) or 2), **kwargs)
    raise ValueError(f"load_dataset: unknown data set {name!r}; valid names: "
                     f"{', '.join(DATASETS)} (or spiralsK for K arms)")
