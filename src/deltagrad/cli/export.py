"""``deltagrad export DIR OUT.onnx``: a model folder from any training command as ONNX."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..data.table import names_shown
from ..export import export_folder


def run_export(model_dir: Path, out: Path, opset: int | None) -> None:
    path = export_folder(model_dir, out, opset)
    # onnx, an optional dependency, is there: export_folder has just used it
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    print(f"wrote {path}: {names_shown(i.name for i in graph.input)} -> "
          f"{names_shown(o.name for o in graph.output)}", file=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add ``export`` to ``app``."""

    @app.command()
    def export(
        model_dir: Annotated[Path, typer.Argument(
            metavar="DIR", help="A model folder from train, ner train, lm train or dg.save.")],
        out: Annotated[Path, typer.Argument(metavar="OUT.onnx", help="The file to write.")],
        opset: Annotated[int | None, typer.Option(
            "--opset", help="The ONNX opset to stamp the model with. (default: 17)")] = None,
    ) -> None:
        """Write a model folder as an ONNX model (a 'train' folder with its preprocessing:
        one input per column of the table, raw cells in; class probabilities and labels, or
        the value, out)."""
        run_export(model_dir, out, opset)
