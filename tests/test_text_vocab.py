"""Tokenizers, detokenize, and Vocabulary: ids, <unk>, min_freq, JSON round trips."""

import json

import numpy as np
import pytest

from deltagrad.text import PAD, UNK, Vocabulary, char_tokenize, detokenize, tokenize


def test_tokenize_splits_words_and_punctuation():
    assert tokenize("Don't stop, Romeo! 42 o'clock") == \
        ["Don't", "stop", ",", "Romeo", "!", "42", "o'clock"]
    assert tokenize("ABC def", lowercase=True) == ["abc", "def"]
    assert tokenize("a\n\nb", newlines=True) == ["a", "\n", "\n", "b"]
    assert tokenize("   ") == []


def test_char_tokenize_keeps_every_character():
    assert char_tokenize("Hi, you\n") == list("Hi, you\n")
    assert char_tokenize("AbC", lowercase=True) == ["a", "b", "c"]


def test_detokenize_inverts_tokenize_for_ordinary_prose():
    text = "To be, or not to be: that is the question!\nWhether (in the mind) 'tis nobler"
    assert detokenize(tokenize(text, newlines=True)) == text.replace("'tis", "' tis")
    assert detokenize(char_tokenize(text), level="char") == text
    with pytest.raises(ValueError, match="level"):
        detokenize(["a"], level="byte")


def test_tokenizers_refuse_non_strings():
    with pytest.raises(TypeError, match="str"):
        tokenize(["a"])
    with pytest.raises(TypeError, match="str"):
        char_tokenize(3)


def test_build_orders_by_frequency_then_alphabet_after_specials():
    vocab = Vocabulary.build(["b", "a", "c", "a", "b", "a", "d"])
    assert vocab.tokens == [PAD, UNK, "a", "b", "c", "d"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.counts == {"a": 3, "b": 2, "c": 1, "d": 1}
    assert len(vocab) == 6 and "a" in vocab and "z" not in vocab


def test_min_freq_and_max_size():
    words = ["a", "a", "a", "b", "b", "c"]
    assert Vocabulary.build(words, min_freq=2).tokens == [PAD, UNK, "a", "b"]
    assert Vocabulary.build(words, max_size=3).tokens == [PAD, UNK, "a"]
    assert Vocabulary.build(words, pad=None, extra=["<s>"]).tokens == [UNK, "<s>", "a", "b", "c"]


def test_encode_maps_unknown_words_to_unk_and_decode_inverts():
    vocab = Vocabulary.build(["the", "cat", "sat"])
    ids = vocab.encode(["the", "dog", "sat"])
    assert ids.dtype == np.int64
    assert ids.tolist() == [vocab.id("the"), vocab.unk_id, vocab.id("sat")]
    assert vocab.decode(ids) == ["the", UNK, "sat"]
    assert vocab.decode(np.array([[2, 3]])) == [vocab.token(2), vocab.token(3)]


def test_without_unk_an_unknown_token_is_an_error():
    vocab = Vocabulary.build(list("abc"), unk=None)
    assert vocab.unk_id is None
    with pytest.raises(ValueError, match="unknown token 'z'"):
        vocab.encode(["a", "z"])
    with pytest.raises(ValueError, match="unknown token 'z'"):
        vocab.id("z")


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="appears twice"):
        Vocabulary(["<pad>", "<unk>", "a", "a"])
    with pytest.raises(ValueError, match="pad token"):
        Vocabulary(["a"], unk=None)
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build(["a"], min_freq=0)
    with pytest.raises(TypeError, match="one str"):
        Vocabulary.build("abc")
    vocab = Vocabulary.build(["a"])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        vocab.decode([5])
    with pytest.raises(ValueError, match="out of range"):
        vocab.token(-1)
    with pytest.raises(TypeError, match="not one str"):
        vocab.encode("a")


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocabulary.build(["ä", "b", "b", "ç", "ç", "ç", "\n"] + ["naïve"], min_freq=1)
    path = tmp_path / "vocab.json"
    vocab.save(path)
    again = Vocabulary.load(path)
    assert again == vocab
    assert again.tokens == vocab.tokens and again.counts == vocab.counts
    assert again.encode(["ç", "?"]).tolist() == vocab.encode(["ç", "?"]).tolist()
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][:2] == [PAD, UNK]
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_load_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Vocabulary.load(bad)
    bad.write_text('{"words": []}')
    with pytest.raises(ValueError, match="'tokens' list"):
        Vocabulary.load(bad)
