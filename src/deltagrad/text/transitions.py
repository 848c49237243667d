"""The tagger's learned tag-transition scores: a linear-chain CRF (Collobert et al. 2011's
sentence-level log-likelihood, :func:`deltagrad.nn.crf.crf_nll`) fitted on top of a trained,
frozen window network. The network's scores of every training word are computed once; then
only T² + 2T numbers (start, transition and end scores) are fitted, full batch, by L-BFGS,
with BIO-invalid moves forbidden (-inf) in the likelihood as in the decoder
(:func:`~deltagrad.text.bio.constrained_decode`)."""

from __future__ import annotations

import time

import numpy as np

from ..autograd.tensor import Tensor
from ..nn.crf import crf_nll
from .bio import _penalties

#: L-BFGS iterations at most: the likelihood is convex in these few scores; on CoNLL-2003 it
#: converges in about 50 evaluations, and 30 iterations already gave the same validation F1.
MAX_STEPS = 100
#: the evaluations of the likelihood the time budget reserves for a fit; a fit under a
#: budget then runs on to its deadline (what is left of the budget) or to convergence
EXPECTED_EVALUATIONS = 35


class _OutOfTime(Exception):
    pass


def fit_seconds(lengths, num_tags: int) -> float:
    """What :func:`fit_transition_scores` is expected to take on sentences of ``lengths``
    with ``num_tags`` tags: one evaluation of the likelihood and its gradient, timed (on
    zero scores: the cost does not depend on them), times ``EXPECTED_EVALUATIONS``."""
    from scipy.optimize import minimize  # noqa: F401  (its first import, not in the timing)

    lengths = np.asarray(lengths)
    began = time.perf_counter()
    trans = Tensor(np.zeros((num_tags, num_tags)), requires_grad=True)
    crf_nll(np.zeros((int(lengths.sum()), num_tags)), lengths,
            np.zeros(int(lengths.sum()), np.int64), np.zeros(num_tags), trans,
            np.zeros(num_tags)).backward()
    return (time.perf_counter() - began) * EXPECTED_EVALUATIONS


def fit_transition_scores(emissions: np.ndarray, lengths, tags: np.ndarray, tag_names, *,
                          max_steps: int = MAX_STEPS,
                          deadline: float | None = None) -> dict[str, np.ndarray]:
    """The start (T,), transition (T, T) and end (T,) scores maximising the sentence-level
    log-likelihood of the gold ``tags`` (words,) given the fixed ``emissions`` (words, T) of
    sentences of ``lengths``, starting from 0 (plain BIO-constrained Viterbi). Stops after
    ``max_steps`` L-BFGS iterations or at ``deadline`` (a ``time.perf_counter()`` reading),
    keeping the best scores evaluated so far. Returns ``{"start": ..., "transitions": ...,
    "end": ...}`` (float64; 0 where BIO forbids a move)."""
    from scipy.optimize import minimize  # deferred: only this fit needs SciPy

    num_tags = emissions.shape[1]
    first, penalty = _penalties(tuple(tag_names))
    emissions = np.asarray(emissions, dtype=np.float64)
    sizes = (num_tags, num_tags * num_tags, num_tags)
    best = {"loss": np.inf, "x": np.zeros(sum(sizes))}

    def loss_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        if deadline is not None and time.perf_counter() >= deadline:
            raise _OutOfTime
        start, trans, end = (Tensor(part, requires_grad=True)
                             for part in np.split(x, np.cumsum(sizes)[:-1]))
        trans_2d = trans.reshape(num_tags, num_tags)
        loss = crf_nll(emissions, lengths, tags, start + first, trans_2d + penalty, end)
        loss.backward()
        if loss.item() < best["loss"]:
            best.update(loss=loss.item(), x=x.copy())
        return loss.item(), np.concatenate([start.grad, trans.grad, end.grad])

    try:
        minimize(loss_and_grad, best["x"], jac=True, method="L-BFGS-B",
                 options={"maxiter": max_steps})
    except _OutOfTime:
        pass
    start, trans, end = np.split(best["x"], np.cumsum(sizes)[:-1])
    return {"start": start, "transitions": trans.reshape(num_tags, num_tags), "end": end}


# --- the tagger's CRF stage ------------------------------------------------------------


def crf_stage_seconds(tagger, X: tuple, lengths) -> float:
    """What :func:`crf_stage` is expected to take, reserved in its time budget: the
    network's scores of every training word (a timed pass over a few thousand, scaled) and
    the fit."""
    began, rows = time.perf_counter(), min(len(X[0]), 4096)
    tagger.window_log_probs(tuple(x[:rows] for x in X))
    forward = (time.perf_counter() - began) * len(X[0]) / rows
    return forward + fit_seconds(lengths, len(tagger.tags))


def crf_stage(tagger, X: tuple, lengths, y, entity_f1, deadline) -> dict:
    """The CRF stage of ``train_tagger`` (``tagger`` a NERTagger whose network was built
    with ``crf=True``, ``X`` its training windows, ``y`` their tags): the transition
    scores fitted on the frozen network's log-probabilities of the training words and
    stored in its buffers. Returns its time and, given ``entity_f1`` (the validation hook),
    the validation entity F1 decoded with the learned scores."""
    began = time.perf_counter()
    scores = fit_transition_scores(tagger.window_log_probs(X), lengths, y, tagger.tags,
                                   deadline=deadline)
    module = tagger.module
    module.start_scores = scores["start"].astype(np.float32)
    module.transition_scores = scores["transitions"].astype(np.float32)
    module.end_scores = scores["end"].astype(np.float32)
    info = {"seconds": round(time.perf_counter() - began, 2)}
    if entity_f1 is not None:
        info["valid_f1"] = entity_f1({})["val_f1"]
    return info
