"""The network behind the estimators: deltagrad parameters over ``coefs_``/``intercepts_``.

The fitted attributes stay what scikit-learn documents: ``coefs_[i]`` of shape
(fan_in, fan_out) and ``intercepts_[i]`` of shape (fan_out,). Each ``coefs_[i]`` is the
transposed view of a C-ordered (fan_out, fan_in) array, which is exactly the layout of a
deltagrad ``Linear`` weight, so :class:`Network` wraps the arrays as ``Parameter``s
without a copy and every optimiser step lands in the fitted attributes themselves.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from ..nn import Module, Parameter
from ..nn import functional as F

#: hidden activations by scikit-learn's names (None: the identity)
HIDDEN_ACTIVATIONS = {"relu": F.relu, "tanh": F.tanh, "logistic": F.sigmoid, "identity": None}


def init_layers(layer_units, activation: str, random_state: np.random.RandomState, dtype):
    """Glorot-uniform weights and biases, drawn exactly as scikit-learn draws them (same
    bound, same order of draws from the same ``RandomState``), so a given ``random_state``
    starts from scikit-learn's own initial weights.

    >>> import numpy as np
    >>> coefs, intercepts = init_layers([4, 3, 2], "relu", np.random.RandomState(0), np.float32)
    >>> [c.shape for c in coefs], coefs[0].flags.f_contiguous
    ([(4, 3), (3, 2)], True)
    """
    coefs, intercepts = [], []
    factor = 2.0 if activation == "logistic" else 6.0
    for fan_in, fan_out in pairwise(layer_units):
        bound = math.sqrt(factor / (fan_in + fan_out))
        coef = random_state.uniform(-bound, bound, (fan_in, fan_out))
        intercept = random_state.uniform(-bound, bound, fan_out)
        coefs.append(np.ascontiguousarray(coef.T, dtype=dtype).T)
        intercepts.append(intercept.astype(dtype))
    return coefs, intercepts


def as_layout(coef: np.ndarray, dtype) -> np.ndarray:
    """``coef`` (fan_in, fan_out) in ``dtype``, as the transpose of a C-ordered array: itself
    when it already is one (no copy), else a converted copy."""
    if coef.dtype == dtype and coef.T.flags.c_contiguous:
        return coef
    return np.ascontiguousarray(coef.T, dtype=dtype).T


def copy_layers(arrays):
    """Copies that keep each array's memory layout (for the best weights of early stopping)."""
    return [a.copy(order="K") for a in arrays]


class Network(Module):
    """The MLP as a deltagrad ``Module`` whose parameters view the given coefs and
    intercepts (named ``coefs_0``..., ``intercepts_0``...).

    ``forward`` returns the output layer's pre-activation (the logits), with dropout between
    hidden layers in training mode; the fused losses and the estimators' output activations
    work from those.

    >>> import numpy as np
    >>> coefs, intercepts = init_layers([4, 3, 2], "tanh", np.random.RandomState(0), np.float64)
    >>> net = Network(coefs, intercepts, "tanh")
    >>> net(np.ones((5, 4))).shape
    (5, 2)
    >>> net.weights[0].data.base is coefs[0].base  # a view: no copy was made
    True
    """

    def __init__(self, coefs, intercepts, activation: str, dropout: float = 0.0,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.weights = [Parameter(c.T) for c in coefs]
        self.biases = [Parameter(b) for b in intercepts]
        self.params = self.weights + self.biases  # scikit-learn's order: coefs_ + intercepts_
        for kind, params in (("coefs", self.weights), ("intercepts", self.biases)):
            for i, p in enumerate(params):
                self.register_parameter(f"{kind}_{i}", p)
        self.activation = HIDDEN_ACTIVATIONS[activation]
        self.dropout, self.rng = dropout, rng

    def forward(self, x):
        """Logits for the rows of ``x`` (dropout between hidden layers in training mode)."""
        h = x
        last = len(self.weights) - 1
        activation, dropout = self.activation, self.dropout if self.training else 0.0
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = F.linear(h, w, b)
            if i < last:
                if activation is not None:
                    h = activation(h)
                if dropout:
                    h = F.dropout(h, dropout, True, self.rng)
        return h
