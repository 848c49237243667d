"""Watching the engine work: install forward/backward observers for the length of a ``with``.

The engine calls ``grad_mode.forward_hook(node, input_arrays, output)`` after each recorded op
and ``grad_mode.backward_hook(node, upstream_grad, input_grads)`` after each backward rule;
``Module.__call__`` tells ``module_calls.observer`` where each call starts and ends. All three
are per thread. An observer installed here also calls the one it replaced (another tool, e.g.
an anomaly detector, may be watching too), and the previous ones come back on exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ..autograd.recording import grad_mode
from ..nn.module import module_calls, observe_calls


def _chain(new: Callable | None, old: Callable | None) -> Callable | None:
    if new is None or old is None:
        return new or old

    def both(*args):
        old(*args)
        new(*args)

    return both


@contextlib.contextmanager
def observing(forward: Callable | None = None, backward: Callable | None = None,
              calls=None) -> Iterator[None]:
    """Install the given observers in this thread until the ``with`` block ends."""
    if calls is not None and module_calls.observer is not None:
        raise RuntimeError("deltagrad.viz: Module calls are already being recorded in this "
                           "thread; nested dg.viz.trace() blocks are not supported")
    saved = grad_mode.forward_hook, grad_mode.backward_hook
    grad_mode.forward_hook = _chain(forward, saved[0])
    grad_mode.backward_hook = _chain(backward, saved[1])
    if calls is not None:
        observe_calls(calls)
    try:
        yield
    finally:
        grad_mode.forward_hook, grad_mode.backward_hook = saved
        if calls is not None:
            observe_calls(None)
