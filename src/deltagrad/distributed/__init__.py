"""Training past one process: data parallelism over MPI (the optional extra
``pip install 'deltagrad[mpi]'``: mpi4py with an MPI library from PyPI).

Launch any training as K processes, and ``Trainer.fit`` (hence ``deltagrad train``,
``lm train``, ``ner train`` and your own scripts) trains one model over them, with no change
to the code::

    mpiexec -n 4 deltagrad train --data digits --out runs/digits
    mpiexec -n 4 python my_script.py

Every rank loads the same data; each trains on its share of every global batch (the
``batch_size`` you give is the global one, and so are the loss and the learning rate);
the gradients are summed once per step; rank 0 prints and writes files. With
``Trainer(deterministic=True)`` / ``--deterministic`` any number of ranks ends with weights
bit-identical to one process. Outside MPI (or without mpi4py) everything runs as one process
at no extra cost.

>>> from deltagrad import distributed
>>> distributed.is_distributed(), distributed.rank(), distributed.world_size()
(False, 0, 1)
"""

from __future__ import annotations

from .comm import LocalComm, fail, is_on_every_rank, raised_on_every_rank, world
from .parallel import DataParallel


def is_distributed() -> bool:
    """Whether this process is one of several training together (started by ``mpiexec -n K``
    with K > 1, mpi4py installed)."""
    return world().size > 1


def rank() -> int:
    """This process's number among those training together, from 0 (0 outside MPI)."""
    return world().rank


def world_size() -> int:
    """How many processes train together (1 outside MPI)."""
    return world().size


__all__ = ["DataParallel", "LocalComm", "fail", "is_distributed",
           "is_on_every_rank", "raised_on_every_rank", "rank", "world", "world_size"]
