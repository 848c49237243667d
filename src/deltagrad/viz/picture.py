"""``draw``: a picture of the graph behind a tensor, through Graphviz.

One box per op (its name, output shape, a summary of its value and, after the backward pass,
its δ), leaves as ellipses (parameters gold, other leaves green), constants grey and dashed.
Where a value feeds more than one op (a fork) its box and out-going edges are orange: the δ's
coming back along those edges are summed. The output has a double border. ``Module`` calls
recorded with ``trace`` are dashed frames around their ops, or, with ``collapse_modules``,
one box each, so large models stay legible.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..autograd.tensor import Tensor
from ._format import format_value
from .graph import Graph, GraphNode, Tape, capture

FORMATS = ("svg", "png", "pdf")

_INSTALL = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install "
            "graphviz` (macOS), `conda install -c conda-forge graphviz`, or see "
            "https://graphviz.org/download/")

_STYLE = {  # kind -> node attributes
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8f0fe",
           "color": "#4a6fa5"},
    "param": {"shape": "ellipse", "style": "filled", "fillcolor": "#fff3c4",
              "color": "#b8860b"},
    "leaf": {"shape": "ellipse", "style": "filled", "fillcolor": "#dff5e1",
             "color": "#2e7d32"},
    "input": {"shape": "box", "style": "dashed,filled", "fillcolor": "#f4f4f4",
              "color": "#777777"},
    "const": {"shape": "box", "style": "dashed,filled", "fillcolor": "#f4f4f4",
              "color": "#999999", "fontcolor": "#555555"},
    "call": {"shape": "box", "style": "filled,bold", "fillcolor": "#ece4f7",
             "color": "#6a4c93"},
}
_FORK = "#e67e22"
_DELTA = "#c0392b"


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program (or the ``graphviz`` Python package) is not installed."""


def _graphviz():
    """The graphviz package, imported here on purpose: an optional dependency, needed only
    when a picture is drawn (``import deltagrad`` must not pay for it, or require it)."""
    try:
        import graphviz
    except ImportError as exc:
        raise GraphvizNotFoundError(
            "deltagrad.viz.draw needs the graphviz Python package: pip install graphviz (or "
            "pip install deltagrad[viz]); rendering also needs Graphviz's dot program: "
            + _INSTALL) from exc
    return graphviz


def _check_dot() -> None:
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError("drawing to a file needs Graphviz's `dot` program, which "
                                    "is not on the PATH; " + _INSTALL)


def draw(target: Tensor | Graph | Tape, path: str | Path | None = None, *,
         formats: Sequence[str] = ("svg", "png"), backward: bool = False, grad=None,
         collapse_modules: bool | int = False, names=None, digits: int = 3,
         max_elements: int = 6, rankdir: str = "TB", dpi: int = 144, title: str | None = None):
    """Draw the graph behind ``target`` and, given ``path``, write it as SVG and PNG.

    ``target`` is a Tensor (its graph is walked now, so call this before ``backward()``, or
    pass ``backward=True`` to have it run ``target.backward(grad)`` and show every δ), a
    ``Graph`` from ``capture``, or a ``Tape`` from ``trace`` (which also knows constants and
    ``Module`` calls, and any δ's of a backward pass run inside the block). ``names`` maps
    names to Tensors or Modules (``names=locals()`` works) for a Tensor or a Tape.

    ``collapse_modules``: False draws every op (Module calls as dashed frames); True draws
    each innermost Module call as one box; an int ``d`` draws each call ``d`` levels below
    the outermost (0: the whole model) as one box. ``path`` without a suffix gets one file per
    format in ``formats`` (``path.svg``, ``path.png``); with a ``.svg``/``.png``/``.pdf``
    suffix just that file is written. Numbers have ``digits`` significant digits; values with
    more than ``max_elements`` elements are summarised. ``rankdir`` "TB" draws the inputs at
    the top, "LR" at the left. Returns the ``graphviz.Digraph`` (Jupyter shows it inline).

    >>> import deltagrad as dg
    >>> w = dg.tensor([1.0, -2.0], requires_grad=True)
    >>> picture = dg.viz.draw((w * w).sum(), names={"w": w}, backward=True)
    >>> "δ [2, -4]" in picture.source
    True
    """
    graphviz = _graphviz()
    _check_options(formats, collapse_modules, digits, max_elements, rankdir, dpi)
    if isinstance(target, Tape):
        graph = target.graph(names=names)
    elif isinstance(target, Graph):
        graph = target
    elif isinstance(target, Tensor):
        graph = capture(target, names=names, backward=backward, grad=grad)
    else:
        raise TypeError(f"draw: target must be a Tensor, a Graph or a Tape, got "
                        f"{type(target).__name__}")
    if backward and not isinstance(target, Tensor):
        raise ValueError("draw: backward=True needs a Tensor target (a Graph or Tape already "
                         "holds whatever backward pass was recorded)")
    dot = _Picture(graph, graphviz, collapse_modules, digits, max_elements, rankdir,
                   title).build()
    if path is not None:
        _write(dot, Path(path), formats, dpi)
    return dot


def _check_options(formats, collapse_modules, digits, max_elements, rankdir, dpi) -> None:
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"draw: formats must be some of {FORMATS}, got {tuple(formats)}")
    if not isinstance(collapse_modules, (bool, int)) or (
            not isinstance(collapse_modules, bool) and collapse_modules < 0):
        raise ValueError(f"draw: collapse_modules must be True, False or a depth >= 0, got "
                         f"{collapse_modules!r}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"draw: digits must be an int in [1, 17], got {digits!r}")
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise ValueError(f"draw: max_elements must be a positive int, got {max_elements!r}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 36 <= dpi <= 600:
        raise ValueError(f"draw: dpi must be an int in [36, 600], got {dpi!r}")


def _write(dot, path: Path, formats, dpi: int) -> list[Path]:
    graphviz = _graphviz()
    _check_dot()
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        targets = [(path, suffix)]
    else:
        formats = (formats,) if isinstance(formats, str) else formats
        targets = [(path.with_name(f"{path.name}.{f}"), f) for f in formats]
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for file, fmt in targets:
        picture = dot
        if fmt == "png":  # pixels need a resolution; SVG and PDF stay in points
            picture = dot.copy()
            picture.graph_attr["dpi"] = str(dpi)
        try:
            data = picture.pipe(format=fmt)
        except graphviz.ExecutableNotFound as exc:
            raise GraphvizNotFoundError(f"Graphviz's `dot` program could not be run; "
                                        f"{_INSTALL}") from exc
        file.write_bytes(data)
        written.append(file)
    return written


class _Picture:
    """Turns a ``Graph`` into a ``graphviz.Digraph``."""

    def __init__(self, graph: Graph, graphviz, collapse, digits, max_elements, rankdir, title):
        self.g, self.graphviz, self.collapse = graph, graphviz, collapse
        self.digits, self.max_elements = digits, max_elements
        self.rankdir, self.title = rankdir, title
        self.users = graph.consumers()
        self.box: dict[int, str] = {}  # node key -> id of the box drawn for it ("" if folded)
        self.frames: dict[str, tuple] = {}  # box id -> the Module calls framing it, outermost first
        self.folded: dict[int, list[GraphNode]] = {}  # call id -> parameters folded into its box

    # --- which box each node goes into, inside which frames ----------------------------------

    def _collapsed_at(self, node: GraphNode) -> int | None:
        """Index into ``node.calls`` of the call drawn as one box holding this op, if any."""
        n = len(node.calls)
        if self.collapse is False or n == 0:
            return None
        if self.collapse is True:
            return n - 1
        return self.collapse if n > self.collapse else None

    def _assign(self) -> None:
        for node in self.g.nodes.values():
            if node.kind != "op":
                continue
            k = self._collapsed_at(node)
            box = f"n{node.key}" if k is None else f"c{node.calls[k]}"
            self.box[node.key] = box
            self.frames[box] = node.calls if k is None else node.calls[:k]
        for node in self.g.nodes.values():
            if node.kind == "op":
                continue
            owners = {self.box[u] for u in self.users[node.key]}
            owner = next(iter(owners)) if len(owners) == 1 else ""
            scalar = node.kind == "const" and node.shape in ((), None)
            if owner.startswith("c") and (scalar or node.kind == "param" and node.ident
                                          in self.g.calls[int(owner[1:])].params):
                # A module's own parameters, and numbers written inside it, go in its box.
                self.box[node.key] = ""
                self.folded.setdefault(int(owner[1:]), []).append(node)
                continue
            box = self.box[node.key] = f"n{node.key}"
            if node.kind == "param" or scalar:  # drawn in the innermost frame of its users
                self.frames[box] = _common_prefix([self.frames[b] for b in owners])
            else:  # data and other inputs come from outside
                self.frames[box] = ()

    # --- labels -------------------------------------------------------------------------------

    def _fmt(self, value) -> str:  # the shape is on the line above: leave it out here
        return html.escape(format_value(value, self.digits, self.max_elements, shape=False))

    def _rows(self, node: GraphNode) -> list[str]:
        rows = []
        if node.shape is not None and not (node.kind == "const" and node.shape == ()):
            shape = f"{node.shape} " if node.shape else ""  # a scalar: just its dtype
            rows.append(f"<FONT POINT-SIZE='9'>{shape}{html.escape(node.dtype)}</FONT>")
        if node.value is not None:
            rows.append(self._fmt(node.value))
        if node.delta is not None:
            rows.append(f"<FONT COLOR='{_DELTA}'>δ {self._fmt(node.delta)}</FONT>")
        return rows

    def _label(self, node: GraphNode) -> str:
        if node.kind == "op":
            title = f"<B>{html.escape(node.op)}</B>"
            if not node.name.startswith(node.op):  # a name the user gave
                title += f"  <I>{html.escape(node.name)}</I>"
        elif node.kind == "const":
            title = "const" if node.name == "const" else f"<I>{html.escape(node.name)}</I> const"
        else:
            title = (f"<B>{html.escape(node.name)}</B>  "
                     f"<FONT POINT-SIZE='9'>{node.kind}</FONT>")
        rows = [title] + self._rows(node)
        uses = len(self.users[node.key])
        if uses > 1:
            rows.append(f"<FONT COLOR='{_FORK}' POINT-SIZE='9'>fork: used {uses}×, "
                        f"δ = sum of the branches</FONT>")
        return "<" + "<BR/>".join(rows) + ">"

    def _call_label(self, call_id: int, members: list[GraphNode]) -> str:
        ops = [m for m in members if m.kind == "op"]
        rows = [f"<B>{html.escape(self.g.calls[call_id].label)}</B>",
                (f"<FONT POINT-SIZE='9'>{len(ops)} op{'s' if len(ops) > 1 else ''}: "
                 f"{html.escape(', '.join(dict.fromkeys(m.op for m in ops)))}</FONT>")]
        params = [p for p in self.folded.get(call_id, []) if p.kind == "param"]
        if params:
            count = sum(_size(p.shape) for p in params)
            rows.append(f"<FONT POINT-SIZE='9'>{len(params)} parameter tensor"
                        f"{'s' if len(params) > 1 else ''}, {count} values</FONT>")
        out = self._box_output(call_id, ops)
        if out is not None:
            rows += self._rows(out)
        return "<" + "<BR/>".join(rows) + ">"

    def _box_output(self, call_id: int, ops: list[GraphNode]) -> GraphNode | None:
        """The op whose value leaves the box (the last one, if several do)."""
        inside = f"c{call_id}"
        leaving = [m for m in ops if m.key == self.g.root
                   or any(self.box[u] != inside for u in self.users[m.key])]
        return (leaving or ops or [None])[-1]

    # --- assembly -----------------------------------------------------------------------------

    def build(self):
        self._assign()
        font = "Helvetica,Arial,sans-serif"
        graph_attr = {"rankdir": self.rankdir, "fontname": font, "fontsize": "11",
                      "nodesep": "0.3", "ranksep": "0.35", "bgcolor": "white"}
        node_attr = {"fontname": font, "fontsize": "10", "margin": "0.12,0.06"}
        edge_attr = {"color": "#555555", "arrowsize": "0.7"}
        dot = self.graphviz.Digraph("deltagrad", graph_attr=graph_attr, node_attr=node_attr,
                                    edge_attr=edge_attr)
        if self.title:
            dot.attr(label=self.title, labelloc="t", fontsize="13")
        members: dict[str, list[GraphNode]] = {}
        for node in self.g.nodes.values():
            if self.box[node.key]:
                members.setdefault(self.box[node.key], []).append(node)
        by_frame: dict[tuple, list] = {}
        for box_id, nodes in members.items():
            if box_id.startswith("c"):
                call_id = int(box_id[1:])
                label, attrs = self._call_label(call_id, nodes), dict(_STYLE["call"])
                out = self._box_output(call_id, [m for m in nodes if m.kind == "op"])
                root = out is not None and out.key == self.g.root
            else:
                node = nodes[0]
                label, attrs = self._label(node), dict(_STYLE[node.kind])
                if len(self.users[node.key]) > 1:
                    attrs.update(color=_FORK, penwidth="2")
                root = node.key == self.g.root
            if root:
                attrs["peripheries"] = "2"
            by_frame.setdefault(self.frames[box_id], []).append((box_id, label, attrs))
        self._emit_frames(dot, by_frame)
        self._emit_edges(dot)
        return dot

    def _emit_frames(self, dot, by_frame) -> None:
        def emit(graph, prefix: tuple) -> None:
            for box_id, label, attrs in by_frame.get(prefix, []):
                graph.node(box_id, label=label, **attrs)
            inner = sorted({chain[len(prefix)] for chain in by_frame
                            if len(chain) > len(prefix) and chain[:len(prefix)] == prefix})
            for call_id in inner:
                with graph.subgraph(name=f"cluster_{call_id}") as sub:
                    sub.attr(label=self.g.calls[call_id].label, style="dashed,rounded",
                             color="#9b8bb4", fontcolor="#6a4c93", fontsize="10")
                    emit(sub, prefix + (call_id,))
        emit(dot, ())

    def _emit_edges(self, dot) -> None:
        seen = set()
        for node in self.g.nodes.values():
            for key in node.inputs:
                a, b = self.box[key], self.box[node.key]
                if not a or a == b or (a, b) in seen:
                    continue
                if a.startswith("c") or b.startswith("c"):  # one edge per pair of boxes
                    seen.add((a, b))
                fork = len(self.users[key]) > 1
                dot.edge(a, b, **({"color": _FORK, "penwidth": "1.5"} if fork else {}))


def _common_prefix(chains: list[tuple]) -> tuple:
    common = chains[0] if chains else ()
    for chain in chains[1:]:
        n = 0
        while n < min(len(common), len(chain)) and common[n] == chain[n]:
            n += 1
        common = common[:n]
    return common


def _size(shape) -> int:
    n = 1
    for s in shape or ():
        n *= s
    return n
