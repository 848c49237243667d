"""What the two estimators share: hyperparameters, the fit / partial_fit driver, the forward
pass for predictions, tags.

The driver follows scikit-learn's ``BaseMultilayerPerceptron._fit`` step for step (the
same validation, the same random draws in the same order, the same attributes), and
hands the numerical work to deltagrad: :mod:`._stochastic` for "sgd"/"adam",
:mod:`._lbfgs` for "lbfgs".
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse
from sklearn.base import BaseEstimator, is_classifier
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..train import predict_batches
from ._blas import blas_threads_for
from ._heads import HEADS
from ._lbfgs import fit_lbfgs
from ._network import Network, as_layout, copy_layers, init_layers
from ._params import STOCHASTIC_SOLVERS, check_hidden_layer_sizes, validate_params
from ._stochastic import fit_stochastic

#: rows per forward pass when predicting: a sparse matrix is densified chunk by chunk
SPARSE_CHUNK, DENSE_CHUNK = 1024, 8192


class TrainingData(NamedTuple):
    """The arrays a solver trains on, already in the training dtype."""

    X: object  # ndarray or CSR matrix
    T: np.ndarray  # targets: class indices (softmax) or an (n, n_outputs) float array
    weight: np.ndarray | None
    sparse: bool
    score_validation: Callable[[], float] | None  # early stopping's score, else None


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float64 array of shape (n_samples,) (a number: all equal)."""
    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        return np.full(n_samples, float(sample_weight))
    sw = check_array(sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight")
    if sw.ndim != 1:
        raise ValueError(f"sample_weight must be a 1D array or a scalar, got an array of shape "
                         f"{sw.shape}")
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n_samples,)}!")
    if n_samples and not sw.any():
        raise ValueError("Sample weights must contain at least one non-zero number; all "
                         f"{n_samples} are 0")
    return sw


class BaseMLP(BaseEstimator):
    """Base class of :class:`MLPClassifier` and :class:`MLPRegressor` (not for direct use)."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, clip_grad_norm=None, dtype=np.float32):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.clip_grad_norm = clip_grad_norm
        self.dtype = dtype

    # --- what the subclasses define -------------------------------------------------------

    def _validate_input(self, X, y, incremental: bool, reset: bool):
        """(X, y) validated; for a classifier also the label binarizer and ``classes_``."""
        raise NotImplementedError

    def _targets(self, y, dtype) -> np.ndarray:
        """The training targets for the head, from the validated ``y``."""
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _validation_score(self, net: Network, X, T, weight) -> float:
        """Early stopping's score (accuracy or R²) of ``net`` on the held-out part."""
        raise NotImplementedError

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (or a label indicator matrix) for the classifier, real numbers
            for the regressor.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : the fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _check_solver(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight, incremental: bool):
        validate_params(self)
        hidden = check_hidden_layer_sizes(type(self).__name__, self.hidden_layer_sizes)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        weight = check_sample_weight(sample_weight, X.shape[0])
        dtype = np.dtype(self.dtype) if self.dtype is not None else X.dtype
        T = self._targets(y, dtype)
        self._random_state = check_random_state(self.random_state)
        layer_units = [X.shape[1], *hidden, self._n_outputs(T)]
        if first_pass:
            self._initialize(layer_units, dtype)
        else:
            self._check_resumable(layer_units, dtype)
        sparse = scipy.sparse.issparse(X)
        X = X.tocsr().astype(dtype, copy=False) if sparse else X.astype(dtype, copy=False)
        head = HEADS[self.out_activation_]
        stochastic = self.solver in STOCHASTIC_SOLVERS
        if stochastic and self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        rows = X.shape[0] if not stochastic else \
            min(200, X.shape[0]) if self.batch_size == "auto" else min(self.batch_size, X.shape[0])
        with blas_threads_for(rows, layer_units):
            if stochastic:
                self._prepare_stochastic_state()
                net = Network(self.coefs_, self.intercepts_, self.activation, self.dropout)
                data = self._training_data(net, X, T, weight, sparse)
                if self.dropout > 0:  # drawn after the split: the split stays scikit-learn's
                    net.rng = np.random.default_rng(self._random_state.randint(2**31))
                fit_stochastic(self, net, head, data, incremental)
            else:
                fit_lbfgs(self, head, TrainingData(X, T, weight, sparse, None), dtype)
        if not all(np.isfinite(w).all() for w in chain(self.coefs_, self.intercepts_)):
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _n_outputs(self, T) -> int:
        return T.shape[1] if T.ndim == 2 else len(self.classes_)

    def _initialize(self, layer_units, dtype) -> None:
        """First fit: the attributes scikit-learn's ``_initialize`` sets, and the weights."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self.coefs_, self.intercepts_ = init_layers(layer_units, self.activation,
                                                    self._random_state, dtype)
        self._best_coefs = copy_layers(self.coefs_)
        self._best_intercepts = copy_layers(self.intercepts_)
        for stale in ("_optimizer_state", "loss_curve_", "best_loss_", "validation_scores_",
                      "best_validation_score_", "_no_improvement_count"):
            self.__dict__.pop(stale, None)  # an earlier fit's (scikit-learn keeps them)
        if self.solver in STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _check_resumable(self, layer_units, dtype) -> None:
        """warm_start / partial_fit: the network must have the shape of the stored one."""
        shapes = [c.shape for c in self.coefs_]
        wanted = list(pairwise(layer_units))
        if shapes != wanted:
            raise ValueError(
                f"{type(self).__name__}: the fitted network has layer shapes {shapes}, but "
                f"hidden_layer_sizes and the data call for {wanted}; fit with "
                f"warm_start=False to start a new network")
        self.coefs_ = [as_layout(c, dtype) for c in self.coefs_]
        self.intercepts_ = [np.asarray(b, dtype=dtype) for b in self.intercepts_]

    def _prepare_stochastic_state(self) -> None:
        """The per-epoch records, also when an earlier fit used another solver or setting
        (scikit-learn only creates them on the first fit)."""
        if getattr(self, "loss_curve_", None) is None:
            self.loss_curve_ = []
        if not hasattr(self, "_no_improvement_count"):
            self._no_improvement_count = 0
        if self.early_stopping:
            if getattr(self, "validation_scores_", None) is None:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
        elif getattr(self, "best_loss_", None) is None:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        state = getattr(self, "_optimizer_state", None)
        if state is not None and state[0] != self.solver:
            del self._optimizer_state  # another solver's state can not be resumed

    def _training_data(self, net, X, T, weight, sparse) -> TrainingData:
        """Everything, or with early stopping the training part and a scorer of the rest,
        split as scikit-learn splits it (stratified for a single output)."""
        if not self.early_stopping:
            return TrainingData(X, T, weight, sparse, None)
        stratify = T if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = (X, T) if weight is None else (X, T, weight)
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, T_train, T_val = parts[:4]
        w_train, w_val = parts[4:] if weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")

        def score_validation() -> float:
            return self._validation_score(net, X_val, T_val, w_val)

        return TrainingData(X_train, T_train, w_train, sparse, score_validation)

    # --- predicting ------------------------------------------------------------------------

    def _logits(self, X) -> np.ndarray:
        """The output layer's pre-activation for the rows of X, in float64.

        Predictions are computed in float64 whatever the training dtype: the fitted weights
        are exactly representable there, and float32 rounding would make a row's prediction
        depend (by an ulp) on which other rows share its matrix product.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False,
                          dtype=(np.float64, np.float32))
        net = Network([c.astype(np.float64) for c in self.coefs_],
                      [b.astype(np.float64) for b in self.intercepts_], self.activation)
        return self._logits_of(net, X.astype(np.float64, copy=False))

    def _logits_of(self, net: Network, X) -> np.ndarray:
        """Logits of ``net`` for X already in its dtype (a sparse X a chunk at a time), in
        eval mode (no dropout)."""
        if scipy.sparse.issparse(X):
            return predict_batches(net, X.tocsr(), SPARSE_CHUNK)
        return predict_batches(net, X, DENSE_CHUNK)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
