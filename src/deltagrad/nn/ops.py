"""The fused ops behind the layers and activations: each a ``Function`` with its forward and
backward side by side, as in ``autograd/ops``.

A fused op is one graph node where a composition of primitives would be several, with
fewer temporaries and one backward rule. Where a backward reuses an intermediate that is
neither an input nor the output (Φ(x) in GELU, for instance), the op declares it
``derived`` and ``rebuild`` computes it again from Tensors, with the same code where it can,
so that higher-order gradients (``dg.grad`` of ``dg.grad``, ``dg.hessian``) stay exact.
"""

from __future__ import annotations

import math

from ..autograd import arrays
from ..autograd.arrays import builds_graph, exp, tanh
from ..autograd.function import OUTPUT, Function, OpError
from ..autograd.ops.index import scatter_add
from ..autograd.ops.reduce import reduced_axes
from ..backend import array_module, kind, shims
from ._special import normal_cdf, normal_pdf


class Linear(Function):
    """y = x Wᵀ + b  ->  δx = δy W,  δW = δyᵀ x,  δb = Σ δy over every axis but the last"""

    __slots__ = ()
    name = "linear"
    saves = (0, 1)  # x and W exactly as given (not reshaped copies): higher order needs that

    def forward(self, x, w, b=None):
        if x.ndim == 0 or x.shape[-1] != w.shape[1]:
            bias = "" if b is None else f" and bias {b.shape}"
            raise OpError(f"linear: input of shape {x.shape} does not match weight of shape "
                          f"{w.shape}{bias}; the input's last axis must be in_features = "
                          f"{w.shape[1]}")
        # Any (..., in) input as one (n, in) GEMM; w.T is a transposed view that BLAS reads
        # directly, so no copy of the weight is made.
        y = _as_matrix(x, w.shape[1]) @ w.T
        if b is not None:
            if b.dtype == y.dtype:
                y += b  # y is a fresh result: add in place, no second (n, out) temporary
            else:
                y = y + b
        return y if x.ndim == 2 else arrays.reshape(y, x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x, w = self.saved
        g2 = _as_matrix(g, w.shape[0])
        gx = None
        if self.needs_grad(0):
            gx = g2 @ w
            gx = gx if x.ndim == 2 else arrays.reshape(gx, x.shape)
        gw = g2.T @ _as_matrix(x, w.shape[1]) if self.needs_grad(1) else None
        gb = arrays.sum(g2, axis=0) if self.needs_grad(2) else None
        return gx, gw, gb


def _as_matrix(x, columns: int):
    """``x`` as an (n, columns) matrix: itself when it is one already (no reshape node)."""
    return x if x.ndim == 2 else arrays.reshape(x, (-1, columns))


class LeakyReLU(Function):
    """z = x for x > 0, else slope · x  ->  δx = δz · (1 or slope)"""

    __slots__ = constants = ("slope",)  # 1 or the slope: piecewise constant
    name = "leaky_relu"

    def forward(self, a, negative_slope=0.01):
        xp = array_module(a)
        dtype = a.dtype if kind(a.dtype) == "f" else xp.float64
        slope = xp.full_like(a, negative_slope, dtype=dtype)
        slope[a > 0] = 1
        self.slope = slope
        return a * slope

    def backward(self, g):
        return g * self.slope


class NormalCDF(Function):
    """z = Φ(x)  ->  δx = δz φ(x),  φ(x) = e^(-x²/2) / √(2π)  (the primitive inside GELU)"""

    __slots__ = ()
    name = "normal_cdf"
    saves = (0,)

    def forward(self, a):
        return normal_cdf(a)

    def backward(self, g):
        (a,) = self.saved
        return g * _pdf(a)


def _pdf(a):
    """φ(a) on an array, or as ops on a Tensor (so it can be differentiated again)."""
    if builds_graph(a):
        return exp(a * a * -0.5) * (1 / math.sqrt(2 * math.pi))
    return normal_pdf(a)


def _cdf(a):
    """Φ(a) on an array, or as the ``NormalCDF`` op on a Tensor."""
    return a.apply(NormalCDF, a) if builds_graph(a) else normal_cdf(a)


class GELU(Function):
    """z = x Φ(x)  ->  δx = δz (Φ(x) + x φ(x))  (the exact, erf-based GELU)"""

    __slots__ = derived = ("cdf",)  # Φ(x), kept from the forward pass
    name = "gelu"
    saves = (0,)

    def forward(self, a):
        self.cdf = _cdf(a)
        return a * self.cdf

    def rebuild(self, a):
        return (_cdf(a),)

    def backward(self, g):
        (a,) = self.saved
        return g * (self.cdf + a * _pdf(a))


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_K = 0.044715
# Beyond |x| = 10, tanh(u) is ±1 in float64 and the slope is exactly 0 or 1: clipping
# there keeps x³ from overflowing without changing any value.
_GELU_TANH_CLIP = 10.0


def _tanh_and_clipped(x):
    """tanh u and x clipped to ±10 (see above), on an array or, as ops, on a Tensor."""
    xc = arrays.clip(x, -_GELU_TANH_CLIP, _GELU_TANH_CLIP)
    return tanh(_SQRT_2_OVER_PI * (xc + _GELU_K * xc * xc * xc)), xc


class GELUTanh(Function):
    """z = x (1 + tanh u) / 2, u = c (x + k x³)  ->
    δx = δz ((1 + tanh u) / 2 + x (1 - tanh² u) c (1 + 3 k x²) / 2)"""

    __slots__ = derived = ("t", "xc")  # tanh u and the clipped x, kept from the forward pass
    name = "gelu"

    def forward(self, a):
        self.t, self.xc = _tanh_and_clipped(a)
        return 0.5 * a * (1 + self.t)

    def rebuild(self, a):
        return _tanh_and_clipped(a)

    def backward(self, g):
        t, xc = self.t, self.xc
        inner = (1 - t * t) * (_SQRT_2_OVER_PI * (1 + 3 * _GELU_K * xc * xc))
        return g * (0.5 * (1 + t) + 0.5 * xc * inner)


class Normalize(Function):
    """y = x̂ γ + β, x̂ = (x - μ) / σ  ->  δx = (δx̂ - mean(δx̂) - x̂ mean(δx̂ x̂)) / σ,
    δx̂ = δy γ,  δγ = Σ δy x̂,  δβ = Σ δy  (μ, σ² and the means over the normalised axes)

    The kernel of layer norm (normalised over the last axes, γ and β along them) and of batch
    norm in training (normalised over every axis but the channels, γ and β per channel).
    σ = √(var + eps) with the biased variance. ``stats``, a list, receives (μ, var) so that
    batch norm updates its running statistics without a second pass over the batch.
    """

    __slots__ = ("xhat", "rstd", "axes", "param_axes", "view", "eps")
    derived = ("xhat", "rstd")  # x̂ and 1/σ, kept from the forward pass
    constants = ("axes", "param_axes", "view", "eps")
    name = "normalize"
    saves = (1,)  # γ (None without one)

    def forward(self, x, w=None, b=None, *, axes: tuple, param_axes: tuple, eps: float,
                stats: list | None = None):
        self.axes, self.param_axes, self.eps = axes, param_axes, eps
        self.view = tuple(n if i in param_axes else 1 for i, n in enumerate(x.shape))
        self.xhat, self.rstd, mean, var = _standardize(x, axes, eps)
        if stats is not None:
            stats.append((mean, var))
        if w is None and b is None:
            return self.xhat
        y = self.xhat * arrays.reshape(w, self.view) if w is not None else arrays.copy(self.xhat)
        if b is not None:
            y += arrays.reshape(b, self.view)  # y is a fresh array: no second temporary
        return y

    def rebuild(self, x, w=None, b=None):
        return _standardize(x, self.axes, self.eps)[:2]

    def backward(self, g):
        (w,) = self.saved
        xhat, rstd, axes = self.xhat, self.rstd, self.axes
        # γ and β vary along param_axes: their gradients sum over all the other axes.
        summed = tuple(i for i in range(g.ndim) if i not in self.param_axes)
        gw = arrays.sum(g * xhat, axis=summed) if self.needs_grad(1) else None
        gb = arrays.sum(g, axis=summed) if self.needs_grad(2) else None
        gx = None
        if self.needs_grad(0):
            gxhat = g * arrays.reshape(w, self.view) if w is not None else g
            gx = rstd * (gxhat - arrays.mean(gxhat, axis=axes, keepdims=True)
                         - xhat * arrays.mean(gxhat * xhat, axis=axes, keepdims=True))
        return gx, gw, gb


def _standardize(x, axes: tuple, eps: float) -> tuple:
    """(x̂, 1/σ, μ, var) over ``axes`` (kept as size 1), on an array or, as ops, a Tensor."""
    mean = arrays.mean(x, axis=axes, keepdims=True)
    xc = x - mean
    var = arrays.mean(xc * xc, axis=axes, keepdims=True)  # two passes: no cancellation
    if builds_graph(x):
        rstd = 1 / (var + eps).sqrt()
        return xc * rstd, rstd, mean, var
    rstd = 1 / array_module(x).sqrt(var + eps)
    xc *= rstd  # xc is a fresh array: x̂ without another temporary
    return xc, rstd, mean, var


def _shift(xp, a, axes):
    """The max along ``axes`` (kept), or 0 where it is not finite (a row of -inf)."""
    shift = arrays.max(a, axis=axes, keepdims=True)
    return xp.where(xp.isfinite(shift), shift, 0)


class Softmax(Function):
    """s = e^x / Σ e^x  ->  δx = s (δs - Σ δs s)"""

    __slots__ = constants = ("axes",)
    name = "softmax"
    saves = (OUTPUT,)

    def forward(self, a, axis=-1):
        xp = array_module(a)
        self.axes = reduced_axes(self.name, a.shape, axis)
        e = xp.exp(a - _shift(xp, a, self.axes))  # shifted by the max: e^x never overflows
        e /= arrays.sum(e, axis=self.axes, keepdims=True)
        return e

    def backward(self, g):
        (s,) = self.saved
        return s * (g - arrays.sum(g * s, axis=self.axes, keepdims=True))


class LogSoftmax(Function):
    """z = x - log Σ e^x  ->  δx = δz - e^z Σ δz  (e^z is the softmax)"""

    __slots__ = constants = ("axes",)
    name = "log_softmax"
    saves = (OUTPUT,)

    def forward(self, a, axis=-1):
        xp = array_module(a)
        self.axes = reduced_axes(self.name, a.shape, axis)
        z = a - _shift(xp, a, self.axes)
        z -= xp.log(arrays.sum(xp.exp(z), axis=self.axes, keepdims=True))
        return z

    def backward(self, g):
        (z,) = self.saved
        return g - exp(z) * arrays.sum(g, axis=self.axes, keepdims=True)


class Embedding(Function):
    """z = W[i] (rows picked by an index array)  ->  δW[r] = Σ δz over the positions where i = r"""

    __slots__ = constants = ("indices", "num_rows")
    name = "embedding"

    def forward(self, w, indices):
        self.indices, self.num_rows = indices, w.shape[0]
        if indices.ndim == 1:
            return array_module(w).take(w, indices, axis=0)
        # The standard's take wants 1-D indices: flatten them, then shape the rows back.
        rows = array_module(w).take(w, arrays.reshape(indices, (-1,)), axis=0)
        return arrays.reshape(rows, indices.shape + (w.shape[1],))

    def backward(self, g):
        dim = g.shape[-1]
        return rows_scatter_add(arrays.reshape(g, (-1, dim)), arrays.reshape(self.indices, (-1,)),
                                self.num_rows)


def rows_scatter_add(g, rows, num_rows: int):
    """A (num_rows, d) zero array with row ``g[k]`` added into row ``rows[k]`` (repeats sum):
    on arrays the scatter-add shim of their library (NumPy's sorted segment sum, CuPy's
    ``scatter_add``, the standard fallback; see ``backend/shims.py``); on a Tensor (a
    recorded backward pass) the engine's differentiable scatter-add op.
    """
    if builds_graph(g):
        return scatter_add(g, (num_rows, g.shape[1]), rows)
    return shims.rows_scatter_add(g, rows, num_rows)
