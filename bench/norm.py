"""Layer norm and batch norm: the fused ``Normalize`` op (one node, a hand-written backward)
against the same maths composed of primitive ops (mean, subtract, multiply, sqrt, ...: eight
to ten nodes, each backward written once in the engine), forward plus backward, float32.
PyTorch's layers on the same shapes are listed where it is installed.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/norm.py

Shapes: a hidden layer of an MLP (batch 256, width 64 and 512), a long batch (4096 x 64),
and tokens of a sequence model (32 x 128 x 256 for layer norm; (32, 64, 128) for batch norm
on (N, C, L)). The rounds alternate fused and composed so that machine drift cancels; the
figures are medians.
"""

from __future__ import annotations

import importlib.util
import statistics

import numpy as np
from _util import blas_info, median_time, print_table

import deltagrad as dg
from deltagrad import nn
from deltagrad.nn import functional as F

CASES = [("layer", (256, 64)), ("layer", (256, 512)), ("layer", (4096, 64)),
         ("layer", (32, 128, 256)), ("batch", (256, 64)), ("batch", (256, 512)),
         ("batch", (4096, 64)), ("batch", (32, 64, 128))]
EPS = 1e-5


def composed_layer_norm(x, w, b):
    mean = x.mean(axis=-1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=-1, keepdims=True)
    return xc / (var + EPS).sqrt() * w + b


def composed_batch_norm(x, w, b):
    axes = (0,) if x.ndim == 2 else (0, 2)
    view = (x.shape[1],) if x.ndim == 2 else (x.shape[1], 1)
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    return xc / (var + EPS).sqrt() * w.reshape(view) + b.reshape(view)


def fused_layer_norm(x, w, b):
    return F.layer_norm(x, x.shape[-1:], w, b, EPS)


def fused_batch_norm(x, w, b):
    return F.batch_norm(x, None, None, w, b, training=True, eps=EPS)


def step(norm, x, w, b, g):
    """Forward and backward once; the gradients are cleared so they do not accumulate."""
    def run():
        x.grad = w.grad = b.grad = None
        norm(x, w, b).backward(g)
    return run


def torch_step(kind, shape, g):
    import torch  # optional: only for the comparison column

    torch.set_num_threads(1)
    x = torch.randn(*shape, requires_grad=True)
    layer = torch.nn.LayerNorm(shape[-1]) if kind == "layer" else torch.nn.BatchNorm1d(shape[1])
    gt = torch.from_numpy(g)

    def run():
        x.grad = None
        layer.zero_grad()
        layer(x).backward(gt)
    return run


def main() -> None:
    print(f"BLAS: {blas_info()}")
    has_torch = importlib.util.find_spec("torch") is not None
    rows = []
    rng = np.random.default_rng(0)
    for kind, shape in CASES:
        channels = shape[-1] if kind == "layer" else shape[1]
        x = dg.tensor(rng.normal(size=shape).astype(np.float32), requires_grad=True)
        w = nn.Parameter(rng.normal(size=channels).astype(np.float32))
        b = nn.Parameter(rng.normal(size=channels).astype(np.float32))
        g = rng.normal(size=shape).astype(np.float32)
        fused = fused_layer_norm if kind == "layer" else fused_batch_norm
        composed = composed_layer_norm if kind == "layer" else composed_batch_norm
        np.testing.assert_allclose(fused(x, w, b).numpy(), composed(x, w, b).numpy(),
                                   rtol=1e-4, atol=1e-4)
        times = {"fused": [], "composed": []}
        for _ in range(5):  # interleaved: A B A B ...
            times["fused"].append(median_time(step(fused, x, w, b, g), repeats=3))
            times["composed"].append(median_time(step(composed, x, w, b, g), repeats=3))
        f, c = statistics.median(times["fused"]), statistics.median(times["composed"])
        row = [kind, str(shape), f"{f * 1e6:.0f}", f"{c * 1e6:.0f}", f"{c / f:.2f}x"]
        if has_torch:
            row.append(f"{median_time(torch_step(kind, shape, g)) * 1e6:.0f}")
        rows.append(tuple(row))
    header = ("norm", "shape", "fused us", "composed us", "fused faster")
    print_table(rows, header + (("torch us (1 thread)",) if has_torch else ()))


if __name__ == "__main__":
    main()
