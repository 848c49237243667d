"""Trainer: learning, validation, metrics against scikit-learn, callbacks against hand-worked
sequences, clipping against a hand-computed step, the NaN guard, and exact resume."""

import math
import warnings

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.data import load_dataset
from deltagrad.optim import lr_scheduler
from deltagrad.train import (CHECKPOINT, EarlyStopping, LambdaCallback,
                             LearningRateScheduler, ModelCheckpoint, NonFiniteError, Trainer,
                             load_checkpoint)
from deltagrad.train.callbacks import overrides

MOONS = load_dataset("moons", n_samples=200, seed=0)


def mlp(seed=0, **kw):
    model = nn.MLP(2, [16], 2, rng=np.random.default_rng(seed), **kw)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.rng = None  # draw from the trainer's generator, as a layer made without rng
    return model


def scripted(values):
    """A metric returning ``values`` one per epoch (it is computed once per epoch), so a
    callback's decisions can be checked against a sequence worked out by hand."""
    it = iter(values)

    def score(y, outputs):
        return next(it)
    return score


# --- learning, history, metrics -------------------------------------------------------------

def test_fit_learns_and_logs_every_metric_per_epoch():
    from sklearn.metrics import accuracy_score, f1_score

    trainer = Trainer(mlp(), "cross_entropy", lr=0.05, metrics=["accuracy", "f1", "log_loss"],
                      seed=0, progress="none")
    h = trainer.fit(MOONS.X, MOONS.y, epochs=15, batch_size=16, validation_split=0.25)
    assert h.epoch == list(range(1, 16)) and h.stop_reason == "completed"
    assert set(h.keys()) == {"loss", "accuracy", "f1", "log_loss", "val_loss", "val_accuracy",
                             "val_f1", "val_log_loss", "lr", "time"}
    assert h["loss"][-1] < h["loss"][0] / 2
    # The last epoch's validation metrics are those of the final weights (oracle: sklearn).
    result = trainer.evaluate(MOONS.X, MOONS.y)
    pred = trainer.predict(MOONS.X).argmax(axis=1)
    assert result["accuracy"] == pytest.approx(accuracy_score(MOONS.y, pred))
    assert result["accuracy"] > 0.85
    assert result["f1"] == pytest.approx(f1_score(MOONS.y, pred, average="macro"))
    assert h["val_loss"][-1] == pytest.approx(h["val_log_loss"][-1], rel=1e-5)


def test_validation_split_is_stratified_seeded_and_disjoint():
    y = np.array([0] * 80 + [1] * 20)
    X = np.arange(200, dtype=np.float32).reshape(100, 2)
    t = Trainer(mlp(), "cross_entropy", seed=1, progress="none")
    train, val = t._fit_data(X, y, None, None, 0.2)
    X_train, (X_val, y_val) = train.inputs[0], (val.inputs[0], val.target)
    assert len(X_val) == 20 and np.bincount(y_val).tolist() == [16, 4]
    assert not set(X_train[:, 0]) & set(X_val[:, 0])
    again = Trainer(mlp(), "cross_entropy", seed=1, progress="none")
    assert np.array_equal(again._fit_data(X, y, None, None, 0.2)[1].inputs[0], X_val)


def test_regression_with_1d_targets_does_not_broadcast():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    model = nn.Linear(3, 1, rng=np.random.default_rng(0))
    trainer = Trainer(model, "mse", lr=0.05, metrics=["r2", "rmse"], seed=0, progress="none")
    h = trainer.fit(X, y, epochs=40, batch_size=16)
    assert h["r2"][-1] > 0.999
    np.testing.assert_allclose(model.weight.data[0], [1.0, -2.0, 0.5], atol=0.02)


def test_same_seed_same_run_including_dropout_other_seed_differs():
    def run(seed):
        model = mlp(dropout=0.3)
        Trainer(model, "cross_entropy", lr=0.02, seed=seed, progress="none").fit(
            MOONS.X, MOONS.y, epochs=3, batch_size=8)
        return model.state_dict()

    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_dropout_layers_get_their_generator_back_after_fit():
    model = mlp(dropout=0.3)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops and all(m.rng is None for m in drops)
    Trainer(model, "cross_entropy", seed=0, progress="none").fit(MOONS.X, MOONS.y, epochs=1)
    assert all(m.rng is None for m in drops)


# --- callbacks against hand-worked sequences -------------------------------------------------

def test_early_stopping_patience_min_delta_and_best_weights():
    # score by epoch:      1     2     3      4      5      6     7
    values = [5.0, 4.0, 3.995, 3.5, 3.499, 3.6, 3.0, 2.0, 1.0]
    # min_delta 0.01: epoch 3 (3.995) is no improvement on 4.0; epoch 4 is (3.5); epochs 5
    # (3.499) and 6 are not: with patience 2 training stops after epoch 6, best epoch 4.
    weights = {}
    keep = LambdaCallback(on_epoch_end=lambda e, logs: weights.update(
        {e: trainer.model.state_dict()}))
    stop = EarlyStopping(monitor="score", patience=2, min_delta=0.01, mode="min")
    trainer = Trainer(mlp(), "cross_entropy", lr=0.05, metrics={"score": scripted(values)},
                      seed=0, progress="none", callbacks=[keep, stop])
    h = trainer.fit(MOONS.X, MOONS.y, epochs=9, batch_size=32)
    assert h.epoch == [1, 2, 3, 4, 5, 6] and h.stop_reason == "early_stopping"
    assert (stop.best_epoch, stop.best, stop.stopped_epoch) == (4, 3.5, 6)
    final = trainer.model.state_dict()
    assert all(np.array_equal(final[k], weights[4][k]) for k in final)
    assert not all(np.array_equal(final[k], weights[6][k]) for k in final)


def test_early_stopping_mode_auto_maximises_accuracy_and_can_keep_last_weights():
    stop = EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=False)
    assert stop._best.mode == "max"
    values = [0.5, 0.9, 0.8, 0.7]
    stop = EarlyStopping(monitor="acc", patience=1, mode="max", restore_best_weights=False)
    weights = {}
    keep = LambdaCallback(on_epoch_end=lambda e, logs: weights.update(
        {e: trainer.model.state_dict()}))
    trainer = Trainer(mlp(), "cross_entropy", metrics={"acc": scripted(values)}, seed=0,
                      progress="none", callbacks=[keep, stop])
    trainer.fit(MOONS.X, MOONS.y, epochs=4)
    assert stop.stopped_epoch == 3 and stop.best_epoch == 2
    final = trainer.model.state_dict()
    assert all(np.array_equal(final[k], weights[3][k]) for k in final)


def test_early_stopping_names_a_monitor_that_is_not_logged():
    trainer = Trainer(mlp(), "cross_entropy", progress="none",
                      callbacks=[EarlyStopping(monitor="val_loss")])
    with pytest.raises(ValueError, match="monitor 'val_loss' is not logged .*validation data"):
        trainer.fit(MOONS.X, MOONS.y, epochs=2)


def test_lr_schedules_per_epoch_per_batch_and_on_plateau():
    def lrs(callback, epochs=5, metrics=None):
        t = Trainer(mlp(), "cross_entropy", optimizer="sgd", lr=0.1, metrics=metrics,
                    progress="none", callbacks=[callback], seed=0)
        return t.fit(MOONS.X, MOONS.y, epochs=epochs, batch_size=50)["lr"]

    per_epoch = lrs(LearningRateScheduler(lambda o: lr_scheduler.StepLR(o, 2, gamma=0.5)))
    assert per_epoch == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    # 4 batches per epoch; the lr logged is the one at the start of each epoch.
    per_batch = lrs(LearningRateScheduler(lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5),
                                          interval="batch"))
    assert per_batch == pytest.approx([0.1 * 0.5 ** (4 * e // 3) for e in range(5)])
    # Plateau, patience 1: the rate halves after 2 epochs in a row without improvement.
    plateau = LearningRateScheduler(
        lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=1), monitor="score")
    got = lrs(plateau, epochs=6, metrics={"score": scripted([3.0, 2.0, 2.5, 2.6, 2.7, 1.0])})
    assert got == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05, 0.05])


def test_model_checkpoint_saves_the_best_model_only(tmp_path):
    values = [3.0, 1.0, 2.0, 0.5, 0.7]
    saved_weights = {}
    keep = LambdaCallback(on_epoch_end=lambda e, logs: saved_weights.update(
        {e: trainer.model.state_dict()}))
    ckpt = ModelCheckpoint(tmp_path / "best", monitor="score", mode="min",
                           metadata={"who": "test"})
    trainer = Trainer(mlp(), "cross_entropy", metrics={"score": scripted(values)}, seed=0,
                      progress="none", callbacks=[keep, ckpt])
    trainer.fit(MOONS.X, MOONS.y, epochs=5)
    assert len(ckpt.saved) == 3  # epochs 1, 2 and 4 improved
    meta = dg.load_metadata(tmp_path / "best")
    assert meta["epoch"] == 4 and meta["who"] == "test" and meta["logs"]["score"] == 0.5
    best = dg.load(tmp_path / "best").state_dict()
    assert all(np.array_equal(best[k], saved_weights[4][k]) for k in best)
    every = ModelCheckpoint(str(tmp_path / "e{epoch}"), save_best_only=False)
    Trainer(mlp(), "cross_entropy", progress="none", callbacks=[every]).fit(
        MOONS.X, MOONS.y, epochs=2)
    assert sorted(p.name for p in tmp_path.glob("e*")) == ["e1", "e2"]


def test_batch_hooks_are_skipped_unless_a_callback_overrides_them():
    assert not overrides(LambdaCallback(on_epoch_end=print), "on_batch_end")
    assert overrides(LambdaCallback(on_batch_end=print), "on_batch_end")
    assert not overrides(EarlyStopping(), "on_batch_end")
    calls = []
    cb = LambdaCallback(on_batch_end=lambda b, loss: calls.append((b, loss)))
    Trainer(mlp(), "cross_entropy", progress="none", callbacks=[cb]).fit(
        MOONS.X, MOONS.y, epochs=2, batch_size=64)
    assert [b for b, _ in calls] == [1, 2, 3, 4] * 2 and all(math.isfinite(v) for _, v in calls)


# --- gradient clipping against a hand-computed step ----------------------------------------------

@pytest.mark.parametrize("clip", ["norm", "value"])
def test_gradient_clipping_matches_a_hand_computed_sgd_step(clip):
    X = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    y = np.array([[10.0], [-4.0]], np.float32)
    w0 = np.array([[0.5, -0.25]], np.float32)
    model = nn.Linear(2, 1, bias=False)
    model.weight.data[...] = w0
    options = {"clip_norm": 1.0} if clip == "norm" else {"clip_value": 0.3}
    Trainer(model, "mse", optimizer="sgd", lr=0.1, progress="none", **options).fit(
        X, y, epochs=1, batch_size=2, shuffle=False)
    g = (2 / 2) * (X @ w0.T - y).T @ X  # d/dw of mean (Xw - y)^2
    if clip == "norm":
        g = g * (1.0 / (np.linalg.norm(g) + 1e-6))
    else:
        g = np.clip(g, -0.3, 0.3)
    np.testing.assert_allclose(model.weight.data, w0 - 0.1 * g, rtol=1e-5)


# --- the NaN guard ----------------------------------------------------------------------------

@pytest.fixture
def quiet_numpy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def test_nan_guard_names_epoch_batch_and_the_forward_op(quiet_numpy):
    X = np.ones((12, 2), np.float32)
    y = np.ones((12, 1), np.float32)
    y[9] = -1.0  # row 9 is in batch 3 of 4 rows: log(-1) there

    def log_loss(out, target):
        return (out * 0.0 + target).log().mean()

    model = nn.Linear(2, 1)
    before = model.state_dict()
    trainer = Trainer(model, log_loss, optimizer="sgd", lr=0.0, progress="none")
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(X, y, epochs=2, batch_size=4, shuffle=False)
    err = info.value
    assert (err.epoch, err.batch) == (1, 3) and err.anomaly.op == "log"
    assert "epoch 1, batch 3: the loss is nan" in str(err)
    assert "forward of op 'log' gave nan" in str(err)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_nan_guard_catches_a_gradient_gone_infinite_with_a_finite_loss(quiet_numpy):
    X = np.ones((8, 2), np.float32)
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.float32)[:, None]  # batch 2: |0 - 0| = 0

    def root_loss(out, target):
        return (out - target).abs().sqrt().mean()  # d sqrt at 0 is inf

    model = nn.Linear(2, 1)
    model.weight.data[...] = 0.0
    model.bias.data[...] = 0.0
    trainer = Trainer(model, root_loss, optimizer="sgd", lr=0.0, progress="none")
    with pytest.raises(NonFiniteError) as info:
        trainer.fit(X, y, epochs=1, batch_size=4, shuffle=False)
    err = info.value
    assert err.batch == 2 and err.anomaly.phase == "backward" and err.anomaly.op == "sqrt"
    assert "the gradient of 'weight' holds" in str(err)


def test_nan_in_the_data_is_refused_up_front():
    X = MOONS.X.copy()
    X[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"X holds NaN or infinite values \(row 7\)"):
        Trainer(mlp(), progress="none").fit(X, MOONS.y, epochs=1)


# --- argument checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, fit_kwargs, message", [
    ({"loss": "hinge"}, {}, "unknown loss 'hinge'"),
    ({"optimizer": "lbfgs"}, {}, "unknown optimizer 'lbfgs'"),
    ({"metrics": ["auc"]}, {}, "unknown metric 'auc'"),
    ({"clip_norm": -1.0}, {}, "clip_norm must be a positive number"),
    ({"seed": -3}, {}, "seed must be a non-negative int"),
    ({"progress": "loud"}, {}, "progress must be one of"),
    ({}, {"epochs": 0}, "epochs must be a positive integer"),
    ({}, {"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({}, {"validation_split": 1.2}, r"validation_split must lie in \(0, 1\)"),
    ({}, {"resume": True}, "resume needs the out_dir"),
])
def test_bad_arguments_are_named(kwargs, fit_kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Trainer(mlp(), **{"progress": "none", **kwargs}).fit(MOONS.X, MOONS.y, **fit_kwargs)


def test_labels_that_do_not_fit_the_outputs_are_refused_before_training():
    with pytest.raises(ValueError, match=r"classes 0\.\.4 but the model outputs 2 scores"):
        Trainer(mlp(), "cross_entropy", progress="none").fit(MOONS.X, np.arange(200) % 5)
    with pytest.raises(ValueError, match=r"y has shape \(200, 3\) but the model outputs \(2,\)"):
        Trainer(mlp(), "mse", progress="none").fit(MOONS.X, np.zeros((200, 3)))


def test_an_optimizer_given_as_an_object_is_used_as_is():
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    trainer = Trainer(model, "cross_entropy", optimizer=opt, progress="none")
    assert trainer.optimizer is opt
    with pytest.raises(ValueError, match="set them on the Optimizer"):
        Trainer(model, "cross_entropy", optimizer=opt, lr=0.1)


# --- checkpoints and exact resume ----------------------------------------------------------------

class Interrupt(Exception):
    pass


def _resumable(extra=()):
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(2, 16, rng=rng), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(16, 16, rng=rng), nn.Tanh(), nn.Dropout(0.1, rng=rng),
                          nn.Linear(16, 2, rng=rng))
    callbacks = [EarlyStopping(patience=20),
                 LearningRateScheduler(lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1)),
                 *extra]
    return Trainer(model, "cross_entropy", lr=0.02, metrics=["accuracy"], seed=11,
                   progress="none", callbacks=callbacks)


def test_an_interrupted_run_resumes_exactly(tmp_path):
    fit = {"epochs": 7, "batch_size": 16, "validation_split": 0.2}
    straight = _resumable()
    h1 = straight.fit(MOONS.X, MOONS.y, out_dir=tmp_path / "a", **fit)

    def crash(epoch, logs):
        if epoch == 4:
            raise Interrupt  # before epoch 4's checkpoint is written
    broken = _resumable([LambdaCallback(on_epoch_end=crash)])
    with pytest.raises(Interrupt):
        broken.fit(MOONS.X, MOONS.y, out_dir=tmp_path / "b", **fit)
    assert load_checkpoint(tmp_path / "b" / CHECKPOINT)["epoch"] == 3
    dg.manual_seed(12345)  # a different global generator: the checkpoint restores it
    resumed = _resumable([LambdaCallback()])
    h2 = resumed.fit(MOONS.X, MOONS.y, out_dir=tmp_path / "b", resume=True, **fit)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    for key in ("loss", "val_loss", "accuracy", "lr"):
        assert h1[key] == h2[key]
    assert dg.load_metadata(tmp_path / "b")["history"]["epoch"] == list(range(1, 8))


def test_checkpoints_are_safetensors_files_without_pickles(tmp_path):
    from safetensors import safe_open

    trainer = _resumable()
    trainer.fit(MOONS.X, MOONS.y, epochs=2, batch_size=32, validation_split=0.2,
                out_dir=tmp_path)
    with safe_open(str(tmp_path / CHECKPOINT), framework="np") as f:
        assert f.metadata()["format"] == "deltagrad.checkpoint"
        keys = set(f.keys())
    assert "model.0.weight" in keys and any(k.startswith("optimizer.state.") for k in keys)
    assert any(k.startswith("callbacks.0.state.best_weights.") for k in keys)
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["finished"] and state["epoch"] == 2
    assert np.array_equal(state["model"]["0.weight"], trainer.model.state_dict()["0.weight"])


def test_out_dir_rules_protect_an_existing_run(tmp_path):
    fit = {"epochs": 2, "batch_size": 32, "validation_split": 0.2}
    _resumable().fit(MOONS.X, MOONS.y, out_dir=tmp_path / "run", **fit)
    with pytest.raises(ValueError, match="already holds a training run"):
        _resumable().fit(MOONS.X, MOONS.y, out_dir=tmp_path / "run", **fit)
    with pytest.raises(ValueError, match="nothing to resume"):
        _resumable().fit(MOONS.X, MOONS.y, out_dir=tmp_path / "none", resume=True, **fit)
    with pytest.raises(ValueError, match="used batch_size=32, not 8"):
        _resumable().fit(MOONS.X, MOONS.y, out_dir=tmp_path / "run", resume=True,
                         **{**fit, "batch_size": 8})
    with pytest.raises(ValueError, match=r"callbacks \['EarlyStopping', "
                                         r"'LearningRateScheduler'\], this one has"):
        _resumable([LambdaCallback()]).fit(MOONS.X, MOONS.y, out_dir=tmp_path / "run",
                                           resume=True, **fit)
    # A finished run resumes to nothing more; "auto" starts fresh where there is none.
    done = _resumable()
    h = done.fit(MOONS.X, MOONS.y, out_dir=tmp_path / "run", resume=True, **fit)
    assert h.epoch == [1, 2]
    fresh = _resumable().fit(MOONS.X, MOONS.y, out_dir=tmp_path / "new", resume="auto", **fit)
    assert fresh.epoch == [1, 2]


def test_per_position_labels_for_outputs_with_a_class_axis():
    class Tagger(nn.Module):  # (n, T) token ids -> (n, C, T) scores, PyTorch's layout
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8, rng=np.random.default_rng(0))
            self.out = nn.Linear(8, 3, rng=np.random.default_rng(1))

        def forward(self, idx):
            return self.out(self.emb(idx)).transpose(0, 2, 1)

    X = np.random.default_rng(0).integers(0, 20, (200, 5))
    y = X % 3  # each token's class is a function of the token
    trainer = Trainer(Tagger(), "cross_entropy", lr=0.05, metrics=["accuracy", "log_loss"],
                      seed=0, progress="none")
    h = trainer.fit(X, y, epochs=10, batch_size=20)
    assert h["accuracy"][-1] == 1.0
    assert h["log_loss"][-1] == pytest.approx(h["loss"][-1], rel=1e-3)
    with pytest.raises(ValueError, match=r"labels of shape \(n, 5\) for outputs of shape "
                                         r"\(n, 3, 5\)"):
        trainer.fit(X, y[:, :3], epochs=1)
