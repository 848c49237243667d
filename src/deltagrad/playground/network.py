"""What the page's network diagram shows, all computed here from the session's MLP.

- ``Diagram``: each input feature's and each neuron's output over the plane (a small heat map
  of ``MAP`` x ``MAP`` cells, sent as bytes), and the weights of the links between them.
- ``LastStep``: a ``Trainer`` callback that keeps what the last optimiser step of each epoch
  computed: every neuron's mean |δ| over the step's points, the loss's gradient for every
  weight, and the update the optimiser then made. It reads the δ's as the engine hands them
  back through each ``Linear`` op (the observer ``dg.explain`` uses), so they are those of
  the real step, not of a second pass.

A layer wider than ``SHOWN`` neurons is drawn with its first ``SHOWN``; the payload carries
those only, so it stays small whatever the network.
"""

from __future__ import annotations

import base64
import contextlib

import numpy as np

from .. import nn
from ..autograd import concatenate
from ..nn.observers import observing
from ..train import Callback, predict_batches
from .features import FEATURES, feature_matrix

SHOWN = 16  # neurons of a layer the diagram draws
MAP = 24  # cells per side of each feature's and neuron's heat map


def encode(array: np.ndarray) -> str:
    """Little-endian float32 bytes, in base64 (what the page decodes with a DataView)."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def encode_maps(values: np.ndarray, size: int = MAP) -> dict:
    """Square heat maps of ``size`` x ``size`` cells, one per column of ``values`` (one row
    per cell), as one byte per cell: ``round((v / scale + 1) * 127.5)`` with each map's
    ``scale = max(1, max |v|)``, so that values within [-1, 1] keep their absolute colour
    and larger ones are shown whole."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), posinf=0.0, neginf=0.0)
    scales = np.maximum(1.0, np.abs(values).max(axis=0, initial=0.0))
    levels = np.rint((values / scales + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return {"size": size, "scales": [round(float(s), 4) for s in scales],
            "values": base64.b64encode(levels.T.tobytes()).decode("ascii")}


def grid_points(bounds: list[float], size: int) -> np.ndarray:
    """Cell centres row by row, top row (largest y) first, as an image is laid out."""
    x0, x1, y0, y1 = bounds
    xs = x0 + (x1 - x0) / size * (np.arange(size) + 0.5)
    ys = y1 - (y1 - y0) / size * (np.arange(size) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


class _Taps(nn.Module):
    """An MLP's layers, run in turn, returning every neuron's output side by side: each
    hidden layer's after its activation, then the output layer's."""

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.layers = layers

    def forward(self, x):
        outputs = []
        for module in self.layers:
            x = module(x)
            if not isinstance(module, (nn.Linear, nn.Dropout)):
                outputs.append(x)
        return concatenate(outputs + [x], axis=1)


class Diagram:
    """The diagram of one session's network: its layer widths, the links' weights and every
    neuron's heat map over the plane ``bounds``."""

    def __init__(self, model: nn.MLP, features: tuple[str, ...], bounds: list[float]):
        self.linears = [m for m in model.layers if isinstance(m, nn.Linear)]
        self.widths = [model.in_features, *model.hidden_sizes, model.out_features]
        self.shown = [min(w, SHOWN) for w in self.widths]
        named = {id(p): name for name, p in model.named_parameters()}
        self.names = [named[id(lin.weight)] for lin in self.linears]  # layers.0.weight, ...
        self._taps = _Taps(model.layers)
        points = grid_points(bounds, MAP)
        self._inputs = feature_matrix(points, features)
        # Every feature's map, the inactive ones too (the page shows them to switch on).
        self.feature_maps = encode_maps(feature_matrix(points, tuple(FEATURES)))

    def state(self) -> dict:
        """The links' weights and biases and the neurons' heat maps, as they are now."""
        outputs = predict_batches(self._taps, self._inputs, MAP * MAP)
        starts = np.cumsum([0, *self.widths[1:]])
        shown = np.concatenate([np.arange(start, start + n) for start, n in
                                zip(starts[:-1], self.shown[1:])])
        return {"widths": self.widths, "shown": self.shown, "names": self.names,
                "maps": encode_maps(outputs[:, shown]),
                "weights": encode(self.links([lin.weight.data for lin in self.linears])),
                "biases": encode(self.units([lin.bias.data for lin in self.linears]))}

    def links(self, matrices) -> np.ndarray:
        """The shown part of each layer's (out, in) matrix, row by row, one after another."""
        return np.concatenate([m[:n_out, :n_in].ravel() for m, n_in, n_out in
                               zip(matrices, self.shown[:-1], self.shown[1:])])

    def units(self, vectors) -> np.ndarray:
        """The shown part of each layer's per-neuron vector, one after another."""
        return np.concatenate([v[:n] for v, n in zip(vectors, self.shown[1:])])


class LastStep(Callback):
    """Keeps, for the page's gradients view, what the last step of each epoch computed.

    The session sets ``last_batch`` (the epoch's number of batches) before each epoch. That
    batch's backward pass is watched: each ``Linear`` op's δ (∂loss/∂z of its output z, one
    row per point) is kept as a mean |δ| per neuron, each point's δ taken for its own loss
    (the batch loss is their mean, so the engine's δ times the batch size). When the
    gradients are final, the weights' gradients are copied, and after the optimiser's step,
    the change it made. ``record`` then holds all of it, in the diagram's layout.
    """

    def __init__(self, diagram: Diagram):
        self.diagram = diagram
        self.last_batch = 0
        self.record: dict | None = None  # the last complete step
        self._weight_ids = {id(lin.weight): i for i, lin in enumerate(diagram.linears)}
        self._watch = contextlib.ExitStack()
        self._pending: dict = {}

    def on_batch_begin(self, batch: int) -> None:
        self.release()
        if batch == self.last_batch:
            self._pending = {"deltas": [np.zeros(w) for w in self.diagram.widths[1:]]}
            self._watch.enter_context(observing(backward=self._on_backward))

    def _on_backward(self, node, upstream, grads) -> None:
        if node.name == "linear":
            layer = self._weight_ids.get(id(node.inputs[1]))
            if layer is not None:
                g = np.asarray(upstream, dtype=np.float64)
                self._pending["deltas"][layer] = np.abs(g).mean(axis=0) * len(g)
                self._pending["points"] = len(g)

    def on_gradients(self, batch: int) -> None:
        if batch == self.last_batch and self._pending:
            self.release()
            linears = self.diagram.linears
            self._pending.update(
                before=[lin.weight.data.copy() for lin in linears],
                grads=self.diagram.links([lin.weight.grad for lin in linears]),
                bias_grads=self.diagram.units([lin.bias.grad for lin in linears]))

    def on_batch_end(self, batch: int, loss: float) -> None:
        step = self._pending
        if batch == self.last_batch and "before" in step:
            after = [lin.weight.data for lin in self.diagram.linears]
            self.record = {"epoch": self.trainer.epoch, "points": step["points"],
                           "loss": loss, "grads": step["grads"],
                           "bias_grads": step["bias_grads"],
                           "deltas": self.diagram.units(step["deltas"]),
                           "updates": self.diagram.links(
                               [a - b for a, b in zip(after, step["before"])])}
            self._pending = {}

    def release(self) -> None:
        """Stop watching the engine (also after a step that ended early, by an error)."""
        self._watch.close()

    def state(self) -> dict | None:
        """The last step, encoded for the page (None before the first epoch)."""
        r = self.record
        if r is None:
            return None
        arrays = ("grads", "bias_grads", "deltas", "updates")
        return {"epoch": r["epoch"], "points": r["points"], "loss": finite(r["loss"]),
                **{key: encode(r[key]) for key in arrays}}


def finite(x: float) -> float | None:
    """``x``, or None (JSON's null) where it is NaN or infinite."""
    return x if np.isfinite(x) else None
