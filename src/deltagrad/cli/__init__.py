"""The ``deltagrad`` command: ``deltagrad train``, ``evaluate``, ``predict`` (and the
sub-commands other parts of the package add). ``main()`` is the console script.

Every user mistake ends as one line ``error: ...`` on standard error and a non-zero exit
status, never a traceback: usage errors (exit 2), bad data, damaged model files, invalid
settings, a diverged run (exit 1), an interrupt (exit 130).
"""

from __future__ import annotations

import os
import sys

import typer
import typer.main

from .. import distributed
from .app import build_app
from .errors import report_error
from .errors import say_error as _say

try:  # Typer's click exception classes: recent Typer vendors its own copy of click
    from typer._click import exceptions as _click
except ImportError:  # older Typer runs on click itself
    from click import exceptions as _click


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    >>> main(["--version"])  # doctest: +ELLIPSIS
    deltagrad ...
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    shown = sys.stdout, sys.stderr
    try:
        if distributed.rank() != 0:  # one of several MPI ranks: rank 0 prints for all
            sys.stdout = sys.stderr = open(os.devnull, "w")
        command = typer.main.get_command(build_app(args))
        result = command.main(args=args, prog_name="deltagrad", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except getattr(_click, "NoArgsIsHelpError", ()) as exc:  # click < 8.2 prints the help itself
        print(exc.ctx.get_help() if exc.ctx else "", flush=True)
        return 0
    except typer.Exit as exc:
        return exc.exit_code
    except _click.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        message = exc.format_message().rstrip(".")
        _say(message[:1].lower() + message[1:] + where)
        return 2
    except _click.ClickException as exc:
        _say(exc.format_message())
        return exc.exit_code or 1
    except (typer.Abort, KeyboardInterrupt) as exc:
        report_error(exc, "interrupted" + (f": {exc}" if str(exc) else ""))
        return 130
    except (ValueError, TypeError, OSError, ImportError, FloatingPointError) as exc:
        # User errors: bad data or files, invalid settings, a missing optional package,
        # a diverged run. Anything else is a bug and keeps its traceback.
        report_error(exc, str(exc) or type(exc).__name__)
        return 1
    finally:
        sys.stdout, sys.stderr = shown
