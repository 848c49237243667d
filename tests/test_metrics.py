"""Metrics against scikit-learn's implementations on random data, plus the edge cases and the
input checks."""

import doctest
import json

import numpy as np
import pytest
from sklearn import metrics as skm

import deltagrad.train.metrics as metrics_module
from deltagrad.train import (accuracy, classification_report, confusion_matrix, f1, log_loss, mae,
                             mse, precision, precision_recall_f1_support, r2, recall,
                             regression_report, rmse)

SEEDS = range(6)


def random_labels(seed, n=50, k=4):
    """True and predicted labels, with a class that is never predicted and one never true."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, size=n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, k + 1, size=n))
    p[p == 1] = 2
    return t, p


def random_probs(seed, n=40, k=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=3.0, size=(n, k))
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return rng.integers(0, k, size=n), logits, probs.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Classification

@pytest.mark.parametrize("seed", SEEDS)
def test_accuracy_and_confusion_matrix(seed):
    t, p = random_labels(seed)
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p), abs=1e-15)
    np.testing.assert_array_equal(confusion_matrix(t, p), skm.confusion_matrix(t, p))
    for labels in ([3, 0, 2], [4, 1], list(range(6))):
        np.testing.assert_array_equal(confusion_matrix(t, p, labels=labels),
                                      skm.confusion_matrix(t, p, labels=labels))
    assert confusion_matrix(t, p).dtype == np.int64


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_precision_recall_f1_all_averages(seed, zero_division):
    t, p = random_labels(seed)
    for average in ("macro", "weighted", "micro", None):
        for ours, theirs in ((precision, skm.precision_score), (recall, skm.recall_score),
                             (f1, skm.f1_score)):
            np.testing.assert_allclose(
                ours(t, p, average=average, zero_division=zero_division),
                theirs(t, p, average=average, zero_division=zero_division), rtol=1e-12)
    labels = [2, 0, 5]
    got = precision_recall_f1_support(t, p, labels=labels, zero_division=zero_division)
    want = skm.precision_recall_fscore_support(t, p, labels=labels, average=None,
                                               zero_division=zero_division)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    for average in ("macro", "micro", "weighted"):
        assert f1(t, p, labels=labels, average=average, zero_division=zero_division) == \
            pytest.approx(skm.f1_score(t, p, labels=labels, average=average,
                                       zero_division=zero_division), rel=1e-12)


def test_string_labels_and_score_matrices():
    t = np.array(["cat", "dog", "dog", "emu", "cat"])
    p = np.array(["cat", "cat", "dog", "dog", "cat"])
    assert f1(t, p) == pytest.approx(skm.f1_score(t, p, average="macro", zero_division=0.0))
    np.testing.assert_array_equal(confusion_matrix(t, p), skm.confusion_matrix(t, p))
    scores = np.array([[2.0, 1.0, 0.0], [0.1, 0.2, 0.3], [5.0, -1.0, 4.9]])
    assert accuracy([0, 2, 2], scores) == pytest.approx(2 / 3)
    assert accuracy(np.array([[1], [0]]), [1, 1]) == 0.5


def test_classification_report_matches_scikit_learn():
    t, p = random_labels(3)
    names = ["a", "b", "c", "d", "e"]
    ours = classification_report(t, p, class_names=names)
    theirs = skm.classification_report(t, p, labels=range(5), output_dict=True,
                                       zero_division=0.0)
    json.dumps(ours)
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
    for k, name in enumerate(names):
        for key, their_key in (("precision", "precision"), ("recall", "recall"),
                               ("f1", "f1-score"), ("support", "support")):
            assert ours["classes"][name][key] == pytest.approx(theirs[str(k)][their_key])
    for ours_avg, their_avg in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        for key, their_key in (("precision", "precision"), ("f1", "f1-score")):
            assert ours[ours_avg][key] == pytest.approx(theirs[their_avg][their_key])
    assert ours["confusion_matrix"] == skm.confusion_matrix(t, p, labels=range(5)).tolist()
    plain = classification_report(t, p)
    assert list(plain["classes"]) == [str(c) for c in np.unique(np.concatenate([t, p]))]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_from_probabilities(seed, dtype):
    t, _, probs = random_probs(seed, dtype=dtype)
    want = skm.log_loss(t, probs, labels=[0, 1, 2])
    assert log_loss(t, probs) == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_loss_clips_like_scikit_learn(dtype):
    t = np.array([0, 1, 2, 0])
    probs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]],
                     dtype=dtype)
    got = log_loss(t, probs)
    assert np.isfinite(got)
    assert got == pytest.approx(skm.log_loss(t, probs, labels=[0, 1, 2]), rel=1e-6)


def test_log_loss_binary_one_column():
    rng = np.random.default_rng(0)
    t, prob = rng.integers(0, 2, size=30), rng.random(30)
    assert log_loss(t, prob) == pytest.approx(skm.log_loss(t, prob, labels=[0, 1]), rel=1e-12)
    logits = rng.normal(scale=4.0, size=30)
    sigmoid = 1 / (1 + np.exp(-logits))
    assert log_loss(t, logits, from_logits=True) == pytest.approx(
        skm.log_loss(t, sigmoid, labels=[0, 1]), rel=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_log_loss_from_logits_matches_softmax_probabilities(seed):
    t, logits, probs = random_probs(seed)
    assert log_loss(t, logits, from_logits=True) == pytest.approx(
        skm.log_loss(t, probs, labels=[0, 1, 2]), rel=1e-9)


def test_log_loss_from_logits_is_exact_where_clipping_is_not():
    # The true class is 1000 below the best one: its log-probability is -1000 (to 1e-300).
    logits = np.array([[0.0, 1000.0], [1e4, -1e4]])
    assert log_loss([0, 0], logits, from_logits=True) == pytest.approx(500.0)
    assert log_loss([1, 0], np.array([1e4, -1e4]), from_logits=True) == pytest.approx(0.0)
    assert log_loss([0, 1], np.array([1e4, -1e4]), from_logits=True) == pytest.approx(1e4)


def test_log_loss_with_labels_and_errors():
    probs = np.array([[0.7, 0.3], [0.4, 0.6]])
    assert log_loss(["no", "yes"], probs, labels=["no", "yes"]) == pytest.approx(
        skm.log_loss(["no", "yes"], probs))
    with pytest.raises(ValueError, match="sum to 1.*from_logits"):
        log_loss([0, 1], [[0.5, 0.6], [0.4, 0.6]])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_loss([0, 1], [[2.0, -1.0], [0.4, 0.6]])
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\)"):
        log_loss([0, 2], probs)
    with pytest.raises(ValueError, match="2 samples but y_pred has 3"):
        log_loss([0, 1], np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="not among the labels"):
        log_loss(["no", "maybe"], probs, labels=["no", "yes"])
    with pytest.raises(ValueError, match="class indices"):
        log_loss(["no", "yes"], probs)
    with pytest.raises(ValueError, match="NaN"):
        log_loss([0, 1], [[np.nan, 1.0], [0.4, 0.6]], from_logits=True)


@pytest.mark.parametrize("fn", [accuracy, confusion_matrix, precision, recall, f1,
                                classification_report])
def test_label_metrics_check_lengths(fn):
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        fn([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="no samples"):
        fn([], [])


def test_bad_average_and_labels():
    with pytest.raises(ValueError, match="average"):
        f1([0, 1], [0, 1], average="binary")
    with pytest.raises(ValueError, match="without repeats"):
        precision([0, 1], [0, 1], labels=[0, 0])
    with pytest.raises(ValueError, match="different types"):
        confusion_matrix(np.array([0, 1], dtype=object), np.array(["a", "b"], dtype=object))


# ---------------------------------------------------------------------------------------------
# Regression

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(30,), (30, 3)])
def test_regression_metrics_match_scikit_learn(seed, shape):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=shape)
    p = t + rng.normal(scale=0.5, size=shape)
    for ours, theirs in ((mse, skm.mean_squared_error), (rmse, skm.root_mean_squared_error),
                         (mae, skm.mean_absolute_error), (r2, skm.r2_score)):
        assert ours(t, p) == pytest.approx(theirs(t, p), rel=1e-12)
        assert ours(t.tolist(), p.tolist()) == pytest.approx(theirs(t, p), rel=1e-12)
    report = regression_report(t, p)
    json.dumps(report)
    assert report["n"] == 30 and report["r2"] == pytest.approx(skm.r2_score(t, p))


def test_r2_constant_target_convention():
    t = np.full(5, 2.0)
    assert r2(t, t) == skm.r2_score(t, t) == 1.0
    assert r2(t, t + 0.1) == skm.r2_score(t, t + 0.1) == 0.0
    rng = np.random.default_rng(0)
    t2 = np.stack([np.full(6, 3.0), rng.normal(size=6)], axis=1)
    p2 = t2 + np.stack([np.zeros(6), rng.normal(size=6)], axis=1)
    assert r2(t2, p2) == pytest.approx(skm.r2_score(t2, p2), rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        r2([1.0], [1.0])
    assert regression_report([1.0], [2.0])["r2"] is None


def test_column_vector_and_flat_targets_mix():
    t, p = np.arange(5.0), np.arange(5.0)[:, None] + 1
    assert mse(t, p) == 1.0 and mae(t[:, None], p[:, 0]) == 1.0


@pytest.mark.parametrize("fn", [mse, rmse, mae, r2, regression_report])
def test_regression_metrics_check_inputs(fn):
    with pytest.raises(ValueError, match="y_true has 3 samples but y_pred has 2"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="2 outputs but y_pred has 3"):
        fn(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="finite"):
        fn([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="no samples"):
        fn([], [])


def test_docstring_examples():
    assert doctest.testmod(metrics_module).failed == 0
