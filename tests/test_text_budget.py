"""The time budget of the text models is a wall-clock contract: a run given ``max_time``
seconds returns within 5 % of them, its per-epoch evaluation (and the tagger's transition
scores, learned after training) included, with the weights of its best epoch."""

import time

import numpy as np
import pytest

from deltagrad.text import split_text, train_lm, train_tagger

BUDGET = 3.0  # seconds: many epochs of the small data below, a short test

FIRST = ["Anna", "Boris", "Carla", "Dmitri"]
CITIES = ["Paris", "Lagos", "Quito", "Hanoi"]


def sentences(n, rng):
    return [([rng.choice(FIRST), "lives", "in", rng.choice(CITIES), "."],
             ["B-PER", "O", "O", "B-LOC", "O"]) for _ in range(n)]


def timed(train):
    start = time.perf_counter()
    model = train()
    return model, time.perf_counter() - start


def test_a_language_model_run_ends_within_5_percent_of_its_budget_at_its_best_epoch():
    text = "".join(f"{w} sat on the {v}.\n" for w, v in zip(["cat", "dog", "cow"] * 40,
                                                            ["mat", "rug"] * 60))
    model, seconds = timed(lambda: train_lm(text, level="char", context=3, hidden=16,
                                            embed_dim=4, lr=0.01, batch_size=32, epochs=10**6,
                                            max_time=BUDGET, seed=0))
    assert 0.95 * BUDGET <= seconds <= 1.05 * BUDGET
    assert model.history.stop_reason == "max_time"
    losses = [h["valid_loss"] for h in model.info["history"]]
    assert len(losses) > 1 and model.info["best_epoch"] == 1 + int(np.argmin(losses))
    # the weights kept are the best epoch's: its validation loss, recomputed
    assert model.evaluate(split_text(text, 0.1)[1])["cross_entropy"] == pytest.approx(
        min(losses), rel=1e-4)


def test_a_tagger_run_ends_within_5_percent_of_its_budget_at_its_best_epoch():
    rng = np.random.default_rng(0)
    train, valid = sentences(60, rng), sentences(20, rng)
    tagger, seconds = timed(lambda: train_tagger(train, valid, hidden=8, word_dim=4,
                                                 casing_dim=2, affix_dim=2, epochs=10**6,
                                                 max_time=BUDGET, seed=0))
    assert 0.95 * BUDGET <= seconds <= 1.05 * BUDGET
    assert tagger.history.stop_reason == "max_time"
    f1 = [h["valid_f1"] for h in tagger.info["history"]]
    assert len(f1) > 1 and tagger.info["best_epoch"] == 1 + int(np.argmax(f1))
    # the epochs were scored before the transition scores were learned, in the budget too
    assert tagger.evaluate(valid, decode="viterbi")["f1"] == max(f1)
    assert tagger.info["crf"]["seconds"] < 0.05 * BUDGET
