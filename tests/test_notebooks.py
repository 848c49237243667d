"""The class's notebooks (docs/notebooks) run top to bottom in a fresh Jupyter kernel; each
asserts, in a cell, the effect it teaches, so a notebook that stops teaching it fails here."""

import json
import shutil
import sys
from pathlib import Path

import pytest

nbclient = pytest.importorskip("nbclient", reason="running the notebooks needs nbclient and "
                               "ipykernel (pip install -e '.[test]')")
nbformat = pytest.importorskip("nbformat", reason="reading the notebooks needs nbformat")
pytest.importorskip("ipykernel", reason="the notebooks run in an ipykernel kernel")
pytest.importorskip("matplotlib", reason="the notebooks draw with matplotlib")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "docs" / "notebooks")
                   .glob("*.ipynb"))


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """A kernel spec running this interpreter (the one with deltagrad installed), whatever
    `python` means on the PATH or in the user's Jupyter folders."""
    spec = tmp_path / "jupyter" / "kernels" / "deltagrad-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "deltagrad tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    return "deltagrad-tests"


def test_there_are_the_four_notebooks_of_the_class():
    assert [p.name[:2] for p in NOTEBOOKS] == ["1_", "2_", "3_", "4_"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs_and_its_checks_hold(path, kernel, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, kernel_name=kernel, timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    pictures = [o for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    # the plots show inline; notebook 1's one picture is a graph, drawn where dot is installed
    assert pictures or (path.name.startswith("1_") and shutil.which("dot") is None)
