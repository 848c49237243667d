"""``MLPRegressor``: single- and multi-output regression (squared error or Poisson)."""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from ._base import BaseMLP
from ._heads import HEADS


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor, trained by deltagrad: scikit-learn's
    ``sklearn.neural_network.MLPRegressor``, the same hyperparameters with the same names,
    defaults and meanings, the same fitted attributes, in float32 by default.

    ``loss="squared_error"`` (half the squared error, identity output) or ``"poisson"``
    (half the Poisson deviance, exponential output; targets must be >= 0). Every other
    parameter is as in :class:`deltagrad.sklearn.MLPClassifier`; ``early_stopping`` scores
    the held-out part by R² (not stratified).

    Examples
    --------
    >>> import numpy as np
    >>> from deltagrad.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 200)[:, None]
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", random_state=0)
    >>> reg = reg.fit(X, X[:, 0] ** 2)
    >>> reg.score(X, X[:, 0] ** 2) > 0.99
    True
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 dropout=0.0, clip_grad_norm=None, dtype=np.float32):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            max_fun=max_fun, dropout=dropout, clip_grad_norm=clip_grad_norm, dtype=dtype)
        self.loss = loss

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and y.size and y.min() < 0:
            raise ValueError(f"MLPRegressor: loss='poisson' needs targets >= 0, but y holds "
                             f"{y.min()}")
        return X, y

    def _targets(self, y, dtype):
        return y.reshape(y.shape[0], -1).astype(dtype, copy=False)

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validation_score(self, net, X, T, weight):
        z = self._logits_of(net, X).astype(np.float64)
        pred = HEADS[self.out_activation_].output(z)
        if not np.isfinite(pred).all():
            return np.nan
        return float(r2_score(T, pred, sample_weight=weight))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimiser state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predictions of shape (n_samples,), or (n_samples, n_outputs) for several outputs."""
        z = self._logits(X)
        pred = HEADS[self.out_activation_].output(z)
        return pred.ravel() if pred.shape[1] == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # it fits several outputs (scikit-learn's too)
        return tags
