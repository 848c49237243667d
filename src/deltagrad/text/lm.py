"""A feed-forward neural language model after Bengio, Ducharme, Vincent & Jauvin (2003), "A
Neural Probabilistic Language Model": the embeddings of the previous ``context`` tokens are
concatenated -> hidden layer(s) (tanh as in the paper, or ReLU) -> softmax over the
vocabulary, at character or word level; plus the interpolated Kneser-Ney n-gram with the
same context as its baseline.

>>> lm = train_lm("abcabcabcabc" * 20, level="char", context=2, epochs=10, hidden=16,
...               embed_dim=4, lr=0.02, seed=0)
>>> lm.sample(6, prompt="ab", temperature=0)
'abcabcab'
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from .. import distributed, io
from .._checks import check_float, check_int, check_optional_float
from ..autograd import no_grad
from ..nn import functional as F
from ..nn.layers import ACTIVATIONS
from ..train import History, predict_batches
from ..train.sample_random import use_trainer_dropout
from . import _training
from ._model_folder import config_errors, read_metadata
from ._training import hidden_sizes
from .lm_network import FeedForwardLM
from .metrics import perplexity
from .mixture import mixture_nll, mixture_weight
from .ngram import KneserNeyLM
from .sampling import check_sampling, generate
from .tokenize import char_tokenize, detokenize, tokenize
from .vocab import Vocabulary
from .windows import ngram_dataset

KIND = "deltagrad.text.lm.LanguageModel"
LEVELS = ("char", "word")


# --- text <-> ids -----------------------------------------------------------------------


def split_text(text: str, valid_fraction: float = 0.1) -> tuple[str, str]:
    """The first ``1 - valid_fraction`` of ``text`` (by characters) and the rest, cut at
    the next line break after that point when there is one (so no word is split).

    >>> split_text("one\\ntwo\\nthree\\nfour\\n", 0.5)
    ('one\\ntwo\\nthree\\n', 'four\\n')
    """
    if not isinstance(text, str):
        raise TypeError(f"split_text: text must be a str, got {type(text).__name__}")
    check_float(valid_fraction, "valid_fraction", "split_text", below=1)
    cut = int(len(text) * (1 - valid_fraction))
    newline = text.find("\n", cut)
    if 0 <= newline < len(text) - 1:
        cut = newline + 1
    return text[:cut], text[cut:]


def _tokens(text: str, level: str, lowercase: bool) -> list[str]:
    if level == "char":
        return char_tokenize(text, lowercase=lowercase)
    return tokenize(text, lowercase=lowercase, newlines=True)


def _scores(nll: np.ndarray) -> dict:
    ce = float(np.mean(nll))
    return {"cross_entropy": ce, "perplexity": perplexity(nll), "bits": ce / math.log(2),
            "tokens": int(nll.size)}


# --- the language model -----------------------------------------------------------------


class LanguageModel:
    """A trained :class:`FeedForwardLM` with its vocabulary and how it reads text.

    Make one with :func:`train_lm` or :meth:`load`; then :meth:`evaluate` it on text,
    :meth:`sample` from it, :meth:`save` it as a model folder (``model.safetensors`` +
    ``config.json``).
    """

    def __init__(self, module: FeedForwardLM, vocab: Vocabulary, *, level: str = "char",
                 lowercase: bool = False, info: dict | None = None):
        if level not in LEVELS:
            raise ValueError(f"LanguageModel: level must be one of {LEVELS}, got {level!r}")
        if module.embedding.num_embeddings != len(vocab):
            raise ValueError(f"LanguageModel: the network has {module.embedding.num_embeddings}"
                             f" ids but the vocabulary {len(vocab)}")
        self.module = module.eval()
        self.vocab = vocab
        self.level = level
        self.lowercase = bool(lowercase)
        self.info = dict(info or {})
        self.history: History | None = None  # the Trainer's history, after train_lm

    @property
    def context(self) -> int:
        return self.module.context

    def __repr__(self) -> str:
        return (f"LanguageModel(level={self.level!r}, context={self.context}, "
                f"{len(self.vocab)} tokens, hidden={list(self.module.hidden)})")

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s tokens (unknown ones -> ``<unk>``)."""
        if not isinstance(text, str):
            raise TypeError(f"LanguageModel.encode: text must be a str, got "
                            f"{type(text).__name__}")
        return self.vocab.encode(_tokens(text, self.level, self.lowercase))

    def dataset(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(contexts, targets) of ``text``: every token with the ``context`` before it."""
        return ngram_dataset(self.encode(text), self.context, self.vocab.pad_id)

    def nll(self, contexts, targets, batch_size: int = 8192) -> np.ndarray:
        """The negative log-likelihood (nats) of each target given its context."""
        def nll(logits, rows):
            return F.cross_entropy(logits, targets[rows], reduction="none").data.astype(
                np.float64)

        return predict_batches(self.module, np.asarray(contexts), batch_size, transform=nll)

    def evaluate(self, text: str) -> dict:
        """Cross-entropy (nats per token), perplexity (its exp), bits per token and the
        number of tokens, over every token of ``text``."""
        X, y = self.dataset(text)
        if len(y) == 0:
            raise ValueError("LanguageModel.evaluate: the text has no tokens")
        return _scores(self.nll(X, y))

    def ngram_baseline(self, train_text: str, text: str) -> dict:
        """The scores on ``text`` (as :meth:`evaluate`) of an interpolated Kneser-Ney
        n-gram model with this model's context and vocabulary, counted on ``train_text``."""
        kn = KneserNeyLM(self.context, len(self.vocab)).fit(*self.dataset(train_text))
        X, y = self.dataset(text)
        if len(y) == 0:
            raise ValueError("LanguageModel.ngram_baseline: the text has no tokens")
        return _scores(-kn.log_prob(X, y))

    def ngram_table(self, train_text: str, text: str, contexts=range(1, 11)) -> dict:
        """``{context: scores}``: the scores on ``text`` (as :meth:`evaluate`) of an
        interpolated Kneser-Ney model of each context length in ``contexts``, counted on
        ``train_text`` with this model's vocabulary."""
        contexts = [check_int(c, "each context", "LanguageModel.ngram_table") for c in contexts]
        widest = max(contexts)
        X, y = ngram_dataset(self.encode(train_text), widest, self.vocab.pad_id)
        Xt, yt = ngram_dataset(self.encode(text), widest, self.vocab.pad_id)
        if len(yt) == 0:
            raise ValueError("LanguageModel.ngram_table: the text has no tokens")
        return {c: _scores(-KneserNeyLM(c, len(self.vocab)).fit(X, y).log_prob(Xt, yt))
                for c in contexts}

    def tune_mixture(self, train_text: str, tune_text: str, contexts=None) -> dict:
        """Choose, on held-out ``tune_text`` only, the Kneser-Ney model (context length in
        ``contexts``, by default 1 to this model's context; counted on ``train_text``) and
        the weight λ of :func:`~deltagrad.text.mixture.mixture_weight` that best mix with
        this network. Returns ``{"weight", "kn_context", "tune_tokens"}`` for
        :meth:`evaluate_mixture`."""
        contexts = range(1, self.context + 1) if contexts is None else contexts
        table = self.ngram_table(train_text, tune_text, contexts)
        kn_context = min(table, key=lambda c: table[c]["cross_entropy"])
        net, kn = self._both_nll(train_text, tune_text, kn_context)
        return {"weight": mixture_weight(net, kn), "kn_context": kn_context,
                "tune_tokens": int(net.size)}

    def evaluate_mixture(self, train_text: str, text: str, mix: dict) -> dict:
        """The scores on ``text`` of the network, of the Kneser-Ney model and of their
        mixture, as :meth:`tune_mixture` chose them (``mix``)."""
        net, kn = self._both_nll(train_text, text, mix["kn_context"])
        return {"model": _scores(net), "kneser_ney": _scores(kn),
                "mixture": _scores(mixture_nll(net, kn, mix["weight"])), **mix}

    def _both_nll(self, train_text: str, text: str, kn_context: int):
        """Each token's NLL under the network and under a Kneser-Ney model."""
        X, y = self.dataset(text)
        if len(y) == 0:
            raise ValueError("LanguageModel: the held-out text has no tokens")
        ids = self.encode(train_text)
        kn = KneserNeyLM(kn_context, len(self.vocab)).fit(
            *ngram_dataset(ids, kn_context, self.vocab.pad_id))
        Xk, _ = ngram_dataset(self.encode(text), kn_context, self.vocab.pad_id)
        return self.nll(X, y), -kn.log_prob(Xk, y)

    def sample(self, length: int = 300, *, prompt: str = "", temperature: float = 1.0,
               top_k: int | None = None, seed: int | None = None) -> str:
        """``prompt`` followed by ``length`` generated tokens, as text. ``temperature``
        below 1 sharpens the distribution (0: always the most likely token), ``top_k``
        keeps only the k most likely; the same ``seed`` gives the same text. Padding and
        ``<unk>`` are never drawn."""
        check_sampling(temperature, top_k, "LanguageModel.sample")
        prompt_ids = self.encode(prompt).tolist() if prompt else []
        banned = [i for i in (self.vocab.pad_id, self.vocab.unk_id) if i is not None]
        self.module.eval()

        def next_logits(ctx):
            with no_grad():
                return self.module(ctx).numpy()[0]

        ids = generate(next_logits, prompt_ids, length, context=self.context,
                       pad_id=self.vocab.pad_id, temperature=temperature, top_k=top_k,
                       seed=seed, banned=banned)
        tokens = self.vocab.decode(ids)
        if self.level == "char" or not prompt_ids or prompt[-1:].isspace():
            return prompt + detokenize(tokens, level=self.level)
        # Join the new words to the prompt as detokenize would join them to its last token
        # (no space before punctuation or a line break).
        last = _tokens(prompt, self.level, self.lowercase)[-1]
        return prompt + detokenize([last, *tokens])[len(last):]

    # --- model folders --------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Save as a model folder: weights in ``model.safetensors``; the network's settings,
        the vocabulary, the level and ``info`` in ``config.json``."""
        return io.save(self.module, path, metadata=self.metadata())

    def metadata(self) -> dict:
        """What :meth:`save` writes in ``config.json`` besides the network's layers."""
        return {"kind": KIND, "network": self.module.config(), "vocab": self.vocab.to_dict(),
                "level": self.level, "lowercase": self.lowercase, "info": self.info}

    @classmethod
    def load(cls, path: str | os.PathLike) -> LanguageModel:
        """The language model saved in folder ``path`` by :meth:`save`."""
        meta = read_metadata(path, KIND, "language model")
        with config_errors(path, "language model"):
            module = FeedForwardLM(**meta["network"])
            vocab = Vocabulary.from_dict(meta["vocab"])
            module.load_state_dict(io.load_state_dict(path))
            return cls(module, vocab, level=meta["level"], lowercase=meta["lowercase"],
                       info=meta.get("info"))


# --- training ---------------------------------------------------------------------------


#: What each setting left as None becomes, by level: the settings of the reported runs. A
#: character: a small softmax, so a context of 8 and two hidden layers are affordable; 512
#: characters to a step reached a lower validation loss in the same 4 minutes than 256 on a
#: busy 2-core machine. In bench/words_ab.py runs (one thread, seed 0, validation nats) ReLU
#: layers learned far faster than tanh (1.581 against 1.655 in 7 minutes), then overfit:
#: over 12 minutes dropout 0.2 reached 1.574, with AdamW's weight decay 0.1 1.549 (0.3:
#: 1.639), with 32-number vectors besides 1.527, the defaults (64 numbers: 1.525; two
#: 768-unit layers: 1.524, at half the epochs). A word: 6,400 words in the vocabulary, so
#: the output layer costs most, and the 260k training words are learned by heart within
#: minutes; tied embeddings make that layer the word vectors themselves. Validation
#: perplexity in bench/words_ab.py runs (one thread, seed 0) climbed from the earlier
#: defaults (context 3, 64-number vectors, one 256-unit layer, dropout 0.3: 76.1 in 5
#: minutes) by tied 128-number vectors and 512 units (78.4, overfitting by the second
#: epoch), dropout 0.5 and input dropout 0.25 (75.6), context 5 then 8 (73.6, 73.2) and
#: AdamW's weight decay 0.1 (72.6). A schedule spread over 15 minutes overfits before the
#: learning rate falls (best 75.4 at epoch 5 of 20, two threads), so words train 6 epochs:
#: 71.9 (seed 1: 72.3). Over 6 epochs 256-number vectors reached 73.0, and 71.7 (seed 1:
#: 71.7) with dropout 0.6 and input dropout 0.3; two 512-unit layers (128 numbers) 73.6. A
#: ReLU layer in place of the tanh one: 66.6 against 71.9 (6 epochs), the defaults.
LEVEL_DEFAULTS = {
    "char": {"context": 8, "hidden": (512, 512), "activation": "relu", "embed_dim": 32,
             "dropout": 0.2, "direct": True, "lr": 3e-3, "lowercase": False, "min_freq": 1,
             "batch_size": 512, "context_dropout": 0.0, "embed_dropout": 0.0,
             "tie_embeddings": False, "optimizer": "adamw", "weight_decay": 0.1, "epochs": 10},
    "word": {"context": 8, "hidden": (512,), "activation": "relu", "embed_dim": 256,
             "dropout": 0.6, "direct": False, "lr": 2e-3, "lowercase": True, "min_freq": 2,
             "batch_size": 512, "context_dropout": 0.0, "embed_dropout": 0.3,
             "tie_embeddings": True, "optimizer": "adamw", "weight_decay": 0.1, "epochs": 6},
}
_PER_LEVEL = frozenset(LEVEL_DEFAULTS["char"])


def train_lm(text: str, *, level: str = "char", context: int | None = None,
             valid_text: str | None = None, valid_fraction: float = 0.1,
             lowercase: bool | None = None, min_freq: int | None = None,
             embed_dim: int | None = None, hidden=None, activation: str | None = None,
             dropout: float | None = None, direct: bool | None = None,
             context_dropout: float | None = None, embed_dropout: float | None = None,
             tie_embeddings: bool | None = None,
             weight_decay: float | None = None, epochs: int | None = None,
             batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
             clip_norm: float | None = None, max_time: float | None = None, seed: int = 0,
             out_dir: str | os.PathLike | None = None, resume: bool = False,
             progress="none", log: Callable[[str], None] | None = None,
             deterministic: bool = False, device=None) -> LanguageModel:
    """Train a :class:`FeedForwardLM` on ``text``; return the :class:`LanguageModel`.

    Without ``valid_text`` the last ``valid_fraction`` of ``text`` is held out for
    validation (:func:`split_text`; 0 holds nothing out). ``level`` "char" models every
    character; "word" models words and punctuation from :func:`tokenize`, line breaks
    included, words seen fewer than ``min_freq`` times becoming ``<unk>``. Settings left
    as None take the level's value in :data:`LEVEL_DEFAULTS`. Training runs in
    :class:`~deltagrad.train.Trainer`: the learning rate falls along a half cosine (to 5 %)
    over the run, ``epochs`` long or ``max_time`` seconds (evaluation included), whichever
    ends first; with validation text the validation loss and perplexity are measured after
    each epoch and the best epoch's weights kept. ``clip_norm`` clips the gradients' norm;
    a NaN or infinite loss stops training with an error naming the epoch, batch and op.
    With ``out_dir`` a checkpoint is written there after every epoch and the model folder
    at the end; ``resume=True`` continues an interrupted run exactly (same text and
    settings). ``progress``: the trainer's display ("auto", "bar", "plain", "none"); ``log``
    gets one line per epoch; ``device`` (e.g. ``"cuda"``) trains there.

    ``activation``: the hidden layers'. ``dropout`` zeroes hidden units, ``embed_dropout``
    input numbers; ``weight_decay`` goes to the optimiser; ``tie_embeddings``: see
    :class:`FeedForwardLM`. ``context_dropout`` shows each context token as ``<unk>`` with
    that chance while training, so the network learns to predict from the rest, as an n-gram
    model backs off to a shorter one (Xie et al., 2017, "Data noising as smoothing").
    """
    # the arguments that have a per-level default (those given as None take it)
    per_level = {name: value for name, value in locals().items() if name in _PER_LEVEL}
    started = time.perf_counter()  # the time budget includes preparing the data
    where = "train_lm"
    if not isinstance(text, str):
        raise TypeError(f"{where}: text must be a str, got {type(text).__name__}")
    s = {**_lm_settings(level, per_level, clip_norm, max_time, seed, valid_fraction),
         "deterministic": bool(deterministic)}
    run_info = {"settings": s, "data": {}}  # the trainer checks the token arrays itself
    _training.check_resume(out_dir, resume, run_info, where)
    if valid_text is None and valid_fraction:
        text, valid_text = split_text(text, valid_fraction)
    vocab = Vocabulary.build(_tokens(text, level, s["lowercase"]), min_freq=s["min_freq"])
    module = FeedForwardLM(len(vocab), s["context"], rng=np.random.default_rng(seed), **{
        k: s[k] for k in ("embed_dim", "hidden", "activation", "dropout", "direct",
                          "embed_dropout", "tie_embeddings")})
    use_trainer_dropout(module)
    model = LanguageModel(module, vocab, level=level, lowercase=s["lowercase"], info={
        "training": s})
    X, y = model.dataset(text)
    if len(y) == 0:
        raise ValueError(f"{where}: the training text has no tokens")
    valid = model.dataset(valid_text) if valid_text else None
    valid = valid if valid is not None and len(valid[1]) else None
    augment = None if not s["context_dropout"] else partial(
        _hide_context, p=s["context_dropout"], unk_id=vocab.unk_id)
    trainer, best = _training.fit(
        module, X, y, run_info=run_info, started=started,
        monitor="val_loss" if valid else None, augment=augment, validation_data=valid,
        validate=_perplexity if valid else None, out_dir=out_dir, resume=resume,
        metadata=model.metadata(), progress=progress, log=log, device=device)
    module.eval()
    model.info = _training.training_info(trainer, best, s)
    model.history = trainer.history
    if out_dir is not None and distributed.rank() == 0:
        model.save(out_dir)
    return model


def _lm_settings(level, given: dict, clip_norm, max_time, seed,
                 valid_fraction) -> dict:
    """Every setting of a run, checked, the level's defaults filled in for those ``given``
    as None (JSON data)."""
    where = "train_lm"
    if level not in LEVELS:
        raise ValueError(f"{where}: level must be one of {LEVELS}, got {level!r}")
    s = {k: LEVEL_DEFAULTS[level][k] if v is None else v for k, v in given.items()}
    if s["activation"] not in ACTIVATIONS:
        raise ValueError(f"{where}: activation must be one of {sorted(ACTIVATIONS)}, got "
                         f"{s['activation']!r}")
    return {"level": level, "context": check_int(s["context"], "context", where),
            "embed_dim": check_int(s["embed_dim"], "embed_dim", where),
            "hidden": list(hidden_sizes(s["hidden"], where)),
            "activation": s["activation"],
            "dropout": check_float(s["dropout"], "dropout", where, allow_minimum=True,
                                   below=1),
            "direct": bool(s["direct"]), "tie_embeddings": bool(s["tie_embeddings"]),
            "embed_dropout": check_float(s["embed_dropout"], "embed_dropout", where,
                                         allow_minimum=True, below=1),
            "weight_decay": check_float(s["weight_decay"], "weight_decay", where,
                                        allow_minimum=True),
            "context_dropout": check_float(s["context_dropout"], "context_dropout", where,
                                           allow_minimum=True, below=1),
            "min_freq": check_int(s["min_freq"], "min_freq", where),
            "lowercase": bool(s["lowercase"]), "epochs": check_int(s["epochs"], "epochs", where),
            "batch_size": check_int(s["batch_size"], "batch_size", where),
            "lr": check_float(s["lr"], "lr", where), "optimizer": s["optimizer"],
            "clip_norm": check_optional_float(clip_norm, "clip_norm", where),
            "max_time": check_optional_float(max_time, "max_time", where),
            "seed": seed, "valid_fraction": valid_fraction}


def _hide_context(inputs: tuple, rng: np.random.Generator, p: float, unk_id: int) -> tuple:
    """Context dropout: each context token of the batch shown as ``<unk>`` with chance p."""
    (contexts,) = inputs
    return (np.where(rng.random(contexts.shape) < p, unk_id, contexts),)


def _perplexity(logs: dict) -> dict:
    return {"val_perplexity": math.exp(logs["val_loss"])}
