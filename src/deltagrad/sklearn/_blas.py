"""Single-threaded BLAS while training small networks.

A mini-batch step multiplies matrices like (200, 30) x (30, 100): 20 µs of arithmetic on
one core. OpenBLAS splits products above about 65,000 multiply-adds across its threads,
which buys little at this size (about 10% on an idle 2-core machine) and costs a great
deal on a busy one: a thread that must wait for a core held by another process stalls
the product for a scheduler tick. Measured on a loaded 2-core machine, that one product
took 8 ms instead of 20 µs, and a whole breast-cancer fit 3.2 s instead of 0.2 s.

So while fitting, when the largest per-batch product is below ``SMALL_PRODUCT``
multiply-adds, BLAS runs on one thread (scikit-learn limits threads the same way, with
threadpoolctl, in KMeans); larger networks keep every thread. The limit is lifted when
the fit returns.
"""

from __future__ import annotations

import contextlib
from itertools import pairwise

#: multiply-adds of the largest per-batch matrix product below which one thread is faster
SMALL_PRODUCT = 4_000_000

_controller = None


def _threadpool_controller():
    """threadpoolctl's controller, made once (finding the BLAS libraries takes ~0.5 ms)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def blas_threads_for(rows: int, layer_units) -> contextlib.AbstractContextManager:
    """A context in which BLAS is single-threaded if a batch of ``rows`` through layers of
    ``layer_units`` widths is small (see the module docstring), else a no-op."""
    largest = max((a * b for a, b in pairwise(layer_units)), default=0) * rows
    if largest >= SMALL_PRODUCT:
        return contextlib.nullcontext()
    return _threadpool_controller().limit(limits=1, user_api="blas")
