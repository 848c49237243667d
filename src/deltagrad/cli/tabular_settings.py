"""The settings of a ``deltagrad train`` run: defaults, the cheap checks made before any data
is loaded, what ``--resume`` may change, the values ``--vary`` gives, and the learning-rate
schedules by name."""

from __future__ import annotations

import itertools
from pathlib import Path

from .._checks import check_widths
from ..optim import lr_scheduler as ls
from ..train import CHECKPOINT, LearningRateScheduler
from ..train.state import saved_run_info
from .errors import CLIError

#: settings of a run and their defaults (None: decided by the data)
DEFAULTS = {
    "data": "digits", "target": None, "task": None, "hidden": "64,64", "activation": "relu",
    "dropout": 0.0, "epochs": 100, "batch_size": 32, "lr": 1e-3, "optimizer": "adam",
    "weight_decay": 0.0, "clip_norm": None, "lr_schedule": "none", "patience": 10, "seed": 0,
    "val_fraction": 0.1, "test_fraction": 0.2, "norm": "none", "residual": False,
    "deterministic": False, "delimiter": None, "encoding": None, "drop": None,
    "categorical": None, "numeric": None, "min_frequency": 5, "max_categories": 100,
}
#: how ``--delimiter`` may name the characters that are awkward to type
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|",
                   "space": " "}
#: settings a resumed run may change
RESUMABLE = ("epochs",)
#: the one setting whose value, when given, is not of its default's type (None)
_NUMBER_OR_NONE = ("clip_norm",)


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def run_settings(given: dict, out: Path | None, resume: bool, overwrite: bool) -> dict:
    """The run's settings: the options given over the defaults, or, with ``--resume``, those
    of the interrupted run (options given must then agree with them)."""
    if resume:
        return _resumed(given, out, overwrite)
    if out is not None and (out / CHECKPOINT).exists():
        if not overwrite:
            raise CLIError(f"{out} already holds a training run; pass --resume to continue it "
                           f"or --overwrite to replace it")
        (out / CHECKPOINT).unlink(missing_ok=True)  # (another MPI rank may have done it)
    return {**DEFAULTS, **given}


def _resumed(given: dict, out: Path | None, overwrite: bool) -> dict:
    if out is None:
        raise CLIError("--resume needs --out DIR, the folder of the run to continue")
    if overwrite:
        raise CLIError("--resume and --overwrite contradict each other; pick one")
    if not (out / CHECKPOINT).exists():
        raise CLIError(f"--resume: {out} holds no checkpoint to resume (drop --resume to "
                       f"start a new run there)")
    run = saved_run_info(out) or {}
    saved = run.get("settings")
    if isinstance(saved, dict):
        saved = {**DEFAULTS, **saved}  # runs from before a setting existed: its default
    if not isinstance(saved, dict):
        raise CLIError(f"--resume: the checkpoint in {out} was not written by "
                       f"'deltagrad train'")
    _check_saved_types(saved, out)
    for key, value in given.items():
        if key not in RESUMABLE and saved.get(key) != value:
            raise CLIError(f"{_option(key)} {value} differs from the interrupted run's "
                           f"{saved.get(key)}; drop it to resume, or use --overwrite to start "
                           f"a new run")
    return {**saved, **{k: v for k, v in given.items() if k in RESUMABLE}}


def _check_saved_types(saved: dict, out: Path) -> None:
    """Refuse a checkpoint whose settings are not of the types a command line gives (the
    fuzzer's find: a list where a column name belongs was an AttributeError on resume)."""
    for key, default in DEFAULTS.items():
        value = saved[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, bool):
            fits = isinstance(value, bool)
        elif key in _NUMBER_OR_NONE:
            fits = value is None or number
        elif isinstance(default, int):
            fits = number and isinstance(value, int)
        elif isinstance(default, float):
            fits = number
        else:  # text, or None where the data decide
            fits = isinstance(value, str) or (value is None and default is None)
        if not fits:
            raise CLIError(f"--resume: the checkpoint in {out} is damaged: its setting "
                           f"{key!r} is {value!r:.60}, not a value {_option(key)} can take")


def parse_hidden(text: str) -> list[int]:
    """``"64,64"`` -> [64, 64]; ``"none"`` -> [] (a linear model); a width of 0 is refused."""
    try:
        return list(check_widths(text, "layer", "--hidden", allow_none=True))
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def read_options(s: dict) -> dict:
    """How to read the data file: ``{"delimiter", "encoding"}`` from the settings."""
    delimiter = s.get("delimiter")
    if delimiter is not None:
        delimiter = DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1:
            raise CLIError(f"--delimiter: expected one character or one of "
                           f"{sorted(DELIMITER_NAMES)}, got {s['delimiter']!r}")
    return {"delimiter": delimiter, "encoding": s.get("encoding")}


def check_same_data(out: Path, fingerprint: dict, data: str) -> None:
    """A resumed run must train on the very file it began with: same rows, same bytes."""
    saved = (saved_run_info(out) or {}).get("data")
    if saved is None or saved == fingerprint:
        return
    if saved.get("rows") != fingerprint["rows"]:
        change = f"{saved.get('rows')} data rows then, {fingerprint['rows']} now"
    else:
        change = f"the same {fingerprint['rows']} rows, but other contents"
    raise CLIError(f"--resume: {data} has changed since the run in {out} began ({change}); "
                   f"resume with the data it began with, or start over with --overwrite")


def check_numbers(s: dict) -> None:
    """The checks of the numbers Typer can not make alone (run before any data is loaded:
    a typo should not cost a data set load)."""
    for name in ("val_fraction", "test_fraction"):
        if not 0 <= s[name] < 1:
            raise CLIError(f"{_option(name)}: must lie in [0, 1), got {s[name]}")
    if s["val_fraction"] + s["test_fraction"] >= 1:
        raise CLIError(f"--val-fraction plus --test-fraction must be below 1 to leave data to "
                       f"train on, got {s['val_fraction']} + {s['test_fraction']}")
    for name in ("lr", "clip_norm"):
        if s[name] is not None and not s[name] > 0:
            raise CLIError(f"{_option(name)}: must be a positive number, got {s[name]}")


def schedule(name: str, epochs: int, batches: int, monitor: str, patience: int
             ) -> LearningRateScheduler | None:
    """The ``--lr-schedule`` callback; ``batches`` per epoch, ``monitor`` for ``plateau``."""
    if name == "none":
        return None
    if name == "step":
        return LearningRateScheduler(lambda o: ls.StepLR(o, step_size=max(1, epochs // 3)))
    if name == "cosine":
        return LearningRateScheduler(lambda o: ls.CosineAnnealingLR(o, T_max=epochs))
    if name == "exponential":
        return LearningRateScheduler(lambda o: ls.ExponentialLR(o, gamma=0.95))
    if name == "plateau":
        wait = max(1, patience // 2) if patience else 3
        return LearningRateScheduler(lambda o: ls.ReduceLROnPlateau(o, factor=0.5, patience=wait),
                                     monitor=monitor)
    return LearningRateScheduler(lambda o: ls.LinearWarmup(o, warmup_steps=batches),
                                 interval="batch")  # warmup: over the first epoch


CHOICES = {"activation": ("relu", "leaky_relu", "tanh", "sigmoid", "gelu"),
           "optimizer": ("adam", "adamw", "sgd", "rmsprop", "adagrad"),
           "lr_schedule": ("none", "step", "cosine", "exponential", "plateau", "warmup"),
           "norm": ("none", "layer", "batch")}
_INTS = {"epochs": 1, "batch_size": 1, "patience": 0, "seed": 0}  # name -> smallest value
_FLOATS = ("lr", "dropout", "weight_decay", "clip_norm")
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}
#: the settings ``--vary`` may change (the data and its split stay those of the run)
VARIABLE = ("hidden", *CHOICES, *_INTS, *_FLOATS, "residual")


def _vary_value(name: str, text: str):
    """One value of ``--vary NAME=...``, as the option ``--NAME`` would take it."""
    if name == "hidden":
        return text.replace("x", ",")  # 64x64: the values themselves are comma-separated
    if name in CHOICES:
        if text not in CHOICES[name]:
            raise CLIError(f"--vary {name}: {text!r} is not one of {', '.join(CHOICES[name])}")
        return text
    if name == "residual":
        if text.lower() not in _BOOLS:
            raise CLIError(f"--vary residual: {text!r} is not true or false")
        return _BOOLS[text.lower()]
    try:
        value = int(text) if name in _INTS else (
            None if name == "clip_norm" and text.lower() == "none" else float(text))
    except ValueError:
        raise CLIError(f"--vary {name}: {text!r} is not a number") from None
    if name in _INTS and value < _INTS[name]:
        raise CLIError(f"--vary {name}: must be at least {_INTS[name]}, got {value}")
    if name in ("dropout", "weight_decay") and not 0 <= value <= (0.95 if name == "dropout"
                                                                  else float("inf")):
        raise CLIError(f"--vary {name}: {value} is out of range")
    return value


def parse_vary(options: list[str]) -> list[dict]:
    """``["lr=0.001,0.01", "batch_size=16,64"]`` -> one dict of settings per combination, in
    order (the last option varying fastest)."""
    axes = []
    for option in options:
        name, sep, values = option.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise CLIError(f"--vary: expected NAME=VALUE,VALUE,... (e.g. lr=0.001,0.01,0.1), "
                           f"got {option!r}")
        if name not in VARIABLE:
            raise CLIError(f"--vary: {name!r} is not a setting it can vary; it can vary "
                           f"{', '.join(VARIABLE)}")
        if name in [n for n, _ in axes]:
            raise CLIError(f"--vary: {name} is given twice; list its values in one --vary")
        axes.append((name, [_vary_value(name, v.strip()) for v in values.split(",")]))
    names = [name for name, _ in axes]
    return [dict(zip(names, combination))
            for combination in itertools.product(*(values for _, values in axes))]
