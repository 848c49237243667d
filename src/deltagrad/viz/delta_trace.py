"""``explain(loss)``: the backward pass written out as a student would do it by hand.

It runs ``loss.backward()`` (so every leaf's ``.grad`` is filled in, exactly as usual) while
watching the engine, and writes down each node in the order the engine handles it, reverse
topological order: the op and its value, its local derivative rule (the first line of the op
class's docstring, so the words stay next to the code that does the maths), the δ arriving
from above, and the δ it hands to each input. Where a value feeds several ops, its δ is the
sum of what each branch sends back, and the sum is written out.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from ..autograd.engine import GraphFreedError, forward_order, sum_to_shape
from ..autograd.tensor import Tensor
from ..nn.module import Parameter
from ._format import Snapshot, format_value, hang, shape_of, snapshot, sum_of
from ._names import Namer, constant_inputs, models_behind, rule_of
from ..nn.observers import observing

_KEEP = 4096  # arrays up to this size are kept whole (for .delta()); larger ones summarised


@dataclass
class Part:
    """One branch's share of a δ: what the op ``via`` sent back (``via`` is None for the seed)."""

    via: str | None
    delta: Snapshot


@dataclass
class InputDelta:
    """The δ an op hands to one of its inputs (already reduced to the input's shape)."""

    name: str
    delta: Snapshot
    broadcast_from: tuple | None = None  # the δ's shape before summing over broadcast axes
    branches: int = 1  # how many ops use this input: its δ is the sum over them


@dataclass
class Step:
    """One node of the backward pass."""

    index: int
    name: str
    op: str
    rule: str
    expression: str
    value: Snapshot
    parts: list[Part]  # the δ's arriving from the ops that use this value
    delta: Snapshot  # their sum: δ of this node's output
    inputs: list[InputDelta] = field(default_factory=list)
    binding: str = ""  # which value each letter of the rule stands for, e.g. "z = f, a = x"
    constants: list[tuple[str, Snapshot]] = field(default_factory=list)  # arrays, by name


@dataclass
class LeafGradient:
    """What the pass added into a leaf's ``.grad``."""

    name: str
    parts: list[Part]
    delta: Snapshot
    is_parameter: bool
    had_grad: bool  # .grad held a value before: the pass added to it
    value: Snapshot | None = None  # the leaf's value when the pass ran


class Explanation:
    """The written-out backward pass: ``str()`` gives the text, ``steps`` and ``leaves`` the
    same in structured form, and ``delta(name)`` the δ of a named value."""

    def __init__(self, root: str, root_value: Snapshot, seed: Snapshot, steps: list[Step],
                 leaves: list[LeafGradient], digits: int, max_elements: int,
                 decimals: int | None = None):
        self.root, self.root_value, self.seed = root, root_value, seed
        self.steps, self.leaves = steps, leaves
        self.digits, self.max_elements, self.decimals = digits, max_elements, decimals

    def delta(self, name: str) -> Snapshot:
        """δ of the value called ``name`` (∂root/∂name): an array, or a summary if it was large.

        >>> import deltagrad as dg
        >>> x = dg.tensor(3.0, requires_grad=True)
        >>> y = x * x
        >>> float(dg.explain(y, names={"x": x, "y": y}, file=None).delta("x"))
        6.0
        """
        for step in self.steps:
            if step.name == name:
                return step.delta
        for leaf in self.leaves:
            if leaf.name == name:
                return leaf.delta
        known = [s.name for s in self.steps] + [leaf.name for leaf in self.leaves]
        raise KeyError(f"explain: no value named {name!r} in this backward pass; "
                       f"known: {', '.join(known)}")

    def _fmt(self, value) -> str:
        return format_value(value, self.digits, self.max_elements, decimals=self.decimals)

    def __str__(self) -> str:
        r, fmt = self.root, self._fmt
        lines = [hang(f"Backward pass from {r} = ", fmt(self.root_value)
                      + ", in reverse topological order."),
                 (f"δv stands for ∂{r}/∂v. Each step applies the op's local rule to the δ "
                  f"arriving from above.")]
        if self.leaves:
            lines += ["", "The inputs that get a gradient:"]
            lines += [hang(f"   {leaf.name} = ", fmt(leaf.value)) for leaf in self.leaves]
        lines += ["", f"δ{r} = {fmt(self.seed)}   (the seed: ∂{r}/∂{r})"]
        width = max([len(f"δ{n}") for s in self.steps for n in [s.name]
                     + [i.name for i in s.inputs] + [c for c, _ in s.constants]] + [4])
        for step in self.steps:
            lines += ["", hang(f"{step.index}. {step.expression} = ", fmt(step.value))]
            lines += [hang(f"   {name:<{width}}  = ", fmt(value) + "   (needs no gradient)")
                      for name, value in step.constants]
            lines.append(f"   {'rule':<{width}}    {step.rule}")
            if step.binding:
                lines.append(f"   {'here':<{width}}    {step.binding}")
            lines.append(sum_of(f"   {'δ' + step.name:<{width}}  ", step.parts, step.delta,
                                fmt))
            for inp in step.inputs:
                text = fmt(inp.delta)
                if inp.broadcast_from is not None:
                    text += (f"   (summed over the broadcast axes: {inp.broadcast_from} -> "
                             f"{shape_of(inp.delta)})")
                if inp.branches > 1:
                    text += f"   (one of {inp.branches} branches)"
                how = "+=" if inp.branches > 1 else "="
                lines.append(hang(f"   {'δ' + inp.name:<{width}} {how:>2} ", text))
        if self.leaves:
            lines += ["", "Accumulated into .grad:"]
            for leaf in self.leaves:
                kind = "parameter" if leaf.is_parameter else "leaf"
                added = "   (added to the .grad it already had)" if leaf.had_grad else ""
                lines.append(sum_of(f"   {leaf.name}.grad {'+' if leaf.had_grad else ' '}",
                                    leaf.parts, leaf.delta, fmt, f"   [{kind}]{added}"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Explanation of the backward pass from {self.root}: {len(self.steps)} steps, "
                f"{len(self.leaves)} leaves>")


_STDOUT = object()


def explain(loss: Tensor, grad=None, *, names=None, digits: int = 4,
            decimals: int | None = None, max_elements: int = 16,
            file: TextIO | None = _STDOUT) -> Explanation:  # type: ignore[assignment]
    """Run ``loss.backward(grad)`` and write the backward pass out step by step.

    ``names`` maps names to the Tensors (and Modules, for their parameters) the text should
    call by name; ``names=locals()`` works. Numbers are written with ``digits`` significant
    digits, or rounded to ``decimals`` places if given (as worked examples on paper are);
    tensors with more than ``max_elements`` elements are summarised (shape, mean,
    std, range). The text goes to ``file`` (standard output by default; ``None`` prints
    nothing); the returned ``Explanation`` holds it (``str()``) and every δ.

    Like ``backward()``, it accumulates into the leaves' ``.grad`` and frees the graph.

    >>> import deltagrad as dg
    >>> w = dg.tensor(2.0, requires_grad=True)
    >>> loss = (w * 3.0) ** 2
    >>> ex = dg.explain(loss, names={"w": w, "loss": loss}, file=None)
    >>> float(w.grad), float(ex.delta("w"))
    (36.0, 36.0)
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explain: loss must be a deltagrad Tensor, got {type(loss).__name__}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"explain: digits must be an int in [1, 17], got {digits!r}")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)
                                 or not 0 <= decimals <= 17):
        raise ValueError(f"explain: decimals must be None or an int in [0, 17], got "
                         f"{decimals!r}")
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise ValueError(f"explain: max_elements must be a positive int, got {max_elements!r}")
    if file is not None and file is not _STDOUT and not hasattr(file, "write"):
        raise TypeError(f"explain: file must be a writable text stream or None, got "
                        f"{type(file).__name__}")
    if not loss.requires_grad:
        raise ValueError("explain: the tensor does not require grad, so there is no backward "
                         "pass to explain (no input had requires_grad=True, or it was computed "
                         "inside dg.no_grad())")
    def fmt(value) -> str:
        return format_value(value, digits, max_elements, decimals=decimals)

    try:
        recorder = _Recorder(loss, Namer(names, "explain: names"), fmt)
    except GraphFreedError as error:
        raise GraphFreedError(f"explain: {error}, and call dg.explain(loss) instead of "
                              f"loss.backward() (it runs the backward pass itself)") from None
    with observing(backward=recorder.on_backward):
        loss.backward(grad)
    seed = np.ones_like(loss.data) if grad is None else np.asarray(
        grad.data if isinstance(grad, Tensor) else grad, dtype=loss.dtype)
    explanation = recorder.result(seed, digits, max_elements, decimals)
    if file is not None:
        print(explanation, file=sys.stdout if file is _STDOUT else file)
    return explanation


class _Recorder:
    """Collects what the engine does, node by node, while ``backward`` runs. ``fmt`` writes
    a constant input's value where the expression names it inline (a number)."""

    def __init__(self, loss: Tensor, namer: Namer, fmt):
        self.namer, self.loss, self.fmt = namer, loss, fmt
        self.steps: list[Step] = []
        self.node_parts: dict = {}  # node -> [Part], the δ's sent to its output so far
        self.leaf_parts: dict[int, list[Part]] = {}
        self.leaf_sums: dict[int, np.ndarray] = {}  # exact sums (parts may be summaries)
        self.leaves: dict[int, Tensor] = {}
        self.leaf_values: dict[int, Snapshot] = {}
        self.had_grad: dict[int, bool] = {}
        self.uses: dict = {}  # node or id(leaf) -> how many ops use it
        self.values: dict = {}  # node -> its output value
        self.constants: dict = {}  # node -> {input position: (label, array value or None)}
        if loss._node is None:
            self.root = namer.leaf(loss)
            self._leaf(loss)
            return
        self.values[loss._node] = snapshot(loss.data, _KEEP)
        order = forward_order(loss._node)
        namer.add_models(models_behind(order))
        for node in order:  # names count up as the forward pass ran
            for t in node.inputs:
                if t is None:
                    continue
                key = t._node if t._node is not None else id(t)
                self.uses[key] = self.uses.get(key, 0) + 1
                if t._node is not None:
                    self.values.setdefault(t._node, snapshot(t.data, _KEEP))
                    namer.node(t._node)
                else:
                    namer.leaf(t)
                    self._leaf(t)
            self.constants[node] = self._constants(node)
        self.root = namer.node(loss._node)

    def _leaf(self, t: Tensor) -> None:
        if id(t) not in self.leaves:
            self.leaves[id(t)] = t
            self.leaf_values[id(t)] = snapshot(t.data, _KEEP)
            self.had_grad[id(t)] = t.grad is not None

    def _constants(self, node) -> dict:
        """How the inputs that need no gradient are written: a number in place, an array by
        its name (the user's, else ``const1``...) with its value beside the step."""
        found = {}
        for i, (t, value) in enumerate(constant_inputs(node)):
            if t is not None:
                continue
            if value is None or value is ...:
                found[i] = ("None" if value is None else "const", None)
            elif id(value) in self.namer.by_array:
                found[i] = (self.namer.by_array[id(value)], snapshot(value, _KEEP))
            elif np.size(value) == 1 and np.ndim(value) == 0:
                found[i] = (self.fmt(np.asarray(value)), None)
            else:
                self.namer.by_array[id(value)] = name = self.namer.fresh("const")
                self.namer.keep(value)
                found[i] = (name, snapshot(value, _KEEP))
        return found

    def on_backward(self, node, g, grads) -> None:
        if type(grads) is not tuple:
            grads = (grads,)
        name = self.namer.node(node)
        parts = self.node_parts.pop(node, None) or [Part(None, snapshot(g, _KEEP))]
        args = []
        step = Step(len(self.steps) + 1, name, node.name, rule_of(node), "", self.values.get(node),
                    parts, snapshot(g, _KEEP))
        constants = self.constants.get(node, {})
        for i, (t, gi) in enumerate(zip(node.inputs, grads)):
            if t is None:
                label, value = constants.get(i, ("const", None))
                args.append(label)
                if value is not None and label not in [c for c, _ in step.constants]:
                    step.constants.append((label, value))
                continue
            child = t._node
            iname = self.namer.node(child) if child is not None else self.namer.leaf(t)
            args.append(iname)
            if gi is None:
                continue
            raw_shape = tuple(np.shape(gi))
            reduced = sum_to_shape(np.asarray(gi), t.data.shape) if raw_shape != t.data.shape \
                else gi
            kept = snapshot(reduced, _KEEP)
            key = child if child is not None else id(t)
            step.inputs.append(InputDelta(iname, kept, raw_shape if raw_shape != t.data.shape
                                          else None, self.uses.get(key, 1)))
            bucket = self.node_parts if child is not None else self.leaf_parts
            bucket.setdefault(key, []).append(Part(name, kept))
            if child is None:
                previous = self.leaf_sums.get(key)
                self.leaf_sums[key] = reduced if previous is None else previous + reduced
        step.expression = f"{name} = {node.name}({', '.join(args)})"
        step.rule, step.binding = _binding(step.rule, name, args)
        self.steps.append(step)

    def result(self, seed, digits: int, max_elements: int, decimals) -> Explanation:
        leaves = []
        order = {key: i for i, key in enumerate(self.leaves)}  # forward order
        if self.loss._node is None:  # backward from a leaf: its δ is the seed
            self.leaf_parts[id(self.loss)] = [Part(None, snapshot(seed, _KEEP))]
            self.leaf_sums[id(self.loss)] = seed
        for key, parts in sorted(self.leaf_parts.items(), key=lambda kv: order[kv[0]]):
            t = self.leaves[key]
            total = snapshot(np.asarray(self.leaf_sums[key], dtype=t.dtype), _KEEP)
            leaves.append(LeafGradient(self.namer.leaf(t), parts, total,
                                       isinstance(t, Parameter), self.had_grad[key],
                                       self.leaf_values[key]))
        root_value = snapshot(self.loss.data, _KEEP)
        return Explanation(self.root, root_value, snapshot(seed, _KEEP), self.steps, leaves,
                           digits, max_elements, decimals)


# a letter a rule may use for a value: Latin, ℓ, or Greek (γ, β in the normalisation rule)
_LETTER = "A-Za-zℓα-ωΑ-Ω"
_ALONE = "(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"  # a letter standing alone, as in "δa", "a²"


def _binding(rule: str, output: str, inputs: list[str]) -> tuple[str, str]:
    """(rule, "z = out_h1, a = net_h1"): the rule's letters matched to this node's values.

    A rule reads "z = a * b  ->  δa = δz * b,  δb = δz * a": the letter before the first "="
    names the output, and the δ's after "->" name the inputs in argument order. When they
    cannot be matched one to one with the inputs, nothing is said rather than something wrong.
    Where a value's name is itself one of the rule's letters (``a = x.tanh()`` would read
    "z = a, a = x"), the rule's letters that clash are renamed to letters nobody uses.
    """
    if "->" not in rule:
        return rule, ""
    out = rule.split("=", 1)[0].strip()
    found = re.findall(f"δ([{_LETTER}])(?![A-Za-z])", rule.split("->", 1)[1])
    letters = [out] + [letter for letter in dict.fromkeys(found) if letter != out]
    names = [output] + inputs
    if len(out) != 1 or len(letters) != len(names):
        return rule, ""
    clashing = [letter for letter in letters if letter in names]
    if clashing:
        used = set(re.findall(_ALONE.format(f"([{_LETTER}])"), rule)) | set(names)
        free = [c for c in "uvwpqrstfghk" if c not in used]
        renamed = dict(zip(clashing, free))
        if len(renamed) < len(clashing):
            return rule, ""
        rule = re.sub(_ALONE.format(f"([{''.join(renamed)}])"),
                      lambda m: renamed[m.group(1)], rule)
        letters = [renamed.get(letter, letter) for letter in letters]
    return rule, ", ".join(f"{letter} = {name}" for letter, name in zip(letters, names))
