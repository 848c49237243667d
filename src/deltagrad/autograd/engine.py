"""The backward pass: walk the graph from the output back to the leaves in reverse
topological order, hand each node the sum of the δ's of everything that used its
output, and let the node's rule turn that δ into δ's for its inputs (the chain rule).

Everything that is the same for all ops lives here, once: the walk, summing at forks,
reducing a gradient to its input's shape after broadcasting, accumulating into leaves,
and freeing the graph as it goes. ``forward_order`` is the one walk over a whole graph
(``dg.grad`` prunes with it; pictures and ``dg.explain`` read the graph with it).
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from ..backend import NUMPY1_PROMOTION
from . import arrays
from .function import Function
from .recording import backward_on_tensors, grad_mode


class _Freed:
    """Marks a node whose backward already ran and whose saved values were released."""


FREED = _Freed()


class GraphFreedError(ValueError):
    """The graph behind a tensor was released by an earlier ``backward()``."""

    def __init__(self, message: str = (
            "the graph behind this tensor was already freed by backward() (each backward() "
            "releases the graph it walked); recompute the forward pass to get a new one")):
        super().__init__(message)


def sum_to_shape(g, shape: tuple):
    """Undo broadcasting: sum ``g`` over the axes that broadcasting added or stretched."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = arrays.sum(g, axis=tuple(range(lead)) + stretched, keepdims=True)
    return arrays.reshape(g, shape)


def forward_order(root: Function) -> list[Function]:
    """The nodes behind ``root``, each after the nodes of its inputs (inputs taken left to
    right), ``root`` last. For ordinary code this is the order in which the forward pass
    made them. Iterative, so any depth is fine; parents are tuples, so it is deterministic.
    Raises ``GraphFreedError`` if a backward pass already released part of the graph.
    """
    if root.inputs is FREED:
        raise GraphFreedError()
    order, done, on_path = [], set(), {root}
    stack = [(root, iter(root.inputs))]
    while stack:
        node, inputs = stack[-1]
        for t in inputs:
            child = None if t is None else t._node
            if child is not None and child not in done and child not in on_path:
                if child.inputs is FREED:
                    raise GraphFreedError()
                on_path.add(child)
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            on_path.discard(node)
            done.add(node)
            order.append(node)
    return order


def backward(root, seed, *, targets=None, create_graph=False, free_graph=True):
    """Propagate ``seed`` (δ of ``root``) back through the graph.

    With ``targets=None`` the gradients are accumulated into ``.grad`` of every leaf
    that requires grad (``Tensor.backward``). Otherwise nothing is written anywhere:
    the gradients with respect to the given tensors are returned, in order, ``None``
    where a target does not influence ``root`` (``dg.grad``). ``create_graph`` runs the
    rules on Tensors so that the result can be differentiated again.
    """
    if targets is None:
        handed_out = {id(seed)}  # arrays a leaf may not keep as its .grad without a copy

        def to_leaf(t, g):
            _accumulate_leaf(t, g, handed_out)

        if root._node is None:  # backward from a leaf: its gradient is the seed itself
            to_leaf(root, seed)
        else:
            _propagate(root._node, seed, to_leaf, None, create_graph, free_graph)
        return None
    return _gradients_of_targets(root, seed, targets, create_graph, free_graph)


def _gradients_of_targets(root, seed, targets, create_graph, free_graph) -> list:
    """``dg.grad``'s side of ``backward``: d(root)/d(target) for each target, or None."""
    keys = [t if t._node is None else t._node for t in targets]
    found = {}
    if root._node is None:
        found[root] = seed
        return [found.get(key) for key in keys]
    target_leaves = {t for t in targets if t._node is None}
    target_nodes = {t._node for t in targets if t._node is not None}
    leads = _prune(forward_order(root._node), target_leaves, target_nodes)

    def to_leaf(t, g):
        if t in target_leaves:
            previous = found.get(t)
            found[t] = g if previous is None else previous + g

    def stop_at(node, g) -> bool:
        """A target's δ is read off where it arrives; nodes leading nowhere are skipped."""
        if node in target_nodes:
            found[node] = g
            return True
        return node not in leads

    _propagate(root._node, seed, to_leaf, stop_at, create_graph, free_graph)
    return [found.get(key) for key in keys]


def _prune(order: list[Function], target_leaves: set, target_nodes: set) -> set:
    """The nodes whose backward leads to a target; the others need not run."""
    leads = set()
    for node in order:  # inputs before the nodes that use them
        if node in target_nodes or any(
                t is not None and (t in target_leaves or t._node in leads) for t in node.inputs):
            leads.add(node)
    return leads


def _propagate(root_node, seed, to_leaf, stop_at, create_graph, free_graph) -> None:
    """The walk itself: each node's rule runs once every δ for its output has arrived."""
    # Reverse creation order is a topological order (a node is always created after the
    # nodes of its inputs), so a heap keyed on the creation number hands out each node
    # after every node that uses it, without a separate walk over the graph first.
    pending = {root_node: seed}
    heap = [(-root_node.sequence, root_node)]
    hook = grad_mode.backward_hook
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        if stop_at is not None and stop_at(node, g):
            continue
        inputs = node.inputs
        if inputs is FREED:
            raise GraphFreedError()
        grads = backward_on_tensors(node, g) if create_graph else node.backward(g)
        if type(grads) is not tuple:
            grads = (grads,)
        if NUMPY1_PROMOTION and not create_graph:
            grads = _in_dtypes_of(inputs, grads)
        if hook is not None:
            hook(node, g, grads)
        for t, gi in zip(inputs, grads):
            if t is None or gi is None:
                continue
            shape = t.data.shape
            if gi.shape != shape:
                gi = sum_to_shape(gi, shape)
            child = t._node
            if child is None:
                to_leaf(t, gi)
                continue
            previous = pending.get(child)
            if previous is None:
                pending[child] = gi
                heappush(heap, (-child.sequence, child))
            else:
                pending[child] = previous + gi  # a fork: the δ's of both uses sum
        if free_graph:
            node.inputs, node.saved, node.graph_view, node.given = FREED, None, None, None


def _in_dtypes_of(inputs, grads) -> tuple:
    """Each input's gradient in the input's dtype: on NumPy 1.x a rule working on 0-d float32
    values and Python numbers computes in float64 (see backend.py)."""
    return tuple(g if g is None or t is None or g.dtype == t.data.dtype
                 else arrays.astype(g, t.data.dtype) for t, g in zip(inputs, grads))


def _accumulate_leaf(t, g, handed_out: set) -> None:
    """Add ``g`` into ``t.grad``, never letting ``.grad`` alias an array held elsewhere."""
    if isinstance(g, np.generic):  # NumPy turns 0-d results into scalars
        g = np.asarray(g)
    if g.dtype != t.data.dtype:
        g = arrays.astype(g, t.data.dtype)  # a fresh array we own
    elif getattr(g, "base", g) is not None or id(g) in handed_out:
        # A view, or an array another leaf (or the caller) already holds; a library whose
        # arrays do not say whether they are views (no .base) gets a copy to be safe.
        g = arrays.copy(g)
    if t._grad is None:
        t._grad = g
        handed_out.add(id(g))
    else:
        # Out of place: the old .grad may be shared with the caller; never write into it.
        total = t._grad + g
        t._grad = np.asarray(total) if isinstance(total, np.generic) else total  # 0-d
