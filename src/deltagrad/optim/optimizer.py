"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

A subclass adds one thing, the update rule: its ``step`` walks the groups and calls a
plain function (``sgd_update``, ``adam_update``, ...) that does the arithmetic for one
parameter, in place on ``p.data``. Only ``.data`` and ``.grad`` of a parameter are
used, so any leaf ``Tensor`` can be optimised.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable, Iterable
from typing import ClassVar

import numpy as np

from ..autograd import Tensor, enable_grad
from ..autograd.arrays import astype, empty, reshape
from ..autograd.arrays import copy as copy_array
from ..backend import array_module, device_of, is_array, to_device
from ..backend.shims import out_module
from ._validation import Interval

ParamsT = Iterable[Tensor] | Iterable[dict]


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with ``"params"``, ``"lr"``, ...) and
    ``state`` (a dict from each parameter to its buffers), as PyTorch's optimisers do.

    ``params`` is an iterable of Tensors, or of dicts each with a ``"params"`` entry and
    any hyperparameters that should differ from the defaults in that group::

        SGD([{"params": body}, {"params": head, "lr": 1e-3}], lr=1e-2, momentum=0.9)
    """

    #: what each real hyperparameter may be; checked for the defaults and every group
    constraints: ClassVar[dict[str, Interval]] = {}

    def __init__(self, params: ParamsT, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict] = {}
        self.param_groups: list[dict] = []
        self._workspace = _Workspace()
        if isinstance(params, (Tensor, dict)) or not isinstance(params, Iterable):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"of dicts, got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered collection (a "
                            f"list), not a set: parameter order identifies state in state_dict()")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        self._check_group(self.defaults)
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def _check_group(self, group: dict) -> None:
        """Raise ``ValueError``/``TypeError`` for a bad hyperparameter; subclasses extend."""
        for name, interval in self.constraints.items():
            interval.check(name, group[name])

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters, with hyperparameters defaulting to the optimiser's."""
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group must have a 'params' entry (a list of Tensors)")
        group = {name: value for name, value in param_group.items() if name != "params"}
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError("param group 'params' must be an ordered collection (a list), "
                            "not a set: parameter order identifies state in state_dict()")
        params = [params] if isinstance(params, Tensor) else list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimise Tensors, but "
                                f"parameter {i} of a group is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__} can not optimise a tensor made by an "
                                 f"op (parameter {i} of a group); optimise the leaf tensors")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError("some parameters appear more than once in the optimizer's "
                             "parameter groups; each parameter may be given only once")
        for name, value in self.defaults.items():
            group.setdefault(name, value)
        self._check_group(group)
        self.param_groups.append({"params": params, **group})

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to ``None`` (the next backward writes it)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure: Callable[[], object] | None = None):
        """Update every parameter that has a gradient; return ``closure()``'s loss, if given."""
        raise NotImplementedError

    @staticmethod
    def _evaluate(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # --- state dicts ------------------------------------------------------------------

    def state_dict(self) -> dict:
        """A deep copy of the state: ``{"state": {index: {name: array or number}},
        "param_groups": [{"lr": ..., "params": [index, ...]}, ...]}``.

        Parameters are named by their position across the groups (as in PyTorch), so the
        dict holds only numbers, lists and arrays, and later steps do not change it.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {name: _plain(value) for name, value in group.items() if name != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {name: _plain(value) for name, value in buffers.items()}
                 for p, buffers in self.state.items() if id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Copy in a ``state_dict()`` (buffers and hyperparameters such as ``lr``).

        The optimiser must have as many groups, each with as many parameters, as the one
        that saved it; buffers are cast to each parameter's dtype and must match its shape.
        Index keys may also be strings (as after a JSON round trip).
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "entries, as made by Optimizer.state_dict()")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"load_state_dict: the state dict has {len(saved_groups)} parameter "
                             f"groups but the optimizer has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"load_state_dict: parameter group {i} has "
                                 f"{len(saved['params'])} parameters in the state dict but "
                                 f"{len(group['params'])} in the optimizer")
            by_index.update(zip((int(k) for k in saved["params"]), group["params"]))
            loaded = {name: _restore(value) for name, value in saved.items() if name != "params"}
            loaded = {**group, **loaded, "params": group["params"]}
            self._check_group(loaded)
            groups.append(loaded)
        state = {}
        for key, buffers in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"load_state_dict: state for parameter {key}, which no "
                                 f"parameter group of the state dict lists")
            p = by_index[int(key)]
            state[p] = {name: _load_buffer(name, value, p, key) for name, value in buffers.items()}
        self.param_groups, self.state = groups, state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {name}: {value}" for name, value in sorted(group.items())
                         if name != "params")
        return "\n".join(lines + [")"])


def state_buffer(state: dict, name: str, like):
    """``state[name]``, first set to zeros shaped like ``like`` if it is missing."""
    buffer = state.get(name)
    if buffer is None:
        buffer = state[name] = array_module(like).zeros_like(like)
    return buffer


def with_weight_decay(param, grad, weight_decay: float, out):
    """The gradient with L2 weight decay, ``grad + weight_decay * param`` (PyTorch's
    ``weight_decay`` for SGD, Adam, RMSprop and Adagrad): written into ``out``, scratch of
    ``param``'s shape, and returned; ``grad`` itself, untouched, when ``weight_decay`` is 0.
    """
    if weight_decay == 0:
        return grad
    out_module(param).multiply(param, weight_decay, out=out)
    out += grad
    return out


def _plain(value):
    """A copy of a state or hyperparameter value that later steps cannot change."""
    if is_array(value):
        return copy_array(value)
    if isinstance(value, tuple):
        return list(value)
    return copy.deepcopy(value)


def _restore(value):
    """A hyperparameter as the optimiser keeps it (lists were tuples, 0-d arrays numbers)."""
    if isinstance(value, list):
        return tuple(_restore(v) for v in value)
    if is_array(value) and value.ndim == 0:
        return value.item()
    return value


def _load_buffer(name: str, value, p: Tensor, key):
    if name == "step":  # the one scalar in every optimiser's state
        step = value.item() if is_array(value) else value
        if not isinstance(step, numbers.Real):
            raise ValueError(f"load_state_dict: 'step' of parameter {key} is {value!r}, "
                             f"not a number")
        return int(step)
    if not is_array(value):
        value = np.asarray(value)
    # A copy of the parameter's dtype on the parameter's device (a checkpoint holds host arrays).
    buffer = astype(to_device(value, device_of(p.data)), p.data.dtype, copy=True)
    if buffer.shape != p.data.shape:
        raise ValueError(f"load_state_dict: buffer '{name}' of parameter {key} has shape "
                         f"{buffer.shape} but the parameter has shape {p.data.shape}")
    return buffer


class _Workspace:
    """Scratch arrays shared by all parameters and steps, so an update allocates nothing.

    One flat buffer per device, dtype and slot, as large as the largest parameter;
    ``get`` hands out a view of it shaped like the parameter (cached: it is asked for
    once per parameter per step).
    """

    def __init__(self):
        self._flat: dict[tuple, object] = {}
        self._views: dict[tuple, object] = {}

    def get(self, like, slot: int = 0):
        where = device_of(like)
        key = (where, like.shape, like.dtype, slot)
        view = self._views.get(key)
        if view is None:
            flat_key = (where, like.dtype, slot)
            flat = self._flat.get(flat_key)
            if flat is None or flat.size < like.size:
                flat = self._flat[flat_key] = empty(like, (like.size,))
                self._views.clear()  # views of the old buffer would keep it alive
            view = self._views[key] = reshape(flat[:like.size], like.shape)
        return view
