"""StandardScaler (fitted on the training split only, JSON round trip, constant columns) and
iterate_minibatches (views when in order, seeded permutations when shuffled)."""

import doctest
import json

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler as SkStandardScaler

import deltagrad as dg
import deltagrad.data.batching as batching_module
import deltagrad.data.scaling as scaling_module
from deltagrad.data import StandardScaler, iterate_minibatches, train_val_test_split


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[5.0, -2.0, 0.0, 3.0], scale=[2.0, 0.5, 1.0, 1.0], size=(n, 4))
    X[:, 3] = 7.0  # a constant column
    return X.astype(np.float32), np.arange(n) % 3


# ---------------------------------------------------------------------------------------------
# StandardScaler

def test_fitted_on_the_training_split_only():
    X, y = data()
    s = train_val_test_split(X, y, seed=0)
    scaler = StandardScaler().fit(s.X_train)
    train64 = s.X_train.astype(np.float64)
    np.testing.assert_allclose(scaler.mean_, train64.mean(axis=0))
    assert not np.allclose(scaler.mean_[:3], X.astype(np.float64).mean(axis=0)[:3])
    Z = scaler.transform(s.X_train)
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1, atol=1e-5)
    # The test split is scaled with the training statistics, not its own.
    expected = (s.X_test.astype(np.float64) - train64.mean(0)) / np.where(
        train64.std(0) == 0, 1.0, train64.std(0))
    np.testing.assert_allclose(scaler.transform(s.X_test), expected, rtol=1e-5, atol=1e-6)


def test_matches_scikit_learn_and_outputs_float32():
    X, _ = data(seed=1)
    ours = StandardScaler().fit(X)
    theirs = SkStandardScaler().fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-12)
    Z = ours.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, theirs.transform(X.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_constant_columns_keep_scale_one():
    X, _ = data()
    scaler = StandardScaler().fit(X)
    assert scaler.scale_[3] == 1.0
    np.testing.assert_array_equal(scaler.transform(X)[:, 3], 0.0)
    tiny = np.full((5, 1), 0.1, dtype=np.float64)  # a mean that rounds: std must not be ~1e-17
    assert StandardScaler().fit(tiny).scale_.tolist() == [1.0]


def test_dict_round_trip_through_json():
    X, _ = data()
    scaler = StandardScaler().fit(X[:40])
    d = json.loads(json.dumps(scaler.to_dict()))
    assert set(d) == {"mean", "scale"}
    assert all(isinstance(v, float) for v in d["mean"] + d["scale"])
    again = StandardScaler.from_dict(d)
    np.testing.assert_array_equal(again.mean_, scaler.mean_)
    np.testing.assert_array_equal(again.scale_, scaler.scale_)
    np.testing.assert_array_equal(again.transform(X[40:]), scaler.transform(X[40:]))
    assert again.n_features_in_ == 4


def test_inverse_transform_round_trip():
    X, _ = data()
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.fit_transform(X)), X, rtol=1e-5,
                               atol=1e-5)


def test_scaler_errors():
    X, _ = data()
    with pytest.raises(ValueError, match="not fitted"):
        StandardScaler().transform(X)
    with pytest.raises(ValueError, match="not fitted"):
        StandardScaler().to_dict()
    scaler = StandardScaler().fit(X)
    with pytest.raises(ValueError, match="3 features but the scaler was fitted on 4"):
        scaler.transform(X[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        scaler.transform(X[0])
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match="no rows"):
        StandardScaler().fit(np.zeros((0, 2)))
    for bad in ({"mean": [0.0]}, {"mean": [0.0], "scale": [0.0]},
                {"mean": [0.0, 1.0], "scale": [1.0]}, {"mean": ["a"], "scale": [1.0]}):
        with pytest.raises(ValueError, match="from_dict"):
            StandardScaler.from_dict(bad)


# ---------------------------------------------------------------------------------------------
# iterate_minibatches

def test_in_order_batches_are_views_with_a_partial_last_batch():
    X, y = data(n=10)
    batches = list(iterate_minibatches(X, y, 4, shuffle=False))
    assert [len(xb) for xb, _ in batches] == [4, 4, 2]
    for i, (xb, yb) in enumerate(batches):
        assert np.shares_memory(xb, X) and np.shares_memory(yb, y)
        np.testing.assert_array_equal(xb, X[4 * i:4 * i + 4])
        np.testing.assert_array_equal(yb, y[4 * i:4 * i + 4])


def test_shuffled_batches_cover_every_row_once_and_stay_paired():
    X = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    batches = list(iterate_minibatches(X, y, 5, rng=np.random.default_rng(0)))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    order = np.concatenate([yb for _, yb in batches])
    assert sorted(order.tolist()) == list(range(23))
    assert order.tolist() != list(range(23))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_shuffle_is_seeded():
    X, y = data(n=30)

    def order(rng):
        return np.concatenate([xb for xb, _ in iterate_minibatches(np.arange(30), None, 7,
                                                                   rng=rng)])

    a = order(np.random.default_rng(1))
    assert (a == order(np.random.default_rng(1))).all()
    assert not (a == order(np.random.default_rng(2))).all()
    dg.manual_seed(3)
    b = next(xb for xb, _ in iterate_minibatches(X, y, 30))
    dg.manual_seed(3)
    np.testing.assert_array_equal(b, next(xb for xb, _ in iterate_minibatches(X, y, 30)))


def test_no_targets_and_large_batches():
    X, _ = data(n=5)
    (xb, yb), = iterate_minibatches(X, None, 100, shuffle=False)
    assert yb is None and xb.shape == X.shape


def test_batching_errors_come_at_call_time():
    X, y = data(n=5)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_minibatches(X, y, 0)
    with pytest.raises(ValueError, match="X has 5 rows but y has shape"):
        iterate_minibatches(X, y[:4], 2)
    with pytest.raises(TypeError, match="Generator"):
        iterate_minibatches(X, y, 2, rng=42)


def test_docstring_examples():
    assert doctest.testmod(scaling_module).failed == 0
    assert doctest.testmod(batching_module).failed == 0
