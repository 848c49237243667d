"""Names for what a picture or a trace shows: the user's names first, then made-up ones.

A student writes ``δout_h1``, not ``δ<tensor at 0x7f...>``. The user may pass ``names``: a
mapping from names to Tensors, Modules or arrays (``names=locals()`` works: other values,
and names starting with ``_``, are skipped), or one Module. A named intermediate tensor names
the op that made it; a Module names its parameters with their dotted names (``fc.weight``),
prefixed by its key in the mapping; an array (or a tensor that needs no gradient) names the
constant input it is, where an op was given that very array.
Parameters of a model whose call made the graph are called by their ``state_dict`` names
(``layers.0.weight``) unless named otherwise (``Module.__call__`` notes the Module in the
node of the value it returns, ``made_in``). Everything else is named after its op and its
place in the forward order (``sigmoid2``), or ``param1``, ``leaf1`` for unnamed leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import is_array
from ..nn.module import Module, Parameter


def rule_of(node) -> str:
    """The op's local derivative rule: the first paragraph of its class docstring."""
    doc = type(node).__doc__ or ""
    first = doc.strip().split("\n\n")[0]  # the first paragraph, on one line
    text = " ".join(line.strip() for line in first.splitlines() if line.strip())
    return text or f"{node.name}: (no rule written in its docstring)"


class Namer:
    """Hands out one name per op node and per leaf tensor, stable for one picture or trace."""

    def __init__(self, names=None, where: str = "names"):
        self.by_node: dict = {}
        self.by_leaf: dict[int, str] = {}
        self.by_array: dict[int, str] = {}  # id(t.data) of named tensors that need no grad
        self.modules: dict[str, Module] = {}
        self._keep: list = []  # the named tensors, so that their ids stay theirs
        self._counts: dict[str, int] = {}
        for name, value in _items(names, where):
            self.add(name, value)

    def add(self, name: str, value) -> None:
        if isinstance(value, Module):
            if name:
                self.modules[name] = value
            prefix = f"{name}." if name else ""
            for pname, p in value.named_parameters():
                self.by_leaf.setdefault(id(p), prefix + pname)
                self._keep.append(p)
        elif isinstance(value, Tensor):
            self._keep.append(value)
            if value._node is not None:
                self.by_node.setdefault(value._node, name)
            else:
                self.by_leaf.setdefault(id(value), name)
                if not value.requires_grad:  # it reaches ops as a constant array
                    self.by_array.setdefault(id(value.data), name)
        elif is_array(value) and not isinstance(value, np.generic):
            self._keep.append(value)
            self.by_array.setdefault(id(value), name)

    def add_models(self, models: list[Module]) -> None:
        """Name each model's parameters by their ``state_dict`` names where the user did
        not; with several models, each name starts with the model's class (``Linear2.``)."""
        classes = Counter(type(m).__name__ for m in models)
        seen: Counter = Counter()
        for model in models:
            cls = type(model).__name__
            seen[cls] += 1
            prefix = "" if len(models) == 1 else \
                f"{cls}." if classes[cls] == 1 else f"{cls}{seen[cls]}."
            for pname, p in model.named_parameters():
                self.by_leaf.setdefault(id(p), prefix + pname)
                self._keep.append(p)

    def node(self, node) -> str:
        """The name of an op node's output (made up on first request, in the order asked)."""
        name = self.by_node.get(node)
        if name is None:
            name = self.by_node[node] = self.fresh(node.name)
        return name

    def leaf(self, t: Tensor) -> str:
        name = self.by_leaf.get(id(t))
        if name is None:
            name = self.fresh("param" if isinstance(t, Parameter) else "leaf")
            self.by_leaf[id(t)] = name
            self._keep.append(t)
        return name

    def keep(self, value) -> None:
        """Hold ``value`` for as long as this namer lives (its id names it)."""
        self._keep.append(value)

    def fresh(self, stem: str) -> str:
        used = set(self.by_node.values()) | set(self.by_leaf.values())
        while True:
            k = self._counts[stem] = self._counts.get(stem, 0) + 1
            if f"{stem}{k}" not in used:
                return f"{stem}{k}"


def constant_inputs(node) -> list[tuple]:
    """(input Tensor or None, the value given where it is None) for each input of ``node``:
    a constant's value where the graph kept it, ``...`` where it did not, None for an input
    that was not given (an absent bias)."""
    given = getattr(node, "given", None)
    if given is None:
        return [(x, ...) for x in node.inputs]
    return list(zip(node.inputs, given))


def models_behind(nodes) -> list[Module]:
    """The outermost Modules whose calls returned these nodes' values, in the order met: a
    Module that is part of another one met is left out (its parameters are named there)."""
    made_in = [getattr(node, "made_in", None) for node in nodes]
    found = list(dict.fromkeys(m for m in made_in if m is not None))
    inner = {id(sub) for m in found for _, sub in m.named_modules() if sub is not m}
    return [m for m in found if id(m) not in inner]


def _items(names, where: str):
    if names is None:
        return []
    if isinstance(names, Module):
        return [("", names)]
    if not isinstance(names, Mapping):
        raise TypeError(f"{where} must be a mapping from names to Tensors or Modules (for "
                        f"example locals()) or a Module, got {type(names).__name__}")
    items = []
    for name, value in names.items():
        if isinstance(value, (Tensor, Module)) or (is_array(value)
                                                   and not isinstance(value, np.generic)):
            if isinstance(name, str) and name.startswith("_"):
                continue  # IPython's _, _3, ... and private helpers in locals()
            if not isinstance(name, str):
                raise TypeError(f"{where}: keys must be strings, got {name!r}")
            items.append((name, value))
    return items
