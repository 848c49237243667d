"""`deltagrad ner train` and `deltagrad lm train` as `deltagrad train` is tested: SIGKILL in the
middle of training, `--resume`, and exactly the weights of a run that was never interrupted;
a resume with other settings or data refused; the NaN guard naming epoch, batch and op;
`--clip-norm`, `--plot`, `--overwrite`."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_cli import assert_one_line_error, command, ok, run_here
from test_text_cli import conll

import deltagrad as dg
from deltagrad.train import CHECKPOINT, load_checkpoint

EPOCHS = 24
TEXT = "".join(f"line {i % 7}: to be or not to be, that is the question {i % 3}.\n"
               for i in range(200))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("text-runs")
    conll(d / "train.txt", 400, 0)
    conll(d / "valid.txt", 40, 1)
    (d / "text.txt").write_text(TEXT)
    return d


def ner_args(files, *extra):
    # Dropout, singleton <unk> replacement, the cosine schedule and the best-F1 weights:
    # every piece of state must come back.
    return ["ner", "train", "--train", files / "train.txt", "--valid", files / "valid.txt",
            "--epochs", EPOCHS, "--hidden", "24", "--word-dim", "8", "--lr", "0.01",
            "--batch-size", "32", "--dropout", "0.2", "--seed", "3", *extra]


def lm_args(files, *extra):
    return ["lm", "train", "--data", files / "text.txt", "--context", "4", "--epochs", EPOCHS,
            "--hidden", "32", "--embed-dim", "6", "--lr", "0.01", "--batch-size", "64",
            "--dropout", "0.1", "--context-dropout", "0.1", "--seed", "3", "--no-ngram",
            *extra]


def kill_after_epoch(args, out, epoch: int = 3, epochs: int = EPOCHS) -> dict:
    """Start a run of ``epochs``, SIGKILL it once its checkpoint reaches ``epoch``; return
    that state."""
    proc = subprocess.Popen([*command(), *map(str, args), "--out", str(out), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = out / CHECKPOINT
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        # Read while the trainer writes: atomic replacement means always a whole checkpoint.
        if checkpoint.exists() and load_checkpoint(checkpoint)["epoch"] >= epoch:
            break
        time.sleep(0.003)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    state = load_checkpoint(checkpoint)
    assert epoch <= state["epoch"] < epochs and not state["finished"]
    return state


def assert_same_run(straight, resumed):
    a, b = dg.load_state_dict(straight), dg.load_state_dict(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name
    ia, ib = dg.load_metadata(straight)["info"], dg.load_metadata(resumed)["info"]
    assert ia["best_epoch"] == ib["best_epoch"]
    drop = ("seconds",)  # the only thing a resumed run may not repeat
    assert [{k: v for k, v in r.items() if k not in drop} for r in ia["history"]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in ib["history"]]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is a POSIX signal")
@pytest.mark.parametrize("kind", ["ner", "lm"])
def test_sigkill_mid_training_then_resume_gives_bit_identical_weights(files, tmp_path, kind):
    args = ner_args(files) if kind == "ner" else lm_args(files)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    ok(*args, "--out", straight, "-q")
    state = kill_after_epoch(args, killed)
    assert not (killed / "model.safetensors").exists()  # it never got to the end

    resumed = ok(*args, "--out", killed, "--resume")
    assert f"resuming from the checkpoint of epoch {state['epoch']}" in resumed.stderr
    assert f"epoch {state['epoch'] + 1:>2}/{EPOCHS}" in resumed.stderr
    assert f"epoch {state['epoch']:>2}/{EPOCHS}" not in resumed.stderr  # not trained again
    assert_same_run(straight, killed)
    history = json.loads((killed / "history.json").read_text())
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    assert ("val_f1" if kind == "ner" else "val_perplexity") in history["history"]


@pytest.mark.parametrize("kind", ["ner", "lm"])
def test_a_resume_with_other_settings_or_data_is_refused_by_name(files, tmp_path, kind):
    args = ner_args if kind == "ner" else lm_args
    out = tmp_path / "run"
    kill_after_epoch(args(files), out, epoch=1)
    assert_one_line_error(run_here(*args(files, "--lr", "0.02"), "--out", out, "--resume"),
                          "used lr=0.01, not 0.02")
    other = tmp_path / "other.txt"
    if kind == "ner":
        conll(other, 400, 5)
        changed = [str(other) if str(a) == str(files / "train.txt") else a for a in args(files)]
    else:
        other.write_text(TEXT.replace("question", "answer!!"))
        changed = [str(other) if str(a) == str(files / "text.txt") else a for a in args(files)]
    assert_one_line_error(run_here(*changed, "--out", out, "--resume"), "trained on other data")
    if kind == "ner":  # the sentences only the F1 hook sees are checked too
        conll(tmp_path / "valid.txt", 40, 6)
        changed = [str(tmp_path / "valid.txt") if str(a) == str(files / "valid.txt") else a
                   for a in args(files)]
        assert_one_line_error(run_here(*changed, "--out", out, "--resume"),
                              "trained on other data (the validation data differ)")
    assert_one_line_error(run_here(*args(files), "--out", out), "already holds a training run",
                          "--resume", "--overwrite")
    assert_one_line_error(run_here(*args(files), "--out", tmp_path / "new", "--resume"),
                          "holds no checkpoint to resume")


@pytest.mark.parametrize("kind", ["ner", "lm"])
def test_a_diverging_run_names_epoch_batch_and_op(files, kind):
    args = ner_args(files) if kind == "ner" else lm_args(files)
    args = [a if a != "0.01" else "1e30" for a in args]  # the learning rate
    result = run_here(*args, "--out", files / f"diverged-{kind}", "-q")
    line = assert_one_line_error(result, "training diverged at epoch 1, batch",
                                 "the first non-finite value", "op '", "(layer '")
    # the rate of that batch: the cosine schedule has barely begun to lower it
    assert re.search(r"smaller learning rate \(now (1e\+30|9\.9+\d*e\+29)\)", line), line


@pytest.mark.parametrize("kind", ["ner", "lm"])
def test_clip_norm_overwrite_and_plot(files, tmp_path, kind):
    pytest.importorskip("matplotlib")
    args = ner_args(files) if kind == "ner" else lm_args(files)
    args = [a if a != EPOCHS else 2 for a in args]
    out = tmp_path / "run"
    ok(*args, "--out", out, "--clip-norm", "0.5", "-q")
    assert dg.load_metadata(out)["info"]["training"]["clip_norm"] == 0.5
    ok(*args, "--out", out, "--overwrite", "--plot", "-q")
    assert (out / "history.png").stat().st_size > 1000
    assert dg.load_metadata(out)["info"]["training"]["clip_norm"] is None
    assert_one_line_error(run_here(*args, "--out", out, "--clip-norm", "-1"), "clip_norm")


def test_plain_progress_lines_when_not_on_a_terminal(files, tmp_path):
    result = ok(*[a if a != EPOCHS else 2 for a in lm_args(files)], "--out", tmp_path / "m")
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("val_perplexity" in line and "loss" in line for line in lines)
    assert np.isfinite(dg.load_metadata(tmp_path / "m")["info"]["valid"]["model"]["perplexity"])
