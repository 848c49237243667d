"""PNG pictures of a training run: loss and metric curves, a confusion matrix, and the
decision regions of a classifier on 2-D data.

matplotlib (``pip install deltagrad[plot]``) is imported only when a picture is drawn, and
only through its object-oriented API with the Agg renderer: no window opens, and nothing
changes the backend or the state of ``pyplot`` for the rest of your program.

>>> import tempfile, pathlib
>>> from deltagrad.train import History
>>> h = History()
>>> for e, (a, b) in enumerate([(0.9, 1.0), (0.5, 0.7), (0.3, 0.6)], 1):
...     h.append(e, {"loss": a, "val_loss": b})
>>> path = plot_history(h, pathlib.Path(tempfile.mkdtemp()) / "loss.png")
>>> path.read_bytes()[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .io import atomic_write_bytes

INSTALL_HINT = "pip install deltagrad[plot]"


def require_matplotlib() -> None:
    """Raise ``ImportError`` with the install command if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401  (optional and heavy: imported when a picture is drawn)
    except ImportError:
        raise ImportError(f"plotting needs matplotlib, which is not installed: "
                          f"{INSTALL_HINT}") from None


def _figure(width: float, height: float):
    require_matplotlib()
    # matplotlib is optional and heavy: imported when a picture is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _write(fig, path) -> Path:
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_history(history, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Loss curves (training and validation) and, in a second panel, every other metric;
    a third panel shows the learning rate when it changed. Returns the PNG's path."""
    epochs = np.asarray(history.epoch)
    if len(epochs) == 0:
        raise ValueError("plot_history: the history is empty (train for an epoch first)")
    names = [k for k in history.history if k not in ("loss", "val_loss", "lr", "time")
             and not k.startswith("val_")]
    lr = history.history.get("lr", [])
    show_lr = len(set(lr)) > 1
    panels = 1 + bool(names) + show_lr
    fig = _figure(5.0 * panels, 3.8)
    axes = fig.subplots(1, panels, squeeze=False)[0]

    def curves(ax, key, label):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history:
                ax.plot(epochs, history[prefix + key], style, marker=".",
                        label=("validation " if prefix else "training ") + label)

    curves(axes[0], "loss", "loss")
    axes[0].set_title("loss")
    if names:
        for name in names:
            curves(axes[1], name, name)
        axes[1].set_title("metrics")
    if show_lr:
        axes[-1].plot(epochs, lr, marker=".", color="tab:gray")
        axes[-1].set_yscale("log")
        axes[-1].set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _write(fig, path)


def plot_confusion_matrix(cm, path: str | os.PathLike, *, class_names=None,
                          title: str | None = None) -> Path:
    """A confusion matrix (rows: true class, columns: predicted), each cell coloured by its
    share of the true class and labelled with its count. Returns the PNG's path."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"plot_confusion_matrix: expected a square matrix, got shape "
                         f"{cm.shape}")
    k = cm.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for {k} classes")
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = min(12.0, 2.5 + 0.5 * k)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize="small",
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(title or f"confusion matrix ({int(cm.sum())} samples)")
    return _write(fig, path)


def plot_decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X, y,
                           path: str | os.PathLike, *, class_names=None,
                           feature_names=None, resolution: int = 200,
                           title: str | None = None) -> Path:
    """The regions where ``predict`` (rows of 2 features -> class indices) picks each class,
    over a grid covering ``X``, with the points of ``X`` coloured by their true class ``y``.
    Returns the PNG's path."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: needs 2-D points (n, 2), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"plot_decision_boundary: X has {len(X)} rows but y has {len(y)}")
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float32)
    regions = np.asarray(predict(grid)).reshape(gx.shape)
    k = int(max(regions.max(), y.max())) + 1
    names = [str(c) for c in (class_names if class_names is not None else range(k))]

    from matplotlib.colors import ListedColormap  # optional: imported when drawn

    colours = [f"C{i % 10}" for i in range(k)]
    cmap = ListedColormap(colours)
    fig = _figure(5.5, 5.0)
    ax = fig.subplots()
    ax.contourf(gx, gy, regions, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.25)
    for c in range(k):
        mask = y == c
        if mask.any():
            ax.scatter(X[mask, 0], X[mask, 1], s=14, color=colours[c], edgecolors="white",
                       linewidths=0.4, label=names[c] if c < len(names) else str(c))
    fx, fy = (feature_names or ["x1", "x2"])[:2]
    ax.set_xlabel(fx)
    ax.set_ylabel(fy)
    ax.legend(fontsize="small", title="class")
    ax.set_title(title or "decision regions")
    return _write(fig, path)
