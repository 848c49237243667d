"""float32 in, float32 out: no op, loss, layer or optimiser quietly computes in float64.

NumPy 1.x promotes a float32 scalar or 0-d array combined with a Python number to float64
(``np.float32(2) * 0.5`` is a float64 there; NumPy 2 keeps float32, NEP 50). Reductions
give exactly such 0-d values, so a loss can end in float64 and its whole backward pass
run in float64. The engine casts each leaf's gradient back to the leaf's dtype, so a
check of the loss and ``.grad`` alone would miss that: ``Float64Watch`` checks every op's
output and every δ the backward pass hands on. CI runs this file under the oldest NumPy
that ``pyproject.toml`` allows as well as under the newest.
"""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.autograd.recording import grad_mode
from deltagrad.nn import functional as F

F32 = np.float32
SHAPES = [(), (3, 4)]  # 0-d is where NumPy 1.x promotes; (3, 4) reduces to 0-d


class Float64Watch:
    """Records every op output and every backward δ that is floating point but not float32,
    through the hooks the engine offers to observers (as ``dg.detect_anomaly`` does)."""

    def __init__(self):
        self.found = []

    def _check(self, phase, node, arrays):
        for a in arrays:
            dtype = getattr(a, "dtype", None)
            if dtype is not None and dtype.kind == "f" and dtype != F32:
                self.found.append(f"{phase} of {node.name}: {dtype}")

    def __enter__(self):
        self._previous = grad_mode.forward_hook, grad_mode.backward_hook
        grad_mode.forward_hook = lambda node, arrays, out: self._check("forward", node, [out])
        grad_mode.backward_hook = lambda node, g, grads: self._check(
            "backward", node, [gi for t, gi in zip(node.inputs, grads) if t is not None])
        return self

    def __exit__(self, *exc):
        grad_mode.forward_hook, grad_mode.backward_hook = self._previous


def leaves(rng, *shapes, lo=0.2, hi=2.0):
    """float32 leaves that require grad; positive, so log, sqrt and ** are defined."""
    return [dg.tensor(rng.uniform(lo, hi, shape).astype(F32), requires_grad=True)
            for shape in shapes]


def assert_float32_throughout(f, inputs):
    """``f(*inputs)`` and its backward pass, from its output to every input, stay float32."""
    with Float64Watch() as watch:
        out = f(*inputs)
        out.backward(np.ones(out.shape, F32))
    assert out.dtype == F32, f"output is {out.dtype}"
    assert watch.found == [], watch.found
    for i, x in enumerate(inputs):
        assert x.grad is not None and x.grad.dtype == F32, f"input {i}"


# --- operators and dg. functions, with Python numbers on either side ------------------

OPS = {
    "x + 1.5": lambda x: x + 1.5,
    "2 - x": lambda x: 2 - x,
    "x * 0.5": lambda x: x * 0.5,
    "3 * x": lambda x: 3 * x,
    "x / 3": lambda x: x / 3,
    "2.5 / x": lambda x: 2.5 / x,
    "x ** 2": lambda x: x**2,
    "x ** 0.5": lambda x: x**0.5,
    "2.0 ** x": lambda x: 2.0**x,
    "-x": lambda x: -x,
    "exp": dg.exp, "log": dg.log, "sqrt": dg.sqrt, "abs": dg.abs, "tanh": dg.tanh,
    "sigmoid": dg.sigmoid, "relu": dg.relu,
    "clip": lambda x: dg.clip(x, 0.5, 1.5),
    "maximum with a number": lambda x: dg.maximum(x, 1.0),
    "minimum with a number": lambda x: dg.minimum(x, 1.0),
    "where with a number": lambda x: dg.where(x.data > 1.0, x, 0.5),
    "sum": dg.sum, "mean": dg.mean, "var": dg.var, "max": dg.max, "min": dg.min,
    "logsumexp": dg.logsumexp,
    "reduction, then numbers": lambda x: (x.sum() * 0.5 + 1.0) / 3 - 2.0 * x.mean() ** 2,
    "reshape": lambda x: x.reshape(-1), "transpose": lambda x: x.T,
    "getitem": lambda x: x[..., None][0] if x.ndim else x[None][0],
    "concatenate": lambda x: dg.concatenate([x.reshape(-1), x.reshape(-1)]),
    "stack": lambda x: dg.stack([x, x * 2.0]),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", OPS)
def test_ops_keep_float32(name, shape):
    assert_float32_throughout(OPS[name], leaves(np.random.default_rng(0), shape))


def test_binary_ops_between_tensors_keep_float32():
    rng = np.random.default_rng(1)
    for f in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
              lambda a, b: a**b, dg.maximum, dg.minimum):
        assert_float32_throughout(f, leaves(rng, (3, 4), (3, 4)))
        assert_float32_throughout(f, leaves(rng, (), ()))
    assert_float32_throughout(dg.matmul, leaves(rng, (3, 4), (4,)))
    assert_float32_throughout(dg.matmul, leaves(rng, (4,), (4,)))  # a 0-d dot product


# --- activations, losses (every reduction), layers ------------------------------------

ACTIVATIONS = {
    "relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": F.sigmoid, "tanh": F.tanh,
    "gelu": F.gelu, "gelu tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softmax": F.softmax, "log_softmax": F.log_softmax,
    "dropout": lambda x: F.dropout(x, 0.5, rng=np.random.default_rng(0)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_keep_float32(name):
    assert_float32_throughout(ACTIVATIONS[name], leaves(np.random.default_rng(2), (3, 4)))


def _losses(rng):
    """name -> (loss function of (input, target, reduction), input, target)."""
    x, probs = rng.normal(size=(5, 4)).astype(F32), rng.uniform(0.1, 0.9, (5, 4)).astype(F32)
    labels, binary = rng.integers(0, 4, 5), (rng.random((5, 4)) > 0.5).astype(F32)
    soft = rng.dirichlet(np.ones(4), 5).astype(F32)
    return {
        "mse_loss": (F.mse_loss, x, probs),
        "l1_loss": (F.l1_loss, x, probs),
        "huber_loss": (lambda a, t, reduction: F.huber_loss(a, t, 0.5, reduction), x, probs),
        "binary_cross_entropy": (F.binary_cross_entropy, probs, binary),
        "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, x, binary),
        "cross_entropy": (F.cross_entropy, x, labels),
        "cross_entropy smoothed": (
            lambda a, t, reduction: F.cross_entropy(a, t, 0.1, reduction), x, labels),
        "cross_entropy probabilities": (F.cross_entropy, x, soft),
        "cross_entropy spatial": (F.cross_entropy, x.reshape(5, 4, 1), labels[:, None]),
        "nll_loss": (F.nll_loss, np.log(soft), labels),
    }


LOSS_NAMES = list(_losses(np.random.default_rng(0)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_losses_keep_float32(name, reduction):
    loss, x, target = _losses(np.random.default_rng(3))[name]
    assert_float32_throughout(lambda a: loss(a, target, reduction=reduction),
                              [dg.tensor(x, requires_grad=True)])


def test_probability_targets_get_float32_gradients_too():
    rng = np.random.default_rng(4)
    logits, target = leaves(rng, (5, 4), (5, 4))
    assert_float32_throughout(lambda a, t: F.cross_entropy(a, t / 4.0), [logits, target])


def _layers():
    return {
        "MLP": nn.MLP(4, [8, 8], 3, activation="gelu", dropout=0.1),
        "MLP tanh": nn.MLP(4, [8], 3, activation="tanh"),
        "Sequential": nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(), nn.Linear(6, 2),
                                    nn.Softmax()),
    }


@pytest.mark.parametrize("name", list(_layers()))
def test_layers_keep_float32_in_training_and_evaluation(name):
    model = _layers()[name]
    x = dg.tensor(np.random.default_rng(5).normal(size=(6, 4)).astype(F32))
    for mode in (model.train, model.eval):
        mode()
        model.zero_grad()
        assert_float32_throughout(lambda *_: F.mse_loss(model(x), 0.5 * np.ones(1, F32)),
                                  list(model.parameters()))


def test_embedding_keeps_float32():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    ids = np.random.default_rng(6).integers(0, 10, (5, 3))
    assert_float32_throughout(lambda *_: F.cross_entropy(model(ids), np.arange(5) % 2),
                              list(model.parameters()))


# --- optimisers and schedules ---------------------------------------------------------

OPTIMISERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "Adam": lambda p: optim.Adam(p, lr=1e-2, weight_decay=1e-3),
    "AdamW": lambda p: optim.AdamW(p, lr=1e-2),
    "RMSprop": lambda p: optim.RMSprop(p, momentum=0.5),
    "Adagrad": lambda p: optim.Adagrad(p),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_optimisers_keep_parameters_and_state_float32(name):
    model = nn.MLP(4, [8], 2)
    opt = OPTIMISERS[name](model.parameters())
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    x = dg.tensor(np.random.default_rng(7).normal(size=(6, 4)).astype(F32))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), np.arange(6) % 2).backward()
        optim.clip_grad_norm_(model.parameters(), 0.1)
        opt.step()
        scheduler.step()
    assert all(p.dtype == F32 for p in model.parameters())
    state = [a for s in opt.state_dict()["state"].values() for a in s.values()
             if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    assert state and all(a.dtype == F32 for a in state), [a.dtype for a in state]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_higher_order_gradients_keep_float32(shape):
    (x,) = leaves(np.random.default_rng(8), shape)

    def f(x):
        return (x**3).mean() * 0.5 + dg.tanh(x).sum() / 2 - dg.sqrt(x).var()

    with Float64Watch() as watch:
        first = dg.grad(f)(x)
        second = dg.grad(lambda x: dg.grad(f)(x).sum())(x)
        hessian = dg.hessian(f)(x.data)
    assert watch.found == [], watch.found
    assert first.dtype == second.dtype == hessian.dtype == F32
