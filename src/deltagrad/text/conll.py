"""Reading CoNLL-format files: one token per line with its tags in columns, the tag to
learn in the last column, a blank line between sentences, ``-DOCSTART-`` lines skipped."""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from ..data.errors import DataError

_SCHEMES = {"bio": re.compile(r"O|[BI]-\S+"), "bioes": re.compile(r"O|[BIES]-\S+"),
            None: None}


class ConllError(DataError):
    """A malformed CoNLL file; the message names the file and the line."""


class Sentence(NamedTuple):
    """One sentence: its words and the tag of each."""

    words: list[str]
    tags: list[str]


def read_conll(path: str | os.PathLike, *, tag_column: int = -1,
               scheme: str | None = "bio") -> list[Sentence]:
    """The sentences of a CoNLL file as ``Sentence(words, tags)`` pairs.

    Columns are separated by whitespace; the word is the first column and the tag is
    ``tag_column`` (the last by default). Every token line of a file must have the same
    number of columns. ``scheme="bio"`` accepts only ``O``, ``B-TYPE`` and ``I-TYPE`` tags,
    ``"bioes"`` also ``E-`` and ``S-``, and ``None`` any tag (POS tags, chunk tags...).
    A malformed line raises :class:`ConllError` naming ``path:line``.

    >>> import tempfile, os
    >>> text = "-DOCSTART- -X- O\\n\\nEU NNP B-ORG\\nrejects VBZ O\\n\\nPeter NNP B-PER\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "x.txt"); _ = open(p, "w").write(text)
    ...     sentences = read_conll(p)
    >>> sentences[0]
    Sentence(words=['EU', 'rejects'], tags=['B-ORG', 'O'])
    >>> len(sentences), sentences[1].tags
    (2, ['B-PER'])
    """
    if scheme not in _SCHEMES:
        raise ValueError(f"read_conll: scheme must be 'bio', 'bioes' or None, got {scheme!r}")
    valid_tag = _SCHEMES[scheme]
    name = os.fspath(path)
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    width = None  # the number of columns, fixed by the first token line
    for number, line in enumerate(_lines(path, name), start=1):
        fields = line.split()
        if not fields:
            if words:
                sentences.append(Sentence(words, tags))
                words, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if width is None:
            width = _first_width(name, number, line, fields, tag_column)
        elif len(fields) != width:
            raise ConllError(f"{name}:{number}: expected {width} columns as on the first "
                             f"token line, got {len(fields)}: {line.strip()!r}")
        tag = fields[tag_column]
        if valid_tag is not None and not valid_tag.fullmatch(tag):
            allowed = "O, B-TYPE, I-TYPE" + (", E-TYPE, S-TYPE" if scheme == "bioes" else "")
            raise ConllError(f"{name}:{number}: tag {tag!r} is not a {scheme.upper()} tag "
                             f"({allowed})")
        words.append(fields[0])
        tags.append(tag)
    if words:  # a last sentence with no blank line after it
        sentences.append(Sentence(words, tags))
    return sentences


def _lines(path: str | os.PathLike, name: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n")
    except UnicodeDecodeError as err:
        raise ConllError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def _first_width(name: str, number: int, line: str, fields: list[str], tag_column: int) -> int:
    """The number of columns every token line must have, from the first one; checks that
    it holds a word and a tag and that ``tag_column`` names a tag column of it."""
    if len(fields) < 2:
        raise ConllError(f"{name}:{number}: expected a word and a tag separated by "
                         f"whitespace, got {line.strip()!r}")
    width = len(fields)
    if not -width <= tag_column < width or tag_column in (0, -width):
        raise ConllError(f"{name}:{number}: tag_column={tag_column} does not name a tag "
                         f"column of a {width}-column line")
    return width
