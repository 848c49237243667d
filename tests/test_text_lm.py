"""The feed-forward language model: network, training on synthetic text, evaluation against
an independent softmax, the n-gram baseline, sampling, save/load, word level."""

import math
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.text import KneserNeyLM, tokenize
from deltagrad.text.lm import LEVEL_DEFAULTS, FeedForwardLM, LanguageModel, split_text, train_lm

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare"
CYCLE = "the cat sat on a mat. " * 40


@pytest.fixture(scope="module")
def char_lm():
    return train_lm(CYCLE, level="char", context=4, epochs=8, hidden=32, embed_dim=6,
                    lr=0.01, batch_size=64, seed=0)


def test_network_shapes_and_direct_connections():
    rng = np.random.default_rng(0)
    net = FeedForwardLM(30, context=5, embed_dim=4, hidden=(16, 8), rng=rng)
    assert net(np.zeros((3, 5), np.int64)).shape == (3, 30)
    assert [k for k in net.state_dict()] == ["embedding.weight", "mlp.layers.0.weight",
                                             "mlp.layers.0.bias", "mlp.layers.2.weight",
                                             "mlp.layers.2.bias", "mlp.layers.4.weight",
                                             "mlp.layers.4.bias"]
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        net(np.zeros((3, 4), np.int64))
    direct = FeedForwardLM(30, context=5, embed_dim=4, hidden=16, direct=True, rng=rng)
    assert direct.direct.weight.shape == (30, 20)
    # the direct map starts at zero: at first it changes nothing
    x = np.arange(10).reshape(2, 5)
    np.testing.assert_array_equal(direct(x).numpy(), direct.mlp(
        direct.embedding(x).reshape(2, -1)).numpy())


def test_tied_output_layer_is_the_embedding_table():
    rng = np.random.default_rng(0)
    net = FeedForwardLM(30, context=2, embed_dim=4, hidden=16, tie_embeddings=True, rng=rng)
    assert net.mlp.out_features == 4 and net.output_bias.shape == (30,)
    assert net.config()["tie_embeddings"] is True
    dg.nn.init.normal_(net.output_bias, std=1.0, rng=rng)
    x = np.array([[1, 2], [3, 3]])
    with dg.no_grad():
        h = net.mlp(net.embedding(x).reshape(2, -1)).numpy()
    expected = h @ net.embedding.weight.numpy().T + net.output_bias.numpy()
    np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    again = FeedForwardLM(**net.config())
    assert sorted(again.state_dict()) == sorted(net.state_dict())


def test_embedding_dropout_acts_while_training_only():
    rng = np.random.default_rng(0)
    plain = FeedForwardLM(30, context=4, embed_dim=8, hidden=16, rng=rng)
    drop = FeedForwardLM(**{**plain.config(), "embed_dropout": 0.5})
    drop.load_state_dict(plain.state_dict())
    x = rng.integers(0, 30, (64, 4))
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), plain(x).numpy())
    drop.train()
    assert not np.allclose(drop(x).numpy(), plain(x).numpy())
    assert drop.config()["embed_dropout"] == 0.5


@pytest.mark.parametrize("direct, tied, activation", [
    (True, False, "tanh"), (False, True, "tanh"), (True, True, "tanh"), (True, False, "relu"),
    (False, True, "gelu")])
def test_network_gradients_against_central_differences(direct, tied, activation):
    rng = np.random.default_rng(1)
    net = FeedForwardLM(7, context=3, embed_dim=2, hidden=5, direct=direct,
                        tie_embeddings=tied, activation=activation, rng=rng)
    net.to(np.float64)
    nn_init = dg.nn.init
    for p in (net.direct.weight if direct else None, net.output_bias if tied else None):
        if p is not None:  # not zero, so its gradient matters
            nn_init.normal_(p, std=0.3, rng=rng)
    X, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, 5)
    X[0] = [2, 2, 2]

    def loss():
        return dg.nn.functional.cross_entropy(net(X), y)

    loss().backward()
    for name, p in net.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.reshape(-1)
        for j in rng.choice(flat.size, size=min(8, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + 1e-6
            up = loss().item()
            flat[j] = old - 1e-6
            down = loss().item()
            flat[j] = old
            assert grad[j] == pytest.approx((up - down) / 2e-6, abs=1e-7), name


def test_split_text_cuts_at_a_line_break():
    train, valid = split_text("line one\nline two\nline three\nline four\n", 0.25)
    assert train + valid == "line one\nline two\nline three\nline four\n"
    assert train.endswith("\n") and valid == "line four\n"
    assert split_text("abcdefghij", 0.2) == ("abcdefgh", "ij")  # no line break: exact cut
    with pytest.raises(ValueError, match="valid_fraction"):
        split_text("abc", 1.0)


def test_learns_a_repetitive_text(char_lm):
    assert char_lm.level == "char" and char_lm.context == 4
    history = char_lm.info["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    scores = char_lm.evaluate(CYCLE[:200])
    assert scores["cross_entropy"] < 0.25
    # greedy continuation reproduces the cycle
    assert char_lm.sample(30, prompt="the ", temperature=0) == ("the " + CYCLE[4:40])[:34]


def test_evaluate_is_the_mean_nll_of_an_independent_softmax(char_lm):
    text = "a cat sat on the mat."
    scores = char_lm.evaluate(text)
    X, y = char_lm.dataset(text)
    logits = char_lm.module(X).numpy().astype(np.float64)
    log_z = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    nll = log_z - logits[np.arange(len(y)), y]
    assert scores["tokens"] == len(text)
    assert scores["cross_entropy"] == pytest.approx(nll.mean(), rel=1e-5)
    assert scores["perplexity"] == pytest.approx(math.exp(nll.mean()), rel=1e-5)
    assert scores["bits"] == pytest.approx(nll.mean() / math.log(2), rel=1e-5)


def test_ngram_baseline_uses_the_same_context_and_vocabulary(char_lm):
    train, valid = CYCLE[:600], "on a mat. the cat"
    base = char_lm.ngram_baseline(train, valid)
    kn = KneserNeyLM(4, len(char_lm.vocab)).fit(*char_lm.dataset(train))
    assert base["cross_entropy"] == pytest.approx(kn.cross_entropy(*char_lm.dataset(valid)))
    assert base["perplexity"] == pytest.approx(math.exp(base["cross_entropy"]))


def test_sampling_is_reproducible_per_seed(char_lm):
    a = char_lm.sample(60, seed=3, temperature=1.5)
    assert a == char_lm.sample(60, seed=3, temperature=1.5)
    assert a != char_lm.sample(60, seed=4, temperature=1.5)
    assert len(a) == 60 and set(a) <= set(CYCLE)
    greedy = char_lm.sample(20, prompt="cat", temperature=0)
    assert char_lm.sample(20, prompt="cat", top_k=1, seed=9) == greedy
    assert greedy.startswith("cat")
    with pytest.raises(ValueError, match="temperature"):
        char_lm.sample(5, temperature=-1)


def test_save_and_load_round_trip(char_lm, tmp_path):
    folder = char_lm.save(tmp_path / "lm")
    again = LanguageModel.load(folder)
    assert again.vocab == char_lm.vocab and again.context == char_lm.context
    assert again.evaluate(CYCLE[:100]) == char_lm.evaluate(CYCLE[:100])
    assert again.sample(40, seed=1) == char_lm.sample(40, seed=1)
    assert again.info["training"]["context"] == 4
    dg.save(dg.nn.Linear(1, 1), tmp_path / "other")
    with pytest.raises(ValueError, match="not a language model folder"):
        LanguageModel.load(tmp_path / "other")


def test_word_level_model():
    text = ("the king is dead . long live the king .\n" * 30) + "a rare word .\n"
    # no dropout or decay: this tiny text is to be learned by heart (tied, hence 32 numbers),
    # so nothing is held out to pick an earlier epoch
    lm = train_lm(text, level="word", context=3, epochs=20, hidden=32, embed_dim=32, lr=0.01,
                  dropout=0.0, embed_dropout=0.0, weight_decay=0.0,
                  batch_size=256, valid_fraction=0, seed=0)
    assert lm.level == "word" and lm.lowercase
    assert "king" in lm.vocab and "rare" not in lm.vocab  # seen once: below min_freq 2
    assert lm.encode("The KING rare").tolist() == [lm.vocab.id("the"), lm.vocab.id("king"),
                                                   lm.vocab.unk_id]
    words = tokenize(lm.sample(12, seed=0), lowercase=True)
    assert words and all(w in lm.vocab for w in words)
    assert lm.sample(5, prompt="long live the", temperature=0).startswith("long live the king")
    # a new line or punctuation joins the prompt without a space
    assert lm.sample(3, prompt="long live the king", temperature=0).startswith(
        "long live the king.\nthe")
    assert lm.sample(2, prompt="the king is dead .", temperature=0).startswith(
        "the king is dead . long")


@pytest.mark.parametrize("level", ["char", "word"])
def test_settings_left_out_take_the_levels_defaults(level):
    lm = train_lm(CYCLE, level=level, hidden=8, embed_dim=8, valid_fraction=0, seed=0)
    given = {"hidden": [8], "embed_dim": 8}
    for name, default in LEVEL_DEFAULTS[level].items():
        expected = given.get(name, list(default) if name == "hidden" else default)
        assert lm.info["training"][name] == expected, name
    assert len(lm.info["history"]) == LEVEL_DEFAULTS[level]["epochs"]
    assert lm.module.config()["tie_embeddings"] == LEVEL_DEFAULTS[level]["tie_embeddings"]


def test_train_lm_checks_its_inputs():
    with pytest.raises(ValueError, match="level"):
        train_lm("abc", level="byte")
    with pytest.raises(TypeError, match="str"):
        train_lm(["abc"])
    with pytest.raises(ValueError, match="context"):
        train_lm("abcabc", context=0)
    with pytest.raises(ValueError, match="min_freq"):
        train_lm("abcabc", min_freq=0)
    with pytest.raises(ValueError, match="no tokens"):
        train_lm("", valid_fraction=0)
    with pytest.raises(ValueError, match="weight_decay"):
        train_lm("abcabc", weight_decay=-1.0)
    with pytest.raises(ValueError, match="embed_dropout"):
        train_lm("abcabc", embed_dropout=1.0)
    with pytest.raises(ValueError, match=r"train_lm: activation must be one of .*'swish'"):
        train_lm("abcabc", activation="swish")


def test_regularisation_settings_reach_the_network_and_the_optimiser(tmp_path):
    settings = {"level": "char", "context": 3, "epochs": 3, "hidden": 16, "embed_dim": 8,
                "lr": 0.01, "batch_size": 64, "seed": 0}
    plain = train_lm(CYCLE, **settings, optimizer="adam", weight_decay=0.0)
    decayed = train_lm(CYCLE, **settings, optimizer="adam", weight_decay=0.5)
    assert plain.info["training"]["weight_decay"] == 0.0
    assert decayed.info["training"]["weight_decay"] == 0.5

    def norm(m):
        return sum(float((p.numpy() ** 2).sum()) for p in m.module.parameters())

    assert norm(decayed) < 0.8 * norm(plain)
    # a decay of 0 is no decay, even for AdamW (whose own default is 0.01)
    undecayed = train_lm(CYCLE, **settings, optimizer="adamw", weight_decay=0.0)
    for a, b in zip(plain.module.parameters(), undecayed.module.parameters(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    tied = train_lm(CYCLE, **settings, tie_embeddings=True, embed_dropout=0.1,
                    activation="tanh", out_dir=tmp_path / "tied")
    again = LanguageModel.load(tmp_path / "tied")
    assert again.module.config() == tied.module.config()
    assert again.module.config()["tie_embeddings"] and again.module.embed_dropout.p == 0.1
    assert [type(m).__name__ for m in again.module.mlp.layers][1] == "Tanh"
    assert again.evaluate(CYCLE[:100]) == tied.evaluate(CYCLE[:100])


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder ../shared/data/"
                    "tinyshakespeare is absent")
def test_a_few_hundred_lines_of_shakespeare():
    lines = (DATA / "input.txt").read_text().split("\n")[:300]
    text = "\n".join(lines) + "\n"
    lm = train_lm(text, level="char", context=6, epochs=3, hidden=64, lr=5e-3, seed=0)
    _, valid = split_text(text, 0.1)
    scores = lm.evaluate(valid)
    assert scores["cross_entropy"] < math.log(len(lm.vocab)) - 0.8  # far below uniform
    assert lm.info["best_epoch"] in (1, 2, 3)
