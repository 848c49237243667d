"""Loss functions: fused, numerically stable kernels, each one op with its backward beside it.

Every loss first computes the per-element (or per-sample) loss as one op, then applies
``reduction``: ``"mean"`` (the default), ``"sum"`` or ``"none"``. Cross-entropies work from
logits through a log-sum-exp with the max subtracted, so logits of magnitude 1e4 give
finite values and gradients; ``binary_cross_entropy`` on probabilities clamps its logs at
-100 as PyTorch does, so a confident mistake costs 100, never ``inf``.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad.nn import functional as F
>>> logits = dg.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
>>> loss = F.cross_entropy(logits, np.array([0]))
>>> round(loss.item(), 4)
0.1698
"""

from __future__ import annotations

import numpy as np

from ..autograd import arrays
from ..autograd.arrays import log
from ..autograd.function import Function
from ..autograd.functions import stack
from ..autograd.tensor import Tensor
from ..backend import array_module, is_array, kind, to_host
from ..backend.shims import errstate, out_module
from ._loss_checks import (_batched, _check_reduction, _class_indices, _float_input,
                           _float_target, _reduce)
from .ops import LogSoftmax, _shift

# --- elementwise regression losses ----------------------------------------------------


class SquaredError(Function):
    """z = (a - t)²  ->  δa = 2 (a - t) δz,  δt = -δa"""

    __slots__ = ()
    name = "mse_loss"
    saves = (0, 1)

    def forward(self, a, t):
        d = a - t
        d *= d
        return d

    def backward(self, g):
        a, t = self.saved
        ga = 2 * (a - t) * g
        return ga, (-ga if self.needs_grad(1) else None)


class AbsoluteError(Function):
    """z = |a - t|  ->  δa = sign(a - t) δz,  δt = -δa  (0 where a = t, as PyTorch)"""

    __slots__ = constants = ("sign",)  # piecewise constant: no derivative of its own
    name = "l1_loss"

    def forward(self, a, t):
        d = a - t
        self.sign = array_module(a).sign(d)
        return out_module(d).abs(d, out=d)

    def backward(self, g):
        ga = g * self.sign
        return ga, (-ga if self.needs_grad(1) else None)


class Huber(Function):
    """z = d²/2 where |d| <= δ, else δ (|d| - δ/2), d = a - t  ->  δa = clip(d, -δ, δ) δz"""

    __slots__ = constants = ("delta",)
    name = "huber_loss"
    saves = (0, 1)

    def forward(self, a, t, delta=1.0):
        xp = array_module(a)
        self.delta = delta
        d = a - t
        ad = xp.abs(d)
        return xp.where(ad <= delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    def backward(self, g):
        a, t = self.saved
        ga = arrays.clip(a - t, -self.delta, self.delta) * g
        return ga, (-ga if self.needs_grad(1) else None)


# --- binary cross-entropy ---------------------------------------------------------------


def _bce_logits_composed(x, t):
    """softplus(x) - x t, with softplus(x) = log(e⁰ + eˣ) as a log-sum-exp: exact and stable."""
    softplus = stack([array_module(x.data).zeros_like(x.data), x]).logsumexp(axis=0)
    return softplus - x * t


class BCEWithLogits(Function):
    """z = log(1 + eˣ) - x t = max(x, 0) - x t + log(1 + e^-|x|)  ->  δx = (σ(x) - t) δz,
    δt = -x δz"""

    __slots__ = ()
    name = "binary_cross_entropy_with_logits"
    saves = (0, 1)
    decompose = staticmethod(_bce_logits_composed)  # backward computes σ(x) on arrays only

    def forward(self, x, t):
        xp = array_module(x)
        # e^-|x| never overflows and log1p keeps its precision when it is tiny.
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        x, t = self.saved
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))
        r = 1 / (1 + e)
        sigmoid = xp.where(x >= 0, r, e * r)  # the stable sigmoid: no e^x is ever formed
        return (sigmoid - t) * g, (-x * g if self.needs_grad(1) else None)


_LOG_FLOOR = -100.0  # PyTorch's clamp of log(p) in binary_cross_entropy
_BCE_EPS = 1e-12  # PyTorch's floor of p (1 - p) in its backward


def _bce_composed(p, t):
    return -(t * log(p).clip(_LOG_FLOOR) + (1 - t) * log(1 - p).clip(_LOG_FLOOR))


class BinaryCrossEntropy(Function):
    """z = -(t log p + (1 - t) log(1 - p)), logs clamped at -100  ->
    δp = (p - t) / max(p (1 - p), 1e-12) δz,  δt = (log(1 - p) - log p) δz"""

    __slots__ = derived = ("log_p", "log_1mp")  # the clamped logs, kept for δt
    name = "binary_cross_entropy"
    saves = (0, 1)
    decompose = staticmethod(_bce_composed)

    def forward(self, p, t):
        xp = array_module(p)
        with errstate(p, divide="ignore"):  # log(0) = -inf is clamped just below
            self.log_p = xp.maximum(xp.log(p), _LOG_FLOOR)
            self.log_1mp = xp.maximum(xp.log1p(-p), _LOG_FLOOR)
        return -(t * self.log_p + (1 - t) * self.log_1mp)

    def backward(self, g):
        p, t = self.saved
        xp = array_module(p)
        gp = (p - t) / xp.maximum(p * (1 - p), _BCE_EPS) * g
        gt = (self.log_1mp - self.log_p) * g if self.needs_grad(1) else None
        return gp, gt


# --- categorical cross-entropy (class axis 1, as PyTorch) ------------------------------


def _with_class_axis(g):
    """(N, d...) -> (N, 1, d...): a per-sample value broadcast along the class axis."""
    return arrays.reshape(g, g.shape[:1] + (1,) + g.shape[1:])


def _at_target(z, target):
    """z[n, target[n], d...]: each sample's entry at its target class (a new array)."""
    xp = array_module(z)
    if z.ndim == 2:  # plain fancy indexing: several µs cheaper than take_along_axis
        return z[arrays.arange(target, z.shape[0]), target]
    return xp.take_along_axis(z, _with_class_axis(target), axis=1)[:, 0, ...]


def _subtract_at_target(gx, target, values) -> None:
    """gx[n, target[n], d...] -= values[n, d...], in place (one class per sample: no repeats)."""
    xp = array_module(gx)
    if xp is not np:  # the standard assigns at boolean masks, not at integer indices
        gx -= _one_hot_along_classes(target, gx.shape[1], gx.dtype) * _with_class_axis(values)
    elif gx.ndim == 2:
        gx[np.arange(gx.shape[0]), target] -= values
    else:
        t = _with_class_axis(target)
        np.put_along_axis(gx, t, np.take_along_axis(gx, t, axis=1) - _with_class_axis(values),
                          axis=1)


def _one_hot_along_classes(target, num_classes: int, dtype, on=1.0, off=0.0):
    """(N, d...) class indices -> (N, C, d...) with ``on`` at each target class, else ``off``."""
    classes = arrays.arange(target, num_classes)
    hit = _with_class_axis(target) == arrays.reshape(classes, (num_classes,) + (1,) *
                                                      (target.ndim - 1))
    out = arrays.astype(hit, dtype)
    if on != 1.0 or off != 0.0:
        out *= on - off
        out += off
    return out


def _target_distribution(target, num_classes, dtype, index, smoothing):
    """q, the distribution the loss pulls the softmax towards (label smoothing mixed in)."""
    if index:
        return _one_hot_along_classes(target, num_classes, dtype,
                                      on=1 - smoothing + smoothing / num_classes,
                                      off=smoothing / num_classes)
    return target if not smoothing else target * (1 - smoothing) + smoothing / num_classes


def _cross_entropy_composed(x, target, index=True, label_smoothing=0.0):
    q = _target_distribution(target, x.shape[1], x.dtype, index, label_smoothing)
    return -(q * x.apply(LogSoftmax, x, axis=1)).sum(axis=1)


class CrossEntropy(Function):
    """ℓ = -Σ_c q_c log softmax(x)_c (q: the target distribution)  ->
    δx = (softmax(x) - q) δℓ,  δq = -log softmax(x) δℓ

    With z = x - max(x) and S = Σ_c e^z_c, log softmax(x)_c = z_c - log S. For class-index
    targets ℓ = log S - z[target], so the (N, C) log-probabilities are never formed, and the
    e^z kept for the backward pass give softmax = e^z / S without a second exp.
    """

    constants = ("target", "index", "smoothing")
    derived = ("exp", "exp_sum", "log_probs")  # e^z, S and log softmax(x), for the backward
    __slots__ = constants + derived
    name = "cross_entropy"
    decompose = staticmethod(_cross_entropy_composed)

    def forward(self, x, target, index=True, label_smoothing=0.0):
        xp = array_module(x)
        self.target, self.index, self.smoothing = target, index, label_smoothing
        eps = label_smoothing
        z = x - _shift(xp, x, (1,))  # shifted by the max: e^z can not overflow
        if index:
            loss = -_at_target(z, target)
            if eps:  # q's uniform part ε / C adds -ε mean_c z_c
                loss = (1 - eps) * loss - eps * arrays.mean(z, axis=1)
            # Σ_c q_c = 1, so the -log S in every log-probability adds once; z is not
            # needed again, so e^z overwrites it.
            loss += self._keep_exp(xp, out_module(z).exp(z, out=z))[:, 0, ...]
            return loss
        q = target if not eps else target * (1 - eps) + eps / z.shape[1]
        z -= self._keep_exp(xp, xp.exp(z))
        self.log_probs = z  # δq needs them
        return -arrays.sum(q * z, axis=1)

    def _keep_exp(self, xp, e):
        """Keep e^z and S = Σ_c e^z_c for the backward pass; return log S."""
        self.exp, self.exp_sum = e, arrays.sum(e, axis=1, keepdims=True)
        return xp.log(self.exp_sum)

    def backward(self, g):
        e, eps, num_classes = self.exp, self.smoothing, self.exp.shape[1]
        gk = _with_class_axis(g)
        gx = gt = None
        if self.needs_grad(0):
            gx = e * (gk / self.exp_sum)  # softmax(x) δℓ in one pass over (N, C)
            if self.index:  # subtract q δℓ: (1 - ε) at the target class, ε / C everywhere
                _subtract_at_target(gx, self.target, (1 - eps) * g)
                if eps:
                    gx -= (eps / num_classes) * gk
            else:
                gx -= _target_distribution(self.target, num_classes, e.dtype, False, eps) * gk
        if not self.index and self.needs_grad(1):
            gt = -(1 - eps) * self.log_probs * gk
        return gx, gt


class NLLLoss(Function):
    """ℓ = -z[target] (z: log-probabilities)  ->  δz = -δℓ at the target class, 0 elsewhere"""

    __slots__ = constants = ("target", "num_classes")
    name = "nll_loss"

    def forward(self, z, target):
        self.target, self.num_classes = target, z.shape[1]
        return -_at_target(z, target)

    def backward(self, g):
        mask = _one_hot_along_classes(self.target, self.num_classes, g.dtype, on=-1.0)
        return _with_class_axis(g) * mask


# --- the public functions -----------------------------------------------------------------


def _elementwise_loss(fname: str, op: type[Function], input, target, reduction: str,
                      what: str = "input", **params) -> Tensor:
    """What every elementwise loss does: check the arguments, apply ``op`` to (input,
    target), reduce."""
    _check_reduction(fname, reduction)
    x = _float_input(fname, input, what)
    return _reduce(x.apply(op, x, _float_target(fname, target, x, what), **params), reduction)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: reduce((input - target)²).

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.mse_loss(dg.tensor([1.0, 3.0]), dg.tensor([0.0, 1.0])).item()
    2.5
    """
    return _elementwise_loss("mse_loss", SquaredError, input, target, reduction)


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: reduce(|input - target|).

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.l1_loss(dg.tensor([1.0, 3.0]), dg.tensor([0.0, 1.0])).item()
    1.5
    """
    return _elementwise_loss("l1_loss", AbsoluteError, input, target, reduction)


def huber_loss(input, target, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss: quadratic for |input - target| <= delta, linear (slope delta) beyond.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.huber_loss(dg.tensor([0.5, 3.0]), dg.tensor([0.0, 0.0])).item()  # (0.125 + 2.5) / 2
    1.3125
    """
    _check_reduction("huber_loss", reduction)
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
        raise ValueError(f"huber_loss: delta must be a positive number, got {delta!r}")
    return _elementwise_loss("huber_loss", Huber, input, target, reduction, delta=float(delta))


def binary_cross_entropy(probs, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities in [0, 1]: -(t log p + (1 - t) log(1 - p)).

    The logs are clamped at -100 (as PyTorch), so p = 0 with t = 1 costs 100, not inf.
    Prefer ``binary_cross_entropy_with_logits``: it is exact where this one clamps.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> round(F.binary_cross_entropy(dg.tensor([0.8]), dg.tensor([1.0])).item(), 4)
    0.2231
    """
    _check_reduction("binary_cross_entropy", reduction)
    p = _float_input("binary_cross_entropy", probs, "probs")
    xp = array_module(p.data)
    if p.size and not bool(xp.all((p.data >= 0) & (p.data <= 1))):
        probs_host = to_host(p.data)
        bad = probs_host[~((probs_host >= 0) & (probs_host <= 1))].ravel()[0]
        raise ValueError(f"binary_cross_entropy: probs must lie in [0, 1], found {bad} (in a "
                         f"tensor of shape {p.shape}); for raw scores use "
                         f"binary_cross_entropy_with_logits")
    return _elementwise_loss("binary_cross_entropy", BinaryCrossEntropy, p, target, reduction,
                             "probs")


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits), computed stably from the logits:
    max(x, 0) - x t + log(1 + e^-|x|). Its gradient is sigmoid(x) - t.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.binary_cross_entropy_with_logits(dg.tensor([1e4, -1e4]), dg.tensor([1.0, 0.0])).item()
    0.0
    """
    return _elementwise_loss("binary_cross_entropy_with_logits", BCEWithLogits, logits, target,
                             reduction, "logits")


def cross_entropy(logits, target, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from logits, one fused op: log-sum-exp forward,
    ``(softmax - target_distribution) * upstream`` backward.

    ``logits`` has shape (N, C) or (N, C, d1, ...) (class axis 1, as PyTorch) or (C,).
    ``target`` is integer class indices of shape (N,) / (N, d1, ...), or class
    probabilities of the logits' shape. ``label_smoothing`` ε mixes the target with the
    uniform distribution: q = (1 - ε) target + ε / C. ``"mean"`` averages over N·d1·...

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> logits = dg.tensor([[1e4, 0.0], [0.0, 1e4]], requires_grad=True)
    >>> F.cross_entropy(logits, np.array([0, 1])).item()
    0.0
    """
    fname = "cross_entropy"
    _check_reduction(fname, reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fname}: label_smoothing must be a number in [0, 1], "
                         f"got {label_smoothing!r}")
    if not isinstance(target, Tensor) and not is_array(target):
        target = np.asarray(target)
    x, target, unbatched = _batched(fname, _float_input(fname, logits, "logits"), target)
    if kind(target.dtype) == "f":  # class probabilities
        if tuple(target.shape) != x.shape:
            raise ValueError(f"{fname}: probability target of shape {tuple(target.shape)} "
                             f"does not match logits of shape {x.shape}; give class indices "
                             f"of shape {x.shape[:1] + x.shape[2:]} or probabilities of the "
                             f"logits' shape")
        t, index = _float_target(fname, target, x, "logits"), False
    else:
        t, index = _class_indices(fname, target, x), True
    loss = x.apply(CrossEntropy, x, t, index=index, label_smoothing=float(label_smoothing))
    if unbatched:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


def nll_loss(log_probs, target, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class targets, given log-probabilities
    (e.g. ``log_softmax(logits, axis=1)``): reduce(-log_probs[n, target[n]]).

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.nll_loss(dg.tensor([[-0.5, -1.0], [-2.0, -0.25]]), np.array([0, 1])).item()
    0.375
    """
    fname = "nll_loss"
    _check_reduction(fname, reduction)
    z, target, unbatched = _batched(fname, _float_input(fname, log_probs, "log_probs"), target)
    loss = z.apply(NLLLoss, z, _class_indices(fname, target, z))
    if unbatched:
        loss = loss.reshape(())
    return _reduce(loss, reduction)
