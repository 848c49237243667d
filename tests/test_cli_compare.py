"""`deltagrad train --vary` (several runs side by side), `--plot`'s gradient picture, and the
`--norm` / `--residual` options, run as a user would."""

import json
import re

import pytest
from test_cli import assert_one_line_error, ok, run_here

import deltagrad as dg

pytest.importorskip("matplotlib", reason="the comparison and --plot draw with matplotlib")


def test_vary_trains_each_value_and_compares_them(tmp_path):
    out = tmp_path / "lr"
    result = ok("train", "--data", "moons", "--hidden", "8", "--epochs", "4", "--vary",
                "lr=0.001,0.1", "--out", out, "--json")
    results = json.loads(result.stdout)
    assert [r["variant"] for r in results] == ["lr=0.001", "lr=0.1"]
    slow, fast = results
    assert fast["best"] < slow["best"]  # in 4 epochs the larger rate gets further
    assert fast["test_metrics"]["accuracy"] >= slow["test_metrics"]["accuracy"]
    for name in ("compare_val_loss.png", "compare_val_accuracy.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "compare.json").read_text()) == results
    for r, lr in zip(results, (0.001, 0.1)):
        folder = out / r["variant"]
        assert dg.load_metadata(folder)["settings"]["lr"] == lr
        assert dg.load(folder).hidden_sizes == (8,)


def test_two_varied_settings_give_every_combination_in_a_table(tmp_path):
    result = ok("train", "--data", "xor", "--epochs", "2", "--vary", "hidden=4,8x8",
                "--vary", "norm=none,batch", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["variant", "epochs", "best", "val_loss"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["hidden=4,", "norm=none"], ["hidden=4,", "norm=batch"],
        ["hidden=8x8,", "norm=none"], ["hidden=8x8,", "norm=batch"]]
    assert (tmp_path / "deltagrad_plots" / "compare_val_loss.png").exists()


@pytest.mark.parametrize("options, message", [
    (["momentum=0.9"], "'momentum' is not a setting it can vary; it can vary hidden, "),
    (["lr=fast"], "--vary lr: 'fast' is not a number"),
    (["lr"], "expected NAME=VALUE,VALUE"),
    (["norm=group"], "--vary norm: 'group' is not one of none, layer, batch"),
    (["epochs=0"], "--vary epochs: must be at least 1, got 0"),
    (["residual=maybe"], "--vary residual: 'maybe' is not true or false"),
    (["lr=0.1", "lr=0.2"], "lr is given twice"),
])
def test_bad_vary_values_are_refused_before_anything_runs(options, message):
    from deltagrad.cli.errors import CLIError
    from deltagrad.cli.tabular_settings import parse_vary

    with pytest.raises(CLIError, match=re.escape(message)):
        parse_vary(options)


def test_vary_errors_on_the_command_line_are_one_line(tmp_path):
    assert_one_line_error(run_here("train", "--data", "xor", "--lr", "0.1", "--vary",
                                   "lr=0.1,0.2", cwd=tmp_path), "--lr is both given and varied")
    assert_one_line_error(run_here("train", "--data", "xor", "--vary", "lr=-1", cwd=tmp_path),
                          "--lr: must be a positive number, got -1.0")


def test_plot_draws_the_gradients_of_a_normalised_residual_mlp(tmp_path):
    out = tmp_path / "run"
    result = ok("train", "--data", "moons", "--hidden", "8,8,8", "--epochs", "3", "--norm",
                "batch", "--residual", "--plot", "--out", out)
    assert "(relu, batch norm, residual)" in result.stderr
    assert (out / "gradients.png").read_bytes()[:4] == b"\x89PNG"
    history = dg.load_metadata(out)["history"]
    assert history["gradients"]["unit"] == "epoch" and history["gradients"]["at"] == [1, 2, 3]
    model = dg.load(out)
    assert model.norm == "batch" and model.residual
    assert int(model.layers[1].num_batches_tracked) > 0  # the running statistics were saved
    # Resuming that (finished) run without --plot still matches its callbacks.
    again = ok("train", "--out", out, "--resume")
    assert "already finished" in again.stderr
