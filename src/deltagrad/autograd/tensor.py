"""``Tensor``: an array plus what reverse-mode autodiff needs (the node that made it).

Every operator and method here is a one-line call of ``apply`` (``recording.py``) with an
op from ``ops/``; the maths of each op, forward and backward, is in that op's class.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _config
from ..backend import (Device, array_module, as_array, as_device, device_of, dtype_in,
                       host_dtype, is_array, kind, mixed_devices, to_device, to_host)
from . import engine
from .arrays import astype
from .display import tensor_html
from .function import Function
from .in_place import update, warn_not_a_leaf
from .ops import elementwise as ew
from .ops import index as ix
from .ops import linalg, reduce
from .ops import shape as shape_ops
from .recording import apply


def _array(x, like):
    """An operand as the op will see it: a Tensor stays, lists become arrays on the device of
    ``like`` (the Tensor they meet)."""
    if isinstance(x, (Tensor, numbers.Number)) or is_array(x):
        return x
    x = np.asarray(x)
    return x if type(like.data) is np.ndarray else to_device(x, like.device)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    >>> import deltagrad as dg
    >>> x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("data", "_grad", "requires_grad", "_node", "__weakref__")
    __array_ufunc__ = None  # ndarray <op> Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__  # == is elementwise, identity stays the hash
    apply = staticmethod(apply)

    def __init__(self, data, requires_grad: bool = False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        array = _to_array(data, dtype)
        if device is not None:
            array = to_device(array, device)
        self.data, self._grad, self._node = array, None, None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, node: Function | None) -> Tensor:
        t = object.__new__(Tensor)
        t.data, t._grad, t.requires_grad, t._node = data, None, node is not None, node
        return t

    # --- properties -------------------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> Device:
        """Where the data lives: ``device('cpu')`` for NumPy, ``device('cuda:0')``, ..."""
        return device_of(self.data)

    def to(self, device) -> Tensor:
        """This tensor on ``device`` (a Device or a name such as ``"cuda"``): itself when it
        is there already, else a copy, through which gradients flow back.

        >>> import deltagrad as dg
        >>> dg.tensor([1.0, 2.0]).to("cpu").device
        device('cpu')
        """
        device = as_device(device)
        if device == self.device:
            return self
        return apply(shape_ops.ToDevice, self, device=device)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def grad(self):
        """What ``backward()`` accumulated into this leaf, or None (a non-leaf warns)."""
        if self._node is not None and self.requires_grad:
            warn_not_a_leaf(self)
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for a tensor not made by a recorded op (its ``.grad`` is filled in)."""
        return self._node is None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (float data only) and return ``self``."""
        if requires_grad and kind(self.data.dtype) not in "fc":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self.data.dtype}; "
                f"create it with float values or dtype=np.float32")
        if not requires_grad and self._node is not None:
            raise ValueError("requires_grad_(False) on a tensor made by an op; use .detach()")
        self.requires_grad = requires_grad
        return self

    # --- autodiff ---------------------------------------------------------------------

    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(leaf) into ``.grad`` of every leaf that requires grad.

        ``grad`` (δ of ``self``) defaults to 1 for a scalar and is required otherwise.
        The graph is freed afterwards.
        """
        if not self.requires_grad:
            raise ValueError(
                "backward() on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran inside dg.no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward() on a tensor of shape {self.shape} needs grad= (an array of "
                    f"that shape); for a loss, reduce it first with .sum() or .mean()")
            seed = array_module(self.data).ones_like(self.data)
        else:
            seed = _seed(self, _data(grad))
            if seed.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {seed.shape} but the tensor has "
                                 f"shape {self.shape}; they must match")
        engine.backward(self, seed)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (no copy)."""
        return Tensor._make(self.data, None)

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array on the host: the array itself for NumPy data (no copy),
        else a copy from the device."""
        return to_host(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors convert to a Python number, "
                             f"got shape {self.shape}")
        return to_host(self.data).item()

    def tolist(self):
        return to_host(self.data).tolist()

    def __array__(self, dtype=None, copy=None):
        # Other libraries decide for their own arrays: CuPy and array-api-strict refuse an
        # implicit copy off a device (use .numpy()), so no hidden copy happens here either.
        data = self.data if type(self.data) is np.ndarray else np.asarray(self.data)
        if copy:
            return np.array(data, dtype=dtype)
        return data if dtype is None else data.astype(dtype, copy=False)

    # --- arithmetic operators (in place: see in_place.py) -----------------------------

    def __iadd__(self, other):
        return update(self, _array(other, self), "+=", self.__add__)

    def __isub__(self, other):
        return update(self, _array(other, self), "-=", self.__sub__)

    def __imul__(self, other):
        return update(self, _array(other, self), "*=", self.__mul__)

    def __itruediv__(self, other):
        return update(self, _array(other, self), "/=", self.__truediv__)

    def __add__(self, other):
        return apply(ew.Add, self, _array(other, self))

    def __radd__(self, other):
        return apply(ew.Add, _array(other, self), self)

    def __sub__(self, other):
        return apply(ew.Sub, self, _array(other, self))

    def __rsub__(self, other):
        return apply(ew.Sub, _array(other, self), self)

    def __mul__(self, other):
        return apply(ew.Mul, self, _array(other, self))

    def __rmul__(self, other):
        return apply(ew.Mul, _array(other, self), self)

    def __truediv__(self, other):
        return apply(ew.Div, self, _array(other, self))

    def __rtruediv__(self, other):
        return apply(ew.Div, _array(other, self), self)

    def __pow__(self, other):
        return apply(ew.Pow, self, _array(other, self))

    def __rpow__(self, other):
        return apply(ew.Pow, _array(other, self), self)

    def __matmul__(self, other):
        return apply(linalg.MatMul, self, _array(other, self))

    def __rmatmul__(self, other):
        return apply(linalg.MatMul, _array(other, self), self)

    def __neg__(self):
        return apply(ew.Neg, self)

    def __pos__(self):
        return self

    # --- comparisons: plain boolean results, no gradient ------------------------------

    def __lt__(self, other):
        return Tensor._make(self.data < _data(other), None)

    def __le__(self, other):
        return Tensor._make(self.data <= _data(other), None)

    def __gt__(self, other):
        return Tensor._make(self.data > _data(other), None)

    def __ge__(self, other):
        return Tensor._make(self.data >= _data(other), None)

    def __eq__(self, other):
        return Tensor._make(as_array(self.data == _data(other)), None)

    def __ne__(self, other):
        return Tensor._make(as_array(self.data != _data(other)), None)

    # --- indexing ---------------------------------------------------------------------

    def __getitem__(self, index):
        return apply(ix.GetItem, self, index=_normalize_index(index, self))

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # --- reductions -------------------------------------------------------------------

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(reduce.Sum, self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(reduce.Mean, self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims: bool = False) -> Tensor:
        """Population variance (ddof = 0)."""
        return apply(reduce.Var, self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(reduce.Max, self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(reduce.Min, self, axis=axis, keepdims=keepdims)

    def logsumexp(self, axis=None, keepdims: bool = False) -> Tensor:
        return apply(reduce.LogSumExp, self, axis=axis, keepdims=keepdims)

    # --- shape ------------------------------------------------------------------------

    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(shape_ops.Reshape, self, shape=shape)

    def transpose(self, *axes) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if axes and (not all(-self.ndim <= a < self.ndim for a in axes)
                     or sorted(a % self.ndim for a in axes) != list(range(self.ndim))):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the "
                             f"{self.ndim} axes of a tensor of shape {self.shape}")
        return apply(shape_ops.Transpose, self, axes=tuple(a % self.ndim for a in axes) or None)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        for axis in (axis1, axis2):
            if not -self.ndim <= axis < self.ndim:
                raise ValueError(f"swapaxes: axis {axis} is out of range for a tensor of "
                                 f"shape {self.shape}")
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return self.transpose(axes)

    def broadcast_to(self, shape) -> Tensor:
        return apply(shape_ops.BroadcastTo, self, shape=tuple(shape))

    # --- elementwise functions --------------------------------------------------------

    def exp(self) -> Tensor:
        return apply(ew.Exp, self)

    def log(self) -> Tensor:
        return apply(ew.Log, self)

    def sqrt(self) -> Tensor:
        return apply(ew.Sqrt, self)

    def abs(self) -> Tensor:
        return apply(ew.Abs, self)

    def tanh(self) -> Tensor:
        return apply(ew.Tanh, self)

    def sigmoid(self) -> Tensor:
        return apply(ew.Sigmoid, self)

    def relu(self) -> Tensor:
        return apply(ew.ReLU, self)

    def clip(self, lo=None, hi=None) -> Tensor:
        if lo is None and hi is None:
            raise ValueError("clip: give lo, hi or both")
        return apply(ew.Clip, self, lo=lo, hi=hi)

    def matmul(self, other) -> Tensor:
        return self @ other

    def __repr__(self) -> str:
        body = np.array2string(to_host(self.data), separator=", ", prefix="tensor(")
        extras = ""
        dtype = host_dtype(self.data.dtype)
        if dtype != _config.get_default_dtype() and dtype.kind == "f":
            extras += f", dtype={dtype}"
        if type(self.data) is not np.ndarray:
            extras += f", device='{self.device}'"
        if self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    def _repr_html_(self) -> str:  # how Jupyter shows a tensor
        return tensor_html(self)


def _normalize_index(index, tensor: Tensor):
    """Tensors and lists inside an index become arrays (lists on ``tensor``'s device)."""
    if isinstance(index, tuple):
        return tuple(_normalize_index_part(p, tensor) for p in index)
    return _normalize_index_part(index, tensor)


def _normalize_index_part(part, tensor: Tensor):
    if isinstance(part, Tensor):
        return part.data
    if isinstance(part, list):
        return _array(part, tensor)
    return part


def _seed(t: Tensor, grad):
    """The δ given to ``backward`` as an array of ``t``'s dtype, on ``t``'s device."""
    if not is_array(grad):
        grad = _array(np.asarray(grad, dtype=host_dtype(t.dtype)), t)
    mixed = mixed_devices((t.data, grad))
    if mixed is not None:
        raise ValueError(f"backward(): grad is on {mixed[1]} but the tensor on {mixed[0]}; "
                         f"move it with .to(...) first")
    return grad if grad.dtype == t.dtype else astype(as_array(grad), t.dtype)


def _to_array(data, dtype=None):
    """``data`` as an array: a given dtype casts; Python floats take the default float dtype.
    An array keeps its library and device."""
    if is_array(data):
        data = as_array(data)
        if dtype is None or type(data) is np.ndarray:
            return data if dtype is None else np.asarray(data, dtype=dtype)
        return astype(data, dtype_in(array_module(data), dtype), copy=False)
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype == np.float64:  # came from Python floats: use the default float dtype
        array = array.astype(_config.get_default_dtype(), copy=False)
    elif array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(NumPy sees dtype {array.dtype})")
    return array


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """Wrap array-like data in a Tensor.

    A given ``dtype`` casts. Otherwise NumPy arrays keep their dtype (no copy), Python
    floats become the default float dtype (float32 unless changed) and Python ints and
    bools keep NumPy's integer and bool dtypes. An array of another array-API library
    (CuPy, array-api-strict, ...) keeps its library and device; ``device`` (a Device or a
    name such as ``"cuda"``) moves the data there.

    >>> import deltagrad as dg
    >>> dg.tensor([[1.0, 2.0]]).dtype
    dtype('float32')
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def as_tensor(x) -> Tensor:
    """``x`` itself if it is a Tensor, else ``tensor(x)``."""
    return x if isinstance(x, Tensor) else Tensor(x)
