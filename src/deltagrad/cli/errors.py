"""The error a command raises for a bad option or argument: printed as one ``error:`` line."""

from __future__ import annotations


class CLIError(ValueError):
    """A user's mistake on the command line; ``deltagrad`` prints ``error: <message>`` on
    standard error and exits with status 1 (no traceback). Sub-commands may raise it too."""
