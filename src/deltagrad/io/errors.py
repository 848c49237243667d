"""The one exception for model files and checkpoints that can not be used as they are."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model folder or checkpoint is missing, truncated, garbled, or inconsistent.

    A ``ValueError``, so code that catches ``ValueError`` catches it too. The message is one
    line naming the file and what is wrong with it.
    """
