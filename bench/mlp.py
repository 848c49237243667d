"""Training-step workloads, one framework per process (their BLAS thread pools fight
inside one process on 2 cores). ``bench/run.py`` drives this script; run by hand:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp.py deltagrad mlp

Workloads (from the performance issue):
  mlp    784-512-512-10 ReLU, batch 128, float32, SGD: seconds per epoch
  wide   784-2048-2048-10, batch 1024: GFLOP/s counted as 6 x weights x samples
  small  4-16-16-3, full batch of 150: microseconds per step (framework overhead)
  embed  embeddings (vocab 10,000, dim 64, context 4) -> 256 tanh -> softmax over the
         vocabulary, batch 256: milliseconds per step
  memory workload mlp for 20 epochs: peak RSS and its growth from epoch 2 to epoch 20
  gemm   NumPy's own float32 GEMM rate on the six products of a "wide" step (the peak)
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
    "embed": ((4 * 64, 256, 10_000), 256, 256 * 40, 3),
}
EMBED_VOCAB, EMBED_DIM, EMBED_CONTEXT = 10_000, 64, 4


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


# --- workload "embed": a Bengio-style language model step --------------------------------


def embed_data(samples, seed=0):
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, EMBED_VOCAB, (samples, EMBED_CONTEXT))
    return contexts, rng.integers(0, EMBED_VOCAB, samples)


def embed_init(seed=1):
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((EMBED_VOCAB, EMBED_DIM)).astype(np.float32)
    return table, init_weights((EMBED_CONTEXT * EMBED_DIM, 256, EMBED_VOCAB), seed)


def numpy_embed_trainer(lr=0.01):
    table, ((W1, b1), (W2, b2)) = embed_init()

    def step(ctx, y):
        n = len(y)
        x = table[ctx].reshape(n, -1)
        h = np.tanh(x @ W1.T + b1)
        logits = h @ W2.T
        logits += b2
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        g = logits
        g[np.arange(n), y] -= 1
        g /= n
        gW2, gb2 = g.T @ h, g.sum(axis=0)
        gh = g @ W2
        gh *= 1 - h * h
        gW1, gb1 = gh.T @ x, gh.sum(axis=0)
        gx = (gh @ W1).reshape(-1, EMBED_DIM)
        for param, grad in ((W2, gW2), (b2, gb2), (W1, gW1), (b1, gb1)):
            param -= lr * grad  # in place: the closure's arrays are updated
        np.subtract.at(table, ctx.ravel(), lr * gx)  # the plain NumPy scatter

    return step


def deltagrad_embed_trainer(lr=0.01):
    from deltagrad import nn, optim
    from deltagrad.nn import functional as F

    table, ((W1, b1), (W2, b2)) = embed_init()
    embedding = nn.Embedding(EMBED_VOCAB, EMBED_DIM)
    embedding.weight.data[...] = table
    hidden, out = nn.Linear(EMBED_CONTEXT * EMBED_DIM, 256), nn.Linear(256, EMBED_VOCAB)
    for layer, (W, b) in ((hidden, (W1, b1)), (out, (W2, b2))):
        layer.weight.data[...] = W
        layer.bias.data[...] = b
    params = [*embedding.parameters(), *hidden.parameters(), *out.parameters()]
    opt = optim.SGD(params, lr=lr)

    def step(ctx, y):
        opt.zero_grad()
        x = embedding(ctx).reshape(len(y), -1)
        loss = F.cross_entropy(out(hidden(x).tanh()), y)
        loss.backward()
        opt.step()

    return step


def torch_embed_trainer(lr=0.01):
    import torch

    torch.set_num_threads(2)
    table, ((W1, b1), (W2, b2)) = embed_init()
    embedding = torch.nn.Embedding(EMBED_VOCAB, EMBED_DIM)
    hidden, out = torch.nn.Linear(EMBED_CONTEXT * EMBED_DIM, 256), torch.nn.Linear(256, EMBED_VOCAB)
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(table))
        for layer, (W, b) in ((hidden, (W1, b1)), (out, (W2, b2))):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
    params = [*embedding.parameters(), *hidden.parameters(), *out.parameters()]
    opt = torch.optim.SGD(params, lr=lr)

    def step(ctx, y):
        opt.zero_grad()
        x = embedding(torch.from_numpy(ctx)).reshape(len(y), -1)
        logits = out(torch.tanh(hidden(x)))
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
        opt.step()

    return step


TRAINERS = {"numpy": numpy_trainer, "deltagrad": deltagrad_trainer, "torch": torch_trainer}
EMBED_TRAINERS = {"numpy": numpy_embed_trainer, "deltagrad": deltagrad_embed_trainer,
                  "torch": torch_embed_trainer}


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            import os
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def run_memory(framework: str) -> dict:
    import resource

    sizes, batch, samples, _ = WORKLOADS["mlp"]
    X, y = make_data(sizes, samples)
    step = TRAINERS[framework](sizes)
    batches = [(X[i:i + batch], y[i:i + batch]) for i in range(0, samples, batch)]
    before = rss_bytes()  # interpreter, libraries, data and weights: all but training itself
    rss = []
    for _ in range(20):
        for xb, yb in batches:
            step(xb, yb)
        rss.append(rss_bytes())
    weights = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    activations = batch * sum(sizes)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    return {"framework": framework, "workload": "memory",
            "peak_rss_mb": peak / 2**20,
            "growth_mb": (rss[-1] - rss[1]) / 2**20,
            "training_mb": (peak - before) / 2**20,
            "data_mb": (X.nbytes + y.nbytes) / 2**20,
            # parameters + gradients + one batch's activations and their gradients, float32
            "model_mb": (2 * weights + 2 * activations) * 4 / 2**20}


def run_gemm() -> dict:
    """NumPy's float32 GEMM rate on the six products of one "wide" training step."""
    sizes, batch, _, _ = WORKLOADS["wide"]
    rng = np.random.default_rng(0)
    products = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        x = rng.standard_normal((batch, fan_in), dtype=np.float32)
        W = rng.standard_normal((fan_out, fan_in), dtype=np.float32)
        g = rng.standard_normal((batch, fan_out), dtype=np.float32)
        products += [(x, W.T), (g.T, x), (g, W)]  # forward, weight gradient, input gradient
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)
    for a, b in products:
        a @ b
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for a, b in products:
            a @ b
        times.append(time.perf_counter() - start)
    return {"framework": "numpy", "workload": "gemm",
            "gflops": flops / float(np.median(times)) / 1e9}


def run(framework: str, workload: str) -> dict:
    if workload == "memory":
        return run_memory(framework)
    if workload == "gemm":
        return run_gemm()
    sizes, batch, samples, epochs = WORKLOADS[workload]
    if workload == "embed":
        X, y = embed_data(samples)
        step = EMBED_TRAINERS[framework]()
    else:
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
