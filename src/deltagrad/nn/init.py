"""Weight initialisation, in place, with PyTorch's fan conventions and gains.

Each function overwrites the values of a Parameter / Tensor (or array) and returns it, on
the array's own device. ``rng`` is a ``numpy.random.Generator`` (its draws are copied to
the device, so a model initialised from one seed is the same on every device); without one
the global generator of the device's library is used (NumPy's, CuPy's), which
``dg.manual_seed(n)`` makes reproducible.

For a weight of shape (out, in, *kernel) the fans are ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)``: a Linear weight (out, in) has fan_in = in.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad.nn import init
>>> w = dg.tensor(np.empty((256, 128), np.float32))
>>> _ = init.kaiming_uniform_(w, nonlinearity="relu", rng=np.random.default_rng(0))
>>> bool(np.abs(w.numpy()).max() <= np.sqrt(6 / 128))
True
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _config
from ..autograd.arrays import astype
from ..autograd.tensor import Tensor
from ..backend import device_of, is_array, to_device
from ..backend import shims

__all__ = [
    "calculate_gain", "zeros_", "ones_", "constant_", "normal_", "uniform_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "lecun_normal_", "orthogonal_",
]

_LINEAR_LIKE = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain PyTorch recommends for a nonlinearity: 1 for linear and sigmoid, 5/3 for
    tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu (slope ``param``, default 0.01),
    3/4 for selu.

    >>> from deltagrad.nn import init
    >>> init.calculate_gain("tanh")
    1.6666666666666667
    """
    if nonlinearity in _LINEAR_LIKE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"calculate_gain: negative slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; use one of "
                     f"{list(_LINEAR_LIKE) + ['tanh', 'relu', 'leaky_relu', 'selu']}")


def _array(t):
    """The array to overwrite: a Tensor's data or the array itself."""
    data = t.data if isinstance(t, Tensor) else t
    if not is_array(data) or isinstance(data, np.generic):
        raise TypeError(f"init: expected a Parameter, Tensor or NumPy array (or an array of "
                        f"another array-API library), got {type(t).__name__}")
    return data


def _fill(t, values):
    """Overwrite ``t``'s values in place, cast to its dtype (and copied to its device)."""
    data = _array(t)
    if type(data) is not np.ndarray and not isinstance(values, numbers.Number):
        values = astype(to_device(values, device_of(data)), data.dtype, copy=False)
    data[...] = values
    return t


def _fans(t, fname: str) -> tuple[int, int]:
    shape = _array(t).shape
    if len(shape) < 2:
        raise ValueError(f"{fname}: fan in and fan out need a tensor of at least 2 dimensions, "
                         f"got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def zeros_(t):
    """Fill with 0."""
    return _fill(t, 0)


def ones_(t):
    """Fill with 1."""
    return _fill(t, 1)


def constant_(t, val: float):
    """Fill with ``val``."""
    return _fill(t, val)


def uniform_(t, a: float = 0.0, b: float = 1.0, rng: np.random.Generator | None = None):
    """Fill with draws from U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: need a <= b, got a={a}, b={b}")
    return _fill(t, shims.uniform(_array(t), a, b, rng))


def normal_(t, mean: float = 0.0, std: float = 1.0, rng: np.random.Generator | None = None):
    """Fill with draws from N(mean, std²)."""
    if not std >= 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(t, shims.normal(_array(t), mean, std, rng))


def xavier_uniform_(t, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot/Xavier uniform: U(-a, a), a = gain √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, rng)


def xavier_normal_(t, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot/Xavier normal: N(0, std²), std = gain √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(t, "xavier_normal_")
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def _kaiming_std(t, a, mode, nonlinearity, fname) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fname}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(t, fname)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     rng: np.random.Generator | None = None):
    """He/Kaiming uniform: U(-b, b), b = gain √(3 / fan), gain = ``calculate_gain
    (nonlinearity, a)`` (``a``: the leaky_relu slope). ``a=√5`` is PyTorch's Linear default,
    giving b = 1 / √fan_in."""
    if _array(t).size == 0:
        return t
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(t, -bound, bound, rng)


def kaiming_normal_(t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    rng: np.random.Generator | None = None):
    """He/Kaiming normal: N(0, std²), std = gain / √fan."""
    if _array(t).size == 0:
        return t
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity, "kaiming_normal_"), rng)


def lecun_normal_(t, rng: np.random.Generator | None = None):
    """LeCun normal: N(0, 1 / fan_in) (a plain normal, not the truncated one some
    libraries use); the initialisation SELU networks assume."""
    fan_in, _ = _fans(t, "lecun_normal_")
    return normal_(t, 0.0, 1.0 / math.sqrt(fan_in), rng)


def orthogonal_(t, gain: float = 1.0, rng: np.random.Generator | None = None):
    """A (semi-)orthogonal matrix (Saxe et al. 2013), times ``gain``: rows orthonormal when
    rows <= columns, columns orthonormal otherwise. Extra axes are flattened into columns."""
    data = _array(t)
    if data.ndim < 2:
        raise ValueError(f"orthogonal_: needs a tensor of at least 2 dimensions, got shape "
                         f"{data.shape}")
    if data.size == 0:
        return t
    rows = data.shape[0]
    cols = data.size // rows
    # Drawn and factored on the host (NumPy's QR), then copied to the device by _fill.
    flat = _config.resolve_rng(rng).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # makes the decomposition unique: uniform over orthogonal matrices
    if rows < cols:
        q = q.T
    return _fill(t, gain * q.reshape(data.shape))
