"""The array API seam, proved without a GPU: everything trains on array-api-strict arrays on
its non-default device, where any hidden copy to NumPy raises (``np.asarray`` refuses such
an array, and the library refuses NumPy arrays as operands), with results equal to the
NumPy run's. Plus gradcheck (float64, against central differences) on that backend.
"""

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.nn import functional as F

xps = pytest.importorskip("array_api_strict")
DEVICE = dg.device(xps, xps.Device("device1"))


def on_device(array):
    return xps.asarray(np.asarray(array), device=xps.Device("device1"))


def host(x):
    return x.numpy() if isinstance(x, dg.Tensor) else dg.tensor(x).numpy()


def assert_on_device(x):
    data = x.data if isinstance(x, dg.Tensor) else x
    assert type(data).__module__.startswith("array_api_strict"), type(data)
    assert data.device == xps.Device("device1")


def test_the_tripwire_is_armed():
    """What makes these tests honest: a silent copy to NumPy, or a NumPy operand, raises."""
    x = on_device([1.0, 2.0])
    with pytest.raises(RuntimeError):
        np.asarray(x)
    with pytest.raises(TypeError):
        x + np.ones(2)


# --- tensors on the device ------------------------------------------------------------------


def test_tensor_keeps_the_library_and_device_of_its_data():
    t = dg.tensor(on_device([1.0, 2.0]), requires_grad=True)
    assert_on_device(t)
    assert t.device == DEVICE and t.device.name == "array_api_strict:device1"
    assert_on_device(dg.tensor([1.0, 2.0], device=DEVICE))
    assert dg.tensor([1.0, 2.0], device=DEVICE).dtype == xps.float32  # the default float dtype
    assert dg.tensor(on_device([1, 2]), dtype=np.float64).dtype == xps.float64


def test_to_and_numpy_copy_between_host_and_device_and_gradients_flow_back():
    x = dg.tensor([1.0, -2.0], requires_grad=True)
    y = x.to(DEVICE)
    assert_on_device(y)
    assert isinstance(y.numpy(), np.ndarray) and y.numpy().tolist() == [1.0, -2.0]
    (y * y).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_allclose(x.grad, [2.0, -4.0])
    assert y.to(DEVICE) is y and x.to("cpu") is x


def test_an_op_on_two_devices_is_a_value_error_naming_both():
    a = dg.tensor([1.0, 2.0], device=DEVICE)
    with pytest.raises(ValueError, match=r"add: inputs on different devices, "
                                         r"array_api_strict:device1 and cpu"):
        a + dg.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="matmul: inputs on different devices"):
        dg.tensor(np.ones((2, 2), np.float32)) @ dg.tensor(np.ones((2, 2)), device=DEVICE)
    other = dg.device(xps, xps.Device("device2"))
    with pytest.raises(ValueError, match="device1 and array_api_strict:device2"):
        a * dg.tensor([1.0, 2.0], device=other)


def test_printing_and_python_numbers_copy_explicitly():
    t = dg.tensor([1.5, 2.0], device=DEVICE)
    assert "device='array_api_strict:device1'" in repr(t)
    assert t.sum().item() == 3.5 and t.tolist() == [1.5, 2.0]


# --- every op against central differences, on the device --------------------------------

RNG = np.random.default_rng(0)
A, B, V = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2)), RNG.standard_normal(4)
OPS = {
    "add broadcast": (lambda x, y: x + y, A, V),
    "sub mul div": (lambda x, y: (x - y) * x / (y * y + 1), A, A[::-1].copy()),
    "pow": (lambda x: x ** 3, A),
    "matmul": (lambda x, y: x @ y, A, B),
    "matmul vector": (lambda x, y: x @ y, V, B),
    "exp log sqrt": (lambda x: (x * x + 1).log().exp().sqrt(), A),
    "abs tanh sigmoid relu": (lambda x: x.abs() + x.tanh() + x.sigmoid() + x.relu(), A),
    "clip": (lambda x: x.clip(-0.5, 0.5), A),
    "sum mean var": (lambda x: x.sum(axis=0) + x.mean(axis=0) + x.var(axis=0), A),
    "max min logsumexp": (lambda x: x.max(axis=1) + x.min(axis=1) + x.logsumexp(axis=1), A),
    "reshape transpose": (lambda x: x.reshape(2, 6).T * 2, A),
    "maximum minimum where": (lambda x, y: dg.maximum(x, y) - dg.minimum(x, y)
                              + dg.where(x.data > 0, x, y), A, A * 0.5),
    "concatenate stack": (lambda x, y: dg.concatenate([x, y], axis=1).sum(axis=1)
                          + dg.stack([x, y]).sum(axis=(0, 2)), A, A),
    "getitem": (lambda x: x[1:, ::2] * x[[0, 0, 2], [1, 1, 3]].sum(), A),
    "getitem mask": (lambda x: x[x.data > 0], A),
    "softmax log_softmax gelu": (lambda x: F.softmax(x) + F.log_softmax(x) + F.gelu(x)
                                 + F.gelu(x, approximate="tanh") + F.leaky_relu(x), A),
    "linear": (lambda x, w, b: F.linear(x, w, b), A, B.T.copy(), V[:2].copy()),
    "embedding": (lambda w: F.embedding(on_device([[0, 2], [2, 2]]), w), A),
}


@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck_on_the_device(name):
    f, *values = OPS[name]
    inputs = [dg.tensor(v, requires_grad=True, device=DEVICE) for v in values]

    def checked(*xs):
        out = f(*xs)
        assert_on_device(out)
        return out

    assert dg.gradcheck(checked, inputs)


def test_higher_order_on_the_device():
    x = dg.tensor(V, device=DEVICE)
    d2 = dg.grad(lambda x: dg.grad(lambda y: (y ** 3).sum())(x).sum())(x)
    assert_on_device(d2)
    np.testing.assert_allclose(d2.numpy(), 6 * V, rtol=1e-12)
    np.testing.assert_allclose(dg.hessian(lambda x: (x ** 3).sum())(x), np.diag(6 * V),
                               rtol=1e-12)


# --- training steps: the device run equals the NumPy run --------------------------------


def _twin(make):
    """The same model twice: on the host, and copied (weights and all) to the device."""
    cpu, dev = make(), make()
    dev.load_state_dict(cpu.state_dict())
    dev.to(DEVICE)
    for p in dev.parameters():
        assert_on_device(p)
    return cpu, dev


def _assert_same_weights(cpu, dev, rtol=2e-5, atol=1e-6):
    for (name, a), (_, b) in zip(cpu.named_parameters(), dev.named_parameters()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=atol, err_msg=name)


OPTIMISERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.1),
    "sgd momentum decay": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01,
                                              dampening=0.1),
    "sgd nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.01),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
    "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True,
                                       weight_decay=0.01),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.1, weight_decay=0.01, lr_decay=0.01),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_mlp_training_steps_on_the_device_equal_the_numpy_run(name):
    cpu, dev = _twin(lambda: nn.MLP(6, [16, 16], 3, activation="gelu",
                                    rng=np.random.default_rng(1)))
    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    opts = OPTIMISERS[name](cpu.parameters()), OPTIMISERS[name](dev.parameters())
    for _ in range(3):
        for model, opt, xs, ys in ((cpu, opts[0], x, y), (dev, opts[1], on_device(x),
                                                           on_device(y))):
            opt.zero_grad()
            F.cross_entropy(model(xs), ys).backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    _assert_same_weights(cpu, dev)
    state = opts[1].state_dict()  # the optimiser's state moves through a checkpoint too
    opts[1].load_state_dict(state)
    for buffers in opts[1].state.values():
        for value in buffers.values():
            if not isinstance(value, int):
                assert_on_device(value)


class _Tagger(nn.Module):
    """An embedding model: the backward of the lookup is a scatter-add with repeats."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, rng=np.random.default_rng(2))
        self.out = nn.Linear(3 * 8, 5, rng=np.random.default_rng(3))

    def forward(self, windows):
        return self.out(nn.Flatten()(self.embed(windows)))


def test_embedding_model_training_steps_on_the_device_equal_the_numpy_run():
    cpu, dev = _twin(_Tagger)
    windows = RNG.integers(0, 20, (16, 3))
    windows[:4] = 7  # repeated rows: the scatter-add must sum them
    y = RNG.integers(0, 5, 16)
    for model, xs, ys in ((cpu, windows, y), (dev, on_device(windows), on_device(y))):
        opt = optim.Adam(model.parameters(), lr=0.05)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(xs), ys, label_smoothing=0.1).backward()
            opt.step()
    _assert_same_weights(cpu, dev)


LOSSES = {
    "mse": lambda x, t, c: F.mse_loss(x, t),
    "l1": lambda x, t, c: F.l1_loss(x, t, reduction="sum"),
    "huber": lambda x, t, c: F.huber_loss(x, t, delta=0.5),
    "bce": lambda x, t, c: F.binary_cross_entropy(x.sigmoid(), t.abs() / (1 + t.abs())),
    "bce logits": lambda x, t, c: F.binary_cross_entropy_with_logits(x, t.sigmoid()),
    "cross entropy": lambda x, t, c: F.cross_entropy(x, c),
    "cross entropy probs": lambda x, t, c: F.cross_entropy(x, F.softmax(t),
                                                           label_smoothing=0.2),
    "cross entropy n-d": lambda x, t, c: F.cross_entropy(
        x.reshape(2, 2, 3).transpose(0, 2, 1), c.reshape(2, 2), label_smoothing=0.1),
    "nll": lambda x, t, c: F.nll_loss(F.log_softmax(x, axis=1), c, reduction="none").sum(),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_and_its_gradient_on_the_device_equal_numpy(name):
    x_np = RNG.standard_normal((4, 3))
    t_np = RNG.standard_normal((4, 3))
    c_np = RNG.integers(0, 3, 4)
    results = []
    for place in ("cpu", DEVICE):
        x = dg.tensor(x_np, requires_grad=True, device=place)
        t = dg.tensor(t_np, device=place)
        c = dg.tensor(c_np, device=place)
        loss = LOSSES[name](x, t, c)
        loss.backward()
        results.append((loss.numpy(), x.grad))
    (loss_cpu, grad_cpu), (loss_dev, grad_dev) = results
    assert_on_device(grad_dev)
    np.testing.assert_allclose(loss_dev, loss_cpu, rtol=1e-12)
    np.testing.assert_allclose(host(grad_dev), grad_cpu, rtol=1e-12, atol=1e-15)


def test_dropout_on_the_device_draws_what_numpy_draws():
    x = np.ones((6, 5), np.float32)
    for rng_of in (lambda: np.random.default_rng(4), lambda: None):
        outputs = []
        for place in ("cpu", DEVICE):
            dg.manual_seed(5)
            t = dg.tensor(x, requires_grad=True, device=place)
            y = F.dropout(t, p=0.4, rng=rng_of())
            y.sum().backward()
            outputs.append((y.numpy(), host(t.grad)))
        np.testing.assert_array_equal(outputs[1][0], outputs[0][0])
        np.testing.assert_array_equal(outputs[1][1], outputs[0][1])
        assert 0 < (outputs[0][0] == 0).sum() < x.size


def test_init_one_hot_and_state_dict_on_the_device():
    w = dg.tensor(np.zeros((4, 3), np.float32), device=DEVICE)
    nn.init.kaiming_uniform_(w, rng=np.random.default_rng(0))
    reference = nn.init.kaiming_uniform_(np.zeros((4, 3), np.float32),
                                         rng=np.random.default_rng(0))
    assert_on_device(w)
    np.testing.assert_array_equal(w.numpy(), reference)
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(3), atol=1e-5)
    hot = F.one_hot(on_device([2, 0]), 3)
    assert_on_device(hot)
    assert hot.numpy().tolist() == [[0, 0, 1], [1, 0, 0]]
    model = nn.Linear(3, 2).to(DEVICE)
    state = model.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    model.load_state_dict({k: v * 2 for k, v in state.items()})
    assert_on_device(model.weight)
    np.testing.assert_allclose(model.weight.numpy(), state["weight"] * 2)


def test_embedding_indices_on_another_device_are_refused():
    emb = nn.Embedding(5, 2).to(DEVICE)
    with pytest.raises(ValueError, match="embedding: weight on array_api_strict:device1 but "
                                         "indices on cpu"):
        emb(np.array([1, 2]))
