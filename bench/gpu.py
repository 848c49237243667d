"""deltagrad on a CUDA GPU (CuPy) against PyTorch CUDA and hand-written CuPy: float32 SGD
training steps of two MLPs, each framework in its own process, rounds interleaved so that
drift cancels; medians printed.

    python bench/gpu.py [--rounds 5] [--steps 200] [small large]

    small: 784-512-512-10 MLP, batch 128    (per-step overhead: where Python time shows)
    large: 784-4096-4096-10 MLP, batch 4096 (throughput: where the GPU's FLOPs show)

Needs CuPy (pip install 'deltagrad[cuda12]' or '[cuda13]'); PyTorch is timed when it is
installed. Each step is forward, cross-entropy, backward and an SGD update (lr 0.01, no
momentum); the data stay on the GPU; timing covers --steps steps after 20 warm-up steps,
with the GPU synchronised at both ends.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
import subprocess
import sys
import time

WORKLOADS = {"small": ((784, 512, 512, 10), 128), "large": ((784, 4096, 4096, 10), 4096)}
WARMUP = 20


def _data(xp, sizes, batch):
    rng = xp.random.default_rng(0)
    x = rng.standard_normal((batch, sizes[0]), dtype=xp.float32)
    y = rng.integers(0, sizes[-1], batch)
    return x, y


def time_steps(step, synchronize, steps: int) -> float:
    """Seconds per step: ``steps`` calls of ``step`` between two synchronisations."""
    for _ in range(WARMUP):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - start) / steps


def run_deltagrad(sizes, batch, steps):
    import cupy

    import deltagrad as dg
    from deltagrad import nn, optim
    from deltagrad.nn import functional as F

    model = nn.MLP(sizes[0], list(sizes[1:-1]), sizes[-1]).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01)
    x, y = _data(cupy, sizes, batch)
    x, y = dg.tensor(x), dg.tensor(y)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return time_steps(step, cupy.cuda.get_current_stream().synchronize, steps)


def run_torch(sizes, batch, steps):
    import cupy
    import torch

    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(torch.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = _data(cupy, sizes, batch)
    x, y = torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda")

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return time_steps(step, torch.cuda.synchronize, steps)


def run_cupy(sizes, batch, steps):
    """Hand-written CuPy: the floor any framework on CuPy can approach."""
    import cupy as cp

    rng = cp.random.default_rng(1)
    weights = [rng.standard_normal((n_out, n_in), dtype=cp.float32) * (2 / n_in) ** 0.5
               for n_in, n_out in itertools.pairwise(sizes)]
    biases = [cp.zeros(n_out, cp.float32) for n_out in sizes[1:]]
    x, y = _data(cp, sizes, batch)
    rows = cp.arange(batch)

    def step():
        hs = [x]
        for i, (w, b) in enumerate(zip(weights, biases)):
            h = hs[-1] @ w.T
            h += b
            if i < len(weights) - 1:
                cp.maximum(h, 0, out=h)
            hs.append(h)
        z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
        e = cp.exp(z)
        g = e / e.sum(axis=1, keepdims=True)
        g[rows, y] -= 1
        g /= batch
        for i in reversed(range(len(weights))):
            gw, gb = g.T @ hs[i], g.sum(axis=0)
            if i > 0:
                g = g @ weights[i]
                g *= hs[i] > 0
            weights[i] -= 0.01 * gw
            biases[i] -= 0.01 * gb

    return time_steps(step, cp.cuda.get_current_stream().synchronize, steps)


RUNNERS = {"cupy": run_cupy, "deltagrad": run_deltagrad, "torch": run_torch}


def worker(framework: str, workload: str, steps: int) -> None:
    sizes, batch = WORKLOADS[workload]
    seconds = RUNNERS[framework](sizes, batch, steps)
    print(json.dumps({"step_ms": seconds * 1e3, "samples_per_s": batch / seconds}))


def measure(framework: str, workload: str, steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", framework, workload,
                          "--steps", str(steps)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def describe_gpu() -> str:
    """The GPU's name and the CuPy version; exits with one line where CuPy sees no GPU."""
    import cupy

    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as error:  # no driver: CuPy imports, runs nothing
        count, why = 0, f" ({error})"
    else:
        why = ""
    if not count:
        sys.exit(f"bench/gpu.py needs a CUDA GPU; CuPy sees none on this machine{why}")
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name}; CuPy {cupy.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.steps)
        return
    if importlib.util.find_spec("cupy") is None:
        sys.exit("bench/gpu.py needs CuPy: pip install 'deltagrad[cuda12]' (or [cuda13])")
    frameworks = ["cupy", "deltagrad"] + (["torch"] if importlib.util.find_spec("torch")
                                          else [])
    print(f"GPU: {describe_gpu()}")
    for workload in args.workloads:
        results = {f: [] for f in frameworks}
        for _ in range(args.rounds):
            for framework in frameworks:
                results[framework].append(measure(framework, workload, args.steps))
        sizes, batch = WORKLOADS[workload]
        print(f"\n{workload}: MLP {'-'.join(map(str, sizes))}, batch {batch}, float32 SGD; "
              f"median of {args.rounds} rounds of {args.steps} steps")
        medians = {f: statistics.median(r["step_ms"] for r in results[f]) for f in frameworks}
        reference = medians.get("torch")
        print(f"{'framework':>10}  {'step ms':>9}  {'samples/s':>11}  {'x torch throughput':>18}")
        for framework in frameworks:
            ratio = f"{reference / medians[framework]:.2f}" if reference else "-"
            print(f"{framework:>10}  {medians[framework]:9.3f}  "
                  f"{batch / medians[framework] * 1e3:11.0f}  {ratio:>18}")
        if reference:
            print(f"deltagrad per-step overhead over PyTorch: "
                  f"{(medians['deltagrad'] - reference) * 1e3:+.0f} µs")


if __name__ == "__main__":
    main()
