"""Neural networks: ``Module`` and ``Parameter``, layers, losses, initialisers.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad import nn
>>> from deltagrad.nn import functional as F
>>> model = nn.MLP(2, [8], 3, rng=np.random.default_rng(0))
>>> loss = F.cross_entropy(model(np.zeros((4, 2), np.float32)), np.array([0, 1, 2, 0]))
>>> loss.backward()
>>> model.layers[0].weight.grad.shape
(8, 2)
"""

from . import functional, init
from .layers import (GELU, MLP, Dropout, Embedding, Flatten, Identity, LeakyReLU, Linear,
                     LogSoftmax, ReLU, Residual, Sequential, Sigmoid, Softmax, Tanh)
from .loss_modules import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss,
                           MSELoss, NLLLoss)
from .module import LoadResult, Module, Parameter
from .normalization import BatchNorm1d, LayerNorm

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "CrossEntropyLoss", "Dropout", "Embedding",
    "Flatten", "GELU", "HuberLoss", "Identity", "L1Loss", "LayerNorm", "LeakyReLU", "Linear",
    "LoadResult", "LogSoftmax", "MLP", "MSELoss", "Module", "NLLLoss", "Parameter", "ReLU",
    "Residual", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
]
