"""History bookkeeping and JSON round trip; the progress display in its three forms."""

import io
import math
import re

import numpy as np
import pytest

from deltagrad import nn
from deltagrad.data import load_dataset
from deltagrad.train import History, Trainer
from deltagrad.train.progress import epoch_line, format_value, make_progress


def test_history_pads_late_keys_and_finds_the_best_epoch():
    h = History()
    h.append(1, {"loss": 1.0})
    h.append(2, {"loss": 0.5, "val_accuracy": 0.7})
    h.append(3, {"loss": 0.6, "val_accuracy": 0.9})
    assert math.isnan(h["val_accuracy"][0]) and h["val_accuracy"][1:] == [0.7, 0.9]
    assert h.best("loss") == (2, 0.5) and h.best("val_accuracy") == (3, 0.9)
    assert h.best("loss", mode="max") == (1, 1.0)
    assert len(h) == 3 and "loss" in h and h.last() == {"loss": 0.6, "val_accuracy": 0.9}
    with pytest.raises(KeyError, match="History has no 'f1'"):
        h["f1"]


def test_history_round_trips_through_json_data():
    import json

    from deltagrad.io.jsonio import dumps, loads

    h = History()
    h.append(1, {"loss": float("nan"), "lr": 0.1})
    h.stop_reason = "early_stopping"
    back = History.from_dict(loads(dumps(h.to_dict()), "h.json"))
    assert back.epoch == [1] and math.isnan(back["loss"][0]) and back["lr"] == [0.1]
    assert back.stop_reason == "early_stopping"
    json.loads(dumps(h.to_dict()))  # standard JSON, NaN included
    with pytest.raises(ValueError, match="one value per epoch"):
        History.from_dict({"epoch": [1, 2], "history": {"loss": [1.0]}})


def test_format_and_epoch_line():
    assert format_value(0.123456) == "0.1235" and format_value(12345.6) == "12345.6"
    assert format_value(2e-5) == "2.00e-05" and format_value(float("nan")) == "nan"
    line = epoch_line(3, 20, {"loss": 0.5, "val_accuracy": 0.875, "lr": 0.001, "time": 1.234})
    assert line == "epoch  3/20  loss 0.5000  val_accuracy 0.8750  lr 0.001  1.23s"


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("kind, stream, expect", [
    ("auto", io.StringIO, "plain"), ("auto", FakeTerminal, "bar"), ("none", io.StringIO, None),
    (False, io.StringIO, None), ("plain", FakeTerminal, "plain"),
])
def test_progress_picks_lines_off_a_terminal_and_a_bar_on_one(kind, stream, expect):
    ds = load_dataset("xor", n_samples=64, seed=0)
    out = stream()
    model = nn.MLP(2, [8], 2, rng=np.random.default_rng(0))
    Trainer(model, "cross_entropy", metrics=["accuracy"], seed=0, progress=kind,
            stream=out).fit(ds.X, ds.y, epochs=3, batch_size=16, validation_split=0.25)
    text = out.getvalue()
    if expect is None:
        assert text == ""
        return
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n")
    lines = [ln for ln in plain.splitlines() if ln.startswith("epoch ")]
    epoch_lines = [ln for ln in lines if " lr " in ln]  # the summaries, not bar frames
    assert [ln.split()[1] for ln in epoch_lines] == ["1/3", "2/3", "3/3"]
    if expect == "plain":
        assert "\x1b[" not in text and len(text.splitlines()) == 3
    make_progress("bar", out).train_end()  # stopping a bar that never started is harmless
