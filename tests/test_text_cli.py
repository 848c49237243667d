"""`deltagrad ner` and `deltagrad lm` end to end: train, save, load, evaluate, tag, sample;
user errors as one line on standard error with a non-zero exit status."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from deltagrad.cli.lm import app as lm_app
from deltagrad.cli.ner import app as ner_app

try:  # click < 8.2 (which Typer < 0.16 may run on) mixes stderr into output unless told
    runner = CliRunner(mix_stderr=False)
except TypeError:  # newer click keeps stderr apart and has no such switch
    runner = CliRunner()
FIRST = ["Anna", "Boris", "Carla", "Dmitri"]
CITIES = ["Paris", "Lagos", "Quito", "Oslo"]


def conll(path, n, seed):
    rng = np.random.default_rng(seed)
    lines = ["-DOCSTART- -X- O", ""]
    for _ in range(n):
        lines += [f"{rng.choice(FIRST)} NNP B-PER", f"{rng.choice(['Ng', 'Silva'])} NNP I-PER",
                  "lives VBZ O", "in IN O", f"{rng.choice(CITIES)} NNP B-LOC", ". . O", ""]
    path.write_text("\n".join(lines))
    return path


def one_error_line(result, *needles):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture(scope="module")
def ner_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("ner")
    train, valid = conll(d / "train.txt", 120, 0), conll(d / "valid.txt", 20, 1)
    result = runner.invoke(ner_app, ["train", "--train", str(train), "--valid", str(valid),
                                     "--test", str(valid), "--out", str(d / "model"),
                                     "--epochs", "5", "--hidden", "24", "--word-dim", "8",
                                     "--affix-dim", "0", "--lr", "0.01", "--batch-size", "32",
                                     "--weight-decay", "0", "--quiet"])  # 120 sentences: no decay
    assert result.exit_code == 0, result.output
    return d


def test_ner_train_prints_scores_and_saves_a_folder(ner_model):
    folder = ner_model / "model"
    # The run's checkpoint and history stay beside the model, as with `deltagrad train`.
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.safetensors", "config.json", "history.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["metadata"]["kind"] == "deltagrad.text.ner.NERTagger"
    assert config["metadata"]["info"]["test"]["f1"] == 1.0


def test_ner_train_affix_dim_adds_prefix_and_suffix_vectors(ner_model, tmp_path):
    result = runner.invoke(ner_app, ["train", "--train", str(ner_model / "train.txt"),
                                     "--out", str(tmp_path / "m"), "--epochs", "1", "--hidden",
                                     "8", "--word-dim", "4", "--affix-dim", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "m" / "config.json").read_text())["metadata"]
    assert meta["network"]["affix_dim"] == 3 and "-ves" in meta["affixes"]["tokens"]


def test_ner_tag_prints_a_tag_per_word(ner_model):
    result = runner.invoke(ner_app, ["tag", str(ner_model / "model"), "Carla Ng lives in Oslo ."])
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.stdout.strip().splitlines()] == [
        ["Carla", "B-PER"], ["Ng", "I-PER"], ["lives", "O"], ["in", "O"], ["Oslo", "B-LOC"],
        [".", "O"]]
    inline = runner.invoke(ner_app, ["tag", str(ner_model / "model"), "--inline",
                                     "Anna Silva lives in Paris", "-"], input="Boris Ng\n")
    assert inline.stdout.splitlines() == [
        "Anna/B-PER Silva/I-PER lives/O in/O Paris/B-LOC", "Boris/B-PER Ng/I-PER"]


def test_ner_evaluate(ner_model):
    result = runner.invoke(ner_app, ["evaluate", str(ner_model / "model"), "--data",
                                     str(ner_model / "valid.txt"), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["f1"] == 1.0 and scores["true_entities"] == 40


def test_ner_errors_are_one_line(ner_model, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("EU NNP B-ORG\nrejects VBZ\n")
    one_error_line(runner.invoke(ner_app, ["evaluate", str(ner_model / "model"), "--data",
                                           str(bad)]), "bad.txt:2", "expected 3 columns")
    one_error_line(runner.invoke(ner_app, ["tag", str(tmp_path / "nope"), "hi"]),
                   "no such model folder")
    one_error_line(runner.invoke(ner_app, ["train", "--train", str(bad), "--out",
                                           str(tmp_path / "m")]), "bad.txt:2")
    one_error_line(runner.invoke(ner_app, ["train", "--train", str(ner_model / "train.txt"),
                                           "--out", str(tmp_path / "m"), "--hidden", "x"]),
                   "hidden")
    assert not (tmp_path / "m").exists()
    (tmp_path / "file").write_text("x")
    one_error_line(runner.invoke(ner_app, ["train", "--train", str(ner_model / "train.txt"),
                                           "--out", str(tmp_path / "file")]),
                   "is not a folder")


TEXT = "to be or not to be, that is the question.\n" * 30


@pytest.fixture(scope="module")
def lm_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    (d / "text.txt").write_text(TEXT)
    result = runner.invoke(lm_app, ["train", "--data", str(d / "text.txt"), "--level", "char",
                                    "--context", "4", "--out", str(d / "model"), "--epochs",
                                    "4", "--hidden", "32", "--embed-dim", "6", "--lr", "0.01",
                                    "--batch-size", "64", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return d, json.loads(result.stdout)


def test_lm_train_reports_network_and_ngram(lm_model):
    _, scores = lm_model
    assert scores["context"] == 4 and scores["level"] == "char"
    for name in ("model", "kneser_ney"):
        s = scores[name]
        assert s["perplexity"] == pytest.approx(np.exp(s["cross_entropy"]))
    assert scores["model"]["cross_entropy"] < 1.0  # the text repeats


def test_lm_evaluate_reproduces_the_validation_figures(lm_model):
    d, scores = lm_model
    result = runner.invoke(lm_app, ["evaluate", str(d / "model"), "--data",
                                    str(d / "text.txt"), "--ngram", "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert again["model"] == pytest.approx(scores["model"])
    assert again["kneser_ney"] == pytest.approx(scores["kneser_ney"])
    whole = runner.invoke(lm_app, ["evaluate", str(d / "model"), "--data",
                                   str(d / "text.txt"), "--part", "all"])
    assert whole.exit_code == 0 and f"over {len(TEXT)} chars" in whole.stdout


def test_lm_evaluate_mix_tunes_on_one_half_and_scores_the_other(lm_model):
    d, _ = lm_model
    args = ["evaluate", str(d / "model"), "--data", str(d / "text.txt"), "--mix"]
    result = runner.invoke(lm_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    mixed = json.loads(result.stdout.splitlines()[-1])
    assert 0 <= mixed["weight"] <= 1 and 1 <= mixed["kn_context"] <= 4
    assert mixed["mixture"]["tokens"] == mixed["model"]["tokens"] > 0
    text = runner.invoke(lm_app, args)
    assert "mixture weight" in text.stdout and "held-out second half, mixture" in text.stdout
    one_error_line(runner.invoke(lm_app, [*args, "--part", "all"]), "--mix")


def test_lm_sample_is_reproducible(lm_model):
    d, _ = lm_model
    args = ["sample", str(d / "model"), "--length", "50", "--seed", "5", "--temperature",
            "0.8", "--top-k", "5", "--prompt", "to be"]
    a, b = runner.invoke(lm_app, args), runner.invoke(lm_app, args)
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert a.stdout.startswith("to be") and len(a.stdout.rstrip("\n")) >= 50


def test_lm_errors_are_one_line(lm_model, tmp_path):
    d, _ = lm_model
    one_error_line(runner.invoke(lm_app, ["sample", str(d / "model"), "--temperature", "-1"]),
                   "temperature")
    one_error_line(runner.invoke(lm_app, ["sample", str(d / "model"), "--top-k", "0"]),
                   "top_k")
    one_error_line(runner.invoke(lm_app, ["train", "--data", str(tmp_path / "none.txt"),
                                          "--out", str(tmp_path / "m")]), "none.txt")
    one_error_line(runner.invoke(lm_app, ["train", "--data", str(d / "text.txt"), "--out",
                                          str(tmp_path / "m"), "--context", "0"]), "context")
    one_error_line(runner.invoke(lm_app, ["evaluate", str(d / "text.txt"), "--data",
                                          str(d / "text.txt")]), "text.txt")
    bad_level = runner.invoke(lm_app, ["train", "--data", str(d / "text.txt"), "--out",
                                       str(tmp_path / "m"), "--level", "byte"])
    assert bad_level.exit_code == 2 and "Traceback" not in bad_level.output
