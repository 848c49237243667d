"""The one exception type for data that can not be used as given."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data: a malformed CSV file, a target column that is not there, too few rows.

    A ``ValueError``, so code that catches ``ValueError`` catches it too. The message is one
    line naming the file and, where it applies, the line and the column.
    """
