"""Keeping freed memory for the next training step instead of giving it back at once.

Every step of training allocates the same large temporaries (activations, their gradients,
dropout masks: a 512 x 512 float32 array is 1 MiB) and frees them again. glibc's malloc
serves such blocks from fresh ``mmap`` pages or, once they are freed, hands the top of its
heap back to the system as soon as more than a few MiB lie free there (thresholds it
adjusts to the blocks freed so far, so this depends on the run). The next step then
faults the same memory in again, page by zeroed page: an epoch of the character language
model on 300k characters took 15.6 s with a million page faults instead of 11.8 s with
ten thousand (``bench/allocator.py``).

:func:`reusing_freed_memory` raises those two thresholds while a run trains, so freed
blocks wait in the heap for the next step, and on leaving returns what is free
(``malloc_trim``). It changes nothing where the C library is not glibc (macOS, Windows,
musl) and nothing when the user has tuned glibc's allocator through the environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

#: Blocks up to this size come from the heap, not from their own mmap (glibc's limit).
HEAP_BLOCKS_UP_TO = 32 << 20
#: Free memory at the top of the heap is kept up to this amount, not handed back.
KEEP_FREE_UP_TO = 256 << 20

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
# The user's own settings of glibc's allocator win over ours.
_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "GLIBC_TUNABLES")


def _glibc():
    """The process's glibc, or None where the C library is another (or the user set it)."""
    if not sys.platform.startswith("linux") or any(v in os.environ for v in _USER_SETTINGS):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    # only glibc has this function (musl has a mallopt that does nothing)
    return libc if hasattr(libc, "gnu_get_libc_version") else None


@contextlib.contextmanager
def reusing_freed_memory():
    """Inside: freed blocks up to :data:`HEAP_BLOCKS_UP_TO` are kept for reuse, up to
    :data:`KEEP_FREE_UP_TO` of them. On leaving, the free memory goes back to the system.
    The thresholds stay raised for the rest of the process (glibc cannot be told to go
    back to adjusting them itself), which costs nothing but memory kept between runs.

    >>> with reusing_freed_memory():
    ...     pass
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, HEAP_BLOCKS_UP_TO)
        libc.mallopt(_M_TRIM_THRESHOLD, KEEP_FREE_UP_TO)
    try:
        yield
    finally:
        if libc is not None:
            libc.malloc_trim(0)
