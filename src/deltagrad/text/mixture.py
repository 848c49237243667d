"""A neural language model mixed with a Kneser-Ney n-gram model, as Bengio et al. (2003) did:
P(w | h) = λ P_net(w | h) + (1 - λ) P_KN(w | h), one weight λ for the whole text, chosen on
held-out text (never on the text the mixture is then scored on).

The weight maximises the held-out log-likelihood, a concave function of λ; the EM update
for a mixture's weights (the expected share of each token the network explains) climbs it
monotonically, so a few dozen iterations from λ = 0.5 find its maximum.

>>> import numpy as np
>>> net = np.log([0.5, 0.1, 0.5, 0.1])  # each model good on half the tokens
>>> kn = np.log([0.1, 0.5, 0.1, 0.5])
>>> round(mixture_weight(-net, -kn), 3)
0.5
"""

from __future__ import annotations

import numpy as np

from .._checks import check_int


def _log_mix(net_nll: np.ndarray, kn_nll: np.ndarray, weight: float) -> np.ndarray:
    """log(λ e^-net + (1 - λ) e^-kn) per token, without underflow (log-sum-exp)."""
    with np.errstate(divide="ignore"):  # log 0 = -inf at λ = 0 or 1: logaddexp handles it
        return np.logaddexp(np.log(weight) - net_nll, np.log1p(-weight) - kn_nll)


def mixture_weight(net_nll, kn_nll, iterations: int = 50) -> float:
    """The weight λ of the network that maximises the mean log-likelihood of
    ``λ P_net + (1 - λ) P_KN`` on held-out tokens, given each model's negative
    log-likelihood (nats) of every held-out token."""
    net = np.asarray(net_nll, dtype=np.float64)
    kn = np.asarray(kn_nll, dtype=np.float64)
    if net.shape != kn.shape or net.ndim != 1 or net.size == 0:
        raise ValueError(f"mixture_weight: net_nll and kn_nll must be two non-empty 1-D arrays "
                         f"of the same shape, got {net.shape} and {kn.shape}")
    iterations = check_int(iterations, "iterations", "mixture_weight")
    weight = 0.5
    for _ in range(iterations):
        # E step: each token's posterior share for the network; M step: their mean.
        weight = float(np.mean(np.exp(np.log(weight) - net - _log_mix(net, kn, weight))))
    return weight


def mixture_nll(net_nll, kn_nll, weight: float) -> np.ndarray:
    """The mixture's negative log-likelihood (nats) of each token, float64."""
    if not 0 <= weight <= 1:
        raise ValueError(f"mixture_nll: weight must lie in [0, 1], got {weight}")
    return -_log_mix(np.asarray(net_nll, np.float64), np.asarray(kn_nll, np.float64), weight)
