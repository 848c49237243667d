"""Recording the graph: whether to record, what each node keeps, and what higher order needs.

``apply`` is the one door every op goes through. It runs the op's ``forward`` on the
inputs' arrays and, when an input requires grad and grad mode is on, records a node: the
inputs that need a gradient, a creation number (the backward pass visits nodes in reverse
creation order) and the values the op declared in ``saves`` (see ``function.py``).

Higher order. While ``dg.grad`` records a function whose gradient will be differentiated
again (inside ``recording_higher_order``), each node also keeps a *graph view*: what its
backward reads, as Tensors. Saved inputs are the Tensors that were passed, the saved output
is the result Tensor, and derived values are rebuilt from the input Tensors by the op's
``rebuild``. The engine runs the backward rule on that view (``backward_on_tensors``), so
the rule's own arithmetic is recorded and can be differentiated in turn. An op whose
backward reads a derived value it can not rebuild raises ``HigherOrderError`` naming
itself, rather than silently treating that value as a constant; a fused op that names a
``decompose`` is replaced by that composition instead.
"""

from __future__ import annotations

import functools
import itertools
import threading

import numpy as np

from ..backend import NUMPY1_PROMOTION, keep_dtype_of_arrays, mixed_devices
from .function import OUTPUT, Function, OpError


class _GradMode(threading.local):
    """Per-thread switches; each thread (e.g. each web request) has its own."""

    def __init__(self):
        self.enabled = True  # record a graph at all?
        self.higher_order = 0  # >0 while dg.grad records a graph that will be differentiated again
        # Observers for tools that watch the engine work (anomaly detection, δ traces,
        # graph pictures): forward_hook(node, input_arrays, output) after each recorded op,
        # backward_hook(node, upstream_grad, input_grads) after each backward rule.
        self.forward_hook = None
        self.backward_hook = None


grad_mode = _GradMode()
# Numbers recorded nodes in creation order; the backward pass visits them in reverse.
node_counter = itertools.count()


class no_grad:
    """Context manager and decorator: no graph is recorded inside.

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, 2.0], requires_grad=True)
    >>> with dg.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _enable = False

    def __enter__(self):
        self._previous = grad_mode.enabled
        grad_mode.enabled = self._enable

    def __exit__(self, *exc):
        grad_mode.enabled = self._previous

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record a graph even inside ``no_grad``."""

    _enable = True


class recording_higher_order:
    """While active, recorded nodes keep their graph view (``dg.grad`` given Tensors)."""

    def __enter__(self):
        grad_mode.higher_order += 1

    def __exit__(self, *exc):
        grad_mode.higher_order -= 1


class HigherOrderError(OpError):
    """An op was recorded for higher-order gradients but can not be differentiated twice."""


def apply(op: type[Function], *inputs, **params):
    """Run ``op`` forward on the inputs' arrays and, if any input requires grad (and grad
    mode is on), record a node so that ``backward`` can reach those inputs.

    At least one input is a Tensor; the others (Python numbers, arrays) are constants of
    the op. The result is a Tensor, made by the ``_make`` of a Tensor input (this module
    recognises Tensors by their graph link, ``_node``, and never imports the class).
    """
    mode = grad_mode
    if mode.higher_order and op.decompose is not None:
        return op.decompose(*inputs, **params)
    fn = op.__new__(op)
    arrays, record, tensor, library = [], False, None, None
    for x in inputs:  # one pass: the arrays the op computes on, and whether to record
        if hasattr(x, "_node"):
            data = x.data
            arrays.append(data)
            record = record or x.requires_grad
            if tensor is None:
                library = type(data)
            elif type(data) is not library:  # rare: maybe two libraries, checked below
                _check_one_device(op, arrays)
            tensor = x
        else:
            arrays.append(x)
    if tensor is None:
        raise TypeError(f"{op.name}: apply needs at least one Tensor among its inputs")
    try:
        out = fn.forward(*arrays, **params)
    except OpError:
        raise
    except (TypeError, ValueError, RuntimeError) as error:
        _check_one_device(op, arrays)  # a library refusing another device's array
        if not isinstance(error, ValueError):
            raise
        raise OpError(fn.describe_error(arrays, error)) from None  # NumPy's words, made ours
    if isinstance(out, np.generic) or (NUMPY1_PROMOTION and type(out) is np.ndarray
                                       and out.ndim == 0):
        out = np.asarray(out)  # NumPy hands back 0-d results as scalars
        if NUMPY1_PROMOTION:
            out = keep_dtype_of_arrays(out, arrays)
    if not (record and mode.enabled):
        return tensor._make(out, None)
    # Plain loops here: before Python 3.12 a comprehension costs a function call per op.
    _link_inputs(fn, inputs, arrays)
    fn.sequence = next(node_counter)
    saved = []  # what backward reads (``saves``): inputs by position, OUTPUT for the result
    for i in op.saves:
        saved.append(out if i is OUTPUT else arrays[i])
    fn.saved = tuple(saved)
    result = tensor._make(out, fn)
    fn.graph_view = _graph_view(fn, inputs, result) if mode.higher_order else None
    if mode.forward_hook is not None:
        mode.forward_hook(fn, arrays, out)
    return result


def _link_inputs(fn: Function, inputs: tuple, arrays: list) -> None:
    """``fn.inputs``: the inputs backward hands a gradient to (None for the others), and
    ``fn.given``: what the others were (a reference, no copy), for whoever explains the
    graph (only where there are others)."""
    needing = []
    constant = False
    for x in inputs:
        if getattr(x, "requires_grad", False):
            needing.append(x)
        else:
            needing.append(None)
            constant = True
    fn.inputs = tuple(needing)
    if constant:
        fn.given = tuple([None if x is not None else a for x, a in zip(needing, arrays)])


def _check_one_device(op, arrays) -> None:
    """An ``OpError`` naming both devices when the op's arrays live on two."""
    mixed = mixed_devices(arrays)
    if mixed is not None:
        raise OpError(f"{op.name}: inputs on different devices, {mixed[0]} and {mixed[1]}; "
                      f"move them to one device first (tensor.to(device), model.to(device))")


def _graph_view(fn: Function, inputs: tuple, result) -> tuple | None:
    """(saved values, derived values) as Tensors: what ``fn.backward`` reads while the
    backward pass is itself recorded. None when it reads neither."""
    op = type(fn)
    undeclared = [k for k in getattr(fn, "__dict__", ()) if k not in op.constants
                  and k not in op.derived]
    if undeclared:
        raise HigherOrderError(
            f"{fn.name}: {op.__name__} keeps {undeclared} without declaring them; list "
            f"each in constants (no derivative: masks, indices, shapes) or in derived "
            f"(computed from the inputs, with a rebuild() for higher-order gradients)")
    if not (op.saves or op.derived):
        return None
    saved = tuple([result if i is OUTPUT else inputs[i] for i in op.saves])
    if not op.derived:
        return saved, ()
    if op.rebuild is None:
        raise HigherOrderError(
            f"{fn.name}: higher-order gradients (dg.grad of dg.grad, dg.hessian) can not go "
            f"through this op: its backward reads {list(op.derived)}, which its forward "
            f"computes from the inputs, and {op.__name__} gives neither rebuild() (the same "
            f"values made from Tensors) nor decompose (an equivalent composition of ops)")
    return saved, tuple(fn.rebuild(*inputs))


def backward_on_tensors(node: Function, g):
    """Run ``node``'s backward rule on its graph view, so that the rule is recorded."""
    view = node.graph_view
    op = type(node)
    if view is None:
        if op.saves or op.derived:
            raise ValueError(
                f"{node.name}: this graph was recorded without higher-order support; "
                "build it inside the function given to dg.grad / dg.jacobian / dg.hessian")
        return node.backward(g)
    saved, derived = view
    raw_saved, raw_derived = node.saved, [getattr(node, name, None) for name in op.derived]
    node.saved = saved
    for name, value in zip(op.derived, derived):
        setattr(node, name, value)
    try:
        return node.backward(g)
    finally:  # the array forms stay for a plain backward() through the same node
        node.saved = raw_saved
        for name, value in zip(op.derived, raw_derived):
            setattr(node, name, value)
