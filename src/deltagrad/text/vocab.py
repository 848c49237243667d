"""``Vocabulary``: tokens <-> integer ids, with ``<pad>`` and ``<unk>``, saved as JSON."""

from __future__ import annotations

import json
import numbers
import os
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from .._checks import check_int

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    """A fixed list of tokens; a token's id is its position in the list.

    Special tokens (by default ``<pad>`` = 0 and ``<unk>`` = 1) come first. Build one from
    data with :meth:`build`, which keeps tokens seen at least ``min_freq`` times, most
    frequent first (ties in alphabetical order, so the ids never depend on dict order).
    Unknown tokens encode to ``<unk>`` when the vocabulary has one, and raise otherwise.

    >>> vocab = Vocabulary.build("the cat saw the dog".split())
    >>> vocab.tokens
    ['<pad>', '<unk>', 'the', 'cat', 'dog', 'saw']
    >>> vocab.encode(["the", "bird"]).tolist(), vocab.decode([3, 2])
    ([2, 1], ['cat', 'the'])
    """

    def __init__(self, tokens: Iterable[str], *, pad: str | None = PAD, unk: str | None = UNK,
                 counts: Mapping[str, int] | None = None):
        tokens = list(tokens)
        bad = [t for t in tokens if not isinstance(t, str)]
        if bad:
            raise TypeError(f"Vocabulary: tokens must be str, got {type(bad[0]).__name__} "
                            f"{bad[0]!r}")
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if token in index:
                raise ValueError(f"Vocabulary: token {token!r} appears twice (ids "
                                 f"{index[token]} and {i})")
            index[token] = i
        for name, special in (("pad", pad), ("unk", unk)):
            if special is not None and special not in index:
                raise ValueError(f"Vocabulary: {name} token {special!r} is not in the tokens")
        self._tokens = tokens
        self._index = index
        self.pad, self.unk = pad, unk
        self.counts = dict(counts) if counts is not None else {}

    @classmethod
    def build(cls, tokens: Iterable[str], *, min_freq: int = 1, max_size: int | None = None,
              pad: str | None = PAD, unk: str | None = UNK,
              extra: Iterable[str] = ()) -> Vocabulary:
        """The vocabulary of ``tokens`` (an iterable of str): the specials (``pad``, ``unk``,
        then ``extra``), then every token seen at least ``min_freq`` times, most frequent
        first, at most ``max_size`` tokens in all.

        >>> Vocabulary.build("a b b c c c".split(), min_freq=2, pad=None).tokens
        ['<unk>', 'c', 'b']
        """
        check_int(min_freq, "min_freq", "Vocabulary.build")
        if isinstance(tokens, str):
            raise TypeError("Vocabulary.build: tokens must be an iterable of str tokens, not "
                            "one str (split it with tokenize() or char_tokenize() first)")
        counts = Counter(tokens)
        specials = [s for s in (pad, unk, *extra) if s is not None]
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            check_int(max_size, "max_size (at least the special tokens)", "Vocabulary.build",
                      minimum=len(specials))
            kept = kept[:max_size - len(specials)]
        return cls(specials + kept, pad=pad, unk=unk,
                   counts={t: counts[t] for t in kept})

    # --- lookups ------------------------------------------------------------------------

    @property
    def tokens(self) -> list[str]:
        """The tokens in id order (a copy)."""
        return list(self._tokens)

    @property
    def pad_id(self) -> int | None:
        return None if self.pad is None else self._index[self.pad]

    @property
    def unk_id(self) -> int | None:
        return None if self.unk is None else self._index[self.unk]

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token) -> bool:
        return token in self._index

    def __iter__(self):
        return iter(self._tokens)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Vocabulary) and self._tokens == other._tokens
                and (self.pad, self.unk) == (other.pad, other.unk))

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, pad={self.pad!r}, unk={self.unk!r})"

    def id(self, token: str) -> int:
        """The id of ``token``: ``<unk>``'s id for an unknown token, if there is one."""
        i = self._index.get(token)
        if i is not None:
            return i
        if self.unk is None:
            raise ValueError(f"Vocabulary: unknown token {token!r} and no unk token to map "
                             f"it to")
        return self._index[self.unk]

    def token(self, i: int) -> str:
        """The token with id ``i``."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) \
                or not 0 <= i < len(self._tokens):
            raise ValueError(f"Vocabulary: id {i!r} is out of range for {len(self)} tokens")
        return self._tokens[int(i)]

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """The ids of ``tokens`` as an int64 array (unknown tokens -> ``<unk>``)."""
        if isinstance(tokens, str):
            raise TypeError("Vocabulary.encode: give a sequence of tokens, not one str")
        index, unk = self._index, self._index.get(self.unk) if self.unk is not None else None
        try:
            ids = [index[t] if unk is None else index.get(t, unk) for t in tokens]
        except KeyError as err:
            raise ValueError(f"Vocabulary.encode: unknown token {err.args[0]!r} and no unk "
                             f"token to map it to") from None
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids) -> list[str]:
        """The tokens of ``ids`` (any integer sequence or array)."""
        ids = np.asarray(ids)
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0
                         or ids.max() >= len(self._tokens)):
            raise ValueError(f"Vocabulary.decode: ids must be integers in [0, {len(self)}), "
                             f"got {ids.dtype} values in [{ids.min()}, {ids.max()}]")
        return [self._tokens[i] for i in ids.reshape(-1).tolist()]

    # --- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict:
        """A JSON-friendly dict; :meth:`from_dict` rebuilds the same vocabulary."""
        return {"tokens": list(self._tokens), "pad": self.pad, "unk": self.unk,
                "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Vocabulary:
        if not isinstance(d, Mapping):
            raise TypeError(f"Vocabulary.from_dict: expected a dict, got {type(d).__name__}")
        if not isinstance(d.get("tokens"), list):  # bad file contents: a ValueError
            raise ValueError("Vocabulary.from_dict: expected a dict with a "  # noqa: TRY004
                             "'tokens' list (as written by Vocabulary.to_dict)")
        return cls(d["tokens"], pad=d.get("pad"), unk=d.get("unk"), counts=d.get("counts"))

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary to a JSON file."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"Vocabulary.load: {os.fspath(path)} is not valid JSON "
                             f"({err.msg} at line {err.lineno})") from None
        return cls.from_dict(d)
