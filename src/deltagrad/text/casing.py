"""Word shape features for a tagger: whether a word is lower case, capitalised, all caps,
a number... The tagger lowercases its words, so their casing must come in separately."""

from __future__ import annotations

import re

import numpy as np

# Id 0 is the padding beyond a sentence's edge, as in the word vocabulary.
CASINGS = ("<pad>", "lower", "title", "upper", "mixed", "numeric", "has_digit", "punct",
           "other")
_CASING_ID = {name: i for i, name in enumerate(CASINGS)}
_DIGIT = re.compile(r"\d")


def casing(word: str) -> str:
    """The casing class of ``word``, one of :data:`CASINGS` (not ``<pad>``).

    >>> [casing(w) for w in ["the", "Paris", "EU", "McDonald", "1996", "A4", "--", "ß"]]
    ['lower', 'title', 'upper', 'mixed', 'numeric', 'has_digit', 'punct', 'lower']
    """
    if word.isdigit():
        return "numeric"
    if _DIGIT.search(word):
        return "has_digit"
    if not any(c.isalnum() for c in word):
        return "punct"
    if word.islower():
        return "lower"
    if word.isupper():
        return "upper"
    if word[0].isupper() and (len(word) == 1 or word[1:].islower()):
        return "title"
    if any(c.isupper() for c in word):
        return "mixed"
    return "other"


def casing_ids(words) -> np.ndarray:
    """The casing class ids (positions in :data:`CASINGS`) of ``words``, as int64.

    >>> casing_ids(["EU", "rejects", "German"]).tolist()
    [3, 1, 2]
    """
    return np.asarray([_CASING_ID[casing(w)] for w in words], dtype=np.int64)


def normalize_word(word: str) -> str:
    """The form a word is looked up under: lower case, every digit written 0 (so "1996"
    and "2003" share one vector).

    >>> normalize_word("Sept-1996")
    'sept-0000'
    """
    return _DIGIT.sub("0", word.lower())


def affixes(word: str, length: int = 3) -> tuple[str, str]:
    """The prefix and the suffix of ``word``'s :func:`normalize_word` form, ``length``
    characters each (the whole form when shorter), marked with "-" on their open side so a
    prefix and a suffix never share a vocabulary entry. Endings such as "-ing", "-ese" and
    "-ski" say much about a word never seen in training.

    >>> affixes("Germany"), affixes("EU")
    (('ger-', '-any'), ('eu-', '-eu'))
    """
    form = normalize_word(word)
    return form[:length] + "-", "-" + form[-length:]
