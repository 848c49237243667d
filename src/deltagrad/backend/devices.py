"""Devices: where an array lives, named once, and the one way arrays move between them.

A ``Device`` is a pair: the namespace of an array library (``array_module`` gives the
same one for that library's arrays) and that library's own device object. ``device("cpu")``
is NumPy on the host; ``device("cuda")`` / ``device("cuda:1")`` is CuPy on a GPU;
``device(xp, dev)`` is any array-API namespace and one of its devices. Strings are
accepted wherever a device is (``as_device``).

Moving (``to_device``) keeps an array when it is already there, asks the library to copy it
between two of its own devices, and otherwise goes through the host: NumPy on one side,
the standard's ``asarray`` (or CuPy's ``asarray`` / ``.get()``) on the other. Nothing else
in deltagrad copies between devices; in particular no op does so silently.
"""

from __future__ import annotations

import functools

import numpy as np

from .namespaces import array_module, is_array

_CUPY_MISSING = ("device {name!r} needs CuPy, which is not installed; install deltagrad with "
                 "the extra for your CUDA version: pip install 'deltagrad[cuda12]' (or "
                 "'deltagrad[cuda13]')")


class Device:
    """An array library and one of its devices (see ``device``).

    >>> import deltagrad as dg
    >>> dg.device("cpu")
    device('cpu')
    >>> dg.device("cpu") == "cpu"
    True
    """

    __slots__ = ("xp", "native", "name")

    def __init__(self, xp, native, name: str):
        self.xp, self.native, self.name = xp, native, name

    def __eq__(self, other) -> bool:
        # The name says both the library and the device ("cuda:1", "array_api_strict:device1").
        if isinstance(other, str):
            return self.name == other or (other == "cuda" and self.name == "cuda:0")
        return isinstance(other, Device) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"device({self.name!r})"

    def __str__(self) -> str:
        return self.name


CPU = Device(np, "cpu", "cpu")


def device(name_or_namespace, device=None) -> Device:
    """A device: ``"cpu"`` (NumPy), ``"cuda"`` / ``"cuda:N"`` (CuPy, GPU N), or an
    array-API namespace and one of its devices (its default device when ``device`` is
    None), e.g. ``device(array_api_strict, array_api_strict.Device("device1"))``.

    >>> import deltagrad as dg
    >>> dg.device("cpu").name
    'cpu'
    """
    if isinstance(name_or_namespace, Device):
        return name_or_namespace
    if isinstance(name_or_namespace, str):
        if device is not None:
            raise TypeError(f"device: a second argument goes with a namespace, not with the "
                            f"name {name_or_namespace!r}")
        return _named(name_or_namespace)
    xp = name_or_namespace
    module = getattr(xp, "__name__", "")
    if not hasattr(xp, "asarray"):
        raise TypeError(f"device: expected a device name such as 'cpu' or 'cuda:0', or an "
                        f"array API namespace, got {type(xp).__name__}")
    if xp is np or module == "array_api_compat.numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"device: NumPy has only the device 'cpu', got {device!r}")
        return CPU
    if module in ("cupy", "array_api_compat.cupy"):
        return _cuda(0 if device is None else getattr(device, "id", device))
    if device is None:
        device = xp.__array_namespace_info__().default_device()
    return Device(xp, device, f"{module}:{_short(device)}")


def _short(native) -> str:
    """A library's device as a short word: ``Device('device1')`` -> ``device1``."""
    text = str(native)
    if "'" in text:
        return text.split("'")[1]
    return text


def _named(name: str) -> Device:
    if name == "cpu":
        return CPU
    kind, _, number = name.partition(":")
    if kind == "cuda" and (not number or number.isdigit()):
        return _cuda(int(number or 0))
    raise ValueError(f"device: unknown device {name!r}; use 'cpu', 'cuda' or 'cuda:N' (N the "
                     f"GPU's number), or dg.device(namespace, device) for another library")


# One Device per GPU, checked once: a name may be given per batch (dg.tensor(x, device="cuda")).
@functools.cache
def _cuda(index: int) -> Device:
    try:
        import cupy  # only for a CUDA device: CuPy is an optional extra
    except ImportError:
        raise ImportError(_CUPY_MISSING.format(name=f"cuda:{index}")) from None
    import array_api_compat.cupy as xp

    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError:  # no driver, or no GPU
        count = 0
    if not count:
        raise ValueError(f"device: cuda:{index} asked for, but CuPy sees no GPU on this machine")
    if not 0 <= int(index) < count:
        raise ValueError(f"device: no GPU cuda:{index}; this machine has {count} (cuda:0 to "
                         f"cuda:{count - 1})")
    return Device(xp, cupy.cuda.Device(int(index)), f"cuda:{int(index)}")


def as_device(value) -> Device:
    """``value`` as a Device: a Device, a name such as ``"cuda:1"``."""
    if isinstance(value, Device):
        return value
    if isinstance(value, str):
        return _named(value)
    raise TypeError(f"expected a device such as 'cpu', 'cuda' or dg.device(...), got "
                    f"{type(value).__name__}")


def device_of(x) -> Device:
    """The device an array lives on (the host, ``cpu``, for NumPy arrays and numbers)."""
    if type(x) is np.ndarray:  # the common case first: optimisers ask once per parameter
        return CPU
    xp = array_module(x)
    if xp is np:
        return CPU
    native = x.device
    if getattr(xp, "__name__", "") == "array_api_compat.cupy":
        return Device(xp, native, f"cuda:{native.id}")
    return Device(xp, native, f"{xp.__name__}:{_short(native)}")


def to_device(x, target) -> object:
    """``x`` (an array, or array-like data) on device ``target``: ``x`` itself when it is
    there already, else a copy."""
    target = as_device(target)
    if not is_array(x):
        x = np.asarray(x)
    source = array_module(x)
    if source is target.xp:
        return _within(x, target)
    host = to_host(x)
    if target.xp is np:
        return host
    if target.name.startswith("cuda"):
        with target.native:
            return target.xp.asarray(host)
    return target.xp.asarray(host, device=target.native)


def _within(x, target: Device):
    """A copy of ``x`` on another device of its own library (or ``x`` when already there)."""
    if target.xp is np:
        return np.asarray(x)
    if device_of(x) == target:
        return x
    if target.name.startswith("cuda"):
        with target.native:  # CuPy's copy allocates on the current GPU, reading the other
            return x.copy()
    return x.to_device(target.native)


def to_host(x) -> np.ndarray:
    """``x`` as a NumPy array on the host: ``x`` itself when it is one, else a copy."""
    if isinstance(x, (np.ndarray, np.generic)) or not is_array(x):
        return np.asarray(x)
    if hasattr(x, "get"):  # CuPy
        return x.get()
    try:
        return np.from_dlpack(x)  # the standard's interchange: no copy where one is not needed
    except (BufferError, RuntimeError, TypeError, ValueError):
        import array_api_compat  # only for such an array

        return np.asarray(array_api_compat.to_device(x, "cpu"))


def mixed_devices(arrays) -> tuple[Device, Device] | None:
    """Two different devices among ``arrays`` (Python numbers ignored), or None."""
    first = None
    for a in arrays:
        if not is_array(a):
            continue
        where = device_of(a)
        if first is None:
            first = where
        elif where != first:
            return first, where
    return None
