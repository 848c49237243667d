"""Training checkpoints: one ``checkpoint.safetensors`` file, written atomically each epoch.

Arrays (the model's weights, the optimiser's buffers, the best weights early stopping keeps)
are the file's tensors; everything else (epoch, history, learning-rate schedule, random
generator states, settings) is JSON in the safetensors header's metadata, with each array
replaced by ``{"$tensor": "<name>"}``. So a checkpoint is never a pickle, is readable by the
safetensors library, and a crash while writing leaves the previous checkpoint in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..backend import is_array, to_host
from ..io.atomic import atomic_write_bytes
from ..io.errors import ModelFileError
from ..io.jsonio import dumps, loads
from ..io.reading import read_regular_file
from ..io.tensorfile import pack, unpack

CHECKPOINT = "checkpoint.safetensors"
FORMAT = "deltagrad.checkpoint"
FORMAT_VERSION = 1
_REF = "$tensor"


def _extract(value, key: str, tensors: dict):
    """``value`` with each array moved into ``tensors`` under a dotted key (a host copy of
    an array on a device: an optimiser's buffers on a GPU)."""
    if is_array(value) and not isinstance(value, np.generic):
        tensors[key] = to_host(value)
        return {_REF: key}
    if isinstance(value, dict):
        return {str(k): _extract(v, f"{key}.{k}" if key else str(k), tensors)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_extract(v, f"{key}.{i}", tensors) for i, v in enumerate(value)]
    return value


def _insert(value, tensors: dict, filename: str):
    if isinstance(value, dict):
        if len(value) == 1 and _REF in value:
            try:
                return tensors[value[_REF]]
            except (KeyError, TypeError):
                raise ModelFileError(f"{filename}: the state refers to a tensor "
                                     f"{value[_REF]!r} the file does not hold") from None
        return {k: _insert(v, tensors, filename) for k, v in value.items()}
    if isinstance(value, list):
        return [_insert(v, tensors, filename) for v in value]
    return value


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (JSON data and NumPy arrays, nested) to ``path`` atomically."""
    tensors: dict[str, np.ndarray] = {}
    plain = _extract(state, "", tensors)
    header = {"format": FORMAT, "format_version": str(FORMAT_VERSION),
              "state": dumps(plain, "checkpoint state", indent=None)}
    return atomic_write_bytes(path, pack(tensors, metadata=header))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The state saved by ``save_checkpoint``; ``ModelFileError`` if missing or damaged."""
    path = Path(path)
    try:
        data = read_regular_file(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such checkpoint") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: can not be read ({exc.strerror or exc})") from None
    tensors, header = unpack(data, str(path))
    if header.get("format") != FORMAT or "state" not in header:
        raise ModelFileError(f"{path}: not a deltagrad training checkpoint")
    if header.get("format_version") != str(FORMAT_VERSION):
        raise ModelFileError(f"{path}: checkpoint format version "
                             f"{header.get('format_version')!r} is not one this deltagrad "
                             f"reads ({FORMAT_VERSION})")
    state = loads(header["state"], str(path))
    if not isinstance(state, dict):
        raise ModelFileError(f"{path}: the checkpoint state is not a JSON object")
    return _insert(state, tensors, str(path))
