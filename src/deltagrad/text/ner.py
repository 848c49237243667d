"""A window-based named-entity tagger (Collobert & Weston style): each word is tagged from
the ±``radius`` words around it, each word a learned vector (of its lower-cased form) joined
to a small vector of its casing, all concatenated -> hidden layer(s) -> softmax over tags.

>>> sents = [(["Peter", "lives", "in", "Paris"], ["B-PER", "O", "O", "B-LOC"])] * 20
>>> tagger = train_tagger(sents, epochs=30, hidden=16, word_dim=8, lr=0.01, seed=0)
>>> [tag for _, tag in tagger.tag("Peter lives in Paris")]
['B-PER', 'O', 'O', 'B-LOC']
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from .. import distributed, io
from .._checks import check_float, check_int, check_optional_float
from ..nn import functional as F
from ..train import History, predict_batches
from ..train.sample_random import use_trainer_dropout
from . import _training
from ._model_folder import config_errors, read_metadata
from ._training import hidden_sizes
from .bio import constrained_decode
from .casing import affixes, casing_ids, normalize_word
from .metrics import entity_scores
from .tagger_network import WindowTagger
from .tokenize import tokenize
from .transitions import CRFStage
from .vocab import Vocabulary
from .windows import window_positions

KIND = "deltagrad.text.ner.NERTagger"
DECODERS = ("viterbi", "greedy", "crf")


# --- features ---------------------------------------------------------------------------


def _word_list(sentence, where: str) -> list[str]:
    if isinstance(sentence, str):
        raise TypeError(f"{where}: give each sentence as a list of words, not one str (use "
                        f"tagger.tag(text) to tag raw text)")
    words = list(sentence)
    if not all(isinstance(w, str) for w in words):
        raise TypeError(f"{where}: words must be str")
    return words


def _windows(sentences: Sequence[Sequence[str]], words: Vocabulary, radius: int,
             affix_vocab: Vocabulary | None = None) -> tuple[np.ndarray, ...]:
    """The word-id windows and casing-id windows (each (words, 2r+1)) of every word of
    ``sentences``, padding where a window runs past its sentence; with ``affix_vocab`` also
    the prefix and suffix ids of each window word, (words, 2(2r+1))."""
    flat = [w for s in sentences for w in s]
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    positions = window_positions(lengths, radius)
    # One padding id appended at the end: position -1 (padding) picks it.
    word_ids = np.append(words.encode([normalize_word(w) for w in flat]), words.pad_id)
    windows = (word_ids[positions], np.append(casing_ids(flat), 0)[positions])
    if affix_vocab is None:
        return windows
    pairs = affix_vocab.encode([a for w in flat for a in affixes(w)]).reshape(-1, 2)
    pairs = np.concatenate([pairs, np.full((1, 2), affix_vocab.pad_id)])
    return (*windows, pairs[positions].reshape(len(positions), -1))


# --- the tagger -------------------------------------------------------------------------


def _check_decode(decode, module: WindowTagger, where: str) -> None:
    if decode not in DECODERS:
        raise ValueError(f"{where}: decode must be one of {DECODERS}, got {decode!r}")
    if decode == "crf" and module.crf_scores is None:
        raise ValueError(f"{where}: decode='crf' needs learned transition scores, which this "
                         f"tagger lacks (train it with decode='crf'); use 'viterbi'")


class NERTagger:
    """A trained window tagger: the network, its word vocabulary and its tag list.

    Make one with :func:`train_tagger` or :meth:`load`; then :meth:`tag` raw text,
    :meth:`predict` tokenised sentences, :meth:`evaluate` tagged ones, :meth:`save` it as a
    model folder (``model.safetensors`` + ``config.json``, see :func:`deltagrad.save`).
    ``decode="viterbi"`` (the default) returns the most likely *valid* BIO sequence (no
    ``I-X`` without a ``B-X`` or ``I-X`` before it); ``"crf"`` the same with the network's
    learned start, transition and end scores added (a tagger trained with
    ``decode="crf"``); ``"greedy"`` the most likely tag of each word on its own.
    """

    def __init__(self, module: WindowTagger, words: Vocabulary, tags: Sequence[str], *,
                 decode: str = "viterbi", affixes: Vocabulary | None = None,
                 info: dict | None = None):
        _check_decode(decode, module, "NERTagger")
        if module.words.num_embeddings != len(words) or module.mlp.out_features != len(tags):
            raise ValueError(f"NERTagger: the network has {module.words.num_embeddings} words "
                             f"and {module.mlp.out_features} tags, but the vocabulary has "
                             f"{len(words)} and the tag list {len(tags)}")
        num_affixes = 0 if module.affixes is None else module.affixes.num_embeddings
        if num_affixes != (0 if affixes is None else len(affixes)):
            raise ValueError(f"NERTagger: the network has {num_affixes} affix ids but the "
                             f"affix vocabulary {0 if affixes is None else len(affixes)}")
        self.module = module.eval()
        self.words = words
        self.affixes = affixes  # prefixes and suffixes (see casing.affixes), or None
        self.tags = list(tags)
        self.decode = decode
        self.info = dict(info or {})  # training settings, history, scores: saved with it
        self.history: History | None = None  # the Trainer's history, after train_tagger

    def __repr__(self) -> str:
        return (f"NERTagger({len(self.words)} words, tags={self.tags}, "
                f"radius={self.module.radius}, hidden={list(self.module.hidden)})")

    def log_probs(self, sentences: Sequence[Sequence[str]],
                  batch_size: int = 8192) -> list[np.ndarray]:
        """Per sentence, the (words, tags) log-probabilities of each tag for each word."""
        sentences = [_word_list(s, "NERTagger.log_probs") for s in sentences]
        if not sentences:
            return []
        return self._log_probs(self.features(sentences), [len(s) for s in sentences],
                               batch_size)

    def features(self, sentences: Sequence[Sequence[str]]) -> tuple[np.ndarray, ...]:
        """The network's inputs for every word of ``sentences`` (lists of words): the word,
        casing (and affix) id windows."""
        return _windows(sentences, self.words, self.module.radius, self.affixes)

    def _log_probs(self, windows, lengths, batch_size: int = 8192) -> list[np.ndarray]:
        return np.split(self.window_log_probs(windows, batch_size), np.cumsum(lengths)[:-1])

    def window_log_probs(self, windows, batch_size: int = 8192) -> np.ndarray:
        """The (words, tags) log-probabilities of the words of ``windows``, float64: what
        the decoders (and the CRF's emission scores) take."""
        return predict_batches(self.module, windows, batch_size, transform=lambda logits, rows:
                               F.log_softmax(logits, axis=-1).data.astype(np.float64))

    def predict(self, sentences: Sequence[Sequence[str]], decode: str | None = None, *,
                features: tuple | None = None) -> list[list[str]]:
        """The tags of each sentence (a list of words), as lists of tag strings.
        ``features``: the sentences' :meth:`features`, when already computed."""
        decode = self.decode if decode is None else decode
        _check_decode(decode, self.module, "NERTagger.predict")
        log_probs = (self.log_probs(sentences) if features is None else
                     self._log_probs(features, [len(s) for s in sentences]))
        learned = self.module.crf_scores if decode == "crf" else {}
        result = []
        for lp in log_probs:
            ids = (lp.argmax(1) if decode == "greedy" else
                   constrained_decode(lp, self.tags, **learned))
            result.append([self.tags[i] for i in ids])
        return result

    def tag(self, text) -> list[tuple[str, str]]:
        """``(word, tag)`` pairs for ``text``: a str (split with :func:`tokenize`) or a list
        of words."""
        words = tokenize(text) if isinstance(text, str) else _word_list(text, "NERTagger.tag")
        return list(zip(words, self.predict([words])[0])) if words else []

    def evaluate(self, sentences, decode: str | None = None, *,
                 features: tuple | None = None) -> dict:
        """CoNLL scores on tagged sentences (``(words, tags)`` pairs, e.g. from
        :func:`~deltagrad.text.conll.read_conll`): entity precision/recall/F1, token
        accuracy, per type; see :func:`~deltagrad.text.metrics.entity_scores`."""
        sentences = list(sentences)
        pred = self.predict([s[0] for s in sentences], decode, features=features)
        return entity_scores([list(s[1]) for s in sentences], pred)

    # --- model folders --------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Save as a model folder: the weights in ``model.safetensors``; the network's
        settings, the vocabulary, the tags and ``info`` in ``config.json``."""
        return io.save(self.module, path, metadata=self.metadata())

    def metadata(self) -> dict:
        """What :meth:`save` writes in ``config.json`` besides the network's layers."""
        return {"kind": KIND, "network": self.module.config(), "words": self.words.to_dict(),
                "tags": self.tags, "decode": self.decode, "info": self.info,
                "affixes": None if self.affixes is None else self.affixes.to_dict()}

    @classmethod
    def load(cls, path: str | os.PathLike) -> NERTagger:
        """The tagger saved in folder ``path`` by :meth:`save`."""
        meta = read_metadata(path, KIND, "NER tagger")
        with config_errors(path, "NER tagger"):
            module = WindowTagger(**meta["network"])
            words = Vocabulary.from_dict(meta["words"])
            affix_vocab = meta.get("affixes")
            module.load_state_dict(io.load_state_dict(path))
            return cls(module, words, meta["tags"], decode=meta.get("decode", "viterbi"),
                       affixes=None if affix_vocab is None else
                       Vocabulary.from_dict(affix_vocab), info=meta.get("info"))


# --- training ---------------------------------------------------------------------------


def _checked_sentences(sentences, where: str, what: str) -> list[tuple[list[str], list[str]]]:
    out = []
    for i, item in enumerate(sentences):
        try:
            words, tags = item
        except (TypeError, ValueError):
            raise TypeError(f"{where}: each {what} sentence must be a (words, tags) pair; "
                            f"item {i} is {type(item).__name__}") from None
        words, tags = _word_list(words, where), list(tags)
        if len(words) != len(tags):
            raise ValueError(f"{where}: {what} sentence {i} has {len(words)} words but "
                             f"{len(tags)} tags")
        out.append((words, tags))
    if not out:
        raise ValueError(f"{where}: no {what} sentences")
    return out


# The regularisation defaults (bench/words_ab.py, 10 epochs, validation F1 with the learned
# transition scores): input dropout 0.2 and AdamW's weight decay 1.0 raised it from 0.888
# to 0.905 (0.902 with seed 1); decay 0.1, 0.3 and 3.0 gave 0.898, 0.901 and 0.896, and 20
# epochs with decay 0.1 did worse than 10 (0.888). Without them the tagger learns its
# training set by heart in three or four epochs.
def train_tagger(train, valid=None, *, radius: int = 2, word_dim: int = 50,
                 casing_dim: int = 8, affix_dim: int = 16, hidden=(300,),
                 activation: str = "tanh", dropout: float = 0.5, embed_dropout: float = 0.2,
                 weight_decay: float = 1.0, min_freq: int = 1, unk_replace: float = 0.5,
                 epochs: int = 10, batch_size: int = 512, lr: float = 3e-3,
                 optimizer: str = "adamw", clip_norm: float | None = None,
                 max_time: float | None = None, seed: int = 0, decode: str = "crf",
                 out_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress="none", log: Callable[[str], None] | None = None,
                 deterministic: bool = False, device=None) -> NERTagger:
    """Train a :class:`WindowTagger` on ``train`` (``(words, tags)`` sentences, e.g. from
    :func:`~deltagrad.text.conll.read_conll`); return the :class:`NERTagger`.

    Words are looked up lower-cased with digits as 0 (:func:`normalize_word`) in a
    vocabulary of the training words seen ``min_freq`` times or more; in every training
    batch each word seen only once in training is shown as ``<unk>`` with probability
    ``unk_replace``, so the ``<unk>`` vector is learned for the unseen words of new text.
    With ``affix_dim`` > 0 each word also brings a vector of its 3-letter prefix and one of
    its suffix (:func:`~deltagrad.text.casing.affixes`; those seen twice or more in
    training), which tell much about words the vocabulary lacks. The defaults are the
    settings of the reported runs: 512 words to a step at a learning rate of 3e-3 reached a
    higher validation F1 in the same 4 minutes than 64 at 1e-3 or 256 at 2e-3 (each step
    also updates every word vector through Adam, so fewer, larger steps save much), and the
    affix vectors added about a point (``bench/words_ab.py``; regularisation: see above).
    ``decode="crf"`` (the default) then learns tag-transition scores on the frozen network
    by Collobert et al.'s sentence-level log-likelihood (:mod:`~deltagrad.text.transitions`,
    in ``max_time``), a fraction of a point of F1 over plain ``"viterbi"`` (bench/ner_crf.py).
    ``dropout`` zeroes hidden units, ``embed_dropout`` the input's numbers (the window's
    vectors); ``weight_decay`` goes to the optimiser: AdamW shrinks every weight by
    ``lr * weight_decay`` a step, so a rare word's vector fades unless its gradient keeps it.
    Training runs in :class:`~deltagrad.train.Trainer`: the learning rate falls along a
    half cosine over the run (to 5 % of ``lr``), ``epochs`` long or ``max_time`` seconds
    (evaluation included), whichever ends first. With ``valid`` sentences, the entity F1
    on them is measured after each epoch and the best epoch's weights are kept.
    ``clip_norm`` clips the gradients' norm; a NaN or infinite loss stops training with an
    error naming the epoch, batch and op. With ``out_dir`` a checkpoint is written there
    after every epoch and the model folder at the end; ``resume=True`` continues an
    interrupted run exactly (same sentences and settings). ``progress``: the trainer's
    display ("auto", "bar", "plain", "none"); ``log`` (e.g. ``print``) gets one line per
    epoch; ``device`` (e.g. ``"cuda"``) trains there, and the tagger comes back on the host.
    """
    started = time.perf_counter()  # the time budget includes preparing the data
    where = "train_tagger"
    train = _checked_sentences(train, where, "training")
    valid = None if valid is None else _checked_sentences(valid, where, "validation")
    s = _tagger_settings(radius, word_dim, casing_dim, affix_dim, hidden, activation, dropout,
                         embed_dropout, weight_decay, min_freq, unk_replace, epochs,
                         batch_size, lr, optimizer, clip_norm, max_time, seed, decode)
    s["deterministic"] = bool(deterministic)
    # The trainer checks the training windows; the validate hook alone sees `valid`'s.
    run_info = {"settings": s, "data": {"validation": _training.digest(valid)}}
    _training.check_resume(out_dir, resume, run_info, where)
    tagger = _new_tagger(train, s)
    X, y, augment = _training_data(tagger, train, s)
    stage = None if decode != "crf" else CRFStage(tagger, X, y, [len(ws) for ws, _ in train],
                                                  started, s["max_time"])
    entity_f1, rows = (None, 0) if valid is None else _f1_hook(tagger, valid)
    trainer, best = _training.fit(
        tagger.module, X, y, run_info=run_info, started=started,
        monitor="val_f1" if valid else None, augment=augment, validate=entity_f1,
        validate_rows=rows, out_dir=out_dir, resume=resume, metadata=tagger.metadata(),
        progress=progress, log=log, device=device, reserve=stage.reserve if stage else 0.0)
    tagger.module.eval()
    tagger.info = _training.training_info(trainer, best, s)
    if stage is not None:
        tagger.info["crf"] = stage.run(entity_f1, trainer.budget.end_seconds or 0.0)
    tagger.history = trainer.history
    if out_dir is not None and distributed.rank() == 0:
        tagger.save(out_dir)
    return tagger


def _training_data(tagger: NERTagger, train, s: dict) -> tuple[tuple, np.ndarray, Callable]:
    """The windows and tag ids of the training words, and the batches' augmentation."""
    X = tagger.features([ws for ws, _ in train])
    tag_index = {t: i for i, t in enumerate(tagger.tags)}
    y = np.array([tag_index[t] for _, ts in train for t in ts], dtype=np.int64)
    words = tagger.words
    counts = np.array([words.counts.get(t, 0) for t in words.tokens], dtype=np.int64)
    augment = None if not s["unk_replace"] else partial(
        _hide_singletons, singleton=counts == 1, p=s["unk_replace"], unk_id=words.unk_id)
    return X, y, augment


def _f1_hook(tagger: NERTagger, valid) -> tuple[Callable[[dict], dict], int]:
    """The validate hook scoring ``valid`` after each epoch (its windows built once, here),
    and the number of words it runs through the network."""
    features = tagger.features([ws for ws, _ in valid])

    def entity_f1(logs: dict) -> dict:
        scores = tagger.evaluate(valid, features=features)
        return {"val_f1": scores["f1"], "val_accuracy": scores["accuracy"]}

    return entity_f1, len(features[0])


def _new_tagger(train, s: dict) -> NERTagger:
    """An untrained tagger for the sentences ``train`` with the settings ``s``: its tag list
    (O first, then by entity type), word (and affix) vocabularies and network."""
    tags = sorted({t for _, ts in train for t in ts}, key=lambda t: (t != "O", t[2:], t))
    words = Vocabulary.build((normalize_word(w) for ws, _ in train for w in ws),
                             min_freq=s["min_freq"])
    affix_vocab = None if not s["affix_dim"] else Vocabulary.build(
        (a for ws, _ in train for w in ws for a in affixes(w)), min_freq=2)
    module = WindowTagger(len(words), len(tags), radius=s["radius"], word_dim=s["word_dim"],
                          casing_dim=s["casing_dim"], hidden=s["hidden"],
                          activation=s["activation"], dropout=s["dropout"],
                          num_affixes=0 if affix_vocab is None else len(affix_vocab),
                          affix_dim=s["affix_dim"], crf=s["decode"] == "crf",
                          embed_dropout=s["embed_dropout"], rng=np.random.default_rng(s["seed"]))
    use_trainer_dropout(module)
    return NERTagger(module, words, tags, decode=s["decode"], affixes=affix_vocab,
                     info={"training": s})


def _tagger_settings(radius, word_dim, casing_dim, affix_dim, hidden, activation, dropout,
                     embed_dropout, weight_decay, min_freq, unk_replace, epochs, batch_size,
                     lr, optimizer, clip_norm, max_time, seed, decode) -> dict:
    """Every setting of a run, checked (JSON data)."""
    where = "train_tagger"
    if decode not in DECODERS:
        raise ValueError(f"{where}: decode must be one of {DECODERS}, got {decode!r}")
    return {"radius": check_int(radius, "radius", where, minimum=0),
            "word_dim": check_int(word_dim, "word_dim", where),
            "casing_dim": check_int(casing_dim, "casing_dim", where),
            "affix_dim": check_int(affix_dim, "affix_dim", where, minimum=0),
            "hidden": list(hidden_sizes(hidden, where)), "activation": activation,
            "dropout": check_float(dropout, "dropout", where, allow_minimum=True, below=1),
            "embed_dropout": check_float(embed_dropout, "embed_dropout", where,
                                         allow_minimum=True, below=1),
            "weight_decay": check_float(weight_decay, "weight_decay", where,
                                        allow_minimum=True),
            "min_freq": check_int(min_freq, "min_freq", where),
            "unk_replace": check_float(unk_replace, "unk_replace", where, allow_minimum=True,
                                       below=1),
            "epochs": check_int(epochs, "epochs", where),
            "batch_size": check_int(batch_size, "batch_size", where),
            "lr": check_float(lr, "lr", where), "optimizer": optimizer,
            "clip_norm": check_optional_float(clip_norm, "clip_norm", where),
            "max_time": check_optional_float(max_time, "max_time", where), "seed": seed,
            "decode": decode}


def _hide_singletons(inputs: tuple, rng: np.random.Generator, singleton: np.ndarray, p: float,
                     unk_id: int) -> tuple:
    """Word dropout for rare words: each word of the batch's windows that was seen once in
    training is shown as ``<unk>`` with chance p."""
    word_windows, *rest = inputs
    hide = singleton[word_windows] & (rng.random(word_windows.shape) < p)
    return np.where(hide, unk_id, word_windows), *rest
