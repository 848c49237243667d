"""Reading a model file: a regular file only (a link to one is fine), never a FIFO or device.

A FIFO in the place of ``model.safetensors`` would block the reader forever, and a link to
``/dev/zero`` would be read until memory runs out; both are refused before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import ModelFileError

# O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; it changes
# nothing for a regular file.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_regular_file(path: str | os.PathLike) -> bytes:
    """The bytes of the regular file ``path``.

    Raises ``ModelFileError`` for a FIFO, device or socket, ``IsADirectoryError`` for a
    folder, and whatever else ``open`` raises (``FileNotFoundError``, ...), for the caller to
    word as it needs.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> read_regular_file(p)
    b'abc'
    """
    fd = os.open(path, _FLAGS)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise ModelFileError(f"{Path(path)}: not a regular file (a FIFO, device or "
                                 f"socket); a model file must be a file")
        return f.read()
