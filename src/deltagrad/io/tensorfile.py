"""safetensors bytes in and out, with every way a file can be damaged turned into one error.

safetensors stores raw little-endian arrays behind a JSON header: loading it can not run
code, unlike a pickle. The header may carry string metadata, used by checkpoints.
"""

from __future__ import annotations

import json

import numpy as np

from .errors import ModelFileError


def pack(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """The safetensors encoding of ``tensors`` (C-contiguous copies where needed)."""
    # safetensors is imported when a file is written, so that import deltagrad needs NumPy only
    from safetensors.numpy import save

    # asarray(order="C") rather than ascontiguousarray, which turns a 0-d count into shape (1,)
    arrays = {name: np.asarray(array, order="C") for name, array in tensors.items()}
    return save(arrays, metadata=metadata)


def unpack(data: bytes, filename: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, header metadata) from safetensors bytes, or ``ModelFileError``.

    The safetensors library checks the header, the offsets and that the data covers the file
    exactly, so a truncated or garbled file is refused here.
    """
    # safetensors is imported when a file is read, so that import deltagrad needs NumPy only
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
    except KeyError as exc:  # a valid file whose dtype NumPy lacks (PyTorch's bfloat16...)
        raise ModelFileError(f"{filename}: holds tensors of dtype {exc.args[0]}, which NumPy "
                             f"can not hold; save them as float32 (tensor.float()) "
                             f"first") from None
    except (SafetensorError, ValueError, TypeError, OverflowError) as exc:
        raise ModelFileError(f"{filename}: not a valid safetensors file, it is truncated or "
                             f"damaged ({str(exc).strip() or type(exc).__name__})") from None
    # load() has validated the header; read its free-form metadata from the same bytes.
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    metadata = header.get("__metadata__") or {}
    return tensors, metadata
