"""The options of ``deltagrad train``, ``evaluate`` and ``predict``, as Typer declares them.

Each command turns its options into plain values and hands them to ``tabular.run_*``, where
the work is done; ``register`` adds the three to the ``deltagrad`` app.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .errors import report_error
from .text_runs import Activation, Device
from .tabular import run_evaluate, run_predict, run_train
from .tabular_compare import run_compare
from .tabular_settings import read_options


class OptimizerName(str, Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"
    rmsprop = "rmsprop"
    adagrad = "adagrad"


class Schedule(str, Enum):
    none = "none"
    step = "step"
    cosine = "cosine"
    exponential = "exponential"
    plateau = "plateau"
    warmup = "warmup"


class Norm(str, Enum):
    none = "none"
    layer = "layer"
    batch = "batch"


class Task(str, Enum):
    classification = "classification"
    regression = "regression"


DelimiterOption = Annotated[str | None, typer.Option(
    "--delimiter", metavar="CHAR",
    help="The CSV file's delimiter: a character, or comma, semicolon, tab, pipe. "
         "(default: detected)")]
EncodingOption = Annotated[str | None, typer.Option(
    "--encoding", help="The CSV file's encoding, e.g. latin-1 or cp1252. (default: UTF-8, "
                       "with or without a byte-order mark)")]


def ColumnsOption(flag: str, text: str):  # noqa: N802  (an annotation, spelled as one)
    return Annotated[str | None, typer.Option(flag, metavar="COL,...", help=text)]


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to ``app``."""
    app.command(no_args_is_help=False)(train)
    app.command()(evaluate)
    app.command()(predict)


def train(
    data: Annotated[str | None, typer.Option(
        "--data", metavar="NAME_OR_FILE",
        help="A built-in data set (iris, digits, wine, breast_cancer, diabetes, moons, "
             "circles, spirals, xor, blobs), or a table: a CSV file with a header row or a "
             "Parquet file. Numbers are standardised, text one-hot encoded, booleans 0/1, "
             "ISO dates split into day number, month and weekday; missing cells are filled "
             "in with an indicator column; id-like and constant columns are left out. "
             "(default: digits)")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="COLUMN",
        help="The column to predict (name or index). (default: the last column)")] = None,
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
    norm: Annotated[Norm | None, typer.Option(
        "--norm", help="Normalise each hidden layer (before its activation): layer or batch "
                       "norm. (default: none)")] = None,
    residual: Annotated[bool | None, typer.Option(
        "--residual/--no-residual",
        help="Skip connections around the hidden layers of equal width. "
             "(default: off)")] = None,
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
    device: Device = "cpu",
    val_fraction: Annotated[float | None, typer.Option(
        "--val-fraction", help="(default: 0.1)")] = None,
    test_fraction: Annotated[float | None, typer.Option(
        "--test-fraction", help="(default: 0.2)")] = None,
    drop: ColumnsOption("--drop", "Leave these columns out.") = None,
    categorical: ColumnsOption("--categorical", "Treat these columns as categories, even "
                                                "if they hold numbers.") = None,
    numeric: ColumnsOption("--numeric", "Treat these columns as numbers; cells that are "
                                        "not numbers count as missing.") = None,
    min_frequency: Annotated[int | None, typer.Option(
        "--min-frequency", min=1, metavar="N",
        help="Categories seen fewer times in training share one 'other' input. "
             "(default: 5)")] = None,
    max_categories: Annotated[int | None, typer.Option(
        "--max-categories", min=1, metavar="N",
        help="At most this many categories per column get an input of their own (the "
             "most frequent). (default: 100)")] = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Save the model here, with a checkpoint after every "
                                     "epoch.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the interrupted run in --out DIR from its last "
                         "checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Start a new run in an --out DIR that holds one.")] = False,
    plot: Annotated[bool, typer.Option(
        "--plot", help="Write PNGs: loss and metric curves, the gradients layer by layer, "
                       "confusion matrix, decision regions for 2-D data (into DIR, else "
                       "./deltagrad_plots).")] = False,
    deterministic: Annotated[bool | None, typer.Option(
        "--deterministic", help="Sum the gradients exactly, so that any number of MPI "
                                "processes (mpiexec -n K) ends with the weights of one.")] = None,
    vary: Annotated[list[str] | None, typer.Option(
        "--vary", metavar="NAME=V1,V2",
        help="Train one model per value of a setting (e.g. lr=0.001,0.01,0.1; hidden=16,"
             "32x32; several --vary: every combination) and compare them: a table, and their "
             "curves on one figure (into DIR, else ./deltagrad_plots).")] = None,
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
               "val_fraction": val_fraction, "test_fraction": test_fraction, "norm": norm,
               "residual": residual, "deterministic": deterministic,
               "drop": drop, "categorical": categorical, "numeric": numeric,
               "min_frequency": min_frequency, "max_categories": max_categories,
               "delimiter": delimiter, "encoding": encoding}
    given = {k: (v.value if isinstance(v, Enum) else v) for k, v in options.items()
             if v is not None}
    try:
        if vary:
            run_compare(given, vary, out, resume, overwrite, quiet, as_json, device)
        else:
            run_train(given, out, resume, overwrite, plot, quiet, as_json, device)
    except KeyboardInterrupt as exc:  # Typer would turn it into a silent exit 130
        report_error(exc, "interrupted" + (f": {exc}" if str(exc) else ""))
        raise typer.Exit(130) from None


def evaluate(
    model_dir: Annotated[Path, typer.Argument(metavar="DIR",
                                              help="A model folder from train --out.")],
    data: Annotated[str | None, typer.Option(
        "--data", metavar="NAME_OR_FILE",
        help="Evaluate on every row of this data. (default: the held-out test split of "
             "the training data)")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="COLUMN",
        help="The target column. (default: the one the model was trained on)")] = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a saved model's metrics: accuracy, F1... or RMSE, R²..."""
    run_evaluate(model_dir, data, target, as_json,
                 read_options({"delimiter": delimiter, "encoding": encoding}))


def predict(
    model_dir: Annotated[Path, typer.Argument(metavar="DIR",
                                              help="A model folder from train --out.")],
    input_file: Annotated[Path, typer.Argument(
        metavar="INPUT", help="Rows to predict (CSV or Parquet), with the model's columns "
                              "(other columns are ignored).")],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="OUTPUT", help="Write here: Parquet for a .parquet name, else CSV. "
                                        "(default: CSV on standard output)")] = None,
    proba: Annotated[bool, typer.Option(
        "--proba", help="Add each class's probability, in columns p_<class>.")] = False,
    id_column: Annotated[str | None, typer.Option(
        "--id", metavar="COLUMN",
        help="Copy this column (e.g. a customer id) to the output, first.")] = None,
    delimiter: DelimiterOption = None,
    encoding: EncodingOption = None,
) -> None:
    """Predict one value per row of INPUT (class labels as in the training data)."""
    run_predict(model_dir, input_file, out, proba, id_column,
                read_options({"delimiter": delimiter, "encoding": encoding}))
