"""``deltagrad.nn.functional`` (``F``): activations, dropout, one-hot, linear, embedding,
layer and batch normalisation and the losses, as plain functions of Tensors (the layers in
``layers.py`` call these).

>>> import deltagrad as dg
>>> from deltagrad.nn import functional as F
>>> F.softmax(dg.tensor([[0.0, 0.0]])).numpy()
array([[0.5, 0.5]], dtype=float32)
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _config
from ..autograd import arrays
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module, dtype_in, is_array, kind, mixed_devices, shims
from . import ops
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                     huber_loss, l1_loss, mse_loss, nll_loss)
from .normalization import batch_norm, layer_norm

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "log_softmax", "dropout",
    "one_hot", "linear", "embedding", "layer_norm", "batch_norm", "mse_loss", "l1_loss",
    "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss",
]

GELU_APPROXIMATIONS = ("none", "tanh")


# --- activations ----------------------------------------------------------------------


def relu(x) -> Tensor:
    """max(x, 0), elementwise.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.relu(dg.tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return as_tensor(x).relu()


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else ``negative_slope * x``.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.leaky_relu(dg.tensor([-1.0, 2.0]), 0.1).numpy()
    array([-0.1,  2. ], dtype=float32)
    """
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    x = as_tensor(x)
    return x.apply(ops.LeakyReLU, x, negative_slope=float(negative_slope))


def sigmoid(x) -> Tensor:
    """1 / (1 + e^-x), elementwise (stable for large |x|).

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.sigmoid(dg.tensor([0.0])).numpy()
    array([0.5], dtype=float32)
    """
    return as_tensor(x).sigmoid()


def tanh(x) -> Tensor:
    """The hyperbolic tangent, elementwise.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.tanh(dg.tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return as_tensor(x).tanh()


def gelu(x, approximate: str = "none") -> Tensor:
    """GELU: x Φ(x) with Φ the standard normal CDF (``approximate="none"``, computed with an
    erf accurate to float64 rounding), or PyTorch's tanh approximation
    0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) with ``approximate="tanh"``.

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> round(float(F.gelu(dg.tensor([1.0])).item()), 6)  # 1 * Φ(1)
    0.841345
    """
    if approximate not in GELU_APPROXIMATIONS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = as_tensor(x)
    return x.apply(ops.GELU if approximate == "none" else ops.GELUTanh, x)


def softmax(x, axis: int = -1) -> Tensor:
    """e^x / Σ e^x along ``axis`` (shifted by the max, so no e^x overflows).

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.softmax(dg.tensor([1e4, 1e4])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    x = as_tensor(x)
    return x.apply(ops.Softmax, x, axis=axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    """x - log Σ e^x along ``axis``, one fused op (exact even where the softmax underflows).

    >>> import deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.log_softmax(dg.tensor([0.0, -1e4])).numpy()
    array([     0., -10000.], dtype=float32)
    """
    x = as_tensor(x)
    return x.apply(ops.LogSoftmax, x, axis=axis)


# --- dropout, one-hot, linear, embedding -------------------------------------------------


def check_dropout_p(p, where: str = "dropout") -> float:
    """``p`` as a float, or a ValueError unless it is a probability in [0, 1)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ValueError(f"{where}: p must be a probability in [0, 1), got {p!r}")
    return float(p)


def dropout(x, p: float = 0.5, training: bool = True,
            rng: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (inverted
    dropout: the expected value is unchanged, so evaluation needs no rescaling). The
    identity when ``training`` is False or ``p`` is 0. ``rng``: a ``numpy.random.Generator``
    (its draws are copied to the tensor's device), else the global generator of the
    device's library (``dg.manual_seed`` seeds them all).

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> y = F.dropout(dg.tensor(np.ones(4)), p=0.5, rng=np.random.default_rng(0))
    >>> sorted(set(y.numpy().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """
    p = check_dropout_p(p)
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    dtype = x.dtype if kind(x.dtype) == "f" else \
        dtype_in(array_module(x.data), _config.get_default_dtype())
    keep = shims.random(x.data, x.shape, dtype, rng) >= p
    mask = arrays.astype(keep, dtype)
    mask *= 1 / (1 - p)
    return x * mask


def one_hot(indices, num_classes: int = -1) -> Tensor:
    """Integer class indices of any shape -> a Tensor of shape ``indices.shape + (C,)`` in the
    default float dtype, 1 at each index. ``num_classes=-1`` takes C = max index + 1.

    >>> import numpy as np
    >>> from deltagrad.nn import functional as F
    >>> F.one_hot(np.array([2, 0]), 3).numpy()
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    idx = integer_indices("one_hot", indices)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or \
            not (num_classes > 0 or num_classes == -1):
        raise ValueError(f"one_hot: num_classes must be a positive integer (or -1 to infer "
                         f"it), got {num_classes!r}")
    if num_classes == -1:
        num_classes = int(arrays.max(idx)) + 1 if idx.size else 0
    check_index_range("one_hot", idx, int(num_classes), "num_classes")
    xp = array_module(idx)
    classes = arrays.arange(idx, int(num_classes))
    hot = arrays.reshape(idx, idx.shape + (1,)) == classes  # on the indices' device
    return Tensor(arrays.astype(hot, dtype_in(xp, _config.get_default_dtype())))


def integer_indices(fname: str, indices):
    """``indices`` as an integer array (NumPy unless already another library's), or a
    TypeError naming ``fname`` and the dtype."""
    idx = indices.data if isinstance(indices, Tensor) else indices
    idx = np.asarray(idx) if not is_array(idx) or isinstance(idx, np.generic) else idx
    if kind(idx.dtype) not in "iu":
        raise TypeError(f"{fname}: indices must be integers, got dtype {idx.dtype} (shape "
                        f"{idx.shape}); convert them with .astype(np.int64)")
    return idx


def check_index_range(fname: str, idx, size: int, what: str) -> None:
    """A ValueError unless every index lies in [0, size)."""
    if idx.size == 0:
        return
    lo, hi = int(arrays.min(idx)), int(arrays.max(idx))
    if lo < 0 or hi >= size:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{fname}: index {bad} is out of range for {what} = {size} "
                         f"(valid: 0 to {size - 1})")


def linear(x, weight, bias=None) -> Tensor:
    """x @ weight.T + bias as one op (weight of shape (out, in), as PyTorch); x may have any
    number of leading axes.

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.linear(dg.tensor([[1.0, 2.0]]), dg.tensor([[1.0, 1.0]]), dg.tensor([0.5])).numpy()
    array([[3.5]], dtype=float32)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if bias is None:
        return x.apply(ops.Linear, x, weight, None)
    bias = as_tensor(bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match weight of shape "
                         f"{weight.shape}; it needs shape ({weight.shape[0]},)")
    return x.apply(ops.Linear, x, weight, bias)


def embedding(indices, weight) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` of any shape:
    the result has shape ``indices.shape + (dim,)``.

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad.nn import functional as F
    >>> F.embedding(np.array([1, 1]), dg.tensor([[0.0, 0.0], [1.0, 2.0]])).numpy()
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    idx = integer_indices("embedding", indices)
    mixed = mixed_devices((weight.data, idx))
    if mixed is not None:
        raise ValueError(f"embedding: weight on {mixed[0]} but indices on {mixed[1]}; move "
                         f"the indices to the weight's device first")
    check_index_range("embedding", idx, weight.shape[0], "num_embeddings")
    return weight.apply(ops.Embedding, weight, indices=idx)
