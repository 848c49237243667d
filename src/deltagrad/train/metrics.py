"""Classification and regression metrics on array-likes, with scikit-learn's definitions.

Every function takes ``y_true`` first and returns Python floats (or NumPy arrays for
per-class values). Classification metrics take labels of any type; where ``y_pred`` is 2-D,
of shape (samples, classes), it holds per-class scores and the label is its argmax, so class
indices 0..k-1 are assumed. Mismatched lengths, empty inputs and non-finite values raise a
``ValueError`` naming the function.
"""

from __future__ import annotations

import numpy as np

_AVERAGES = ("macro", "weighted", "micro", None)


# ---------------------------------------------------------------------------------------------
# Input checks

def _label_arrays(fn: str, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """1-D label arrays of one length; 2-D scores in ``y_pred`` become their argmax."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if p.ndim == 2:
        p = p[:, 0] if p.shape[1] == 1 else p.argmax(axis=1)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"{fn}: expected 1-D labels, got y_true of shape {t.shape} and y_pred "
                         f"of shape {np.shape(y_pred)}")
    if len(t) != len(p):
        raise ValueError(f"{fn}: y_true has {len(t)} samples but y_pred has {len(p)}")
    if len(t) == 0:
        raise ValueError(f"{fn}: no samples")
    return t, p


def _regression_arrays(fn: str, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Float64 arrays of shape (samples, outputs); a 1-D target is one output."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    t2 = t.reshape(-1, 1) if t.ndim == 1 else t
    p2 = p.reshape(-1, 1) if p.ndim == 1 else p
    if t2.ndim != 2 or p2.ndim != 2:
        raise ValueError(f"{fn}: expected 1-D or 2-D targets, got shapes {t.shape} and "
                         f"{p.shape}")
    if len(t2) != len(p2):
        raise ValueError(f"{fn}: y_true has {len(t2)} samples but y_pred has {len(p2)}")
    if t2.shape != p2.shape:
        raise ValueError(f"{fn}: y_true has {t2.shape[1]} outputs but y_pred has "
                         f"{p2.shape[1]} (shapes {t.shape} and {p.shape})")
    if len(t2) == 0:
        raise ValueError(f"{fn}: no samples")
    if not (np.isfinite(t2).all() and np.isfinite(p2).all()):
        raise ValueError(f"{fn}: y_true and y_pred must be finite (found NaN or inf)")
    return t2, p2


# ---------------------------------------------------------------------------------------------
# Classification

def accuracy(y_true, y_pred) -> float:
    """The fraction of samples whose predicted label is the true one.

    >>> accuracy([0, 1, 2, 1], [0, 2, 2, 1])
    0.75
    """
    t, p = _label_arrays("accuracy", y_true, y_pred)
    return float(np.mean(t == p))


def _counts(fn: str, y_true, y_pred, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labels; the confusion matrix over them and any other labels present; the labels'
    rows in it."""
    t, p = _label_arrays(fn, y_true, y_pred)
    try:
        if labels is None:
            labels = np.unique(np.concatenate([t, p]))
        else:
            labels = np.asarray(labels)
            if labels.ndim != 1 or len(labels) == 0 or len(np.unique(labels)) != len(labels):
                raise ValueError(f"{fn}: labels must be a non-empty list without repeats, got "
                                 f"{labels.tolist()}")
        # Counting over every label present keeps false positives and negatives right when
        # `labels` selects only some of them.
        every = np.unique(np.concatenate([labels, t, p]))
    except TypeError:
        raise ValueError(f"{fn}: labels of different types can not be compared "
                         f"(y_true {t.dtype}, y_pred {p.dtype})") from None
    k = len(every)
    ti, pi = np.searchsorted(every, t), np.searchsorted(every, p)
    C = np.bincount(ti * k + pi, minlength=k * k).reshape(k, k)
    keep = np.searchsorted(every, labels)
    return labels, C, keep


def confusion_matrix(y_true, y_pred, *, labels=None) -> np.ndarray:
    """``C[i, j]`` counts the samples of true label ``labels[i]`` predicted as ``labels[j]``.

    ``labels`` defaults to the sorted labels present in either array; given, it orders (or
    selects) the rows and columns. An int64 array.

    >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    _, C, keep = _counts("confusion_matrix", y_true, y_pred, labels)
    return C[np.ix_(keep, keep)].astype(np.int64)


def _divide(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out


def precision_recall_f1_support(y_true, y_pred, *, labels=None, zero_division: float = 0.0
                                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 and support (true count), in the order of ``labels``.

    Precision is ``tp / (tp + fp)``, recall ``tp / (tp + fn)``, F1 ``2 tp / (2 tp + fp + fn)``;
    a ratio with a zero denominator is ``zero_division``. As scikit-learn's
    ``precision_recall_fscore_support(average=None)``.

    >>> p, r, f, s = precision_recall_f1_support([0, 0, 1, 1], [0, 1, 1, 1])
    >>> p.tolist(), r.tolist(), s.tolist()
    ([1.0, 0.6666666666666666], [0.5, 1.0], [2, 2])
    """
    _, C, keep = _counts("precision_recall_f1_support", y_true, y_pred, labels)
    tp = np.diag(C)[keep].astype(np.float64)
    predicted, actual = C.sum(axis=0)[keep], C.sum(axis=1)[keep]
    return (_divide(tp, predicted, zero_division), _divide(tp, actual, zero_division),
            _divide(2 * tp, predicted + actual, zero_division), actual.astype(np.int64))


def _averaged(fn: str, which: int, y_true, y_pred, average, labels, zero_division):
    if average not in _AVERAGES:
        raise ValueError(f"{fn}: average must be one of {_AVERAGES}, got {average!r}")
    scores = precision_recall_f1_support(y_true, y_pred, labels=labels,
                                         zero_division=zero_division)
    if average is None:
        return scores[which]
    support = scores[3]
    if average == "micro":
        # Pool the counts of all classes, then take the ratio once.
        _, C, keep = _counts(fn, y_true, y_pred, labels)
        tp = np.diag(C)[keep].sum()
        predicted, actual = C.sum(axis=0)[keep].sum(), support.sum()
        num, den = [(tp, predicted), (tp, actual), (2 * tp, predicted + actual)][which]
        return float(_divide(np.array([num], dtype=float), np.array([den]), zero_division)[0])
    if average == "weighted":
        if support.sum() == 0:
            return float(zero_division)
        return float(np.average(scores[which], weights=support))
    return float(np.mean(scores[which]))


def precision(y_true, y_pred, *, average: str | None = "macro", labels=None,
              zero_division: float = 0.0):
    """Precision averaged over classes (``average="macro"``, ``"weighted"`` by support,
    ``"micro"`` over pooled counts), or per class with ``average=None``.

    >>> precision([0, 0, 1, 1], [0, 1, 1, 1])
    0.8333333333333333
    """
    return _averaged("precision", 0, y_true, y_pred, average, labels, zero_division)


def recall(y_true, y_pred, *, average: str | None = "macro", labels=None,
           zero_division: float = 0.0):
    """Recall, averaged as in ``precision`` or per class with ``average=None``.

    >>> recall([0, 0, 1, 1], [0, 1, 1, 1])
    0.75
    """
    return _averaged("recall", 1, y_true, y_pred, average, labels, zero_division)


def f1(y_true, y_pred, *, average: str | None = "macro", labels=None,
       zero_division: float = 0.0):
    """F1 score, averaged as in ``precision`` or per class with ``average=None``.

    Macro F1 is the mean of the per-class F1 scores (as scikit-learn's ``f1_score``), not
    the harmonic mean of macro precision and macro recall.

    >>> round(f1([0, 0, 1, 1], [0, 1, 1, 1]), 4)
    0.7333
    """
    return _averaged("f1", 2, y_true, y_pred, average, labels, zero_division)


def _class_indices(fn: str, y_true, n_rows: int, n_classes: int, labels) -> np.ndarray:
    """``y_true`` as column indices into predictions of ``n_classes`` columns."""
    t = np.asarray(y_true)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"{fn}: y_true must be 1-D, got shape {t.shape}")
    if len(t) != n_rows:
        raise ValueError(f"{fn}: y_true has {len(t)} samples but y_pred has {n_rows}")
    if n_rows == 0:
        raise ValueError(f"{fn}: no samples")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != n_classes:
            raise ValueError(f"{fn}: {np.size(labels)} labels for {n_classes} columns of "
                             f"y_pred")
        order = np.argsort(labels)
        pos = np.clip(np.searchsorted(labels[order], t), 0, n_classes - 1)
        if not (labels[order][pos] == t).all():
            missing = t[labels[order][pos] != t][0]
            raise ValueError(f"{fn}: y_true holds {missing!r}, which is not among the labels")
        return order[pos]
    if t.dtype.kind not in "biu":
        raise ValueError(f"{fn}: y_true must hold class indices 0..{n_classes - 1} (or pass "
                         f"labels=), got dtype {t.dtype}")
    if t.min() < 0 or t.max() >= n_classes:
        raise ValueError(f"{fn}: class indices in y_true must lie in [0, {n_classes}) for "
                         f"y_pred with {n_classes} columns, got {t.min()}..{t.max()}")
    return t.astype(np.intp)


def log_loss(y_true, y_pred, *, from_logits: bool = False, labels=None) -> float:
    """Mean negative log-likelihood of the true classes (cross-entropy, natural log).

    ``y_pred`` is ``(samples, classes)``, or 1-D for two classes (the positive class's value).
    ``y_true`` holds class indices, or values of ``labels`` (one per column of ``y_pred``).

    With ``from_logits=False`` (the default) ``y_pred`` holds probabilities: each row must sum
    to 1, and values are clipped to ``[eps, 1 - eps]`` (``eps`` of their dtype) before the log,
    exactly as scikit-learn's ``log_loss``. That clipping caps the loss of a confident mistake
    at about 36 (float64) or 16 (float32). With ``from_logits=True`` ``y_pred`` holds raw
    scores and the loss is computed in log space (log-softmax with a max shift, or
    log-sigmoid), with no clipping and no overflow.

    >>> round(log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]), 4)
    0.1643
    >>> round(log_loss([0, 1], [[2.0, 0.0], [0.0, 1000.0]], from_logits=True), 4)
    0.0635
    """
    fn = "log_loss"
    z = np.asarray(y_pred)
    if z.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: y_pred must hold numbers, got dtype {z.dtype}")
    if z.dtype != np.float32:
        z = z.astype(np.float64)
    binary = z.ndim == 1
    if binary:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(f"{fn}: y_pred must be 1-D or 2-D, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError(f"{fn}: y_pred contains NaN or infinite values")
    t = _class_indices(fn, y_true, len(z), 2 if binary else z.shape[1], labels)
    if from_logits:
        z = z.astype(np.float64)
        if binary:
            # -log sigmoid(z) = log(1 + exp(-z)) for the positive class, log(1 + exp(z)) else.
            sign = np.where(t == 1, -1.0, 1.0)
            return float(np.mean(np.logaddexp(0.0, sign * z[:, 0])))
        shifted = z - z.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(log_probs[np.arange(len(t)), t]))
    if z.min() < 0 or z.max() > 1:
        raise ValueError(f"{fn}: probabilities must lie in [0, 1], got values from {z.min()} "
                         f"to {z.max()}; pass from_logits=True for raw scores")
    if binary:
        z = np.concatenate([1 - z, z], axis=1)
    eps = np.finfo(z.dtype).eps
    sums = z.sum(axis=1)
    bad = np.flatnonzero(~np.isclose(sums, 1.0, rtol=np.sqrt(eps), atol=0.0))
    if len(bad):
        raise ValueError(f"{fn}: each row of probabilities must sum to 1, but row {bad[0]} "
                         f"sums to {sums[bad[0]]}; pass from_logits=True for raw scores")
    p = np.clip(z[np.arange(len(t)), t], eps, 1 - eps)
    return float(-np.mean(np.log(p)))


def classification_report(y_true, y_pred, *, labels=None, class_names=None,
                          zero_division: float = 0.0) -> dict:
    """A JSON-serialisable summary: accuracy, macro and weighted averages, per-class scores and
    the confusion matrix.

    ``class_names`` names the labels in order; with no ``labels`` they are then taken as the
    class indices ``0 .. len(class_names) - 1``, so classes absent from both arrays still show.

    >>> r = classification_report([0, 1, 1], [0, 1, 0], class_names=["cat", "dog"])
    >>> r["accuracy"], r["classes"]["dog"]["recall"], r["confusion_matrix"]
    (0.6666666666666666, 0.5, [[1, 0], [1, 1]])
    """
    if labels is None and class_names is not None:
        labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_f1_support(y_true, y_pred, labels=labels,
                                             zero_division=zero_division)
    if labels is None:
        t, q = _label_arrays("classification_report", y_true, y_pred)
        labels = np.unique(np.concatenate([t, q]))
    names = [str(c) for c in (class_names if class_names is not None else np.asarray(labels))]
    if len(names) != len(p):
        raise ValueError(f"classification_report: {len(names)} class names for {len(p)} labels")

    def block(pr, rc, f1_, support):
        return {"precision": float(pr), "recall": float(rc), "f1": float(f1_),
                "support": int(support)}

    total = int(s.sum())
    weighted = [float(np.average(v, weights=s)) if total else float(zero_division)
                for v in (p, r, f)]
    return {
        "accuracy": accuracy(y_true, y_pred),
        "macro_avg": block(p.mean(), r.mean(), f.mean(), total),
        "weighted_avg": block(*weighted, total),
        "classes": {name: block(*v) for name, *v in zip(names, p, r, f, s)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


# ---------------------------------------------------------------------------------------------
# Regression. A 2-D target has one column per output; scores are averaged over outputs with
# equal weights, as scikit-learn's multioutput="uniform_average".

def mse(y_true, y_pred) -> float:
    """Mean squared error.

    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    1.3333333333333333
    """
    t, p = _regression_arrays("mse", y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (per output, then averaged over outputs).

    >>> rmse([0.0, 0.0], [3.0, -3.0])
    3.0
    """
    t, p = _regression_arrays("rmse", y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def mae(y_true, y_pred) -> float:
    """Mean absolute error.

    >>> mae([1.0, 2.0], [2.0, 0.0])
    1.5
    """
    t, p = _regression_arrays("mae", y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination, ``1 - SS_res / SS_tot``, per output then averaged.

    For a constant target (``SS_tot = 0``) the score is 1.0 if the predictions are exact and
    0.0 otherwise, as scikit-learn's ``r2_score`` (with its default ``force_finite=True``).
    Needs at least two samples.

    >>> r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    0.5
    """
    t, p = _regression_arrays("r2", y_true, y_pred)
    if len(t) < 2:
        raise ValueError("r2: needs at least 2 samples")
    ss_res = ((t - p) ** 2).sum(axis=0)
    ss_tot = ((t - t.mean(axis=0)) ** 2).sum(axis=0)
    constant = np.where(ss_res == 0, 1.0, 0.0)
    scores = np.where(ss_tot != 0, 1 - ss_res / np.where(ss_tot != 0, ss_tot, 1.0), constant)
    return float(np.mean(scores))


def regression_report(y_true, y_pred) -> dict:
    """``{"mse", "rmse", "mae", "r2", "n"}`` as plain floats (r2 is None for one sample).

    >>> regression_report([1.0, 2.0], [1.0, 3.0])["rmse"]
    0.7071067811865476
    """
    t, _ = _regression_arrays("regression_report", y_true, y_pred)
    return {"mse": mse(y_true, y_pred), "rmse": rmse(y_true, y_pred),
            "mae": mae(y_true, y_pred), "r2": r2(y_true, y_pred) if len(t) >= 2 else None,
            "n": len(t)}
