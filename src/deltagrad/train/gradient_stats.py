"""``GradientStats``: how healthy the gradients are, layer by layer, as training goes.

Per epoch (or every ``every`` batches) it records, each averaged over the batches covered:

- ``grad_norm[name]``: the L2 norm of each parameter's gradient (``state_dict`` names), as
  backward left it: before clipping, so an explosion shows;
- ``delta[layer]``: the mean |δ| reaching each layer's output (the gradient of the loss with
  respect to what the layer returned), for every module that owns parameters;
- ``update_ratio[name]``: ‖ΔW‖ / ‖W‖, the size of the optimiser's step against the size of
  the weights (about 1e-3 is the usual rule of thumb; far below, the layer barely learns;
  near 1, the step overwrites what was learnt).

A vanishing gradient is ``delta`` falling by orders of magnitude from the last layer to the
first; an exploding one, ``grad_norm`` growing from epoch to epoch. ``plots.plot_gradients``
draws all of it.

How δ is seen. While a batch's forward and backward pass run (from ``on_batch_begin`` to
``on_gradients``), this callback watches the Module calls (noting the output of each layer
it follows) and the engine's backward pass (reading the δ that arrives at those outputs),
through ``nn.observers``. Outside that window, and when no ``GradientStats`` is used, nothing
watches and training pays nothing.
"""

from __future__ import annotations

import math

from .._checks import check_int
from ..autograd import arrays
from ..backend import array_module
from ..nn.observers import install, uninstall
from .callbacks import Callback

_SERIES = ("grad_norm", "delta", "update_ratio")


def _norm(array) -> float:
    return float(arrays.vector_norm(array))


class _LayerOutputs:
    """Observes Module calls and the backward pass: the mean |δ| at each followed layer's
    output, handed to ``add("delta", layer name, value)``."""

    def __init__(self, add):
        self.add = add
        self.layers: dict[int, str] = {}  # id(module) -> name, for the modules with parameters
        self.nodes: dict = {}  # the graph node of a layer's output -> the layer's name

    def follow(self, model) -> None:
        self.layers = {id(m): name or type(m).__name__ for name, m in model.named_modules()
                       if any(p is not None for p in m._parameters.values())}

    def enter(self, module) -> None:
        pass

    def exit(self, module, output) -> None:
        name = self.layers.get(id(module))
        node = getattr(output, "_node", None)
        if name is not None and node is not None:
            self.nodes.setdefault(node, name)  # nested layers: the innermost names it

    def on_backward(self, node, g, grads) -> None:
        name = self.nodes.pop(node, None)
        if name is not None:
            xp = array_module(g)
            self.add("delta", name, float(xp.mean(xp.abs(g))))


class GradientStats(Callback):
    """Record, per epoch (``every=None``) or every ``every`` batches, each parameter's
    gradient norm, the mean |δ| at each layer's output and each parameter's update-to-weight
    ratio, averaged over the batches covered. ``at`` lists the epoch (or optimiser step)
    that closes each record; ``trainer.history.gradients`` holds the same as plain data.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> from deltagrad.data import load_dataset
    >>> from deltagrad.train import GradientStats, Trainer
    >>> ds = load_dataset("moons", n_samples=64, seed=0)
    >>> stats = GradientStats()
    >>> model = nn.MLP(2, [8], 2, rng=np.random.default_rng(0))
    >>> _ = Trainer(model, seed=0, progress="none", callbacks=[stats]).fit(ds.X, ds.y, epochs=2)
    >>> list(stats.grad_norm), stats.at, list(stats.delta)
    (['layers.0.weight', 'layers.0.bias', 'layers.2.weight', 'layers.2.bias'], [1, 2], \
['layers.0', 'layers.2'])
    """

    def __init__(self, every: int | None = None):
        self.every = None if every is None else check_int(every, "every", "GradientStats")
        self.unit = "epoch" if every is None else "step"
        self.at: list[int] = []
        self.grad_norm: dict[str, list[float]] = {}
        self.delta: dict[str, list[float]] = {}
        self.update_ratio: dict[str, list[float]] = {}
        self._sums: dict[str, dict[str, list[float]]] = {k: {} for k in _SERIES}  # [sum, n]
        self._batches = 0  # batches in the record being gathered
        self._watch = _LayerOutputs(self._add)
        self._installed: tuple | None = None
        self._before: list = []  # the weights before this batch's step

    # --- the hooks -----------------------------------------------------------------------------

    def on_train_begin(self) -> None:
        model = self.trainer.model
        self._params = list(model.named_parameters())
        self._watch.follow(model)
        names = [name for name, _ in self._params]
        for series, keys in (("grad_norm", names), ("update_ratio", names),
                             ("delta", self._watch.layers.values())):
            for key in keys:  # in the model's order, from the first layer to the last
                getattr(self, series).setdefault(key, [math.nan] * len(self.at))

    def on_batch_begin(self, batch: int) -> None:
        if self._installed is not None:  # a batch that raised before its gradients: start over
            uninstall(self._installed)
        self._watch.nodes.clear()
        self._installed = install(backward=self._watch.on_backward, calls=self._watch)

    def on_gradients(self, batch: int) -> None:
        if self._installed is not None:
            uninstall(self._installed)
            self._installed = None
        self._watch.nodes.clear()
        self._before = []
        for name, p in self._params:
            if p.grad is not None:
                self._add("grad_norm", name, _norm(p.grad))
            self._before.append(arrays.copy(p.data))

    def on_batch_end(self, batch: int, loss: float) -> None:
        for (name, p), before in zip(self._params, self._before):
            size = _norm(before)
            if size > 0:
                self._add("update_ratio", name, _norm(p.data - before) / size)
        self._before = []
        self._batches += 1
        if self.every is not None and self._batches >= self.every:
            self._record(self.trainer.step)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.every is None:
            self._record(epoch)

    def on_train_end(self, logs: dict) -> None:
        if self.every is not None and self._batches:
            self._record(self.trainer.step)  # the last, shorter stretch

    # --- the records -------------------------------------------------------------------------

    def _add(self, series: str, name: str, value: float) -> None:
        entry = self._sums[series].setdefault(name, [0.0, 0])
        entry[0] += value
        entry[1] += 1

    def _record(self, at: int) -> None:
        """Close the record being gathered: one average per name and series."""
        self.at.append(int(at))
        for series in _SERIES:
            target, sums = getattr(self, series), self._sums[series]
            for name in sums:
                if name not in target:  # first seen now: NaN before
                    target[name] = [math.nan] * (len(self.at) - 1)
            for name, values in target.items():
                total, count = sums.get(name, (0.0, 0))
                values.append(total / count if count else math.nan)
            sums.clear()
        self._batches = 0
        self.trainer.history.gradients = self.to_dict()

    def to_dict(self) -> dict:
        """The records as plain data (what ``plots.plot_gradients`` and the history hold)."""
        return {"unit": self.unit, "at": list(self.at),
                **{series: {k: list(v) for k, v in getattr(self, series).items()}
                   for series in _SERIES}}

    def state_dict(self) -> dict:
        return {"records": self.to_dict(), "sums": self._sums, "batches": self._batches}

    def load_state_dict(self, state: dict) -> None:
        records = state["records"]
        self.at = [int(a) for a in records["at"]]
        for series in _SERIES:
            setattr(self, series, {k: [float(x) for x in v]
                                   for k, v in records[series].items()})
            self._sums[series] = {k: [float(s), int(n)] for k, (s, n) in
                                  state["sums"][series].items()}
        self._batches = int(state["batches"])
