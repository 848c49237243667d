"""``deltagrad train --vary NAME=V1,V2,...``: train one model per value (per combination, with
several ``--vary``), everything else as the other options say, and show them side by side:
a table of what each reached and pictures of their curves on one figure.

The variants share the data, its split and the initial weights (the same ``--seed``) unless
the seed itself is what varies, so the difference between two curves is the setting's.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from .. import distributed, plots
from ..backend import as_device
from ..io import atomic_write_text, save
from .errors import CLIError
from .tabular import load_data, note, plot_folder, split_metrics, train_once
from .tabular_settings import DEFAULTS, check_numbers, parse_hidden, parse_vary, run_settings


def run_compare(given: dict, vary: list[str], out: Path | None, resume: bool,
                overwrite: bool, quiet: bool, as_json: bool, device: str = "cpu") -> None:
    """Train every variant (on ``device``), print the comparison, write its pictures (and,
    with ``--out``, every model, in a folder each, and ``compare.json``)."""
    if resume:
        raise CLIError("--resume continues one run; it does not combine with --vary")
    variants = parse_vary(vary)
    fixed = [name for name in variants[0] if name in given]
    if fixed:
        raise CLIError(f"--{fixed[0].replace('_', '-')} is both given and varied; drop one")
    plots.require_matplotlib()  # the comparison is a picture: say so before training
    runs = []
    for change in variants:
        label = ", ".join(f"{k}={_show(v)}" for k, v in change.items())
        folder = None if out is None else out / re.sub(r"[^\w.=+-]+", "_", label)
        s = run_settings({**given, **change}, folder, False, overwrite) if folder else \
            {**DEFAULTS, **given, **change}
        parse_hidden(s["hidden"])
        check_numbers(s)
        runs.append((label, folder, s))
    where, results, histories, data = as_device(device), [], {}, {}
    for label, folder, s in runs:
        note(f"--- {label}", quiet)
        if s["seed"] not in data:  # the split (and a built-in set's samples) follow the seed
            data[s["seed"]] = load_data(s, None, quiet)
        source, p = data[s["seed"]]
        run = train_once(s, source, p, folder, False, quiet, device=where)
        histories[label] = run.history
        results.append(_result(label, run, source))
        if folder is not None and distributed.rank() == 0:  # rank 0 of an MPI run writes
            save(run.model, folder, {**run.meta, "test_metrics": results[-1]["test_metrics"],
                                     "history": run.history.to_dict()})
    if distributed.rank() != 0:
        return
    _print(results, as_json)
    written = _pictures(histories, plot_folder(out), source.target.task, source.name)
    if out is not None:
        atomic_write_text(out / "compare.json", json.dumps(results, indent=2) + "\n")
        written.append(out / "compare.json")
    note("comparison: " + ", ".join(str(w) for w in written), quiet)


def _show(value) -> str:
    if value is None:
        return "none"
    return value.replace(",", "x") if isinstance(value, str) else str(value)


def _result(label: str, run, source) -> dict:
    history = run.history
    monitor = "val_loss" if "val_loss" in history else "loss"
    best_epoch, best = history.best(monitor) if len(history) else (0, float("nan"))
    metrics = split_metrics(run, source)
    return {"variant": label, "epochs": history.epoch[-1] if history.epoch else 0,
            "stop_reason": history.stop_reason, "monitor": monitor, "best": best,
            "best_epoch": best_epoch, "test_metrics": metrics}


def _print(results: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(results))
        return
    shown = [k for k in ("accuracy", "f1", "rmse", "r2")
             if results[0]["test_metrics"] and k in results[0]["test_metrics"]]
    monitor = results[0]["monitor"]
    header = ["variant", "epochs", f"best {monitor}", *[f"test {k}" for k in shown]]
    rows = [[r["variant"], str(r["epochs"]), f"{r['best']:.4f} (epoch {r['best_epoch']})",
             *[f"{r['test_metrics'][k]:.4f}" for k in shown]] for r in results]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        print("  ".join(cells).rstrip())
    sys.stdout.flush()


def _pictures(histories: dict, folder: Path, task: str, name: str) -> list[Path]:
    """The loss of every run on one figure, and its accuracy (or R²) on another."""
    first = next(iter(histories.values()))
    prefix = "val_" if "val_loss" in first else ""
    metric = "accuracy" if task == "classification" else "r2"
    written = []
    for key in (f"{prefix}loss", f"{prefix}{metric}"):
        if all(key in h for h in histories.values()):
            written.append(plots.plot_histories(histories, key, folder / f"compare_{key}.png",
                                                title=f"{name}: {key}"))
    return written
