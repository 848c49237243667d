"""Each optimiser's steps against its update rule written out by hand in plain NumPy.

The references below are deliberately the textbook forms (no in-place tricks, bias
corrections applied to m and v), so they are independent of the implementation.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltagrad as dg
from deltagrad import optim

SHAPES = [(5,), (3, 4), ()]  # growing sizes and a scalar parameter
N_STEPS = 8


def make_problem(seed: int, n_steps: int = N_STEPS):
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(shape)) for shape in SHAPES]
    grads = [[np.asarray(rng.standard_normal(shape)) for shape in SHAPES]
             for _ in range(n_steps)]
    return init, grads


def run_optimizer(make_opt, init, grads):
    params = [dg.tensor(x.copy(), requires_grad=True) for x in init]
    opt = make_opt(params)
    history = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
        history.append([p.data.copy() for p in params])
    return history


def run_reference(update, init, grads):
    """``update(p, g, state, t)`` returns the new p; state is a dict per parameter."""
    params = [x.copy() for x in init]
    states = [{} for _ in init]
    history = []
    for t, step_grads in enumerate(grads, start=1):
        params = [update(p, g, s, t) for p, g, s in zip(params, step_grads, states)]
        history.append(params)
    return history


def case_id(hyper: dict) -> str:
    return ",".join(f"{name}={value}" for name, value in hyper.items())


def assert_same_history(actual, expected, rtol=1e-10):
    for t, (got_step, want_step) in enumerate(zip(actual, expected), start=1):
        for i, (got, want) in enumerate(zip(got_step, want_step)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12,
                                       err_msg=f"step {t}, parameter {i}")


# --- references -------------------------------------------------------------------------

def sgd_reference(lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    def update(p, g, state, t):
        g = g + weight_decay * p
        if momentum != 0:
            if t == 1:
                state["buf"] = g  # the buffer starts as the first gradient, undamped
            else:
                state["buf"] = momentum * state["buf"] + (1 - dampening) * g
            g = g + momentum * state["buf"] if nesterov else state["buf"]
        return p - lr * g
    return update


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    beta1, beta2 = betas

    def update(p, g, state, t):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
        m_hat = state["m"] / (1 - beta1 ** t)
        v_hat = state["v"] / (1 - beta2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return update


def rmsprop_reference(lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
    def update(p, g, state, t):
        g = g + weight_decay * p
        state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g ** 2
        v = state["v"]
        if centered:
            state["g_avg"] = alpha * state.get("g_avg", 0.0) + (1 - alpha) * g
            v = v - state["g_avg"] ** 2
        direction = g / (np.sqrt(v) + eps)
        if momentum > 0:
            state["buf"] = momentum * state.get("buf", 0.0) + direction
            direction = state["buf"]
        return p - lr * direction
    return update


def adagrad_reference(lr, eps=1e-10, weight_decay=0.0, lr_decay=0.0):
    def update(p, g, state, t):
        g = g + weight_decay * p
        state["sum"] = state.get("sum", 0.0) + g * g
        decayed_lr = lr / (1 + (t - 1) * lr_decay)
        return p - decayed_lr * g / (np.sqrt(state["sum"]) + eps)
    return update


# --- SGD --------------------------------------------------------------------------------

SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.01},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1},
    {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.05},
]


@pytest.mark.parametrize("hyper", SGD_CASES, ids=case_id)
def test_sgd_matches_formula(hyper):
    init, grads = make_problem(0)
    actual = run_optimizer(lambda ps: optim.SGD(ps, **hyper), init, grads)
    assert_same_history(actual, run_reference(sgd_reference(**hyper), init, grads))


def test_sgd_first_step_is_plain_gradient_step_even_with_momentum_and_dampening():
    w = dg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.5, momentum=0.9, dampening=0.5)
    w.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_allclose(w.data, [0.5, 2.5])
    np.testing.assert_allclose(opt.state[w]["momentum_buffer"], [1.0, -1.0])
    w.grad = np.array([2.0, 0.0])
    opt.step()  # buf = 0.9 * [1, -1] + 0.5 * [2, 0] = [1.9, -0.9]
    np.testing.assert_allclose(opt.state[w]["momentum_buffer"], [1.9, -0.9])
    np.testing.assert_allclose(w.data, [0.5 - 0.95, 2.5 + 0.45])


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0, 1), momentum=st.floats(0, 0.99), dampening=st.floats(0, 1),
       nesterov=st.booleans(), weight_decay=st.floats(0, 0.5), seed=st.integers(0, 2**16))
def test_sgd_matches_formula_for_any_hyperparameters(lr, momentum, dampening, nesterov,
                                                     weight_decay, seed):
    if nesterov:
        momentum, dampening = max(momentum, 0.1), 0.0
    hyper = {"lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
                 "weight_decay": weight_decay}
    init, grads = make_problem(seed, n_steps=5)
    actual = run_optimizer(lambda ps: optim.SGD(ps, **hyper), init, grads)
    assert_same_history(actual, run_reference(sgd_reference(**hyper), init, grads))


# --- Adam and AdamW ---------------------------------------------------------------------

ADAM_CASES = [
    {"lr": 0.01},
    {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "betas": (0.0, 0.5)},
    {"lr": 0.01, "betas": (0.95, 0.9), "eps": 0.1, "weight_decay": 0.5},
]


@pytest.mark.parametrize("hyper", ADAM_CASES, ids=case_id)
def test_adam_matches_formula(hyper):
    init, grads = make_problem(1)
    actual = run_optimizer(lambda ps: optim.Adam(ps, **hyper), init, grads)
    assert_same_history(actual, run_reference(adam_reference(**hyper), init, grads))


@pytest.mark.parametrize("hyper", ADAM_CASES, ids=case_id)
def test_adamw_matches_formula(hyper):
    init, grads = make_problem(2)
    actual = run_optimizer(lambda ps: optim.AdamW(ps, **hyper), init, grads)
    hyper = {"weight_decay": 1e-2, **hyper}  # AdamW's default decay, where none is given
    expected = run_reference(adam_reference(**hyper, decoupled=True), init, grads)
    assert_same_history(actual, expected)


def test_adamw_default_weight_decay_is_decoupled_one_percent():
    init, grads = make_problem(3)
    assert optim.AdamW([dg.tensor(init[0], requires_grad=True)]).defaults["weight_decay"] == 1e-2
    actual = run_optimizer(lambda ps: optim.AdamW(ps, lr=0.01), init, grads)
    expected = run_reference(adam_reference(lr=0.01, weight_decay=1e-2, decoupled=True),
                             init, grads)
    assert_same_history(actual, expected)


def test_adam_and_adamw_differ_only_through_weight_decay():
    init, grads = make_problem(4)
    same_adam = run_optimizer(lambda ps: optim.Adam(ps, lr=0.05), init, grads)
    same_adamw = run_optimizer(lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.0), init, grads)
    assert_same_history(same_adamw, same_adam, rtol=0)
    adam = run_optimizer(lambda ps: optim.Adam(ps, lr=0.05, weight_decay=0.5), init, grads)
    adamw = run_optimizer(lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.5), init, grads)
    for got_adam, got_adamw in zip(adam[-1], adamw[-1]):
        assert not np.allclose(got_adam, got_adamw)


def test_adamw_decay_acts_even_where_the_gradient_is_zero():
    # L2 decay in Adam is normalised away for a lone coordinate: with grad 0 the step is
    # lr * sign(p); AdamW shrinks p by exactly lr * wd * p first
    p0 = np.array([2.0, -4.0])
    adam_w = dg.tensor(p0.copy(), requires_grad=True)
    adamw_w = dg.tensor(p0.copy(), requires_grad=True)
    adam = optim.Adam([adam_w], lr=0.1, weight_decay=0.5)
    adamw = optim.AdamW([adamw_w], lr=0.1, weight_decay=0.5)
    adam_w.grad, adamw_w.grad = np.zeros(2), np.zeros(2)
    adam.step()
    adamw.step()
    np.testing.assert_allclose(adam_w.data, p0 - 0.1 * np.sign(p0), rtol=1e-7)
    np.testing.assert_allclose(adamw_w.data, p0 * (1 - 0.1 * 0.5))


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(0, 1), beta1=st.floats(0, 0.999), beta2=st.floats(0, 0.9999),
       eps=st.floats(1e-8, 1.0), weight_decay=st.floats(0, 0.5), decoupled=st.booleans(),
       seed=st.integers(0, 2**16))
def test_adam_matches_formula_for_any_hyperparameters(lr, beta1, beta2, eps, weight_decay,
                                                      decoupled, seed):
    hyper = {"lr": lr, "betas": (beta1, beta2), "eps": eps, "weight_decay": weight_decay}
    cls = optim.AdamW if decoupled else optim.Adam
    init, grads = make_problem(seed, n_steps=5)
    actual = run_optimizer(lambda ps: cls(ps, **hyper), init, grads)
    expected = run_reference(adam_reference(**hyper, decoupled=decoupled), init, grads)
    assert_same_history(actual, expected, rtol=1e-9)


# --- RMSprop ----------------------------------------------------------------------------

RMSPROP_CASES = [
    {"lr": 0.01},
    {"lr": 0.01, "alpha": 0.9, "eps": 1e-6},
    {"lr": 0.01, "centered": True},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.005, "alpha": 0.8, "momentum": 0.5, "centered": True},
    {"lr": 0.01, "weight_decay": 0.1},
    {"lr": 0.01, "alpha": 0.95, "momentum": 0.9, "centered": True, "weight_decay": 0.05},
]


@pytest.mark.parametrize("hyper", RMSPROP_CASES, ids=case_id)
def test_rmsprop_matches_formula(hyper):
    init, grads = make_problem(5)
    actual = run_optimizer(lambda ps: optim.RMSprop(ps, **hyper), init, grads)
    assert_same_history(actual, run_reference(rmsprop_reference(**hyper), init, grads))


def test_rmsprop_keeps_only_the_buffers_it_needs():
    w = dg.tensor(np.ones(3), requires_grad=True)
    v = dg.tensor(np.ones(3), requires_grad=True)
    opt = optim.RMSprop([{"params": [w]}, {"params": [v], "momentum": 0.9, "centered": True}])
    w.grad = v.grad = np.ones(3)
    opt.step()
    assert set(opt.state[w]) == {"step", "square_avg"}
    assert set(opt.state[v]) == {"step", "square_avg", "momentum_buffer", "grad_avg"}


# --- Adagrad ----------------------------------------------------------------------------

ADAGRAD_CASES = [
    {"lr": 0.1},
    {"lr": 0.1, "lr_decay": 0.5},
    {"lr": 0.1, "eps": 1e-3},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.3, "lr_decay": 0.1, "weight_decay": 0.05, "eps": 1e-6},
]


@pytest.mark.parametrize("hyper", ADAGRAD_CASES, ids=case_id)
def test_adagrad_matches_formula(hyper):
    init, grads = make_problem(6)
    actual = run_optimizer(lambda ps: optim.Adagrad(ps, **hyper), init, grads)
    assert_same_history(actual, run_reference(adagrad_reference(**hyper), init, grads))


def test_adagrad_lr_decay_shrinks_steps_harmonically():
    # with a constant gradient of 1 the sum after t steps is t, so the t-th step is
    # lr / (1 + (t - 1) * lr_decay) / sqrt(t)
    w = dg.tensor(np.zeros(1), requires_grad=True)
    opt = optim.Adagrad([w], lr=1.0, lr_decay=1.0, eps=0.0)
    previous = 0.0
    for t in range(1, 8):
        w.grad = np.ones(1)
        opt.step()
        np.testing.assert_allclose(previous - w.data[0], 1 / t / np.sqrt(t))
        previous = w.data[0]
