"""deltagrad: backpropagation you can read line by line, at the speed of the BLAS underneath.

>>> import numpy as np, deltagrad as dg
>>> w = dg.tensor([[0.5, -1.0]], requires_grad=True)
>>> loss = ((w @ np.array([[2.0], [1.0]])) ** 2).sum()
>>> loss.backward()
>>> w.grad
array([[0., 0.]], dtype=float32)
"""

from ._config import get_default_dtype, manual_seed, set_default_dtype
from .backend import Device, device
from .autograd import (Function, GradcheckError, Tensor, abs, as_tensor, clip, concatenate,
                       enable_grad, exp, grad, gradcheck, hessian, jacobian, log, logsumexp,
                       matmul, max, maximum, mean, min, minimum, no_grad, relu, reshape, sigmoid,
                       sqrt, stack, sum, tanh, tensor, transpose, var, where)

from . import data, nn, optim, train
from .autograd import detect_anomaly
from .io import load, load_metadata, load_state_dict, save
from .export import export_onnx  # onnx itself is imported only when exporting
# Seeing backprop: dg.explain(loss) and dg.viz.draw(loss). NumPy only at import; the graphviz
# package is imported only when a picture is drawn.
from . import viz
from .viz import explain

__version__ = "0.1.0"

__all__ = [
    "Function", "GradcheckError", "Tensor", "data", "nn", "optim", "train", "abs", "as_tensor", "clip", "concatenate",
    "enable_grad", "exp", "get_default_dtype", "grad", "gradcheck", "hessian", "jacobian", "log",
    "logsumexp", "manual_seed", "matmul", "max", "maximum", "mean", "min", "minimum", "no_grad",
    "relu", "reshape", "set_default_dtype", "sigmoid", "sqrt", "stack", "sum", "tanh", "tensor",
    "transpose", "var", "where",
]
__all__ += ["Device", "device"]
__all__ += ["detect_anomaly", "load", "load_metadata", "load_state_dict", "save"]
__all__ += ["export_onnx"]
__all__ += ["explain", "viz"]
