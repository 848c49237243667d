"""``Module`` (a layer or a model: parameters, buffers, sub-modules, a ``forward``) and
``Parameter``.

A Module keeps its parameters and sub-modules as ordinary attributes; ``__setattr__``
also records the name in one of two ordered dicts, so ``named_parameters`` can walk them
in registration order and give PyTorch's dotted names (``layers.0.weight``). Buffers
(state that is not trained: batch norm's running statistics) live only in ``_buffers``, read
as attributes through ``__getattr__``, so ``to`` just replaces the arrays there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

from ..autograd.arrays import astype
from ..autograd.tensor import Tensor
from ..backend import (Device, array_module, as_device, device_of, dtype_in, is_array, kind,
                       to_device, to_host)
from .summary import Summary, summarize


class Parameter(Tensor):
    """A Tensor that requires grad and that a ``Module`` registers when set as an attribute.

    The data is not copied. Only floating-point data can be a parameter.

    >>> import numpy as np
    >>> from deltagrad.nn import Parameter
    >>> w = Parameter(np.zeros((2, 3), np.float32))
    >>> w.requires_grad, w.shape
    (True, (2, 3))
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be floating point, got dtype "
                            f"{self.data.dtype}; create it with float values or "
                            f"dtype=np.float32")
        self.requires_grad = bool(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _CallObserver(threading.local):
    """Per thread: an object told where each ``Module`` call starts and ends, or None.

    ``deltagrad.viz`` (a box per call) and ``train.GradientStats`` (each layer's output)
    install one through ``nn.observers``. While no thread watches, ``__call__`` reads one
    global and goes straight to ``forward``.
    """

    observer = None  # has .enter(module) and .exit(module, output) while set


module_calls = _CallObserver()
_observing = 0  # how many threads have an observer installed (guarded by _observing_lock)
_observing_lock = threading.Lock()


def observe_calls(observer) -> object:
    """Install ``observer`` for this thread's Module calls (None removes it); returns the one
    it replaces, to be put back later."""
    global _observing
    previous = module_calls.observer
    with _observing_lock:
        _observing += (observer is not None) - (previous is not None)
    module_calls.observer = observer
    return previous


class LoadResult(NamedTuple):
    """What ``load_state_dict`` did not match (both empty after a strict load)."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of layers and models: subclass it, set parameters and sub-modules as
    attributes in ``__init__`` and define ``forward``; calling the module runs ``forward``.

    >>> import deltagrad as dg
    >>> from deltagrad import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(3, 4)
    ...         self.out = nn.Linear(4, 1)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> [name for name, _ in TwoLayer().named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        observer = module_calls.observer if _observing else None  # usually one global read
        if observer is None:
            out = self.forward(*args, **kwargs)
        else:  # a tool is watching (deltagrad.viz, GradientStats): tell it where calls run
            out = None
            observer.enter(self)
            try:
                out = self.forward(*args, **kwargs)
            finally:
                observer.exit(self, out)
        node = getattr(out, "_node", None)
        if node is not None:
            # Note which Module's call made this value; an outer call returns later and
            # overwrites it, so a model's output names the model, and pictures and dg.explain
            # call its parameters by their state_dict names (layers.0.weight).
            node.made_in = self
        return out

    # --- registration: plain attributes, plus their names in order -----------------------

    def __getattr__(self, name: str):
        # Called only when ordinary lookup fails: buffers are found here, nothing else is.
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            return buffers[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        params = self.__dict__.get("_parameters")
        if params is None:
            if isinstance(value, (Parameter, Module)):
                raise AttributeError(f"cannot assign {type(value).__name__} {name!r} before "
                                     f"Module.__init__() ran; call super().__init__() first")
            object.__setattr__(self, name, value)
            return
        modules, buffers = self._modules, self._buffers
        if name in buffers and not isinstance(value, (Parameter, Module)):
            buffers[name] = _buffer_value(value, name)
            return
        buffers.pop(name, None)
        if isinstance(value, Parameter):
            modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            modules[name] = value
        else:
            if name in params and isinstance(value, Tensor):
                # Silently unregistering would leave an optimiser training a stale weight.
                raise TypeError(f"cannot assign a Tensor to parameter {name!r}: wrap it in "
                                f"nn.Parameter(...), or update the values in place with "
                                f"{name}.data[...] = ...")
            params.pop(name, None)
            modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._buffers.pop(name, ...) is not ...:
            self._non_persistent.discard(name)
            return
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Keep ``array`` as state of this module that is not trained (e.g. running
        statistics): read and set as attribute ``name``, listed by ``named_buffers``, saved in
        ``state_dict`` (unless ``persistent=False``) and cast by ``to``. ``None`` reserves
        the name (nothing is saved for it).

        >>> import numpy as np
        >>> from deltagrad import nn
        >>> m = nn.Module()
        >>> m.register_buffer("count", np.zeros((), np.int64))
        >>> m.count += 1
        >>> m.state_dict()
        {'count': array(1)}
        """
        _checked_name(name)
        if name not in self._buffers and (name in self.__dict__ or hasattr(type(self), name)):
            raise ValueError(f"register_buffer: {type(self).__name__} already has an "
                             f"attribute {name!r}")
        self._buffers[name] = _buffer_value(array, name)
        (self._non_persistent.discard if persistent else self._non_persistent.add)(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Set ``param`` as attribute ``name`` (for names chosen at run time)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got "
                            f"{type(param).__name__}")
        setattr(self, _checked_name(name), param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Set ``module`` as attribute ``name`` (``Sequential`` names its children "0", "1")."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got "
                            f"{type(module).__name__}")
        setattr(self, _checked_name(name), module)

    # --- walking the tree ----------------------------------------------------------------

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module, in registration order."""
        return iter(list(self._modules.items()))

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in registration order."""
        return (module for _, module in self.named_children())

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True
                      ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items()]
            stack.extend(reversed(children))  # reversed: the first child is visited first

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs such as ``("layers.0.weight", w)``, in registration
        order; a parameter shared by two modules is listed once."""
        return self._named_parameters(prefix, recurse, remove_duplicate=True)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each once), in the order of ``named_parameters``."""
        return (p for _, p in self.named_parameters(recurse=recurse))

    def _named_parameters(self, prefix: str = "", recurse: bool = True,
                          remove_duplicate: bool = True):
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        seen: set[int] = set()
        for module_name, module in modules:
            for name, p in module._parameters.items():
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, np.ndarray]]:
        """(dotted name, array) for every buffer that holds an array (``bn.running_mean``)."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, array in module._buffers.items():
                if array is not None:
                    yield (f"{module_name}.{name}" if module_name else name), array

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        """Every buffer's array, in the order of ``named_buffers``."""
        return (array for _, array in self.named_buffers(recurse=recurse))

    def _state_arrays(self):
        """(dotted name, array) for all ``state_dict`` holds: per module, its parameters' data
        then its buffers (PyTorch's order); a shared parameter appears under each name."""
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                yield prefix + name, p.data
            for name, array in module._buffers.items():
                if array is not None and name not in module._non_persistent:
                    yield prefix + name, array

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module, then on this one (e.g. a custom initialisation)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- training state --------------------------------------------------------------------

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``.grad = None``, as PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and every descendant."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be True or False, got {mode!r}")
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off) on this module and every descendant."""
        return self.train(False)

    # --- weights in and out ------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter's and persistent buffer's values under its dotted name
        (PyTorch's keys, so the weights map one-to-one; a shared parameter appears under each
        of its names), as NumPy arrays on the host whatever the model's device."""
        return {name: np.array(to_host(array), copy=True)
                for name, array in self._state_arrays()}

    def load_state_dict(self, state_dict, strict: bool = True) -> LoadResult:
        """Copy values into the parameters and buffers, in place (optimisers keep working).

        Each value is cast to its parameter's or buffer's dtype (and copied to its device);
        shapes must match. With ``strict`` the keys must match exactly too. Everything is
        checked before anything is written.
        """
        own = dict(self._state_arrays())
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise ValueError(f"load_state_dict: {' and '.join(parts)} for "
                             f"{type(self).__name__} (pass strict=False to load the rest)")
        arrays = {}
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            array = value.data if isinstance(value, Tensor) else value
            array = array if is_array(array) else np.asarray(array)
            if array.shape != p.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {array.shape} in the "
                                 f"state dict but {p.shape} in the model")
            if kind(array.dtype) not in "biuf":
                raise TypeError(f"load_state_dict: {name!r} has non-numeric dtype "
                                f"{array.dtype}")
            arrays[name] = array
        for name, array in arrays.items():
            data = own[name]
            if type(data) is not np.ndarray:  # another device: copy there, cast, then write
                array = astype(to_device(array, device_of(data)), data.dtype, copy=False)
            data[...] = array  # in place, cast to the parameter's or buffer's dtype
        return LoadResult(missing, unexpected)

    def to(self, dtype_or_device) -> Module:
        """Move every parameter, gradient and buffer to a device (a Device, or a name such as
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``), or cast every parameter, gradient and float
        buffer to a float dtype. In place: the same Parameter objects hold the new arrays, so
        move a model before making its optimiser. Returns self.

        >>> from deltagrad import nn
        >>> nn.Linear(2, 3).to("cpu").weight.device
        device('cpu')
        """
        if isinstance(dtype_or_device, Device) or _names_device(dtype_or_device):
            return self._to_device(as_device(dtype_or_device))
        dt = np.dtype(dtype_or_device)
        if dt.kind != "f":
            raise TypeError(f"to: expected a floating dtype such as float32 or float64 (or a "
                            f"device such as 'cpu' or 'cuda'), got {dt}")
        for p in self.parameters():
            native = dtype_in(array_module(p.data), dt)
            if p.data.dtype != native:
                p.data = astype(p.data, native)
                if p.grad is not None:
                    p.grad = astype(p.grad, native)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and kind(array.dtype) == "f":
                    module._buffers[name] = astype(array, dtype_in(array_module(array), dt),
                                                   copy=False)
        return self

    def _to_device(self, device: Device) -> Module:
        for p in self.parameters():
            p.data = to_device(p.data, device)
            if p.grad is not None:
                p.grad = to_device(p.grad, device)
        for module in self.modules():  # buffers (running statistics) are read from _buffers
            for name, array in module._buffers.items():
                if array is not None:
                    module._buffers[name] = to_device(array, device)
        return self

    # --- printing ----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The constructor arguments shown between the parentheses of ``repr``."""
        return ""

    def summary(self, input_shape=None, *, dtype=None) -> Summary:
        """Keras-like table of layers, output shapes, parameter counts (nn.summary.summarize)."""
        return summarize(self, input_shape, dtype, observe_calls)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, child in self._modules.items():
            child_lines = repr(child).split("\n")
            lines.append(f"({name}): " + "\n  ".join(child_lines))
        if not self._modules:
            return f"{type(self).__name__}({', '.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _names_device(value) -> bool:
    """True for a device name: "cpu", "cuda" or "cuda:N" (other strings name dtypes)."""
    return isinstance(value, str) and (value == "cpu" or value.split(":")[0] == "cuda")


def _buffer_value(array, name: str):
    """What a buffer may hold: None or a numeric array, any library's (a Tensor: its data)."""
    if array is None:
        return None
    array = array.data if isinstance(array, Tensor) else array
    if isinstance(array, np.generic) or not is_array(array):
        array = np.asarray(array)  # NumPy hands back 0-d results (count + 1) as scalars
    if kind(array.dtype) not in "biuf":
        raise TypeError(f"buffer {name!r} must be a numeric array or None, got "
                        f"{type(array).__name__} of dtype {array.dtype}")
    return array


def _checked_name(name) -> str:
    if not isinstance(name, str) or not name or "." in name:
        raise ValueError(f"a parameter or module name must be a non-empty string without "
                         f"'.', got {name!r}")
    return name
