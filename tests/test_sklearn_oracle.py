"""deltagrad.sklearn against scikit-learn's own MLP as the oracle.

With ``dtype=np.float64`` and the same ``random_state``, deltagrad's estimators start from
scikit-learn's initial weights, draw the same shuffles and early-stopping splits, and take
the same steps (scikit-learn's momentum, Adam epsilon, L2 scaling and stopping rules), so
every fitted attribute must match scikit-learn's to rounding. The float32 default must
track it closely.
"""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from deltagrad.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
# scikit-learn's MLP takes sample_weight, and MLPRegressor loss="poisson", from 1.7 on: on
# 1.6 (the oldest we support) there is no oracle for them; every other case runs there.
NEEDS_1_7 = pytest.mark.skipif(tuple(map(int, sklearn.__version__.split(".")[:2])) < (1, 7),
                               reason="scikit-learn < 1.7 has no MLP sample_weight or poisson loss")

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = StandardScaler().fit_transform(X_IRIS)
Y_BINARY = (Y_IRIS == 1).astype(int)
Y_MULTILABEL = np.stack([Y_IRIS == 0, Y_IRIS == 2, X_IRIS[:, 0] > 0], axis=1).astype(int)
X_REG, Y_REG = make_regression(n_samples=120, n_features=5, n_targets=2, noise=0.1,
                               random_state=0)
Y_REG = Y_REG / Y_REG.std(axis=0)
WEIGHTS = np.random.RandomState(1).randint(0, 4, len(X_IRIS))

CLASSIFIER_CASES = {
    "sgd-constant-relu": (Y_IRIS, {"solver": "sgd", "hidden_layer_sizes": (20, 10)}),
    "sgd-invscaling-tanh": (Y_IRIS, {"solver": "sgd", "learning_rate": "invscaling",
                                     "activation": "tanh", "learning_rate_init": 0.1}),
    "sgd-adaptive-decays": (Y_IRIS, {"solver": "sgd", "learning_rate": "adaptive", "tol": 0.05,
                                     "n_iter_no_change": 2, "learning_rate_init": 0.05}),
    "sgd-plain-momentum": (Y_IRIS, {"solver": "sgd", "nesterovs_momentum": False,
                                    "activation": "logistic"}),
    "sgd-no-momentum": (Y_IRIS, {"solver": "sgd", "momentum": 0.0, "activation": "identity"}),
    "adam-batches-of-32": (Y_IRIS, {"batch_size": 32, "hidden_layer_sizes": (16,)}),
    "adam-no-shuffle-big-alpha": (Y_IRIS, {"shuffle": False, "alpha": 1.0}),
    "adam-linear-model": (Y_IRIS, {"hidden_layer_sizes": ()}),
    "binary": (Y_BINARY, {"solver": "sgd", "batch_size": 50}),
    "multilabel": (Y_MULTILABEL, {"batch_size": 40}),
    "early-stopping-multiclass": (Y_IRIS, {"early_stopping": True, "solver": "sgd",
                                           "learning_rate_init": 0.05}),
    "early-stopping-binary-stratified": (Y_BINARY, {"early_stopping": True,
                                                    "validation_fraction": 0.2}),
}


def fit_both(ours_class, theirs_class, X, y, sample_weight=None, **params):
    ours = ours_class(dtype=np.float64, random_state=0, **params)
    theirs = theirs_class(random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X, y, sample_weight=sample_weight)
        # only when weighted (NEEDS_1_7), so that the unweighted cases run on 1.6 too
        theirs.fit(X, y, **({} if sample_weight is None else {"sample_weight": sample_weight}))
    return ours, theirs


def assert_same_fit(ours, theirs, rtol=1e-9, atol=1e-12):
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("loss_", "loss_curve_", "best_loss_", "validation_scores_",
                 "best_validation_score_"):
        a, b = getattr(ours, name, None), getattr(theirs, name, None)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=name)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CLASSIFIER_CASES)
def test_classifier_takes_scikit_learns_steps_exactly_in_float64(case):
    y, params = CLASSIFIER_CASES[case]
    ours, theirs = fit_both(MLPClassifier, SkMLPClassifier, X_IRIS, y, max_iter=30, **params)
    assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X_IRIS), theirs.predict_proba(X_IRIS),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X_IRIS), theirs.predict(X_IRIS))


def test_adaptive_case_really_decays_the_learning_rate():
    y, params = CLASSIFIER_CASES["sgd-adaptive-decays"]
    model = MLPClassifier(random_state=0, max_iter=30, **params).fit(X_IRIS, y)
    lr = model._optimizer_state[1]["param_groups"][0]["lr"]
    assert lr <= params["learning_rate_init"] / 5 ** 2  # at least two decays happened


@pytest.mark.parametrize("params", [{"solver": "sgd"}, {"solver": "adam", "batch_size": 50},
                                    pytest.param({"loss": "poisson", "solver": "sgd"},
                                                 marks=NEEDS_1_7),
                                    {"early_stopping": True, "solver": "sgd"}],
                         ids=["sgd", "adam", "poisson", "early-stopping"])
@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor_takes_scikit_learns_steps_exactly_in_float64(params, outputs):
    y = Y_REG[:, 0] if outputs == 1 else Y_REG
    if params.get("loss") == "poisson":
        y = np.abs(y)
    ours, theirs = fit_both(MLPRegressor, SkMLPRegressor, X_REG, y, max_iter=25, **params)
    assert_same_fit(ours, theirs)
    np.testing.assert_allclose(ours.predict(X_REG), theirs.predict(X_REG), rtol=1e-9,
                               atol=1e-12)


@NEEDS_1_7
def test_sample_weights_take_scikit_learns_steps_exactly():
    ours, theirs = fit_both(MLPClassifier, SkMLPClassifier, X_IRIS, Y_IRIS,
                            sample_weight=WEIGHTS, solver="sgd", batch_size=40, max_iter=20)
    assert_same_fit(ours, theirs)
    ours, theirs = fit_both(MLPRegressor, SkMLPRegressor, X_REG, Y_REG,
                            sample_weight=WEIGHTS[:len(X_REG)], max_iter=20)
    assert_same_fit(ours, theirs)
    ours, theirs = fit_both(MLPClassifier, SkMLPClassifier, X_IRIS, Y_BINARY,
                            sample_weight=WEIGHTS, early_stopping=True, max_iter=20)
    assert_same_fit(ours, theirs)  # weighted validation accuracy, weighted split


@pytest.mark.parametrize("y", [Y_IRIS, Y_BINARY, Y_MULTILABEL],
                         ids=["multiclass", "binary", "multilabel"])
def test_lbfgs_reaches_scikit_learns_solution(y):
    ours, theirs = fit_both(MLPClassifier, SkMLPClassifier, X_IRIS, y, solver="lbfgs",
                            max_iter=15, hidden_layer_sizes=(10,))
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_lbfgs_regressor_reaches_scikit_learns_solution():
    ours, theirs = fit_both(MLPRegressor, SkMLPRegressor, X_REG, Y_REG[:, 0], solver="lbfgs",
                            max_iter=15, hidden_layer_sizes=(10,))
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
    np.testing.assert_allclose(ours.predict(X_REG), theirs.predict(X_REG), atol=1e-5)


def test_warm_start_and_partial_fit_follow_scikit_learn():
    ours = MLPClassifier(dtype=np.float64, random_state=0, max_iter=5, warm_start=True)
    theirs = SkMLPClassifier(random_state=0, max_iter=5, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in (ours, theirs):
            model.fit(X_IRIS, Y_IRIS)
            model.fit(X_IRIS, Y_IRIS)  # continues from the weights, with a new optimiser
            for rows in np.array_split(np.random.RandomState(0).permutation(150), 2):
                model.partial_fit(X_IRIS[rows], Y_IRIS[rows])  # resumes the optimiser state
    assert_same_fit(ours, theirs)


def test_float32_default_tracks_scikit_learn():
    ours = MLPClassifier(random_state=0, max_iter=60).fit(X_IRIS, Y_IRIS)
    theirs = SkMLPClassifier(random_state=0, max_iter=60).fit(X_IRIS, Y_IRIS)
    assert ours.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    assert np.mean(ours.predict(X_IRIS) == theirs.predict(X_IRIS)) >= 0.98
