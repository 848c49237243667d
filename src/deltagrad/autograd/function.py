"""The graph's nodes (``Function``) and the switches that decide whether a graph is recorded.

A ``Function`` subclass is one op. Its ``forward`` computes the value from raw arrays
and saves what the derivative needs; its ``backward`` receives the upstream gradient
``g`` (δ of the output) and returns one gradient per input: the chain rule's
"upstream times local derivative". The engine (``engine.py``) does everything else:
the walk in reverse topological order, summing at forks, and reducing each gradient
back to its input's shape after broadcasting.

One backward, two speeds. ``backward`` is written only with operators and methods
that NumPy arrays and Tensors share (``*``, ``@``, ``.sum(axis, keepdims)``,
``.reshape``, ...) plus the few helpers below that dispatch on the type. A plain
``t.backward()`` runs it on raw arrays: no graph, no overhead. ``dg.grad`` runs the
same code on Tensors, which records the backward pass itself as a graph, so it can
be differentiated again (Hessians, higher-order derivatives).

For that to be right, everything a backward rule reads that depends differentiably on
the inputs must reach it through ``self.save(...)`` and be an input or the output of
the op; anything else the forward stores (a mask, a count) is treated as a constant.
A fused op that keeps an intermediate for speed instead names an equivalent
composition of simpler ops as ``decompose``, which is used whenever higher-order
gradients are being recorded.
"""

from __future__ import annotations

import itertools
import threading

from ..backend import array_module


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
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record a graph even inside ``no_grad``."""

    _enable = True


class OpError(ValueError):
    """An op refused its inputs; the message already names the op and the values."""


class Function:
    """Base class of every op: one node of the computational graph.

    Subclasses define ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, g) -> gradient or tuple of gradients`` (``None`` for an input that
    needs none), side by side. Build a node with ``Tensor.apply(MyOp, x, y, **params)``.
    """

    __slots__ = ("inputs", "saved", "saved_tensors", "sequence")
    name = "op"
    # Wording for a ValueError raised by forward on incompatible shapes, e.g.
    # "add: shapes (2, 3) and (4, 5) can not be broadcast together".
    shape_error: str | None = None
    # An equivalent composition of simpler ops (a function of Tensors), for fused ops
    # whose backward reuses an intermediate: used while higher-order graphs are recorded.
    decompose = None

    def save(self, *values) -> None:
        """Keep what ``backward`` needs (the op's inputs or output, or constants)."""
        self.saved = values

    def needs_grad(self, i: int) -> bool:
        """Whether input ``i`` wants a gradient (lets a rule skip work nobody uses)."""
        return self.inputs[i] is not None

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, g):
        raise NotImplementedError

    def describe_error(self, arrays, error: ValueError) -> str:
        shapes = [tuple(getattr(a, "shape", ())) for a in arrays]
        if self.shape_error and len(shapes) == 2:
            return f"{self.name}: shapes {shapes[0]} and {shapes[1]} {self.shape_error}"
        listed = " and ".join(str(s) for s in shapes)
        return f"{self.name}: {error} (input shapes {listed})"


# --- helpers that let one backward rule serve arrays (fast) and Tensors (graph) -----


def builds_graph(x) -> bool:
    """True for a Tensor (the backward pass is being recorded), False for a raw array."""
    return hasattr(x, "_node")


def exp(x):
    return x.exp() if builds_graph(x) else array_module(x).exp(x)


def log(x):
    return x.log() if builds_graph(x) else array_module(x).log(x)
