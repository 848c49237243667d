"""What ``deltagrad ner train`` and ``deltagrad lm train`` share (with each other, and with
``deltagrad train``): the options both declare, one error path (a user's mistake ends as one
``error:`` line on standard error and exit status 1), the rules of the output folder
(``--resume``, ``--overwrite``), an interrupt that says how to continue, and ``--plot``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from .. import distributed, plots
from ..train import CHECKPOINT, load_checkpoint
from .errors import CLIError, report_error


class Activation(str, Enum):
    relu = "relu"
    leaky_relu = "leaky_relu"
    tanh = "tanh"
    sigmoid = "sigmoid"
    gelu = "gelu"


class Optimizer(str, Enum):
    adam = "adam"
    adamw = "adamw"
    adagrad = "adagrad"
    rmsprop = "rmsprop"
    sgd = "sgd"


# The options both training commands take, declared once.
OptimizerOption = Annotated[Optimizer, typer.Option(help="Optimiser.")]
ClipNorm = Annotated[float | None, typer.Option(help="Clip the gradients' joint norm to this.")]
Seed = Annotated[int, typer.Option(help="Random seed.")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue the interrupted run in --out from its last checkpoint.")]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Start a new run in an --out folder that holds one.")]
Plot = Annotated[bool, typer.Option(
    "--plot", help="Write the loss and metric curves to history.png in --out.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
MaxMinutes = Annotated[float | None, typer.Option(
    help="Stop training after this many minutes (evaluation included).")]
Deterministic = Annotated[bool, typer.Option(
    "--deterministic", help="Sum the gradients exactly, so that any number of MPI processes "
                            "(mpiexec -n K) ends with the weights of one.")]
Device = Annotated[str, typer.Option(
    help="Train on: cpu (NumPy), cuda or cuda:N (a GPU, through CuPy: install deltagrad's "
         "extra cuda12 or cuda13). The saved model holds host arrays.")]


@contextmanager
def user_errors():
    """A user's mistake (bad file, bad setting, a diverged run, a missing optional package)
    ends as one ``error:`` line and exit status 1; an interrupt as one line and 130."""
    try:
        yield
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        report_error(exc, str(exc) or type(exc).__name__)
        raise typer.Exit(1) from None
    except KeyboardInterrupt as exc:
        report_error(exc, "interrupted" + (f": {exc}" if str(exc) else ""))
        raise typer.Exit(130) from None


def start_run(out: Path, resume: bool, overwrite: bool, plot: bool,
              max_minutes: float | None) -> float | None:
    """Refuse an unusable output folder (or setting) before training, not after: with
    ``resume`` it must hold a run; without, it must not, unless ``overwrite`` (which removes
    the old run's checkpoint). Returns the time budget in seconds (None: no budget)."""
    if max_minutes is not None and not max_minutes > 0:
        raise CLIError(f"--max-minutes must be > 0, got {max_minutes}")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: exists and is not a folder")
    if resume and overwrite:
        raise CLIError("--resume and --overwrite contradict each other; pick one")
    if plot:
        plots.require_matplotlib()
    has_run = (out / CHECKPOINT).exists()
    if resume and not has_run:
        raise CLIError(f"--resume: {out} holds no checkpoint to resume (drop --resume to "
                       f"start a new run there)")
    if has_run and not resume:
        if not overwrite:
            raise CLIError(f"{out} already holds a training run; pass --resume to continue "
                           f"it or --overwrite to replace it")
        (out / CHECKPOINT).unlink(missing_ok=True)  # (another MPI rank may have done it)
    return None if max_minutes is None else max_minutes * 60


def save_run(model, out: Path, plot: bool, quiet: bool, title: str, what: str) -> None:
    """Save the trained ``model`` (a tagger or language model) in ``out``, with its loss and
    metric curves as ``history.png`` when ``plot`` (on rank 0 only, in an MPI run)."""
    if distributed.rank() != 0:
        return
    folder = model.save(out)
    if plot and model.history is not None and len(model.history):
        path = plots.plot_history(model.history, out / "history.png", title=title)
        if not quiet:
            print(f"plots: {path}", file=sys.stderr, flush=True)
    if not quiet:
        print(f"saved the {what} to {folder}", file=sys.stderr)


@contextmanager
def resumable(out: Path):
    """An interrupt during training says where its last checkpoint is."""
    try:
        yield
    except KeyboardInterrupt:
        if (out / CHECKPOINT).exists():
            epoch = load_checkpoint(out / CHECKPOINT)["epoch"]
            raise KeyboardInterrupt(f"the checkpoint of epoch {epoch} is in {out}; continue "
                                    f"with the same command and --resume") from None
        raise


def progress(quiet: bool) -> str:
    """The trainer's display: a bar on a terminal, lines elsewhere, nothing when quiet."""
    return "none" if quiet else "auto"
