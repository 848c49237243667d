"""Walking a recorded graph in the order a reader expects."""

from __future__ import annotations

from ..autograd.engine import FREED

FREED_MESSAGE = ("the graph behind this tensor was already freed by backward() (each backward "
                 "releases the graph it walked)")


def forward_order(root) -> list:
    """The op nodes behind ``root``, each after its inputs, inputs taken left to right.

    For ordinary code this is the order in which the forward pass made them, so names
    numbered along it (``mul1``, ``mul2``) read as the code does. Iterative: any depth.
    """
    order, done, on_path = [], set(), {root}
    if root.inputs is FREED:
        raise ValueError(FREED_MESSAGE)
    stack = [(root, iter(root.inputs))]
    while stack:
        node, inputs = stack[-1]
        for t in inputs:
            child = None if t is None else t._node
            if child is not None and child not in done and child not in on_path:
                if child.inputs is FREED:
                    raise ValueError(FREED_MESSAGE)
                on_path.add(child)
                stack.append((child, iter(child.inputs)))
                break
        else:
            stack.pop()
            on_path.discard(node)
            done.add(node)
            order.append(node)
    return order
