"""How a Tensor shows in Jupyter (``Tensor._repr_html_``): a line saying what it is (shape,
dtype, whether it requires grad, the op that made it), then its values, as a table when it
has one or two dimensions and as NumPy prints it otherwise, and its gradient when it has one."""

from __future__ import annotations

import html

import numpy as np

from ..backend import to_host

MAX_ROWS = MAX_COLS = 8  # larger arrays show their corners, around an ellipsis


def _cell(value) -> str:
    text = (np.format_float_positional(value, precision=4, trim="-")
            if isinstance(value, np.floating) else str(value))
    return f"<td style='text-align:right'><code>{html.escape(text)}</code></td>"


def _indices(n: int, most: int) -> list:
    if n <= most:
        return list(range(n))
    half = most // 2
    return list(range(half)) + [None] + list(range(n - half, n))


def array_html(array) -> str:
    """``array`` (of any library, on any device) as an HTML table (1-D as one row), or as
    NumPy's text beyond two dims."""
    array = to_host(array)
    if array.ndim == 0 or array.ndim > 2:
        text = np.array2string(array, threshold=200, edgeitems=3, precision=4)
        return f"<pre>{html.escape(text)}</pre>"
    table = array[None] if array.ndim == 1 else array
    rows = []
    for i in _indices(table.shape[0], MAX_ROWS):
        if i is None:
            rows.append("<tr><td>⋮</td></tr>")
            continue
        cells = ["<td>…</td>" if j is None else _cell(table[i, j])
                 for j in _indices(table.shape[1], MAX_COLS)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{''.join(rows)}</table>"


def tensor_html(t) -> str:
    facts = [f"shape {tuple(t.shape)}", str(t.data.dtype)]
    if t.requires_grad:
        facts.append("requires grad")
    if t._node is not None:
        facts.append(f"made by {t._node.name}")
    parts = [f"<div><b>Tensor</b> <small>{html.escape(', '.join(facts))}</small>",
             array_html(t.data)]
    if t._grad is not None:  # read directly: .grad of a non-leaf warns
        parts += ["<small>grad</small>", array_html(t._grad)]
    return "".join(parts) + "</div>"
