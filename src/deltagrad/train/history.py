"""``History``: every logged value (loss, metrics, learning rate, time) for every epoch."""

from __future__ import annotations

import math

#: metrics where larger is better; anything else (losses, errors) is better smaller
_MAXIMISED = ("acc", "accuracy", "f1", "precision", "recall", "r2", "auc")


def better_mode(monitor: str) -> str:
    """``"max"`` for a metric where larger is better (accuracy, f1, r2, ...), else ``"min"``.

    >>> better_mode("val_accuracy"), better_mode("val_loss")
    ('max', 'min')
    """
    name = monitor.removeprefix("val_")
    return "max" if name in _MAXIMISED or name.endswith("accuracy") else "min"


class History:
    """What ``Trainer.fit`` logged: ``history["val_loss"]`` is the list of validation losses,
    one per epoch; ``history.epoch`` the epoch numbers (1-based). A value a given epoch did
    not log is NaN. ``to_dict``/``from_dict`` give plain JSON data.

    >>> h = History()
    >>> h.append(1, {"loss": 0.9, "val_loss": 1.0}); h.append(2, {"loss": 0.5, "val_loss": 0.7})
    >>> h["val_loss"], h.best("val_loss")
    ([1.0, 0.7], (2, 0.7))
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        #: why training ended: "completed", "early_stopping", "max_time" (the time budget),
        #: "stopped" (a callback asked)
        self.stop_reason: str | None = None
        #: what a ``GradientStats`` callback recorded (its ``to_dict()``), or None
        self.gradients: dict | None = None

    def append(self, epoch: int, logs: dict) -> None:
        """Record one epoch's values."""
        for key in logs:
            if key not in self.history:
                self.history[key] = [math.nan] * len(self.epoch)
        self.epoch.append(int(epoch))
        for key, values in self.history.items():
            values.append(float(logs.get(key, math.nan)))

    def __getitem__(self, key: str) -> list[float]:
        try:
            return self.history[key]
        except KeyError:
            raise KeyError(f"History has no {key!r}; it logged {sorted(self.history)}") from None

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self) -> list[str]:
        return list(self.history)

    def last(self) -> dict[str, float]:
        """The values of the last epoch."""
        return {key: values[-1] for key, values in self.history.items()} if self.epoch else {}

    def best(self, monitor: str, mode: str = "auto") -> tuple[int, float]:
        """(epoch, value) where ``monitor`` was best (NaN values are skipped)."""
        if mode == "auto":
            mode = better_mode(monitor)
        if mode not in ("min", "max"):
            raise ValueError(f"History.best: mode must be 'auto', 'min' or 'max', got {mode!r}")
        pairs = [(e, v) for e, v in zip(self.epoch, self[monitor]) if not math.isnan(v)]
        if not pairs:
            raise ValueError(f"History.best: no finite value of {monitor!r} was logged")
        pick = min if mode == "min" else max
        return pick(pairs, key=lambda pair: pair[1])

    def to_dict(self) -> dict:
        d = {"epoch": list(self.epoch), "history": {k: list(v) for k, v in
                                                    self.history.items()},
             "stop_reason": self.stop_reason}
        if self.gradients is not None:
            d["gradients"] = self.gradients
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls()
        try:
            h.epoch = [int(e) for e in d["epoch"]]
            h.history = {str(k): [float(x) for x in v] for k, v in d["history"].items()}
            h.stop_reason = d.get("stop_reason")
            h.gradients = d.get("gradients")
            if h.gradients is not None and not isinstance(h.gradients, dict):
                raise TypeError("gradients must be a dict")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"History.from_dict: not a History.to_dict() result ({exc})") \
                from None
        if any(len(v) != len(h.epoch) for v in h.history.values()):
            raise ValueError("History.from_dict: every series needs one value per epoch")
        return h

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={self.keys()})"
