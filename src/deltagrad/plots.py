"""PNG pictures of a training run: loss and metric curves, several runs side by side, the
health of the gradients layer by layer, a confusion matrix, and the decision regions of a
classifier on 2-D data.

Each function writes a PNG file and returns its path when given one; without a path it
returns a ``Picture``, which Jupyter shows inline. matplotlib (``pip install
deltagrad[plot]``) is imported only when a picture is drawn, and only through its
object-oriented API with the Agg renderer: no window opens, and nothing changes the backend
or the state of ``pyplot`` for the rest of your program.

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
from .train.history import History

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


class Picture:
    """A drawn PNG: Jupyter shows it inline; ``save(path)`` writes it; ``data`` is the bytes."""

    def __init__(self, data: bytes):
        self.data = data

    def _repr_png_(self) -> bytes:
        return self.data

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_bytes(Path(path), self.data)

    def __repr__(self) -> str:
        return f"<Picture: PNG, {len(self.data):,} bytes>"


def _write(fig, path) -> Path | Picture:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    picture = Picture(buffer.getvalue())
    return picture if path is None else picture.save(path)


def plot_history(history, path: str | os.PathLike | None = None, *,
                 title: str | None = None) -> Path | Picture:
    """Loss curves (training and validation) and, in a second panel, every other metric;
    a third panel shows the learning rate when it changed."""
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


def plot_confusion_matrix(cm, path: str | os.PathLike | None = None, *, class_names=None,
                          title: str | None = None) -> Path | Picture:
    """A confusion matrix (rows: true class, columns: predicted), each cell coloured by its
    share of the true class and labelled with its count."""
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
                           path: str | os.PathLike | None = None, *, class_names=None,
                           feature_names=None, resolution: int = 200,
                           title: str | None = None) -> Path | Picture:
    """The regions where ``predict`` (rows of 2 features -> class indices) picks each class,
    over a grid covering ``X``, with the points of ``X`` coloured by their true class ``y``."""
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


def plot_histories(histories: dict, metric: str = "val_loss",
                   path: str | os.PathLike | None = None, *, title: str | None = None,
                   log: bool | None = None) -> Path | Picture:
    """Several runs on one figure: ``metric`` per epoch for each ``{label: history}`` (a
    ``History`` or its ``to_dict()``), e.g. three learning rates side by side. The y axis is
    logarithmic when ``log`` is True, or, by default, for a loss spanning more than a factor
    of 20.

    >>> from deltagrad.train import History
    >>> runs = {f"lr={lr}": History() for lr in (0.01, 0.1)}
    >>> for k, (h, rate) in enumerate(zip(runs.values(), (0.9, 0.5))):
    ...     for e in range(1, 4):
    ...         h.append(e, {"val_loss": rate ** e})
    >>> plot_histories(runs, "val_loss")  # doctest: +ELLIPSIS
    <Picture: PNG, ... bytes>
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError("plot_histories: pass a non-empty dict {label: history}")
    curves = {}
    for label, history in histories.items():
        epochs, series = _series(history, metric, f"plot_histories: run {label!r}")
        curves[str(label)] = (epochs, series)
    values = np.concatenate([v for _, v in curves.values()])
    finite = values[np.isfinite(values)]
    if log is None:
        log = bool("loss" in metric and finite.size and finite.min() > 0
                   and finite.max() / finite.min() > 20)
    fig = _figure(6.0, 4.0)
    ax = fig.subplots()
    colours = _colours(len(curves))
    for (label, (epochs, series)), colour in zip(curves.items(), colours):
        ax.plot(epochs, series, marker="." if len(epochs) < 40 else None, label=label,
                color=colour)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or metric)
    return _write(fig, path)


def _series(history, metric: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(history, dict):
        history = History.from_dict(history)
    if not hasattr(history, "epoch") or not hasattr(history, "history"):
        raise TypeError(f"{where}: expected a History, got {type(history).__name__}")
    if metric not in history.history:
        raise ValueError(f"{where} did not log {metric!r}; it logged "
                         f"{sorted(history.history)}")
    return np.asarray(history.epoch), np.asarray(history.history[metric], dtype=float)


def _colours(n: int) -> list:
    """Distinct colours, from the first layer (or run) to the last: matplotlib's defaults up
    to ten, then a sequential map (dark to light)."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps  # optional: imported when drawn

    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.9, n)]


def plot_gradients(stats, path: str | os.PathLike | None = None, *,
                   title: str | None = None) -> Path | Picture:
    """The health of the gradients, from a ``GradientStats`` callback (or a ``History`` it
    recorded into, or its ``to_dict()``): the gradient norm of each weight, the mean |δ| at
    each layer's output and each weight's update-to-weight ratio over training (log scales;
    dark lines are the first layers, light ones the last), and the mean |δ| against depth in
    the first and the last record, where a vanishing gradient is a line falling steeply
    towards the input."""
    data = _gradient_data(stats)
    at = np.asarray(data["at"])
    if at.size == 0:
        raise ValueError("plot_gradients: nothing was recorded yet (train for an epoch first)")
    weights = [k for k in data["grad_norm"] if not k.endswith("bias")] or list(data["grad_norm"])
    fig = _figure(11.0, 7.5)
    axes = fig.subplots(2, 2).ravel()
    panels = (("grad_norm", weights, "gradient norm ‖∂L/∂W‖"),
              ("delta", list(data["delta"]), "mean |δ| at each layer's output"),
              ("update_ratio", weights, "update / weight ‖ΔW‖ / ‖W‖"))
    for i, (ax, (series, names, heading)) in enumerate(zip(axes, panels)):
        for name, colour in zip(names, _colours(len(names))):
            ax.plot(at, data[series][name], color=colour, label=name,
                    marker="." if at.size < 40 else None)
        ax.set_yscale("log")
        ax.set_title(heading)
        ax.set_xlabel(data["unit"])
        if i < 2 and len(names) <= 12:  # the third panel has the first one's names
            ax.legend(fontsize="x-small")
    axes[2].axhline(1e-3, color="tab:gray", linestyle="--", linewidth=1)
    depth = list(data["delta"])
    for index, style, label in ((0, "o-", f"{data['unit']} {at[0]}"),
                                (-1, "s--", f"{data['unit']} {at[-1]}")):
        axes[3].plot(range(len(depth)), [data["delta"][k][index] for k in depth], style,
                     label=label)
    axes[3].set_yscale("log")
    axes[3].set_xticks(range(len(depth)), depth, rotation=45, ha="right", fontsize="x-small")
    axes[3].set_title("mean |δ| by layer, input to output")
    axes[3].legend(fontsize="x-small")
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _write(fig, path)


def _gradient_data(stats) -> dict:
    data = stats.to_dict() if hasattr(stats, "to_dict") and hasattr(stats, "grad_norm") \
        else getattr(stats, "gradients", stats)
    if data is None:
        raise ValueError("plot_gradients: this history holds no gradient statistics; train "
                         "with callbacks=[GradientStats()]")
    if not isinstance(data, dict) or not {"unit", "at", "grad_norm", "delta",
                                          "update_ratio"} <= set(data):
        raise TypeError(f"plot_gradients: expected a GradientStats, a History that one "
                        f"recorded into, or its to_dict(), got {type(stats).__name__}")
    return data
