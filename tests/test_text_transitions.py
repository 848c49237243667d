"""The tagger's learned tag-transition scores (decode="crf"): fitted on the frozen network's
log-probabilities of the training words by the sentence-level log-likelihood, stored with
the network, used by the decoder, saved and loaded; folders without them still load; the
time budget holds with the stage; user errors in one line."""

import json
import time

import numpy as np
import pytest
from typer.testing import CliRunner

import deltagrad as dg
from deltagrad.cli.ner import app as ner_app
from deltagrad.nn.crf import crf_nll
from deltagrad.text import NERTagger, constrained_decode, train_tagger
from deltagrad.text.bio import penalties
from deltagrad.text.transitions import fit_transition_scores

FIRST = ["Anna", "Boris", "Carla"]
PLACES = ["New York", "Paris", "Santa Fe", "Rio de Janeiro"]


def sentences(n, seed):
    """'<first> lives in <place> .': places of one to three words."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        place = rng.choice(PLACES).split()
        out.append(([rng.choice(FIRST), "lives", "in", *place, "."],
                    ["B-PER", "O", "O", "B-LOC"] + ["I-LOC"] * (len(place) - 1) + ["O"]))
    return out


@pytest.fixture(scope="module")
def crf_tagger():
    # a few epochs only: the network is unsure, so the transitions have work to do
    return train_tagger(sentences(60, 0), sentences(20, 1), hidden=8, word_dim=4, casing_dim=2,
                        affix_dim=2, epochs=3, seed=0, decode="crf")


def _log_likelihood_loss(tagger, train, scores):
    first, penalty = penalties(tuple(tagger.tags))
    index = {t: i for i, t in enumerate(tagger.tags)}
    emissions = np.concatenate(tagger.log_probs([w for w, _ in train]))
    return crf_nll(emissions, [len(w) for w, _ in train],
                   [index[t] for _, ts in train for t in ts], scores["start"] + first,
                   scores["transitions"] + penalty, scores["end"]).item()


def test_the_stage_fits_the_scores_on_the_frozen_networks_training_log_probs(crf_tagger):
    train = sentences(60, 0)
    learned = crf_tagger.module.crf_scores
    # the same fit, redone from the trained network, gives the stored scores
    index = {t: i for i, t in enumerate(crf_tagger.tags)}
    again = fit_transition_scores(np.concatenate(crf_tagger.log_probs([w for w, _ in train])),
                                  [len(w) for w, _ in train],
                                  np.array([index[t] for _, ts in train for t in ts]),
                                  crf_tagger.tags)
    for name, value in again.items():
        np.testing.assert_allclose(learned[name], value, rtol=1e-5, atol=1e-5)
    # ... which fit the training sentences better than none (plain BIO Viterbi)
    zeros = {k: np.zeros_like(v) for k, v in learned.items()}
    assert (_log_likelihood_loss(crf_tagger, train, learned)
            < _log_likelihood_loss(crf_tagger, train, zeros) - 0.01)
    # forbidden moves stay at 0: they are -inf whatever is learned
    allowed_start, allowed = (p == 0 for p in penalties(tuple(crf_tagger.tags)))
    assert np.all(learned["transitions"][~allowed] == 0)
    assert np.all(learned["start"][~allowed_start] == 0)
    assert crf_tagger.info["crf"]["seconds"] >= 0
    assert crf_tagger.info["crf"]["valid_f1"] == crf_tagger.evaluate(sentences(20, 1))["f1"]


def test_crf_decoding_is_viterbi_with_the_learned_scores(crf_tagger):
    words = [w for w, _ in sentences(15, 2)]
    expected = [[crf_tagger.tags[i] for i in
                 constrained_decode(lp, crf_tagger.tags, **crf_tagger.module.crf_scores)]
                for lp in crf_tagger.log_probs(words)]
    assert crf_tagger.decode == "crf" and crf_tagger.predict(words) == expected
    plain = [[crf_tagger.tags[i] for i in constrained_decode(lp, crf_tagger.tags)]
             for lp in crf_tagger.log_probs(words)]
    assert crf_tagger.predict(words, decode="viterbi") == plain
    assert plain != expected  # the learned scores change the answer here


def test_the_scores_are_saved_and_loaded_with_the_network(crf_tagger, tmp_path):
    again = NERTagger.load(crf_tagger.save(tmp_path / "ner"))
    for name, value in crf_tagger.module.crf_scores.items():
        np.testing.assert_array_equal(again.module.crf_scores[name], value)
    words = [w for w, _ in sentences(10, 3)]
    assert again.decode == "crf" and again.predict(words) == crf_tagger.predict(words)
    assert "transition_scores" in dg.io.load_state_dict(tmp_path / "ner")


def test_a_folder_saved_without_scores_loads_and_decodes_as_before(tmp_path):
    tagger = train_tagger(sentences(20, 0), hidden=4, word_dim=2, casing_dim=2, affix_dim=0,
                          epochs=1, seed=0, decode="viterbi")
    assert tagger.module.crf_scores is None and "crf" not in tagger.info
    folder = tagger.save(tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    del config["metadata"]["network"]["crf"]  # as folders from before the scores were
    (folder / "config.json").write_text(json.dumps(config))
    again = NERTagger.load(folder)
    words = [w for w, _ in sentences(5, 1)]
    assert again.module.crf_scores is None and again.predict(words) == tagger.predict(words)
    with pytest.raises(ValueError, match="decode='crf' needs learned transition scores"):
        again.predict(words, decode="crf")


def test_a_folder_claiming_scores_it_lacks_is_refused(tmp_path):
    tagger = train_tagger(sentences(20, 0), hidden=4, word_dim=2, casing_dim=2, affix_dim=0,
                          epochs=1, seed=0, decode="viterbi")
    folder = tagger.save(tmp_path / "liar")
    config = json.loads((folder / "config.json").read_text())
    config["metadata"]["network"]["crf"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(dg.io.ModelFileError, match="transition_scores"):
        NERTagger.load(folder)


def test_training_tags_that_break_bio_are_refused_before_training():
    iob1 = [(["Anna", "lives"], ["I-PER", "O"])] + sentences(5, 0)
    with pytest.raises(ValueError, match=r"training sentence 0 .*I-PER at word 0"):
        train_tagger(iob1, epochs=1, decode="crf")


def test_a_past_deadline_leaves_the_scores_at_zero():
    scores = fit_transition_scores(np.zeros((3, 3)), [3], np.array([1, 2, 0]),
                                   ["O", "B-X", "I-X"], deadline=time.perf_counter() - 1)
    assert all(np.all(v == 0) for v in scores.values())


def test_cli_decode_choice_and_its_errors(tmp_path):
    data = tmp_path / "train.txt"
    data.write_text("\n\n".join("\n".join(f"{w} X {t}" for w, t in zip(*s))
                                for s in sentences(20, 0)) + "\n")
    result = CliRunner().invoke(ner_app, ["train", "--train", str(data), "--out",
                                          str(tmp_path / "m"), "--epochs", "1", "--hidden", "4",
                                          "--decode", "viterbi", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m" / "config.json").read_text())[
        "metadata"]["network"]["crf"] is False
    result = CliRunner().invoke(ner_app, ["evaluate", str(tmp_path / "m"), "--data",
                                          str(data), "--decode", "crf"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "needs learned transition scores" in lines[0]
