"""Reverse-mode automatic differentiation on NumPy arrays."""

from .anomaly import AnomalyError, detect_anomaly
from .function import OUTPUT, Function
from .functional import grad, hessian, jacobian
from .functions import (abs, clip, concatenate, exp, log, logsumexp, matmul, max, maximum, mean,
                        min, minimum, relu, reshape, sigmoid, sqrt, stack, sum, tanh, transpose,
                        var, where)
from .gradcheck import GradcheckError, gradcheck
from .recording import HigherOrderError, enable_grad, no_grad
from .tensor import Tensor, as_tensor, tensor

__all__ = [
    "AnomalyError", "detect_anomaly", "HigherOrderError", "OUTPUT",
    "Function", "GradcheckError", "Tensor", "abs", "as_tensor", "clip", "concatenate",
    "enable_grad", "exp", "grad", "gradcheck", "hessian", "jacobian", "log", "logsumexp",
    "matmul", "max", "maximum", "mean", "min", "minimum", "no_grad", "relu", "reshape",
    "sigmoid", "sqrt", "stack", "sum", "tanh", "tensor", "transpose", "var", "where",
]
