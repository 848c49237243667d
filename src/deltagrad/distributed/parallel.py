"""``DataParallel``: what the training loop asks of the ranks it trains with.

``Trainer`` consults one of these at its seams: which rows of a global batch this rank
computes and how their gradients become the global batch's (:meth:`DataParallel.step`),
which rows of the validation data it predicts and how their losses and outputs are combined
(:meth:`shard`, :meth:`mean_loss`, :meth:`gather_rows`), whether a time budget allows the
next batch (:meth:`decide`: rank 0's clock and decision), and the start of a run (:meth:`start`:
the same data, model and settings everywhere, rank 0's weights). Alone (one process, fast
mode) every call is the identity and a step costs nothing more than the step itself.

Two modes, both with the loss and the learning rate of the **global** batch (each rank's
rows count by their share of the batch, so the summed gradient is the global batch mean's):

- fast (default): each rank takes a contiguous 1/K of the batch's rows; its gradients, scaled
  by its share, are packed into one preallocated flat buffer (with the loss and a flag per
  parameter saying whether it got a gradient) and summed by one in-place ``Allreduce``.
  Reproducible for a fixed K; another K sums in another order (float32 rounding only).
- deterministic: every global batch is cut into micro-batches of a fixed size (a setting that
  does not depend on K), the ranks take contiguous runs of them, and each micro-batch's
  gradients are summed exactly (:class:`~deltagrad.distributed.exact.ExactSum`), so K ranks
  end bit-identical to one process with the same setting, for any K.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np

from .._checks import check_int
from .comm import LocalComm, fail, is_on_every_rank, raised_on_every_rank
from .exact import ExactSum

#: micro-batches per global batch in deterministic mode, unless a size is given
MICRO_BATCHES = 8


class DataParallel:
    """The ranks of ``comm`` training one model together (see the module's docstring).
    ``micro_batch_size`` (deterministic mode only; None: an eighth of the batch size)."""

    def __init__(self, comm=None, deterministic: bool = False,
                 micro_batch_size: int | None = None):
        self.comm = comm if comm is not None else LocalComm()
        self.rank, self.size = self.comm.rank, self.comm.size
        self.is_root = self.rank == 0
        self.deterministic = bool(deterministic)
        self.micro_batch_size = None if micro_batch_size is None else check_int(
            micro_batch_size, "micro_batch_size", "Trainer")
        self.alone = self.size == 1 and not self.deterministic  # every call the identity
        self._params: tuple = ()
        self._now = time.perf_counter()

    # --- a training step -----------------------------------------------------------------

    def step(self, compute, params: list, start: int, stop: int, batch_size: int,
             weight: np.ndarray | None) -> tuple[float, list]:
        """Gradients of the global batch ``start:stop`` (of ``batch_size``) in every
        parameter's ``.grad``, identical on every rank. ``compute(lo, hi)`` runs forward and
        backward on rows ``lo:hi`` and returns (their mean loss, their outputs). Returns (the
        global batch's loss, ``[(lo, hi, outputs)]`` for the rows this rank computed)."""
        if self.alone:
            value, out = compute(start, stop)
            return value, [(start, stop, out)]
        self._attach(params)
        pieces, n_terms = self._pieces(start, stop, batch_size, weight)
        done, terms = [], []
        for lo, hi, share in pieces:
            value, out = compute(lo, hi)
            done.append((lo, hi, out))
            terms.append((share, [p.grad for p in params] + [np.array([value], np.float64)]))
        if self.deterministic:
            sums = self._exact(terms, n_terms)
        else:
            sums = self._allreduce(terms)
        for p, view, total in zip(params, self._views, sums):
            if total is not None and total is not view:
                view[...] = total.reshape(view.shape)  # float64 -> the parameters' dtype
            p.grad = None if total is None else view
        return (0.0 if sums[-1] is None else float(sums[-1][0])), done

    def _pieces(self, start: int, stop: int, batch_size: int, weight) -> tuple[list, int]:
        """This rank's (lo, hi, share) row ranges of the batch, and how many there are on
        all ranks together."""
        rows = stop - start
        if self.deterministic:
            size = self._micro_size(batch_size)
            n = math.ceil(rows / size)
            mine = range(n * self.rank // self.size, n * (self.rank + 1) // self.size)
            cuts = [(start + j * size, min(start + (j + 1) * size, stop)) for j in mine]
        else:
            n = self.size
            cuts = [(start + rows * self.rank // n, start + rows * (self.rank + 1) // n)]
            cuts = [c for c in cuts if c[1] > c[0]]
        if weight is None:
            return [(lo, hi, (hi - lo) / rows) for lo, hi in cuts], n
        total = float(weight[start:stop].sum())
        return [(lo, hi, float(weight[lo:hi].sum()) / total if total else 0.0)
                for lo, hi in cuts], n

    def check_batch(self, batch_size: int, n: int) -> None:
        """Refuse batches (of ``batch_size``, over ``n`` samples) that leave a rank without
        rows to compute (on every rank alike)."""
        size = self._micro_size(batch_size)
        rows = min(batch_size, n)
        pieces = math.ceil(rows / size) if self.deterministic else rows
        if pieces < self.size:
            what = (f"{pieces} micro-batches of {size} rows" if self.deterministic
                    else f"{rows} rows")
            raise raised_on_every_rank(ValueError(
                f"fit: a batch of {rows} samples gives {what}, fewer than the {self.size} "
                f"ranks; use a larger batch_size (or fewer ranks)"))

    def _micro_size(self, batch_size: int) -> int:
        return self.micro_batch_size or max(1, math.ceil(batch_size / MICRO_BATCHES))

    def _attach(self, params: list) -> None:
        """One flat buffer for every gradient, preallocated once per parameter list: the
        parameters' ``.grad`` are views into it after a step."""
        if len(params) == len(self._params) and all(
                a is b for a, b in zip(params, self._params)):
            return
        dtypes = {p.data.dtype for p in params}
        if len(dtypes) != 1:
            raise TypeError(f"data-parallel training needs parameters of one dtype, got "
                            f"{sorted(str(d) for d in dtypes)}")
        sizes = [p.data.size for p in params] + [1]
        self._flat = np.zeros(sum(sizes) + len(sizes), dtypes.pop())  # values, then flags
        bounds = np.cumsum([0] + sizes)
        self._views = [self._flat[a:b].reshape(p.data.shape)
                       for p, a, b in zip(params, bounds, bounds[1:])]
        self._params = tuple(params)
        self._bounds = bounds
        self._exact = ExactSum(self.comm, sizes)

    def _allreduce(self, terms: list) -> list:
        """Fast mode: this rank's one term, scaled by its share, summed over the ranks by
        one in-place Allreduce of the flat buffer."""
        flat, bounds = self._flat, self._bounds
        flat.fill(0)
        flags = flat[bounds[-1]:]
        for share, arrays in terms:  # at most one
            for s, a in enumerate(arrays):
                if a is not None:
                    np.multiply(a.reshape(-1), share, out=flat[bounds[s]:bounds[s + 1]],
                                casting="unsafe")
                    flags[s] = 1
        self.comm.allreduce(flat)
        return [(self._views[s] if s < len(self._views) else flat[a:b]) if flags[s] else None
                for s, (a, b) in enumerate(zip(bounds, bounds[1:]))]

    # --- evaluation ----------------------------------------------------------------------

    def shard(self, n: int, batch_size: int) -> tuple[int, int]:
        """The rows ``lo:hi`` of ``n`` this rank evaluates: a contiguous run of whole
        batches, so every row is computed in the batch it would be in one process."""
        if self.alone:
            return 0, n
        batches = math.ceil(n / batch_size)
        first = batches * self.rank // self.size
        last = batches * (self.rank + 1) // self.size
        return min(first * batch_size, n), min(last * batch_size, n)

    def gather_rows(self, local: np.ndarray, lo: int, n: int) -> np.ndarray:
        """The ``n`` rows of which this rank holds ``local`` (rows ``lo:``), on every rank:
        each row is another rank's or zero, so a sum puts it together exactly."""
        if self.alone:
            return local
        full = np.zeros((n, *local.shape[1:]), local.dtype)
        full[lo:lo + len(local)] = local
        return self.combine(full)

    def combine(self, array: np.ndarray) -> np.ndarray:
        """Sum ``array`` over the ranks, in place (each rank having filled its own rows and
        left the others zero)."""
        return array if self.size == 1 else self.comm.allreduce(array)

    def mean_loss(self, losses: np.ndarray, batch_size: int) -> float:
        """The mean of every rank's per-sample ``losses`` (this rank's rows, in evaluation
        batches of ``batch_size``): per batch a float64 sum, then an exact sum over batches,
        so the value does not depend on how the batches are spread."""
        if self.alone:
            return float(np.mean(losses, dtype=np.float64))
        terms = [(1.0, [np.array([losses[i:i + batch_size].sum(dtype=np.float64)]),
                        np.array([float(losses[i:i + batch_size].size)])])
                 for i in range(0, len(losses), batch_size)]
        n_terms = int(self.comm.allreduce(np.array([len(terms)], np.int64))[0])
        total, count = ExactSum(self.comm, [1, 1])(terms, n_terms)
        return float(total[0] / count[0]) if count is not None else math.nan

    # --- the run around the steps ----------------------------------------------------------

    def clock(self) -> float:
        """Seconds on rank 0's clock as of the last :meth:`decide` (alone: now), so that
        every rank measures a time budget, and the schedules that follow it, alike."""
        return time.perf_counter() if self.size == 1 else self._now

    def decide(self, allowed) -> bool:
        """Rank 0's answer to ``allowed()``, asked with its clock read now, on every rank
        (which also take rank 0's clock)."""
        if self.size == 1:
            return allowed()
        answer = 0.0
        if self.is_root:
            self._now = time.perf_counter()
            answer = float(allowed())
        shared = self.comm.bcast(np.array([answer, self._now]))
        self._now = float(shared[1])
        return bool(shared[0])

    def root_seed(self, seed: int) -> int:
        """Rank 0's ``seed`` (for a trainer given none)."""
        if self.size == 1:
            return seed
        return int(self.comm.bcast(np.array([seed], np.uint64))[0])

    def start(self, model, fingerprint) -> None:
        """Before the first step: check that every rank trains the same thing (refusing, on
        every rank, with the first difference in ``fingerprint()``, a dict), then give every
        rank rank 0's weights and buffers, and rank 0's clock."""
        if self.size == 1:
            return
        fingerprint = fingerprint()
        ranks = self.comm.allgather(fingerprint)
        for r, other in enumerate(ranks):
            differ = [k for k in fingerprint if other.get(k) != ranks[0].get(k)]
            if differ:
                raise raised_on_every_rank(ValueError(
                    f"rank {r} of {self.size} was started with other {differ[0]} than rank 0 "
                    f"(they differ in: {', '.join(differ)}); start every rank with the same "
                    f"data, model and settings"))
        for array in _states(model):
            self.comm.bcast(array)
        self.decide(lambda: True)

    def average_buffers(self, model) -> None:
        """Average the floating-point buffers (batch norm's running statistics, which each
        rank gathers from its own rows) over the ranks."""
        if self.size == 1:
            return
        for buffer in _buffers(model):
            if buffer.dtype.kind == "f":
                self.comm.allreduce(buffer)
                buffer /= self.size

    @contextmanager
    def failures_stop_all(self):
        """An error on this rank alone ends every rank, with one line naming this one (see
        ``comm.fail``); an error every rank raises together is left to propagate."""
        try:
            yield
        except BaseException as exc:
            if self.size > 1 and not is_on_every_rank(exc):
                fail(exc, self.comm)
            raise


def _states(model) -> list[np.ndarray]:
    """The arrays rank 0 broadcasts: every parameter's and buffer's data, in place."""
    return [p.data for p in model.parameters()] + _buffers(model)


def _buffers(model) -> list[np.ndarray]:
    named = getattr(model, "named_buffers", None)  # modules with running statistics
    return [] if named is None else [b for _, b in named()]
