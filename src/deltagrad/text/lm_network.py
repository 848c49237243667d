"""The feed-forward language model's network (Bengio et al., 2003): the vectors of the
previous tokens, concatenated, through hidden layers to the next token's logits.
:mod:`~deltagrad.text.lm` turns text into its inputs and trains it."""

from __future__ import annotations

import numpy as np

from .. import nn
from .._checks import check_int
from ..nn import functional as F
from ._training import hidden_sizes


class FeedForwardLM(nn.Module):
    """Ids of the previous ``context`` tokens (B, context) -> next-token logits (B, vocab).

    ``embedding`` maps each id to ``embed_dim`` numbers; the ``context`` vectors are
    concatenated and fed to ``mlp``, hidden layers of the given widths and ``activation``
    (tanh as in the paper, or any of :class:`~deltagrad.nn.MLP`'s) then a linear output
    layer. With ``direct`` a second linear map from the concatenated vectors straight
    to the logits is added (the paper's optional "direct connections"). ``embed_dropout``
    zeroes elements of the concatenated vectors while training. With ``tie_embeddings`` the
    output layer reuses the embedding table (Press & Wolf, 2017, "Using the output embedding
    to improve language models"): ``mlp`` ends in ``embed_dim`` numbers and each token's
    logit is their dot product with its embedding, plus a bias. A word then learns one
    vector from both its uses, and for a large vocabulary the output layer, the costliest
    part of the network, shrinks to ``embed_dim`` columns.

    >>> import numpy as np
    >>> net = FeedForwardLM(65, context=8, rng=np.random.default_rng(0))
    >>> net(np.zeros((2, 8), np.int64)).shape
    (2, 65)
    """

    def __init__(self, vocab_size: int, context: int, *, embed_dim: int = 16,
                 hidden=(512,), activation: str = "tanh", dropout: float = 0.0,
                 direct: bool = False, embed_dropout: float = 0.0, tie_embeddings: bool = False,
                 rng: np.random.Generator | None = None):
        super().__init__()
        where = "FeedForwardLM"
        self.context = check_int(context, "context", where)
        self.hidden = hidden_sizes(hidden, where)
        self.embedding = nn.Embedding(vocab_size, embed_dim, rng=rng)
        width = self.context * self.embedding.embedding_dim
        self.mlp = nn.MLP(width, list(self.hidden), embed_dim if tie_embeddings else vocab_size,
                          activation=activation, dropout=dropout, rng=rng)
        self.output_bias = (nn.Parameter(np.zeros(vocab_size, np.float32)) if tie_embeddings
                            else None)
        self.direct = nn.Linear(width, vocab_size, bias=False, rng=rng) if direct else None
        self.embed_dropout = nn.Dropout(embed_dropout) if embed_dropout else None
        self.reset_embeddings(rng)

    def reset_embeddings(self, rng: np.random.Generator | None = None) -> None:
        # Small vectors, so tanh units start in their linear range; the direct map
        # starts at zero and so adds nothing until training finds a use for it.
        nn.init.normal_(self.embedding.weight, std=0.1, rng=rng)
        if self.direct is not None:
            nn.init.zeros_(self.direct.weight)

    def forward(self, contexts):
        if contexts.ndim != 2 or contexts.shape[1] != self.context:
            raise ValueError(f"FeedForwardLM: expected ids of shape (batch, {self.context}), "
                             f"got {tuple(contexts.shape)}")
        x = self.embedding(contexts).reshape(contexts.shape[0], -1)
        if self.embed_dropout is not None:
            x = self.embed_dropout(x)
        logits = self.mlp(x)
        if self.output_bias is not None:
            logits = F.linear(logits, self.embedding.weight, self.output_bias)
        return logits if self.direct is None else logits + self.direct(x)

    def config(self) -> dict:
        """The constructor arguments that rebuild this network (minus ``rng``)."""
        return {"vocab_size": self.embedding.num_embeddings, "context": self.context,
                "embed_dim": self.embedding.embedding_dim, "hidden": list(self.hidden),
                "activation": self.mlp.activation, "dropout": self.mlp.dropout,
                "direct": self.direct is not None,
                "embed_dropout": 0.0 if self.embed_dropout is None else self.embed_dropout.p,
                "tie_embeddings": self.output_bias is not None}
