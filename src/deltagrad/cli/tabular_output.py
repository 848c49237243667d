"""What the tabular commands show and write besides metrics: the table of what was done to
each column (first thing ``deltagrad train`` prints), and the predictions of ``predict`` as
CSV (on standard output or in a file) or Parquet."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from ..data.table import PARQUET_SUFFIXES
from ..io import atomic_write_bytes
from . import tabular_data as td
from .errors import CLIError

#: a table of more columns than this shows runs of alike columns as one line
MAX_LINES = 12


def column_rows(source: td.Source, p: td.Prepared) -> list[tuple[str, str, str]]:
    """(column, kind, what was done) for every column of the table, in the file's order."""
    found = source.target
    target = (f"{len(found.class_names)} classes: {', '.join(found.class_names[:8])}"
              + (", ..." if len(found.class_names) > 8 else "")
              if found.task == "classification" else "regression target, standardised")
    rows = {name: (name, kind, what) for name, kind, what in
            p.preprocessing.encoder.summary()}
    rows[source.info["target"]] = (source.info["target"], "target", target)
    ordered = [rows[name] for name in source.table.names if name in rows]
    return ordered if len(ordered) <= MAX_LINES else _runs(ordered)


def _runs(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Consecutive columns treated alike as one line: ``x0 ... x63 (64 columns)``."""
    merged: list[list] = []
    for name, kind, what in rows:
        if merged and merged[-1][1:3] == [kind, what]:
            merged[-1][3].append(name)
        else:
            merged.append([name, kind, what, [name]])
    return [(names[0] if len(names) == 1 else
             f"{names[0]} ... {names[-1]} ({len(names)} columns)", kind, what)
            for _, kind, what, names in merged]


def show_columns(source: td.Source, p: td.Prepared, stream) -> None:
    """The table of columns on ``stream``: drawn by rich on a terminal, plain text else."""
    rows = column_rows(source, p)
    title = f"columns of {source.name}"
    if _is_terminal(stream):
        from rich.console import Console  # deferred: rich draws only on a terminal
        from rich.table import Table

        table = Table(title=title, title_justify="left", box=None, header_style="bold")
        for heading in ("column", "kind", "what was done"):
            table.add_column(heading)
        for row in rows:
            table.add_row(*row)
        Console(file=stream).print(table)
        return
    widths = [max(len(r[i]) for r in [("column", "kind", ""), *rows]) for i in range(2)]
    lines = [f"{title}:", f"  {'column':<{widths[0]}}  {'kind':<{widths[1]}}  what was done"]
    lines += [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    print("\n".join(lines), file=stream, flush=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --- predictions -------------------------------------------------------------------------------


def prediction_columns(meta: dict, prep: td.Preprocessing, outputs: np.ndarray,
                       proba: bool) -> dict[str, np.ndarray]:
    """The predicted class labels (named after the target) and, with ``proba``, one
    probability column per class, ``p_<class>``; or the predicted values."""
    target = meta["target"] if meta["data"]["kind"] == "csv" else "prediction"
    if meta["task"] == "classification":
        classes = meta["class_names"]
        columns = {target: np.array(classes, dtype=object)[outputs.argmax(axis=1)]}
        if proba:
            shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
            probs = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
            columns.update({f"p_{c}": probs[:, k] for k, c in enumerate(classes)})
        return columns
    values = prep.predictions(outputs)
    if values.shape[1] == 1:
        return {target: values[:, 0]}
    return {f"{target}_{j}": values[:, j] for j in range(values.shape[1])}


def write_predictions(columns: dict[str, np.ndarray], out: Path | None) -> None:
    """``columns`` as CSV on standard output (``out`` None), or written atomically to
    ``out``: Parquet for a ``.parquet``/``.pq`` name, CSV otherwise (numbers to 7
    significant digits, float32's precision)."""
    if out is not None:
        if out.is_dir():
            raise CLIError(f"--out {out}: is a folder, expected a file name")
        if not out.parent.exists():
            raise CLIError(f"--out {out}: the folder {out.parent} does not exist")
    n = len(next(iter(columns.values())))
    if out is not None and out.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow as pa  # deferred: the table library, for Parquet only
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), sink)
        atomic_write_bytes(out, sink.getvalue().to_pybytes())
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(list(columns))
        writer.writerows(zip(*[_texts(v) for v in columns.values()]))
        if out is None:
            sys.stdout.write(buffer.getvalue())
            sys.stdout.flush()
            return
        atomic_write_bytes(out, buffer.getvalue().encode("utf-8"))
    print(f"wrote {n} predictions to {out}", file=sys.stderr)


def _texts(values: np.ndarray) -> list[str]:
    if values.dtype.kind == "f":
        return [f"{v:.7g}" for v in values.tolist()]
    return values.tolist()
