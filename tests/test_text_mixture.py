"""The neural + Kneser-Ney mixture: the weight against a brute-force search of the held-out
likelihood, the mixture's probabilities against their definition, the tuning reading held-out
text only (never the text it is scored on); ``lm evaluate --mix`` in test_text_cli.py."""

import numpy as np
import pytest

from deltagrad.text import KneserNeyLM
from deltagrad.text.lm import LanguageModel, split_text, train_lm
from deltagrad.text.mixture import mixture_nll, mixture_weight

TEXT = "".join(f"the {w} sat on the {v}.\n" for w, v in
               zip(["cat", "dog", "rat", "cow"] * 30, ["mat", "log", "hat", "mat", "rug"] * 24))


@pytest.fixture(scope="module")
def lm():
    train, _ = split_text(TEXT, 0.2)
    return train_lm(train, level="char", context=3, epochs=3, hidden=16, embed_dim=4,
                    lr=0.02, batch_size=64, valid_fraction=0, seed=0)


def test_the_weight_maximises_the_held_out_likelihood():
    rng = np.random.default_rng(0)
    net, kn = rng.gamma(2.0, 1.0, 500), rng.gamma(2.0, 1.0, 500)
    grid = np.linspace(0, 1, 100001)
    # the oracle: the held-out mean log-likelihood at every weight on a fine grid
    ll = [np.mean(np.log(w * np.exp(-net) + (1 - w) * np.exp(-kn))) for w in grid[::100]]
    best = grid[::100][int(np.argmax(ll))]
    assert mixture_weight(net, kn, iterations=500) == pytest.approx(best, abs=2e-3)
    # one model better on every token: all the weight goes to it
    assert mixture_weight(net, net + 1.0, iterations=200) > 0.99


def test_the_mixture_is_its_definition():
    rng = np.random.default_rng(1)
    net, kn = rng.gamma(2.0, 1.0, 50), rng.gamma(2.0, 1.0, 50)
    for w in (0.0, 0.3, 1.0):
        expect = -np.log(w * np.exp(-net) + (1 - w) * np.exp(-kn))
        np.testing.assert_allclose(mixture_nll(net, kn, w), expect, rtol=1e-12)
    # far in the tails, where e^-nll underflows, the log-sum-exp stays finite
    assert np.isfinite(mixture_nll(np.array([900.0]), np.array([1000.0]), 0.5)).all()
    with pytest.raises(ValueError, match="weight"):
        mixture_nll(net, kn, 1.5)
    with pytest.raises(ValueError, match="same shape"):
        mixture_weight(net, kn[:3])


def test_tuning_never_reads_the_text_it_is_scored_on(lm, monkeypatch):
    train, held_out = split_text(TEXT, 0.2)
    tune, test = split_text(held_out, 0.5)
    read = []
    encode = LanguageModel.encode
    monkeypatch.setattr(LanguageModel, "encode", lambda self, text: read.append(text) or
                        encode(self, text))
    mix = lm.tune_mixture(train, tune)
    assert read and test not in read and all(t in (train, tune) for t in read)
    assert 0 <= mix["weight"] <= 1 and 1 <= mix["kn_context"] <= lm.context
    # what the test text holds changes nothing chosen
    other = lm.evaluate_mixture(train, "the cow sat on the rug.\n", mix)
    again = lm.evaluate_mixture(train, test, mix)
    assert other["weight"] == again["weight"] == mix["weight"]
    assert again["mixture"]["tokens"] == len(test)


def test_scores_match_the_two_models_counted_apart(lm):
    train, held_out = split_text(TEXT, 0.2)
    mix = {"weight": 0.25, "kn_context": 2, "tune_tokens": 0}
    scores = lm.evaluate_mixture(train, held_out, mix)
    X, y = lm.dataset(held_out)
    net = lm.nll(X, y)
    ids = lm.encode(train)
    from deltagrad.text import ngram_dataset
    kn = KneserNeyLM(2, len(lm.vocab)).fit(*ngram_dataset(ids, 2, lm.vocab.pad_id))
    kn_nll = -kn.log_prob(X, y)
    assert scores["model"]["cross_entropy"] == pytest.approx(net.mean())
    assert scores["kneser_ney"]["cross_entropy"] == pytest.approx(kn_nll.mean())
    expect = -np.log(0.25 * np.exp(-net) + 0.75 * np.exp(-kn_nll)).mean()
    assert scores["mixture"]["cross_entropy"] == pytest.approx(expect)


def test_ngram_table_covers_each_context(lm):
    train, held_out = split_text(TEXT, 0.2)
    table = lm.ngram_table(train, held_out, contexts=[1, 2, 5])
    assert list(table) == [1, 2, 5]
    assert table[1]["cross_entropy"] > table[2]["cross_entropy"]  # the text is regular
    assert table[2] == pytest.approx(lm.evaluate_mixture(train, held_out, {
        "weight": 0.0, "kn_context": 2, "tune_tokens": 0})["mixture"])
