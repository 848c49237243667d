"""Entity-level scores (conlleval's rules) on hand-worked BIO examples, and perplexity."""

import math
from pathlib import Path

import numpy as np
import pytest

from deltagrad.text import entity_scores, entity_spans, perplexity, read_conll

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


# --- spans ------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, spans", [
    (["O", "O"], []),
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
    # I- without a B- opens an entity (conlleval), alone or as a run
    (["O", "I-PER", "I-PER"], [("PER", 1, 3)]),
    (["I-ORG"], [("ORG", 0, 1)]),
    # adjacent entities of one type: a B- always opens a new one
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 1), ("PER", 1, 3)]),
    # a type change inside a run: I-LOC after B-PER ends PER and opens LOC
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
    (["B-PER", "I-PER", "I-ORG", "B-ORG"], [("PER", 0, 2), ("ORG", 2, 3), ("ORG", 3, 4)]),
    # an entity that runs to the last word is closed there
    (["O", "B-MISC", "I-MISC"], [("MISC", 1, 3)]),
    # BIOES: E- closes, S- is a one-word entity
    (["B-PER", "E-PER", "S-LOC", "O"], [("PER", 0, 2), ("LOC", 2, 3)]),
])
def test_entity_spans_follow_conlleval(tags, spans):
    assert entity_spans(tags) == spans


def test_entity_spans_refuse_unknown_tags():
    with pytest.raises(ValueError, match="'X-PER'"):
        entity_spans(["O", "X-PER"])
    with pytest.raises(ValueError, match="'B-'"):
        entity_spans(["B-"])


# --- scores -----------------------------------------------------------------------------

def test_perfect_prediction_scores_one():
    tags = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-ORG"]]
    s = entity_scores(tags, tags)
    assert (s["precision"], s["recall"], s["f1"], s["accuracy"]) == (1.0, 1.0, 1.0, 1.0)
    assert s["true_entities"] == s["pred_entities"] == s["correct_entities"] == 3


def test_i_without_b_matches_the_same_span_with_b():
    s = entity_scores([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    assert s["f1"] == 1.0
    assert s["accuracy"] == pytest.approx(2 / 3)  # tokens still differ


def test_adjacent_entities_are_not_one_long_entity():
    # truth: two PER entities side by side; prediction: one entity over both words
    s = entity_scores([["B-PER", "B-PER"]], [["B-PER", "I-PER"]])
    assert (s["true_entities"], s["pred_entities"], s["correct_entities"]) == (2, 1, 0)
    assert s["precision"] == s["recall"] == s["f1"] == 0.0
    assert s["accuracy"] == 0.5


def test_type_mismatch_and_boundary_mismatch_count_as_errors():
    s = entity_scores([["B-LOC", "I-LOC", "O", "B-ORG", "I-ORG", "I-ORG"]],
                      [["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"]])
    assert (s["true_entities"], s["pred_entities"], s["correct_entities"]) == (2, 2, 0)
    assert s["f1"] == 0.0
    assert s["per_type"]["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_hand_worked_precision_recall_f1():
    truth = [["B-PER", "I-PER", "O", "B-LOC", "O"],
             ["B-ORG", "O", "B-MISC", "I-MISC", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "B-LOC"],      # PER ok, LOC ok, extra LOC
            ["B-ORG", "O", "B-MISC", "O", "B-PER"]]         # ORG ok, MISC too short, extra PER
    s = entity_scores(truth, pred)
    # 4 true entities, 6 predicted, 3 correct
    assert (s["true_entities"], s["pred_entities"], s["correct_entities"]) == (4, 6, 3)
    p, r = 3 / 6, 3 / 4
    assert s["precision"] == pytest.approx(p)
    assert s["recall"] == pytest.approx(r)
    assert s["f1"] == pytest.approx(2 * p * r / (p + r))
    assert s["accuracy"] == pytest.approx(7 / 10)
    assert s["per_type"]["LOC"]["precision"] == pytest.approx(1 / 2)
    assert s["per_type"]["LOC"]["recall"] == 1.0
    assert s["per_type"]["MISC"]["f1"] == 0.0
    assert s["per_type"]["PER"]["precision"] == pytest.approx(1 / 2)
    assert s["per_type"]["ORG"]["support"] == 1


def test_entities_do_not_cross_sentences():
    # joined, "B-PER | I-PER" would be one entity; split, they are two
    s = entity_scores([["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["I-PER", "O"]])
    assert s["true_entities"] == 2


def test_one_sentence_may_be_given_flat():
    assert entity_scores(["B-PER", "O"], ["B-PER", "O"])["f1"] == 1.0


def test_no_predictions_gives_zero_not_a_division_error():
    s = entity_scores([["B-PER"]], [["O"]])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 true sentences but 1"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0 has 2 true tags but 1"):
        entity_scores([["O", "O"]], [["O"]])


@pytest.mark.skipif(not (DATA / "conll2003").is_dir(), reason="shared data folder ../shared/"
                    "data/conll2003 is absent")
def test_entity_counts_of_the_conll_test_split_match_its_documentation():
    truth = [s.tags for s in read_conll(DATA / "conll2003" / "test.txt")]
    per_type = entity_scores(truth, truth)["per_type"]
    # the published CoNLL-2003 statistics (see SOURCE.md next to the data)
    assert {k: v["support"] for k, v in per_type.items()} == {
        "LOC": 1668, "MISC": 702, "ORG": 1661, "PER": 1617}


# --- perplexity -------------------------------------------------------------------------

def test_perplexity_is_exp_of_the_mean_nll():
    nll = np.array([0.5, 1.0, 2.5])
    assert perplexity(nll) == pytest.approx(math.exp(4 / 3))
    assert perplexity(1.25) == pytest.approx(math.exp(1.25))


def test_perplexity_of_a_uniform_guess_is_the_number_of_choices():
    assert perplexity(np.full(10, math.log(65))) == pytest.approx(65)


def test_perplexity_refuses_empty_and_infinite():
    with pytest.raises(ValueError, match="empty"):
        perplexity([])
    with pytest.raises(ValueError, match="non-finite"):
        perplexity([1.0, np.inf])
