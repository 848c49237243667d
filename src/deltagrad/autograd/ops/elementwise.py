"""Elementwise ops: z = f(a, b) element by element, so each local derivative is
elementwise too and the chain rule is a product. Broadcasting is undone by the engine."""

from __future__ import annotations

import numbers

from numpy import ndarray

from ...backend import array_module, kind
from ..arrays import astype, builds_graph, log, scalar_like
from ..function import OUTPUT, Function


class Add(Function):
    """z = a + b  ->  δa = δz,  δb = δz"""

    __slots__ = ()
    name = "add"
    shape_error = "can not be broadcast together"

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    """z = a - b  ->  δa = δz,  δb = -δz"""

    __slots__ = ()
    name = "sub"
    shape_error = "can not be broadcast together"

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_grad(1) else None)


class Mul(Function):
    """z = a * b  ->  δa = δz * b,  δb = δz * a"""

    __slots__ = ()
    name = "mul"
    shape_error = "can not be broadcast together"
    saves = (0, 1)

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.saved
        return (g * b if self.needs_grad(0) else None,
                g * a if self.needs_grad(1) else None)


class Div(Function):
    """z = a / b  ->  δa = δz / b,  δb = -δz * a / b² = -δz * z / b"""

    __slots__ = ()
    name = "div"
    shape_error = "can not be broadcast together"
    saves = (1, OUTPUT)  # b and z

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        b, z = self.saved
        return (g / b if self.needs_grad(0) else None,
                -g * z / b if self.needs_grad(1) else None)


class Neg(Function):
    """z = -a  ->  δa = -δz"""

    __slots__ = ()
    name = "neg"

    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """z = a ** b  ->  δa = δz * b * a^(b-1),  δb = δz * z * ln a"""

    __slots__ = ()
    name = "pow"
    shape_error = "can not be broadcast together"
    saves = (0, 1, OUTPUT)

    def forward(self, a, b):
        return a**b

    def backward(self, g):
        a, b, z = self.saved
        if isinstance(a, numbers.Number):  # a NumPy float64 log(a) would widen δb (NEP 50)
            a = scalar_like(z, a)  # (and on another library's device, not be NumPy at all)
        ga = g * b * a ** (b - 1) if self.needs_grad(0) else None
        gb = g * z * log(a) if self.needs_grad(1) else None
        return ga, gb


class Exp(Function):
    """z = e^a  ->  δa = δz * z  (the output is its own derivative)"""

    __slots__ = ()
    name = "exp"
    saves = (OUTPUT,)

    def forward(self, a):
        return array_module(a).exp(a)

    def backward(self, g):
        (z,) = self.saved
        return g * z


class Log(Function):
    """z = ln a  ->  δa = δz / a"""

    __slots__ = ()
    name = "log"
    saves = (0,)

    def forward(self, a):
        return array_module(a).log(a)

    def backward(self, g):
        (a,) = self.saved
        return g / a


class Sqrt(Function):
    """z = √a  ->  δa = δz / (2 z)"""

    __slots__ = ()
    name = "sqrt"
    saves = (OUTPUT,)

    def forward(self, a):
        return array_module(a).sqrt(a)

    def backward(self, g):
        (z,) = self.saved
        return g / (2 * z)


class Abs(Function):
    """z = |a|  ->  δa = δz * sign(a)  (0 at a = 0, as PyTorch)"""

    __slots__ = constants = ("sign",)  # piecewise constant: no derivative of its own
    name = "abs"

    def forward(self, a):
        xp = array_module(a)
        self.sign = xp.sign(a)
        return xp.abs(a)

    def backward(self, g):
        return g * self.sign


class Tanh(Function):
    """z = tanh a  ->  δa = δz * (1 - z²)"""

    __slots__ = ()
    name = "tanh"
    saves = (OUTPUT,)

    def forward(self, a):
        return array_module(a).tanh(a)

    def backward(self, g):
        (z,) = self.saved
        return g * (1 - z * z)


class Sigmoid(Function):
    """z = 1 / (1 + e^-a)  ->  δa = δz * z * (1 - z)"""

    __slots__ = ()
    name = "sigmoid"
    saves = (OUTPUT,)

    def forward(self, a):
        xp = array_module(a)
        # e^-|a| never overflows; pick the algebraically equal form that does not cancel.
        e = xp.exp(-xp.abs(a))
        r = 1 / (1 + e)
        return xp.where(a >= 0, r, e * r)

    def backward(self, g):
        (z,) = self.saved
        return g * z * (1 - z)


class ReLU(Function):
    """z = max(a, 0)  ->  δa = δz where a > 0, else 0"""

    __slots__ = ()
    name = "relu"
    saves = (OUTPUT,)  # z > 0 exactly where a > 0, and z is usually kept alive anyway

    def forward(self, a):
        return array_module(a).maximum(a, 0)

    def backward(self, g):
        (z,) = self.saved
        return masked(g, z > 0)


class Clip(Function):
    """z = min(max(a, lo), hi)  ->  δa = δz inside [lo, hi], else 0"""

    __slots__ = constants = ("inside",)  # a mask: no derivative of its own
    name = "clip"

    def forward(self, a, lo=None, hi=None):
        above, below = (a >= lo if lo is not None else None), (a <= hi if hi is not None else None)
        self.inside = below if above is None else above if below is None else above & below
        return array_module(a).clip(a, lo, hi)

    def backward(self, g):
        return masked(g, self.inside)


class Where(Function):
    """z = cond ? a : b  ->  δa = δz where cond, δb = δz elsewhere (cond is a constant)"""

    __slots__ = constants = ("cond",)
    name = "where"

    def forward(self, a, b, cond):
        self.cond = cond
        return array_module(cond).where(cond, a, b)

    def describe_error(self, arrays, error):
        a, b = (tuple(getattr(x, "shape", ())) for x in arrays)
        return (f"where: condition of shape {self.cond.shape} and values of shapes {a} and {b} "
                f"can not be broadcast together")

    def backward(self, g):
        return (where(self.cond, g, 0) if self.needs_grad(0) else None,
                where(self.cond, 0, g) if self.needs_grad(1) else None)


def where(cond, a, b):
    """``where`` for backward rules: on arrays it is the array library's, on Tensors an op.
    ``cond`` is a boolean array (or a Tensor of one, made by a comparison)."""
    if builds_graph(cond):
        cond = cond.data
    if builds_graph(a) or builds_graph(b):
        graph_value = a if builds_graph(a) else b
        return graph_value.apply(Where, a, b, cond=cond)
    return array_module(cond).where(cond, a, b)


def masked(g, mask):
    """``g`` where ``mask`` holds, 0 elsewhere: a product on NumPy arrays (fastest there),
    ``where`` on other libraries (the standard multiplies no booleans) and on Tensors."""
    if type(g) is ndarray:
        return g * mask
    return where(mask, g, 0)


def _share_of_a(wins, ties, dtype):
    """1 where a wins, 0.5 on a tie, 0 where b wins: a's share of the upstream gradient
    (an integer result has no gradient, and no share)."""
    if kind(dtype) != "f":
        return None
    return astype(wins, dtype) + astype(ties, dtype) * 0.5


class Maximum(Function):
    """z = max(a, b) elementwise  ->  the larger input gets δz; a tie splits it evenly"""

    __slots__ = constants = ("share_a",)  # which input won is piecewise constant
    name = "maximum"
    shape_error = "can not be broadcast together"

    def forward(self, a, b):
        z = array_module(a).maximum(a, b)
        self.share_a = _share_of_a(a > b, a == b, z.dtype)
        return z

    def backward(self, g):
        return g * self.share_a, g * (1 - self.share_a)


class Minimum(Function):
    """z = min(a, b) elementwise  ->  the smaller input gets δz; a tie splits it evenly"""

    __slots__ = constants = ("share_a",)
    name = "minimum"
    shape_error = "can not be broadcast together"

    def forward(self, a, b):
        z = array_module(a).minimum(a, b)
        self.share_a = _share_of_a(a < b, a == b, z.dtype)
        return z

    def backward(self, g):
        return g * self.share_a, g * (1 - self.share_a)
