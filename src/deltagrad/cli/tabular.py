"""``deltagrad train``, ``evaluate`` and ``predict`` at work, each as a few named steps.

Their options are declared in ``tabular_commands``, a run's settings are checked in
``tabular_settings``, and the data pipeline (load, split, preprocess) is ``tabular_data``.
Results go to standard output (test metrics, predictions); progress and notes go to standard
error, so ``deltagrad predict DIR new.csv > out.csv`` gives a clean file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from .. import distributed, nn, plots
from ..backend import as_device
from ..data import Problems, Table, read_table
from ..data.table import names_shown
from ..io import load, load_metadata, save
from ..train import (CHECKPOINT, EarlyStopping, GradientStats, History, Trainer,
                     confusion_matrix, load_checkpoint, predict_batches)
from ..train.sample_random import use_trainer_dropout
from ..train.state import saved_run_info
from ..train import metrics as M
from . import tabular_data as td
from .errors import CLIError
from .tabular_output import prediction_columns, show_columns, write_predictions
from .tabular_settings import (check_numbers, check_same_data, parse_hidden, read_options,
                               run_settings, schedule)


def note(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def test_metrics(task: str, outputs: np.ndarray, y: np.ndarray, n_classes: int | None,
                 prep: td.Preprocessing) -> dict:
    """The metrics a user reads: accuracy, macro precision/recall/F1 and log-loss for
    classification; RMSE, MAE, R² and MSE in the target's own units for regression."""
    if task == "classification":
        labels = list(range(n_classes))
        pred = outputs.argmax(axis=1)
        return {"accuracy": M.accuracy(y, pred),
                "precision": M.precision(y, pred, labels=labels),
                "recall": M.recall(y, pred, labels=labels),
                "f1": M.f1(y, pred, labels=labels),
                "log_loss": M.log_loss(y, outputs, from_logits=True)}
    pred = prep.predictions(outputs).reshape(np.shape(y))
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


def predict_outputs(model, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return predict_batches(model, X, batch_size)


# --- train -----------------------------------------------------------------------------------


def run_train(given: dict, out: Path | None, resume: bool, overwrite: bool, plot: bool,
              quiet: bool, as_json: bool, device: str = "cpu") -> None:
    """``deltagrad train``: settings, data, model, training (on ``device``: where, not what,
    so not a setting a resumed run must repeat), test metrics, model folder, pictures."""
    s = run_settings(given, out, resume, overwrite)
    where = as_device(device)
    parse_hidden(s["hidden"])
    check_numbers(s)
    if plot:
        plots.require_matplotlib()  # before training, not after
    # Gradient statistics are gathered for --plot, and by a resumed run that gathered them
    # (its checkpoint lists the callback).
    gradients = plot or bool(resume and (saved_run_info(out) or {}).get("gradient_stats"))
    if plot and not gradients:
        note("the interrupted run did not record gradient statistics: no gradients.png", quiet)
    source, p = load_data(s, out if resume else None, quiet)
    run = train_once(s, source, p, out, resume, quiet, gradients, where)
    metrics = _report_test(run, source, as_json)
    if distributed.rank() != 0:
        return  # rank 0 of an MPI run writes the files
    if out is not None:
        save(run.model, out, {**run.meta, "test_metrics": metrics,
                              "history": run.history.to_dict()})
        note(f"saved the model to {out} (try: deltagrad evaluate {out})", quiet)
    elif not quiet:
        note("the model was not saved (pass --out DIR to keep it)", quiet)
    if plot:
        _plots(out, run, source, metrics is not None, quiet)


class Run:
    """One trained model: the model, its data split, history, metadata and gradient stats."""

    def __init__(self, model, data: td.Prepared, history: History, meta: dict, stats):
        self.model, self.data, self.history, self.meta, self.stats = (model, data, history,
                                                                      meta, stats)


def train_once(s: dict, source: td.Source, p: td.Prepared, out: Path | None, resume: bool,
               quiet: bool, gradients: bool = False, device=None) -> Run:
    """Build the MLP the settings describe (on ``device``) and train it on the prepared data
    ``p`` (with checkpoints in ``out``); ``gradients`` adds a ``GradientStats``."""
    hidden = parse_hidden(s["hidden"])
    task, n_classes = source.target.task, len(source.target.class_names or ())
    widths = [p.X_train.shape[1], *hidden, n_classes if n_classes else p.y_train.shape[1]]
    model = nn.MLP(widths[0], hidden, widths[-1], activation=s["activation"],
                   dropout=s["dropout"], norm=None if s["norm"] == "none" else s["norm"],
                   residual=s["residual"], rng=np.random.default_rng(s["seed"]))
    use_trainer_dropout(model)
    if device is not None:
        model.to(device)
    monitor = "val_loss" if len(p.X_val) else "loss"
    stats = GradientStats() if gradients else None
    trainer = _trainer(model, task, (len(p.X_train), len(p.X_val)), s, monitor, quiet, stats)
    _describe(source, p, model, widths, s, quiet)
    meta = {"task": task, "target": source.info["target"],
            "class_names": source.target.class_names, **p.preprocessing.to_metadata(),
            "data": source.info, "settings": s}
    history = _fit(trainer, p, s, out, resume, meta, gradients)
    _note_kept_weights(history, monitor, s["patience"], quiet)
    return Run(model, p, history, meta, stats)


def load_data(s: dict, resumed: Path | None, quiet: bool) -> tuple[td.Source, td.Prepared]:
    """Read, check (every problem at once), split and preprocess the data of settings ``s``;
    a resumed run (in ``resumed``) must find the very data it began with."""
    problems = Problems(s["data"])
    source = td.read_source(s["data"], s["target"], s["task"], s["seed"], problems,
                            read=read_options(s), text_columns=td.column_list(s["categorical"]))
    if source is None:  # no usable target: nothing more can be checked
        problems.raise_if_any()
    if source.info["kind"] == "csv":
        source.info["fingerprint"] = source.table.fingerprint()
        if resumed is not None:
            check_same_data(resumed, source.info["fingerprint"], s["data"])
    source.info.update(seed=s["seed"], val_fraction=s["val_fraction"],
                       test_fraction=s["test_fraction"])
    p = td.prepare(source, s, problems)
    if not quiet:
        show_columns(source, p, sys.stderr)
    source.table = None  # the raw columns are not needed past here: free them before training
    return source, p


def _trainer(model: nn.Module, task: str, sizes: tuple[int, int], s: dict, monitor: str,
             quiet: bool, stats: GradientStats | None) -> Trainer:
    n_train, n_val = sizes
    callbacks = [] if stats is None else [stats]
    if s["patience"]:
        callbacks.append(EarlyStopping(monitor=monitor, patience=s["patience"]))
    batches = -(-n_train // s["batch_size"])
    lr_schedule = schedule(s["lr_schedule"], s["epochs"], batches, monitor, s["patience"])
    if lr_schedule is not None:
        callbacks.append(lr_schedule)
    classification = task == "classification"
    # R² of one sample is undefined: a table of a few rows is logged without it
    fits_r2 = n_train >= 2 and n_val != 1
    return Trainer(model, "cross_entropy" if classification else "mse",
                   optimizer=s["optimizer"], lr=s["lr"], weight_decay=s["weight_decay"],
                   metrics=["accuracy"] if classification else ["r2"] if fits_r2 else [],
                   callbacks=callbacks,
                   clip_norm=s["clip_norm"], seed=s["seed"],
                   progress="none" if quiet else "auto", deterministic=s["deterministic"])


def _describe(source: td.Source, p: td.Prepared, model: nn.Module, widths: list[int], s: dict,
              quiet: bool) -> None:
    found = source.target
    kind = f"{len(found.class_names)} classes" if found.task == "classification" else \
        "regression"
    for line in source.notes:
        note(f"note: {line}", quiet)
    note(f"data: {source.name}, {p.n_rows} samples, {len(p.preprocessing.feature_names)} "
         f"columns as {p.X_train.shape[1]} features, {kind} (train {len(p.X_train)}, "
         f"validation {len(p.X_val)}, test {len(p.X_test)})", quiet)
    n_params = sum(w.size for w in model.parameters())
    shape = s["activation"] if len(widths) > 2 else "linear: --hidden none"
    shape += "".join([f", {s['norm']} norm" if s["norm"] != "none" else "",
                      ", residual" if s["residual"] else ""])
    note(f"model: MLP {' -> '.join(map(str, widths))} ({shape}), {n_params:,} "
         f"parameters; {s['optimizer']} lr {s['lr']:g}, batch size {s['batch_size']}, up to "
         f"{s['epochs']} epochs", quiet)


def _fit(trainer: Trainer, p: td.Prepared, s: dict, out: Path | None, resume: bool,
         meta: dict, gradients: bool) -> History:
    """Train; on Ctrl+C, say where the last checkpoint is and how to go on from it."""
    try:
        with np.errstate(all="ignore"):  # the NaN guard reports what these warnings would
            return trainer.fit(p.X_train, p.y_train, epochs=s["epochs"],
                               batch_size=s["batch_size"],
                               validation_data=(p.X_val, p.y_val) if len(p.X_val) else None,
                               out_dir=out, resume=resume, metadata=meta,
                               run_info={"settings": s, "gradient_stats": gradients,
                                         "data": meta["data"].get("fingerprint")})
    except KeyboardInterrupt:
        if out is not None and (out / CHECKPOINT).exists():
            epoch = load_checkpoint(out / CHECKPOINT)["epoch"]
            raise KeyboardInterrupt(f"the checkpoint of epoch {epoch} is in {out}; continue "
                                    f"with: deltagrad train --out {out} --resume") from None
        raise


def _last_epoch(history: History) -> int:
    return history.epoch[-1] if history.epoch else 0


def _note_kept_weights(history: History, monitor: str, patience: int, quiet: bool) -> None:
    early = history.stop_reason == "early_stopping"
    if early or (patience and history.epoch):
        best_epoch, best = history.best(monitor)
        last = _last_epoch(history)
        how = f"stopped early after epoch {last}" if early else f"trained {last} epochs"
        note(f"{how}; kept the weights of epoch {best_epoch} ({monitor} {best:.4f})", quiet)


def split_metrics(run: Run, source: td.Source) -> dict | None:
    """The metrics of ``run``'s model on its test split (None without one)."""
    p = run.data
    if not len(p.X_test):
        return None
    outputs = predict_outputs(run.model, p.X_test)
    classes = source.target.class_names
    return test_metrics(source.target.task, outputs, p.y_test,
                        len(classes) if classes else None, p.preprocessing)


def _report_test(run: Run, source: td.Source, as_json: bool) -> dict | None:
    """Print the metrics on the test split and return them (None without a test split)."""
    metrics = split_metrics(run, source)
    extra = {"data": source.name, "epochs": _last_epoch(run.history)}
    if metrics is None:
        if as_json:
            print(json.dumps({**extra, "metrics": None}))
        return None
    _print_metrics("test metrics", metrics, len(run.data.X_test), as_json,
                   {**extra, "stop_reason": run.history.stop_reason})
    return metrics


def plot_folder(out: Path | None) -> Path:
    """Where pictures go: the run's folder, else ./deltagrad_plots."""
    folder = out if out is not None else Path("deltagrad_plots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _plots(out, run: Run, source: td.Source, have_test: bool, quiet: bool) -> None:
    folder, model, p = plot_folder(out), run.model, run.data
    name, classes = source.name, source.target.class_names
    written = [plots.plot_history(run.history, folder / "history.png", title=name)]
    if run.history.gradients is not None:
        written.append(plots.plot_gradients(run.history, folder / "gradients.png",
                                            title=f"{name}: gradients"))
    if classes and have_test:
        pred = predict_outputs(model, p.X_test).argmax(axis=1)
        cm = confusion_matrix(p.y_test, pred, labels=list(range(len(classes))))
        written.append(plots.plot_confusion_matrix(
            cm, folder / "confusion_matrix.png", class_names=classes,
            title=f"{name}: test split ({len(p.y_test)} samples)"))
    if p.points is not None:
        features = p.preprocessing.feature_names

        def predict(points):
            grid = Table.from_numbers("grid", points, features)
            return predict_outputs(model, p.preprocessing.inputs(grid)).argmax(axis=1)

        written.append(plots.plot_decision_boundary(
            predict, *p.points, folder / "decision_boundary.png", class_names=classes,
            feature_names=features, title=f"{name}: decision regions"))
    note("plots: " + ", ".join(str(w) for w in written), quiet)


# --- evaluate and predict ----------------------------------------------------------------------


def _load(model_dir: Path) -> tuple[nn.Module, dict, td.Preprocessing]:
    model = load(model_dir)
    meta = load_metadata(model_dir)
    td.check_metadata(meta, model_dir)
    return model, meta, td.Preprocessing.from_metadata(meta, model_dir)


def run_evaluate(model_dir: Path, data: str | None, target: str | None, as_json: bool,
                 read: dict) -> None:
    model, meta, prep = _load(model_dir)
    X, y, description = td.evaluation_data(meta, prep, data, target, read)
    outputs = predict_outputs(model, X)
    n_classes = len(meta["class_names"]) if meta["task"] == "classification" else None
    if n_classes is not None and outputs.shape[1] != n_classes:
        raise CLIError(f"{model_dir}: the model outputs {outputs.shape[1]} scores but its "
                       f"metadata lists {n_classes} classes")
    metrics = test_metrics(meta["task"], outputs, y, n_classes, prep)
    _print_metrics(f"metrics on {description}", metrics, len(X), as_json,
                   {"data": description})


def run_predict(model_dir: Path, input_file: Path, out: Path | None, proba: bool,
                id_column: str | None, read: dict) -> None:
    """One prediction per row of ``input_file``: the class label (and with ``proba`` each
    class's probability, in columns named by class) or the value; the ``id_column`` first."""
    model, meta, prep = _load(model_dir)
    if proba and meta["task"] != "classification":
        raise CLIError("--proba applies to classification models; this one does regression")
    keep = prep.encoder.text_columns + ((id_column,) if id_column else ())
    table = read_table(input_file, text_columns=keep, **read)
    problems = Problems(table.path)
    td.note_bad_rows(table, problems)
    if id_column is not None and id_column not in table.columns:
        problems.add(f"--id: no column {id_column!r} (the columns are "
                     f"{names_shown(table.names)})", "check the spelling")
    X = prep.encoder.transform(table, None, problems)
    problems.raise_if_any()
    outputs = predict_outputs(model, X)
    columns = {id_column: table.columns[id_column].texts()} if id_column else {}
    columns.update(prediction_columns(meta, prep, outputs, proba))
    write_predictions(columns, out)
