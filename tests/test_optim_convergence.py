"""Each optimiser, driven by real gradients from ``backward()``, finds the minimum of a
random well-conditioned convex quadratic ``1/2 x'Ax - b'x`` (the minimum solves Ax = b)."""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import optim
from deltagrad.optim import lr_scheduler

N = 10


def quadratic(seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((N, N))
    a = q @ q.T / N + 0.5 * np.eye(N)  # eigenvalues at least 0.5
    b = rng.standard_normal(N)
    return a, b, np.linalg.solve(a, b)


# RMSprop's normalised steps do not shrink near the minimum, so it gets a decaying rate
CASES = {
    "sgd": (lambda ps: optim.SGD(ps, lr=0.2), None, 300),
    "sgd_momentum_dampening": (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, dampening=0.5),
                               None, 400),
    "sgd_nesterov": (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), None, 400),
    "adam": (lambda ps: optim.Adam(ps, lr=0.05), None, 1000),
    "adam_cosine": (lambda ps: optim.Adam(ps, lr=0.1),
                    lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=1000), 1000),
    "adamw": (lambda ps: optim.AdamW(ps, lr=0.05, weight_decay=0.0), None, 1000),
    "rmsprop": (lambda ps: optim.RMSprop(ps, lr=0.05),
                lambda opt: lr_scheduler.ExponentialLR(opt, gamma=0.995), 1000),
    "rmsprop_centered_momentum": (
        lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
        lambda opt: lr_scheduler.StepLR(opt, step_size=200, gamma=0.1), 1000),
    "rmsprop_plateau": (lambda ps: optim.RMSprop(ps, lr=0.05),
                        lambda opt: lr_scheduler.ReduceLROnPlateau(opt, factor=0.5,
                                                                         threshold=0.0),
                        1000),
    "adagrad": (lambda ps: optim.Adagrad(ps, lr=0.5), None, 1000),
    "adagrad_warmup": (lambda ps: optim.Adagrad(ps, lr=0.5),
                       lambda opt: lr_scheduler.LinearWarmup(opt, warmup_steps=50), 1000),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_minimises_a_convex_quadratic(name, seed):
    make_optimizer, make_scheduler, n_steps = CASES[name]
    a, b, minimum = quadratic(seed)
    x = dg.tensor(np.zeros(N), requires_grad=True)
    opt = make_optimizer([x])
    scheduler = make_scheduler(opt) if make_scheduler else None
    for _ in range(n_steps):
        opt.zero_grad()
        loss = 0.5 * (x @ (a @ x)) - b @ x
        loss.backward()
        opt.step()
        if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
    assert np.linalg.norm(x.data - minimum) < 1e-6 * np.linalg.norm(minimum)


def test_adamw_weight_decay_pulls_the_solution_towards_zero():
    a, b, minimum = quadratic(2)
    x = dg.tensor(np.zeros(N), requires_grad=True)
    opt = optim.AdamW([x], lr=0.01, weight_decay=0.5)
    for _ in range(2000):
        opt.zero_grad()
        (0.5 * (x @ (a @ x)) - b @ x).backward()
        opt.step()
    assert np.linalg.norm(x.data) < 0.9 * np.linalg.norm(minimum)
