"""Layers: ``Linear``, ``Sequential``, ``Residual``, ``MLP``, ``Embedding``, activations,
``Dropout``, ``Flatten`` (the normalisation layers are in ``normalization.py``). Shapes are
declared in ``__init__``, values filled in ``reset_parameters``, as PyTorch does, so
``state_dict`` keys and shapes map one-to-one onto PyTorch's.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .. import _config
from .._checks import check_int
from ..autograd.tensor import Tensor, apply, as_tensor
from ..backend import is_array
from . import functional as F
from . import init, ops
from .module import Module, Parameter
from .normalization import BatchNorm1d, LayerNorm


def _as_input(x):
    """Tensors and arrays go to the op as they are; anything else becomes a Tensor."""
    return x if isinstance(x, Tensor) or is_array(x) else as_tensor(x)


class Linear(Module):
    """y = x Wᵀ + b, one fused op. ``weight`` has shape (out_features, in_features) as in
    PyTorch; the input may have any leading axes, (..., in_features) -> (..., out_features).

    Initialised as PyTorch's default: W and b from U(-1/√in, 1/√in) (Kaiming uniform with
    a = √5), drawn from ``rng`` or the global generator.

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad import nn
    >>> layer = nn.Linear(3, 2, rng=np.random.default_rng(0))
    >>> layer.weight.shape, layer(np.ones((5, 3), np.float32)).shape
    ((2, 3), (5, 2))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", "Linear")
        self.out_features = check_int(out_features, "out_features", "Linear")
        dtype = _config.get_default_dtype()
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype))
        self.bias = Parameter(np.empty(self.out_features, dtype)) if bias else None
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | None = None) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), rng=rng)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x) -> Tensor:
        return apply(ops.Linear, _as_input(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied one after the other; children are named "0", "1", ... (or by the keys
    of a dict given as the only argument). Indexable, sliceable, iterable, has a length.

    >>> from deltagrad import nn
    >>> model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    >>> len(model), type(model[1]).__name__, list(model.state_dict())[:2]
    (3, 'ReLU', ['0.weight', '0.bias'])
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            named = list(modules[0].items())
        else:
            named = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in named:
            self.append(module, name)

    def append(self, module: Module, name: str | None = None) -> Sequential:
        """Add ``module`` at the end (named by its position unless ``name`` is given)."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: every item must be a Module, got "
                            f"{type(module).__name__}")
        self.add_module(str(len(self._modules)) if name is None else name, module)
        return self

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(dict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(f"Sequential: index {index} is out of range for {len(items)} "
                             f"modules") from None

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))


class Residual(Module):
    """A skip connection: ``x + module(x)``. The gradient reaches ``x`` twice, through the
    module and straight along the skip, so a deep stack of these keeps its gradients from
    vanishing. ``module`` must return its input's shape.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> block = nn.Residual(nn.Linear(3, 3))
    >>> block(np.ones((2, 3), np.float32)).shape, list(block.state_dict())
    ((2, 3), ['module.weight', 'module.bias'])
    """

    def __init__(self, module: Module):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"Residual: module must be a Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x) -> Tensor:
        x = _as_input(x)
        y = self.module(x)
        if tuple(getattr(y, "shape", ())) != tuple(x.shape):
            raise ValueError(f"Residual: {type(self.module).__name__} maps shape "
                             f"{tuple(x.shape)} to {tuple(getattr(y, 'shape', ()))}; x + "
                             f"module(x) needs it to keep the shape")
        return y + x  # y first: x may be a plain array


# --- activations --------------------------------------------------------------------------


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope * x``."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x) -> Tensor:
        return F.sigmoid(x)


class GELU(Module):
    """x Φ(x) (``approximate="none"``, exact) or its tanh approximation (``"tanh"``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in F.GELU_APPROXIMATIONS:
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """e^x / Σ e^x along ``axis``."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class LogSoftmax(Module):
    """x - log Σ e^x along ``axis``."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x) -> Tensor:
        return F.log_softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Identity(Module):
    """Returns its input unchanged (a placeholder in a Sequential)."""

    def forward(self, x):
        return x


class Dropout(Module):
    """Zeroes each element with probability ``p`` while training and scales the rest by
    1 / (1 - p); the identity in ``eval()`` mode. Draws from ``rng`` or the global generator.

    >>> import numpy as np, deltagrad as dg
    >>> from deltagrad import nn
    >>> drop = nn.Dropout(0.5).eval()
    >>> drop(dg.tensor([1.0, 2.0])).numpy()
    array([1., 2.], dtype=float32)
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None):
        super().__init__()
        self.p = F.check_dropout_p(p, "Dropout")
        self.rng = rng

    def forward(self, x) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Flattens axes ``start_dim`` to ``end_dim`` into one; by default every axis but the
    first (batch) axis: (N, d1, d2, ...) -> (N, d1 * d2 * ...)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x) -> Tensor:
        x = as_tensor(x)
        ndim = x.ndim
        start = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not 0 <= start <= end < ndim:
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do "
                             f"not fit an input of shape {x.shape}")
        shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
        return x if shape == x.shape else x.reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight`` (num_embeddings,
    embedding_dim), initialised from N(0, 1) as PyTorch. Its backward sums the gradient rows
    of repeated indices with a sorted segment sum, fast for large vocabularies.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> emb = nn.Embedding(10, 4, rng=np.random.default_rng(0))
    >>> emb(np.array([[1, 2, 1]])).shape
    (1, 3, 4)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.num_embeddings = check_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = check_int(embedding_dim, "embedding_dim", "Embedding")
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim),
                                         _config.get_default_dtype()))
        self.reset_parameters(rng)

    def reset_parameters(self, rng: np.random.Generator | None = None) -> None:
        init.normal_(self.weight, rng=rng)

    def forward(self, indices) -> Tensor:
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


# --- the multi-layer perceptron -------------------------------------------------------------

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid,
               "gelu": GELU}


NORMS = {"layer": LayerNorm, "batch": BatchNorm1d}


def mlp_plan(in_features: int, hidden_sizes: tuple, out_features: int, norm: str | None,
             residual: bool, dropout: float) -> list[tuple]:
    """The layers of an ``MLP`` as plain tuples, built from nothing (``dg.load`` reads a
    model file's shapes from it before allocating anything): ``("Linear", n_in, n_out)``,
    ``("LayerNorm", n)``, ``("BatchNorm1d", n)``, ``("activation",)``, ``("Dropout",)``, and
    ``("Residual", [those of the block])`` for a hidden block wrapped in a skip connection.

    >>> mlp_plan(2, (4, 4), 1, "layer", True, 0.0)  # doctest: +NORMALIZE_WHITESPACE
    [('Linear', 2, 4), ('LayerNorm', 4), ('activation',),
     ('Residual', [('Linear', 4, 4), ('LayerNorm', 4), ('activation',)]), ('Linear', 4, 1)]
    """
    sizes = (in_features, *hidden_sizes, out_features)
    plan = []
    for n_in, n_out in itertools.pairwise(sizes[:-1]):
        block = [("Linear", n_in, n_out)]
        if norm is not None:
            block.append((NORMS[norm].__name__, n_out))
        block.append(("activation",))
        if dropout > 0:
            block.append(("Dropout",))
        if residual and n_in == n_out:
            plan.append(("Residual", block))
        else:
            plan.extend(block)
    plan.append(("Linear", sizes[-2], sizes[-1]))
    return plan


class MLP(Module):
    """A multi-layer perceptron: for each hidden size a Linear, a normalisation (with
    ``norm="layer"`` or ``"batch"``), the activation and a Dropout (when ``dropout > 0``),
    then a final Linear, all in a Sequential named ``layers`` (so the ``state_dict`` keys
    read ``layers.0.weight``, ``layers.0.bias``, ``layers.2.weight``...).

    ``hidden_sizes`` is a list or tuple of widths (empty: a linear model). ``activation``
    is one of "relu", "leaky_relu", "tanh", "sigmoid", "gelu". With ``residual=True`` every
    hidden block whose width equals its input's becomes ``Residual(Sequential(...))``: x +
    block(x), a skip connection (keys ``layers.2.module.0.weight``). Initialisation suits the
    activation: He/Kaiming uniform for relu, leaky_relu and gelu, Xavier/Glorot uniform for
    tanh (gain 5/3) and sigmoid (gain 1); the output layer, which feeds no nonlinearity,
    gets Xavier uniform with gain 1; all biases start at zero.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> model = nn.MLP(2, [16, 16], 1, activation="tanh", rng=np.random.default_rng(0))
    >>> [k for k in model.state_dict()][:3]
    ['layers.0.weight', 'layers.0.bias', 'layers.2.weight']
    >>> deep = nn.MLP(2, [8, 8], 1, norm="batch", residual=True)
    >>> [k for k in deep.state_dict()][5:8]
    ['layers.1.num_batches_tracked', 'layers.3.module.0.weight', 'layers.3.module.0.bias']
    """

    def __init__(self, in_features: int, hidden_sizes, out_features: int,
                 activation: str = "relu", dropout: float = 0.0, norm: str | None = None,
                 residual: bool = False, rng: np.random.Generator | None = None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; choose one of "
                             f"{sorted(ACTIVATIONS)}")
        if norm is not None and norm not in NORMS:
            raise ValueError(f"MLP: norm must be None, 'layer' or 'batch', got {norm!r}")
        if not isinstance(residual, bool):
            raise TypeError(f"MLP: residual must be True or False, got {residual!r}")
        if isinstance(hidden_sizes, numbers.Integral) and not isinstance(hidden_sizes, bool):
            hidden_sizes = (hidden_sizes,)
        if not isinstance(hidden_sizes, (list, tuple)):
            raise TypeError(f"MLP: hidden_sizes must be a list or tuple of widths, got "
                            f"{type(hidden_sizes).__name__}")
        self.in_features = check_int(in_features, "in_features", "MLP")
        self.hidden_sizes = tuple(check_int(h, "each hidden size", "MLP")
                                  for h in hidden_sizes)
        self.out_features = check_int(out_features, "out_features", "MLP")
        self.activation, self.norm, self.residual = activation, norm, residual
        self.dropout = F.check_dropout_p(dropout, "MLP")
        plan = mlp_plan(self.in_features, self.hidden_sizes, self.out_features, norm,
                        residual, self.dropout)
        self.layers = Sequential(*[self._make(item, rng) for item in plan])
        self.reset_parameters(rng)

    def _make(self, item: tuple, rng) -> Module:
        kind, *args = item
        if kind == "Linear":
            return Linear(*args, rng=rng)
        if kind == "Residual":
            return Residual(Sequential(*[self._make(inner, rng) for inner in args[0]]))
        if kind == "activation":
            return ACTIVATIONS[self.activation]()
        if kind == "Dropout":
            return Dropout(self.dropout, rng=rng)
        return NORMS[self.norm](*args)

    def reset_parameters(self, rng: np.random.Generator | None = None) -> None:
        linears = [m for m in self.layers.modules() if isinstance(m, Linear)]
        for i, linear in enumerate(linears):
            if i == len(linears) - 1:
                init.xavier_uniform_(linear.weight, gain=1.0, rng=rng)
            elif self.activation in ("relu", "gelu"):
                init.kaiming_uniform_(linear.weight, nonlinearity="relu", rng=rng)
            elif self.activation == "leaky_relu":
                init.kaiming_uniform_(linear.weight, a=0.01, nonlinearity="leaky_relu", rng=rng)
            else:
                init.xavier_uniform_(linear.weight, gain=init.calculate_gain(self.activation),
                                     rng=rng)
            init.zeros_(linear.bias)
        for m in self.layers.modules():
            if isinstance(m, (LayerNorm, BatchNorm1d)):
                m.reset_parameters()

    def forward(self, x) -> Tensor:
        return self.layers(x)

    def extra_repr(self) -> str:
        extras = (f", norm={self.norm!r}" if self.norm else "") + (
            ", residual=True" if self.residual else "")
        return f"activation={self.activation!r}{extras}" if extras else ""
