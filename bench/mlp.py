"""Training-step workloads, one framework per process (their BLAS thread pools fight
inside one process on 2 cores). ``bench/run.py`` drives this script; run by hand:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp.py deltagrad mlp

Workloads (from the performance issue):
  mlp    784-512-512-10 ReLU, batch 128, float32, SGD: seconds per epoch
  wide   784-2048-2048-10, batch 1024: GFLOP/s counted as 6 x weights x samples
  small  4-16-16-3, full batch of 150: microseconds per step (framework overhead)
Prints one JSON line: {"framework", "workload", "seconds", ...}.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

WORKLOADS = {
    # name: (layer sizes, batch size, samples per epoch, epochs timed)
    "mlp": ((784, 512, 512, 10), 128, 20_000, 3),
    "wide": ((784, 2048, 2048, 10), 1024, 8_192, 3),
    "small": ((4, 16, 16, 3), 150, 150 * 1000, 3),
}


def make_data(sizes, samples, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((samples, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], samples)
    return X, y


def init_weights(sizes, seed=1):
    """PyTorch's default Linear init, shared by every framework so all start equal."""
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        weights.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                        rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return weights


# --- hand-written NumPy: the practical limit for NumPy code ------------------------------


def numpy_trainer(sizes, lr=0.01):
    params = init_weights(sizes)

    def step(x, y):
        activations = [x]
        for i, (W, b) in enumerate(params):
            z = activations[-1] @ W.T
            z += b
            if i < len(params) - 1:
                np.maximum(z, 0, out=z)
            activations.append(z)
        logits = activations[-1]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)  # now softmax probabilities
        g = logits
        g[np.arange(len(y)), y] -= 1
        g /= len(y)
        for i in reversed(range(len(params))):
            W, b = params[i]
            a = activations[i]
            gW = g.T @ a
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ W
                g *= activations[i] > 0
            W -= lr * gW
            b -= lr * gb

    return step


# --- deltagrad ---------------------------------------------------------------------------


def deltagrad_trainer(sizes, lr=0.01):
    import deltagrad as dg
    from deltagrad import nn, optim
    from deltagrad.nn import functional as F

    layers = []
    for i, (W, b) in enumerate(init_weights(sizes)):
        linear = nn.Linear(W.shape[1], W.shape[0])
        linear.weight.data[...] = W
        linear.bias.data[...] = b
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = optim.SGD(model.parameters(), lr=lr)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(dg.tensor(x)), y)
        loss.backward()
        opt.step()

    return step


# --- PyTorch CPU eager (only when installed; never a dependency) -------------------------


def torch_trainer(sizes, lr=0.01):
    import torch

    torch.set_num_threads(2)
    layers = []
    for i, (W, b) in enumerate(init_weights(sizes)):
        linear = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step(x, y):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()

    return step


TRAINERS = {"numpy": numpy_trainer, "deltagrad": deltagrad_trainer, "torch": torch_trainer}


def run(framework: str, workload: str) -> dict:
    sizes, batch, samples, epochs = WORKLOADS[workload]
    X, y = make_data(sizes, samples)
    step = TRAINERS[framework](sizes)
    batches = [(X[i:i + batch], y[i:i + batch]) for i in range(0, samples, batch)]
    step(*batches[0])  # warm-up
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in batches:
            step(xb, yb)
        times.append(time.perf_counter() - start)
    epoch = float(np.median(times))
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"framework": framework, "workload": workload, "epoch_s": epoch,
            "step_us": epoch / len(batches) * 1e6,
            "gflops": 6 * weights * samples / epoch / 1e9}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2])))
