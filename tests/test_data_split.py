"""train_val_test_split: exact sizes, a partition of the rows, stratified within one row of the
exact share, seeded."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltagrad.data.split as split_module
from deltagrad.data import train_val_test_split


def ids_and_labels(class_counts, rng):
    y = rng.permutation(np.repeat(np.arange(len(class_counts)), class_counts))
    X = np.arange(len(y) * 2).reshape(len(y), 2)  # row i holds 2i, 2i + 1: its id is X[:, 0] / 2
    return X, y


def check_partition(s, X, y):
    ids = [part[:, 0] // 2 for part in (s.X_train, s.X_val, s.X_test)]
    joined = np.concatenate(ids)
    assert sorted(joined.tolist()) == list(range(len(X)))
    for part_ids, part_y in zip(ids, (s.y_train, s.y_val, s.y_test)):
        np.testing.assert_array_equal(y[part_ids], part_y)  # rows stay paired


def test_default_sizes_and_partition():
    rng = np.random.default_rng(0)
    X, y = ids_and_labels([50, 30, 20], rng)
    s = train_val_test_split(X, y)
    assert (len(s.X_train), len(s.X_val), len(s.X_test)) == (70, 10, 20)
    assert s._fields == ("X_train", "X_val", "X_test", "y_train", "y_val", "y_test")
    check_partition(s, X, y)


def test_sizes_round_up_the_held_out_splits():
    X, y = np.arange(13 * 2).reshape(13, 2), np.zeros(13)
    s = train_val_test_split(X, y, val_fraction=0.15, test_fraction=0.25)
    # ceil(1.95) = 2, ceil(3.25) = 4; 0.2 * 10 must give 2, not 3.
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (7, 2, 4)
    s = train_val_test_split(np.zeros((10, 1)), np.zeros(10), val_fraction=0.1,
                             test_fraction=0.2)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (7, 1, 2)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
       val=st.sampled_from([0.0, 0.1, 0.15, 0.25]), test=st.sampled_from([0.0, 0.2, 0.3]),
       seed=st.integers(0, 1000))
def test_stratified_counts_within_one_row_of_exact(counts, val, test, seed):
    n = sum(counts)
    X, y = ids_and_labels(counts, np.random.default_rng(seed))
    n_val, n_test = int(np.ceil(round(val * n, 9))), int(np.ceil(round(test * n, 9)))
    if n - n_val - n_test < 1:
        with pytest.raises(ValueError, match="too few"):
            train_val_test_split(X, y, val_fraction=val, test_fraction=test, seed=seed)
        return
    s = train_val_test_split(X, y, val_fraction=val, test_fraction=test, seed=seed)
    check_partition(s, X, y)
    sizes = [n - n_val - n_test, n_val, n_test]
    for part, size in zip((s.y_train, s.y_val, s.y_test), sizes):
        assert len(part) == size
        for k, n_k in enumerate(counts):
            exact = n_k * size / n
            got = int((part == k).sum())
            assert abs(got - exact) < 1, (k, got, exact)
            if exact >= 1:
                assert got >= 1  # a class with enough members is in every split


def test_every_class_present_in_every_split():
    rng = np.random.default_rng(1)
    X, y = ids_and_labels([60, 25, 10, 10], rng)
    s = train_val_test_split(X, y, val_fraction=0.1, test_fraction=0.2, seed=4)
    for part in (s.y_train, s.y_val, s.y_test):
        assert set(part.tolist()) == {0, 1, 2, 3}


def test_string_labels_are_stratified():
    y = np.array(["cat"] * 40 + ["dog"] * 10)
    X = np.arange(50)[:, None]
    s = train_val_test_split(X, y, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert (s.y_val == "dog").sum() == 2 and (s.y_test == "dog").sum() == 2


def test_deterministic_per_seed_and_different_across_seeds():
    X, y = ids_and_labels([30, 30], np.random.default_rng(2))
    a = train_val_test_split(X, y, seed=5)
    b = train_val_test_split(X, y, seed=5)
    c = train_val_test_split(X, y, seed=6)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.X_test, c.X_test)


def test_regression_targets_and_unstratified_splits():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2)).astype(np.float32)
    s = train_val_test_split(X, y, seed=1)
    assert s.y_train.shape == (28, 2) and s.y_train.dtype == np.float32
    assert s.X_test.shape == (8, 3)
    yi = np.repeat([0, 1], 20)
    s = train_val_test_split(np.arange(40)[:, None], yi, stratify=False, seed=0)
    assert len(s.y_test) == 8 and sorted(np.concatenate(s[:3])[:, 0]) == list(range(40))


def test_zero_fractions_give_empty_splits_of_the_right_shape():
    X, y = np.zeros((10, 4)), np.arange(10) % 2
    s = train_val_test_split(X, y, val_fraction=0.0, test_fraction=0.0)
    assert s.X_train.shape == (10, 4) and s.X_val.shape == (0, 4) and s.y_test.shape == (0,)


def test_errors():
    X, y = np.zeros((10, 2)), np.zeros(10)
    for kwargs in ({"val_fraction": -0.1}, {"test_fraction": 1.0}, {"val_fraction": 1.5}):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\)"):
            train_val_test_split(X, y, **kwargs)
    with pytest.raises(ValueError, match="below 1"):
        train_val_test_split(X, y, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(TypeError):
        train_val_test_split(X, y, val_fraction=True)
    with pytest.raises(ValueError, match="2 rows are too few"):
        train_val_test_split(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        train_val_test_split(X, np.zeros(9))


def test_docstring_examples():
    assert doctest.testmod(split_module).failed == 0
