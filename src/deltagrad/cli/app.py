"""The Typer application behind ``deltagrad``: the tabular commands, plus the sub-commands
(``ner``, ``lm``, ``playground``) of the parts of the package that are installed.

Sub-command modules are found without importing them and imported only when they may be
needed (to run one, or to list them in ``--help``), so ``deltagrad train`` starts fast.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

from .. import __version__
from . import export, tabular_commands

OPTIONAL = ("ner", "lm", "playground")


def _version(value: bool) -> None:
    if value:
        print(f"deltagrad {__version__}")
        raise typer.Exit()


def build_app(args: list[str] | None = None) -> typer.Typer:
    """The app; ``args`` (the command line) lets it skip importing sub-commands that the
    command line does not name."""
    app = typer.Typer(name="deltagrad", no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False,
                      help="Train, evaluate and use neural networks on tables of numbers.")

    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_version,
                                           is_eager=True, help="Print the version and exit.")):
        """Train, evaluate and use neural networks on tables of numbers."""

    tabular_commands.register(app)
    export.register(app)
    first = next((a for a in (args or []) if not a.startswith("-")), None)
    own = {"train", "evaluate", "predict", "export"}
    for name in OPTIONAL:
        if first in own or (first in OPTIONAL and first != name):
            continue  # the command line names another command: no need to import this one
        if importlib.util.find_spec(f"{__package__}.{name}") is None:
            continue
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ImportError:
            if first == name:
                raise  # running it: say what is missing
            continue  # listing: leave out what can not load
        app.add_typer(module.app, name=name)
    return app
