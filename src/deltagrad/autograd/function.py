"""``Function``: one op, one node of the graph, with its forward and backward side by side.

A subclass computes its value in ``forward`` from raw arrays, and in ``backward`` turns
the upstream gradient ``g`` (δ of the output) into one gradient per input: the chain
rule's "upstream times local derivative". The engine (``engine.py``) does everything
else: the walk in reverse topological order, summing at forks, and reducing each
gradient back to its input's shape after broadcasting.

What a backward rule may read, and how each kind is declared on the class:

``saves = (0, 1, OUTPUT)``
    the op's inputs (by position) and its output, which ``backward`` finds in that order in
    ``self.saved``: arrays in a plain backward pass, the graph's own Tensors while a
    higher-order graph is recorded.
``constants = ("mask",)``
    attributes ``forward`` sets that have no derivative of their own: masks, indices,
    shapes, counts, which element won a max.
``derived = ("cdf",)``
    attributes ``forward`` computes from the inputs for speed (Φ(x) in GELU). For higher
    order the op either defines ``rebuild(*inputs)``, returning the same values made from
    Tensors, or names ``decompose``: an equivalent composition of simpler ops used instead
    of it. An op that does neither can not be differentiated twice, and says so.

Attributes live in ``__slots__`` too, most simply ``__slots__ = constants = ("mask",)``; a
slot that is neither a constant nor derived is refused when the class is defined.

One backward, two speeds. ``backward`` is written only with operators that arrays of every
array-API library and Tensors share (``*``, ``@``, ``g[..., None]``) and the functions of
``arrays.py`` (``arrays.sum``, ``arrays.reshape``, ``exp``, ...), which call NumPy's methods
on NumPy arrays and Tensors and the standard's functions on other libraries' arrays. A plain
``t.backward()`` runs it on raw arrays: no graph, no overhead. ``dg.grad`` runs the same code on Tensors (the saved
values and rebuilt derived values, see ``recording.py``), which records the backward pass
itself as a graph, so that it can be differentiated again.
"""

from __future__ import annotations

# Re-exported: ops import these helpers with Function.
from .arrays import builds_graph, exp, log, tanh  # noqa: F401


class _Output:
    """The marker for "the op's output" in ``Function.saves``."""

    def __repr__(self) -> str:
        return "OUTPUT"


OUTPUT = _Output()


class OpError(ValueError):
    """An op refused its inputs; the message already names the op and the values."""


class Function:
    """Base class of every op: one node of the computational graph.

    Subclasses define ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, g) -> gradient or tuple of gradients`` (``None`` for an input that
    needs none), and declare what ``backward`` reads (``saves``, ``constants``,
    ``derived``; see the module docstring). Build a node with
    ``Tensor.apply(MyOp, x, y, **params)``.

    >>> import numpy as np, deltagrad as dg
    >>> class Cube(dg.Function):
    ...     '''z = a³  ->  δa = δz * 3a²'''
    ...     name = "cube"
    ...     saves = (0,)  # backward reads input 0
    ...     def forward(self, a):
    ...         return a ** 3
    ...     def backward(self, g):
    ...         (a,) = self.saved
    ...         return g * 3 * a ** 2
    >>> x = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> dg.Tensor.apply(Cube, x).sum().backward()
    >>> x.grad
    array([ 3., 12.])
    """

    # inputs: the input Tensors that need a gradient (None for the others); saved: what
    # ``saves`` names, as arrays; sequence: creation number; graph_view: the saved and
    # derived values as Tensors, kept while higher-order graphs are recorded; made_in: the
    # Module whose call returned this node's value (set by ``Module.__call__``, for names);
    # given: the values of the inputs that need no gradient (None in the places of those
    # that do), set only where there are some, so that dg.explain and pictures can show them.
    __slots__ = ("inputs", "saved", "sequence", "graph_view", "made_in", "given")
    name = "op"
    # Wording for a ValueError raised by forward on incompatible shapes, e.g.
    # "add: shapes (2, 3) and (4, 5) can not be broadcast together".
    shape_error: str | None = None
    saves: tuple = ()
    constants: tuple = ()
    derived: tuple = ()
    rebuild = None  # or a method: (self, *inputs as Tensors) -> tuple, one per ``derived``
    decompose = None  # or a function of Tensors computing the same as the op

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = set(cls.constants) | set(cls.derived)
        undeclared = [s for s in cls.__dict__.get("__slots__", ()) if s not in declared]
        if undeclared:
            raise TypeError(
                f"{cls.__name__}: attribute(s) {undeclared} in __slots__ are neither "
                f"constants (no derivative: masks, indices, shapes) nor derived (computed "
                f"from the inputs; rebuilt for higher order); list each in one of them")

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
