"""Kill `deltagrad train` with SIGKILL in the middle of training, resume it, and get exactly
the weights (and history) of a run that was never interrupted."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import command, ok, write_csv
from test_text_cli_resume import kill_after_epoch

import deltagrad as dg
from deltagrad.data import make_moons
from deltagrad.train import CHECKPOINT, load_checkpoint

EPOCHS = 25


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is a POSIX signal")
def test_sigkill_mid_training_then_resume_gives_bit_identical_weights(tmp_path):
    ds = make_moons(3000, noise=0.2, seed=0)
    data = write_csv(tmp_path / "moons.csv", ["x0", "x1", "label"],
                     [(*np.round(x, 5), int(c)) for x, c in zip(ds.X, ds.y)])
    # Dropout, a plateau schedule and early stopping: every piece of state must come back.
    args = ["train", "--data", data, "--target", "label", "--epochs", str(EPOCHS),
            "--hidden", "32,32", "--dropout", "0.1", "--lr-schedule", "plateau",
            "--patience", "6", "--seed", "3"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    ok(*args, "--out", straight, "-q")

    state = kill_after_epoch(args, killed, epoch=3, epochs=EPOCHS)
    assert not (killed / "model.safetensors").exists()  # it never got to the end

    resumed = ok(*args, "--out", killed, "--resume")
    assert f"resuming from the checkpoint of epoch {state['epoch']}" in resumed.stderr
    assert f"epoch {state['epoch'] + 1:>2}/{EPOCHS}" in resumed.stderr
    assert f"epoch {state['epoch']:>2}/{EPOCHS}" not in resumed.stderr  # not trained again

    a, b = dg.load_state_dict(straight), dg.load_state_dict(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    ha, hb = dg.load_metadata(straight), dg.load_metadata(killed)
    assert ha["history"]["history"]["val_loss"] == hb["history"]["history"]["val_loss"]
    assert ha["history"]["history"]["lr"] == hb["history"]["history"]["lr"]
    assert ha["test_metrics"] == hb["test_metrics"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_says_where_the_checkpoint_is_and_how_to_resume(tmp_path):
    data = write_csv(tmp_path / "xor.csv", ["a", "b", "y"],
                     [(a, b, a ^ b) for a, b in np.random.default_rng(0).integers(0, 2, (3000, 2))])
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*command(), "train", "--data", str(data), "--target", "y", "--epochs", "500",
         "--out", str(out), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A shell may start background jobs with SIGINT ignored; a terminal user's Ctrl+C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if (out / CHECKPOINT).exists() and load_checkpoint(out / CHECKPOINT)["epoch"] >= 2:
            break
        time.sleep(0.003)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and stdout == ""
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("error: interrupted: the checkpoint of epoch ")
    assert f"continue with: deltagrad train --out {out} --resume" in stderr
