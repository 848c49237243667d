"""The stochastic solvers ("sgd", "adam"): scikit-learn's training loop, on deltagrad.

One epoch shuffles an index array in place (the same draws scikit-learn makes), cuts it
into batches and takes one optimiser step per batch. A step is a forward pass through
:class:`~deltagrad.sklearn._network.Network`, one fused loss op, ``backward``, the L2
gradient added in place, optional clipping and a ``deltagrad.optim`` update, which
writes straight into ``coefs_``/``intercepts_``. Nothing is validated or converted inside
the loop: the estimator hands over arrays already in the training dtype.

What scikit-learn records per epoch is recorded with the same meaning: ``loss_`` (the
batches' losses, L2 term included, averaged over the samples), ``loss_curve_``,
``best_loss_`` or, with early stopping, ``validation_scores_`` and
``best_validation_score_``, and the no-improvement count that stops training.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import optim
from ..optim.lr_scheduler import InverseTimeLR
from ._heads import batch_loss
from ._network import copy_layers


def make_optimizer(est, params, resume: bool):
    """The solver's optimiser (and, for sgd "invscaling", its schedule), resuming the state
    of the last call when ``resume`` (``partial_fit``, as scikit-learn keeps its optimiser)."""
    if est.solver == "sgd":
        opt = optim.SGD(params, lr=est.learning_rate_init, momentum=est.momentum,
                        nesterov=bool(est.nesterovs_momentum) and est.momentum > 0)
    else:
        opt = optim.Adam(params, lr=est.learning_rate_init, betas=(est.beta_1, est.beta_2),
                         eps=est.epsilon)
    # Made before the state is loaded, so its base rate is learning_rate_init and not a
    # rate already decayed by earlier calls.
    schedule = InverseTimeLR(opt, power_t=est.power_t) \
        if est.solver == "sgd" and est.learning_rate == "invscaling" else None
    saved = getattr(est, "_optimizer_state", None)  # (solver, state_dict) of the last call
    if resume and saved is not None and saved[0] == est.solver:
        opt.load_state_dict(saved[1])
    return opt, schedule


def rescale_momentum(opt, old_lr: float, new_lr: float) -> None:
    """Keep scikit-learn's momentum semantics across a change of sgd's learning rate.

    scikit-learn's velocity is v <- momentum v - lr g, so past steps keep the rate they
    were taken with; deltagrad's (PyTorch's) buffer is b <- momentum b + g, applied as
    -lr b. The two agree while lr is fixed (v = -lr b); scaling b by old/new whenever lr
    changes keeps them equal across the changes too.
    """
    if new_lr <= 0 or new_lr == old_lr:
        return
    for state in opt.state.values():
        buffer = state.get("momentum_buffer")
        if buffer is not None:
            buffer *= old_lr / new_lr


class Stepper:
    """One optimiser step on one batch: forward, loss, backward, L2, clip, update."""

    def __init__(self, net, head, opt, alpha: float, clip: float | None, n_outputs: int,
                 epsilon: float):
        self.net, self.head, self.opt = net, head, opt
        self.alpha, self.clip, self.n_outputs = alpha, clip, n_outputs
        self.adam = opt.param_groups[0] if isinstance(opt, optim.Adam) else None
        if self.adam is not None:
            # scikit-learn adds epsilon to sqrt(v), deltagrad (as PyTorch) to the
            # bias-corrected sqrt(v) / sqrt(1 - beta2^t): the same update when deltagrad's
            # eps is epsilon / sqrt(1 - beta2^t), set before each step.
            self.epsilon = epsilon
            steps = [opt.state[p]["step"] for p in net.params if p in opt.state]
            self.t = steps[0] if steps else 0

    def __call__(self, xb, tb, wb) -> float:
        """Update on batch (xb, tb, weights wb or None); return scikit-learn's batch loss."""
        net = self.net
        if wb is not None and not wb.any():
            return 0.0  # no sample counts: no gradient to follow (scikit-learn would divide 0/0)
        logits = net.forward(xb, training=True)
        loss, seed, reported, denominator = batch_loss(self.head, logits, tb, wb,
                                                       self.n_outputs)
        net.zero_grad()
        loss.backward(seed)
        if self.alpha:
            # scikit-learn's L2: alpha/2 ||W||² / n in the loss, alpha W / n in the gradient,
            # weights only. Computed here, before the step, on the weights the loss saw.
            c = self.alpha / denominator
            squares = 0.0
            for w in net.weights:
                data = w.data
                squares += float(np.vdot(data, data))
                w.grad += c * data
            reported += 0.5 * c * squares
        if self.clip is not None:
            optim.clip_grad_norm_(net.params, self.clip)
        if self.adam is not None:
            self.t += 1
            self.adam["eps"] = self.epsilon / math.sqrt(1.0 - self.adam["betas"][1] ** self.t)
        self.opt.step()
        return reported


def run_epoch(step: Stepper, X, T, weight, order, batch_size: int, shuffle: bool,
              random_state, sparse: bool) -> float:
    """One pass over the data in batches; the mean of the batch losses over the samples."""
    n = X.shape[0]
    if shuffle:
        random_state.shuffle(order)  # in place: the same draws as scikit-learn's shuffle()
    total = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if shuffle:
            rows = order[start:stop]
            # take() gathers rows about 3x faster than X[rows] for a batch of 200
            xb = X[rows].toarray() if sparse else X.take(rows, axis=0)
            tb = T.take(rows, axis=0)
            wb = None if weight is None else weight.take(rows)
        else:  # slices are views: no copy at all
            xb = X[start:stop].toarray() if sparse else X[start:stop]
            tb = T[start:stop]
            wb = None if weight is None else weight[start:stop]
        total += step(xb, tb, wb) * (stop - start)
    return total / n


def _stop_or_decay(est, opt, message: str) -> bool:
    """scikit-learn's ``trigger_stopping``: stop, unless sgd's "adaptive" rate can still
    be divided by 5 (down to 1e-6)."""
    if est.solver != "sgd" or est.learning_rate != "adaptive":
        if est.verbose:
            print(message + " Stopping.")
        return True
    lr = opt.param_groups[0]["lr"]
    if lr <= 1e-6:
        if est.verbose:
            print(message + " Learning rate too small. Stopping.")
        return True
    for group in opt.param_groups:
        group["lr"] = lr / 5.0
    rescale_momentum(opt, lr, lr / 5.0)
    if est.verbose:
        print(message + f" Setting learning rate to {lr / 5.0:f}")
    return False


def _update_no_improvement(est, score_validation) -> None:
    """scikit-learn's ``_update_no_improvement_count``, with the same attributes."""
    if score_validation is not None:
        score = score_validation()
        est.validation_scores_.append(score)
        if est.verbose:
            print(f"Validation score: {score:f}")
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_coefs = copy_layers(est.coefs_)
            est._best_intercepts = copy_layers(est.intercepts_)
    else:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])


def fit_stochastic(est, net, head, data, incremental: bool) -> None:
    """Train ``net`` (viewing ``est.coefs_``/``est.intercepts_``) for up to ``max_iter``
    epochs, or one epoch when ``incremental``; ``data`` is a ``TrainingData``."""
    opt, schedule = make_optimizer(est, net.params, resume=incremental)
    step = Stepper(net, head, opt, est.alpha, est.clip_grad_norm, est.n_outputs_, est.epsilon)
    rs = est._random_state
    X, T, weight = data.X, data.T, data.weight
    n = X.shape[0]
    order = np.arange(n)
    batch_size = min(200, n) if est.batch_size == "auto" else int(np.clip(est.batch_size, 1, n))
    if est.batch_size != "auto" and est.batch_size > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                      "to be clipped", UserWarning, stacklevel=4)
    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            est.loss_ = run_epoch(step, X, T, weight, order, batch_size, est.shuffle, rs,
                                  data.sparse)
            est.n_iter_ += 1
            est.t_ += n
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
            _update_no_improvement(est, data.score_validation)
            if schedule is not None:  # scikit-learn's iteration_ends(t_): t_ = samples seen
                old = opt.param_groups[0]["lr"]
                schedule.step(t=est.t_)
                rescale_momentum(opt, old, opt.param_groups[0]["lr"])
            if est._no_improvement_count > est.n_iter_no_change:
                what = "Validation score" if data.score_validation else "Training loss"
                message = (f"{what} did not improve more than tol={est.tol:f} for "
                           f"{est.n_iter_no_change} consecutive epochs.")
                if _stop_or_decay(est, opt, message):
                    break
                est._no_improvement_count = 0
            if incremental:
                break
            if est.n_iter_ == est.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) "
                              f"reached and the optimization hasn't converged yet.",
                              ConvergenceWarning, stacklevel=4)
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.", stacklevel=4)
    est._optimizer_state = (est.solver, opt.state_dict())
    if data.score_validation is not None:  # restore the best weights, as scikit-learn
        est.coefs_, est.intercepts_ = est._best_coefs, est._best_intercepts
