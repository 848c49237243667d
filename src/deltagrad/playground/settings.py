"""What a playground session trains, and the bounds every setting is checked against.

Settings arrive from a web page, so nothing is trusted: each field is checked against one
row of ``FIELDS`` (type, bounds or choices) and unknown fields are refused. The bounds keep a
session small enough to train live on one CPU core (at most 8 hidden layers of 64 neurons,
2,000 points, 7 input features), and no setting can name a file.

The data set says what problem a session solves: classification (cross-entropy over one
score per class) or regression (mean squared error of one output); ``PROBLEMS`` lists which.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, replace

from .features import FEATURES

PROBLEMS = {"classification": ("moons", "circles", "spirals", "xor", "blobs"),
            "regression": ("plane", "gaussians")}
DATASETS = PROBLEMS["classification"] + PROBLEMS["regression"]
ACTIVATIONS = ("tanh", "relu", "sigmoid", "leaky_relu", "gelu")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop", "adagrad")
REGULARIZATIONS = ("none", "l1", "l2")
MAX_LAYERS = 8
MAX_NEURONS = 64


class SettingsError(ValueError):
    """A setting from the page is missing its mark; the message names it and says why."""


@dataclass(frozen=True)
class Number:
    low: float
    high: float
    integer: bool = False

    def check(self, name: str, value):
        valid = (not isinstance(value, bool) and isinstance(value, numbers.Real)
                 and math.isfinite(value) and (not self.integer or float(value).is_integer())
                 and self.low <= value <= self.high)
        if not valid:
            kind = "an integer" if self.integer else "a number"
            raise SettingsError(f"{name} must be {kind} in [{self.low:g}, {self.high:g}], "
                                f"got {value!r}")
        return int(value) if self.integer else float(value)

    def describe(self) -> dict:
        return {"type": "integer" if self.integer else "number", "min": self.low,
                "max": self.high}


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def check(self, name: str, value):
        if not isinstance(value, str) or value not in self.options:
            raise SettingsError(f"{name} must be one of {', '.join(self.options)}; "
                                f"got {value!r}")
        return value

    def describe(self) -> dict:
        return {"type": "choice", "options": list(self.options)}


@dataclass(frozen=True)
class Widths:
    """The hidden layers: a list of neuron counts, one per layer."""

    max_layers: int
    max_neurons: int

    def check(self, name: str, value):
        if not isinstance(value, (list, tuple)) or len(value) > self.max_layers:
            raise SettingsError(f"{name} must be a list of at most {self.max_layers} layer "
                                f"widths, got {value!r}")
        width = Number(1, self.max_neurons, integer=True)
        return tuple(width.check(f"{name}[{i}]", v) for i, v in enumerate(value))

    def describe(self) -> dict:
        return {"type": "widths", "max_layers": self.max_layers,
                "max_neurons": self.max_neurons}


@dataclass(frozen=True)
class Subset:
    """Some of ``options``, each at most once, at least one."""

    options: tuple[str, ...]

    def check(self, name: str, value):
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(v, str) and v in self.options for v in value)
                or len(set(value)) != len(value)):
            raise SettingsError(f"{name} must be a list of one or more of "
                                f"{', '.join(self.options)}, each at most once; got {value!r}")
        return tuple(v for v in self.options if v in value)  # in the order of the options

    def describe(self) -> dict:
        return {"type": "subset", "options": list(self.options)}


FIELDS = {
    "dataset": Choice(DATASETS),
    "noise": Number(0.0, 1.0),
    "n_samples": Number(20, 2000, integer=True),
    "train_fraction": Number(0.1, 0.9),
    "features": Subset(tuple(FEATURES)),
    "hidden": Widths(MAX_LAYERS, MAX_NEURONS),
    "activation": Choice(ACTIVATIONS),
    "learning_rate": Number(1e-5, 10.0),
    "batch_size": Number(1, 2000, integer=True),
    "regularization": Choice(REGULARIZATIONS),
    "regularization_rate": Number(0.0, 10.0),
    "dropout": Number(0.0, 0.9),
    "optimizer": Choice(OPTIMIZERS),
    "seed": Number(0, 2**31 - 1, integer=True),
}

#: Fields a running session takes over at once; changing any other one rebuilds it.
LIVE_FIELDS = frozenset({"learning_rate", "regularization", "regularization_rate",
                         "batch_size"})


@dataclass(frozen=True)
class Settings:
    """One session's data set, network and training settings (defaults: the page's start)."""

    dataset: str = "moons"
    noise: float = 0.05
    n_samples: int = 300
    train_fraction: float = 0.5
    features: tuple[str, ...] = ("x1", "x2")
    hidden: tuple[int, ...] = (8, 8)
    activation: str = "tanh"
    learning_rate: float = 0.03
    batch_size: int = 10
    regularization: str = "none"
    regularization_rate: float = 0.0
    dropout: float = 0.0
    optimizer: str = "adam"
    seed: int = 0

    @property
    def problem(self) -> str:
        """"classification" or "regression", as the data set is."""
        return next(p for p, names in PROBLEMS.items() if self.dataset in names)

    def to_json(self) -> dict:
        d = asdict(self)
        d["hidden"], d["features"] = list(self.hidden), list(self.features)
        return d


def parse_settings(payload, base: Settings | None = None) -> Settings:
    """``base`` (the defaults when None) with the fields in ``payload`` checked and applied.

    >>> parse_settings({"dataset": "xor", "hidden": [4]}).hidden
    (4,)
    >>> parse_settings({"hidden": [100]})
    Traceback (most recent call last):
    ...
    deltagrad.playground.settings.SettingsError: hidden[0] must be an integer in [1, 64], got 100
    """
    if not isinstance(payload, dict):
        raise SettingsError(f"settings must be a JSON object, got {type(payload).__name__}")
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]!r}; known: {', '.join(FIELDS)}")
    checked = {name: FIELDS[name].check(name, value) for name, value in payload.items()}
    return replace(base or Settings(), **checked)


def schema() -> dict:
    """Every field's default and bounds, for the page to build its controls from."""
    defaults = Settings().to_json()
    return {name: {**rule.describe(), "default": defaults[name]} for name, rule in FIELDS.items()}
