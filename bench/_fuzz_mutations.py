"""Ways to damage a model folder or a checkpoint, for ``fuzz_model_files.py``.

Each mutation takes a case folder (a fresh copy of a valid one), the name of the file to
damage, a ``numpy.random.Generator`` and the folder of sentinel files outside the case, and
changes the case in place. It returns a short label of what it did, kept with the case so a
failure can be reproduced from the seed alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

SAFETENSORS = ("model.safetensors", "checkpoint.safetensors")

# Values a hostile file might put anywhere a number, string or object is expected.
WEIRD = [
    2 ** 64, 2 ** 64 - 1, 2 ** 63, -2 ** 63, 2 ** 31, -1, 0, 1, 7, 10 ** 30, 1e308, -1e308,
    0.5, -0.0, True, False, None, "", "x", "\u00e9\u4e2d", "\ud800", "a" * 100_000, [], {},
    [0], [-1], [2 ** 62, 2 ** 62], [1] * 10_000, {"$float": "nan"}, {"$float": "bogus"},
    {"$tensor": "nope"}, {"type": "Linear"}, "os.system", "__import__('os').system('id')",
    "builtins.eval", "subprocess.Popen", "../../../etc/passwd", "/dev/zero", "MLP",
    "Sequential", "Linear", "float64", "int64", "bfloat16", "F32", "BF16", "nan", "inf",
]
LAYER_NAMES = ["MLP", "Linear", "Sequential", "Embedding", "Dropout", "Flatten", "GELU",
               "Softmax", "ReLU", "Conv2d", "torch.nn.Linear", "os.system",
               "deltagrad.nn.Linear", "__main__.Evil", "builtins.exec", ""]


_DEEP = "@deep:"


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


# --- raw bytes ----------------------------------------------------------------------------


def flip_bits(data: bytes, rng) -> tuple[bytes, str]:
    if not data:
        return data, "flip(empty)"
    buf = bytearray(data)
    n = int(rng.integers(1, 9))
    # Half the flips land in the first 200 bytes, where the headers are.
    for _ in range(n):
        limit = min(len(buf), 200) if rng.random() < 0.5 else len(buf)
        i = int(rng.integers(limit))
        buf[i] ^= 1 << int(rng.integers(8))
    return bytes(buf), f"flip{n}"


def truncate(data: bytes, rng) -> tuple[bytes, str]:
    keep = int(rng.integers(len(data) + 1)) if rng.random() < 0.7 else _pick(
        rng, [0, 1, 7, 8, 9, max(0, len(data) - 1)])
    return data[:keep], f"truncate{keep}"


def extend(data: bytes, rng) -> tuple[bytes, str]:
    extra = rng.bytes(int(rng.integers(1, 4096)))
    return (data + extra, "append") if rng.random() < 0.5 else (extra + data, "prepend")


def non_utf8(data: bytes, rng) -> tuple[bytes, str]:
    bad = _pick(rng, [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff",
                      b"\x00"])
    i = int(rng.integers(len(data) + 1))
    return data[:i] + bad + data[i:], f"non_utf8@{i}"


# --- the safetensors header ------------------------------------------------------------------


def _split(data: bytes):
    """(header dict, body) of a safetensors file, or None when it does not parse."""
    if len(data) < 8:
        return None
    n = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        return None
    return (header, data[8 + n:]) if isinstance(header, dict) else None


def _join(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + body


def header_length(data: bytes, rng) -> tuple[bytes, str]:
    n = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    value = _pick(rng, [2 ** 64 - 1, 2 ** 64 - 8, 2 ** 63, 2 ** 63 - 1, 2 ** 32, 0, 1, n - 1,
                        n + 1, n + 8, len(data), len(data) - 7, 100_000_000])
    return (value % 2 ** 64).to_bytes(8, "little") + data[8:], f"header_len={value}"


def header_edit(data: bytes, rng) -> tuple[bytes, str]:
    """Lie in the header: offsets past the end or overlapping, wrong dtypes, huge or negative
    shapes, missing or extra fields, odd metadata."""
    parts = _split(data)
    if parts is None:
        return flip_bits(data, rng)
    header, body = parts
    names = [k for k in header if k != "__metadata__"]
    if not names or rng.random() < 0.15:
        meta = header.setdefault("__metadata__", {})
        if isinstance(meta, dict):
            meta[_pick(rng, ["format", "format_version", "state", "x"])] = _pick(rng, WEIRD)
        return _join(header, body), "header_metadata"
    name = _pick(rng, names)
    entry = header[name]
    if not isinstance(entry, dict):
        return _join(header, body), "header_kept"
    field = _pick(rng, ["data_offsets", "dtype", "retype", "shape", "drop", "dup", "entry"])
    if field == "data_offsets":
        other = header[_pick(rng, names)]
        other = other.get("data_offsets", [0, 0]) if isinstance(other, dict) else [0, 0]
        entry["data_offsets"] = _pick(rng, [
            [0, len(body) + 1], [len(body), len(body) + 4], list(other),
            [2 ** 64 - 4, 2 ** 64 - 1], [2 ** 63, 2 ** 63 + 8], [8, 4], [-1, 3], [0],
            [0, 2 ** 64 + 5]])
    elif field == "dtype":
        entry["dtype"] = _pick(rng, ["F64", "F16", "BF16", "I64", "I8", "U8", "BOOL", "F8_E4M3",
                                     "C64", "XX", "", 5])
    elif field == "retype":  # the same bytes read as another dtype, the shape made to fit
        kind, size = _pick(rng, [("BF16", 2), ("F16", 2), ("F8_E4M3", 1), ("F8_E5M2", 1),
                                 ("I32", 4), ("U32", 4), ("I64", 8), ("F64", 8), ("U8", 1),
                                 ("BOOL", 1), ("I16", 2)])
        offsets = entry.get("data_offsets")
        if isinstance(offsets, list) and len(offsets) == 2 \
                and all(isinstance(o, int) for o in offsets):
            entry["dtype"], entry["shape"] = kind, [(offsets[1] - offsets[0]) // size]
    elif field == "shape":
        entry["shape"] = _pick(rng, [[2 ** 31, 2 ** 31], [2 ** 62, 4], [-1], [0], [], [1] * 64,
                                     [2 ** 64 - 1], [3, "4"], "12"])
    elif field == "drop":
        del header[name]
    elif field == "dup":
        header[name + "_copy"] = dict(entry)
    else:
        header[name] = _pick(rng, WEIRD)
    return _join(header, body), f"header_{field}:{name}"


def retensor(data: bytes, rng) -> tuple[bytes, str]:
    """A *valid* safetensors file whose tensors differ from the original's: cast, reshaped,
    dropped, renamed, added, or NaN-filled (the checksum can be made to agree afterwards)."""
    from safetensors.numpy import load, save

    try:
        tensors = load(data)
    except Exception:  # noqa: BLE001  (damaged by an earlier mutation: nothing to rewrite)
        return flip_bits(data, rng)
    parts = _split(data)
    meta = (parts[0].get("__metadata__") if parts else None) or None
    if not tensors:
        tensors["extra"] = np.zeros(3, np.float32)
        return save(tensors, metadata=meta), "retensor_add"
    name = _pick(rng, sorted(tensors))
    array = tensors[name]
    how = _pick(rng, ["cast", "reshape", "drop", "rename", "add", "nan", "huge", "empty"])
    if how == "cast":
        tensors[name] = array.astype(_pick(rng, [np.float64, np.float16, np.int32, np.int64,
                                                  np.uint8, np.bool_]))
    elif how == "reshape":
        tensors[name] = array.reshape(-1) if array.ndim > 1 else array.reshape(1, -1)
    elif how == "drop":
        del tensors[name]
    elif how == "rename":
        tensors[_pick(rng, ["", "x", "../evil", name + ".", "a.b.c"])] = tensors.pop(name)
    elif how == "add":
        tensors[_pick(rng, ["extra", "layers.99.weight", "__metadata__x"])] = np.ones(2)
    elif how == "nan":
        tensors[name] = np.full_like(array, np.nan)
    elif how == "huge":
        tensors[name] = np.zeros((1 << 12, 256), np.float32)  # 4 MB of real data
    else:
        tensors[name] = np.zeros((0,) + array.shape[1:], array.dtype)
    return save(tensors, metadata=meta), f"retensor_{how}:{name}"


# --- JSON (config.json, and a checkpoint's state) ------------------------------------------


def _nodes(value, path=()):
    yield path, value
    if isinstance(value, dict):
        for key, item in list(value.items())[:200]:
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:50]):
            yield from _nodes(item, (*path, i))


def json_edit(value, rng) -> tuple[object, str]:
    """``value`` with one node replaced, removed or added, as a hostile file might."""
    nodes = list(_nodes(value))
    path, node = nodes[int(rng.integers(len(nodes)))]
    how = _pick(rng, ["replace", "replace", "type", "delete", "add", "deep"])
    if how == "type" or (how == "replace" and isinstance(node, dict) and "type" in node):
        if isinstance(node, dict):
            node["type"] = _pick(rng, LAYER_NAMES)
            return value, f"json_type:{'/'.join(map(str, path))}"
        how = "replace"
    if how == "delete" and path:
        parent = _at(value, path[:-1])
        del parent[path[-1]]
        return value, f"json_delete:{'/'.join(map(str, path))}"
    if how == "add" and isinstance(node, (dict, list)):
        if isinstance(node, dict):
            node[_pick(rng, ["type", "shape", "dtype", "__class__", "x", ""])] = _pick(rng, WEIRD)
        else:
            node.append(_pick(rng, WEIRD))
        return value, f"json_add:{'/'.join(map(str, path))}"
    # Deep nesting goes in as a marker that dumps() expands as text: building it as Python
    # lists would only test how deep this script can recurse.
    new = f"{_DEEP}{_pick(rng, [50, 900, 5000, 200_000])}" if how == "deep" else \
        _pick(rng, WEIRD)
    if not path:
        return new, "json_root"
    _at(value, path[:-1])[path[-1]] = new
    return value, f"json_{how}:{'/'.join(map(str, path))}"


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def dumps(value) -> bytes:
    """JSON bytes of ``value``, NaN included (as hostile files may), deep-nesting markers
    expanded into ``[[[...0...]]]``."""
    text = json.dumps(value)
    return re.sub(f'"{_DEEP}(\\d+)"', lambda m: "[" * int(m[1]) + "0" + "]" * int(m[1]),
                  text).encode()


def config_edit(data: bytes, rng) -> tuple[bytes, str]:
    try:
        value = json.loads(data)
        value, label = json_edit(value, rng)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return flip_bits(data, rng)
    return dumps(value), label


def state_edit(data: bytes, rng) -> tuple[bytes, str]:
    """Change the JSON state a checkpoint keeps in its safetensors header metadata."""
    parts = _split(data)
    meta = parts[0].get("__metadata__") if parts else None
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), str):
        return header_edit(data, rng)
    try:
        state, label = json_edit(json.loads(meta["state"]), rng)
    except (ValueError, RecursionError):
        return flip_bits(data, rng)
    meta["state"] = dumps(state).decode()
    return _join(*parts), "state_" + label


def huge_json(data: bytes, rng) -> tuple[bytes, str]:
    kind = _pick(rng, ["long_string", "long_list", "many_keys", "deep_text"])
    if kind == "deep_text":
        n = int(_pick(rng, [10_000, 1_000_000]))
        return b"[" * n + b"]" * n, f"deep_text{n}"
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        value = {}
    if not isinstance(value, dict):
        value = {"x": value}
    target = value.get("metadata") if isinstance(value.get("metadata"), dict) else value
    if kind == "long_string":
        target["note"] = "\u00e9" * 1_000_000
    elif kind == "long_list":
        target["history"] = list(range(100_000))
    else:
        target.update({f"k{i}": i for i in range(50_000)})
    return dumps(value), f"huge_{kind}"


# --- the folder itself -------------------------------------------------------------------


def relink(folder: Path, name: str, rng, outside: Path) -> str:
    """Replace ``name`` with a symlink (outside the folder, to a device, a FIFO, a folder,
    nowhere, itself), a folder, or nothing."""
    path = folder / name
    how = _pick(rng, ["outside", "zero", "fifo", "folder", "dangling", "loop", "dir", "missing",
                      "sibling"])
    if path.is_dir() and not path.is_symlink():
        return "relink_skip"
    path.unlink(missing_ok=True)
    if how == "outside":
        path.symlink_to(outside / _pick(rng, sorted(os.listdir(outside))))
    elif how == "zero":
        path.symlink_to("/dev/zero")
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.symlink_to(outside)
    elif how == "dangling":
        path.symlink_to(outside / "no-such-file")
    elif how == "loop":
        path.symlink_to(path.name)
    elif how == "dir":
        path.mkdir()
    elif how == "sibling":
        other = _pick(rng, [p for p in ("config.json", *SAFETENSORS) if p != name])
        path.symlink_to(other)
    return f"relink_{how}:{name}"


def rehash(folder: Path) -> None:
    """Make config.json's checksum agree with model.safetensors again, so that the damage
    reaches the checks after the checksum. (The digest is swapped in the text: re-encoding
    a config made huge would cost more than the case itself.)"""
    config, weights = folder / "config.json", folder / "model.safetensors"
    if not all(p.is_file() and not p.is_symlink() for p in (config, weights)):
        return
    digest = hashlib.sha256(weights.read_bytes()).hexdigest().encode()
    text = config.read_bytes()
    config.write_bytes(re.sub(rb'("weights_sha256":\s*")[0-9a-f]*"',
                              lambda m: m[1] + digest + b'"', text, count=1))


BYTE_MUTATIONS = [flip_bits, truncate, extend, non_utf8]
SAFETENSORS_MUTATIONS = [header_length, header_edit, header_edit, retensor, retensor]
CHECKPOINT_MUTATIONS = [state_edit, state_edit, state_edit]
CONFIG_MUTATIONS = [config_edit, config_edit, config_edit, config_edit, huge_json]
