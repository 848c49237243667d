"""The window NER tagger: casing features, constrained decoding, the network's gradients,
learning a synthetic task, and save/load round trips."""

import itertools
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.text import (
    CASINGS,
    NERTagger,
    Vocabulary,
    WindowTagger,
    affixes,
    allowed_transitions,
    casing,
    casing_ids,
    constrained_decode,
    normalize_word,
    read_conll,
    train_tagger,
)
from deltagrad.text.ner import _windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "conll2003"
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


# --- features ---------------------------------------------------------------------------

@pytest.mark.parametrize("word, expected", [
    ("the", "lower"), ("Paris", "title"), ("EU", "upper"), ("A", "upper"),
    ("McDonald", "mixed"), ("iPhone", "mixed"), ("1996", "numeric"), ("12.5", "has_digit"),
    ("B-52", "has_digit"), ("--", "punct"), (".", "punct"), ("é", "lower"), ("Élan", "title"),
])
def test_casing_classes(word, expected):
    assert casing(word) == expected


def test_casing_ids_index_the_casing_list_and_skip_padding():
    ids = casing_ids(["EU", "rejects", "German", "1996"])
    assert [CASINGS[i] for i in ids] == ["upper", "lower", "title", "numeric"]
    assert 0 not in ids and CASINGS[0] == "<pad>"


def test_normalize_word_lowercases_and_zeroes_digits():
    assert normalize_word("Sept-1996") == "sept-0000"
    assert normalize_word("EU") == "eu"


# --- decoding ---------------------------------------------------------------------------

def _valid(path):
    start, trans = allowed_transitions(TAGS)
    return start[path[0]] and all(trans[a, b] for a, b in itertools.pairwise(path))


def test_allowed_transitions_follow_bio():
    start, trans = allowed_transitions(TAGS)
    assert start.tolist() == [True, True, False, True, False]
    i_per = TAGS.index("I-PER")
    assert [TAGS[a] for a in np.flatnonzero(trans[:, i_per])] == ["B-PER", "I-PER"]
    # after I-LOC: anything but I-PER
    assert trans[TAGS.index("I-LOC")].tolist() == [True, True, False, True, True]


def test_constrained_decode_is_the_best_valid_path_by_brute_force():
    rng = np.random.default_rng(0)
    for n in (1, 2, 4):
        log_probs = np.log(rng.dirichlet(np.ones(len(TAGS)), size=n))
        paths = [p for p in itertools.product(range(len(TAGS)), repeat=n) if _valid(p)]
        best = max(paths, key=lambda p: log_probs[np.arange(n), p].sum())
        assert tuple(constrained_decode(log_probs, TAGS)) == best


def test_constrained_decode_with_learned_scores_is_the_best_valid_path_by_brute_force():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 4):
        log_probs = rng.normal(size=(n, len(TAGS)))
        start, trans, end = (rng.normal(size=len(TAGS)) * 2,
                             rng.normal(size=(len(TAGS), len(TAGS))) * 2,
                             rng.normal(size=len(TAGS)) * 2)
        trans[0, 2] = 50.0  # O -> I-PER stays forbidden whatever its learned score

        def score(p):
            return (start[p[0]] + log_probs[np.arange(n), p].sum() + end[p[-1]]
                    + sum(trans[a, b] for a, b in itertools.pairwise(p)))

        paths = [p for p in itertools.product(range(len(TAGS)), repeat=n) if _valid(p)]
        best = max(paths, key=score)
        assert tuple(constrained_decode(log_probs, TAGS, start, trans, end)) == best
        # each score alone is taken into account too
        only_end = max(paths, key=lambda p: log_probs[np.arange(n), p].sum() + end[p[-1]])
        assert tuple(constrained_decode(log_probs, TAGS, end=end)) == only_end


def test_constrained_decode_repairs_an_orphan_i_tag():
    # greedy would say O, I-PER; the best valid sequence is B-PER, I-PER here
    lp = np.log(np.array([[0.4, 0.35, 0.05, 0.15, 0.05], [0.1, 0.05, 0.8, 0.03, 0.02]]))
    assert [TAGS[i] for i in lp.argmax(1)] == ["O", "I-PER"]
    assert [TAGS[i] for i in constrained_decode(lp, TAGS)] == ["B-PER", "I-PER"]
    assert constrained_decode(np.zeros((0, 5)), TAGS).shape == (0,)


# --- the network ------------------------------------------------------------------------

def test_window_tagger_shapes_and_gradients():
    rng = np.random.default_rng(0)
    net = WindowTagger(20, 5, radius=1, word_dim=3, casing_dim=2, hidden=4, rng=rng)
    assert net.mlp.in_features == 3 * (3 + 2)
    words, cases = rng.integers(0, 20, (6, 3)), rng.integers(0, len(CASINGS), (6, 3))
    words[0] = [4, 4, 4]  # a word repeated inside a window: its gradient rows must add up
    assert net(words, cases).shape == (6, 5)
    # every weight's gradient, embeddings included, against central differences in float64
    net.to(np.float64)
    target = rng.integers(0, 5, 6)

    def loss() -> float:
        return dg.nn.functional.cross_entropy(net(words, cases), target)

    loss().backward()
    eps = 1e-6
    for name, p in net.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.reshape(-1)
        picks = rng.choice(flat.size, size=min(8, flat.size), replace=False)
        if name == "words.weight":
            picks = np.concatenate([picks, 4 * 3 + np.arange(3)])  # the repeated word's row
        for j in picks:
            old = flat[j]
            flat[j] = old + eps
            up = loss().item()
            flat[j] = old - eps
            down = loss().item()
            flat[j] = old
            assert grad[j] == pytest.approx((up - down) / (2 * eps), abs=1e-7), name


def test_affixes_are_marked_prefixes_and_suffixes_of_the_normal_form():
    assert affixes("Germany") == ("ger-", "-any")
    assert affixes("EU") == ("eu-", "-eu") and affixes("1996", 2) == ("00-", "-00")


def test_affix_windows_add_two_vectors_per_word_with_exact_gradients():
    rng = np.random.default_rng(3)
    net = WindowTagger(20, 5, radius=1, word_dim=3, casing_dim=2, hidden=4, num_affixes=7,
                       affix_dim=2, rng=rng)
    assert net.mlp.in_features == 3 * (3 + 2 + 2 * 2)
    assert net.config()["num_affixes"] == 7 and net.config()["affix_dim"] == 2
    words, cases = rng.integers(0, 20, (4, 3)), rng.integers(0, len(CASINGS), (4, 3))
    fixes = rng.integers(0, 7, (4, 6))
    fixes[0] = 5  # one affix id repeated within a window: its rows add up
    net.to(np.float64)
    target = rng.integers(0, 5, 4)
    dg.nn.functional.cross_entropy(net(words, cases, fixes), target).backward()
    table = net.affixes.weight
    for j in (5 * 2, 5 * 2 + 1, 0, 13):
        old = table.data.reshape(-1)[j]
        table.data.reshape(-1)[j] = old + 1e-6
        up = dg.nn.functional.cross_entropy(net(words, cases, fixes), target).item()
        table.data.reshape(-1)[j] = old - 1e-6
        down = dg.nn.functional.cross_entropy(net(words, cases, fixes), target).item()
        table.data.reshape(-1)[j] = old
        assert table.grad.reshape(-1)[j] == pytest.approx((up - down) / 2e-6, abs=1e-7)
    with pytest.raises(ValueError, match="affix_windows"):
        net(words, cases)


def test_affix_features_of_a_sentence_follow_its_windows():
    words = Vocabulary.build(["paris", "in"])
    fixes = Vocabulary.build([a for w in ["Paris", "in"] for a in affixes(w)])
    _, _, affix_windows = _windows([["in", "Paris"]], words, 1, fixes)
    pad, ids = fixes.pad_id, [fixes.id(a) for w in ["in", "Paris"] for a in affixes(w)]
    assert affix_windows.tolist() == [[pad, pad, *ids], [*ids, pad, pad]]


def test_a_tagger_with_affixes_learns_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    tagger = train_tagger(synthetic(150, rng), synthetic(30, rng), epochs=4, word_dim=8,
                          casing_dim=3, affix_dim=4, hidden=24, lr=0.01, batch_size=32, seed=0)
    assert tagger.affixes is not None and "-ris" in tagger.affixes
    assert tagger.evaluate(synthetic(40, np.random.default_rng(1)))["f1"] > 0.9
    again = NERTagger.load(tagger.save(tmp_path / "ner"))
    assert again.affixes == tagger.affixes
    sents = [["Unseen", "words", "in", "Oslo"]]
    np.testing.assert_array_equal(tagger.log_probs(sents)[0], again.log_probs(sents)[0])


def test_input_dropout_and_weight_decay_train_save_and_load(tmp_path):
    rng = np.random.default_rng(0)
    train, valid = synthetic(150, rng), synthetic(30, rng)
    settings = {"epochs": 4, "word_dim": 8, "casing_dim": 3, "affix_dim": 4, "hidden": 24,
                "lr": 0.01, "batch_size": 32, "seed": 0}
    plain = train_tagger(train, valid, **settings, embed_dropout=0.0, weight_decay=0.0,
                         optimizer="adam")
    tagger = train_tagger(train, valid, **settings, embed_dropout=0.3, weight_decay=2.0,
                          optimizer="adamw")
    assert tagger.info["training"]["embed_dropout"] == 0.3
    assert tagger.info["training"]["weight_decay"] == 2.0
    assert tagger.module.embed_dropout.p == 0.3 and plain.module.embed_dropout is None
    # the decay shrinks the weights that plain training leaves larger
    table = tagger.module.words.weight.numpy()
    assert np.linalg.norm(table) < 0.8 * np.linalg.norm(plain.module.words.weight.numpy())
    assert tagger.evaluate(synthetic(40, np.random.default_rng(1)))["f1"] > 0.9
    again = NERTagger.load(tagger.save(tmp_path / "ner"))
    assert again.module.config() == tagger.module.config()
    sents = [["Unseen", "words", "in", "Oslo"]]  # the dropout is off in a loaded tagger
    np.testing.assert_array_equal(tagger.log_probs(sents)[0], again.log_probs(sents)[0])
    with pytest.raises(ValueError, match="embed_dropout"):
        train_tagger(train, embed_dropout=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        train_tagger(train, weight_decay=-0.1)


def test_window_tagger_refuses_bad_settings():
    with pytest.raises(ValueError, match="radius"):
        WindowTagger(10, 3, radius=-1)
    with pytest.raises(ValueError, match="hidden"):
        WindowTagger(10, 3, hidden="a,b")


# --- training on synthetic sentences ----------------------------------------------------

FIRST = ["Anna", "Boris", "Carla", "Dmitri", "Elena", "Farid"]
CITIES = ["Paris", "Lagos", "Quito", "Hanoi", "Oslo", "Lima"]


def synthetic(n, rng):
    """'<first> <last> lives in <city> .': person and place are known from the context."""
    sents = []
    for _ in range(n):
        first, city = rng.choice(FIRST), rng.choice(CITIES)
        last = rng.choice(["Smith", "Ng", "Okafor", "Silva"])
        verb = rng.choice(["lives", "works", "sleeps"])
        sents.append(([first, last, verb, "in", city, "."],
                      ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]))
    return sents


@pytest.fixture(scope="module")
def tagger():
    rng = np.random.default_rng(0)
    return train_tagger(synthetic(150, rng), synthetic(30, rng), epochs=6, word_dim=8,
                        casing_dim=3, hidden=24, lr=0.01, batch_size=32, seed=0)


def test_learns_a_synthetic_tagging_task(tagger):
    scores = tagger.evaluate(synthetic(40, np.random.default_rng(1)))
    assert scores["f1"] == 1.0 and scores["accuracy"] == 1.0
    assert tagger.tag("Elena Ng works in Oslo .") == [
        ("Elena", "B-PER"), ("Ng", "I-PER"), ("works", "O"), ("in", "O"), ("Oslo", "B-LOC"),
        (".", "O")]
    assert tagger.tags[0] == "O" and sorted(tagger.tags) == ["B-LOC", "B-PER", "I-PER", "O"]
    assert [h["epoch"] for h in tagger.info["history"]] == list(range(1, 7))
    assert 1 <= tagger.info["best_epoch"] <= 6


def test_unknown_words_go_through_unk(tagger):
    # a name never seen in training, in a familiar frame, still comes out as a person
    tags = [t for _, t in tagger.tag("Zygmunt Smith lives in Paris .")]
    assert tags[1:] == ["I-PER", "O", "O", "B-LOC", "O"]


def test_save_and_load_give_the_same_predictions(tagger, tmp_path):
    folder = tagger.save(tmp_path / "ner")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    again = NERTagger.load(folder)
    sents = [s for s, _ in synthetic(10, np.random.default_rng(5))] + [["Unseen", "words"]]
    for a, b in zip(tagger.log_probs(sents), again.log_probs(sents)):
        np.testing.assert_array_equal(a, b)
    assert again.words == tagger.words and again.tags == tagger.tags
    assert again.info["history"] == tagger.info["history"]
    from safetensors.numpy import load_file  # the weights are plain safetensors
    assert set(load_file(folder / "model.safetensors")) == set(tagger.module.state_dict())


@pytest.mark.parametrize("damage", [
    lambda meta: meta.pop("tags"),
    lambda meta: meta["network"].update(hidden="wide"),
    lambda meta: meta["words"].clear(),
], ids=["missing-key", "bad-setting", "empty-vocabulary"])
def test_load_refuses_a_damaged_config_in_one_line(tagger, tmp_path, damage):
    import json

    folder = tagger.save(tmp_path / "ner")
    config = json.loads((folder / "config.json").read_text())
    damage(config["metadata"])
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(dg.io.ModelFileError, match="damaged NER tagger config"):
        NERTagger.load(folder)


def test_load_refuses_other_folders(tmp_path):
    dg.save(dg.nn.Linear(2, 2), tmp_path / "lin")
    with pytest.raises(ValueError, match="not a NER tagger folder"):
        NERTagger.load(tmp_path / "lin")
    with pytest.raises(ValueError, match="no such model folder"):
        NERTagger.load(tmp_path / "missing")


def test_train_tagger_checks_its_inputs():
    good = synthetic(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        train_tagger([(["a", "b"], ["O"])])
    with pytest.raises(TypeError, match="not one str"):
        train_tagger([("a b", ["O", "O"])])
    with pytest.raises(ValueError, match="no training sentences"):
        train_tagger([])
    with pytest.raises(ValueError, match="epochs"):
        train_tagger(good, epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        train_tagger(good, optimizer="lbfgs")
    with pytest.raises(ValueError, match="unk_replace"):
        train_tagger(good, unk_replace=1.0)
    with pytest.raises(ValueError, match="decode"):
        train_tagger(good, decode="beam")


def test_a_time_budget_stops_training(tagger):
    rng = np.random.default_rng(0)
    fast = train_tagger(synthetic(50, rng), epochs=500, max_time=0.3, hidden=8, word_dim=4)
    assert len(fast.info["history"]) < 500
    assert fast.info["seconds"] < 5


@pytest.mark.skipif(not DATA.is_dir(), reason="shared data folder ../shared/data/conll2003 "
                    "is absent")
def test_a_few_hundred_conll_sentences_are_learned_well_above_chance(tmp_path):
    lines = (DATA / "train.txt").read_text().split("\n")
    (tmp_path / "head.txt").write_text("\n".join(lines[:6000]))
    sents = read_conll(tmp_path / "head.txt")
    train, held = sents[:-60], sents[-60:]
    tagger = train_tagger(train, epochs=4, hidden=64, word_dim=20, seed=0, lr=3e-3,
                          batch_size=64)
    fitted = tagger.evaluate(train)
    always_o = sum(t == "O" for _, ts in held for t in ts) / sum(len(ts) for _, ts in held)
    heldout = tagger.evaluate(held)
    assert fitted["f1"] > 0.6
    assert heldout["accuracy"] > always_o and heldout["f1"] > 0.2
