"""What the training loop gained so every other loop could go: integer and multi-input data,
sparse inputs, sample weights, augmentation, a validation hook, best weights by any value,
schedules over the run's progress, a time budget that includes the evaluation, gradient
hooks, the public per-epoch function, and the batched inference helper."""

import math
import time

import numpy as np
import pytest
import scipy.sparse

from deltagrad import concatenate, nn
from deltagrad._checks import check_float, check_int, check_optional_float, check_seed
from deltagrad.data import load_dataset
from deltagrad.nn import functional as F
from deltagrad.train import (BestWeights, LambdaCallback, ProgressSchedule, Trainer,
                             half_cosine, predict_batches)

MOONS = load_dataset("moons", n_samples=200, seed=0)


def mlp(seed=0, **kw):
    return nn.MLP(2, [16], 2, rng=np.random.default_rng(seed), **kw)


class TwoInputs(nn.Module):
    """(word ids, casing ids) windows -> class scores; records the dtypes it was given."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.words = nn.Embedding(30, 4, rng=rng)
        self.casings = nn.Embedding(5, 2, rng=rng)
        self.out = nn.Linear(3 * 6, 3, rng=rng)
        self.seen = set()

    def forward(self, words, casings):
        self.seen.add((words.dtype.kind, casings.dtype.kind))
        n = words.shape[0]
        x = [self.words(words).reshape(n, -1), self.casings(casings).reshape(n, -1)]
        return self.out(concatenate(x, axis=1))


def windows(n=300, seed=0):
    rng = np.random.default_rng(seed)
    words, casings = rng.integers(0, 30, (n, 3)), rng.integers(0, 5, (n, 3))
    return (words, casings), words[:, 1] % 3  # a function of the middle word


# --- data: ids, several inputs, sparse matrices, weights -------------------------------------

def test_integer_windows_and_several_inputs_train_without_a_cast():
    X, y = windows()
    model = TwoInputs()
    trainer = Trainer(model, "cross_entropy", lr=0.05, metrics=["accuracy"], seed=0,
                      progress="none")
    h = trainer.fit(X, y, epochs=25, batch_size=20, validation_split=0.2)
    assert model.seen == {("i", "i")}  # ids stay ids, in training and in validation
    assert h["accuracy"][-1] > 0.9 and "val_accuracy" in h
    assert trainer.predict(X).shape == (300, 3)
    assert trainer.evaluate(X, y)["accuracy"] > 0.9
    with pytest.raises(ValueError, match=r"different numbers of rows: \[300, 299\]"):
        trainer.fit((X[0], X[1][:-1]), y, epochs=1)


def test_a_sparse_matrix_trains_exactly_as_its_dense_twin():
    rng = np.random.default_rng(0)
    dense = np.where(rng.random((120, 6)) < 0.3, rng.normal(size=(120, 6)), 0.0)
    y = (dense.sum(axis=1) > 0).astype(np.int64)

    def run(X):
        model = nn.MLP(6, [8], 2, rng=np.random.default_rng(1))
        Trainer(model, "cross_entropy", seed=2, progress="none").fit(X, y, epochs=3,
                                                                      batch_size=16)
        return model.state_dict()

    a, b = run(dense), run(scipy.sparse.csr_matrix(dense))
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_sample_weights_take_the_weighted_mean_step():
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], np.float32)
    y = np.array([[1.0], [-2.0], [0.0]], np.float32)
    w = np.array([2.0, 1.0, 0.0])
    model = nn.Linear(2, 1, bias=False)
    w0 = np.array([[0.3, -0.2]], np.float32)
    model.weight.data[...] = w0
    Trainer(model, "mse", optimizer="sgd", lr=0.1, progress="none").fit(
        X, y, epochs=1, batch_size=3, shuffle=False, sample_weight=w)
    residual = X @ w0.T - y  # d/dw of sum_i w_i (x_i w - y_i)^2 / sum_i w_i
    grad = (2 * (w[:, None] * residual).T @ X / w.sum()).astype(np.float32)
    np.testing.assert_allclose(model.weight.data, w0 - 0.1 * grad, rtol=1e-5)
    with pytest.raises(ValueError, match="sample_weight needs a built-in loss"):
        Trainer(nn.Linear(2, 1), lambda out, t: ((out - t) ** 2).mean(),
                progress="none").fit(X, y, sample_weight=w)
    with pytest.raises(ValueError, match="sample_weight must be finite, >= 0"):
        Trainer(nn.Linear(2, 1), "mse", progress="none").fit(X, y, sample_weight=-w)


# --- hooks: augmentation, validation, gradients -----------------------------------------------

def test_augmentation_sees_every_training_batch_and_never_validation_data():
    X, y = windows()
    calls = []

    def hide(inputs, rng):
        words, casings = inputs
        calls.append(len(words))
        return np.where(rng.random(words.shape) < 0.2, 0, words), casings

    def run(seed):
        model = TwoInputs()
        trainer = Trainer(model, "cross_entropy", lr=0.05, augment=hide, seed=seed,
                          progress="none")
        trainer.fit(X, y, epochs=2, batch_size=50, validation_split=0.2)
        return model.state_dict()

    a = run(1)
    assert calls == [50, 50, 50, 50, 40] * 2  # 240 training rows; the 60 held out: never
    b, c = run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)
    with pytest.raises(TypeError, match="augment must be a function"):
        Trainer(TwoInputs(), augment=3)


def test_validate_values_are_logged_and_best_weights_follow_any_of_them():
    values = iter([0.2, 0.9, 0.5, 0.7])
    modes = []

    def score(logs):
        modes.append(trainer.model.training)
        assert "val_loss" in logs  # the validation data's values come first
        return {"val_score": next(values)}

    weights = {}
    keep = LambdaCallback(on_epoch_end=lambda e, logs: weights.update(
        {e: trainer.model.state_dict()}))
    best = BestWeights("val_score", mode="max")
    trainer = Trainer(mlp(), "cross_entropy", lr=0.05, seed=0, progress="none",
                      callbacks=[keep, best])
    h = trainer.fit(MOONS.X, MOONS.y, epochs=4, validation_split=0.2, validate=score)
    assert h["val_score"] == [0.2, 0.9, 0.5, 0.7] and modes == [False] * 4
    assert (best.best_epoch, best.best) == (2, 0.9)
    final = trainer.model.state_dict()
    assert all(np.array_equal(final[k], weights[2][k]) for k in final)
    assert trainer.model.training  # back in training mode after the hook
    low = BestWeights("val_loss")  # "auto": a loss is minimised
    assert low._best.mode == "min"


def test_on_gradients_sees_the_final_gradients_before_clipping_and_the_step():
    model = nn.Linear(2, 1)
    before = model.state_dict()
    norms = []

    def zero(batch):
        norms.append(float(np.linalg.norm(model.weight.grad)))
        for p in model.parameters():
            p.grad[...] = 0.0

    trainer = Trainer(model, "mse", optimizer="sgd", lr=0.1, clip_norm=1e-3, progress="none",
                      callbacks=[LambdaCallback(on_gradients=zero)])
    trainer.fit(MOONS.X, MOONS.y.astype(np.float32), epochs=1, batch_size=50)
    assert len(norms) == 4 and min(norms) > 1e-3  # unclipped when the hook saw them
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # zeroed: no move
    assert trainer.step == 4


def test_a_schedule_over_the_runs_progress():
    lrs = []
    record = LambdaCallback(on_gradients=lambda b: lrs.append(
        trainer.optimizer.param_groups[0]["lr"]))
    trainer = Trainer(mlp(), "cross_entropy", optimizer="sgd", lr=0.1, progress="none",
                      callbacks=[ProgressSchedule(lambda p: half_cosine(p, floor=0.05)),
                                 record])
    h = trainer.fit(MOONS.X, MOONS.y, epochs=3, batch_size=50)  # 4 steps per epoch
    expected = [0.1 * half_cosine(step / 12, floor=0.05) for step in range(12)]
    assert lrs == pytest.approx(expected)
    assert h["lr"] == pytest.approx([expected[0], expected[4], expected[8]])
    with pytest.raises(TypeError, match="factor must be a function"):
        ProgressSchedule(0.5)


def test_train_epoch_is_public_and_follows_a_given_order():
    seen = []

    def loss(out, target):
        seen.append(target.tolist())
        return F.cross_entropy(out, target)

    trainer = Trainer(mlp(), loss, progress="none")
    data = trainer.prepare(MOONS.X[:6], np.arange(6) % 2)
    logs = trainer.train_epoch(data, 4, order=np.array([5, 4, 3, 2, 1, 0]))
    assert trainer.epoch == 1 and set(logs) == {"loss"} and math.isfinite(logs["loss"])
    assert seen == [[1, 0, 1, 0], [1, 0]]
    trainer.train_epoch(data, 6, shuffle=False)
    assert seen[-1] == [0, 1, 0, 1, 0, 1] and trainer.epoch == 2 and trainer.step == 3


# --- the time budget ---------------------------------------------------------------------

def test_max_time_is_a_wall_clock_budget_that_includes_the_evaluation():
    X, y = windows(2000)
    slow_batch = LambdaCallback(on_batch_begin=lambda b: time.sleep(0.004))

    def slow_evaluation(logs):
        time.sleep(0.25)
        return {"val_seen": 1.0}

    budget = 1.5
    trainer = Trainer(TwoInputs(), "cross_entropy", lr=0.05, seed=0, progress="none",
                      callbacks=[slow_batch])
    began = time.perf_counter()
    h = trainer.fit(X, y, epochs=1000, batch_size=20, validate=slow_evaluation,
                    max_time=budget)
    took = time.perf_counter() - began
    assert h.stop_reason == "max_time"
    assert took <= budget * 1.05 + 0.05, took  # evaluation included
    assert took >= budget * 0.75, took  # and the budget is used, not left idle
    assert all(v == 1.0 for v in h["val_seen"])  # every epoch trained was evaluated
    assert 0 < trainer.fraction_done() <= 1.05


def test_a_budget_shorter_than_an_epoch_ends_that_epoch_early():
    X, y = windows(3000)
    trainer = Trainer(TwoInputs(), "cross_entropy", seed=0, progress="none",
                      callbacks=[LambdaCallback(on_batch_begin=lambda b: time.sleep(0.002))])
    began = time.perf_counter()
    # The evaluation of the 600 held-out samples, not yet timed, is budgeted from the
    # training batches' pace.
    h = trainer.fit(X, y, epochs=5, batch_size=10, max_time=0.6, validation_split=0.2)
    took = time.perf_counter() - began
    assert h.epoch == [1] and h.stop_reason == "max_time"
    assert 0 < trainer.step < 240 and math.isfinite(h["loss"][0] + h["val_loss"][0])
    assert took <= 0.6 * 1.05 + 0.05, took


# --- resume checks -------------------------------------------------------------------------

def test_a_resume_on_other_data_is_refused(tmp_path):
    fit = {"epochs": 2, "batch_size": 32, "out_dir": tmp_path / "run"}
    Trainer(mlp(), "cross_entropy", seed=0, progress="none").fit(MOONS.X, MOONS.y, **fit)
    other = MOONS.X.copy()
    other[0, 0] += 1.0
    with pytest.raises(ValueError, match="trained on other data .the train data differ"):
        Trainer(mlp(), "cross_entropy", seed=0, progress="none").fit(
            other, MOONS.y, resume=True, **fit)


# --- batched inference ---------------------------------------------------------------------

def test_predict_batches_fixed_memory_eval_mode_and_no_graph():
    model = mlp(dropout=0.5)  # in training mode: dropout would make outputs random
    X = MOONS.X.astype(np.float32)
    with pytest.MonkeyPatch.context() as mp:
        made = []
        real_empty = np.empty
        mp.setattr(np, "empty", lambda *a, **k: made.append(a) or real_empty(*a, **k))
        out = predict_batches(model, X, batch_size=30)
    assert made == [((200, 2), np.float32)]  # one array, allocated once
    assert model.training  # the mode it was in
    model.eval()
    np.testing.assert_array_equal(out, model(X).numpy())
    model.train()
    rows_seen = []
    losses = predict_batches(model, X, 64, transform=lambda o, rows: rows_seen.append(rows)
                             or F.cross_entropy(o, MOONS.y[rows], reduction="none").data)
    assert losses.shape == (200,) and not hasattr(losses, "requires_grad")
    assert rows_seen == [slice(0, 64), slice(64, 128), slice(128, 192), slice(192, 200)]
    assert predict_batches(model, X[:0]).shape == (0, 2)
    sparse = predict_batches(model, scipy.sparse.csr_matrix(X), 7)
    np.testing.assert_allclose(sparse, out, rtol=1e-6)


# --- the shared validators ------------------------------------------------------------------

def test_shared_validators_name_where_what_and_the_value():
    assert check_int(5, "epochs", "fit") == 5 and check_int(0, "radius", "f", minimum=0) == 0
    for bad in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match=f"fit: epochs must be a positive integer, got "
                                             f"{bad!r}"):
            check_int(bad, "epochs", "fit")
    with pytest.raises(ValueError, match="radius must be an integer >= 0, got -1"):
        check_int(-1, "radius", "f", minimum=0)
    assert check_float(0.0, "p", "f", allow_minimum=True, below=1) == 0.0
    for bad in (1.0, -0.1, math.nan, math.inf, False):
        with pytest.raises(ValueError, match=r"f: p must lie in \[0, 1\)"):
            check_float(bad, "p", "f", allow_minimum=True, below=1)
    with pytest.raises(ValueError, match="lr must be a positive number, got 0"):
        check_float(0, "lr", "f")
    assert check_optional_float(None, "clip", "f") is None
    with pytest.raises(ValueError, match="clip must be a positive number or None, got -1"):
        check_optional_float(-1, "clip", "f")
    assert check_seed(None, "seed", "f") is None and check_seed(3, "seed", "f") == 3
    with pytest.raises(ValueError, match="seed must be a non-negative int or None"):
        check_seed(-1, "seed", "f")

