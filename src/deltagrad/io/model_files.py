"""Model folders: ``model.safetensors`` (the ``state_dict``) and ``config.json`` (the
architecture, a manifest of the tensors, a checksum of the weights, the user's metadata).

Nothing is ever unpickled. Loading checks everything before a model is built: the config is
valid JSON of the expected shape and format version; the weights file is valid safetensors,
matches the checksum the config recorded, and holds exactly the tensors the manifest lists;
and the architecture implies exactly those names and shapes. Any failure is one
``ModelFileError`` line naming the file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .. import nn
from ..backend import as_device
from .architecture import build, describe, tensor_shapes
from .atomic import atomic_write_bytes, atomic_write_text
from .errors import ModelFileError
from .jsonio import dumps, loads
from .reading import read_regular_file
from .tensorfile import pack, unpack

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "deltagrad.model"
FORMAT_VERSION = 1
_DTYPES = ("float16", "float32", "float64", "int64")  # int64: counts kept as buffers


def _folder(path, fn: str) -> Path:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def save(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save ``model`` as a folder: ``model.safetensors`` and ``config.json``; return the path.

    ``metadata`` is any JSON-serialisable dict (a fitted scaler, class labels, settings);
    NumPy numbers and arrays are turned into plain numbers and lists, NaN and infinity are
    kept. Each file is written atomically, so an interrupted save never leaves a damaged
    file in place of a good one. A model made only of built-in layers can be rebuilt by
    ``dg.load``; any other ``Module`` keeps its weights, loaded with
    ``model.load_state_dict(dg.load_state_dict(path))``.

    >>> import tempfile, numpy as np, deltagrad as dg
    >>> from deltagrad import nn
    >>> folder = dg.save(nn.MLP(4, [8], 3), tempfile.mkdtemp() + "/iris", {"classes": ["a"]})
    >>> dg.load(folder).hidden_sizes, dg.load_metadata(folder)
    ((8,), {'classes': ['a']})
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"save: model must be an nn.Module, got {type(model).__name__}")
    folder = _folder(path, "save")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"save: metadata must be a dict or None, got {type(metadata).__name__}")
    meta_json = dumps(metadata or {}, "save: metadata")  # fail before writing anything
    state = model.state_dict()
    for name, array in state.items():
        if array.dtype.name not in _DTYPES:
            raise ValueError(f"save: tensor {name!r} has dtype {array.dtype}; model files "
                             f"hold {', '.join(_DTYPES)}")
    weights = pack(state, metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "architecture": describe(model),
        "tensors": {name: {"shape": list(a.shape), "dtype": a.dtype.name}
                    for name, a in state.items()},
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "metadata": "__METADATA__",
    }
    text = dumps(config).replace('"__METADATA__"', meta_json.replace("\n", "\n  "))
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"save: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    # Weights first: a crash between the two writes leaves a config whose checksum no longer
    # matches, which load refuses clearly, rather than a config pointing at old weights.
    atomic_write_bytes(folder / WEIGHTS, weights)
    atomic_write_text(folder / CONFIG, text + "\n")
    return folder


def _read(path: Path, what: str) -> bytes:
    try:
        return read_regular_file(path)
    except FileNotFoundError:
        if not path.parent.exists():
            raise ModelFileError(f"{path.parent}: no such model folder") from None
        raise ModelFileError(f"{path.parent}: not a model folder (no {what})") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a folder, expected a file") from None
    except NotADirectoryError:
        raise ModelFileError(f"{path.parent}: is a file, expected a model folder") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: can not be read ({exc.strerror or exc})") from None


def _config(folder: Path) -> dict:
    where = folder / CONFIG
    config = loads(_read(where, CONFIG), str(where))
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{where}: not a deltagrad model config (no \"format\": "
                             f"\"{FORMAT}\")")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{where}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{where}: format version {version} was written by a newer "
                             f"deltagrad; this one reads version {FORMAT_VERSION} (upgrade it)")
    for key, kind in (("tensors", dict), ("metadata", dict)):
        if not isinstance(config.get(key), kind):
            raise ModelFileError(f"{where}: '{key}' must be a JSON object")
    for name, entry in config["tensors"].items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if (not isinstance(shape, list)
                or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                           for n in shape)
                or entry.get("dtype") not in _DTYPES):
            raise ModelFileError(f"{where}: tensor {name!r} needs a 'shape' (list of sizes) "
                                 f"and a 'dtype' ({', '.join(_DTYPES)}), got {entry!r}"[:300])
    return config


def load_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` dict saved with the model in folder ``path`` (weights not read).

    Raises ``ModelFileError`` if ``config.json`` is missing or invalid.
    """
    return _config(_folder(path, "load_metadata"))["metadata"]


def _weights(folder: Path, config: dict) -> dict[str, np.ndarray]:
    where = folder / WEIGHTS
    data = _read(where, WEIGHTS)
    tensors, _ = unpack(data, str(where))
    checksum = config.get("weights_sha256")
    if checksum is not None and hashlib.sha256(data).hexdigest() != checksum:
        raise ModelFileError(f"{where}: its contents do not match the checksum in {CONFIG}; "
                             f"the file was changed or damaged after it was saved")
    manifest = config["tensors"]
    missing = [n for n in manifest if n not in tensors]
    extra = [n for n in tensors if n not in manifest]
    if missing or extra:
        parts = ([f"lacks {missing}"] if missing else []) + ([f"has unlisted {extra}"]
                                                              if extra else [])
        raise ModelFileError(f"{where}: does not match {CONFIG}: it {' and '.join(parts)}")
    for name, entry in manifest.items():
        array = tensors[name]
        if list(array.shape) != entry["shape"] or array.dtype.name != entry["dtype"]:
            raise ModelFileError(f"{where}: tensor {name!r} has shape {array.shape} and dtype "
                                 f"{array.dtype}, but {CONFIG} says {tuple(entry['shape'])} "
                                 f"and {entry['dtype']}")
    return {name: tensors[name] for name in manifest}  # in the model's order


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The saved weights as ``{dotted name: array}``, checked against ``config.json``; or,
    when ``path`` is a ``.safetensors`` file rather than a model folder (one PyTorch wrote
    with ``safetensors.torch.save_file(model.state_dict(), path)``, say), the tensors in it.

    For a model of your own ``Module`` subclass: build it, then
    ``model.load_state_dict(dg.load_state_dict(path))``.
    """
    folder = _folder(path, "load_state_dict")
    if folder.is_file():
        return unpack(_read(folder, folder.name), str(folder))[0]
    return _weights(folder, _config(folder))


def load(path: str | os.PathLike, device=None) -> nn.Module:
    """Rebuild the model saved in folder ``path`` and load its weights; it comes back in
    ``eval()`` mode (call ``.train()`` to train it further), on the host or, given
    ``device`` (a Device or a name such as ``"cuda"``), there. Model files always hold host
    arrays, so a model saved from any device loads onto any other.

    Works for models made of built-in layers (``Linear``, ``MLP``, ``Sequential`` of layers,
    activations, ``Dropout``, ``Embedding``, ``Flatten``). Raises ``ModelFileError`` for a
    missing, damaged or inconsistent folder, and for the weights of a custom ``Module``
    subclass, which must be loaded into a model you build yourself.
    """
    folder = _folder(path, "load")
    config = _config(folder)
    where = folder / CONFIG
    spec = config.get("architecture")
    if spec is None:
        raise ModelFileError(
            f"{folder}: holds the weights of a custom module ({config.get('model_class')}), "
            f"which dg.load can not rebuild; build the model in your code and call "
            f"model.load_state_dict(dg.load_state_dict({str(folder)!r}))")
    try:
        implied = tensor_shapes(spec)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: bad architecture: {exc}") from None
    manifest = config["tensors"]
    for name, shape in implied.items():
        listed = manifest.get(name)
        if listed is None:
            raise ModelFileError(f"{where}: the architecture has tensor {name!r} of shape "
                                 f"{shape}, but the tensor list lacks it")
        if tuple(listed["shape"]) != shape:
            raise ModelFileError(f"{where}: the architecture gives {name!r} shape {shape}, but "
                                 f"the tensor list says {tuple(listed['shape'])}")
    unused = [name for name in manifest if name not in implied]
    if unused:
        raise ModelFileError(f"{where}: tensors {unused} belong to no layer of the "
                             f"architecture")
    state = _weights(folder, config)
    try:
        model = build(spec, np.random.default_rng(0))
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where}: bad architecture: {exc}") from None
    dtypes = {a.dtype for a in state.values() if a.dtype.kind == "f"}
    if len(dtypes) == 1:
        model.to(dtypes.pop())
    model.load_state_dict(state)
    if device is not None:
        model.to(as_device(device))
    return model.eval()
