"""The linear-chain CRF's negative sentence-level log-likelihood (the "SLL" of Collobert et
al. 2011; Lafferty et al. 2001), one op with its backward beside it.

A sentence of n words with emission scores ``E`` (n, T) gives a tag path y the score

    s(y) = start[y₀] + Σᵢ E[i, yᵢ] + Σ_{i>0} trans[yᵢ₋₁, yᵢ] + end[yₙ₋₁]

and the probability exp(s(y)) / Z, where Z sums exp(s) over all Tⁿ paths. The forward
algorithm gives log Z in n steps of a (T, T) log-sum-exp; the derivative of log Z by any
score is how often the model expects that score to be used (the marginals of the
forward-backward algorithm), the derivative of s(y) how often the gold path uses it, so the
gradient of the loss is "expected counts minus gold counts". A score of ``-inf`` in
``start``, ``trans`` or ``end`` forbids that move (a BIO ``O -> I-PER``): no path through it
counts in Z, and its gradient is 0.

>>> import numpy as np, deltagrad as dg
>>> from deltagrad.nn.crf import crf_nll
>>> emissions = dg.tensor(np.zeros((3, 2)), requires_grad=True)  # one sentence, 3 words
>>> trans = dg.tensor(np.zeros((2, 2)), requires_grad=True)
>>> loss = crf_nll(emissions, [3], [0, 1, 1], np.zeros(2), trans, np.zeros(2))
>>> round(loss.item(), 4), round(float(np.log(2 ** 3)), 4)  # every one of the 8 paths alike
(2.0794, 2.0794)
"""

from __future__ import annotations

import numpy as np

from ..autograd.arrays import logsumexp
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend.shims import errstate
from ._loss_checks import _check_reduction, _float_input, _reduce


def log_matmul_exp(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """log(eᵃ @ eᵐ) for a (n, T) and m (T, T): the forward algorithm's step
    ``logsumexp(a[:, :, None] + m, axis=1)`` as one matrix product of shifted exponentials
    (each row of ``a`` by its max, each column of ``m`` by its max, so nothing overflows),
    several times faster than forming the (n, T, T) sums. Where that underflows to -inf
    although some term is finite (scores over ~700 apart), those rows are redone exactly."""
    a_top, m_top = _finite_max(a, axis=1), _finite_max(m, axis=0)
    with errstate(np, divide="ignore", over="ignore"):
        out = np.log(np.exp(a - a_top[:, None]) @ np.exp(m - m_top)) + a_top[:, None] + m_top
    lost = np.isneginf(out)
    if lost.any():  # rare: some state unreachable, or a true underflow
        lost &= np.isfinite(a).astype(a.dtype) @ np.isfinite(m) > 0
        rows = lost.any(axis=1)
        out[rows] = logsumexp(a[rows][:, :, None] + m, axis=1)
    return out


def _finite_max(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis)
    top[~np.isfinite(top)] = 0.0  # all -inf: any shift will do
    return top


class Chains:
    """The sentences of a flat (words, T) array, longest first, so that the sentences
    still running at position t are the first ``active[t]`` of that order: each step of the
    recursions works on a prefix of rows, with no padding and no mask."""

    __slots__ = ("lengths", "order", "first", "last", "active", "sentence")

    def __init__(self, lengths: np.ndarray):
        self.lengths = lengths
        self.order = np.argsort(-lengths, kind="stable")
        ends = np.cumsum(lengths)
        self.first, self.last = ends - lengths, ends - 1  # rows, in the given order
        longest = int(lengths.max())
        self.active = np.searchsorted(-lengths[self.order], -np.arange(longest + 1))
        self.sentence = np.repeat(np.arange(len(lengths)), lengths)

    def rows(self, t: int) -> np.ndarray:
        """The rows of position t of the sentences still running there (longest first)."""
        return self.first[self.order[:self.active[t]]] + t

    def gold_score(self, E, tags, start, trans, end) -> np.ndarray:
        """s(y) of each sentence's gold path (S,)."""
        inside = np.ones(len(tags), dtype=bool)
        inside[self.first] = False  # rows that continue a sentence
        step = trans[tags[:-1], tags[1:]][inside[1:]]
        return (np.bincount(self.sentence, E[np.arange(len(tags)), tags],
                            minlength=len(self.lengths))
                + np.bincount(self.sentence[inside], step, minlength=len(self.lengths))
                + start[tags[self.first]] + end[tags[self.last]])


class CRFNegLogLikelihood(Function):
    """z_s = log Z_s - s(y_s) per sentence  ->  δE, δstart, δtrans, δend = (expected counts
    under the model - counts on the gold path) δz_s"""

    constants = ("chains", "tags")
    derived = ("alphas", "log_z")  # no rebuild: the op is differentiated once
    __slots__ = constants + derived
    name = "crf_nll"
    saves = (0, 1, 2, 3)

    def forward(self, E, start, trans, end, chains=None, tags=None):
        self.chains, self.tags = chains, tags
        c = chains
        alphas = [start + E[c.rows(0)]]  # log-sum of the paths ending in each tag, (n_t, T)
        for t in range(1, len(c.active) - 1):
            prev = alphas[-1][:c.active[t]]
            alphas.append(log_matmul_exp(prev, trans) + E[c.rows(t)])
        final = np.empty((len(c.lengths), E.shape[1]), dtype=E.dtype)  # longest first
        for t, alpha in enumerate(alphas):
            final[c.active[t + 1]:c.active[t]] = alpha[c.active[t + 1]:]  # ending at t
        log_z = np.empty(len(c.lengths), dtype=E.dtype)
        log_z[c.order] = logsumexp(final + end, axis=1)
        gold = c.gold_score(E, tags, start, trans, end)
        bad = np.flatnonzero(~np.isfinite(gold))
        if len(bad):
            raise ValueError(f"crf_nll: the gold tags of sentence {int(bad[0])} "
                             f"({tags[c.first[bad[0]]:c.last[bad[0]] + 1].tolist()}) take a "
                             f"forbidden (-inf) start, transition or end")
        self.alphas, self.log_z = alphas, log_z
        return (log_z - gold).astype(E.dtype)

    def backward(self, g):
        E, start, trans, end = self.saved
        c, tags, alphas = self.chains, self.tags, self.alphas
        g_sorted, log_z = g[c.order], self.log_z[c.order]
        emissions = self.needs_grad(0)  # not when they are fixed (a frozen network's)
        gE = np.zeros_like(E) if emissions else None
        g_trans = np.zeros_like(trans)
        g_start, g_end = np.zeros_like(start), np.zeros_like(end)
        beta = None  # log-sum of the paths from position t + 1 on, given the tag at t
        for t in range(len(alphas) - 1, -1, -1):
            n, n_next = c.active[t], c.active[t + 1]
            rows = c.rows(t)
            later = np.empty((n, E.shape[1]), dtype=E.dtype)
            later[n_next:] = end  # sentences that end at t
            if n_next:
                later[:n_next] = log_matmul_exp(beta, trans.T)
            weight = g_sorted[:n, None]
            marginal = np.exp(alphas[t] + later - log_z[:n, None])
            if emissions:
                gE[rows] = marginal * weight
            g_end += weight[n_next:, 0] @ marginal[n_next:]
            beta = later + E[rows]  # what position t - 1 adds trans[., y_t] to
            if t:
                g_trans += _pair_counts(alphas[t - 1][:n], trans, beta, log_z[:n], weight[:, 0])
            else:
                g_start += weight[:, 0] @ marginal
        # minus the gold path's counts
        g_word = g[c.sentence]
        if emissions:
            gE[np.arange(len(tags)), tags] -= g_word
        inside = np.ones(len(tags), dtype=bool)
        inside[c.first] = False
        np.add.at(g_trans, (tags[:-1][inside[1:]], tags[1:][inside[1:]]), -g_word[inside])
        np.add.at(g_start, tags[c.first], -g)
        np.add.at(g_end, tags[c.last], -g)
        return gE, g_start, g_trans, g_end


def _pair_counts(alpha, trans, beta, log_z, weight) -> np.ndarray:
    """Σ_k weight_k P(y_{t-1} = i, y_t = j | sentence k), (T, T), where that probability is
    exp(alpha[k, i] + trans[i, j] + beta[k, j] - log_z[k]): as one matrix product of
    exponentials each shifted by its max (the shifts gathered in one factor per sentence)
    rather than the (n, T, T) exponentials, unless that factor could overflow (scores more
    than ~600 apart), where the terms are formed one by one."""
    a_top, b_top = _finite_max(alpha, axis=1), _finite_max(beta, axis=1)
    t_top = _finite_max(trans.reshape(1, -1), axis=1)
    shift = a_top + b_top + t_top - log_z
    if shift.max() > 600:
        return np.tensordot(weight, np.exp(alpha[:, :, None] + trans + beta[:, None, :]
                                           - log_z[:, None, None]), axes=1)
    left = np.exp(alpha - a_top[:, None]) * (weight * np.exp(shift))[:, None]
    return np.exp(trans - t_top) * (left.T @ np.exp(beta - b_top[:, None]))


def crf_nll(emissions, lengths, tags, start, transitions, end, *,
            reduction: str = "mean") -> Tensor:
    """The negative log-likelihood of the gold tag paths ``tags`` of sentences under a
    linear-chain CRF (see the module docstring).

    ``emissions``: (words, T) scores of every word of every sentence, one sentence after
    another (as a tagger's windows are laid out); ``lengths``: the sentences' word counts
    (S,), summing to ``words``; ``tags``: the gold tag id of each word (words,);
    ``start`` (T,), ``transitions`` (T, T) (from, to) and ``end`` (T,): the scores of
    opening a sentence with a tag, of one tag following another and of closing with a
    tag; ``-inf`` forbids one. ``reduction``: "mean" over sentences (the default), "sum"
    or "none" (one loss per sentence). NumPy arrays only; differentiable once, in all
    four score inputs.
    """
    where = "crf_nll"
    _check_reduction(where, reduction)
    tensors = [_float_input(where, x, what) for x, what in
               ((emissions, "emissions"), (start, "start"), (transitions, "transitions"),
                (end, "end"))]
    E, s, tr, e = tensors
    if not all(type(x.data) is np.ndarray for x in tensors):
        raise TypeError(f"{where}: works on NumPy arrays only; move the scores to the host")
    if E.ndim != 2 or s.shape != E.shape[1:] or e.shape != E.shape[1:] or tr.shape != (
            E.shape[1], E.shape[1]):
        raise ValueError(f"{where}: emissions must be (words, T) with start and end (T,) "
                         f"and transitions (T, T); got {E.shape}, {s.shape}, {tr.shape} and "
                         f"{e.shape}")
    lengths = np.asarray(lengths)
    tags = np.asarray(tags)
    if lengths.ndim != 1 or not len(lengths) or lengths.dtype.kind not in "iu" or (
            lengths.min() < 1) or lengths.sum() != E.shape[0]:
        raise ValueError(f"{where}: lengths must be positive ints summing to the "
                         f"{E.shape[0]} rows of emissions, got {lengths.tolist()[:10]}")
    if tags.shape != (E.shape[0],) or tags.dtype.kind not in "iu" or (
            tags.min() < 0) or tags.max() >= E.shape[1]:
        raise ValueError(f"{where}: tags must be {E.shape[0]} ints in [0, {E.shape[1]}), "
                         f"got shape {tags.shape} dtype {tags.dtype}")
    loss = Tensor.apply(CRFNegLogLikelihood, E, s, tr, e,
                        chains=Chains(lengths.astype(np.int64)), tags=tags.astype(np.int64))
    return _reduce(loss, reduction)
