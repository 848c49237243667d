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
from .bio import penalties

#: L-BFGS iterations at most: the likelihood is convex in these few scores. On CoNLL-2003 10
#: iterations already gave the validation F1 of 100 (bench/ner_crf.py).
MAX_STEPS = 50
#: the evaluations of the likelihood the time budget reserves for a fit. A fit under a
#: budget runs on to its deadline (the end of the budget) or to convergence, so reserving
#: too little costs nothing but iterations, too much ends the run early.
EXPECTED_EVALUATIONS = 15


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
    first, penalty = penalties(tuple(tag_names))
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


class CRFStage:
    """The CRF stage of ``train_tagger``: set up before training, where it checks that the
    training tags ``y`` (ids, one per window of ``X``) are valid BIO (the likelihood forbids
    what the decoder forbids) and measures the time to reserve for it (``reserve``, 0
    without a budget); :meth:`run` after training. ``tagger`` is a NERTagger whose network
    was built with ``crf=True``; ``started`` and ``max_time`` are the run's budget."""

    def __init__(self, tagger, X: tuple, y: np.ndarray, lengths, started: float,
                 max_time: float | None):
        self.tagger, self.X, self.y = tagger, X, y
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.deadline = None if max_time is None else started + max_time
        self._check_bio()
        self.reserve = 0.0 if max_time is None else self._seconds()

    def _check_bio(self) -> None:
        first, penalty = penalties(tuple(self.tagger.tags))
        y, starts = self.y, np.cumsum(self.lengths) - self.lengths
        broken = np.isinf(penalty[y[:-1], y[1:]])
        broken[starts[1:] - 1] = False  # no move between sentences
        broken = np.concatenate([[False], broken])
        broken[starts] = np.isinf(first[y[starts]])
        if broken.any():
            k = int(np.argmax(broken))
            i = int(np.searchsorted(starts, k, side="right")) - 1
            after = "the start" if k == starts[i] else self.tagger.tags[y[k - 1]]
            raise ValueError(f"train_tagger: training sentence {i} breaks BIO "
                             f"({self.tagger.tags[y[k]]} at word {k - starts[i]} after "
                             f"{after}), which decode='crf' needs; convert IOB1 tags to BIO "
                             f"or use decode='viterbi'")

    def _seconds(self) -> float:
        """The network's scores of every training word (a timed pass over a few thousand,
        scaled) and the fit."""
        began, rows = time.perf_counter(), min(len(self.y), 4096)
        self.tagger.window_log_probs(tuple(x[:rows] for x in self.X))
        forward = (time.perf_counter() - began) * len(self.y) / rows
        return forward + fit_seconds(self.lengths, len(self.tagger.tags))

    def run(self, entity_f1=None, last_validation: float = 0.0) -> dict:
        """Fit the transition scores on the frozen network's log-probabilities of the
        training words and store them in its buffers, by the end of the budget less
        ``last_validation`` (the seconds the last validation scoring took: one more is
        made here). Returns the stage's time and, given ``entity_f1`` (the validation
        hook), the validation entity F1 decoded with the learned scores."""
        began, module = time.perf_counter(), self.tagger.module
        deadline = None if self.deadline is None else self.deadline - last_validation
        scores = fit_transition_scores(self.tagger.window_log_probs(self.X), self.lengths,
                                       self.y, self.tagger.tags, deadline=deadline)
        module.start_scores = scores["start"].astype(np.float32)
        module.transition_scores = scores["transitions"].astype(np.float32)
        module.end_scores = scores["end"].astype(np.float32)
        info = {"seconds": round(time.perf_counter() - began, 2)}
        if entity_f1 is not None:
            info["valid_f1"] = entity_f1({})["val_f1"]
        return info
