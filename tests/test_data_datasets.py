"""Built-in data sets: the real ones match scikit-learn's copies; the synthetic ones have the
promised geometry, are the same for a seed and differ across seeds."""

import doctest
import subprocess
import sys

import numpy as np
import pytest
from sklearn import datasets as skd

import deltagrad.data.datasets as datasets_module
from deltagrad.data import (DATASETS, Dataset, load_dataset, make_blobs, make_circles,
                            make_gaussians, make_moons, make_plane, make_spirals, make_xor)
from deltagrad.data.datasets import GAUSSIANS

SYNTHETIC = {"moons": 2, "circles": 2, "spirals": 2, "spirals3": 3, "xor": 2, "blobs": 3}
REGRESSION = ("plane", "gaussians")
REAL = {"iris": skd.load_iris, "digits": skd.load_digits, "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}


def test_names_listed():
    assert set(DATASETS) == set(SYNTHETIC) | set(REAL) | set(REGRESSION)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_shapes_dtypes_and_balanced_classes(name):
    ds = load_dataset(name, n_samples=101, seed=3)
    k = SYNTHETIC[name]
    assert isinstance(ds, Dataset) and ds.name == name and ds.task == "classification"
    assert ds.X.shape == (101, 2) and ds.X.dtype == np.float32 and ds.X.flags.c_contiguous
    assert ds.y.shape == (101,) and ds.y.dtype == np.int64
    assert ds.class_names == [str(c) for c in range(k)] and ds.n_classes == k
    assert ds.feature_names == ["x0", "x1"]
    counts = np.bincount(ds.y, minlength=k)
    assert counts.sum() == 101 and counts.max() - counts.min() <= 1
    assert np.isfinite(ds.X).all()
    # Rows are shuffled: classes are not in blocks.
    assert (np.diff(ds.y) != 0).sum() > k


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_deterministic_per_seed_and_different_across_seeds(name):
    a, b = load_dataset(name, seed=7), load_dataset(name, seed=7)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    c = load_dataset(name, seed=8)
    assert not np.array_equal(a.X, c.X)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_defaults_and_noise_argument(name):
    ds = load_dataset(name)
    assert ds.n_samples >= 200
    quiet, loud = load_dataset(name, noise=0.0), load_dataset(name, noise=0.5)
    assert quiet.n_samples == loud.n_samples == ds.n_samples
    assert not np.array_equal(quiet.X, loud.X)


def test_moons_geometry_without_noise():
    ds = make_moons(200, noise=0.0)
    upper, lower = ds.X[ds.y == 0].astype(np.float64), ds.X[ds.y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()


def test_circles_geometry_without_noise():
    ds = make_circles(100, noise=0.0, factor=0.3)
    radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
    np.testing.assert_allclose(radius[ds.y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[ds.y == 1], 0.3, atol=1e-6)


def test_spirals_arms_without_noise():
    for arms in (2, 4):
        ds = make_spirals(80 * arms, noise=0.0, n_arms=arms)
        assert ds.n_classes == arms and ds.name == ("spirals" if arms == 2 else f"spirals{arms}")
        radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
        assert radius.max() <= 1.0 + 1e-6
        # Every arm spans the same radii, starting near the centre.
        for k in range(arms):
            r = radius[ds.y == k]
            assert r.min() < 0.1 and r.max() > 0.99
    assert load_dataset("spirals5", n_samples=50).n_classes == 5


def test_xor_labels_without_noise():
    ds = make_xor(400, noise=0.0, seed=2)
    np.testing.assert_array_equal(ds.y, (ds.X[:, 0] * ds.X[:, 1] < 0).astype(np.int64))
    assert (np.abs(ds.X) <= 1).all()
    # All four quadrants are used.
    assert len({(bool(a), bool(b)) for a, b in ds.X > 0}) == 4


def test_blobs_without_noise_sit_on_their_centres():
    ds = make_blobs(60, noise=0.0, n_centers=4)
    for k in range(4):
        points = ds.X[ds.y == k]
        assert np.ptp(points, axis=0).max() == 0
        assert np.hypot(*points[0]) == pytest.approx(3.0, abs=1e-6)
    centres = np.unique(ds.X, axis=0)
    assert len(centres) == 4


@pytest.mark.parametrize("name", REGRESSION)
def test_synthetic_regression_sets(name):
    ds = load_dataset(name, n_samples=101, seed=3)
    assert ds.name == name and ds.task == "regression" and ds.n_classes is None
    assert ds.X.shape == (101, 2) and ds.X.dtype == np.float32 and ds.y.shape == (101,)
    assert ds.y.dtype == np.float32 and ds.feature_names == ["x0", "x1"]
    assert (np.abs(ds.X) <= 1).all() and np.isfinite(ds.y).all()
    again, other = load_dataset(name, n_samples=101, seed=3), load_dataset(name, seed=4)
    np.testing.assert_array_equal(ds.y, again.y)
    assert not np.array_equal(ds.X[:50], other.X[:50])
    # Noise moves the targets, not the points.
    quiet, loud = load_dataset(name, noise=0.0), load_dataset(name, noise=0.5)
    np.testing.assert_array_equal(quiet.X, loud.X)
    assert 0.4 < float(np.std(loud.y - quiet.y)) < 0.6


def test_plane_and_gaussians_targets_without_noise():
    plane = make_plane(300, noise=0.0, seed=1)
    x = plane.X.astype(np.float64)
    np.testing.assert_allclose(plane.y, (x[:, 0] + x[:, 1]) / 2, atol=1e-6)
    bumps = make_gaussians(300, noise=0.0, seed=1, width=0.3)
    x = bumps.X.astype(np.float64)
    expected = sum(s * np.exp(-((x[:, 0] - a) ** 2 + (x[:, 1] - b) ** 2) / 0.18)
                   for a, b, s in GAUSSIANS)
    np.testing.assert_allclose(bumps.y, expected, atol=1e-6)
    for a, b, sign in GAUSSIANS:  # default width: at a centre, about its bump's sign
        peak = sum(s * np.exp(-((a - c) ** 2 + (b - d) ** 2) / 0.08) for c, d, s in GAUSSIANS)
        assert peak == pytest.approx(sign, abs=0.05)
    with pytest.raises(ValueError, match="gaussians: width must be a number > 0"):
        make_gaussians(10, width=0)
    with pytest.raises(ValueError, match=r"plane: n_samples must be at least 1, got 0"):
        make_plane(0)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_sets_match_scikit_learn(name):
    ds, bunch = load_dataset(name), REAL[name]()
    np.testing.assert_allclose(ds.X, bunch.data.astype(np.float32))
    assert ds.X.dtype == np.float32 and ds.name == name
    assert ds.feature_names == [str(f) for f in bunch.feature_names]
    if name == "diabetes":
        assert ds.task == "regression" and ds.class_names is None and ds.n_classes is None
        assert ds.y.dtype == np.float32
        np.testing.assert_allclose(ds.y, bunch.target, rtol=1e-6)
    else:
        assert ds.task == "classification" and ds.y.dtype == np.int64
        np.testing.assert_array_equal(ds.y, bunch.target)
        assert ds.class_names == [str(c) for c in bunch.target_names]


def test_real_set_subset_is_seeded():
    a, b = load_dataset("iris", n_samples=30, seed=1), load_dataset("iris", n_samples=30, seed=1)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.n_samples == 30
    assert not np.array_equal(a.X, load_dataset("iris", n_samples=30, seed=2).X)
    # The rows are rows of the full set.
    full = load_dataset("iris").X
    assert all((full == row).all(axis=1).any() for row in a.X)


def test_unknown_name_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown data set 'mnist'") as info:
        load_dataset("mnist")
    for name in DATASETS:
        assert name in str(info.value)
    with pytest.raises(ValueError):
        load_dataset("spirals1")


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_samples"):
        load_dataset("moons", n_samples=1)
    with pytest.raises(ValueError, match="noise"):
        load_dataset("moons", noise=-0.1)
    with pytest.raises(TypeError, match="seed"):
        load_dataset("moons", seed=1.5)
    with pytest.raises(ValueError, match="noise applies to the synthetic"):
        load_dataset("iris", noise=0.1)
    with pytest.raises(ValueError, match="n_samples"):
        load_dataset("iris", n_samples=1000)


def test_dataset_validates_its_fields():
    X = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="task"):
        Dataset(X, np.zeros(3, np.int64), "clustering", ["a", "b"], ["u"], "d")
    with pytest.raises(ValueError, match="class indices"):
        Dataset(X, np.array([0, 1, 2]), "classification", ["a", "b"], ["u", "v"], "d")
    with pytest.raises(ValueError, match="float32"):
        Dataset(X.astype(np.float64), np.zeros(3, np.float32), "regression", ["a", "b"], None, "d")


def test_missing_scikit_learn_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    with pytest.raises(ImportError, match=r"pip install scikit-learn.*deltagrad\[data\]"):
        load_dataset("iris")
    assert load_dataset("moons").n_samples == 200  # synthetic sets need no scikit-learn


def test_importing_deltagrad_needs_no_scikit_learn():
    code = ("import sys, deltagrad, deltagrad.data, deltagrad.train; "
            "deltagrad.data.load_dataset('moons'); assert 'sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_docstring_examples():
    assert doctest.testmod(datasets_module).failed == 0
