"""The graph behind a tensor as plain data, ready to be drawn: ``capture`` and ``trace``.

Two ways to get it:

* ``capture(t)`` walks the graph that is still attached to ``t`` (before ``backward``). It
  sees every op and every leaf that requires grad; constants appear as anonymous inputs.
  With ``backward=True`` it then runs ``t.backward()`` itself and notes every node's δ.
* ``with trace() as tape:`` records while the code runs: every op as it is made (constants
  included, with their values), which ``Module`` call each op ran inside (so a picture can
  draw each call as one box), and during any ``backward()`` in the block, every δ.
  ``tape.graph(loss)`` then gives the graph, even after ``backward()`` freed the real one.

``dg.viz.draw`` (``picture.py``) pictures either; this module knows nothing of pictures.

Values are kept as snapshots: small arrays copied whole, large ones as a summary, so a later
optimiser step does not change the picture and a big graph is not kept alive.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace

import numpy as np

from ..autograd.engine import GraphFreedError, forward_order, sum_to_shape
from ..autograd.tensor import Tensor
from ..nn.module import Module, Parameter
from ._format import Snapshot, snapshot
from ._names import Namer, constant_inputs, models_behind, rule_of
from ..nn.observers import call_observers, observing

KEEP = 64  # arrays with at most this many elements are kept whole


@dataclass
class GraphNode:
    """One box of the picture: an op, a leaf (parameter or other), or a constant input.

    ``kind`` is "op", "param" (an ``nn.Parameter``), "leaf" (another tensor that requires
    grad), "input" (a tensor made before recording began) or "const" (an input that needs no
    gradient). ``inputs`` are the keys of the nodes an op reads, in argument order. ``calls``
    are the ``Module`` calls it ran inside, outermost first. ``delta`` is δ of the node's
    value after ``backward()`` (for a leaf: what this backward pass added to its ``.grad``).
    """

    key: int
    kind: str
    name: str
    op: str | None = None
    rule: str = ""
    shape: tuple | None = None
    dtype: str = ""
    value: Snapshot | None = None
    inputs: list[int] = field(default_factory=list)
    calls: tuple[int, ...] = ()
    delta: Snapshot | None = None
    ident: int | None = field(default=None, repr=False)  # id() of a leaf tensor


@dataclass
class ModuleCall:
    """One call of a ``Module``: ``path`` is its dotted name ("layers.0"; "" for the outermost),
    ``type`` its class name, ``parent`` the call it ran inside (None at the top)."""

    id: int
    path: str
    type: str
    parent: int | None
    params: frozenset = frozenset()  # ids of the module's parameters (folded into its box)

    @property
    def label(self) -> str:
        return f"{self.path}: {self.type}" if self.path else self.type


@dataclass
class Graph:
    """The graph behind one tensor: ``nodes`` in forward order, the ``root``'s key, and the
    ``Module`` calls the ops ran inside (empty unless recorded with ``trace``)."""

    nodes: dict[int, GraphNode]
    root: int
    calls: dict[int, ModuleCall] = field(default_factory=dict)
    has_deltas: bool = False

    def consumers(self) -> dict[int, list[int]]:
        """For each node key, the keys of the ops that read it (one entry per use)."""
        users: dict[int, list[int]] = {key: [] for key in self.nodes}
        for node in self.nodes.values():
            for key in node.inputs:
                users[key].append(node.key)
        return users

    def find(self, name: str) -> GraphNode:
        """The node called ``name``."""
        for node in self.nodes.values():
            if node.name == name:
                return node
        raise KeyError(f"no node named {name!r}; names: "
                       f"{', '.join(n.name for n in self.nodes.values())}")

    def __repr__(self) -> str:
        ops = sum(n.kind == "op" for n in self.nodes.values())
        return (f"<Graph: {ops} ops, {len(self.nodes) - ops} inputs, "
                f"{len(self.calls)} module calls{', with δ' if self.has_deltas else ''}>")


class _Builder:
    """Collects nodes and δ's; shared by ``capture`` (walking) and ``Tape`` (recording)."""

    def __init__(self, namer: Namer):
        self.namer = namer
        self.ops: dict = {}  # Function node -> GraphNode
        self.others: dict[int, GraphNode] = {}  # id(tensor or array) -> GraphNode
        self.leaf_sums: dict[int, np.ndarray] = {}
        self._keep: list = []  # what the ids above refer to, kept alive
        self._next = 0
        self.calls: dict[int, ModuleCall] = {}

    def _key(self) -> int:
        self._next += 1
        return self._next

    def tensor_input(self, t: Tensor) -> int:
        """The node for tensor input ``t``: its op, or a leaf made on first sight."""
        if t._node is not None and t._node in self.ops:
            return self.ops[t._node].key
        node = self.others.get(id(t))
        if node is None:
            if t._node is not None:
                kind = "input"  # made by an op before recording began
                name = self.namer.node(t._node)
            else:
                kind = "param" if isinstance(t, Parameter) else "leaf"
                name = self.namer.leaf(t)
            node = GraphNode(self._key(), kind, name, shape=t.shape, dtype=str(t.dtype),
                             value=snapshot(t.data, KEEP), ident=id(t))
            self.others[id(t)] = node
            self._keep.append(t)
        return node.key

    def const_input(self, value) -> int:
        """The node for an input that needs no gradient (unknown value when ``value`` is
        ``...``: a node recorded before its constants were kept)."""
        if isinstance(value, np.ndarray):
            node = self.others.get(id(value))
            if node is None:
                name = self.namer.by_array.get(id(value), "const")
                node = GraphNode(self._key(), "const", name, shape=value.shape,
                                 dtype=str(value.dtype), value=snapshot(value, KEEP))
                self.others[id(value)] = node
                self._keep.append(value)
            return node.key
        key = self._key()
        if value is ...:
            node = GraphNode(key, "const", "const")
        else:
            a = np.asarray(value)
            node = GraphNode(key, "const", "const", shape=a.shape, dtype=str(a.dtype),
                             value=snapshot(a, KEEP))
        self.others[-key] = node  # scalars are not shared: one node per use
        return key

    def op(self, fn, input_keys: list[int], output, calls: tuple[int, ...] = ()) -> None:
        a = np.asarray(output)
        self.ops[fn] = GraphNode(self._key(), "op", self.namer.node(fn), fn.name, rule_of(fn),
                                 a.shape, str(a.dtype), snapshot(a, KEEP), input_keys, calls)
        self._keep.append(fn)

    def on_backward(self, fn, g, grads) -> None:
        node = self.ops.get(fn)
        if node is None:
            return
        node.delta = snapshot(g, KEEP)
        if type(grads) is not tuple:
            grads = (grads,)
        for t, gi in zip(fn.inputs, grads):
            if t is None or gi is None or (t._node is not None and t._node in self.ops):
                continue  # an op's δ arrives as its own upstream gradient
            if id(t) not in self.others:
                continue
            gi = np.asarray(gi)
            if gi.shape != t.data.shape:
                gi = sum_to_shape(gi, t.data.shape)
            previous = self.leaf_sums.get(id(t))
            self.leaf_sums[id(t)] = gi if previous is None else previous + gi

    def graph(self, root_key: int, names=None) -> Graph:
        for ident, total in self.leaf_sums.items():
            self.others[ident].delta = snapshot(total, KEEP)
        by_key = {n.key: n for n in list(self.others.values()) + list(self.ops.values())}
        if names is not None:  # names given after recording: rename copies of the nodes
            given = Namer(names, "names")
            renamed = {self.ops[fn].key: name for fn, name in given.by_node.items()
                       if fn in self.ops}
            renamed.update({node.key: given.by_leaf[ident] for ident, node in self.others.items()
                            if ident in given.by_leaf})
            renamed.update({node.key: given.by_array[ident] for ident, node in self.others.items()
                            if ident in given.by_array and node.kind == "const"})
            by_key = {k: replace(n, name=renamed[k]) if k in renamed else n
                      for k, n in by_key.items()}
        wanted, stack = set(), [root_key]
        while stack:  # only what the root depends on
            key = stack.pop()
            if key not in wanted:
                wanted.add(key)
                stack.extend(by_key[key].inputs)
        nodes = {key: by_key[key] for key in sorted(wanted)}  # keys grow in forward order
        used_calls = {c for n in nodes.values() for c in n.calls}
        calls = {i: c for i, c in self.calls.items() if i in used_calls}
        has_deltas = any(n.delta is not None for n in nodes.values())
        return Graph(nodes, root_key, calls, has_deltas)


def _check_tensor(t, where: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: expected a deltagrad Tensor, got {type(t).__name__}")


def capture(t: Tensor, *, names=None, backward: bool = False, grad=None) -> Graph:
    """The graph behind ``t``, walked now (call it before ``t.backward()`` frees the graph).

    With ``backward=True`` it then runs ``t.backward(grad)`` and notes every node's δ (the
    leaves' ``.grad`` are filled in as usual). ``names`` maps names to Tensors, Modules or
    arrays (``names=locals()`` works). To see ``Module`` calls, record with ``trace``.

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, 2.0], requires_grad=True)
    >>> g = capture((w * w).sum(), names={"w": w}, backward=True)
    >>> g.find("w").delta
    array([2., 4.], dtype=float32)
    """
    _check_tensor(t, "capture")
    if not isinstance(backward, bool):
        raise TypeError(f"capture: backward must be True or False, got {backward!r}")
    builder = _Builder(Namer(names, "capture: names"))
    if t._node is None:
        root = builder.tensor_input(t)
    else:
        try:
            order = forward_order(t._node)
        except GraphFreedError as error:
            raise GraphFreedError(f"capture: {error}; capture before calling backward(), "
                                  f"pass backward=True, or record with dg.viz.trace()") from None
        builder.namer.add_models(models_behind(order))
        outputs = {t._node: t.data}
        for fn in order:
            for x in fn.inputs:
                if x is not None and x._node is not None:
                    outputs[x._node] = x.data
        for fn in order:
            keys = [builder.tensor_input(x) if x is not None else builder.const_input(value)
                    for x, value in constant_inputs(fn) if x is not None or value is not None]
            builder.op(fn, keys, outputs[fn])
        root = builder.ops[t._node].key
    if backward:
        if not t.requires_grad:
            raise ValueError("capture: backward=True on a tensor that does not require grad")
        with observing(backward=builder.on_backward):
            t.backward(grad)
        if t._node is None:  # a leaf: its δ is the seed
            builder.leaf_sums[id(t)] = np.ones_like(t.data) if grad is None else np.asarray(grad)
    return builder.graph(root)


class Tape:
    """What ``trace()`` recorded: every op, ``Module`` call and δ made inside the block.

    ``tape.graph(t)`` is the graph behind ``t`` (by default the last value recorded);
    ``dg.viz.draw(tape)`` pictures it.
    """

    def __init__(self, names=None):
        self._builder = _Builder(Namer(names, "trace: names"))
        self._stack: list[int] = []
        self._modules: list[Module] = []
        self._last = None
        self._calls = 0

    # --- observers ---------------------------------------------------------------------------

    def _forward(self, fn, arrays, output) -> None:
        b = self._builder
        keys = []
        for x, array in zip(fn.inputs, arrays):
            if x is not None:
                keys.append(b.tensor_input(x))
            elif array is not None:
                plain = isinstance(array, (np.ndarray, numbers.Number))
                keys.append(b.const_input(array if plain else np.asarray(array)))
        b.op(fn, keys, output, tuple(self._stack))
        self._last = fn

    def enter(self, module: Module) -> None:
        """Called by ``Module.__call__`` when a call starts."""
        self._calls += 1
        parent = self._stack[-1] if self._stack else None
        path = self._path_of(module, parent)
        b = self._builder
        params = {}
        for pname, p in module.named_parameters():
            params[id(p)] = p
            b.namer.by_leaf.setdefault(id(p), f"{path}.{pname}" if path else pname)
            b._keep.append(p)
        b.calls[self._calls] = ModuleCall(self._calls, path, type(module).__name__, parent,
                                          frozenset(params))
        self._stack.append(self._calls)
        self._modules.append(module)

    def exit(self, module: Module, output) -> None:
        """Called by ``Module.__call__`` when a call ends (normally or by an exception)."""
        self._stack.pop()
        self._modules.pop()

    def _path_of(self, module: Module, parent: int | None) -> str:
        if parent is not None:
            outer = self._modules[-1]
            prefix = self._builder.calls[parent].path
            for name, m in outer.named_modules():
                if m is module and name:
                    return f"{prefix}.{name}" if prefix else name
        for name, value in self._builder.namer.modules.items():
            if value is module:
                return name
        return ""  # the outermost call: parameters get PyTorch's names (layers.0.weight)

    # --- results -----------------------------------------------------------------------------

    def graph(self, t: Tensor | None = None, *, names=None) -> Graph:
        """The recorded graph behind ``t`` (default: the last op recorded). ``names`` (a
        mapping such as ``locals()``) names values made inside the block."""
        if t is None:
            if self._last is None:
                raise ValueError("trace: nothing was recorded (no op on a tensor that requires "
                                 "grad ran inside the block)")
            return self._builder.graph(self._builder.ops[self._last].key, names)
        _check_tensor(t, "Tape.graph")
        if t._node is not None and t._node in self._builder.ops:
            return self._builder.graph(self._builder.ops[t._node].key, names)
        raise ValueError("Tape.graph: this tensor was not made inside the trace() block")

    def __repr__(self) -> str:
        return f"<Tape: {len(self._builder.ops)} ops, {len(self._builder.calls)} module calls>"


class trace:
    """Record ops, ``Module`` calls and δ's made inside a ``with`` block (in this thread).

    >>> import deltagrad as dg
    >>> from deltagrad import nn
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.Tanh())
    >>> with trace() as tape:
    ...     loss = model(dg.tensor([[1.0, 2.0]])).sum()
    ...     loss.backward()
    >>> [c.label for c in tape.graph(loss).calls.values()]
    ['Sequential', '0: Linear', '1: Tanh']
    """

    def __init__(self, names=None):
        self.tape = Tape(names)
        self._context = None

    def __enter__(self) -> Tape:
        tape = self.tape
        if any(isinstance(o, Tape) for o in call_observers()):
            raise RuntimeError("deltagrad.viz: Module calls are already being recorded in this "
                               "thread; nested dg.viz.trace() blocks are not supported")
        self._context = observing(forward=tape._forward, backward=tape._builder.on_backward,
                                  calls=tape)
        self._context.__enter__()
        return tape

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)
