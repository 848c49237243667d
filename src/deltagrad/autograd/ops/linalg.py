"""Matrix products. For Z = A @ B each Z[i, j] = Σₖ A[i, k] B[k, j], so
δA = δZ @ Bᵀ and δB = Aᵀ @ δZ: the same product, with the other factor transposed."""

from __future__ import annotations

from ..arrays import matrix_transpose as _swap_last
from ..function import Function, OpError


class MatMul(Function):
    """Z = A @ B (NumPy rules: 1-D operands, batched stacks)  ->  δA = δZ @ Bᵀ, δB = Aᵀ @ δZ"""

    __slots__ = ()
    name = "matmul"
    shape_error = "do not align"
    saves = (0, 1)

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise OpError(f"matmul: shapes {a.shape} and {b.shape}: both operands need at least "
                          "one dimension; use * to multiply by a scalar")
        return a @ b

    def backward(self, g):
        a, b = self.saved
        need_a, need_b = self.needs_grad(0), self.needs_grad(1)
        if a.ndim == 1 and b.ndim == 1:  # inner product: z = Σ aₖ bₖ
            return (g * b if need_a else None), (g * a if need_b else None)
        if a.ndim == 1:  # a acts as a row vector (1, k); z drops that axis
            ga = (g[..., None, :] @ _swap_last(b))[..., 0, :] if need_a else None
            gb = a[:, None] @ g[..., None, :] if need_b else None
            return ga, gb
        if b.ndim == 1:  # b acts as a column vector (k, 1); z drops that axis
            ga = g[..., None] @ b[None, :] if need_a else None
            gb = (_swap_last(a) @ g[..., None])[..., 0] if need_b else None
            return ga, gb
        # Transposed views: BLAS reads them directly, no copy is made.
        ga = g @ _swap_last(b) if need_a else None
        gb = _swap_last(a) @ g if need_b else None
        return ga, gb
