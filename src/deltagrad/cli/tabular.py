"""``deltagrad train``, ``evaluate`` and ``predict``: an MLP on a table of numbers.

Results go to standard output (test metrics, predictions); progress and notes go to standard
error, so ``deltagrad predict DIR new.csv > out.csv`` gives a clean file.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .errors import CLIError, say_error

# --- choices ----------------------------------------------------------------------------------


class OptimizerName(str, Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adagrad = "adagrad"


class Activation(str, Enum):
    relu = "relu"
    leaky_relu = "leaky_relu"
    tanh = "tanh"
    sigmoid = "sigmoid"
    gelu = "gelu"


class Schedule(str, Enum):
    none = "none"
    step = "step"
    cosine = "cosine"
    exponential = "exponential"
    plateau = "plateau"
    warmup = "warmup"


class Task(str, Enum):
    classification = "classification"
    regression = "regression"


#: settings of a run and their defaults (None: decided by the data)
DEFAULTS = {
    "data": "digits", "target": None, "task": None, "hidden": "64,64", "activation": "relu",
    "dropout": 0.0, "epochs": 100, "batch_size": 32, "lr": 1e-3, "optimizer": "adam",
    "weight_decay": 0.0, "clip_norm": None, "lr_schedule": "none", "patience": 10, "seed": 0,
    "val_fraction": 0.1, "test_fraction": 0.2,
}
#: settings a resumed run may change
RESUMABLE = ("epochs",)


def parse_hidden(text: str) -> list[int]:
    """``"64,64"`` -> [64, 64]; ``""``, ``"none"`` or ``"0"`` -> [] (a linear model)."""
    text = text.strip().lower()
    if text in ("", "none", "0"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise CLIError(f"--hidden: expected comma-separated positive layer widths such as "
                       f"64,64 (or 'none'), got {text!r}")
    return sizes


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def _fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise CLIError(f"--{name.replace('_', '-')}: must lie in [0, 1), got {value}")


# --- train -----------------------------------------------------------------------------------


def _settings(given: dict, out: Path | None, resume: bool, overwrite: bool) -> dict:
    """The run's settings: the options given over the defaults, or, with ``--resume``, those
    of the interrupted run (options given must then agree with them)."""
    from ..train import CHECKPOINT, load_checkpoint

    if resume:
        if out is None:
            raise CLIError("--resume needs --out DIR, the folder of the run to continue")
        if overwrite:
            raise CLIError("--resume and --overwrite contradict each other; pick one")
        if not (out / CHECKPOINT).exists():
            raise CLIError(f"--resume: {out} holds no checkpoint to resume (drop --resume to "
                           f"start a new run there)")
        run = load_checkpoint(out / CHECKPOINT).get("run") or {}
        saved = run.get("settings")
        if not isinstance(saved, dict):
            raise CLIError(f"--resume: the checkpoint in {out} was not written by "
                           f"'deltagrad train'")
        for key, value in given.items():
            if key not in RESUMABLE and saved.get(key) != value:
                raise CLIError(f"--{key.replace('_', '-')} {value} differs from the "
                               f"interrupted run's {saved.get(key)}; drop it to resume, or use "
                               f"--overwrite to start a new run")
        return {**saved, **{k: v for k, v in given.items() if k in RESUMABLE}}
    if out is not None and (out / CHECKPOINT).exists():
        if not overwrite:
            raise CLIError(f"{out} already holds a training run; pass --resume to continue it "
                           f"or --overwrite to replace it")
        (out / CHECKPOINT).unlink()
    return {**DEFAULTS, **given}


def _schedule(name: str, epochs: int, batches: int, monitor: str, patience: int):
    from ..optim import lr_scheduler as ls
    from ..train import LearningRateScheduler

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


def test_metrics(task: str, outputs: np.ndarray, y: np.ndarray, n_classes: int | None,
                 target_scaler) -> dict:
    """The metrics a user reads: accuracy, macro precision/recall/F1 and log-loss for
    classification; RMSE, MAE, R² and MSE in the target's own units for regression."""
    from ..train import metrics as M

    if task == "classification":
        labels = list(range(n_classes))
        pred = outputs.argmax(axis=1)
        return {"accuracy": M.accuracy(y, pred),
                "precision": M.precision(y, pred, labels=labels),
                "recall": M.recall(y, pred, labels=labels),
                "f1": M.f1(y, pred, labels=labels),
                "log_loss": M.log_loss(y, outputs, from_logits=True)}
    pred = target_scaler.inverse_transform(outputs).reshape(np.shape(y))
    report = {"rmse": M.rmse(y, pred), "mae": M.mae(y, pred), "mse": M.mse(y, pred)}
    if len(y) >= 2:
        report["r2"] = M.r2(y, pred)
    return report


def _print_metrics(title: str, metrics: dict, n: int, as_json: bool, extra: dict) -> None:
    if as_json:
        print(json.dumps({**extra, "n_samples": n, "metrics": metrics}))
        return
    print(f"{title} ({n} samples):")
    macro = ("precision", "recall", "f1")
    for name, value in metrics.items():
        print(f"  {name:<10} {value:.4f}" + ("  (macro)" if name in macro else ""))


def _predict_outputs(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    from ..autograd import no_grad

    model.eval()
    with no_grad():
        parts = [model(X[i:i + batch_size]).numpy() for i in range(0, len(X), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def run_train(given: dict, out: Path | None, resume: bool, overwrite: bool, plot: bool,
              quiet: bool, as_json: bool) -> None:
    import deltagrad as dg

    from .. import nn
    from ..train import EarlyStopping, Trainer
    from . import tabular_data as td

    s = _settings(given, out, resume, overwrite)
    hidden = parse_hidden(s["hidden"])
    # Cheap checks first: a typo should not cost a data set load.
    _fraction("val_fraction", s["val_fraction"])
    _fraction("test_fraction", s["test_fraction"])
    if s["val_fraction"] + s["test_fraction"] >= 1:
        raise CLIError(f"--val-fraction plus --test-fraction must be below 1 to leave data to "
                       f"train on, got {s['val_fraction']} + {s['test_fraction']}")
    for name in ("lr", "clip_norm"):
        if s[name] is not None and not s[name] > 0:
            raise CLIError(f"--{name.replace('_', '-')}: must be a positive number, got "
                           f"{s[name]}")
    if plot:
        from ..plots import require_matplotlib

        require_matplotlib()  # before training, not after
    ds, source = td.load_source(s["data"], s["target"], s["task"], s["seed"])
    source.update(seed=s["seed"], val_fraction=s["val_fraction"],
                  test_fraction=s["test_fraction"])
    p = td.split_and_scale(ds, s["val_fraction"], s["test_fraction"], s["seed"])
    classification = ds.task == "classification"
    n_out = ds.n_classes if classification else p.y_train.shape[1]
    model = nn.MLP(ds.n_features, hidden, n_out, activation=s["activation"],
                   dropout=s["dropout"], rng=np.random.default_rng(s["seed"]))
    n_params = sum(p_.size for p_ in model.parameters())
    has_val = len(p.X_val) > 0
    monitor = "val_loss" if has_val else "loss"
    callbacks = []
    if s["patience"]:
        callbacks.append(EarlyStopping(monitor=monitor, patience=s["patience"]))
    batches = -(-len(p.X_train) // s["batch_size"])
    schedule = _schedule(s["lr_schedule"], s["epochs"], batches, monitor, s["patience"])
    if schedule is not None:
        callbacks.append(schedule)
    trainer = Trainer(model, "cross_entropy" if classification else "mse",
                      optimizer=s["optimizer"], lr=s["lr"], weight_decay=s["weight_decay"],
                      metrics=["accuracy"] if classification else ["r2"], callbacks=callbacks,
                      clip_norm=s["clip_norm"], seed=s["seed"],
                      progress="none" if quiet else "auto")
    kind = f"{ds.n_classes} classes" if classification else "regression"
    _note(f"data: {ds.name}, {ds.n_samples} samples, {ds.n_features} features, {kind} "
          f"(train {len(p.X_train)}, validation {len(p.X_val)}, test {len(p.X_test)})", quiet)
    widths = " -> ".join(str(w) for w in [ds.n_features, *hidden, n_out])
    _note(f"model: MLP {widths} ({s['activation']}), {n_params:,} parameters; "
          f"{s['optimizer']} lr {s['lr']:g}, batch size {s['batch_size']}, up to "
          f"{s['epochs']} epochs", quiet)
    meta = {"task": ds.task, "target": source["target"], "feature_names": ds.feature_names,
            "class_names": ds.class_names, "scaler": p.scaler.to_dict(),
            "target_scaler": p.target_scaler.to_dict() if p.target_scaler else None,
            "data": source, "settings": s}
    try:
        with np.errstate(all="ignore"):  # the NaN guard reports what these warnings would
            history = trainer.fit(p.X_train, p.y_train, epochs=s["epochs"],
                                  batch_size=s["batch_size"],
                                  validation_data=(p.X_val, p.y_val) if has_val else None,
                                  out_dir=out, resume=resume, metadata=meta,
                                  run_info={"settings": s})
    except KeyboardInterrupt:
        from ..train import CHECKPOINT, load_checkpoint

        if out is not None and (out / CHECKPOINT).exists():
            epoch = load_checkpoint(out / CHECKPOINT)["epoch"]
            raise KeyboardInterrupt(f"the checkpoint of epoch {epoch} is in {out}; continue "
                                    f"with: deltagrad train --out {out} --resume") from None
        raise
    last = history.epoch[-1] if history.epoch else 0
    if history.stop_reason == "early_stopping":
        best_epoch, best = history.best(monitor)
        _note(f"stopped early after epoch {last}; kept the weights of epoch {best_epoch} "
              f"({monitor} {best:.4f})", quiet)
    elif s["patience"] and history.epoch:
        best_epoch, best = history.best(monitor)
        _note(f"trained {last} epochs; kept the weights of epoch {best_epoch} "
              f"({monitor} {best:.4f})", quiet)
    metrics = None
    if len(p.X_test):
        outputs = _predict_outputs(model, p.X_test)
        metrics = test_metrics(ds.task, outputs, p.y_test, ds.n_classes, p.target_scaler)
        _print_metrics("test metrics", metrics, len(p.X_test), as_json,
                       {"data": ds.name, "epochs": last, "stop_reason": history.stop_reason})
    elif as_json:
        print(json.dumps({"data": ds.name, "epochs": last, "metrics": None}))
    if out is not None:
        dg.save(model, out, {**meta, "test_metrics": metrics, "history": history.to_dict()})
        _note(f"saved the model to {out} (try: deltagrad evaluate {out})", quiet)
    elif not quiet:
        _note("the model was not saved (pass --out DIR to keep it)", quiet)
    if plot:
        _plots(out, history, model, ds, p, metrics is not None, quiet)


def _plots(out, history, model, ds, p, have_test: bool, quiet: bool) -> None:
    from .. import plots
    from ..train import confusion_matrix

    folder = out if out is not None else Path("deltagrad_plots")
    folder.mkdir(parents=True, exist_ok=True)
    written = [plots.plot_history(history, folder / "history.png", title=ds.name)]
    if ds.task == "classification" and have_test:
        pred = _predict_outputs(model, p.X_test).argmax(axis=1)
        cm = confusion_matrix(p.y_test, pred, labels=list(range(ds.n_classes)))
        written.append(plots.plot_confusion_matrix(
            cm, folder / "confusion_matrix.png", class_names=ds.class_names,
            title=f"{ds.name}: test split ({len(p.y_test)} samples)"))
    if ds.task == "classification" and ds.n_features == 2:
        def predict(points):
            return _predict_outputs(model, p.scaler.transform(points)).argmax(axis=1)

        written.append(plots.plot_decision_boundary(
            predict, ds.X, ds.y, folder / "decision_boundary.png", class_names=ds.class_names,
            feature_names=ds.feature_names, title=f"{ds.name}: decision regions"))
    _note("plots: " + ", ".join(str(w) for w in written), quiet)


# --- evaluate and predict ----------------------------------------------------------------------


def _load(model_dir: Path):
    import deltagrad as dg

    from ..data import StandardScaler
    from . import tabular_data as td

    model = dg.load(model_dir)
    meta = dg.load_metadata(model_dir)
    td.check_metadata(meta, model_dir)
    scaler = StandardScaler.from_dict(meta["scaler"])
    target_scaler = (StandardScaler.from_dict(meta["target_scaler"])
                     if meta.get("target_scaler") else None)
    if scaler.n_features_in_ != len(meta["feature_names"]):
        raise CLIError(f"{model_dir}: its scaler and feature names disagree")
    return model, meta, scaler, target_scaler


def run_evaluate(model_dir: Path, data: str | None, target: str | None, as_json: bool) -> None:
    from . import tabular_data as td

    model, meta, scaler, target_scaler = _load(model_dir)
    X, y, description = td.evaluation_data(meta, data, target)
    outputs = _predict_outputs(model, scaler.transform(X))
    n_classes = len(meta["class_names"]) if meta["task"] == "classification" else None
    if n_classes is not None and outputs.shape[1] != n_classes:
        raise CLIError(f"{model_dir}: the model outputs {outputs.shape[1]} scores but its "
                       f"metadata lists {n_classes} classes")
    metrics = test_metrics(meta["task"], outputs, y, n_classes, target_scaler)
    _print_metrics(f"metrics on {description}", metrics, len(X), as_json,
                   {"data": description})


def run_predict(model_dir: Path, input_csv: Path, out: Path | None, proba: bool) -> None:
    from ..data import load_csv_features
    from ..io import atomic_write_text

    model, meta, scaler, target_scaler = _load(model_dir)
    X = load_csv_features(input_csv, meta["feature_names"])
    outputs = _predict_outputs(model, scaler.transform(X))
    target = meta["target"] if meta["data"]["kind"] == "csv" else "prediction"
    if meta["task"] == "classification":
        classes = meta["class_names"]
        header = [target] + ([f"p_{c}" for c in classes] if proba else [])
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        rows = [[classes[k]] + ([f"{v:.6g}" for v in row] if proba else [])
                for k, row in zip(outputs.argmax(axis=1), probs)]
    else:
        if proba:
            raise CLIError("--proba applies to classification models; this one does regression")
        values = target_scaler.inverse_transform(outputs)
        header = [target] if values.shape[1] == 1 else [f"{target}_{j}"
                                                         for j in range(values.shape[1])]
        rows = [[f"{v:.7g}" for v in row] for row in values]
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if out is None:
        sys.stdout.write(buffer.getvalue())
        return
    if out.is_dir():
        raise CLIError(f"--out {out}: is a folder, expected a file name")
    if not out.parent.exists():
        raise CLIError(f"--out {out}: the folder {out.parent} does not exist")
    atomic_write_text(out, buffer.getvalue())
    print(f"wrote {len(rows)} predictions to {out}", file=sys.stderr)


# --- the commands, as Typer declares them --------------------------------------------------------


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to ``app``."""

    @app.command(no_args_is_help=False)
    def train(
        data: Annotated[str | None, typer.Option(
            "--data", metavar="NAME_OR_CSV",
            help="A built-in data set (iris, digits, wine, breast_cancer, diabetes, moons, "
                 "circles, spirals, xor, blobs) or a CSV file with a header row. "
                 "(default: digits)")] = None,
        target: Annotated[str | None, typer.Option(
            "--target", metavar="COLUMN",
            help="The CSV column to predict (name or index). (default: the last column)")] = None,
        task: Annotated[Task | None, typer.Option(
            "--task", help="Force the task of a CSV target (else inferred).")] = None,
        hidden: Annotated[str | None, typer.Option(
            "--hidden", metavar="SIZES",
            help="Hidden layer widths, comma-separated; 'none' for a linear model. "
                 "(default: 64,64)")] = None,
        activation: Annotated[Activation | None, typer.Option(
            "--activation", help="(default: relu)")] = None,
        dropout: Annotated[float | None, typer.Option(
            "--dropout", min=0.0, max=0.95, help="Dropout after each hidden layer. "
                                                 "(default: 0)")] = None,
        epochs: Annotated[int | None, typer.Option(
            "--epochs", min=1, help="The most epochs to train (default: 100).")] = None,
        batch_size: Annotated[int | None, typer.Option(
            "--batch-size", min=1, help="(default: 32)")] = None,
        lr: Annotated[float | None, typer.Option(
            "--lr", help="Learning rate. (default: 0.001)")] = None,
        optimizer: Annotated[OptimizerName | None, typer.Option(
            "--optimizer", help="(default: adam)")] = None,
        weight_decay: Annotated[float | None, typer.Option(
            "--weight-decay", min=0.0, help="(default: 0)")] = None,
        clip_norm: Annotated[float | None, typer.Option(
            "--clip-norm",
            help="Clip the gradients' joint norm to this. (default: off)")] = None,
        lr_schedule: Annotated[Schedule | None, typer.Option(
            "--lr-schedule", help="step: /10 at each third of the epochs; cosine; "
                                  "exponential: x0.95 per epoch; plateau: halve when the "
                                  "validation loss stalls; warmup: rise over the first epoch. "
                                  "(default: none)")] = None,
        patience: Annotated[int | None, typer.Option(
            "--patience", min=0, help="Stop after this many epochs without a better "
                                      "validation loss, keeping the best weights; 0: never. "
                                      "(default: 10)")] = None,
        seed: Annotated[int | None, typer.Option(
            "--seed", min=0, help="Seeds the split, the initial weights, shuffling and "
                                  "dropout. (default: 0)")] = None,
        val_fraction: Annotated[float | None, typer.Option(
            "--val-fraction", help="(default: 0.1)")] = None,
        test_fraction: Annotated[float | None, typer.Option(
            "--test-fraction", help="(default: 0.2)")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", metavar="DIR", help="Save the model here, with a checkpoint after every "
                                         "epoch.")] = None,
        resume: Annotated[bool, typer.Option(
            "--resume", help="Continue the interrupted run in --out DIR from its last "
                             "checkpoint.")] = False,
        overwrite: Annotated[bool, typer.Option(
            "--overwrite", help="Start a new run in an --out DIR that holds one.")] = False,
        plot: Annotated[bool, typer.Option(
            "--plot", help="Write PNGs: loss and metric curves, confusion matrix, decision "
                           "regions for 2-D data (into DIR, else ./deltagrad_plots).")] = False,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="Print only the test metrics.")] = False,
        as_json: Annotated[bool, typer.Option(
            "--json", help="Print the test metrics as JSON.")] = False,
    ) -> None:
        """Train an MLP on a built-in data set or a CSV file and print its test metrics."""
        options = {"data": data, "target": target, "task": task, "hidden": hidden,
                   "activation": activation, "dropout": dropout, "epochs": epochs,
                   "batch_size": batch_size, "lr": lr, "optimizer": optimizer,
                   "weight_decay": weight_decay, "clip_norm": clip_norm,
                   "lr_schedule": lr_schedule, "patience": patience, "seed": seed,
                   "val_fraction": val_fraction, "test_fraction": test_fraction}
        given = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items()
                 if v is not None}
        try:
            run_train(given, out, resume, overwrite, plot, quiet, as_json)
        except KeyboardInterrupt as exc:  # Typer would turn it into a silent exit 130
            say_error("interrupted" + (f": {exc}" if str(exc) else ""))
            raise typer.Exit(130) from None

    @app.command()
    def evaluate(
        model_dir: Annotated[Path, typer.Argument(metavar="DIR",
                                                  help="A model folder from train --out.")],
        data: Annotated[str | None, typer.Option(
            "--data", metavar="NAME_OR_CSV",
            help="Evaluate on every row of this data. (default: the held-out test split of "
                 "the training data)")] = None,
        target: Annotated[str | None, typer.Option(
            "--target", metavar="COLUMN",
            help="The CSV target column. (default: the one the model was trained on)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Print a saved model's metrics: accuracy, F1... or RMSE, R²..."""
        run_evaluate(model_dir, data, target, as_json)

    @app.command()
    def predict(
        model_dir: Annotated[Path, typer.Argument(metavar="DIR",
                                                  help="A model folder from train --out.")],
        input_csv: Annotated[Path, typer.Argument(
            metavar="INPUT.csv", help="Rows to predict, with the model's feature columns "
                                      "(other columns are ignored).")],
        out: Annotated[Path | None, typer.Option(
            "--out", metavar="OUTPUT.csv", help="Write here. (default: standard output)")] = None,
        proba: Annotated[bool, typer.Option(
            "--proba", help="Add each class's probability.")] = False,
    ) -> None:
        """Predict one value per row of INPUT.csv (class labels as in the training data)."""
        run_predict(model_dir, input_csv, out, proba)
