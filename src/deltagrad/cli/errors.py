"""The error a command raises for a bad option or argument: printed as one ``error:`` line."""

from __future__ import annotations

import sys


class CLIError(ValueError):
    """A user's mistake on the command line; ``deltagrad`` prints ``error: <message>`` on
    standard error and exits with status 1 (no traceback). Sub-commands may raise it too."""


def say_error(message: str) -> None:
    """Print ``error: <message>`` as one line on standard error."""
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"error: {text}", file=sys.stderr, flush=True)
