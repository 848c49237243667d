"""Derivatives as functions: ``grad``, ``jacobian`` and ``hessian``.

``grad`` never touches any tensor's ``.grad``: it asks the engine for the gradients
with respect to chosen inputs and returns them. Given Tensors, it runs the backward
rules on Tensors (recording the backward pass as a graph), so its result can be
differentiated again; given arrays, it takes the fast array path. Arrays keep their
library and device; ``jacobian`` and ``hessian`` return NumPy arrays on the host.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from .. import _config
from ..backend import (array_module, as_array, dtype_in, host_dtype, is_array, kind, to_device,
                       to_host)
from . import engine
from .arrays import astype
from .ops.shape import Identity
from .recording import apply, enable_grad, recording_higher_order
from .tensor import Tensor


def _argnums_tuple(argnums, nargs: int) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -nargs <= i < nargs:
            raise ValueError(f"argnums {argnums!r} does not name a positional argument "
                             f"(the function was called with {nargs})")
    return tuple(i % nargs for i in nums)


def _as_float_leaf(x) -> Tensor:
    data = x.data if isinstance(x, Tensor) else x
    data = as_array(data) if is_array(data) else np.asarray(data)
    if kind(data.dtype) in "biu":
        data = astype(data, dtype_in(array_module(data), _config.get_default_dtype()))
    return Tensor._make(data, None).requires_grad_(True)


def _differentiable_input(x) -> Tensor:
    """A tensor to differentiate with respect to, still connected to ``x``'s own graph."""
    if isinstance(x, Tensor) and x.requires_grad:
        return apply(Identity, x)  # a fresh node: the gradient is read off there
    return _as_float_leaf(x)


def _zeros_like(t: Tensor, as_tensor: bool):
    zeros = array_module(t.data).zeros_like(t.data)
    return Tensor._make(zeros, None) if as_tensor else zeros


def grad(f, argnums=0):
    """A function computing the gradient of scalar-valued ``f`` with respect to argument(s).

    >>> import deltagrad as dg
    >>> df = dg.grad(lambda x: (x ** 3).sum())
    >>> df(np.array([1.0, 2.0]))
    array([ 3., 12.])
    >>> d2f = dg.grad(lambda x: dg.grad(lambda y: (y ** 3).sum())(x).sum())
    >>> d2f(np.array([1.0, 2.0]))
    array([ 6., 12.])
    """

    @functools.wraps(f)
    def gradient(*args, **kwargs):
        nums = _argnums_tuple(argnums, len(args))
        tensor_mode = any(isinstance(args[i], Tensor) for i in nums)
        args = list(args)
        higher_order = recording_higher_order() if tensor_mode else contextlib.nullcontext()
        with enable_grad(), higher_order:
            targets = [_differentiable_input(args[i]) for i in nums]
            for i, t in zip(nums, targets):
                args[i] = t
            out = f(*args, **kwargs)
            if not isinstance(out, Tensor) or out.data.size != 1:
                shape = getattr(out, "shape", type(out).__name__)
                raise ValueError(f"grad: f must return a scalar Tensor, got {shape}; "
                                 f"use dg.jacobian for non-scalar outputs")
            # A recorded backward still refers to the forward graph: keep it then.
            grads = _gradients(out, targets, create_graph=tensor_mode,
                               free_graph=not tensor_mode)
        results = tuple(_zeros_like(t, tensor_mode) if g is None else g
                        for t, g in zip(targets, grads))
        return results[0] if isinstance(argnums, int) else results

    return gradient


def _gradients(out: Tensor, targets, *, create_graph: bool, free_graph: bool, seed=None):
    """d(out)/d(target) for each target (None where out does not depend on it)."""
    if not out.requires_grad:
        return [None] * len(targets)
    if seed is None:
        seed = array_module(out.data).ones_like(out.data)
    if create_graph:
        seed = Tensor._make(seed, None)
    grads = engine.backward(out, seed, targets=targets, create_graph=create_graph,
                            free_graph=free_graph)
    if create_graph:
        return grads
    return [None if g is None else _cast_like(g, t) for g, t in zip(grads, targets)]


def _cast_like(g, t: Tensor):
    g = as_array(g)
    return astype(g, t.data.dtype) if g.dtype != t.data.dtype else g


def jacobian(f, argnums=0):
    """A function returning the Jacobian of ``f`` as a NumPy array of shape
    ``out.shape + in.shape`` (a tuple of them when ``argnums`` is a tuple, and a tuple
    per output when ``f`` returns a tuple).

    >>> import deltagrad as dg
    >>> dg.jacobian(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """

    @functools.wraps(f)
    def jac(*args, **kwargs):
        nums = _argnums_tuple(argnums, len(args))
        args = list(args)
        with enable_grad():
            targets = [_as_float_leaf(args[i]) for i in nums]
            for i, t in zip(nums, targets):
                args[i] = t
            out = f(*args, **kwargs)
            outputs = out if isinstance(out, tuple) else (out,)
            blocks = tuple(_jacobian_blocks(o, targets) for o in outputs)
        blocks = tuple(b[0] if isinstance(argnums, int) else b for b in blocks)
        return blocks if isinstance(out, tuple) else blocks[0]

    return jac


def _jacobian_blocks(out, targets) -> tuple:
    """One backward pass per output element, over the same (kept) graph; the blocks are
    NumPy arrays (each row copied from the device where the graph lives on one)."""
    out = out if isinstance(out, Tensor) else Tensor(out)
    dtype = np.result_type(host_dtype(out.dtype), *(host_dtype(t.dtype) for t in targets))
    blocks = [np.zeros(out.shape + t.shape, dtype=dtype) for t in targets]
    if not out.requires_grad:
        return tuple(blocks)
    for k in range(out.data.size):
        seed = np.zeros(out.data.size, dtype=dtype)
        seed[k] = 1
        seed = to_device(seed.reshape(out.shape), out.device)
        grads = _gradients(out, targets, create_graph=False, free_graph=False,
                           seed=astype(seed, out.dtype, copy=False))
        position = np.unravel_index(k, out.shape)
        for block, g in zip(blocks, grads):
            if g is not None:
                block[position] = to_host(g)
    return tuple(blocks)


def hessian(f, argnums=0):
    """A function returning the Hessian of scalar ``f``: shape ``in.shape + in.shape``
    (for a tuple ``argnums``, a tuple of tuples: block ``[i][j]`` is d²f / dxᵢ dxⱼ).

    >>> import deltagrad as dg
    >>> dg.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacobian(grad(f, argnums), argnums)
