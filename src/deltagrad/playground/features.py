"""The input features a session can feed its network, each a function of a point (x₁, x₂)
of the plane, computed here on the server before the points reach the network (as the
TensorFlow Playground's feature toggles).

>>> import numpy as np
>>> feature_matrix(np.array([[2.0, 3.0]], np.float32), ("x1", "x1_x2", "x2_sq")).tolist()
[[2.0, 6.0, 9.0]]
"""

from __future__ import annotations

import numpy as np

#: name -> (label for the page, the feature of columns x1 and x2)
FEATURES = {
    "x1": ("x₁", lambda x1, x2: x1),
    "x2": ("x₂", lambda x1, x2: x2),
    "x1_sq": ("x₁²", lambda x1, x2: x1 * x1),
    "x2_sq": ("x₂²", lambda x1, x2: x2 * x2),
    "x1_x2": ("x₁x₂", lambda x1, x2: x1 * x2),
    "sin_x1": ("sin x₁", lambda x1, x2: np.sin(x1)),
    "sin_x2": ("sin x₂", lambda x1, x2: np.sin(x2)),
}


def feature_matrix(points: np.ndarray, names) -> np.ndarray:
    """One float32 column per feature in ``names``, one row per point (rows of ``points``
    are (x₁, x₂))."""
    x1, x2 = points[:, 0], points[:, 1]
    columns = [FEATURES[name][1](x1, x2) for name in names]
    return np.ascontiguousarray(np.stack(columns, axis=1), dtype=np.float32)


def labels() -> dict[str, str]:
    """Each feature's label, by name, in the order the page lists them."""
    return {name: label for name, (label, _) in FEATURES.items()}
