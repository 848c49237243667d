"""``MLPClassifier``: binary, multiclass and multilabel classification."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from ._base import BaseMLP
from ._heads import HEADS, Logistic, Softmax


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier, trained by deltagrad: scikit-learn's
    ``sklearn.neural_network.MLPClassifier``, the same hyperparameters with the same names,
    defaults and meanings, the same fitted attributes, in float32 by default.

    Multiclass targets get a softmax output and cross-entropy; binary and multilabel
    targets (a label indicator matrix) get logistic outputs and binary cross-entropy.

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of ints, default=(100,)
        The width of each hidden layer (empty: a linear model).
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation.
    solver : {"lbfgs", "sgd", "adam"}, default="adam"
        "lbfgs" runs SciPy's L-BFGS-B on the full-batch loss (computed in float64).
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases): ``alpha / 2 * ||W||² / n_samples``
        added to each batch's loss.
    batch_size : int or "auto", default="auto"
        Mini-batch size of the stochastic solvers; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        sgd's schedule: constant; ``learning_rate_init / (t + 1) ** power_t`` after each
        epoch, t the samples seen; or divided by 5 whenever training stalls (see ``tol``).
    learning_rate_init : float, default=1e-3
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs for the stochastic solvers, iterations for "lbfgs".
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffles, the early-stopping split and dropout.
        With the same value the initial weights equal scikit-learn's.
    tol : float, default=1e-4
    verbose : bool or int, default=False
    warm_start : bool, default=False
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for binary targets) and
        stop when its accuracy stalls for ``n_iter_no_change`` epochs; the best weights
        are kept.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's coefficients.
    n_iter_no_change : int, default=10
    max_fun : int, default=15000
        Most loss evaluations for "lbfgs".
    dropout : float, default=0.0
        deltagrad extra: dropout probability after each hidden layer while training
        (stochastic solvers only).
    clip_grad_norm : float or None, default=None
        deltagrad extra: clip the joint gradient norm (L2 term included) of each step
        (stochastic solvers only).
    dtype : np.float32, np.float64 or None, default=np.float32
        deltagrad extra: the dtype of the weights and of training ("lbfgs" computes in
        float64 and stores in this dtype); None follows the input, as scikit-learn.

    Notes
    -----
    While a small network trains (largest per-batch matrix product under 4 million
    multiply-adds), BLAS runs on one thread: faster at that size, and immune to the stalls
    multithreaded tiny products suffer on a busy machine. The thread count is restored when
    ``fit`` returns.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_ : as in scikit-learn (``loss_`` includes the L2 term).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from deltagrad.sklearn import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(f"warm_start can only be used where `y` has the same "
                                     f"classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, y

    def _targets(self, y, dtype):
        # What LabelBinarizer.transform gives, without its milliseconds of re-validation
        # (y's labels were checked against classes_ already): class indices for softmax
        # (cross-entropy picks them, no one-hot product), a 0/1 column for binary.
        kind = self._label_binarizer.y_type_
        if kind == "multiclass":
            return np.searchsorted(self.classes_, y)
        if kind == "binary":
            positive = y == self.classes_[1] if len(self.classes_) > 1 else np.zeros(len(y))
            return positive.astype(dtype).reshape(-1, 1)
        return self._label_binarizer.transform(y).astype(dtype)

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validation_score(self, net, X, T, weight):
        z = self._logits_of(net, X)
        if not np.isfinite(z).all():
            return np.nan
        if T.ndim == 1:
            correct = z.argmax(axis=1) == T
        else:  # σ(z) > 0.5 exactly when z > 0; multilabel: the whole row must be right
            correct = ((z > 0) == (T > 0.5)).all(axis=1)
        return float(np.average(correct, weights=weight))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimiser state.

        ``classes`` (all the labels that will ever be seen) is required on the first call.
        """
        if _first_partial_fit_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted class of each row (a label indicator matrix for multilabel)."""
        z = self._logits(X)
        if self.out_activation_ == "softmax":
            return self.classes_[z.argmax(axis=1)]
        p = HEADS["logistic"].output(z)
        return self._label_binarizer.inverse_transform(p.ravel() if self.n_outputs_ == 1 else p)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``; rows sum to 1 (but for
        multilabel, where each column is one label's probability)."""
        return np.exp(self.predict_log_proba(X))

    def predict_log_proba(self, X):
        """The log of ``predict_proba``, computed in log space (finite where it underflows)."""
        z = self._logits(X)
        if self.out_activation_ == "softmax":
            return Softmax.log_output(z)
        log_p, log_q = Logistic.log_output(z)
        if self.n_outputs_ == 1:
            return np.hstack([log_q, log_p])
        return log_p

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _first_partial_fit_call(clf, classes) -> bool:
    """scikit-learn's rule: ``classes`` is required on the first call to partial_fit and, if
    given later, must not change. True on the first call (which sets ``classes_``)."""
    previous = getattr(clf, "classes_", None)
    if previous is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if previous is not None:
            if not np.array_equal(previous, unique_labels(classes)):
                raise ValueError(f"`classes={classes!r}` is not the same as on last call to "
                                 f"partial_fit, was: {previous!r}")
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False
