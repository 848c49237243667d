"""Gradient checking: the analytic Jacobian from backward against central differences."""

from __future__ import annotations

import numpy as np

from .. import _config
from ..backend import array_module, dtype_in, kind, to_host
from .arrays import astype, copy
from .functional import _jacobian_blocks
from .recording import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(f, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """Compare the full Jacobian of ``f`` w.r.t. each input that requires grad with central
    differences ``(f(x + eps) - f(x - eps)) / 2 eps``, everything in float64, on the inputs'
    own device (the Jacobians are compared on the host).

    ``f`` takes the inputs as positional arguments and returns a Tensor of any shape.
    Returns True, or raises ``GradcheckError`` naming the input, element and both values.

    >>> import deltagrad as dg
    >>> x = dg.tensor(np.random.rand(3, 2), requires_grad=True)
    >>> dg.gradcheck(lambda x: (x * x).tanh(), [x])
    True
    """
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    as64 = [_float64_copy(x) for x in inputs]
    checked = [i for i, x in enumerate(as64) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; create the inputs to check "
                         "with requires_grad=True")
    previous = _config.get_default_dtype()
    _config.set_default_dtype(np.float64)  # constants made inside f are float64 too
    try:
        with enable_grad():
            out = f(*as64)
            if not isinstance(out, Tensor):
                raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
            analytic = _jacobian_blocks(out, [as64[i] for i in checked])
        for i, block in zip(checked, analytic):
            numeric = _numeric_jacobian(f, as64, i, out.shape, eps)
            _compare(i, block, numeric, out.shape, as64[i].shape, atol, rtol)
    finally:
        _config.set_default_dtype(previous)
    return True


def _float64_copy(x):
    if not isinstance(x, Tensor):
        return x
    if kind(x.data.dtype) != "f":
        return Tensor(copy(x.data))
    float64 = dtype_in(array_module(x.data), np.float64)
    return Tensor(astype(x.data, float64), requires_grad=x.requires_grad)


def _numeric_jacobian(f, inputs, i, out_shape, eps) -> np.ndarray:
    x = inputs[i].data
    numeric = np.zeros(out_shape + x.shape)
    with no_grad():
        for position in np.ndindex(x.shape):
            original = x[position]
            x[position] = original + eps
            # Copies: f may return a view of x, which the next perturbation changes.
            plus = np.array(to_host(f(*inputs).data), dtype=np.float64)
            x[position] = original - eps
            minus = np.array(to_host(f(*inputs).data), dtype=np.float64)
            x[position] = original
            numeric[(...,) + position] = (plus - minus) / (2 * eps)
    return numeric


def _compare(i, analytic, numeric, out_shape, in_shape, atol, rtol) -> None:
    bad = ~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric))
    if not bad.any():
        return
    first = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
    out_pos, in_pos = first[:len(out_shape)], first[len(out_shape):]
    raise GradcheckError(
        f"gradcheck: input {i}, element {tuple(int(p) for p in in_pos)} "
        f"(d output{list(int(p) for p in out_pos)}): analytic {analytic[first]:.8g} but "
        f"numeric {numeric[first]:.8g} ({int(bad.sum())} of {bad.size} entries differ)")
