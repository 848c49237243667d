"""JSON in and out for model configs and checkpoints: exact floats, NaN and infinity kept.

Python writes floats with ``repr``, which reads back to the same bits. Standard JSON has no
NaN or infinity (a training history may hold them), so those are written as
``{"$float": "nan"}`` and read back as floats. NumPy scalars and arrays become plain numbers
and lists. Nothing here ever builds an object other than dicts, lists, strings and numbers.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .errors import ModelFileError

_TAG = "$float"


def _plain(value, where: str):
    """``value`` as plain JSON data, or a ValueError naming where the bad item sits."""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {_TAG: repr(value)}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {key!r}")
            out[key] = _plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where}: a {type(value).__name__} can not be stored as JSON (use "
                     f"numbers, strings, bools, None, lists and dicts)")


def dumps(value, where: str = "value", indent: int | None = 2) -> str:
    """JSON text for ``value``; a TypeError names the first item JSON can not hold.

    >>> dumps({"best": float("inf"), "n": 3}, indent=None)
    '{"best": {"$float": "inf"}, "n": 3}'
    """
    return json.dumps(_plain(value, where), indent=indent, allow_nan=False)


def _decode(obj: dict):
    if len(obj) == 1 and _TAG in obj:
        text = obj[_TAG]
        if text not in ("nan", "inf", "-inf"):
            raise ValueError(f"unknown {_TAG} value {text!r}")
        return float(text)
    return obj


def _no_constants(name: str):
    raise ValueError(f"bare {name} is not JSON")


#: JSON nested deeper than this is refused: no config or checkpoint comes near it, and the
#: readers of a parsed config (architecture, checkpoint state) walk it recursively.
MAX_DEPTH = 200


def _deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack += [(v, depth + 1) for v in children if isinstance(v, (dict, list))]
    return False


def loads(text: str | bytes, filename: str) -> object:
    """Parse JSON written by ``dumps``; anything else (or anything nested more than
    ``MAX_DEPTH`` levels deep) raises ``ModelFileError`` naming the file.

    >>> loads('{"best": {"$float": "-inf"}}', "state.json")
    {'best': -inf}
    """
    try:
        value = json.loads(text, object_hook=_decode, parse_constant=_no_constants)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{filename}: not valid JSON ({_short(exc)})") from None
    if _deeper_than(value, MAX_DEPTH):
        raise ModelFileError(f"{filename}: JSON nested more than {MAX_DEPTH} levels deep")
    return value


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
