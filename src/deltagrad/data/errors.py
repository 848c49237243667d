"""The one exception type for data that can not be used as given, and the collector that
lets a reader report every problem of a file at once."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data: a malformed CSV file, a target column that is not there, too few rows.

    A ``ValueError``, so code that catches ``ValueError`` catches it too. The message is one
    line naming the file and, where it applies, the line and the column.
    """


class Problems:
    """Every problem found in a file, each with its fix, raised together as one
    ``DataError`` (the first ``limit`` spelled out, the rest counted) instead of one per run.

    >>> p = Problems("shop.csv")
    >>> p.add("column 'id' is unique per row", "--drop id")
    >>> p.add("column 'age' holds 'old' (line 4)", "--numeric age, or --categorical age")
    >>> p.raise_if_any()
    Traceback (most recent call last):
    ...
    deltagrad.data.errors.DataError: shop.csv can not be used as it is (2 problems): \
1) column 'id' is unique per row (fix: --drop id); 2) column 'age' holds 'old' (line 4) \
(fix: --numeric age, or --categorical age)
    """

    def __init__(self, where: str, limit: int = 10):
        self.where, self.limit = where, limit
        self.found: list[str] = []
        self._keys: set = set()

    def add(self, problem: str, fix: str | None = None, key=None) -> None:
        """Note ``problem`` and its ``fix``; a second problem with the same ``key`` (the
        same fault met again, e.g. in another split) is not repeated."""
        if key is not None:
            if key in self._keys:
                return
            self._keys.add(key)
        self.found.append(problem + (f" (fix: {fix})" if fix else ""))

    def __len__(self) -> int:
        return len(self.found)

    def raise_if_any(self) -> None:
        if not self.found:
            return
        n = len(self.found)
        if n == 1:
            raise DataError(f"{self.where}: {self.found[0]}")
        shown = "; ".join(f"{k}) {text}" for k, text in enumerate(self.found[:self.limit], 1))
        more = f"; and {n - self.limit} more" if n > self.limit else ""
        raise DataError(f"{self.where} can not be used as it is ({n} problems): {shown}{more}")
