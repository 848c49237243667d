"""The "lbfgs" solver: SciPy's L-BFGS-B on the full-batch loss, with deltagrad computing the
loss and its gradient in float64 whatever the estimator's ``dtype`` (a quasi-Newton line
search needs the precision; the fitted weights are stored back in ``dtype``).

The objective is the training objective of the stochastic solvers on the whole data set:
the head's loss plus ``alpha / 2 * ||W||² / n``, so its gradient is scikit-learn's.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from ._heads import batch_loss
from ._network import Network, as_layout


class _Objective:
    """f(x) and ∇f(x) for a flat float64 vector x of every weight and bias (weights first,
    each (fan_out, fan_in) C-ordered, then the biases)."""

    def __init__(self, net: Network, head, X, T, weight, alpha: float, n_outputs: int):
        self.net, self.head, self.X, self.T, self.weight = net, head, X, T, weight
        self.alpha, self.n_outputs = alpha, n_outputs
        self.slices, start = [], 0
        for p in net.params:
            self.slices.append((slice(start, start + p.data.size), p.data.shape))
            start += p.data.size
        self.size = start

    def pack(self) -> np.ndarray:
        return np.concatenate([p.data.ravel() for p in self.net.params])

    def unpack(self, x: np.ndarray) -> None:
        for p, (where, shape) in zip(self.net.params, self.slices):
            np.copyto(p.data, x[where].reshape(shape))

    def __call__(self, x: np.ndarray, report: bool = False):
        """(objective, gradient) at ``x``; with ``report``, scikit-learn's reported loss."""
        self.unpack(x)
        net = self.net
        logits = net.forward(self.X)
        loss, seed, reported, denominator = batch_loss(self.head, logits, self.T, self.weight,
                                                       self.n_outputs)
        objective = float((loss.data * seed).sum())
        squares = sum(float(np.vdot(w.data, w.data)) for w in net.weights)
        l2 = 0.5 * self.alpha * squares / denominator
        if report:
            return reported + l2
        net.zero_grad()
        loss.backward(seed)
        grad = np.empty(self.size)
        c = self.alpha / denominator
        n_weights = len(net.weights)
        for i, (p, (where, shape)) in enumerate(zip(net.params, self.slices)):
            g = grad[where].reshape(shape)
            np.copyto(g, p.grad)
            if c and i < n_weights:  # the L2 term's gradient: weights only, not biases
                g += c * p.data
        return objective + l2, grad


def fit_lbfgs(est, head, data, dtype) -> None:
    """Minimise the full-batch loss from the current ``coefs_``/``intercepts_``; store the
    result back (in the estimator's dtype), with ``n_iter_`` and ``loss_``."""
    coefs = [as_layout(c, np.float64).copy(order="K") for c in est.coefs_]
    intercepts = [np.array(b, dtype=np.float64) for b in est.intercepts_]
    net = Network(coefs, intercepts, est.activation)
    X = data.X.astype(np.float64, copy=False)
    if data.sparse:
        X = X.toarray()
    T = data.T if data.T.dtype.kind != "f" else data.T.astype(np.float64, copy=False)
    fun = _Objective(net, head, X, T, data.weight, est.alpha, est.n_outputs_)
    iteration = [0]

    def callback(xk):
        iteration[0] += 1
        if est.verbose:
            print(f"Iteration {iteration[0]}, loss = {fun(xk, report=True):.8f}")

    result = scipy.optimize.minimize(
        fun, fun.pack(), method="L-BFGS-B", jac=True, callback=callback,
        options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol})
    if result.status != 0:
        message = result.message.decode() if isinstance(result.message, bytes) \
            else result.message
        warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) "
                      f"(status={result.status}): {message}. Increase the number of "
                      f"iterations (max_iter={est.max_iter}) or max_fun "
                      f"(max_fun={est.max_fun}), or scale the data.",
                      ConvergenceWarning, stacklevel=4)
    est.n_iter_ = min(result.nit, est.max_iter)
    est.loss_ = fun(result.x, report=True)
    fun.unpack(result.x)
    est.coefs_ = [as_layout(w.data.T, dtype) for w in net.weights]
    est.intercepts_ = [b.data.astype(dtype) for b in net.biases]
