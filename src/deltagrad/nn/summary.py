"""``Module.summary``: a Keras-like table of a model's layers, their output shapes (from one
forward pass on zeros, when an input shape is given) and their parameter counts; printed as
text, shown by Jupyter as an HTML table.

This module knows Modules only by their methods (``named_modules``, ``parameters``...), so
``module.py`` can use it without an import cycle; the Module-call observer it needs is
passed in.
"""

from __future__ import annotations

import html
import numbers
from typing import NamedTuple

import numpy as np

from ..autograd.recording import no_grad
from ..backend import device_of, host_dtype, to_device

_HEADER = ("Layer (type)", "Output shape", "Param #")


class Row(NamedTuple):
    name: str  # the state_dict prefix, indented two spaces per level below the model
    type: str
    output_shape: str  # "" when no forward pass ran, "-" for a layer the pass did not call
    params: str  # the layer's own parameters (its sub-layers have rows of their own)


class Summary:
    """What ``Module.summary`` returns: ``print`` it, or let Jupyter show it as a table.

    ``rows`` hold one ``Row`` per sub-module in registration order; ``total_params``,
    ``trainable_params`` and ``buffer_elements`` count every element of the model's
    parameters and buffers.
    """

    def __init__(self, title: str, rows: list[Row], total: int, trainable: int, buffers: int):
        self.title, self.rows = title, rows
        self.total_params, self.trainable_params, self.buffer_elements = total, trainable, buffers
        self._shapes = any(row.output_shape for row in rows)

    def _header(self) -> tuple:
        return _HEADER if self._shapes else (_HEADER[0], _HEADER[2])

    def _cells(self, row: Row) -> tuple:
        name = f"{row.name} ({row.type})"
        return (name, row.output_shape, row.params) if self._shapes else (name, row.params)

    def _footer(self) -> list[str]:
        lines = [f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.total_params - self.trainable_params:,}"]
        if self.buffer_elements:
            lines.append(f"Buffer elements (state, not trained): {self.buffer_elements:,}")
        return lines

    def __str__(self) -> str:
        header = self._header()
        table = [header] + [self._cells(row) for row in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(header))]
        rule = "-" * (sum(widths) + 3 * (len(widths) - 1))

        def line(cells) -> str:
            text = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                  zip(cells[1:], widths[1:])]
            return "   ".join(text).rstrip()

        body = [line(cells) for cells in table[1:]]
        return "\n".join([self.title, rule.replace("-", "="), line(header), rule, *body, rule,
                          *self._footer()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in self._header())
        rows = []
        for row in self.rows:
            depth = (len(row.name) - len(row.name.lstrip())) // 2
            name = (f"<td style='text-align:left;padding-left:{0.5 + 1.2 * depth}em'>"
                    f"{html.escape(row.name.strip())} <i>({html.escape(row.type)})</i></td>")
            rest = [row.output_shape] if self._shapes else []
            rest.append(row.params)
            rows.append("<tr>" + name + "".join(
                f"<td style='text-align:right'><code>{html.escape(v)}</code></td>"
                for v in rest) + "</tr>")
        footer = "<br>".join(html.escape(line) for line in self._footer())
        return (f"<div><b>{html.escape(self.title)}</b><table><thead><tr>{cells}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table><p>{footer}</p></div>")


class _ShapeRecorder:
    """A Module-call observer noting the output shape of each module's first call."""

    def __init__(self):
        self.shapes: dict[int, str] = {}

    def enter(self, module) -> None:
        pass

    def exit(self, module, output) -> None:
        if output is not None:
            self.shapes.setdefault(id(module), _shape_text(output))


def _shape_text(output) -> str:
    if isinstance(output, (tuple, list)):
        return "[" + ", ".join(_shape_text(o) for o in output) + "]"
    shape = getattr(output, "shape", None)
    if shape is None:
        return type(output).__name__
    return str((None, *shape[1:]))  # the batch dimension is whatever the data has


def _check_input_shape(input_shape) -> tuple:
    if isinstance(input_shape, numbers.Integral) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
            for d in input_shape):
        raise ValueError(f"summary: input_shape must be a tuple of positive ints (one sample's "
                         f"shape, without the batch dimension), got {input_shape!r}")
    return tuple(int(d) for d in input_shape)


def _output_shapes(model, input_shape: tuple, dtype, observe_calls) -> dict[int, str]:
    """Run ``model`` once on a batch of one zero sample, in eval mode and without a graph
    (batch norm's running statistics stay as they were), noting each call's output shape."""
    first = next((p.data for p in model.parameters()), None)
    if dtype is None:
        dtype = np.float32 if first is None else first.dtype
    example = np.zeros((1, *input_shape), dtype=host_dtype(dtype))
    if first is not None and type(first) is not np.ndarray:
        example = to_device(example, device_of(first))  # the model's device
    modes = [(m, m.training) for m in model.modules()]
    recorder = _ShapeRecorder()
    # In place of any other watcher (a viz trace): this pass is no part of the user's work.
    previous = observe_calls(recorder)
    try:
        model.eval()
        with no_grad():
            model(example)
    finally:
        observe_calls(previous)
        for module, training in modes:
            object.__setattr__(module, "training", training)
    return recorder.shapes


def summarize(model, input_shape, dtype, observe_calls) -> Summary:
    """The ``Summary`` of ``model`` (``Module.summary``): each layer (by ``state_dict``
    prefix), its type, its output shape and its number of parameters, then the totals.
    Output shapes need ``input_shape``, one sample's shape without the batch dimension
    (``(2,)``): the model then runs once on zeros of that shape (of ``dtype``, by default the
    parameters', on their device), in eval mode and without a graph, so batch norm's running
    statistics do not move. ``print`` the result; Jupyter shows it as a table."""
    shapes, title = None, type(model).__name__
    if input_shape is not None:
        input_shape = _check_input_shape(input_shape)
        shapes = _output_shapes(model, input_shape, dtype, observe_calls)
        title += f": input {(None, *input_shape)}"
    rows = []
    named = list(model.named_modules())
    for name, module in named[1:] or named:  # a model without layers is its own one row
        own = sum(p.data.size for p in module.parameters(recurse=False))
        has_children = next(module.children(), None) is not None
        shape = "" if shapes is None else shapes.get(id(module), "-")
        rows.append(Row("  " * name.count(".") + (name or "(model)"), type(module).__name__, shape,
                        "--" if has_children and not own else f"{own:,}"))
    params = list(model.parameters())
    return Summary(title, rows, sum(p.data.size for p in params),
                   sum(p.data.size for p in params if p.requires_grad),
                   sum(b.size for b in model.buffers() if b is not None))
