"""Splitting text into tokens (words and punctuation, or characters) and joining them back."""

from __future__ import annotations

import re

# A word is a run of letters/digits/underscores, with inner apostrophes kept ("don't",
# "o'er"); every other non-space character is a token of its own (punctuation).
WORD_PATTERN = r"\w+(?:['’]\w+)*|[^\w\s]"
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}’")
_NO_SPACE_AFTER = frozenset("([{")


def tokenize(text: str, *, lowercase: bool = False, pattern: str = WORD_PATTERN,
             newlines: bool = False) -> list[str]:
    """Split ``text`` into word and punctuation tokens with a regular expression.

    ``lowercase`` folds case first. ``newlines`` keeps each line break as a ``"\\n"`` token
    (so a language model can learn line structure); otherwise whitespace is dropped.

    >>> tokenize("Don't stop, Romeo!")
    ["Don't", 'stop', ',', 'Romeo', '!']
    >>> tokenize("To be,\\nor not", lowercase=True, newlines=True)
    ['to', 'be', ',', '\\n', 'or', 'not']
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize: text must be a str, got {type(text).__name__}")
    if lowercase:
        text = text.lower()
    regex = re.compile(f"\n|{pattern}" if newlines else pattern)
    return regex.findall(text)


def char_tokenize(text: str, *, lowercase: bool = False) -> list[str]:
    """Every character is a token (a character-level language model's view of text).

    >>> char_tokenize("Hi!")
    ['H', 'i', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"char_tokenize: text must be a str, got {type(text).__name__}")
    return list(text.lower() if lowercase else text)


def detokenize(tokens, *, level: str = "word") -> str:
    """Join tokens back into readable text: characters are concatenated; words are joined
    with spaces, except before closing punctuation, after opening brackets and around
    line breaks.

    >>> detokenize(['to', 'be', ',', 'or', 'not', '!', '\\n', 'who'])
    'to be, or not!\\nwho'
    >>> detokenize(list("abc"), level="char")
    'abc'
    """
    if level == "char":
        return "".join(tokens)
    if level != "word":
        raise ValueError(f"detokenize: level must be 'word' or 'char', got {level!r}")
    out: list[str] = []
    previous = "\n"
    for token in tokens:
        glue = (previous == "\n" or token == "\n" or token in _NO_SPACE_BEFORE
                or previous in _NO_SPACE_AFTER)
        out.append(token if glue else " " + token)
        previous = token
    return "".join(out)
