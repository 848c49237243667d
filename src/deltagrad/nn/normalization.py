"""Normalisation: ``F.layer_norm`` and ``F.batch_norm``, and the layers ``LayerNorm`` and
``BatchNorm1d``, with PyTorch's semantics and ``state_dict`` names.

Both normalise with one fused op (``ops.Normalize``: x̂ = (x - μ) / √(var + eps), then
x̂ γ + β), whose backward is written by hand. Batch norm in training mode normalises with
the batch's statistics and folds them into running estimates (``running_mean``,
``running_var``: buffers, saved with the model, never trained); in eval mode it uses those
estimates, so a prediction does not depend on the rest of its batch.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _config
from .._checks import check_float, check_int
from ..autograd import arrays
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from . import init, ops
from .module import Module, Parameter


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise ``x`` over its last ``len(normalized_shape)`` axes (mean 0, variance 1 per
    sample, biased variance), then scale by ``weight`` and shift by ``bias`` (both of shape
    ``normalized_shape``, optional), as PyTorch's ``layer_norm``.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.layer_norm(dg.tensor([[1.0, 3.0]]), (2,)).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """
    x = as_tensor(x)
    shape = _shape_tuple(normalized_shape, "layer_norm")
    k = len(shape)
    if x.shape[x.ndim - k:] != shape or x.ndim < k:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in "
                         f"normalized_shape {shape}")
    weight, bias = _affine("layer_norm", weight, bias, shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    return x.apply(ops.Normalize, x, weight, bias, axes=axes, param_axes=axes,
                   eps=_check_eps(eps, "layer_norm"))


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) of ``x`` of shape (N, C, ...) over every other axis,
    then scale by ``weight`` and shift by ``bias`` (shape (C,), optional), as PyTorch's
    ``batch_norm``.

    With ``training`` the batch's own mean and biased variance are used, and the running
    estimates (arrays of shape (C,), or None) are updated in place:
    ``running = (1 - momentum) running + momentum batch``, with the *unbiased* batch variance
    (n / (n - 1) times the biased one). Without it the running estimates are used.

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> mean, var = np.zeros(1, np.float32), np.ones(1, np.float32)
    >>> F.batch_norm(dg.tensor([[1.0], [3.0]]), mean, var, training=True).numpy().round(3)
    array([[-1.],
           [ 1.]], dtype=float32)
    >>> mean, var
    (array([0.2], dtype=float32), array([1.1], dtype=float32))
    """
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got {x.shape}")
    channels = x.shape[1]
    weight, bias = _affine("batch_norm", weight, bias, (channels,))
    eps = _check_eps(eps, "batch_norm")
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: with training=False the running mean and variance "
                             "are used, and they are None")
        return _with_statistics(x, running_mean, running_var, weight, bias, eps)
    count = x.size // channels
    if count <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    stats: list = []
    y = x.apply(ops.Normalize, x, weight, bias, axes=axes, param_axes=(1,), eps=eps,
                stats=stats)
    mean, var = (arrays.reshape(s, (channels,)) for s in stats[0])
    for running, batch in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
        if running is not None:
            running *= 1 - momentum
            running += momentum * arrays.astype(batch, running.dtype, copy=False)
    return y


def _with_statistics(x: Tensor, mean, var, weight, bias, eps: float) -> Tensor:
    """x̂ γ + β with given (running) statistics: one scale and one shift per channel."""
    xp = array_module(var)
    rstd = 1 / xp.sqrt(var + eps)
    if weight is not None:
        scale = weight * arrays.astype(rstd, weight.dtype, copy=False)
    else:
        scale = arrays.astype(rstd, x.dtype, copy=False)
    shift = scale * -arrays.astype(mean, x.dtype, copy=False)  # a Tensor on the left
    if bias is not None:
        shift = bias + shift
    view = (x.shape[1],) + (1,) * (x.ndim - 2)
    if x.ndim > 2:
        scale, shift = arrays.reshape(scale, view), arrays.reshape(shift, view)
    return x * scale + shift


def _shape_tuple(shape, where: str) -> tuple:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not shape:
        raise TypeError(f"{where}: normalized_shape must be an int or a non-empty tuple of "
                        f"ints, got {shape!r}")
    return tuple(check_int(n, "each size in normalized_shape", where) for n in shape)


def _check_eps(eps, where: str) -> float:
    return check_float(eps, "eps", where)


def _affine(where: str, weight, bias, shape: tuple) -> tuple:
    """The scale and shift as Tensors (None stays None), checked to have ``shape``."""
    checked = []
    for name, value in (("weight", weight), ("bias", bias)):
        if value is not None:
            value = as_tensor(value)
            if value.shape != shape:
                raise ValueError(f"{where}: {name} has shape {value.shape}, expected {shape}")
        checked.append(value)
    return tuple(checked)


class LayerNorm(Module):
    """Normalises each sample over its last axes (``normalized_shape``), then applies a
    learnt elementwise scale ``weight`` (ones) and shift ``bias`` (zeros) of that shape,
    as PyTorch's ``LayerNorm``: y = (x - mean) / √(var + eps) · weight + bias, with the
    mean and the biased variance over those axes. The same in training and eval mode.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> norm = nn.LayerNorm(4)
    >>> y = norm(np.arange(8, dtype=np.float32).reshape(2, 4))
    >>> y.numpy().mean(axis=1).round(6), [k for k in norm.state_dict()]
    (array([0., 0.], dtype=float32), ['weight', 'bias'])
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True):
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape, "LayerNorm")
        self.eps = _check_eps(eps, "LayerNorm")
        self.elementwise_affine = _check_bool(elementwise_affine, "elementwise_affine",
                                              "LayerNorm")
        dtype = _config.get_default_dtype()
        if self.elementwise_affine:
            self.weight = Parameter(np.empty(self.normalized_shape, dtype))
            self.bias = Parameter(np.empty(self.normalized_shape, dtype))
        else:
            self.weight = self.bias = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x) -> Tensor:
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class BatchNorm1d(Module):
    """Normalises each feature (channel) over the batch, for inputs of shape (N, C) or
    (N, C, L), then applies a learnt scale ``weight`` (ones) and shift ``bias`` (zeros) per
    channel, as PyTorch's ``BatchNorm1d``.

    Training mode uses the batch's mean and biased variance and updates the buffers
    ``running_mean`` (zeros) and ``running_var`` (ones) with the unbiased variance:
    ``running = (1 - momentum) running + momentum batch``; ``momentum=None`` gives the
    cumulative average (1 / ``num_batches_tracked``, a count also kept as a buffer). Eval mode
    uses the running estimates. With ``track_running_stats=False`` there are no running
    estimates and the batch's statistics are used in both modes.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> bn = nn.BatchNorm1d(3)
    >>> _ = bn(np.random.default_rng(0).normal(2.0, 1.0, (64, 3)).astype(np.float32))
    >>> list(bn.state_dict()), int(bn.num_batches_tracked)
    (['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'], 1)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.num_features = check_int(num_features, "num_features", "BatchNorm1d")
        self.eps = _check_eps(eps, "BatchNorm1d")
        if momentum is not None:
            momentum = check_float(momentum, "momentum", "BatchNorm1d", allow_minimum=True)
            if momentum > 1:
                raise ValueError(f"BatchNorm1d: momentum must lie in [0, 1] or be None, got "
                                 f"{momentum!r}")
        self.momentum = momentum
        self.affine = _check_bool(affine, "affine", "BatchNorm1d")
        self.track_running_stats = _check_bool(track_running_stats, "track_running_stats",
                                               "BatchNorm1d")
        dtype = _config.get_default_dtype()
        shape = (self.num_features,)
        if self.affine:
            self.weight = Parameter(np.empty(shape, dtype))
            self.bias = Parameter(np.empty(shape, dtype))
        else:
            self.weight = self.bias = None
        tracked = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(shape, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(shape, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked",
                             np.zeros((), np.int64) if tracked else None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        if x.ndim not in (2, 3) or x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d: expected an input of shape (N, {self.num_features}) "
                             f"or (N, {self.num_features}, L), got {x.shape}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # the cumulative average of every batch so far
                momentum = 1.0 / float(self.num_batches_tracked)
        # Training updates the running estimates and eval mode reads them, where they are
        # kept; without them, the batch's own statistics serve in both modes.
        use_batch = self.training or not self.track_running_stats
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=use_batch, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


def _check_bool(value, name: str, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)

