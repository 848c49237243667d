"""The backward pass: walk the graph from the output back to the leaves in reverse
topological order, hand each node the sum of the δ's of everything that used its
output, and let the node's rule turn that δ into δ's for its inputs (the chain rule).

Everything that is the same for all ops lives here, once: the walk, summing at forks,
reducing a gradient to its input's shape after broadcasting, accumulating into leaves,
and freeing the graph as it goes.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from .function import Function, grad_mode


class _Freed:
    """Marks a node whose backward already ran and whose saved values were released."""


FREED = _Freed()
_FREED_MESSAGE = ("backward through a graph that has already been freed: each backward() "
                  "releases the graph it walked. Recompute the forward pass before calling "
                  "backward() again.")


def sum_to_shape(g, shape: tuple):
    """Undo broadcasting: sum ``g`` over the axes that broadcasting added or stretched."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    g = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return g.reshape(shape)


def topological_order(root: Function) -> list[Function]:
    """Nodes reachable from ``root``, each before every node it depends on (iterative DFS;
    used where the whole graph must be known up front, e.g. to prune it for ``dg.grad``).

    Parents are tuples, so the order is deterministic; no recursion, so a graph 100,000
    ops deep is fine.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if node in visited:
            continue
        inputs = node.inputs
        if inputs is FREED:
            raise ValueError(_FREED_MESSAGE)
        visited.add(node)
        stack.append((node, True))
        for t in inputs:
            if t is not None and t._node is not None and t._node not in visited:
                stack.append((t._node, False))
    order.reverse()
    return order


def _prune(order: list[Function], target_leaves: set, target_nodes: set) -> set:
    """The nodes whose backward leads to a target; the others need not run."""
    leads = set()
    for node in reversed(order):  # inputs before the nodes that use them
        if node in target_nodes or any(
                t is not None and (t in target_leaves or t._node in leads) for t in node.inputs):
            leads.add(node)
    return leads


def _call_rule(node: Function, g):
    """Run a rule while recording the backward pass: it must see Tensors, not raw arrays."""
    if node.saved and node.saved_tensors is None:
        raise ValueError(
            f"{node.name}: this graph was recorded without higher-order support; "
            "build it inside the function given to dg.grad / dg.jacobian / dg.hessian")
    raw, node.saved = node.saved, node.saved_tensors
    try:
        return node.backward(g)
    finally:
        node.saved = raw


def backward(root, seed, *, targets=None, create_graph=False, free_graph=True):
    """Propagate ``seed`` (δ of ``root``) back through the graph.

    With ``targets=None`` the gradients are accumulated into ``.grad`` of every leaf
    that requires grad (``Tensor.backward``). Otherwise nothing is written anywhere:
    the gradients with respect to the given tensors are returned, in order, ``None``
    where a target does not influence ``root`` (``dg.grad``). ``create_graph`` runs the
    rules on Tensors so that the result can be differentiated again.
    """
    accumulate = targets is None
    target_leaves, target_nodes, found = set(), set(), {}
    for t in targets or ():
        (target_leaves if t._node is None else target_nodes).add(t if t._node is None else t._node)

    if root._node is None:  # backward from a leaf: its gradient is the seed itself
        if accumulate:
            _accumulate_leaf(root, seed, handed_out={id(seed)})  # the caller holds seed
        else:
            found[root] = seed
        return None if accumulate else [found.get(t if t._node is None else t._node)
                                        for t in targets]

    # Reverse creation order is a topological order (a node is always created after the
    # nodes of its inputs), so a heap keyed on the creation number hands out each node
    # after every node that uses it, without a separate walk over the graph first.
    root_node = root._node
    leads = None if accumulate else _prune(topological_order(root_node), target_leaves,
                                           target_nodes)
    pending = {root_node: seed}
    heap = [(-root_node.sequence, root_node)]
    hook = grad_mode.backward_hook
    handed_out = {id(seed)}  # arrays a leaf may not keep as its .grad without a copy
    while heap:
        node = heappop(heap)[1]
        g = pending.pop(node)
        if leads is not None:
            if node in target_nodes:
                found[node] = g
                continue
            if node not in leads:
                continue
        inputs = node.inputs
        if inputs is FREED:
            raise ValueError(_FREED_MESSAGE)
        grads = _call_rule(node, g) if create_graph else node.backward(g)
        if type(grads) is not tuple:
            grads = (grads,)
        if hook is not None:
            hook(node, g, grads)
        for t, gi in zip(inputs, grads):
            if t is None or gi is None:
                continue
            shape = t.data.shape
            if gi.shape != shape:
                gi = sum_to_shape(gi, shape)
            child = t._node
            if child is not None:
                previous = pending.get(child)
                if previous is None:
                    pending[child] = gi
                    heappush(heap, (-child.sequence, child))
                else:
                    pending[child] = previous + gi  # a fork: the δ's of both uses sum
            elif accumulate:
                _accumulate_leaf(t, gi, handed_out)
            elif t in target_leaves:
                previous = found.get(t)
                found[t] = gi if previous is None else previous + gi
        if free_graph:
            node.inputs, node.saved, node.saved_tensors = FREED, None, None
    if accumulate:
        return None
    return [found.get(t if t._node is None else t._node) for t in targets]


def _accumulate_leaf(t, g, handed_out: set) -> None:
    """Add ``g`` into ``t.grad``, never letting ``.grad`` alias an array held elsewhere."""
    if isinstance(g, np.generic):  # NumPy turns 0-d results into scalars
        g = np.asarray(g)
    if g.dtype != t.data.dtype:
        g = g.astype(t.data.dtype)  # a fresh array we own
    elif g.base is not None or id(g) in handed_out:
        g = g.copy()  # a view, or an array another leaf (or the caller) already holds
    if t.grad is None:
        t.grad = g
        handed_out.add(id(g))
    else:
        # Out of place: the old .grad may be shared with the caller; never write into it.
        total = t.grad + g
        t.grad = np.asarray(total) if isinstance(total, np.generic) else total  # 0-d
