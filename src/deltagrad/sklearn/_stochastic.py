"""The stochastic solvers ("sgd", "adam"): scikit-learn's iterations, on deltagrad's
training loop.

Each iteration is one epoch of ``Trainer.train_epoch``: the samples in the order of an
index array shuffled in place (the same draws scikit-learn makes), cut into batches, one
optimiser step per batch. What a step minimises is :class:`SklearnObjective`: one fused
loss op of :class:`~deltagrad.sklearn._network.Network`'s logits, ``backward`` seeded with
the sample weights, the L2 gradient added in place; then the trainer's optional clipping
and a ``deltagrad.optim`` update, which writes straight into ``coefs_``/``intercepts_``.
Nothing is validated or converted inside the loop: the estimator hands over arrays already
in the training dtype (a sparse matrix is densified a batch at a time).

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
from ..train import Objective, Samples, Trainer
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


class SklearnObjective(Objective):
    """scikit-learn's objective on one batch: the head's loss (the sample weights as the
    seed of ``backward``) plus ``alpha / 2 * ||W||² / n``; ``backward`` returns the loss
    scikit-learn reports, L2 term included. With Adam it also sets the next step's eps to
    scikit-learn's: scikit-learn adds epsilon to sqrt(v), deltagrad (as PyTorch) to the
    bias-corrected sqrt(v) / sqrt(1 - beta2^t), the same update when deltagrad's eps is
    epsilon / sqrt(1 - beta2^t)."""

    def __init__(self, net, head, opt, alpha: float, n_outputs: int, epsilon: float):
        self.net, self.head, self.alpha, self.n_outputs = net, head, alpha, n_outputs
        self.adam = opt.param_groups[0] if isinstance(opt, optim.Adam) else None
        self.epsilon = epsilon
        steps = [opt.state[p]["step"] for p in net.params if p in opt.state] \
            if self.adam is not None else []
        self.t = steps[0] if steps else 0  # Adam's steps so far (partial_fit resumes them)

    def backward(self, logits, target, weight) -> float:
        if weight is not None and not weight.any():
            return 0.0  # no sample counts: no gradient to follow (scikit-learn would divide 0/0)
        loss, seed, reported, denominator = batch_loss(self.head, logits, target, weight,
                                                       self.n_outputs)
        loss.backward(seed)
        if self.alpha:
            # scikit-learn's L2: alpha/2 ||W||² / n in the loss, alpha W / n in the gradient,
            # weights only, on the weights the loss saw.
            c = self.alpha / denominator
            squares = 0.0
            for w in self.net.weights:
                data = w.data
                squares += float(np.vdot(data, data))
                w.grad += c * data
            reported += 0.5 * c * squares
        if self.adam is not None:
            self.t += 1
            self.adam["eps"] = self.epsilon / math.sqrt(1.0 - self.adam["betas"][1] ** self.t)
        return reported


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
    objective = SklearnObjective(net, head, opt, est.alpha, est.n_outputs_, est.epsilon)
    trainer = Trainer(net, objective, opt, clip_norm=est.clip_grad_norm, nan_guard=False,
                      seed=0, progress="none")
    samples = Samples((data.X,), data.T, data.weight)
    n = len(samples)
    order = np.arange(n)
    batch_size = min(200, n) if est.batch_size == "auto" else int(np.clip(est.batch_size, 1, n))
    if est.batch_size != "auto" and est.batch_size > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                      "to be clipped", UserWarning, stacklevel=4)
    try:
        est.n_iter_ = 0
        while est.n_iter_ < est.max_iter:
            if est.shuffle:
                est._random_state.shuffle(order)  # in place: scikit-learn's draws
            est.loss_ = trainer.train_epoch(samples, batch_size, shuffle=False,
                                            order=order if est.shuffle else None)["loss"]
            if _end_of_iteration(est, opt, schedule, data.score_validation, n) or incremental:
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


def _end_of_iteration(est, opt, schedule, score_validation, n: int) -> bool:
    """scikit-learn's bookkeeping after an epoch; True when training should stop."""
    est.n_iter_ += 1
    est.t_ += n
    est.loss_curve_.append(est.loss_)
    if est.verbose:
        print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
    _update_no_improvement(est, score_validation)
    if schedule is not None:  # scikit-learn's iteration_ends(t_): t_ = samples seen
        old = opt.param_groups[0]["lr"]
        schedule.step(t=est.t_)
        rescale_momentum(opt, old, opt.param_groups[0]["lr"])
    if est._no_improvement_count > est.n_iter_no_change:
        what = "Validation score" if score_validation else "Training loss"
        message = (f"{what} did not improve more than tol={est.tol:f} for "
                   f"{est.n_iter_no_change} consecutive epochs.")
        if _stop_or_decay(est, opt, message):
            return True
        est._no_improvement_count = 0
    return False
