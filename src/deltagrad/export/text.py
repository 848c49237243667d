"""ONNX converters for the text models' networks, and what their users need beside them.

The NER tagger and the language model export their network: ids in, scores (logits) out.
Turning text into ids (the vocabulary, the casing classes, the window or context size) and
scores into tags or tokens stays with the caller, so those go in the model's metadata.
"""

from __future__ import annotations

import numpy as np

from ..text.casing import CASINGS
from ..text.lm import FeedForwardLM, LanguageModel
from ..text.ner import NERTagger, WindowTagger
from .graph import Graph, Value
from .layers import join


def _flat_vectors(g: Graph, table, name: str, ids: Value) -> Value:
    """(batch, width) ids -> their vectors side by side, (batch, width * dim)."""
    vectors = g.convert(table, name, ids)
    width = ids.shape[1]
    size = width * table.embedding_dim if isinstance(width, int) else None
    to = g.constant(np.array([0, -1], np.int64), f"{name}.flat")
    return g.op("Reshape", [vectors, to], (ids.shape[0], size), hint=f"{name}.flat")


def window_tagger(g: Graph, m: WindowTagger, name: str, word_ids: Value, casing_ids: Value,
                  *affix_ids: Value) -> Value:
    """The words', casings' (and prefixes' and suffixes') vectors side by side, then the
    MLP."""
    tables = [("words", word_ids), ("casings", casing_ids)] + [("affixes", a) for a in affix_ids]
    parts = [_flat_vectors(g, getattr(m, t), join(name, t), ids) for t, ids in tables]
    joined = g.op("Concat", parts, (word_ids.shape[0], m.mlp.in_features), axis=1)
    return g.convert(m.mlp, join(name, "mlp"), joined)


def feed_forward_lm(g: Graph, m: FeedForwardLM, name: str, context_ids: Value) -> Value:
    x = _flat_vectors(g, m.embedding, join(name, "embedding"), context_ids)
    logits = g.convert(m.mlp, join(name, "mlp"), x)
    if m.output_bias is not None:  # tied: the embedding table (stored once) is the output layer
        table = g.weight(join(join(name, "embedding"), "weight"), m.embedding.weight.data)
        bias = g.weight(join(name, "output_bias"), m.output_bias.data)
        logits = g.op("Gemm", [logits, table, bias], (logits.shape[0], table.shape[0]),
                      hint=join(name, "output"), transB=1)
    if m.direct is None:
        return logits
    return g.op("Add", [logits, g.convert(m.direct, join(name, "direct"), x)], logits.shape)


CONVERTERS = {WindowTagger: window_tagger, FeedForwardLM: feed_forward_lm}

#: the graph inputs of each network: (name, shape); all are int64 ids
INPUTS = {
    WindowTagger: lambda m: [("word_ids", ("batch", m.width)),
                             ("casing_ids", ("batch", m.width))]
    + ([("affix_ids", ("batch", 2 * m.width))] if m.affixes is not None else []),
    FeedForwardLM: lambda m: [("context_ids", ("batch", m.context))],
}


# --- the trained models: their network and its metadata --------------------------------------


def _vocabulary(vocab) -> dict:
    return {"tokens": vocab.tokens, "pad": vocab.pad, "unk": vocab.unk}


def tagger_parts(tagger: NERTagger) -> tuple[WindowTagger, dict, str]:
    """The network, its metadata and the model's doc string."""
    meta = {"kind": "deltagrad.ner_tagger", "words": _vocabulary(tagger.words),
            "tags": tagger.tags, "casings": list(CASINGS), "radius": tagger.module.radius,
            "decode": tagger.decode,
            "word_normalization": "lower case, every digit written 0"}
    if tagger.affixes is not None:
        meta["affixes"] = _vocabulary(tagger.affixes)
    if tagger.module.crf_scores is not None:  # for decode "crf": Viterbi with these added
        meta["crf_scores"] = {k: v.tolist() for k, v in tagger.module.crf_scores.items()}
    doc = ("Window NER tagger. Inputs word_ids and casing_ids, int64 (batch, 2 * radius + "
           "1): for each word to tag, the ids of the words around it (metadata 'words', "
           "looked up after 'word_normalization'; <unk> for unknown words, <pad> past the "
           "sentence's edges) and of their casing classes (metadata 'casings'). With "
           "metadata 'affixes', input affix_ids, int64 (batch, 2 (2 * radius + 1)): for "
           "each window word its prefix and suffix ids, side by side (the first 3 "
           "characters of the normalised word then '-', '-' then its last 3). Output "
           "scores (batch, tags): logits over metadata 'tags'. With metadata 'crf_scores' "
           "(start, transitions (from, to), end), decode 'crf' is the Viterbi path of the "
           "log-softmax of the scores plus those, among valid BIO sequences.")
    return tagger.module, meta, doc


def lm_parts(lm: LanguageModel) -> tuple[FeedForwardLM, dict, str]:
    meta = {"kind": "deltagrad.language_model", "vocab": _vocabulary(lm.vocab),
            "level": lm.level, "lowercase": lm.lowercase, "context": lm.context}
    doc = ("Feed-forward language model. Input context_ids, int64 (batch, context): the ids "
           "(metadata 'vocab') of the previous tokens, <pad> before the start of the text. "
           "Output scores (batch, vocabulary size): logits of the next token.")
    return lm.module, meta, doc


WRAPPERS = {NERTagger: tagger_parts, LanguageModel: lm_parts}
