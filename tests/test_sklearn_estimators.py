"""deltagrad.sklearn.MLPClassifier / MLPRegressor: targets, methods, fitting modes, the
deltagrad extras, parameter errors, and life inside scikit-learn (pipelines, grid search,
cross-validation, clone, pickle)."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import deltagrad
from deltagrad.sklearn import InvalidParameterError, MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X_RAW, Y_IRIS = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X_RAW)
LABELS = np.array(["setosa", "versicolor", "virginica"])[Y_IRIS]
Y_BINARY = np.where(Y_IRIS == 2, "yes", "no")
Y_MULTILABEL = np.stack([Y_IRIS == 0, Y_IRIS == 2, X[:, 0] > 0], axis=1).astype(int)
X_REG, Y_REG = make_regression(n_samples=200, n_features=4, n_targets=2, noise=0.0,
                               random_state=0)
Y_REG = Y_REG / Y_REG.std(axis=0)


def clf(**params):
    return MLPClassifier(random_state=0, **params)


def reg(**params):
    return MLPRegressor(random_state=0, **params)


# --- targets and prediction methods ---------------------------------------------------------


def test_multiclass_with_string_labels():
    model = clf(max_iter=300).fit(X, LABELS)
    assert model.out_activation_ == "softmax"
    assert list(model.classes_) == ["setosa", "versicolor", "virginica"]
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba), rtol=1e-12)
    assert model.score(X, LABELS) > 0.95


def test_binary_has_one_logistic_output_and_two_probability_columns():
    model = clf(max_iter=300).fit(X, Y_BINARY)
    assert model.out_activation_ == "logistic" and model.n_outputs_ == 1
    assert model.coefs_[-1].shape == (100, 1)
    proba = model.predict_proba(X)
    assert proba.shape == (150, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), np.where(proba[:, 1] > 0.5, "yes", "no"))
    assert model.score(X, Y_BINARY) > 0.95


def test_multilabel_indicator_targets():
    model = clf(max_iter=400).fit(X, Y_MULTILABEL)
    assert model.out_activation_ == "logistic" and model.n_outputs_ == 3
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    proba = model.predict_proba(X)
    assert proba.shape == (150, 3) and np.all((proba > 0) & (proba < 1))
    np.testing.assert_array_equal(model.predict(X), (proba > 0.5).astype(int))
    assert model.score(X, Y_MULTILABEL) > 0.9  # subset accuracy, as scikit-learn


def test_log_proba_stays_finite_where_the_probability_underflows():
    model = clf(hidden_layer_sizes=(), max_iter=1).fit(X, Y_BINARY)
    model.coefs_[0][:] = 0.0
    model.coefs_[0][0, 0] = 1.0
    far = np.array([[2000.0, 0, 0, 0], [-2000.0, 0, 0, 0]])
    log_proba = model.predict_log_proba(far)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(log_proba[0], [-2000.0 - model.intercepts_[0][0], 0.0],
                               rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("outputs", [1, 2])
def test_regression_single_and_multi_output(outputs):
    y = Y_REG[:, 0] if outputs == 1 else Y_REG
    model = reg(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=100).fit(X_REG, y)
    pred = model.predict(X_REG)
    assert pred.shape == y.shape and model.out_activation_ == "identity"
    assert model.score(X_REG, y) > 0.99


def test_poisson_regression_has_an_exponential_output():
    y = np.exp(0.5 * X_REG[:, 0])
    model = reg(loss="poisson", hidden_layer_sizes=(16,), solver="lbfgs").fit(X_REG, y)
    assert model.out_activation_ == "exp"
    assert np.all(model.predict(X_REG) > 0) and model.score(X_REG, y) > 0.95
    with pytest.raises(ValueError, match="poisson"):
        reg(loss="poisson").fit(X_REG, -y)


# --- loss_: the quantity scikit-learn reports, L2 term included ------------------------------


def l2_term(model, n):
    return model.alpha / 2 * sum(float((c.astype(np.float64) ** 2).sum())
                                 for c in model.coefs_) / n


def test_lbfgs_loss_is_log_loss_plus_the_l2_term():
    model = clf(solver="lbfgs", alpha=0.5, max_iter=50, dtype=np.float64).fit(X, Y_IRIS)
    expected = log_loss(Y_IRIS, model.predict_proba(X)) + l2_term(model, len(X))
    assert model.loss_ == pytest.approx(expected, rel=1e-10)


def test_lbfgs_regression_loss_is_half_the_mse_plus_the_l2_term():
    model = reg(solver="lbfgs", alpha=2.0, max_iter=20, dtype=np.float64).fit(X_REG, Y_REG)
    expected = mean_squared_error(Y_REG, model.predict(X_REG)) / 2 + l2_term(model, len(X_REG))
    assert model.loss_ == pytest.approx(expected, rel=1e-10)


def test_stochastic_loss_is_the_epoch_mean_of_the_batch_losses():
    # One full batch, no shuffle: the epoch's loss is the loss at the weights before the step.
    model = clf(solver="sgd", alpha=0.3, batch_size=150, shuffle=False, max_iter=1,
                dtype=np.float64, warm_start=True).fit(X, Y_IRIS)
    proba = model.predict_proba(X)
    expected = log_loss(Y_IRIS, proba) + l2_term(model, len(X))
    model.fit(X, Y_IRIS)  # warm start: the second epoch starts from the weights above
    assert model.loss_curve_[-1] == pytest.approx(expected, rel=1e-10)


# --- fitting modes -----------------------------------------------------------------------


def test_partial_fit_is_one_epoch_and_needs_classes_first():
    model = clf()
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, Y_IRIS)
    model.partial_fit(X[:50], Y_IRIS[:50], classes=[0, 1, 2])
    assert model.n_iter_ == 1 and model.t_ == 50
    model.partial_fit(X[50:], Y_IRIS[50:])
    assert model.t_ == 150 and len(model.loss_curve_) == 2
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        model.partial_fit(X[:5], [0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="not the same"):
        model.partial_fit(X, Y_IRIS, classes=[0, 1])


def test_partial_fit_epochs_equal_fit_epochs():
    # scikit-learn keeps its optimiser between partial_fit calls; so must deltagrad (Adam's
    # moments and step count), which makes k calls the same as fit with max_iter=k.
    fitted = clf(max_iter=7, shuffle=False, tol=0.0).fit(X, Y_IRIS)
    stepped = clf(shuffle=False)
    for _ in range(7):
        stepped.partial_fit(X, Y_IRIS, classes=[0, 1, 2])
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fitted.loss_curve_, stepped.loss_curve_)


def test_partial_fit_regressor_and_availability():
    model = reg(solver="sgd")
    for _ in range(3):
        model.partial_fit(X_REG, Y_REG)
    assert model.t_ == 600 and model.predict(X_REG).shape == (200, 2)
    assert not hasattr(reg(solver="lbfgs"), "partial_fit")
    assert not hasattr(clf(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        clf(early_stopping=True).partial_fit(X, Y_IRIS, classes=[0, 1, 2])


def test_warm_start_continues_and_checks_what_it_continues():
    cold = clf(max_iter=10).fit(X, Y_IRIS)
    warm = clf(max_iter=10, warm_start=True).fit(X, Y_IRIS)
    start = [c.copy() for c in warm.coefs_]
    warm.fit(X, Y_IRIS)
    assert warm.t_ == 3000 and len(warm.loss_curve_) == 20
    assert not np.allclose(warm.coefs_[0], start[0])
    cold.fit(X, Y_IRIS)  # without warm_start, fit starts over
    assert cold.t_ == 1500 and len(cold.loss_curve_) == 10
    with pytest.raises(ValueError, match="same classes"):
        warm.fit(X[:100], Y_IRIS[:100])
    with pytest.raises(ValueError, match="layer shapes"):
        warm.set_params(hidden_layer_sizes=(7,)).fit(X, Y_IRIS)


def test_early_stopping_keeps_the_best_validation_weights():
    model = clf(early_stopping=True, max_iter=300, n_iter_no_change=5).fit(X, Y_IRIS)
    assert len(model.validation_scores_) == model.n_iter_ < 300
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None
    with pytest.raises(ValueError, match="validation set is too small"):
        clf(early_stopping=True, validation_fraction=0.01).fit(X[:20], Y_IRIS[:20])


def test_early_stopping_regressor_scores_by_r2():
    model = reg(early_stopping=True, max_iter=500, hidden_layer_sizes=(32,),
                learning_rate_init=0.01).fit(X_REG, Y_REG)
    assert model.best_validation_score_ == max(model.validation_scores_) > 0.9


def test_training_stops_when_the_loss_stalls_and_warns_at_max_iter():
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf(max_iter=3).fit(X, Y_IRIS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = clf(max_iter=1000, tol=1e-2, n_iter_no_change=3).fit(X, Y_IRIS)
    assert model.n_iter_ < 1000
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf(solver="lbfgs", max_iter=2).fit(X, Y_IRIS)


@pytest.mark.parametrize("solver,learning_rate", [("sgd", "constant"), ("sgd", "invscaling"),
                                                  ("sgd", "adaptive"), ("adam", "constant"),
                                                  ("lbfgs", "constant")])
def test_every_solver_and_schedule_learns_iris(solver, learning_rate):
    lr = 0.5 if learning_rate == "invscaling" else 0.01
    model = clf(solver=solver, learning_rate=learning_rate, learning_rate_init=lr,
                hidden_layer_sizes=(16,), max_iter=300).fit(X, Y_IRIS)
    assert model.score(X, Y_IRIS) > 0.93


def test_batch_size_larger_than_the_data_is_clipped_with_a_warning():
    with pytest.warns(UserWarning, match="clipped"):
        model = clf(batch_size=1000, max_iter=2).fit(X, Y_IRIS)
    assert model.t_ == 300


def test_sparse_input_trains_as_the_dense_one():
    dense = clf(max_iter=5, batch_size=64).fit(X, Y_IRIS)
    for fmt in (scipy.sparse.csr_matrix, scipy.sparse.csc_array):
        sparse = clf(max_iter=5, batch_size=64).fit(fmt(X), Y_IRIS)
        for a, b in zip(dense.coefs_, sparse.coefs_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sparse.predict_proba(fmt(X)), dense.predict_proba(X))


def test_sample_weights_count_like_repeated_rows_in_float64():
    weights = np.random.RandomState(0).randint(0, 3, len(X))
    weighted = clf(solver="lbfgs", max_iter=30, dtype=np.float64).fit(X, Y_IRIS, weights)
    repeated = clf(solver="lbfgs", max_iter=30, dtype=np.float64).fit(
        np.repeat(X, weights, axis=0), np.repeat(Y_IRIS, weights))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="non-zero"):
        clf().fit(X, Y_IRIS, np.zeros(len(X)))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        clf().fit(X, Y_IRIS, np.ones(3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow warnings on the way
def test_exploding_training_raises_a_clear_error():
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        reg(solver="sgd", learning_rate_init=10.0, momentum=0.0, max_iter=50).fit(
            X_REG * 1e3, Y_REG * 1e3)


def test_verbose_prints_the_loss_each_iteration(capsys):
    clf(max_iter=2, verbose=True).fit(X, Y_IRIS)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Iteration 2")


# --- deltagrad extras: dtype, dropout, clip_grad_norm -------------------------------------


def test_dtype_controls_the_weights_and_none_follows_the_input():
    assert clf(max_iter=1).fit(X, Y_IRIS).coefs_[0].dtype == np.float32
    assert clf(max_iter=1, dtype=np.float64).fit(X, Y_IRIS).coefs_[0].dtype == np.float64
    assert clf(max_iter=1, dtype=None).fit(X, Y_IRIS).coefs_[0].dtype == np.float64
    model = clf(max_iter=1, dtype=None).fit(X.astype(np.float32), Y_IRIS)
    assert model.coefs_[0].dtype == np.float32
    lbfgs = clf(solver="lbfgs", max_iter=5).fit(X, Y_IRIS)  # float64 inside, float32 stored
    assert lbfgs.coefs_[0].dtype == lbfgs.intercepts_[0].dtype == np.float32


def test_dropout_is_seeded_changes_training_and_still_learns():
    plain = clf(max_iter=50).fit(X, Y_IRIS)
    dropped = clf(max_iter=50, dropout=0.3).fit(X, Y_IRIS)
    again = clf(max_iter=50, dropout=0.3).fit(X, Y_IRIS)
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    np.testing.assert_array_equal(dropped.coefs_[0], again.coefs_[0])
    assert clf(max_iter=300, dropout=0.2).fit(X, Y_IRIS).score(X, Y_IRIS) > 0.9


def test_clip_grad_norm_bounds_each_step():
    # Plain SGD, one full batch: the step is -lr * gradient, so its norm is lr * min(|g|, c).
    params = {"solver": "sgd", "momentum": 0.0, "batch_size": 150, "shuffle": False,
              "max_iter": 1, "learning_rate_init": 0.1, "dtype": np.float64}
    start = clf(**{**params, "learning_rate_init": 1e-300}).fit(X, Y_IRIS)  # the initial weights
    free = clf(**params).fit(X, Y_IRIS)
    clipped = clf(**params, clip_grad_norm=0.05).fit(X, Y_IRIS)

    def step_norm(model):
        return np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(
            model.coefs_ + model.intercepts_, start.coefs_ + start.intercepts_)))

    assert step_norm(free) > 0.1 * 0.05 * 1.5  # the gradient's norm is well above the clip
    assert step_norm(clipped) == pytest.approx(0.1 * 0.05, rel=1e-4)


# --- parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("params,name", [
    ({"alpha": -1.0}, "alpha"), ({"solver": "newton"}, "solver"),
    ({"hidden_layer_sizes": (10, 0)}, "hidden_layer_sizes"), ({"max_iter": 0}, "max_iter"),
    ({"batch_size": "big"}, "batch_size"), ({"momentum": 1.5}, "momentum"),
    ({"validation_fraction": 1.0}, "validation_fraction"), ({"dropout": 1.0}, "dropout"),
    ({"clip_grad_norm": 0.0}, "clip_grad_norm"), ({"dtype": np.int32}, "dtype"),
    ({"n_iter_no_change": 0}, "n_iter_no_change"), ({"shuffle": "yes"}, "shuffle"),
])
def test_bad_parameters_raise_at_fit_naming_the_parameter(params, name):
    model = MLPClassifier(**params)  # nothing is checked before fit, as scikit-learn
    with pytest.raises(InvalidParameterError, match=name) as error:
        model.fit(X, Y_IRIS)
    assert isinstance(error.value, ValueError) and isinstance(error.value, TypeError)


def test_parameters_mirror_scikit_learns():
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    extras = {"dropout": 0.0, "clip_grad_norm": None, "dtype": np.float32}
    for ours, theirs in ((MLPClassifier(), SkMLPClassifier()), (MLPRegressor(), SkMLPRegressor())):
        expected = {**theirs.get_params(), **extras}
        if isinstance(theirs, SkMLPRegressor):
            expected.setdefault("loss", "squared_error")  # scikit-learn < 1.7 has no `loss`
        assert ours.get_params() == expected


def test_not_fitted_and_wrong_feature_count():
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    model = clf(max_iter=2).fit(X, Y_IRIS)
    assert model.n_features_in_ == 4
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])


# --- inside scikit-learn --------------------------------------------------------------------


def test_pipeline_grid_search_and_cross_validation():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=200, random_state=0))
    scores = cross_val_score(pipe, X_RAW, Y_IRIS, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (32,)],
                               "mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3).fit(X_RAW, Y_IRIS)
    assert grid.best_params_["mlpclassifier__hidden_layer_sizes"] in [(4,), (32,)]
    assert grid.best_score_ > 0.85 and grid.predict(X_RAW).shape == (150,)


def test_clone_pickle_and_resume_after_unpickling():
    model = clf(max_iter=5).fit(X, Y_IRIS)
    fresh = clone(model)
    assert not hasattr(fresh, "coefs_") and fresh.get_params() == model.get_params()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    model.partial_fit(X, Y_IRIS)
    restored.partial_fit(X, Y_IRIS)  # the optimiser's state travels with the estimator
    for a, b in zip(model.coefs_, restored.coefs_):
        np.testing.assert_array_equal(a, b)


def test_random_state_makes_fits_reproducible():
    a = clf(max_iter=20).fit(X, Y_IRIS)
    b = clf(max_iter=20).fit(X, Y_IRIS)
    c = MLPClassifier(max_iter=20, random_state=1).fit(X, Y_IRIS)
    d = MLPClassifier(max_iter=20, random_state=np.random.RandomState(0)).fit(X, Y_IRIS)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    np.testing.assert_array_equal(a.coefs_[0], d.coefs_[0])
    assert not np.allclose(a.coefs_[0], c.coefs_[0])


def test_importing_deltagrad_does_not_import_scikit_learn():
    import subprocess
    import sys

    code = "import sys, deltagrad; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
    assert deltagrad.__name__ == "deltagrad"


def test_a_fresh_lbfgs_fit_drops_the_per_epoch_records_of_an_earlier_fit():
    model = clf(max_iter=3).fit(X, Y_IRIS)
    assert len(model.loss_curve_) == 3
    model.set_params(solver="lbfgs", max_iter=5).fit(X, Y_IRIS)
    assert not hasattr(model, "loss_curve_") and model.n_iter_ <= 5


def test_fitting_leaves_deltagrads_global_generator_alone():
    from deltagrad import _config

    deltagrad.manual_seed(0)
    expected = _config.default_rng().random(3)
    deltagrad.manual_seed(0)
    clf(max_iter=3, dropout=0.5).fit(X, Y_IRIS).predict(X)
    np.testing.assert_array_equal(_config.default_rng().random(3), expected)


def test_small_networks_train_with_single_threaded_blas_and_restore_it(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    from deltagrad.train import Trainer

    seen = []
    real_train_epoch = Trainer.train_epoch  # the solvers' epochs are the Trainer's

    def spy(*args, **kwargs):
        seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
        return real_train_epoch(*args, **kwargs)

    monkeypatch.setattr(Trainer, "train_epoch", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        clf(max_iter=2).fit(X, Y_IRIS)  # 150 x 4 x 100: tiny products, one thread
        assert seen == [1, 1]
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert after and all(n == 2 for n in after)  # restored when fit returns
        seen.clear()
        wide = np.random.RandomState(0).standard_normal((300, 400))
        clf(max_iter=1, hidden_layer_sizes=(400,)).fit(wide, np.arange(300) % 3)
        assert seen == [2]  # 200 x 400 x 400 per batch: every thread is kept
