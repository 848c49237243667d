"""What every optimiser shares: parameter groups, skipping grad-less parameters, in-place
updates, zero_grad, state dicts and the validation of hyperparameters."""

import copy
import json
import math

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import optim

# every optimiser, with hyperparameters that give it every buffer it can have
FACTORIES = {
    "sgd": lambda ps, lr=0.05: optim.SGD(ps, lr=lr),
    "sgd_momentum": lambda ps, lr=0.05: optim.SGD(ps, lr=lr, momentum=0.9, dampening=0.1,
                                                  weight_decay=0.01),
    "sgd_nesterov": lambda ps, lr=0.05: optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda ps, lr=0.05: optim.Adam(ps, lr=lr, weight_decay=0.01),
    "adamw": lambda ps, lr=0.05: optim.AdamW(ps, lr=lr),
    "rmsprop": lambda ps, lr=0.05: optim.RMSprop(ps, lr=lr, momentum=0.5, centered=True,
                                                 weight_decay=0.01),
    "adagrad": lambda ps, lr=0.05: optim.Adagrad(ps, lr=lr, lr_decay=0.01, weight_decay=0.01),
}
SHAPES = [(4, 3), (3,), ()]

every_optimizer = pytest.mark.parametrize("name", list(FACTORIES))


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [dg.tensor(np.asarray(rng.standard_normal(shape), dtype=dtype), requires_grad=True)
            for shape in SHAPES]


def set_grads(params, rng):
    for p in params:
        p.grad = np.asarray(rng.standard_normal(p.shape), dtype=p.dtype)


def train(opt, params, rng, n_steps):
    for _ in range(n_steps):
        set_grads(params, rng)
        opt.step()


# --- parameter groups -------------------------------------------------------------------

@every_optimizer
def test_groups_with_different_lr_act_as_separate_optimisers(name):
    grouped_params, alone_a, alone_b = make_params(), make_params(), make_params()
    opt = FACTORIES[name]([{"params": grouped_params[:2]},
                           {"params": grouped_params[2:], "lr": 0.2}], lr=0.05)
    opt_a = FACTORIES[name](alone_a[:2], lr=0.05)
    opt_b = FACTORIES[name](alone_b[2:], lr=0.2)
    assert [group["lr"] for group in opt.param_groups] == [0.05, 0.2]
    for seed in range(6):
        for params in (grouped_params, alone_a, alone_b):
            set_grads(params, np.random.default_rng(seed))
        opt.step()
        opt_a.step()
        opt_b.step()
    for grouped, a in zip(grouped_params[:2], alone_a[:2]):
        np.testing.assert_array_equal(grouped.data, a.data)
    np.testing.assert_array_equal(grouped_params[2].data, alone_b[2].data)


def test_sgd_groups_step_by_their_own_lr():
    w = dg.tensor(np.array([1.0, 1.0]), requires_grad=True)
    b = dg.tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([{"params": [w], "lr": 0.1}, {"params": b, "momentum": 0.5}], lr=0.01)
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[0]["momentum"] == 0.0
    w.grad, b.grad = np.array([1.0, -2.0]), np.array([4.0])
    opt.step()
    np.testing.assert_allclose(w.data, [1 - 0.1, 1 + 0.2])
    np.testing.assert_allclose(b.data, [1 - 0.04])


def test_group_dicts_are_copied_and_filled_with_defaults():
    w = dg.tensor(np.ones(2), requires_grad=True)
    group = {"params": [w], "lr": 0.3}
    opt = optim.Adam([group])
    assert group == {"params": [w], "lr": 0.3}
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt.param_groups[0]["params"][0] is w


def test_add_param_group_later():
    w, v = dg.tensor(np.ones(2), requires_grad=True), dg.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    opt.add_param_group({"params": [v], "lr": 1.0})
    w.grad, v.grad = np.ones(2), np.ones(3)
    opt.step()
    np.testing.assert_allclose(w.data, 0.9)
    np.testing.assert_allclose(v.data, 0.0)


@every_optimizer
def test_a_larger_group_added_after_some_steps_updates_exactly(name):
    # the scratch space shared by all parameters has to grow; nothing may leak between them
    def fresh(shape, seed):
        rng = np.random.default_rng(seed)
        return dg.tensor(rng.standard_normal(shape), requires_grad=True)

    small, big = fresh((3,), 0), fresh((6, 7), 1)
    small_alone, big_alone = fresh((3,), 0), fresh((6, 7), 1)
    opt = FACTORIES[name]([small])
    opt_small, opt_big = FACTORIES[name]([small_alone]), FACTORIES[name]([big_alone])
    rng = np.random.default_rng(2)
    for step in range(6):
        if step == 2:
            opt.add_param_group({"params": [big]})
        g_small, g_big = rng.standard_normal(3), rng.standard_normal((6, 7))
        small.grad, small_alone.grad = g_small.copy(), g_small.copy()
        opt_small.step()
        if step >= 2:
            big.grad, big_alone.grad = g_big.copy(), g_big.copy()
            opt_big.step()
        opt.step()
    np.testing.assert_array_equal(small.data, small_alone.data)
    np.testing.assert_array_equal(big.data, big_alone.data)


def test_params_may_be_a_generator():
    params = make_params()
    opt = optim.SGD((p for p in params), lr=0.1)
    group_params = opt.param_groups[0]["params"]
    assert len(group_params) == 3 and all(a is b for a, b in zip(group_params, params))


# --- which parameters move, and how -----------------------------------------------------

@every_optimizer
def test_params_without_grad_are_untouched_and_get_no_state(name):
    params = make_params()
    opt = FACTORIES[name](params)
    rng = np.random.default_rng(1)
    frozen = params[1]
    before = frozen.data.copy()
    for _ in range(3):
        set_grads(params, rng)
        frozen.grad = None
        opt.step()
    np.testing.assert_array_equal(frozen.data, before)
    assert frozen not in opt.state
    assert not np.array_equal(params[0].data, make_params()[0].data)


@every_optimizer
def test_a_param_whose_grad_goes_missing_keeps_its_value_and_state(name):
    params = make_params()
    opt = FACTORIES[name](params)
    train(opt, params, np.random.default_rng(2), 2)
    before = params[0].data.copy()
    state_before = copy.deepcopy(opt.state_dict()["state"])
    params[0].grad = None
    opt.step()
    np.testing.assert_array_equal(params[0].data, before)
    for key, value in state_before.get(0, {}).items():
        np.testing.assert_array_equal(opt.state_dict()["state"][0][key], value)


@every_optimizer
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_are_in_place_and_keep_the_dtype(name, dtype):
    params = make_params(dtype=dtype)
    arrays = [p.data for p in params]
    originals = [a.copy() for a in arrays]
    opt = FACTORIES[name](params)
    train(opt, params, np.random.default_rng(3), 3)
    for p, array, original in zip(params, arrays, originals):
        assert p.data is array  # the very same ndarray object was modified
        assert p.data.dtype == dtype and p.data.shape == original.shape
        assert not np.array_equal(p.data, original)
        for buffer in opt.state.get(p, {}).values():
            if isinstance(buffer, np.ndarray):
                assert buffer.dtype == dtype and buffer.shape == p.shape


@every_optimizer
def test_gradients_are_not_modified(name):
    params = make_params()
    opt = FACTORIES[name](params)
    rng = np.random.default_rng(4)
    for _ in range(3):
        set_grads(params, rng)
        grads = [p.grad.copy() for p in params]
        opt.step()
        for p, g in zip(params, grads):
            np.testing.assert_array_equal(p.grad, g)


def test_params_with_equal_values_keep_separate_state():
    # Tensor == is elementwise, so state must be keyed by identity
    a, b = dg.tensor(np.zeros(2), requires_grad=True), dg.tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([a, b], lr=1.0, momentum=0.5)
    a.grad, b.grad = np.ones(2), -np.ones(2)
    opt.step()
    a.grad, b.grad = np.ones(2), -np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, [-2.5, -2.5])
    np.testing.assert_allclose(b.data, [2.5, 2.5])


def test_zero_grad_sets_every_grad_to_none():
    params = make_params()
    opt = optim.Adam(params)
    set_grads(params, np.random.default_rng(5))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_works_with_grads_from_backward():
    w = dg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.data, [0.5, -1.0, 1.5])
    opt.zero_grad()
    assert w.grad is None


def test_step_returns_the_closure_loss():
    w = dg.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.5)
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert calls == [1] and loss.item() == 9.0
    np.testing.assert_allclose(w.data, [0.0])
    assert opt.step() is None


# --- state dicts ------------------------------------------------------------------------

def assert_plain(value, where="state_dict"):
    """Only numbers, lists, dicts and arrays: no Tensors, no shared mutable objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (int, str)), where
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert isinstance(value, (int, float, bool, np.ndarray)), f"{where} is {type(value)}"


@every_optimizer
def test_state_dict_is_plain_and_indexes_params_across_groups(name):
    params = make_params()
    opt = FACTORIES[name]([{"params": params[:1]}, {"params": params[1:], "lr": 0.01}])
    train(opt, params, np.random.default_rng(6), 2)
    state = opt.state_dict()
    assert_plain(state)
    assert [group["params"] for group in state["param_groups"]] == [[0], [1, 2]]
    assert [group["lr"] for group in state["param_groups"]] == [0.05, 0.01]
    assert sorted(state["state"]) == ([] if name == "sgd" else [0, 1, 2])
    for index, p in enumerate(params):
        for buffer in state["state"].get(index, {}).values():
            if isinstance(buffer, np.ndarray):
                assert buffer.shape == p.shape


@every_optimizer
def test_state_dict_is_a_deep_copy(name):
    params = make_params()
    opt = FACTORIES[name](params)
    rng = np.random.default_rng(7)
    train(opt, params, rng, 2)
    state = opt.state_dict()
    frozen = copy.deepcopy(state)
    train(opt, params, rng, 2)
    opt.param_groups[0]["lr"] = 123.0
    assert state["param_groups"] == frozen["param_groups"]
    for index, buffers in frozen["state"].items():
        for key, value in buffers.items():
            np.testing.assert_array_equal(state["state"][index][key], value)
            if isinstance(value, np.ndarray):
                assert state["state"][index][key] is not opt.state[params[index]][key]


@every_optimizer
def test_a_fresh_optimizer_loaded_from_a_state_dict_continues_identically(name):
    params = make_params()
    opt = FACTORIES[name]([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}])
    train(opt, params, np.random.default_rng(8), 4)
    state = opt.state_dict()

    clones = [dg.tensor(p.data.copy(), requires_grad=True) for p in params]
    fresh = FACTORIES[name]([{"params": clones[:2]}, {"params": clones[2:]}], lr=0.7)
    fresh.load_state_dict(state)
    assert [group["lr"] for group in fresh.param_groups] == [0.05, 0.02]
    for original, copied in ((params, opt), (clones, fresh)):
        train(copied, original, np.random.default_rng(9), 5)
    for p, clone in zip(params, clones):
        np.testing.assert_array_equal(p.data, clone.data)


@every_optimizer
def test_loading_copies_the_buffers_in(name):
    params = make_params()
    opt = FACTORIES[name](params)
    train(opt, params, np.random.default_rng(10), 2)
    state = opt.state_dict()
    clones = [dg.tensor(p.data.copy(), requires_grad=True) for p in params]
    fresh = FACTORIES[name](clones)
    fresh.load_state_dict(state)
    for buffers in state["state"].values():
        for value in buffers.values():
            if isinstance(value, np.ndarray):
                value += 1000.0  # must not reach the loaded optimiser
    for p, clone in zip(params, clones):
        for key, value in opt.state.get(p, {}).items():
            np.testing.assert_array_equal(fresh.state[clone][key], value)


@every_optimizer
def test_state_dict_survives_a_json_round_trip(name):
    params = make_params()
    opt = FACTORIES[name](params)
    train(opt, params, np.random.default_rng(11), 3)

    def to_json(value):
        return value.tolist() if isinstance(value, np.ndarray) else value

    text = json.dumps({
        "state": {k: {n: to_json(v) for n, v in s.items()}
                  for k, s in opt.state_dict()["state"].items()},
        "param_groups": opt.state_dict()["param_groups"],
    })
    clones = [dg.tensor(p.data.copy(), requires_grad=True) for p in params]
    fresh = FACTORIES[name](clones, lr=0.9)
    fresh.load_state_dict(json.loads(text))  # keys are now strings, arrays lists
    train(opt, params, np.random.default_rng(12), 3)
    train(fresh, clones, np.random.default_rng(12), 3)
    for p, clone in zip(params, clones):
        np.testing.assert_array_equal(p.data, clone.data)


def test_loaded_buffers_take_the_params_dtype():
    w64 = dg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([w64])
    w64.grad = np.ones(3)
    opt.step()
    w32 = dg.tensor(np.ones(3, np.float32), requires_grad=True)
    fresh = optim.Adam([w32])
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[w32]["exp_avg"].dtype == np.float32
    assert fresh.state[w32]["step"] == 1 and isinstance(fresh.state[w32]["step"], int)


def test_load_state_dict_rejects_mismatched_groups_params_and_shapes():
    params = make_params()
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1, momentum=0.9)
    train(opt, params, np.random.default_rng(13), 1)
    state = opt.state_dict()

    one_group = optim.SGD(make_params(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="2 parameter groups but the optimizer has 1"):
        one_group.load_state_dict(state)

    other = make_params()
    wrong_count = optim.SGD([{"params": other[:1]}, {"params": other[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict but 1"):
        wrong_count.load_state_dict(state)

    swapped = make_params()
    wrong_shape = optim.SGD([{"params": [swapped[1], swapped[0]]}, {"params": swapped[2:]}],
                            lr=0.1)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(4, 3\) "
                                         r"but the parameter has shape \(3,\)"):
        wrong_shape.load_state_dict(state)
    assert wrong_shape.state == {}  # a failed load changes nothing

    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_load_state_dict_validates_loaded_hyperparameters():
    w = dg.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w])
    state = opt.state_dict()
    state["param_groups"][0]["betas"] = [0.9, 1.5]
    with pytest.raises(ValueError, match=r"Invalid betas\[1\] value: 1.5"):
        opt.load_state_dict(state)


def test_betas_come_back_as_a_tuple():
    w = dg.tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([w], betas=(0.5, 0.6))
    state = opt.state_dict()
    assert state["param_groups"][0]["betas"] == [0.5, 0.6]
    fresh = optim.Adam([dg.tensor(np.ones(2), requires_grad=True)])
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["betas"] == (0.5, 0.6)


# --- validation -------------------------------------------------------------------------

def one_param():
    return [dg.tensor(np.ones(2), requires_grad=True)]


def sgd(**hyper):
    return optim.SGD(one_param(), **{"lr": 0.1, **hyper})


def adam(**hyper):
    return optim.Adam(one_param(), **hyper)


def rmsprop(**hyper):
    return optim.RMSprop(one_param(), **hyper)


def adagrad(**hyper):
    return optim.Adagrad(one_param(), **hyper)


@pytest.mark.parametrize("make, error, match", [
    (lambda: sgd(lr=-0.1), ValueError, r"Invalid lr value: -0.1 \(lr must be >= 0\)"),
    (lambda: sgd(lr=math.nan), ValueError, "Invalid lr value: nan"),
    (lambda: sgd(lr=math.inf), ValueError, "Invalid lr value: inf"),
    (lambda: sgd(lr="0.1"), TypeError, "lr must be a real number"),
    (lambda: sgd(momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    (lambda: sgd(dampening=1.5), ValueError, "Invalid dampening value"),
    (lambda: sgd(weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
    (lambda: sgd(nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: sgd(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "Nesterov moment"),
    (lambda: sgd(nesterov="yes"), TypeError, "Invalid nesterov value"),
    (lambda: adam(lr=-1e-3), ValueError, "Invalid lr value"),
    (lambda: adam(betas=(1.0, 0.999)), ValueError, r"Invalid betas\[0\] value: 1.0"),
    (lambda: adam(betas=(0.9, -0.1)), ValueError, r"Invalid betas\[1\] value: -0.1"),
    (lambda: adam(betas=0.9), TypeError, "Invalid betas value"),
    (lambda: adam(eps=-1e-8), ValueError, "Invalid eps value"),
    (lambda: adam(weight_decay=-0.1), ValueError, "Invalid weight_decay value"),
    (lambda: optim.AdamW(one_param(), weight_decay=-0.1), ValueError, "Invalid weight_decay"),
    (lambda: rmsprop(alpha=-0.1), ValueError, "Invalid alpha value"),
    (lambda: rmsprop(momentum=-0.1), ValueError, "Invalid momentum value"),
    (lambda: rmsprop(eps=-1.0), ValueError, "Invalid eps value"),
    (lambda: rmsprop(centered=1), TypeError, "Invalid centered value"),
    (lambda: adagrad(lr_decay=-0.1), ValueError, "Invalid lr_decay value"),
    (lambda: adagrad(eps=-0.1), ValueError, "Invalid eps value"),
    (lambda: optim.SGD([{"params": one_param(), "lr": -1.0}], lr=0.1), ValueError,
     "Invalid lr value: -1.0"),
    (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
    (lambda: optim.SGD(one_param()[0], lr=0.1), TypeError, "iterable of Tensors"),
    (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, "parameter 0 of a group is a nd"),
    (lambda: optim.SGD(set(one_param()), lr=0.1), TypeError, "not a set"),
    (lambda: optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "'params' entry"),
], ids=lambda x: "" if callable(x) or isinstance(x, type) else x[:40])
def test_bad_hyperparameters_and_params_are_rejected(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_the_same_parameter_twice_is_rejected():
    w = dg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([w, w], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [w]})


def test_a_non_leaf_tensor_is_rejected():
    w = dg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="made by an op"):
        optim.SGD([w * 2], lr=0.1)


def test_zero_lr_and_zero_decay_are_allowed_and_do_nothing():
    params = make_params()
    before = [p.data.copy() for p in params]
    opt = optim.Adam(params, lr=0.0)
    train(opt, params, np.random.default_rng(14), 2)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_repr_lists_the_groups():
    text = repr(sgd(momentum=0.9))
    assert text.startswith("SGD (") and "lr: 0.1" in text and "momentum: 0.9" in text


def test_weight_decay_helper_adds_the_l2_term_in_the_scratch_buffer():
    from deltagrad.optim.optimizer import with_weight_decay

    param = np.array([1.0, -2.0, 4.0], np.float32)
    grad = np.array([0.5, 0.5, -1.0], np.float32)
    scratch = np.full(3, np.nan, np.float32)
    assert with_weight_decay(param, grad, 0.0, out=scratch) is grad  # nothing to add
    assert np.isnan(scratch).all()
    decayed = with_weight_decay(param, grad, 0.25, out=scratch)
    assert decayed is scratch and decayed.dtype == np.float32
    np.testing.assert_array_equal(decayed, [0.75, 0.0, 0.0])  # grad + 0.25 * param
    np.testing.assert_array_equal(grad, [0.5, 0.5, -1.0])  # the gradient itself is untouched
