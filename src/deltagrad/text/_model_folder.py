"""Reading the text models' folders: the right kind of model, and a damaged config refused
with one ``ModelFileError`` line rather than a ``KeyError`` from deep inside a constructor,
or a lying one before its sizes are allocated."""

from __future__ import annotations

import os
from contextlib import contextmanager

from .. import io
from ..io.architecture import tensor_shapes
from ._training import hidden_sizes


def _mlp(n_in: int, hidden, n_out: int, activation: str, dropout) -> dict:
    return {"type": "MLP", "in_features": n_in, "hidden_sizes": list(hidden_sizes(hidden, "hidden")),
            "out_features": n_out, "activation": activation, "dropout": dropout}


def _embedding(rows: int, dim: int) -> dict:
    return {"type": "Embedding", "num_embeddings": rows, "embedding_dim": dim}


def _tagger_layers(n: dict) -> dict:
    """The built-in layers of a ``WindowTagger`` with the settings ``n`` (its ``config()``)."""
    width = 2 * n["radius"] + 1
    layers = {"words": _embedding(n["num_words"], n["word_dim"]),
              "casings": _embedding(n["num_casings"], n["casing_dim"])}
    per_word = n["word_dim"] + n["casing_dim"]
    if n.get("num_affixes"):  # a prefix and a suffix vector per word
        layers["affixes"] = _embedding(n["num_affixes"], n["affix_dim"])
        per_word += 2 * n["affix_dim"]
    layers["mlp"] = _mlp(width * per_word, n["hidden"], n["num_tags"], n["activation"],
                         n["dropout"])
    return layers


def _tagger_own(n: dict) -> dict:
    """The tensors a ``WindowTagger`` keeps itself: its learned CRF scores, if any."""
    t = n["num_tags"]
    return {"start_scores": (t,), "transition_scores": (t, t), "end_scores": (t,)} if n.get(
        "crf") else {}


def _lm_layers(n: dict) -> dict:
    """The built-in layers of a ``FeedForwardLM`` with the settings ``n``."""
    width = n["context"] * n["embed_dim"]
    out = n["embed_dim"] if n.get("tie_embeddings") else n["vocab_size"]
    layers = {"embedding": _embedding(n["vocab_size"], n["embed_dim"]),
              "mlp": _mlp(width, n["hidden"], out, n.get("activation", "tanh"),
                          n["dropout"])}
    if n["direct"]:
        layers["direct"] = {"type": "Linear", "in_features": width,
                            "out_features": n["vocab_size"], "bias": False}
    return layers


def _lm_own(n: dict) -> dict:
    """The parameters a ``FeedForwardLM`` holds itself: the tied output layer's bias."""
    return {"output_bias": (n["vocab_size"],)} if n.get("tie_embeddings") else {}


# by the KIND that text.ner and text.lm save their folders as
_LAYERS = {"deltagrad.text.ner.NERTagger": _tagger_layers,
           "deltagrad.text.lm.LanguageModel": _lm_layers}
_OWN = {"deltagrad.text.ner.NERTagger": _tagger_own,
        "deltagrad.text.lm.LanguageModel": _lm_own}


def read_metadata(path: str | os.PathLike, kind: str, what: str) -> dict:
    """The metadata in folder ``path``, refused unless it was saved as ``kind`` and its
    network settings imply exactly the saved weights' names and shapes (checked before the
    network is built, so a lying size is never allocated)."""
    meta = io.load_metadata(path)
    if meta.get("kind") != kind:
        raise io.ModelFileError(f"{os.fspath(path)}: not a {what} folder (its config.json "
                                f"has kind {meta.get('kind')!r})")
    with config_errors(path, what):
        spec = {"type": "Sequential", "children": _LAYERS[kind](meta["network"])}
        implied = tensor_shapes(spec, where="network")
        implied.update(_OWN[kind](meta["network"]))
    saved = {name: array.shape for name, array in io.load_state_dict(path).items()}
    if implied != saved:
        wrong = sorted(set(implied.items()) ^ set(saved.items()))[:4]
        raise io.ModelFileError(f"{os.fspath(path)}: its {what} settings do not fit its weights "
                                f"(they differ in {wrong})")
    return meta


@contextmanager
def config_errors(path: str | os.PathLike, what: str):
    """Turn a missing key or a bad value met while rebuilding the model into a clear error."""
    try:
        yield
    except io.ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{os.fspath(path)}: damaged {what} config "
                                f"({type(exc).__name__}: {exc})") from None
