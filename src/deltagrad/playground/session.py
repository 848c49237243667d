"""One browser tab's training run.

A ``Session`` owns a data set, an MLP, its optimiser and the ``Trainer`` whose per-epoch
function trains it (with the NaN guard), in a background thread of its own while it runs
(deltagrad's grad mode is per thread, so sessions never see each other's graphs). At most
every ``publish_every`` seconds it evaluates the network, on the train and test points and
on a grid over the plane (the decision-boundary heat map), and publishes that as a
JSON-ready snapshot with a version number that the event stream watches.

The table of all sessions is ``sessions.py``.
"""

from __future__ import annotations

import base64
import math
import secrets
import threading
import time

import numpy as np

from .. import nn, optim
from ..data import load_dataset, train_val_test_split
from ..nn import functional as F
from ..train import NonFiniteError, Samples, Trainer, predict_batches
from .settings import LIVE_FIELDS, Settings

GRID = 64  # heat-map cells per side
MAX_EPOCHS = 100_000  # a run stops by itself here
MAX_HISTORY = 1000  # loss-curve points kept; older ones are thinned out, never the ends
EVAL_BATCH = GRID * GRID  # rows per forward pass when evaluating: every point at once


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
        self.X_train, self.y_train = split.X_train, split.y_train
        self.X_test, self.y_test = split.X_test, split.y_test
        self.n_classes = ds.n_classes
        self.model = nn.MLP(2, list(s.hidden), self.n_classes, activation=s.activation,
                            dropout=s.dropout, rng=np.random.default_rng(s.seed))
        self.weights = [m.weight for m in self.model.modules() if isinstance(m, nn.Linear)]
        self.optimizer = _optimizer(s.optimizer, self.model.parameters(), s.learning_rate)
        self.trainer = Trainer(self.model, self._loss, self.optimizer, seed=s.seed,
                               progress="none")
        self.samples = self.trainer.prepare(self.X_train, self.y_train)
        self.message = None
        self.history = {"epoch": [], "train": [], "test": []}
        self._stride = 1
        self.bounds = _square_bounds(ds.X)
        self.grid = _grid_points(self.bounds)
        self.data_version += 1
        self.data = {
            "data_version": self.data_version, "bounds": self.bounds,
            "classes": self.n_classes, "settings": s.to_json(),
            "train": {"x": np.round(self.X_train, 4).tolist(), "y": self.y_train.tolist()},
            "test": {"x": np.round(self.X_test, 4).tolist(), "y": self.y_test.tolist()},
        }
        self._publish()

    # --- training --------------------------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.trainer.epoch

    def _loss(self, logits, target):
        loss = F.cross_entropy(logits, target)
        l2 = self.settings.l2  # read at every batch: a live setting
        return loss + optim.l2_penalty(self.weights, l2) if l2 > 0 else loss

    def _train_epoch(self) -> None:
        """One pass over the training points in shuffled mini-batches (the Trainer's epoch,
        NaN guard included); a diverged run stops with a message saying where."""
        try:
            self.trainer.train_epoch(self.samples, self.settings.batch_size)
        except NonFiniteError as exc:
            self.message = (f"training diverged at epoch {exc.epoch}, batch {exc.batch} (a "
                            f"loss or gradient is not finite): lower the learning rate and "
                            f"press Reset")
            self._running.clear()

    def _evaluate(self) -> dict:
        train, test, grid = (predict_batches(self.model, x, EVAL_BATCH)
                             for x in (self.X_train, self.X_test, self.grid))
        # Plain arrays in, so no graph is recorded.
        train_loss = float(F.cross_entropy(train, self.y_train).item())
        test_loss = float(F.cross_entropy(test, self.y_test).item())
        grid = F.softmax(grid, axis=1).numpy()
        acc = {name: float((logits.argmax(axis=1) == y).mean()) for name, logits, y in
               (("train", train, self.y_train), ("test", test, self.y_test))}
        if not np.all(np.isfinite(grid)):
            grid = np.full_like(grid, 1.0 / self.n_classes)
        probs = np.clip(np.rint(grid * 255), 0, 255).astype(np.uint8)
        return {"train_loss": _finite(train_loss), "test_loss": _finite(test_loss),
                "train_accuracy": acc["train"], "test_accuracy": acc["test"],
                "grid": {"size": GRID, "classes": self.n_classes,
                         "probs": base64.b64encode(probs.tobytes()).decode("ascii")}}

    def _record(self, metrics: dict) -> None:
        if self.epoch % self._stride == 0 and (not self.history["epoch"]
                                               or self.history["epoch"][-1] != self.epoch):
            for key, value in (("epoch", self.epoch), ("train", metrics["train_loss"]),
                               ("test", metrics["test_loss"])):
                self.history[key].append(value)
            if len(self.history["epoch"]) > MAX_HISTORY:  # thin out: keep every other point
                for key in self.history:
                    self.history[key] = self.history[key][::2]
                self._stride *= 2

    def _publish(self) -> None:
        with self._lock:
            metrics = self._evaluate()
            self._record(metrics)
            self.version += 1
            self.snapshot = {"version": self.version, "data_version": self.data_version,
                             "epoch": self.epoch, "running": self.running,
                             "message": self.message, **metrics,
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
        """Take new settings: live ones (learning rate, L2, batch size) at once, without
        losing the run; any other change rebuilds the session. Returns True if it rebuilt."""
        changed = {k for k, v in settings.to_json().items() if v != self.settings.to_json()[k]}
        if changed <= LIVE_FIELDS:
            with self._lock:
                self.settings = settings
                for group in self.optimizer.param_groups:
                    group["lr"] = settings.learning_rate
                self.data["settings"] = settings.to_json()
            return False
        self.reset(settings)
        return True

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


def _square_bounds(X: np.ndarray) -> list[float]:
    """A square around all the points with a margin: [x_min, x_max, y_min, y_max]."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.1, 0.5)
    return [round(float(centre[0] - half), 4), round(float(centre[0] + half), 4),
            round(float(centre[1] - half), 4), round(float(centre[1] + half), 4)]


def _grid_points(bounds: list[float]) -> np.ndarray:
    """Cell centres row by row, top row (largest y) first, as an image is laid out."""
    x0, x1, y0, y1 = bounds
    step_x, step_y = (x1 - x0) / GRID, (y1 - y0) / GRID
    xs = x0 + step_x * (np.arange(GRID) + 0.5)
    ys = y1 - step_y * (np.arange(GRID) + 0.5)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
