"""What the playground computes for its network diagram and its backward-pass views, checked
against NumPy written out by hand: the input features, every neuron's heat map, the last
step's δ's, gradients and update, a point's δ trace, regression, the regularisation terms,
the loss curve's point per epoch, and the memory a session holds at the settings' bounds."""

import base64
import gc
import tracemalloc

import numpy as np
import pytest

from deltagrad.playground.features import FEATURES, feature_matrix
from deltagrad.playground.network import MAP, grid_points
from deltagrad.playground.session import MAX_HISTORY, MEMORY_HELD, MEMORY_STEP, Session
from deltagrad.playground.settings import Settings, SettingsError

SMALL = {"n_samples": 60, "hidden": (4, 3), "seed": 3}


def floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f4").astype(np.float64)


def maps(encoded: dict) -> np.ndarray:
    """Heat maps back as values in [-1, 1] of their scale: (maps, cells)."""
    levels = np.frombuffer(base64.b64decode(encoded["values"]), np.uint8)
    return levels.reshape(-1, encoded["size"] ** 2) / 127.5 - 1


def layers_of(session: Session) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(lin.weight.data.astype(np.float64), lin.bias.data.astype(np.float64))
            for lin in session.diagram.linears]


def forward(layers, X: np.ndarray, activation=np.tanh) -> list[np.ndarray]:
    """Every layer's output (activations of the hidden layers, then the raw outputs)."""
    outputs, a = [], X.astype(np.float64)
    for k, (W, b) in enumerate(layers):
        z = a @ W.T + b
        a = z if k == len(layers) - 1 else activation(z)
        outputs.append(a)
    return outputs


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- the input features --------------------------------------------------------------------------


def test_features_are_computed_on_the_server():
    points = np.array([[0.5, -2.0], [1.5, 0.25]], np.float32)
    x1, x2 = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    expected = {"x1": x1, "x2": x2, "x1_sq": x1 ** 2, "x2_sq": x2 ** 2, "x1_x2": x1 * x2,
                "sin_x1": np.sin(x1), "sin_x2": np.sin(x2)}
    assert list(FEATURES) == list(expected)
    got = feature_matrix(points, tuple(FEATURES))
    assert got.dtype == np.float32 and got.shape == (2, 7)
    np.testing.assert_allclose(got, np.stack(list(expected.values()), axis=1), rtol=1e-6)

    session = Session(Settings(features=("x1_sq", "sin_x2"), **SMALL))
    raw = session.points["train"].astype(np.float64)
    np.testing.assert_allclose(session.X_train, np.stack([raw[:, 0] ** 2, np.sin(raw[:, 1])], 1),
                               rtol=1e-6)
    assert session.model.in_features == 2 and session.snapshot["network"]["widths"][0] == 2
    # The page gets every feature's map over the plane, the inactive ones too.
    feature_maps = maps(session.data["features"])
    grid = grid_points(session.bounds, MAP).astype(np.float64)
    scales = np.array(session.data["features"]["scales"])
    assert feature_maps.shape == (7, MAP * MAP)
    np.testing.assert_allclose(feature_maps[2] * scales[2], grid[:, 0] ** 2, atol=scales[2] / 127)


# --- the diagram ---------------------------------------------------------------------------------


def test_the_diagram_shows_each_neurons_output_and_each_weight():
    session = Session(Settings(**SMALL))
    session.step()
    network = session.snapshot["network"]
    assert network["widths"] == network["shown"] == [2, 4, 3, 2]
    assert network["names"] == ["layers.0.weight", "layers.2.weight", "layers.4.weight"]
    layers = layers_of(session)
    np.testing.assert_array_equal(floats(network["weights"]),
                                  np.concatenate([W.ravel() for W, _ in layers]))
    np.testing.assert_array_equal(floats(network["biases"]),
                                  np.concatenate([b for _, b in layers]))
    # Each neuron's map is its output over the plane, by NumPy on the same grid.
    grid = feature_matrix(grid_points(session.bounds, MAP), ("x1", "x2"))
    expected = np.concatenate(forward(layers, grid), axis=1).T  # (neurons, cells)
    scales = np.array(network["maps"]["scales"])[:, None]
    assert network["maps"]["size"] == MAP and scales.shape == (4 + 3 + 2, 1)
    np.testing.assert_allclose(scales[:7], 1.0)  # tanh outputs: kept on the absolute scale
    np.testing.assert_allclose(maps(network["maps"]) * scales, expected, atol=scales.max() / 127)


def test_a_wide_layer_is_drawn_with_its_first_neurons():
    session = Session(Settings(n_samples=40, hidden=(40,)))
    network = session.snapshot["network"]
    assert network["widths"] == [2, 40, 2] and network["shown"] == [2, 16, 2]
    W = session.diagram.linears[1].weight.data
    got = floats(network["weights"])
    assert got.size == 2 * 16 + 16 * 2
    np.testing.assert_array_equal(got[32:], W[:, :16].ravel())
    assert maps(network["maps"]).shape == (18, MAP * MAP)


# --- the last step: δ's, gradients, update -------------------------------------------------------


def by_hand(layers, X, y, rate):
    """Mean |δ| per neuron (each point's δ for its own loss), ∂loss/∂W (with the L1 term),
    of the mean cross-entropy of a tanh MLP over all of X."""
    outputs = forward(layers, X)
    n = len(X)
    delta = softmax(outputs[-1])
    delta[np.arange(n), y] -= 1  # each point's δ of the logits for its own loss
    mean_abs, grads = [], []
    for k in range(len(layers) - 1, -1, -1):
        a_in = X.astype(np.float64) if k == 0 else outputs[k - 1]
        mean_abs.insert(0, np.abs(delta).mean(axis=0))
        W = layers[k][0]
        grads.insert(0, delta.T @ a_in / n + rate * np.sign(W))
        if k:
            delta = (delta @ W) * (1 - a_in ** 2)
    return np.concatenate(mean_abs), np.concatenate([g.ravel() for g in grads])


def test_the_last_step_keeps_the_real_steps_deltas_gradients_and_update():
    # One batch holding every training point, so the step is over a known set of points.
    settings = Settings(batch_size=2000, optimizer="sgd", learning_rate=0.5,
                        regularization="l1", regularization_rate=0.01, **SMALL)
    session = Session(settings)
    assert session.snapshot["last_step"] is None  # no step yet
    before = layers_of(session)
    session.step()
    step = session.snapshot["last_step"]
    assert step["epoch"] == 1 and step["points"] == len(session.X_train) == 30
    deltas, grads = by_hand(before, session.X_train, session.y_train, rate=0.01)
    np.testing.assert_allclose(floats(step["deltas"]), deltas, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(floats(step["grads"]), grads, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(floats(step["updates"]), -0.5 * grads, rtol=1e-4, atol=1e-7)
    after = np.concatenate([W.ravel() for W, _ in layers_of(session)])
    np.testing.assert_allclose(after - np.concatenate([W.ravel() for W, _ in before]),
                               floats(step["updates"]), rtol=1e-5, atol=1e-7)
    assert np.all(floats(step["deltas"]) > 0) and np.all(floats(step["grads"]) != 0)


def test_the_last_step_is_the_epochs_last_batch():
    session = Session(Settings(batch_size=8, optimizer="sgd", learning_rate=0.1, **SMALL))
    for epoch in (1, 2):
        session.step()
        step = session.snapshot["last_step"]
        assert step["epoch"] == epoch and step["points"] == 30 - 3 * 8  # 8, 8, 8, then 6
        np.testing.assert_allclose(floats(step["updates"]), -0.1 * floats(step["grads"]),
                                   rtol=1e-4, atol=1e-8)
        assert np.isfinite(step["loss"]) and step["loss"] > 0


# --- one point's δ trace -------------------------------------------------------------------------


def test_explain_traces_one_points_loss_through_the_current_network():
    session = Session(Settings(**SMALL))
    session.step()
    reply = session.explain_point(5)
    logits = forward(layers_of(session), session.X_train[5:6])[-1]
    expected = -np.log(softmax(logits)[0, session.y_train[5]])
    assert reply["point"] == 5 and reply["epoch"] == 1
    assert reply["loss"] == pytest.approx(expected, rel=1e-5)
    assert reply["x"] == session.data["train"]["x"][5]
    assert reply["target"] == int(session.y_train[5])
    text = reply["text"]
    assert text.startswith(f"Backward pass from loss = {reply['loss']:.4g}")
    assert "linear(x, layers.0.weight, layers.0.bias)" in text
    assert "δlayers.4.weight" in text and "layers.0.bias.grad  = " in text
    assert "x.grad  = " in text and "added to the .grad it already had" not in text
    # Its gradients are not kept: training goes on as before.
    assert all(p.grad is None for p in session.model.parameters()) and session.model.training
    session.step()
    assert session.epoch == 2
    for bad in (30, -1, 2.5, "3", None):
        with pytest.raises(SettingsError, match=r"point must be an integer in \[0, 29\]"):
            session.explain_point(bad)


# --- regression, regularisation, the loss curve --------------------------------------------------


def test_regression_has_one_output_and_a_squared_error():
    session = Session(Settings(dataset="gaussians", n_samples=80, hidden=(5,)))
    assert session.model.out_features == 1 and session.n_classes is None
    assert session.data["problem"] == "regression" and session.data["classes"] is None
    assert all(isinstance(v, float) for v in session.data["train"]["y"])
    for _ in range(3):
        session.step()
    out = forward(layers_of(session), session.X_test)[-1]
    s = session.snapshot
    assert s["test_loss"] == pytest.approx(np.mean((out - session.y_test) ** 2), rel=1e-4)
    assert s["test_accuracy"] is None and s["train_accuracy"] is None
    grid = s["grid"]
    assert "probs" not in grid and grid["size"] == 64 and len(grid["scales"]) == 1


def test_a_linear_model_fits_the_plane():
    session = Session(Settings(dataset="plane", noise=0.0, hidden=(), n_samples=100,
                               learning_rate=0.1, batch_size=10))
    for _ in range(40):
        session.step()
    assert session.snapshot["test_loss"] < 1e-3


def test_circles_need_squared_features_without_hidden_layers():
    # The classic lesson: a linear model can not separate the circles from x1 and x2 (it stays
    # at chance, ln 2), but x1² and x2² make the classes linearly separable.
    losses = {}
    for features in (("x1", "x2"), ("x1_sq", "x2_sq")):
        session = Session(Settings(dataset="circles", features=features, hidden=()))
        for _ in range(20):
            session.step()
        losses[features] = session.snapshot["test_loss"]
    assert losses[("x1_sq", "x2_sq")] < 0.1
    assert losses[("x1", "x2")] > 0.6


def test_regularisation_terms_are_added_to_the_loss():
    session = Session(Settings(**SMALL))
    out = session.model(session.X_train)
    plain = session._loss(out, session.y_train).item()
    weights = [W for W, _ in layers_of(session)]
    for kind, rate, term in (("l1", 0.3, sum(np.abs(W).sum() for W in weights)),
                             ("l2", 0.3, sum((W ** 2).sum() for W in weights) / 2),
                             ("none", 0.3, 0.0), ("l1", 0.0, 0.0)):
        session.update(Settings(regularization=kind, regularization_rate=rate, **SMALL))
        penalised = session._loss(session.model(session.X_train), session.y_train).item()
        assert penalised - plain == pytest.approx(rate * term if kind != "none" else 0.0,
                                                  rel=1e-4, abs=1e-6), kind


def test_the_loss_curve_has_a_point_per_epoch():
    session = Session(Settings(**SMALL))
    for _ in range(12):
        session.step()
    history = session.snapshot["history"]
    assert history["epoch"] == list(range(13))
    assert history["test"][-1] == session.snapshot["test_loss"]
    assert history["train"][-1] == session.snapshot["train_loss"]


# --- memory --------------------------------------------------------------------------------------


def test_a_session_at_the_settings_bounds_stays_within_its_memory_bound():
    largest = Settings(dataset="spirals", n_samples=2000, train_fraction=0.9, hidden=(64,) * 8,
                       features=tuple(FEATURES), batch_size=2000, dropout=0.5,
                       regularization="l1", regularization_rate=0.001)
    Session(Settings(n_samples=20, hidden=(1,)))  # imports and caches outside the count
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        session = Session(largest)
        session.step()
        _, peak = tracemalloc.get_traced_memory()
        session.history = {key: [i + 0.5 for i in range(MAX_HISTORY)] for key in session.history}
        session._publish()  # a full loss history, in the snapshot too
        session.explain_point(0)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    print(f"largest session: {held / 2**20:.2f} MiB held, {(peak - base) / 2**20:.1f} MiB "
          f"at the peak of a step")
    assert held < MEMORY_HELD
    assert peak - base < MEMORY_HELD + MEMORY_STEP
