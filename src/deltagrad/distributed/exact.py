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
#: elements converted at a time, through two preallocated buffers (1 MiB; as fast as whole
#: tensors, which would need fresh pages for every term)
_CHUNK = 65536


class ExactSum:
    """Exact sums of terms spread over ranks, for segments of the given ``sizes`` (numbers
    of elements). Call it with this rank's terms, each a ``(share, arrays)`` pair (one array
    per segment, ``None`` where the term has none; each term's arrays are multiplied by its
    ``share`` first) and the number of terms on all ranks together. Returns one float64 array
    per segment (None where no term on any rank had one; inf where any was not finite)."""

    def __init__(self, comm, sizes):
        self.comm = comm
        self.sizes = [int(s) for s in sizes]
        self.bounds = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        count = len(self.sizes)
        self.total = np.zeros(int(self.bounds[-1]) + count, np.int64)  # sums, then counts
        self.largest = np.zeros(count, np.float64)
        chunk = min(_CHUNK, max(self.sizes, default=0))
        self._scaled, self._fixed = np.empty(chunk, np.float64), np.empty(chunk, np.int64)

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
                    self._add_fixed(total[bounds[s]:bounds[s + 1]], a.reshape(-1),
                                    share * scale[s])
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

    def _add_fixed(self, total: np.ndarray, values: np.ndarray, scale: float) -> None:
        """``total += rint(values * scale)`` in int64, chunk by chunk; the product in
        float64, where the scaled float32 value is exact before it is rounded."""
        scaled, fixed = self._scaled, self._fixed
        for lo in range(0, values.size, _CHUNK):
            hi = min(lo + _CHUNK, values.size)
            # dtype: NumPy 1.x would multiply a float32 array by a float scalar in float32
            np.multiply(values[lo:hi], scale, out=scaled[:hi - lo], dtype=np.float64)
            np.rint(scaled[:hi - lo], out=fixed[:hi - lo], casting="unsafe")
            total[lo:hi] += fixed[:hi - lo]
