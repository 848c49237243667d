"""Text: tokens, vocabularies, windows, CoNLL files, an n-gram baseline, the evaluation of
taggers and language models, and two neural models: a window named-entity tagger
(:mod:`deltagrad.text.ner`) and a feed-forward language model (:mod:`deltagrad.text.lm`).

>>> from deltagrad.text import Vocabulary, tokenize, sliding_windows
>>> vocab = Vocabulary.build(tokenize("the cat saw the dog"))
>>> sliding_windows(vocab.encode(tokenize("the dog")), radius=1, pad_id=vocab.pad_id)
array([[0, 2, 4],
       [2, 4, 0]])
"""

from .bio import allowed_transitions, constrained_decode
from .casing import CASINGS, affixes, casing, casing_ids, normalize_word
from .conll import ConllError, Sentence, read_conll
from .lm import LEVEL_DEFAULTS, FeedForwardLM, LanguageModel, split_text, train_lm
from .metrics import entity_scores, entity_spans, perplexity
from .ner import NERTagger, WindowTagger, train_tagger
from .ngram import KneserNeyLM
from .sampling import generate, sample_next
from .tokenize import char_tokenize, detokenize, tokenize
from .vocab import PAD, UNK, Vocabulary
from .windows import ngram_dataset, sentence_windows, sliding_windows, window_positions

__all__ = [
    "CASINGS", "LEVEL_DEFAULTS", "PAD", "UNK", "ConllError", "FeedForwardLM", "KneserNeyLM",
    "LanguageModel", "NERTagger", "Sentence", "Vocabulary", "WindowTagger", "affixes",
    "allowed_transitions", "casing", "casing_ids", "char_tokenize", "constrained_decode",
    "detokenize", "entity_scores", "entity_spans", "generate", "ngram_dataset",
    "normalize_word", "perplexity", "read_conll", "sample_next", "sentence_windows",
    "sliding_windows", "split_text", "tokenize", "train_lm", "train_tagger",
    "window_positions",
]
