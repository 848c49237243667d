"""Windows around tokens (padded at sentence edges) and (context, target) pairs."""

import numpy as np
import pytest

from deltagrad.text import ngram_dataset, sentence_windows, sliding_windows, window_positions


def test_windows_are_padded_at_both_edges():
    w = sliding_windows([11, 12, 13, 14], radius=2, pad_id=0)
    assert w.tolist() == [[0, 0, 11, 12, 13],
                          [0, 11, 12, 13, 14],
                          [11, 12, 13, 14, 0],
                          [12, 13, 14, 0, 0]]


def test_a_sentence_shorter_than_the_window():
    assert sliding_windows([7], radius=2, pad_id=-1).tolist() == [[-1, -1, 7, -1, -1]]
    assert sliding_windows([], radius=1, pad_id=0).shape == (0, 3)
    assert sliding_windows([3, 4], radius=0, pad_id=0).tolist() == [[3], [4]]


def test_windows_never_cross_sentence_boundaries():
    w = sentence_windows([[1, 2, 3], [4], [5, 6]], radius=1, pad_id=0)
    assert w.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 0],
                          [0, 4, 0],
                          [0, 5, 6], [5, 6, 0]]
    assert sentence_windows([], radius=2, pad_id=0).shape == (0, 5)


def test_window_positions_gather_the_same_windows():
    rng = np.random.default_rng(0)
    sents = [rng.integers(1, 50, n).tolist() for n in (1, 4, 2, 7, 3)]
    pos = window_positions([len(s) for s in sents], radius=2)
    flat = np.array([i for s in sents for i in s] + [0])  # pad id appended: -1 picks it
    np.testing.assert_array_equal(flat[pos], sentence_windows(sents, radius=2, pad_id=0))


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="radius"):
        sliding_windows([1], radius=-1, pad_id=0)
    with pytest.raises(ValueError, match="1-D sequence of integers"):
        sliding_windows([[1, 2]], radius=1, pad_id=0)
    with pytest.raises(ValueError, match="1-D sequence of integers"):
        sliding_windows([1.5], radius=1, pad_id=0)
    with pytest.raises(ValueError, match="lengths"):
        window_positions([2, -1], radius=1)


def test_ngram_dataset_pairs_each_token_with_the_ids_before_it():
    X, y = ngram_dataset([5, 6, 7, 8], context=3, pad_id=0)
    assert X.tolist() == [[0, 0, 0], [0, 0, 5], [0, 5, 6], [5, 6, 7]]
    assert y.tolist() == [5, 6, 7, 8]
    assert X.flags["C_CONTIGUOUS"]
    X1, y1 = ngram_dataset([9], context=1, pad_id=2)
    assert (X1.tolist(), y1.tolist()) == ([[2]], [9])
    X0, y0 = ngram_dataset([], context=2, pad_id=0)
    assert X0.shape == (0, 2) and y0.shape == (0,)
    with pytest.raises(ValueError, match="context"):
        ngram_dataset([1, 2], context=0, pad_id=0)
