"""A model made of built-in layers, as plain JSON data, and back.

``describe(model)`` gives a nested dict such as ``{"type": "MLP", "in_features": 4,
"hidden_sizes": [64], "out_features": 3, "activation": "relu", "dropout": 0.0}``, or None
when some part is a user's own ``Module`` subclass (only its weights can then be saved).
``tensor_shapes(spec)`` says which parameters and buffers the spec implies, without building
anything, so a lying config is caught before any memory is allocated for it, and ``build``
makes the model. Arguments added to a layer later have a default (``_DEFAULTS``): older
files, which lack them, still load, and a model that leaves them at their default is
described without them, so older versions of deltagrad still read its file.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import nn

# type name -> (class, constructor arguments kept as attributes of the same name)
_SIMPLE = {
    "ReLU": (nn.ReLU, ()),
    "Tanh": (nn.Tanh, ()),
    "Sigmoid": (nn.Sigmoid, ()),
    "Identity": (nn.Identity, ()),
    "LeakyReLU": (nn.LeakyReLU, ("negative_slope",)),
    "GELU": (nn.GELU, ("approximate",)),
    "Softmax": (nn.Softmax, ("axis",)),
    "LogSoftmax": (nn.LogSoftmax, ("axis",)),
    "Flatten": (nn.Flatten, ("start_dim", "end_dim")),
    "Dropout": (nn.Dropout, ("p",)),
    "Linear": (nn.Linear, ("in_features", "out_features", "bias")),
    "Embedding": (nn.Embedding, ("num_embeddings", "embedding_dim")),
    "LayerNorm": (nn.LayerNorm, ("normalized_shape", "eps", "elementwise_affine")),
    "BatchNorm1d": (nn.BatchNorm1d, ("num_features", "eps", "momentum", "affine",
                                     "track_running_stats")),
    "MLP": (nn.MLP, ("in_features", "hidden_sizes", "out_features", "activation", "dropout",
                     "norm", "residual")),
}
# arguments a layer gained after files were first written, with the value older files meant
_DEFAULTS = {"MLP": {"norm": None, "residual": False}}
# layers holding other layers: type name -> (class, the attribute that holds them)
_CONTAINERS = {"Sequential": (nn.Sequential, "children"), "Residual": (nn.Residual, "module")}
#: the layer types ``dg.load`` can rebuild
BUILTIN_TYPES = tuple(_SIMPLE) + tuple(_CONTAINERS)


def describe(module: nn.Module) -> dict | None:
    """The spec of ``module``, or None if it is (or holds) anything but built-in layers.

    >>> from deltagrad import nn
    >>> describe(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))["children"]["0"]
    {'type': 'Linear', 'in_features': 2, 'out_features': 3, 'bias': True}
    """
    spec = _describe(module)
    if spec is None:
        return None
    # A built-in layer changed after construction (a layer appended to an MLP's Sequential,
    # a parameter replaced) would not be rebuilt as it is: then it counts as custom.
    try:
        rebuilt = build(spec, np.random.default_rng(0))
    except ValueError:  # an argument a config can not hold, such as Flatten(start_dim=1.5)
        return None
    if _structure(rebuilt) != _structure(module):
        return None
    return spec


def _structure(module: nn.Module) -> list:
    modules = [(name, type(m)) for name, m in module.named_modules(remove_duplicate=False)]
    tensors = [(name, array.shape) for name, array in module._state_arrays()]
    return modules + tensors


def _describe(module: nn.Module) -> dict | None:
    kind = type(module).__name__
    if kind == "Sequential" and type(module) is nn.Sequential:
        children = {}
        for name, child in module.named_children():
            spec = _describe(child)
            if spec is None:
                return None
            children[name] = spec
        return {"type": "Sequential", "children": children}
    if kind == "Residual" and type(module) is nn.Residual:
        inner = _describe(module.module)
        return None if inner is None else {"type": "Residual", "module": inner}
    entry = _SIMPLE.get(kind)
    if entry is None or type(module) is not entry[0]:
        return None
    spec = {"type": kind}
    defaults = _DEFAULTS.get(kind, {})
    for arg in entry[1]:
        value = getattr(module, arg)
        if arg == "bias":
            value = value is not None
        elif isinstance(value, tuple):  # hidden_sizes, normalized_shape
            value = list(value)
        if arg not in defaults or value != defaults[arg]:
            spec[arg] = value
    return spec


# --- reading a spec back ---------------------------------------------------------------------


def _args(spec, where: str) -> tuple[str, dict]:
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        # A ValueError, like every other fault of a config file (its values, not the caller's
        # argument types, are wrong).
        raise ValueError(  # noqa: TRY004
            f"{where}: expected an object with a 'type', got {_show(spec)}")
    kind = spec["type"]
    if kind in _CONTAINERS:
        expected = (_CONTAINERS[kind][1],)
    elif kind in _SIMPLE:
        expected = _SIMPLE[kind][1]
    else:
        raise ValueError(f"{where}: unknown layer type {kind!r}; known: "
                         f"{', '.join(BUILTIN_TYPES)}")
    args = {**_DEFAULTS.get(kind, {}), **{k: v for k, v in spec.items() if k != "type"}}
    if set(args) != set(expected):
        raise ValueError(f"{where}: {kind} takes {list(expected)}, got {sorted(args)}")
    for name, value in args.items():
        check = _TRUSTED_ARGS.get(name)
        if check is not None and not check[0](value):
            raise ValueError(f"{where}: {kind}'s {name} must be {check[1]}, got {_show(value)}")
    return kind, args


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# Arguments the layers take on trust, checked only when the layer runs: a config must give
# them the right type, or dg.load would return a model that fails on its first input.
_TRUSTED_ARGS = {
    "start_dim": (_is_int, "an int"),
    "end_dim": (_is_int, "an int"),
    "axis": (lambda v: _is_int(v) or (isinstance(v, (list, tuple)) and len(v) > 0
                                      and all(map(_is_int, v))),
             "an int or a list of ints"),
    "negative_slope": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
                       "a number"),
    "bias": (lambda v: isinstance(v, bool), "true or false"),
}


def _size(value, what: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {what} must be a positive integer, got {_show(value)}")
    return int(value)


def tensor_shapes(spec, prefix: str = "", where: str = "architecture"
                  ) -> dict[str, tuple[int, ...]]:
    """The dotted names and shapes of the parameters and buffers ``spec`` implies, in model
    order.

    >>> tensor_shapes({"type": "Linear", "in_features": 2, "out_features": 3, "bias": False})
    {'weight': (3, 2)}
    >>> tensor_shapes({"type": "BatchNorm1d", "num_features": 4, "eps": 1e-5, "momentum": 0.1,
    ...                "affine": False, "track_running_stats": True})
    {'running_mean': (4,), 'running_var': (4,), 'num_batches_tracked': ()}
    """
    kind, args = _args(spec, where)
    if kind == "Linear":
        n_in = _size(args["in_features"], "in_features", where)
        n_out = _size(args["out_features"], "out_features", where)
        shapes = {f"{prefix}weight": (n_out, n_in)}
        if args["bias"]:
            shapes[f"{prefix}bias"] = (n_out,)
        return shapes
    if kind == "Embedding":
        return {f"{prefix}weight": (_size(args["num_embeddings"], "num_embeddings", where),
                                    _size(args["embedding_dim"], "embedding_dim", where))}
    if kind == "LayerNorm":
        shape = args["normalized_shape"]
        if not isinstance(shape, list) or not shape:
            raise ValueError(f"{where}: normalized_shape must be a list, got {_show(shape)}")
        shape = tuple(_size(n, "each size in normalized_shape", where) for n in shape)
        return {f"{prefix}{name}": shape for name in ("weight", "bias")
                if args["elementwise_affine"]}
    if kind == "BatchNorm1d":
        n = (_size(args["num_features"], "num_features", where),)
        names = (("weight", n), ("bias", n)) if args["affine"] else ()
        if args["track_running_stats"]:
            names += (("running_mean", n), ("running_var", n), ("num_batches_tracked", ()))
        return {f"{prefix}{name}": shape for name, shape in names}
    if kind == "MLP":
        return tensor_shapes(_mlp_layers(args, where), f"{prefix}layers.", where)
    if kind in _CONTAINERS:
        children = _children(kind, args, where)
        shapes = {}
        for name, child in children.items():
            if not name or "." in name:
                raise ValueError(f"{where}: bad child name {name!r}")
            shapes.update(tensor_shapes(child, f"{prefix}{name}.", f"{where}.{name}"))
        return shapes
    return {}


def _children(kind: str, args: dict, where: str) -> dict:
    """The specs inside a container: a Sequential's children, or a Residual's module."""
    if kind == "Residual":
        return {"module": args["module"]}
    children = args["children"]
    if not isinstance(children, dict):
        raise ValueError(f"{where}: children must be an object, got {_show(children)}")
    return children


def _mlp_layers(args: dict, where: str) -> dict:
    """The Sequential spec equivalent to an MLP's ``layers`` (for its tensors' shapes)."""
    hidden = args["hidden_sizes"]
    if not isinstance(hidden, list):
        raise ValueError(f"{where}: hidden_sizes must be a list, got {_show(hidden)}")
    dropout, norm, residual = args["dropout"], args["norm"], args["residual"]
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise ValueError(f"{where}: dropout must be a number, got {_show(dropout)}")
    if norm not in (None, *nn.layers.NORMS) or not isinstance(residual, bool):
        raise ValueError(f"{where}: norm must be null, 'layer' or 'batch' and residual true or "
                         f"false, got {_show(norm)} and {_show(residual)}")
    plan = nn.layers.mlp_plan(_size(args["in_features"], "in_features", where),
                              [_size(h, "each hidden size", where) for h in hidden],
                              _size(args["out_features"], "out_features", where), norm,
                              residual, dropout)
    return _sequential_spec(plan)


def _sequential_spec(plan: list) -> dict:
    specs = {"Linear": lambda n_in, n_out: {"type": "Linear", "in_features": n_in,
                                            "out_features": n_out, "bias": True},
             "LayerNorm": lambda n: {"type": "LayerNorm", "normalized_shape": [n], "eps": 1e-5,
                                     "elementwise_affine": True},
             "BatchNorm1d": lambda n: {"type": "BatchNorm1d", "num_features": n, "eps": 1e-5,
                                       "momentum": 0.1, "affine": True,
                                       "track_running_stats": True},
             "Residual": lambda block: {"type": "Residual", "module": _sequential_spec(block)},
             "activation": lambda: {"type": "Identity"}, "Dropout": lambda: {"type": "Identity"}}
    return {"type": "Sequential",
            "children": {str(i): specs[kind](*rest) for i, (kind, *rest) in enumerate(plan)}}


def build(spec, rng: np.random.Generator | None = None, where: str = "architecture"
          ) -> nn.Module:
    """The module ``spec`` describes, with fresh weights (drawn from ``rng``).

    Dropout layers are left drawing from the global generator, as a new model's would.
    """
    kind, args = _args(spec, where)
    if kind in _CONTAINERS:
        built = {name: build(child, rng, f"{where}.{name}")
                 for name, child in _children(kind, args, where).items()}
        return nn.Sequential(built) if kind == "Sequential" else nn.Residual(built["module"])
    cls = _SIMPLE[kind][0]
    if kind in ("Linear", "Embedding", "MLP"):
        args["rng"] = rng
    try:
        module = cls(**args)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.rng = None
    return module


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
