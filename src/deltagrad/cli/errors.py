"""The error a command raises for a bad option or argument: printed as one ``error:`` line."""

from __future__ import annotations

import sys

from .. import distributed


class CLIError(ValueError):
    """A user's mistake on the command line; ``deltagrad`` prints ``error: <message>`` on
    standard error and exits with status 1 (no traceback). Sub-commands may raise it too."""


def say_error(message: str) -> None:
    """Print ``error: <message>`` as one line on standard error."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"error: {text}", file=sys.stderr, flush=True)


def report_error(exc: BaseException, message: str) -> None:
    """``say_error(message)`` for ``exc``; in an MPI run (where only rank 0's output is
    shown, see ``main``) an error of this rank alone is instead reported as this rank's and
    ends every rank (``distributed.fail``), since the others would wait for it forever."""
    if not distributed.is_on_every_rank(exc):
        distributed.fail(exc)  # returns only outside MPI
    say_error(message)
