"""Watching the engine and the Module calls, for tools that explain or measure training
(``dg.explain``, pictures, ``train.GradientStats``).

The engine calls ``grad_mode.forward_hook(node, input_arrays, output)`` after each recorded
op and ``grad_mode.backward_hook(node, upstream_grad, input_grads)`` after each backward rule;
``Module.__call__`` tells ``module_calls.observer`` where each call starts (``enter(module)``)
and ends (``exit(module, output)``, the output None after an exception). All three are per
thread, and cost nothing while nobody watches. An observer installed here also calls the
one it replaced (another tool may be watching too), and ``uninstall`` puts that one back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ..autograd.recording import grad_mode
from .module import module_calls, observe_calls


def _chain(new: Callable | None, old: Callable | None) -> Callable | None:
    if new is None or old is None:
        return new or old

    def both(*args):
        old(*args)
        new(*args)

    return both


class _BothCalls:
    """Two Module-call observers: the one installed first enters first and exits last."""

    def __init__(self, outer, inner):
        self.outer, self.inner = outer, inner

    def enter(self, module) -> None:
        self.outer.enter(module)
        self.inner.enter(module)

    def exit(self, module, output) -> None:
        self.inner.exit(module, output)
        self.outer.exit(module, output)


def call_observers() -> list:
    """The Module-call observers installed in this thread, the first installed first."""
    found, observer = [], module_calls.observer
    while isinstance(observer, _BothCalls):
        found.insert(0, observer.inner)
        observer = observer.outer
    return ([observer] if observer is not None else []) + found


def install(forward: Callable | None = None, backward: Callable | None = None,
            calls=None) -> tuple:
    """Install the given observers in this thread; returns what ``uninstall`` restores."""
    saved = grad_mode.forward_hook, grad_mode.backward_hook, module_calls.observer
    grad_mode.forward_hook = _chain(forward, saved[0])
    grad_mode.backward_hook = _chain(backward, saved[1])
    if calls is not None:
        observe_calls(calls if saved[2] is None else _BothCalls(saved[2], calls))
    return saved


def uninstall(saved: tuple) -> None:
    """Put back the observers ``install`` replaced."""
    grad_mode.forward_hook, grad_mode.backward_hook = saved[0], saved[1]
    if module_calls.observer is not saved[2]:
        observe_calls(saved[2])


@contextlib.contextmanager
def observing(forward: Callable | None = None, backward: Callable | None = None,
              calls=None) -> Iterator[None]:
    """Install the given observers in this thread until the ``with`` block ends."""
    saved = install(forward, backward, calls)
    try:
        yield
    finally:
        uninstall(saved)
