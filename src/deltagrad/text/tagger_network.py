"""The window NER tagger's network (Collobert et al., 2011): the word, casing (and prefix
and suffix) vectors of a window of words, concatenated, through hidden layers to the
middle word's tag logits. :mod:`~deltagrad.text.ner` builds its inputs and trains it."""

from __future__ import annotations

import numpy as np

from .. import nn
from .._checks import check_int
from ..autograd import concatenate
from ._training import hidden_sizes
from .casing import CASINGS


class WindowTagger(nn.Module):
    """Word and casing ids of a window (B, 2r+1) each -> tag logits (B, num_tags).

    ``words`` and ``casings`` are :class:`~deltagrad.nn.Embedding` tables; the window's
    vectors are concatenated into one (B, (2r+1)(word_dim + casing_dim)) input (with
    ``embed_dropout`` zeroing its elements while training) to ``mlp``,
    an :class:`~deltagrad.nn.MLP` with the given hidden widths and activation. With
    ``num_affixes`` a third input, the prefix and suffix ids of each window word (B,
    2(2r+1)), adds two ``affix_dim`` vectors per word from the ``affixes`` table.

    >>> import numpy as np
    >>> net = WindowTagger(100, 9, rng=np.random.default_rng(0))
    >>> net(np.zeros((4, 5), np.int64), np.zeros((4, 5), np.int64)).shape
    (4, 9)
    """

    def __init__(self, num_words: int, num_tags: int, *, radius: int = 2, word_dim: int = 50,
                 casing_dim: int = 8, num_casings: int = len(CASINGS), hidden=(300,),
                 activation: str = "tanh", dropout: float = 0.0, num_affixes: int = 0,
                 affix_dim: int = 0, crf: bool = False, embed_dropout: float = 0.0,
                 rng: np.random.Generator | None = None):
        super().__init__()
        where = "WindowTagger"
        self.radius = check_int(radius, "radius", where, minimum=0)
        self.width = 2 * self.radius + 1
        self.hidden = hidden_sizes(hidden, where)
        self.words = nn.Embedding(num_words, word_dim, rng=rng)
        self.casings = nn.Embedding(num_casings, casing_dim, rng=rng)
        check_int(num_affixes, "num_affixes", where, minimum=0)
        self.affixes = nn.Embedding(num_affixes, affix_dim, rng=rng) if num_affixes else None
        per_word = word_dim + casing_dim + (2 * affix_dim if num_affixes else 0)
        self.mlp = nn.MLP(self.width * per_word, list(self.hidden), num_tags,
                          activation=activation, dropout=dropout, rng=rng)
        self.embed_dropout = nn.Dropout(embed_dropout) if embed_dropout else None
        self.reset_embeddings(rng)
        if crf:  # learned after the network, by fit_transition_scores: buffers
            self.register_buffer("start_scores", np.zeros(num_tags, np.float32))
            self.register_buffer("transition_scores", np.zeros((num_tags, num_tags),
                                                               np.float32))
            self.register_buffer("end_scores", np.zeros(num_tags, np.float32))

    @property
    def crf_scores(self) -> dict[str, np.ndarray] | None:
        """The learned start (T,), transition (T, T) and end (T,) scores of a linear-chain
        CRF over the network's tag scores, as :func:`~deltagrad.text.bio.constrained_decode`
        takes them (float64), or None for a network without them."""
        if "transition_scores" not in self._buffers:
            return None
        return {"start": self.start_scores.astype(np.float64),
                "transitions": self.transition_scores.astype(np.float64),
                "end": self.end_scores.astype(np.float64)}

    def reset_embeddings(self, rng: np.random.Generator | None = None) -> None:
        # Small vectors: at N(0, 1) each of the ~300 inputs would saturate tanh units early
        # and Adam's ~lr-sized steps would barely move them.
        nn.init.normal_(self.words.weight, std=0.1, rng=rng)
        nn.init.normal_(self.casings.weight, std=0.1, rng=rng)
        if self.affixes is not None:
            nn.init.normal_(self.affixes.weight, std=0.1, rng=rng)

    def forward(self, word_windows, casing_windows, affix_windows=None):
        if (affix_windows is None) != (self.affixes is None):
            raise ValueError(f"WindowTagger: affix_windows must be given exactly when the "
                             f"network has an affix table (num_affixes="
                             f"{0 if self.affixes is None else self.affixes.num_embeddings})")
        n = word_windows.shape[0]
        parts = [self.words(word_windows).reshape(n, -1),
                 self.casings(casing_windows).reshape(n, -1)]
        if affix_windows is not None:
            parts.append(self.affixes(affix_windows).reshape(n, -1))
        x = concatenate(parts, axis=1)
        return self.mlp(x if self.embed_dropout is None else self.embed_dropout(x))

    def config(self) -> dict:
        """The constructor arguments that rebuild this network (minus ``rng``)."""
        return {"num_words": self.words.num_embeddings,
                "num_tags": self.mlp.out_features, "radius": self.radius,
                "word_dim": self.words.embedding_dim,
                "casing_dim": self.casings.embedding_dim,
                "num_casings": self.casings.num_embeddings, "hidden": list(self.hidden),
                "activation": self.mlp.activation, "dropout": self.mlp.dropout,
                "num_affixes": 0 if self.affixes is None else self.affixes.num_embeddings,
                "affix_dim": 0 if self.affixes is None else self.affixes.embedding_dim,
                "crf": self.crf_scores is not None,
                "embed_dropout": 0.0 if self.embed_dropout is None else self.embed_dropout.p}
