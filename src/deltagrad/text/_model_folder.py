"""Reading the text models' folders: the right kind of model, and a damaged config refused
with one ``ModelFileError`` line rather than a ``KeyError`` from deep inside a constructor."""

from __future__ import annotations

import os
from contextlib import contextmanager

from .. import io


def read_metadata(path: str | os.PathLike, kind: str, what: str) -> dict:
    """The metadata in folder ``path``, refused unless it was saved as ``kind``."""
    meta = io.load_metadata(path)
    if meta.get("kind") != kind:
        raise io.ModelFileError(f"{os.fspath(path)}: not a {what} folder (its config.json "
                                f"has kind {meta.get('kind')!r})")
    return meta


@contextmanager
def config_errors(path: str | os.PathLike, what: str):
    """Turn a missing key or a bad value met while rebuilding the model into a clear error."""
    try:
        yield
    except io.ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{os.fspath(path)}: damaged {what} config "
                                f"({type(exc).__name__}: {exc})") from None
