"""Model files: a folder with ``model.safetensors`` and ``config.json``, never a pickle.

>>> import tempfile, numpy as np, deltagrad as dg
>>> from deltagrad import nn
>>> model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
>>> folder = dg.save(model, tempfile.mkdtemp() + "/tiny", metadata={"note": "demo"})
>>> x = np.ones((1, 3), np.float32)
>>> np.array_equal(dg.load(folder)(x).numpy(), model(x).numpy())
True
"""

from .atomic import atomic_write_bytes, atomic_write_text
from .errors import ModelFileError
from .model_files import load, load_metadata, load_state_dict, save

__all__ = [
    "ModelFileError", "atomic_write_bytes", "atomic_write_text", "load", "load_metadata",
    "load_state_dict", "save",
]
