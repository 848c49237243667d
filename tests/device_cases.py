"""What every device must do as NumPy does, written once for any device: gradcheck of every
op, training steps with every optimiser, an embedding model, every loss. The tests on
array-api-strict's second device (``test_devices_strict.py``, always run) and on a GPU
(``test_gpu.py``, ``pytest -m gpu``) call these with their device."""

import numpy as np

import deltagrad as dg
from deltagrad import nn, optim
from deltagrad.nn import functional as F

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
    "layer_norm batch_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b)
                              + F.batch_norm(x, None, None, w, b, training=True),
                              A, V, V[::-1].copy()),
    "embedding": (lambda w: F.embedding(dg.tensor([[0, 2], [2, 2]]).to(w.device), w), A),
    "losses": (lambda x, t: F.cross_entropy(x, dg.tensor([0, 3, 3]).to(x.device))
               + F.mse_loss(x, t) + F.huber_loss(x, t) + F.l1_loss(x, t)
               + F.binary_cross_entropy_with_logits(x, t.sigmoid()), A, A[::-1].copy()),
}

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


def assert_on(device, x):
    """``x`` (a Tensor or an array) lives on ``device``."""
    assert (x if isinstance(x, dg.Tensor) else dg.tensor(x)).device == device


def check_gradcheck(name: str, device) -> None:
    f, *values = OPS[name]
    inputs = [dg.tensor(v, requires_grad=True, device=device) for v in values]

    def checked(*xs):
        out = f(*xs)
        assert_on(device, out)
        return out

    assert dg.gradcheck(checked, inputs)


def twin(make, device):
    """The same model twice: on the host, and copied (weights and all) to ``device``."""
    cpu, moved = make(), make()
    moved.load_state_dict(cpu.state_dict())
    assert moved.to(device) is moved
    for p in moved.parameters():
        assert_on(device, p)
    return cpu, moved


def assert_same_weights(cpu, moved, rtol=2e-5, atol=1e-6) -> None:
    for (name, a), (_, b) in zip(cpu.named_parameters(), moved.named_parameters()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=rtol, atol=atol, err_msg=name)


def check_mlp_steps(name: str, device, steps: int = 3) -> None:
    """Training steps of an MLP (GELU, cross-entropy, clipping) with optimiser ``name`` on
    ``device`` end with the NumPy run's weights, and the optimiser's state there."""
    cpu, moved = twin(lambda: nn.MLP(6, [16, 16], 3, activation="gelu",
                                     rng=np.random.default_rng(1)), device)
    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    for model, place in ((cpu, "cpu"), (moved, device)):
        opt = OPTIMISERS[name](model.parameters())
        xs, ys = dg.tensor(x, device=place), dg.tensor(y, device=place)
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(xs), ys).backward()
            optim.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    assert_same_weights(cpu, moved)
    opt.load_state_dict(opt.state_dict())  # state through a state dict stays on the device
    for buffers in opt.state.values():
        for value in buffers.values():
            if not isinstance(value, int):
                assert_on(device, value)


class Tagger(nn.Module):
    """An embedding model: the backward of the lookup is a scatter-add with repeats."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 8, rng=np.random.default_rng(2))
        self.out = nn.Linear(3 * 8, 5, rng=np.random.default_rng(3))

    def forward(self, windows):
        return self.out(nn.Flatten()(self.embed(windows)))


def check_embedding_model(device) -> None:
    cpu, moved = twin(Tagger, device)
    windows = RNG.integers(0, 20, (16, 3))
    windows[:4] = 7  # repeated rows: the scatter-add must sum them
    y = RNG.integers(0, 5, 16)
    for model, place in ((cpu, "cpu"), (moved, device)):
        opt = optim.Adam(model.parameters(), lr=0.05)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(dg.tensor(windows, device=place)), dg.tensor(y, device=place),
                            label_smoothing=0.1).backward()
            opt.step()
    assert_same_weights(cpu, moved)


def check_normalised_mlp(norm: str, device) -> None:
    """An MLP with ``norm`` ("layer" or "batch") and skip connections trains on ``device`` as
    on the host: weights, running statistics (buffers, kept on the device), eval outputs;
    its state dict holds host arrays, and ``to(float64)`` casts the float buffers there."""
    cpu, moved = twin(lambda: nn.MLP(6, [16, 16], 3, norm=norm, residual=True,
                                     rng=np.random.default_rng(1)), device)
    x = RNG.standard_normal((8, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    for model, place in ((cpu, "cpu"), (moved, device)):
        opt = optim.Adam(model.parameters(), lr=0.01)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(dg.tensor(x, device=place)), dg.tensor(y, device=place)
                            ).backward()
            opt.step()
    assert_same_weights(cpu, moved)
    buffers = list(zip(cpu.named_buffers(), moved.named_buffers()))
    assert len(buffers) == (6 if norm == "batch" else 0)
    for (name, a), (_, b) in buffers:
        assert_on(device, b)
        np.testing.assert_allclose(dg.tensor(b).numpy(), a, rtol=2e-5, atol=1e-6,
                                   err_msg=name)
    cpu.eval(), moved.eval()
    np.testing.assert_allclose(moved(dg.tensor(x, device=device)).numpy(), cpu(x).numpy(),
                               rtol=1e-4, atol=1e-5)
    assert all(type(v) is np.ndarray for v in moved.state_dict().values())
    for name, b in moved.to(np.float64).named_buffers():
        assert_on(device, b)
        assert dg.tensor(b).numpy().dtype == (np.int64 if name.endswith("tracked")
                                              else np.float64)


def check_loss(name: str, device, rtol: float = 1e-12) -> None:
    """Loss ``name`` and its gradient, float64, on ``device`` equal NumPy's."""
    x_np, t_np, c_np = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3)), \
        RNG.integers(0, 3, 4)
    results = []
    for place in ("cpu", device):
        x = dg.tensor(x_np, requires_grad=True, device=place)
        loss = LOSSES[name](x, dg.tensor(t_np, device=place), dg.tensor(c_np, device=place))
        loss.backward()
        assert_on(place, x.grad)
        results.append((loss.numpy(), dg.tensor(x.grad).numpy()))
    (loss_cpu, grad_cpu), (loss_moved, grad_moved) = results
    np.testing.assert_allclose(loss_moved, loss_cpu, rtol=rtol)
    np.testing.assert_allclose(grad_moved, grad_cpu, rtol=rtol, atol=1e-15)
