"""Evaluation for text models: entity-level precision/recall/F1 over BIO tags (the CoNLL
shared-task evaluation, ``conlleval``'s rules) and perplexity."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


def _split(tag: str) -> tuple[str, str]:
    """("B", "PER") from "B-PER"; ("O", "") from "O"."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not kind:
        raise ValueError(f"entity tags must be O or PREFIX-TYPE with PREFIX one of B, I, E, "
                         f"S; got {tag!r}")
    return prefix, kind


def _ends(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """Does a chunk end between a token tagged (prev, prev_type) and one tagged (tag, kind)?"""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != kind


def _starts(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """Does a chunk start at a token tagged (tag, kind) after one tagged (prev, prev_type)?
    As conlleval: an I- after O, or after an entity of another type, starts a new one."""
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("I", "E"):
        return True
    return tag != "O" and prev_type != kind


def entity_spans(tags) -> list[tuple[str, int, int]]:
    """The entities in one sentence's tags as ``(type, start, end)`` with ``end`` exclusive,
    read as the CoNLL evaluation script (conlleval) reads them: ``B-X`` starts an entity,
    ``I-X`` continues one of type X, and an ``I-X`` with no entity of type X before it
    starts a new one. E- and S- (BIOES) tags are understood too.

    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4), ('LOC', 4, 5), ('ORG', 5, 6)]
    """
    spans = []
    prev, prev_type, start = "O", "", None
    for i, tag in enumerate(list(tags) + ["O"]):  # a final O closes the last entity
        cur, kind = _split(tag)
        if start is not None and _ends(prev, prev_type, cur, kind):
            spans.append((prev_type, start, i))
            start = None
        if _starts(prev, prev_type, cur, kind):
            start = i
        prev, prev_type = cur, kind
    return spans


def _sentences(tags, name: str) -> list[list[str]]:
    tags = list(tags)
    if tags and all(isinstance(t, str) for t in tags):
        return [tags]  # one sentence
    if not all(isinstance(s, (list, tuple)) for s in tags):
        raise TypeError(f"entity_scores: {name} must be a list of tags or a list of "
                        f"sentences (lists of tags)")
    return [list(s) for s in tags]


def _prf(correct: int, found_pred: int, found_true: int) -> dict[str, float]:
    precision = correct / found_pred if found_pred else 0.0
    recall = correct / found_true if found_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(true_tags, pred_tags) -> dict:
    """Entity-level precision, recall and F1 (an entity counts as found only when its type
    and both boundaries match exactly), token accuracy, and the same per entity type: the
    figures of the CoNLL-2003 evaluation script.

    ``true_tags`` and ``pred_tags`` are lists of sentences (lists of tags), or two lists of
    tags for one sentence. Entities never cross a sentence boundary. Returns a dict:
    ``precision``, ``recall``, ``f1``, ``accuracy`` (all tokens, ``O`` included),
    ``true_entities``, ``pred_entities``, ``correct_entities``, ``tokens`` and
    ``per_type`` ({type: {precision, recall, f1, support}}).

    >>> s = entity_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]])
    >>> s["precision"], s["recall"], round(s["f1"], 4), s["accuracy"]
    (1.0, 0.5, 0.6667, 0.75)
    """
    truth, pred = _sentences(true_tags, "true_tags"), _sentences(pred_tags, "pred_tags")
    if len(truth) != len(pred):
        raise ValueError(f"entity_scores: {len(truth)} true sentences but {len(pred)} "
                         f"predicted ones")
    n_true, n_pred, n_correct = Counter(), Counter(), Counter()
    tokens = right = 0
    for i, (t, p) in enumerate(zip(truth, pred)):
        if len(t) != len(p):
            raise ValueError(f"entity_scores: sentence {i} has {len(t)} true tags but "
                             f"{len(p)} predicted ones")
        tokens += len(t)
        right += sum(a == b for a, b in zip(t, p))
        true_spans, pred_spans = set(entity_spans(t)), set(entity_spans(p))
        n_true.update(kind for kind, _, _ in true_spans)
        n_pred.update(kind for kind, _, _ in pred_spans)
        n_correct.update(kind for kind, _, _ in true_spans & pred_spans)
    totals = (sum(n_correct.values()), sum(n_pred.values()), sum(n_true.values()))
    per_type = {kind: {**_prf(n_correct[kind], n_pred[kind], n_true[kind]),
                       "support": n_true[kind]}
                for kind in sorted(set(n_true) | set(n_pred))}
    return {**_prf(*totals), "accuracy": right / tokens if tokens else 0.0,
            "true_entities": totals[2], "pred_entities": totals[1],
            "correct_entities": totals[0], "tokens": tokens, "per_type": per_type}


def perplexity(nll) -> float:
    """exp(mean negative log-likelihood): ``nll`` holds per-token losses in nats (or is
    their mean already). The effective number of equally likely choices per token.

    >>> perplexity([math.log(4), math.log(4)])
    4.0
    """
    values = np.asarray(nll, dtype=np.float64)
    if values.size == 0:
        raise ValueError("perplexity: nll is empty")
    if not np.all(np.isfinite(values)):
        raise ValueError("perplexity: nll holds a non-finite value (a token given "
                         "probability 0?)")
    return float(math.exp(values.mean()))
