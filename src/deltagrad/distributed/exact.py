"""Sums that do not depend on who adds what: the arithmetic of deterministic mode.

Floating-point addition is not associative, so an ``MPI_Allreduce`` of float gradients gives
bits that depend on the number of ranks (and on the MPI library's reduction tree). Integer
addition is associative. :class:`ExactSum` therefore turns every term into int64 fixed point
with a power-of-two scale that all ranks agree on, adds the integers (exactly, in any order,
on any number of ranks) and turns the total back into floating point. The result is a
function of the set of terms alone: K ranks holding the terms in any split get the same bits
as one process holding them all.

Per segment (one parameter tensor, say) with n terms in all, whose largest scaled element
has magnitude ``M < 2**E``, the scale is ``2**(62 - h - E)`` with ``h = ceil(log2 n)``
bits of headroom, so no partial sum can overflow int64. Each term loses at most half a unit
of the last fixed-point place, ``2**(E - 63 + h)``; the total's absolute error is at most
``n * 2**(E - 63 + h) <= n**2 * M * 2**-61``. With the 8 micro-batches of the default
that is ``2**-55 * M``: every element larger than about ``2**-31 * M`` keeps full float32
precision (24 bits); only elements more than ~10^9 times below their tensor's largest are
exact to the absolute resolution ``2**-55 * M`` alone.

Cost: one MAX allreduce of one number per segment, then one SUM allreduce of int64 (twice
the bytes of a float32 allreduce); locally a few passes over each term.
"""

from __future__ import annotations

import math

import numpy as np

#: bits of the int64 the fixed point uses, one short of 63 so that rounding up never
#: overflows
_BITS = 62


class ExactSum:
    """Exact sums of terms spread over ranks, for segments of the given ``sizes`` (numbers
    of elements). Call it with this rank's terms, each a ``(share, arrays)`` pair (one array
    per segment, ``None`` where the term has none; each term's arrays are multiplied by its
    ``share`` first) and the number of terms on all ranks together. Returns one float64 array
    per segment (None where no term on any rank had one; NaN where any was not finite)."""

    def __init__(self, comm, sizes):
        self.comm = comm
        self.sizes = [int(s) for s in sizes]
        self.bounds = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        count = len(self.sizes)
        self.total = np.zeros(int(self.bounds[-1]) + count, np.int64)  # sums, then counts
        self.largest = np.zeros(count, np.float64)

    def __call__(self, terms, n_terms: int) -> list:
        largest, total, bounds = self.largest, self.total, self.bounds
        largest.fill(0.0)
        for share, arrays in terms:
            for s, a in enumerate(arrays):
                if a is not None and a.size:
                    top = max(float(a.max()), -float(a.min())) * abs(share)
                    # NaN as inf: MPI's MAX may drop a NaN, never an inf
                    largest[s] = max(largest[s], math.inf if math.isnan(top) else top)
        self.comm.allreduce(largest, "max")
        finite = np.isfinite(largest)
        headroom = math.ceil(math.log2(max(n_terms, 1)))
        exponent = np.frexp(np.where(finite, largest, 0.0))[1]  # largest < 2**exponent
        scale = np.ldexp(1.0, (_BITS - headroom - exponent).astype(np.int64))
        total.fill(0)
        counts = total[bounds[-1]:]
        for share, arrays in terms:
            for s, a in enumerate(arrays):
                if a is None:
                    continue
                counts[s] += 1
                if finite[s]:
                    # in float64: the scaled term keeps 53 bits before it is rounded
                    fixed = np.multiply(a, share * scale[s], dtype=np.float64)
                    np.rint(fixed, out=fixed)
                    total[bounds[s]:bounds[s + 1]] += fixed.reshape(-1).astype(np.int64)
        self.comm.allreduce(total, "sum")
        out = []
        for s in range(len(self.sizes)):
            if counts[s] == 0:
                out.append(None)
            elif not finite[s]:
                out.append(np.full(self.sizes[s], largest[s]))
            else:
                out.append(total[bounds[s]:bounds[s + 1]] / scale[s])
        return out
