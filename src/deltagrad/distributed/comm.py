"""Who a process trains with: the communicator seam.

A process started by an MPI launcher (``mpiexec -n K``, ``srun``) with more than one process
gets an :class:`MPIComm` over ``MPI.COMM_WORLD`` (mpi4py, imported only then); any other
process gets :class:`LocalComm`, whose collectives do nothing. The training loop talks to
either through the same five calls: ``allreduce`` (in place, sum or max), ``bcast`` (in
place, from rank 0), ``allgather`` (small Python objects), ``abort``.

Failures. MPI has no way to leave a collective that a dead peer never joins, so a rank that
fails must take the others down itself: :func:`fail` prints one line naming the rank and
calls ``MPI_Abort``, which makes the launcher end every rank at once. An error that every
rank raises at the same point by design (a diverged run, settings that differ between
ranks) is marked with :func:`raised_on_every_rank` instead: each rank stops by itself and
only rank 0 reports it. A rank killed outright (``kill -9``, out of memory) is seen by the
launcher, which ends the others (MPICH's and Open MPI's ``mpiexec`` do so at once; under
Slurm pass ``srun --kill-on-bad-exit=1``).
"""

from __future__ import annotations

import os
import sys
import traceback

import numpy as np

#: Variables MPI launchers set in every process they start (MPICH's Hydra and Intel MPI,
#: Slurm's PMI-2: PMI_*; Open MPI: OMPI_*; PMIx launchers: PMIX_RANK, without a size).
_LAUNCHER_SIZE = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_LAUNCHER_RANK = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


class LocalComm:
    """One process alone: every collective is the identity and costs nothing."""

    rank, size = 0, 1

    def allreduce(self, buffer: np.ndarray, op: str = "sum") -> np.ndarray:
        return buffer

    def bcast(self, buffer: np.ndarray) -> np.ndarray:
        return buffer

    def allgather(self, value) -> list:
        return [value]

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)


class MPIComm:
    """``MPI.COMM_WORLD`` through mpi4py: in-place collectives on NumPy arrays."""

    def __init__(self, comm, mpi):
        self._comm, self._mpi = comm, mpi
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._ops = {"sum": mpi.SUM, "max": mpi.MAX}

    def allreduce(self, buffer: np.ndarray, op: str = "sum") -> np.ndarray:
        self._comm.Allreduce(self._mpi.IN_PLACE, buffer, op=self._ops[op])
        return buffer

    def bcast(self, buffer: np.ndarray) -> np.ndarray:
        self._comm.Bcast(buffer, root=0)
        return buffer

    def allgather(self, value) -> list:
        return self._comm.allgather(value)

    def abort(self, code: int = 1) -> None:
        self._comm.Abort(code)


def launched_size() -> int | None:
    """How many processes the launcher says it started (None: not started by one)."""
    for name in _LAUNCHER_SIZE:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0 if any(name in os.environ for name in _LAUNCHER_RANK) else None


_world = None


def world():
    """This process's communicator (made on first use, then kept): MPI's world when an MPI
    launcher started more than one process, else :class:`LocalComm`."""
    global _world
    if _world is None:
        _world = _connect()
    return _world


def _connect():
    size = launched_size()
    if size is None or size == 1:
        return LocalComm()
    try:  # mpi4py (the optional extra deltagrad[mpi]) initialises MPI when imported
        from mpi4py import MPI
    except ImportError:
        raise ImportError(f"this process is one of {size or 'several'} started by an MPI "
                          f"launcher, but mpi4py is not installed, so they can not train "
                          f"together: pip install 'deltagrad[mpi]'") from None
    comm = MPIComm(MPI.COMM_WORLD, MPI)
    if comm.size == 1:
        return LocalComm()
    _stop_all_on_uncaught_errors(comm)
    return comm


def _stop_all_on_uncaught_errors(comm: MPIComm) -> None:
    """An exception no one catches on one rank ends the whole job (else the other ranks
    would wait for it forever inside their next collective)."""
    shown = sys.excepthook

    def hook(kind, value, tb):
        if is_on_every_rank(value):  # nobody waits for anybody: rank 0 tells
            if comm.rank == 0:
                shown(kind, value, tb)
            return
        fail(value, comm, show_traceback=True)

    sys.excepthook = hook


def raised_on_every_rank(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised by every rank at the same point (so no rank waits for another
    and only rank 0 needs to report it); returns it."""
    exc.on_every_rank = True
    return exc


def is_on_every_rank(exc: BaseException) -> bool:
    return bool(getattr(exc, "on_every_rank", False))


def _failure_line(exc: BaseException, comm) -> str:
    """``rank 1 of 4 failed: <message>``, the error's type named unless it is a user's
    mistake (a ValueError, TypeError or OSError, whose message says it all)."""
    message = str(exc)
    if not message:
        message = type(exc).__name__
    elif not isinstance(exc, (ValueError, TypeError, OSError)):
        message = f"{type(exc).__name__}: {message}"
    return f"rank {comm.rank} of {comm.size} failed: {message}"


def fail(exc: BaseException, comm=None, code: int = 1, show_traceback: bool = False) -> None:
    """Under MPI: print one line naming this rank and its error on the process's standard
    error (after the traceback, for a bug or when asked), then end every rank of the job
    (``MPI_Abort``). Outside MPI: nothing (the caller raises or reports ``exc`` as usual)."""
    comm = comm or world()
    if comm.size == 1:
        return
    stream = sys.__stderr__ or sys.stderr
    user_error = isinstance(exc, (ValueError, TypeError, OSError, KeyboardInterrupt))
    if show_traceback or not user_error:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stream)
    print(f"error: {_failure_line(exc, comm)}; stopping all {comm.size} ranks", file=stream,
          flush=True)
    comm.abort(code)
