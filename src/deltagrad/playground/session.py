"""One browser tab's training run.

A ``Session`` owns a data set (its points turned into the chosen input features), an MLP,
its optimiser and the ``Trainer`` whose per-epoch function trains it (with the NaN guard), in
a background thread of its own while it runs (deltagrad's grad mode is per thread, so
sessions never see each other's graphs). After every epoch it measures the loss on the
training and test points, so the loss curves have a point per epoch. At most every
``publish_every`` seconds it evaluates the network on a grid over the plane (the output heat
map), draws the diagram (``network.py``: every neuron's heat map, the weights, the last
step's δ's and gradients) and publishes all of it as a JSON-ready snapshot with a version
number that the event stream watches.

Memory, at the settings' bounds (2,000 points, 7 features, 8 hidden layers of 64 neurons, a
full loss history): a session holds at most ``MEMORY_HELD`` bytes between epochs, and up to
``MEMORY_STEP`` more while a step runs (the graph of a batch of 2,000 points). Both are
measured with ``tracemalloc`` in ``tests/test_playground_network.py``.
"""

from __future__ import annotations

import base64
import math
import secrets
import threading
import time

import numpy as np

from .. import nn, optim
from ..autograd import tensor
from ..data import load_dataset, train_val_test_split
from ..nn import functional as F
from ..train import NonFiniteError, Samples, Trainer, predict_batches
from ..viz import explain
from .features import feature_matrix
from .network import Diagram, LastStep, encode_maps, finite, grid_points
from .settings import LIVE_FIELDS, Number, Settings

GRID = 64  # output heat-map cells per side
MAX_EPOCHS = 100_000  # a run stops by itself here
MAX_HISTORY = 1000  # loss-curve points kept; older ones are thinned out, never the ends
EVAL_BATCH = GRID * GRID  # rows per forward pass when evaluating: every point at once
MEMORY_HELD = 2 * 2**20  # bytes a session holds between epochs, at most (1.2 MiB measured)
MEMORY_STEP = 20 * 2**20  # bytes more while it trains a step, at most (16.4 MiB measured)
PENALTIES = {"l1": optim.l1_penalty, "l2": optim.l2_penalty}


class Session:
    """A data set, a network and its training loop, for one browser tab."""

    def __init__(self, settings: Settings, *, publish_every: float = 0.1,
                 clock=time.monotonic):
        self.id = secrets.token_urlsafe(16)
        self.clock = clock
        self.publish_every = publish_every
        self.last_seen = clock()
        self.listeners = 0
        self.closed = False
        self.version = 0  # bumped by every snapshot
        self.data_version = 0  # bumped whenever the points change
        self.snapshot: dict = {}
        self.data: dict = {}
        self._lock = threading.RLock()  # guards the model, optimiser and history
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.trainer: Trainer  # made by _build, with the model and settings,
        self.samples: Samples  # and the training points it trains on
        self._build(settings)

    # --- building --------------------------------------------------------------------------------

    def _build(self, settings: Settings) -> None:
        s = self.settings = settings
        ds = load_dataset(s.dataset, seed=s.seed, n_samples=s.n_samples, noise=s.noise)
        split = train_val_test_split(ds.X, ds.y, val_fraction=0.0,
                                     test_fraction=1.0 - s.train_fraction, seed=s.seed)
        self.n_classes = ds.n_classes  # None for regression: one output, squared error
        self.points = {"train": split.X_train, "test": split.X_test}
        self.X_train = feature_matrix(split.X_train, s.features)
        self.X_test = feature_matrix(split.X_test, s.features)
        self.y_train, self.y_test = (y if self.n_classes else y.reshape(-1, 1)
                                     for y in (split.y_train, split.y_test))
        self.model = nn.MLP(len(s.features), list(s.hidden), self.n_classes or 1,
                            activation=s.activation, dropout=s.dropout,
                            rng=np.random.default_rng(s.seed))
        self.optimizer = _optimizer(s.optimizer, self.model.parameters(), s.learning_rate)
        self.bounds = _square_bounds(ds.X)
        self.grid = feature_matrix(grid_points(self.bounds, GRID), s.features)
        self.diagram = Diagram(self.model, s.features, self.bounds)
        self.weights = [linear.weight for linear in self.diagram.linears]  # regularised
        self.last_step = LastStep(self.diagram)
        self.trainer = Trainer(self.model, self._loss, self.optimizer, seed=s.seed,
                               callbacks=[self.last_step], progress="none")
        self.samples = self.trainer.prepare(self.X_train, self.y_train)
        self.message = None
        self.history = {"epoch": [], "train": [], "test": []}
        self._stride = 1
        self.data_version += 1
        self.data = {
            "data_version": self.data_version, "bounds": self.bounds, "problem": s.problem,
            "classes": self.n_classes, "settings": s.to_json(),
            "features": self.diagram.feature_maps,
            **{part: {"x": _rounded(self.points[part]), "y": _rounded(split_y)}
               for part, split_y in (("train", split.y_train), ("test", split.y_test))},
        }
        self._measure()
        self._publish()

    # --- training --------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    def _data_loss(self, outputs, target):
        if self.n_classes is None:
            return F.mse_loss(outputs, target)
        return F.cross_entropy(outputs, target)

    def _loss(self, outputs, target):
        """The data loss plus the regularisation term of the weights (read at every batch:
        these are live settings)."""
        loss = self._data_loss(outputs, target)
        s = self.settings
        if s.regularization in PENALTIES and s.regularization_rate > 0:
            loss = loss + PENALTIES[s.regularization](self.weights, s.regularization_rate)
        return loss

    def _train_epoch(self) -> None:
        """One pass over the training points in shuffled mini-batches (the Trainer's epoch,
        NaN guard included), then the losses measured; a diverged run stops with a message
        saying where."""
        batch_size = self.settings.batch_size
        self.last_step.last_batch = math.ceil(len(self.samples) / batch_size)
        try:
            self.trainer.train_epoch(self.samples, batch_size)
        except NonFiniteError as exc:
            self.message = (f"training diverged at epoch {exc.epoch}, batch {exc.batch} (a "
                            f"loss or gradient is not finite): lower the learning rate and "
                            f"press Reset")
            self._running.clear()
            return
        finally:
            self.last_step.release()
        self._measure()

    def _measure(self) -> None:
        """The data loss (and accuracy) on the training and test points, as the network is
        now, recorded for the loss curves."""
        metrics = {}
        for part, X, y in (("train", self.X_train, self.y_train),
                           ("test", self.X_test, self.y_test)):
            out = predict_batches(self.model, X, EVAL_BATCH)  # an array: no graph recorded
            metrics[f"{part}_loss"] = finite(float(self._data_loss(out, y).item()))
            metrics[f"{part}_accuracy"] = (float((out.argmax(axis=1) == y).mean())
                                           if self.n_classes else None)
        self.metrics = metrics
        if self.epoch % self._stride == 0 and (not self.history["epoch"]
                                               or self.history["epoch"][-1] != self.epoch):
            for key, value in (("epoch", self.epoch), ("train", metrics["train_loss"]),
                               ("test", metrics["test_loss"])):
                self.history[key].append(value)
            if len(self.history["epoch"]) > MAX_HISTORY:  # thin out: keep every other point
                for key in self.history:
                    self.history[key] = self.history[key][::2]
                self._stride *= 2

    def _output_map(self) -> dict:
        """The network's output over the plane: each class's probability (one byte each)
        for classification, the value (``encode_maps``) for regression."""
        out = predict_batches(self.model, self.grid, EVAL_BATCH)
        if self.n_classes is None:
            return encode_maps(out, GRID)
        probs = F.softmax(out, axis=1).numpy()
        if not np.all(np.isfinite(probs)):
            probs = np.full_like(probs, 1.0 / self.n_classes)
        levels = np.clip(np.rint(probs * 255), 0, 255).astype(np.uint8)
        return {"size": GRID, "classes": self.n_classes,
                "probs": base64.b64encode(levels.tobytes()).decode("ascii")}

    def _publish(self) -> None:
        with self._lock:
            self.version += 1
            self.snapshot = {"version": self.version, "data_version": self.data_version,
                             "epoch": self.epoch, "running": self.running,
                             "message": self.message, **self.metrics,
                             "grid": self._output_map(), "network": self.diagram.state(),
                             "last_step": self.last_step.state(),
                             "history": {k: list(v) for k, v in self.history.items()}}

    def _run(self) -> None:
        last = self.clock()
        while self._running.is_set():
            with self._lock:
                self._train_epoch()
                if self.epoch >= MAX_EPOCHS:
                    self.message = f"stopped after {MAX_EPOCHS} epochs"
                    self._running.clear()
            now = self.clock()
            if now - last >= self.publish_every or not self._running.is_set():
                self._publish()
                last = now
            time.sleep(0)  # let the web server's thread have the interpreter

    # --- controls (called by the web server) -------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def start(self) -> None:
        """Train continuously in the background until ``pause``."""
        with self._lock:
            if self.closed or self.running:
                return
            self.message = None
            self._running.set()
            self._publish()  # the page learns at once that it runs
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"playground-{self.id[:6]}")
            self._thread.start()

    def pause(self) -> None:
        """Stop training after the current epoch (and wait for it)."""
        self._running.clear()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._thread = None
        self._publish()

    def step(self) -> None:
        """Pause, then train exactly one epoch."""
        self.pause()
        with self._lock:
            self._train_epoch()
        self._publish()

    def reset(self, settings: Settings | None = None) -> None:
        """Pause and start again from fresh weights (and new data, if the settings say so)."""
        self.pause()
        with self._lock:
            self._build(settings or self.settings)

    def update(self, settings: Settings) -> bool:
        """Take new settings: live ones (learning rate, regularisation, batch size) at once,
        without losing the run; any other change rebuilds the session. Returns True if it
        rebuilt."""
        now = self.settings.to_json()
        changed = {k for k, v in settings.to_json().items() if v != now[k]}
        if changed <= LIVE_FIELDS:
            with self._lock:
                self.settings = settings
                for group in self.optimizer.param_groups:
                    group["lr"] = settings.learning_rate
                self.data["settings"] = settings.to_json()
            return False
        self.reset(settings)
        return True

    def explain_point(self, index) -> dict:
        """``dg.explain``'s δ trace of training point ``index``'s own loss (no regularisation
        term) through the network as it is now, in eval mode (no dropout). The gradients
        it computes are dropped: training never sees them."""
        with self._lock:
            index = Number(0, len(self.X_train) - 1, integer=True).check("point", index)
            # x requires grad so that the trace names it and shows its δ (∂loss/∂features)
            x = tensor(self.X_train[index:index + 1], requires_grad=True)
            was_training = self.model.training
            self.model.eval()
            self.model.zero_grad()  # the trace starts from no gradient, as a step does
            try:
                loss = self._data_loss(self.model(x), self.y_train[index:index + 1])
                trace = explain(loss, names={"x": x, "loss": loss}, file=None)
            finally:
                self.model.zero_grad()
                self.model.train(was_training)
        return {"point": index, "x": self.data["train"]["x"][index],
                "target": self.data["train"]["y"][index], "epoch": self.epoch,
                "loss": finite(float(loss.item())), "text": str(trace)}

    def close(self) -> None:
        self.closed = True
        self._running.clear()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def touch(self) -> None:
        self.last_seen = self.clock()


def _optimizer(name: str, params, lr: float):
    params = list(params)
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr)
    raise ValueError(f"optimizer must be one of sgd, momentum, adam, rmsprop, adagrad; "
                     f"got {name!r}")


def _rounded(values: np.ndarray) -> list:
    """Values as JSON-ready lists: class labels as they are, coordinates and targets to 4
    decimals (rounded in float64, so that 0.027 is not sent as 0.027000000700354576)."""
    if values.dtype.kind in "iu":
        return values.tolist()
    return np.round(values.astype(np.float64), 4).tolist()


def _square_bounds(X: np.ndarray) -> list[float]:
    """A square around all the points with a margin: [x_min, x_max, y_min, y_max]."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.1, 0.5)
    return [round(float(centre[0] - half), 4), round(float(centre[0] + half), 4),
            round(float(centre[1] - half), 4), round(float(centre[1] + half), 4)]
