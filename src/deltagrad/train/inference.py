"""Batched inference: the one loop every predictor runs (``Trainer.predict`` and its
validation, the language model's likelihoods, the tagger's tag scores, the scikit-learn
estimators' predictions, ``deltagrad predict``).

No graph is recorded, the model is in eval mode (dropout off, batch norm on its running
statistics) and is put back in the mode it was in, and memory stays fixed: one output
array is allocated after the first batch and filled batch by batch, never a list of parts
concatenated at the end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..autograd import Tensor, no_grad
from ..backend import device_of, to_host
from .inputs import batch_rows


def predict_batches(model, inputs, batch_size: int = 1024, *,
                    transform: Callable | None = None) -> np.ndarray:
    """``model``'s outputs for ``inputs``, one row per sample.

    ``inputs`` is an array, a SciPy sparse matrix (densified a batch at a time) or a tuple
    of them for a model of several inputs. ``transform(outputs, rows)``, given a batch's
    output Tensor and the ``slice`` of the samples it covers, returns what to keep for them
    (``len(rows)`` rows, e.g. each sample's loss); by default the outputs themselves. With
    no samples the model still runs once on the empty batch, so the result has the right
    trailing shape. A model on a device (a GPU) gets each batch copied there, and its
    outputs come back to the host before ``transform`` sees them.

    >>> import numpy as np
    >>> from deltagrad import nn
    >>> predict_batches(nn.Linear(3, 2), np.ones((5, 3), np.float32), batch_size=2).shape
    (5, 2)
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    n, device = inputs[0].shape[0], model_device(model)
    was_training = getattr(model, "training", None)
    if was_training:
        model.eval()
    out = None
    try:
        with no_grad():
            for start in range(0, max(n, 1), batch_size):
                rows = slice(start, min(start + batch_size, n))
                result = model(*(batch_rows(x, rows, device) for x in inputs))
                if device is not None:
                    result = Tensor(to_host(result.data))
                values = result.data if transform is None else transform(result, rows)
                if out is None:
                    out = np.empty((n, *values.shape[1:]), values.dtype)
                out[rows] = values
    finally:
        if was_training:
            model.train()
    return out


def model_device(model):
    """Where the model's parameters live, or None on the host (or without parameters): where
    batches are copied to."""
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return None if first is None or type(first.data) is np.ndarray else device_of(first.data)
