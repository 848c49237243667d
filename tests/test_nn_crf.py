"""The linear-chain CRF's sentence-level log-likelihood: log Z against brute-force enumeration
of every path, gradients against central differences in float64 over drawn sentence lengths
(length-1 sentences included), forbidden (-inf) moves, extreme scores, and user errors."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltagrad as dg
from deltagrad.autograd.recording import HigherOrderError
from deltagrad.nn.crf import crf_nll, log_matmul_exp, logsumexp
from deltagrad.text.bio import allowed_transitions

BIO = ["O", "B-PER", "I-PER"]


def leaf(array):
    return dg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def path_score(E, path, start, trans, end):
    path = np.asarray(path)
    return (start[path[0]] + E[np.arange(len(path)), path].sum()
            + sum(trans[a, b] for a, b in zip(path[:-1], path[1:])) + end[path[-1]])


def brute_force_nll(E, lengths, tags, start, trans, end):
    """-log p(gold) of each sentence, with Z summed over all T^n paths one by one."""
    out, row = [], 0
    for n in lengths:
        e, gold = E[row:row + n], tags[row:row + n]
        scores = [path_score(e, p, start, trans, end)
                  for p in itertools.product(range(E.shape[1]), repeat=n)]
        out.append(np.logaddexp.reduce(scores) - path_score(e, gold, start, trans, end))
        row += n
    return np.array(out)


@st.composite
def problems(draw, max_tags=3, max_len=4):
    """Sentences (lengths 1 to max_len, length 1 always possible), T tags, random scores."""
    num_tags = draw(st.integers(1, max_tags))
    lengths = draw(st.lists(st.integers(1, max_len), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    words = sum(lengths)
    return (rng.normal(size=(words, num_tags)) * 2, lengths,
            rng.integers(0, num_tags, words), rng.normal(size=num_tags),
            rng.normal(size=(num_tags, num_tags)), rng.normal(size=num_tags))


@settings(max_examples=40, deadline=None)
@given(problems())
def test_the_loss_is_log_z_minus_the_gold_score_by_enumerating_every_path(problem):
    E, lengths, tags, start, trans, end = problem
    got = crf_nll(E, lengths, tags, start, trans, end, reduction="none").data
    np.testing.assert_allclose(got, brute_force_nll(*problem), rtol=1e-10, atol=1e-10)
    mean = crf_nll(E, lengths, tags, start, trans, end).item()
    assert mean == pytest.approx(got.mean(), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(problems(), st.sampled_from(["none", "mean", "sum"]))
def test_gradients_of_all_four_scores_match_central_differences(problem, reduction):
    E, lengths, tags, start, trans, end = problem
    assert dg.gradcheck(lambda e, s, t, z: crf_nll(e, lengths, tags, s, t, z,
                                                   reduction=reduction),
                        [leaf(E), leaf(start), leaf(trans), leaf(end)])


@settings(max_examples=20, deadline=None)
@given(problems())
def test_a_constant_added_to_each_words_scores_changes_nothing(problem):
    # so a network's logits and its log-softmax give the same likelihood and gradients
    E, lengths, tags, start, trans, end = problem
    shifted = E + np.random.default_rng(0).normal(size=(len(E), 1)) * 10
    a, b = leaf(trans), leaf(trans)
    crf_nll(E, lengths, tags, start, a, end).backward()
    crf_nll(shifted, lengths, tags, start, b, end).backward()
    assert crf_nll(shifted, lengths, tags, start, trans, end).item() == pytest.approx(
        crf_nll(E, lengths, tags, start, trans, end).item(), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(a.grad, b.grad, atol=1e-9)


def test_forbidden_moves_leave_the_paths_they_forbid_out_of_z_and_get_no_gradient():
    rng = np.random.default_rng(1)
    allowed_start, allowed = allowed_transitions(BIO)
    first, penalty = np.where(allowed_start, 0.0, -np.inf), np.where(allowed, 0.0, -np.inf)
    lengths, tags = [3, 1, 2], np.array([1, 2, 0, 0, 1, 2])  # B I O | O | B I
    E, trans = rng.normal(size=(6, 3)), leaf(rng.normal(size=(3, 3)))
    start, end = leaf(rng.normal(size=3)), leaf(rng.normal(size=3))
    loss = crf_nll(E, lengths, tags, start + first, trans + penalty, end, reduction="sum")
    # Z over the valid paths only
    expected, row = 0.0, 0
    for n in lengths:
        e, gold = E[row:row + n], tags[row:row + n]
        valid = [p for p in itertools.product(range(3), repeat=n)
                 if allowed_start[p[0]] and all(allowed[a, b] for a, b in zip(p, p[1:]))]
        s, t = start.data, trans.data
        expected += (np.logaddexp.reduce([path_score(e, p, s, t, end.data) for p in valid])
                     - path_score(e, gold, s, t, end.data))
        row += n
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    assert np.all(trans.grad[~allowed] == 0) and np.all(start.grad[~allowed_start] == 0)
    assert np.all(np.isfinite(trans.grad)) and np.any(trans.grad[allowed] != 0)
    # the gradient on the allowed moves, against central differences (the -inf held fixed)
    assert dg.gradcheck(lambda t: crf_nll(E, lengths, tags, start.data + first,
                                          t + penalty, end.data), [leaf(trans.data)])


def test_a_gold_path_through_a_forbidden_move_is_refused_by_name():
    penalty = np.where(allowed_transitions(BIO)[1], 0.0, -np.inf)
    with pytest.raises(ValueError, match=r"crf_nll: the gold tags of sentence 1 \(\[0, 2\]\)"):
        crf_nll(np.zeros((3, 3)), [1, 2], [0, 0, 2], np.zeros(3), penalty, np.zeros(3))


def test_extreme_scores_give_finite_values_and_gradients():
    rng = np.random.default_rng(2)
    E = leaf(rng.normal(size=(7, 4)) * 1e4)
    trans = leaf(rng.normal(size=(4, 4)) * 1e3)
    loss = crf_nll(E, [4, 3], rng.integers(0, 4, 7), np.zeros(4), trans, np.zeros(4))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() >= 0
    assert np.all(np.isfinite(E.grad)) and np.all(np.isfinite(trans.grad))


def test_the_matrix_product_step_is_exact_where_its_shifts_would_underflow():
    # a row whose best predecessor meets the column's worst transition: the shifted
    # product underflows to 0, the exact sum does not
    a = np.array([[0.0, -2000.0], [-1.0, -3.0]])
    m = np.array([[-2000.0, 0.0], [0.0, -5.0]])
    np.testing.assert_allclose(log_matmul_exp(a, m), logsumexp(a[:, :, None] + m, axis=1))
    assert np.isneginf(log_matmul_exp(np.array([[-np.inf, 0.0]]),
                                      np.array([[0.0, 0.0], [-np.inf, 0.0]]))[0, 0])


def test_float32_scores_give_a_float32_loss_close_to_float64():
    rng = np.random.default_rng(3)
    E, trans = rng.normal(size=(9, 5)), rng.normal(size=(5, 5))
    args = ([2, 3, 4], rng.integers(0, 5, 9))
    low = crf_nll(E.astype(np.float32), *args, np.zeros(5, np.float32),
                  trans.astype(np.float32), np.zeros(5, np.float32))
    assert low.dtype == np.float32
    assert low.item() == pytest.approx(
        crf_nll(E, *args, np.zeros(5), trans, np.zeros(5)).item(), rel=1e-5)


def test_it_is_differentiated_once_and_says_so_when_asked_twice():
    E, trans = leaf(np.zeros((2, 2))), leaf(np.zeros((2, 2)))
    with pytest.raises(HigherOrderError, match="crf_nll"):
        dg.grad(lambda t: dg.grad(lambda u: crf_nll(E, [2], [0, 1], np.zeros(2), u,
                                                    np.zeros(2)))(t).sum())(trans)


@pytest.mark.parametrize("args, message", [
    (dict(emissions=np.zeros(3)), r"emissions must be \(words, T\).*\(3,\)"),
    (dict(transitions=np.zeros((2, 3))), r"\(2, 3\)"),
    (dict(lengths=[2, 2]), r"lengths must be positive ints summing to the 3 rows"),
    (dict(lengths=[3, 0]), "lengths must be positive"),
    (dict(lengths=[1.5, 1.5]), "lengths must be positive ints"),
    (dict(tags=[0, 1, 3]), r"tags must be 3 ints in \[0, 3\)"),
    (dict(tags=[0, 1]), r"tags must be 3 ints.*shape \(2,\)"),
    (dict(reduction="avg"), "reduction"),
])
def test_bad_input_is_refused_with_the_offending_values(args, message):
    given_args = dict(emissions=np.zeros((3, 3)), lengths=[1, 2], tags=[0, 1, 2],
                      start=np.zeros(3), transitions=np.zeros((3, 3)), end=np.zeros(3))
    given_args.update(args)
    with pytest.raises(ValueError, match=message):
        crf_nll(**given_args)


def test_integer_scores_are_a_type_error():
    with pytest.raises(TypeError, match="crf_nll: emissions must be floating point"):
        crf_nll(np.zeros((2, 2), np.int64), [2], [0, 1], np.zeros(2), np.zeros((2, 2)),
                np.zeros(2))
