"""GradientStats: each number against the same quantity computed by hand, records per epoch
and every k batches, checkpoints, the vanishing gradient it is there to show, the pictures;
and plot_histories."""

import copy
import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, plots
from deltagrad.autograd.recording import grad_mode
from deltagrad.nn import functional as F
from deltagrad.nn.module import module_calls
from deltagrad.train import GradientStats, History, Trainer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 3)).astype(np.float32)
Y = (X[:, :1] * 2 - X[:, 1:2]).astype(np.float32)


def model():
    return nn.MLP(3, [5, 4], 1, activation="tanh", rng=np.random.default_rng(1))


def fit(m, stats, epochs=2, batch_size=32, **kw):
    trainer = Trainer(m, loss="mse", optimizer="sgd", lr=0.1, seed=0, progress="none",
                      callbacks=[stats])
    return trainer.fit(X, Y, epochs=epochs, batch_size=batch_size, shuffle=False, **kw)


def test_the_first_epoch_matches_a_hand_computed_step():
    """One batch per epoch: the records of epoch 1 are exactly that batch's numbers."""
    m, stats = model(), GradientStats()
    reference = copy.deepcopy(m)
    before = {k: v.copy() for k, v in reference.state_dict().items()}
    # The δ at each Linear's output, by hand: add a zero leaf there; its .grad is that δ.
    outputs, h = [], dg.tensor(X)
    for layer in reference.layers:
        h = layer(h)
        if isinstance(layer, nn.Linear):
            outputs.append(dg.tensor(np.zeros(h.shape, np.float32), requires_grad=True))
            h = h + outputs[-1]
    F.mse_loss(h, Y).backward()
    expected_delta = [float(np.abs(t.grad).mean()) for t in outputs]
    fit(m, stats, epochs=1)
    assert stats.at == [1] and stats.unit == "epoch"
    assert list(stats.delta) == ["layers.0", "layers.2", "layers.4"]
    np.testing.assert_allclose([stats.delta[k][0] for k in stats.delta], expected_delta,
                               rtol=1e-5)
    for name, p in reference.named_parameters():  # the zero leaves changed no gradient
        assert stats.grad_norm[name][0] == pytest.approx(float(np.linalg.norm(p.grad)),
                                                         rel=1e-5)
        after = m.state_dict()[name]
        ratio = np.linalg.norm(after - before[name]) / np.linalg.norm(before[name]) \
            if np.linalg.norm(before[name]) else math.nan
        got = stats.update_ratio[name][0]
        assert (math.isnan(got) and math.isnan(ratio)) or got == pytest.approx(ratio, rel=1e-4)


def test_values_average_over_the_batches_of_an_epoch_and_every_k_batches():
    per_epoch, every3 = GradientStats(), GradientStats(every=3)
    fit(model(), per_epoch, epochs=2, batch_size=8)  # 4 batches an epoch
    fit(model(), every3, epochs=2, batch_size=8)  # 8 batches: records at steps 3, 6, 8
    assert per_epoch.at == [1, 2] and every3.at == [3, 6, 8] and every3.unit == "step"
    assert all(len(v) == 2 for v in per_epoch.grad_norm.values())
    assert all(len(v) == 3 for v in every3.delta.values())
    # Records cover different batches, so they differ; every value is finite and positive.
    for stats in (per_epoch, every3):
        for series in (stats.grad_norm, stats.delta):
            values = np.array(list(series.values()))
            assert np.all(np.isfinite(values)) and np.all(values > 0)
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        GradientStats(every=0)


def test_nothing_watches_outside_the_batches_and_without_the_callback():
    seen = []
    trainer = Trainer(model(), loss="mse", seed=0, progress="none")
    trainer.fit(X, Y, epochs=1, batch_size=16,
                callbacks=[dg.train.LambdaCallback(on_gradients=lambda b: seen.append(
                    (grad_mode.backward_hook, module_calls.observer)))])
    assert seen == [(None, None)] * 2
    fit(model(), GradientStats(), epochs=1, batch_size=16)
    assert grad_mode.backward_hook is None and module_calls.observer is None


def test_history_keeps_the_records_and_the_pictures_draw_from_either():
    stats = GradientStats()
    history = fit(model(), stats, epochs=3)
    assert history.gradients == stats.to_dict()
    back = History.from_dict(history.to_dict())
    assert back.gradients["grad_norm"] == stats.grad_norm
    for source in (history, back.gradients):  # what is drawn from each: the same data
        assert plots._gradient_data(source) == plots._gradient_data(stats)
    pytest.importorskip("matplotlib")
    assert plots.plot_gradients(stats)._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="holds no gradient statistics"):
        plots.plot_gradients(History())


def test_a_resumed_run_continues_its_records(tmp_path):
    def interrupt(epoch):
        if epoch == 3:
            raise KeyboardInterrupt

    first = GradientStats()
    with pytest.raises(KeyboardInterrupt):  # after the checkpoint of epoch 2
        fit(model(), first, epochs=4, out_dir=tmp_path / "run",
            callbacks=[dg.train.LambdaCallback(on_epoch_begin=interrupt)])
    second = GradientStats()
    fit(model(), second, epochs=4, out_dir=tmp_path / "run", resume=True,
        callbacks=[dg.train.LambdaCallback()])
    assert first.at == [1, 2] and second.at == [1, 2, 3, 4]
    assert second.grad_norm["layers.0.weight"][:2] == first.grad_norm["layers.0.weight"]


def test_sigmoid_depth_vanishes_and_a_residual_normalised_net_does_not():
    """The lesson in numbers: ten sigmoid layers against ReLU blocks with skips and norm."""
    x = np.random.default_rng(2).normal(size=(64, 8)).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.int64)

    def first_layer_delta(m):
        stats = GradientStats()
        Trainer(m, lr=1e-3, seed=0, progress="none", callbacks=[stats]).fit(
            x, y, epochs=1, batch_size=64)
        deltas = [v[0] for v in stats.delta.values()]
        return deltas[0], deltas[-1]

    sig_first, sig_last = first_layer_delta(
        nn.MLP(8, [32] * 10, 2, activation="sigmoid", rng=np.random.default_rng(0)))
    res_first, res_last = first_layer_delta(
        nn.MLP(8, [32] * 10, 2, norm="layer", residual=True, rng=np.random.default_rng(0)))
    assert sig_first < sig_last / 1e4  # δ shrinks by four orders of magnitude on the way down
    assert res_first > res_last / 10  # the skips carry it down
    assert res_first > 100 * sig_first


# --- plot_histories ------------------------------------------------------------------------------


def test_plot_histories_draws_runs_side_by_side(tmp_path):
    pytest.importorskip("matplotlib")
    runs = {}
    for lr in (0.001, 0.01, 0.1):
        h = History()
        for e in range(1, 6):
            h.append(e, {"loss": 1 / (1 + lr * 100 * e), "val_loss": 1.1 / (1 + lr * 100 * e)})
        runs[f"lr={lr}"] = h
    path = plots.plot_histories(runs, "val_loss", tmp_path / "runs.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert repr(plots.plot_histories({k: h.to_dict() for k, h in runs.items()}, "loss"))\
        .startswith("<Picture: PNG")
    with pytest.raises(ValueError, match=r"run 'lr=0.001' did not log 'val_accuracy'"):
        plots.plot_histories(runs, "val_accuracy")
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_histories({}, "loss")
