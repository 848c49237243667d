"""Sampling from a language model: temperature, top-k, banned ids, reproducible seeds."""

import numpy as np
import pytest

from deltagrad.text import generate, sample_next


def test_temperature_zero_is_argmax():
    rng = np.random.default_rng(0)
    assert sample_next([0.1, 3.0, 2.9], rng, temperature=0) == 1
    assert sample_next([0.1, 3.0, 2.9], rng, temperature=0, banned=[1]) == 2


def test_top_k_draws_only_from_the_k_largest():
    rng = np.random.default_rng(0)
    logits = np.array([1.0, 4.0, 0.0, 3.9, -2.0])
    draws = {sample_next(logits, rng, top_k=2, temperature=5.0) for _ in range(300)}
    assert draws == {1, 3}


def test_draws_follow_the_softmax_at_temperature():
    rng = np.random.default_rng(42)
    logits = np.log(np.array([0.5, 0.3, 0.2]))
    n = 20_000
    for temperature in (1.0, 0.5):
        counts = np.bincount([sample_next(logits, rng, temperature=temperature)
                              for _ in range(n)], minlength=3)
        p = np.array([0.5, 0.3, 0.2]) ** (1 / temperature)
        p /= p.sum()
        # each frequency within 5 standard errors of its probability
        assert np.all(np.abs(counts / n - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_banned_ids_are_never_drawn():
    rng = np.random.default_rng(3)
    draws = {sample_next(np.zeros(4), rng, banned=[0, 2]) for _ in range(200)}
    assert draws == {1, 3}
    with pytest.raises(ValueError, match="banned"):
        sample_next(np.zeros(2), rng, banned=[0, 1])


def test_generate_is_reproducible_per_seed_and_uses_the_context():
    table = np.random.default_rng(9).standard_normal((6, 6))
    seen = []

    def next_logits(ctx):
        seen.append(ctx.copy())
        return table[ctx[0, -1]]

    a = generate(next_logits, [2, 3], 40, context=3, pad_id=0, seed=7)
    b = generate(next_logits, [2, 3], 40, context=3, pad_id=0, seed=7)
    c = generate(next_logits, [2, 3], 40, context=3, pad_id=0, seed=8)
    assert a == b and a != c and len(a) == 40
    assert seen[0].tolist() == [[0, 2, 3]]  # padded on the left, shape (1, context)
    assert seen[1].tolist() == [[2, 3, a[0]]]


def test_sampling_arguments_are_checked():
    rng = np.random.default_rng(0)
    for bad in (-1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="temperature"):
            sample_next([0.0, 1.0], rng, temperature=bad)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="top_k"):
            sample_next([0.0, 1.0], rng, top_k=bad)
    with pytest.raises(ValueError, match="length"):
        generate(lambda c: np.zeros(3), [], -1, context=1, pad_id=0)
    with pytest.raises(ValueError, match="seed"):
        generate(lambda c: np.zeros(3), [], 1, context=1, pad_id=0, seed=1.5)
