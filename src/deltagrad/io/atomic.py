"""Atomic file writes: a reader sees the old file or the new one, never half of either.

The bytes go to a temporary file in the same folder (so the final rename stays on one file
system), are flushed to disk with ``fsync``, and only then ``os.replace`` puts the file in
place; the folder is synced too, so the rename itself survives a power cut. A crash at any
point leaves at worst a stray ``.*.tmp`` file, never a damaged target.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# mkstemp creates its file private (0600); a saved model should get the permissions any new
# file gets (0644 under the usual umask). The umask can only be read by setting it, so read
# it once, at import, rather than racing other threads on every write.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; return the path.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write_bytes(p, b"abc").read_bytes()
    b'abc'
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), _FILE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders can not be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows, where renames are durable once they return
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
