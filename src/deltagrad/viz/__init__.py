"""Seeing backpropagation: ``explain`` writes the backward pass out step by step, ``draw``
pictures the graph behind a tensor (with each node's δ after the backward pass), ``trace``
records ops, ``Module`` calls and δ's as code runs, ``capture`` walks a graph into plain data.

Only NumPy is needed to import this package, and only the δ trace is loaded with it; the
rest loads on first use. ``draw`` imports the ``graphviz`` package when it runs, and writing
SVG/PNG files needs Graphviz's ``dot`` program.
"""

import importlib

from .delta_trace import Explanation, explain

_LAZY = {"draw": "picture", "GraphvizNotFoundError": "picture", "Graph": "graph",
         "GraphNode": "graph", "ModuleCall": "graph", "Tape": "graph", "capture": "graph",
         "trace": "graph"}

__all__ = ["Explanation", "Graph", "GraphNode", "GraphvizNotFoundError", "ModuleCall", "Tape",
           "capture", "draw", "explain", "trace"]


def __getattr__(name: str):
    # Pictures and graph capture load on first use: they are not needed to train, and
    # defining their classes would add tens of milliseconds to every `import deltagrad`.
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # found directly next time
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
