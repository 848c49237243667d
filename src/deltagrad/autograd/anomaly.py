"""``dg.detect_anomaly()``: stop at the first op whose value or gradient is NaN or infinite.

Inside the context every op recorded in the graph has its output checked as it is computed,
and every backward rule its input gradients; the first non-finite one raises
``AnomalyError`` naming the op, its output shape, the phase (forward or backward), whether
its inputs were already bad, and the line of your code that made it. Outside the context
nothing is checked and nothing is paid: the engine only tests that no hook is set.

Ops run under ``no_grad`` (and ops on tensors that need no gradient) record no node, so
they are not checked; the first recorded op that uses their result is.

>>> import numpy as np, deltagrad as dg
>>> x = dg.tensor([1.0, 0.0], requires_grad=True)
>>> with dg.detect_anomaly():
...     y = x.log().sum()  # log(0) = -inf  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
deltagrad.autograd.anomaly.AnomalyError: detect_anomaly: forward of op 'log' gave -inf ...
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

from ..backend import array_module, kind
from ..backend.shims import errstate
from . import arrays
from .recording import grad_mode

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../deltagrad
_MAX_REMEMBERED = 200_000  # node -> creation site; bounded so a long session can not grow


class AnomalyError(FloatingPointError):
    """An op produced (``phase="forward"``) or propagated (``"backward"``) NaN or infinity.

    ``op`` is the op's name (e.g. ``"log"``), ``shape`` the shape of the bad array,
    ``input_index`` which input's gradient was bad (backward only), ``location`` where in
    your code the op was made (``"train.py:12 in forward"``) and ``module`` the innermost
    ``nn.Module`` whose ``forward`` made it, when known.
    """

    def __init__(self, message: str, *, op: str, phase: str, shape: tuple,
                 input_index: int | None = None, location: str | None = None,
                 module=None):
        super().__init__(message)
        self.op, self.phase, self.shape = op, phase, shape
        self.input_index, self.location, self.module = input_index, location, module


def describe_nonfinite(array) -> str | None:
    """``"nan"``, ``"inf"``, ``"-inf"`` or a mix (``"nan and inf"``), or None if ``array``
    is finite (or not floating point). Cheap when finite: one sum, no temporary array.
    """
    a = array.data if hasattr(array, "_node") else array  # Tensors in higher-order graphs
    if a is None or getattr(a, "dtype", None) is None or kind(a.dtype) not in "fc":
        return None
    with errstate(a, over="ignore", invalid="ignore"):
        total = arrays.sum(a)
    # Any NaN or inf makes the sum non-finite; a finite sum proves every element finite.
    if math.isfinite(float(abs(total))):
        return None
    xp = array_module(a)
    infinite = xp.isinf(a)
    kinds = []
    if bool(xp.any(xp.isnan(a))):
        kinds.append("nan")
    if bool(xp.any(infinite & (a > 0))):
        kinds.append("inf")
    if bool(xp.any(infinite & (a < 0))):
        kinds.append("-inf")
    return " and ".join(kinds) or None  # None: the sum merely overflowed


def _creation_site() -> tuple[str | None, object]:
    """Where the op being recorded was called: the innermost frame outside deltagrad's own
    code (``file:line in function``) and the innermost ``nn.Module`` whose ``forward`` is
    running (found by duck typing: autograd does not import nn)."""
    frame, site, module = sys._getframe(2), None, None
    while frame is not None and (site is None or module is None):
        owner = frame.f_locals.get("self") if frame.f_code.co_name == "forward" else None
        if module is None and hasattr(owner, "_parameters") and hasattr(owner, "_modules"):
            module = owner
        filename = frame.f_code.co_filename
        if site is None and not os.path.abspath(filename).startswith(_PACKAGE + os.sep):
            site = f"{os.path.basename(filename)}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return site, module


def _where(site, module) -> str:
    parts = ([f"inside {type(module).__name__}"] if module is not None else []) + \
        ([f"at {site}"] if site else [])
    return ", ".join(parts)


def _shape(a) -> tuple:
    return tuple(getattr(a, "shape", ()))


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager (and decorator): raise ``AnomalyError`` at the first op whose output
    or input gradient is NaN or infinite. Costs a sum per op while on, nothing when off.

    It chains with hooks set by other tools (they still run) and restores them on exit.
    Each thread has its own switch.

    >>> import deltagrad as dg
    >>> w = dg.tensor([0.0], requires_grad=True)
    >>> with dg.detect_anomaly():
    ...     w.sqrt().sum().backward()  # d sqrt(w)/dw = inf at 0  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    deltagrad.autograd.anomaly.AnomalyError: detect_anomaly: backward of op 'sqrt' gave inf ...
    """

    def __init__(self) -> None:
        self._saved: list[tuple] = []

    def __enter__(self):
        previous = (grad_mode.forward_hook, grad_mode.backward_hook)
        self._saved.append(previous)
        sites: dict = {}
        grad_mode.forward_hook = _forward_hook(previous[0], sites)
        grad_mode.backward_hook = _backward_hook(previous[1], sites)
        return self

    def __exit__(self, *exc) -> None:
        grad_mode.forward_hook, grad_mode.backward_hook = self._saved.pop()


def _forward_hook(chained, sites: dict):
    def hook(node, arrays, out):
        if chained is not None:
            chained(node, arrays, out)
        site, module = _creation_site()
        if len(sites) >= _MAX_REMEMBERED:
            del sites[next(iter(sites))]
        sites[node] = (site, module)
        bad = describe_nonfinite(out)
        if bad is None:
            return
        sources = [i for i, a in enumerate(arrays) if describe_nonfinite(a) is not None]
        origin = (f"from input {sources[0]} (shape {_shape(arrays[sources[0]])}), which was "
                  f"already {describe_nonfinite(arrays[sources[0]])}") if sources \
            else "from finite inputs"
        where = _where(site, module)
        raise AnomalyError(f"detect_anomaly: forward of op '{node.name}' gave {bad} (output "
                           f"shape {_shape(out)}) {origin}{'; ' + where if where else ''}",
                           op=node.name, phase="forward", shape=_shape(out), location=site,
                           module=module)
    return hook


def _backward_hook(chained, sites: dict):
    def hook(node, upstream, grads):
        if chained is not None:
            chained(node, upstream, grads)
        site, module = sites.pop(node, (None, None))
        for i, gi in enumerate(grads):
            bad = describe_nonfinite(gi)
            if bad is None:
                continue
            before = describe_nonfinite(upstream)
            origin = f"from an upstream gradient that was already {before}" if before \
                else "from a finite upstream gradient"
            where = _where(site, module)
            raise AnomalyError(
                f"detect_anomaly: backward of op '{node.name}' gave {bad} for input {i} "
                f"(shape {_shape(gi)}) {origin}{'; the op was made ' + where if where else ''}",
                op=node.name, phase="backward", shape=_shape(gi), input_index=i, location=site,
                module=module)
    return hook
