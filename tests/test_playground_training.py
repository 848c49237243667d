"""The playground trains with the Trainer's per-epoch function: the NaN guard stops a
diverging session at the bad batch, with the weights from before it, and says where."""

import warnings

import numpy as np

from deltagrad.playground.session import Session
from deltagrad.playground.settings import Settings


def test_a_diverging_session_stops_and_says_where():
    settings = Settings(activation="relu", optimizer="sgd", learning_rate=10.0,
                        hidden=(64, 64, 64, 64), batch_size=1)
    session = Session(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(5):
            session.step()
            if session.message:
                break
    assert session.message.startswith("training diverged at epoch 1, batch ")
    assert "lower the learning rate and press Reset" in session.message
    assert session.snapshot["message"] == session.message and not session.running
    assert all(np.isfinite(p.data).all() for p in session.model.parameters())


def test_live_settings_reach_the_running_loop():
    session = Session(Settings(batch_size=300))  # 150 training points: one batch
    session.step()
    assert session.trainer.step == 1 and session.epoch == 1
    session.update(Settings(batch_size=10, regularization="l2", regularization_rate=0.5))
    session.step()
    assert session.trainer.step == 1 + 15 and session.epoch == 2
    penalty = session._loss(session.model(session.X_train), session.y_train)
    session.update(Settings(batch_size=10, regularization="l2", regularization_rate=0.0))
    plain = session._loss(session.model(session.X_train), session.y_train)
    assert penalty.item() > plain.item()  # the L2 term is read at every batch
