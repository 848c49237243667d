"""Per-op overhead on tiny tensors: deltagrad next to the same arithmetic in raw NumPy.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/op_overhead.py
"""

from __future__ import annotations

import numpy as np
from _util import blas_info, median_time, print_table

import deltagrad as dg


def main() -> None:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((4, 4)).astype(np.float32)
    b_np = rng.standard_normal((4, 4)).astype(np.float32)
    a = dg.tensor(a_np, requires_grad=True)
    b = dg.tensor(b_np, requires_grad=True)

    def forward_backward(op):
        def run():
            a.grad = b.grad = None
            op().sum().backward()
        return run

    rows = []
    cases = {
        "add": (lambda: a + b, lambda: a_np + b_np),
        "mul": (lambda: a * b, lambda: a_np * b_np),
        "matmul": (lambda: a @ b, lambda: a_np @ b_np),
        "sum": (lambda: a.sum(), lambda: a_np.sum()),
    }
    for name, (dg_op, np_op) in cases.items():
        t_np = median_time(np_op)
        t_fwd = median_time(dg_op)
        with dg.no_grad():
            t_nograd = median_time(dg_op)
        rows.append((name, f"{t_np * 1e6:.2f}", f"{t_nograd * 1e6:.2f}", f"{t_fwd * 1e6:.2f}",
                     f"{(t_fwd - t_np) * 1e6:.2f}"))
    print("Tiny tensors (4x4 float32), microseconds per call")
    print_table(rows, ("op", "numpy", "dg no_grad", "dg recorded", "overhead"))

    # Forward + backward of a 3-layer MLP (4 -> 16 -> 16 -> 3) on 4 samples.
    x_np = rng.standard_normal((4, 4)).astype(np.float32)
    shapes = [(4, 16), (16, 16), (16, 3)]
    Ws_np = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in shapes]
    bs_np = [np.zeros(s[1], np.float32) for s in shapes]
    Ws = [dg.tensor(w, requires_grad=True) for w in Ws_np]
    bs = [dg.tensor(v, requires_grad=True) for v in bs_np]

    def dg_mlp():
        for p in Ws + bs:
            p.grad = None
        h = x_np
        for i, (W, b) in enumerate(zip(Ws, bs)):
            h = h @ W + b
            if i < 2:
                h = h.relu()
        (h * h).mean().backward()

    def np_mlp():
        hs, h = [x_np], x_np
        for i, (W, b) in enumerate(zip(Ws_np, bs_np)):
            h = h @ W + b
            if i < 2:
                h = np.maximum(h, 0)
            hs.append(h)
        g = 2 * h / h.size
        grads = []
        for i in reversed(range(3)):
            if i < 2:
                g = g * (hs[i + 1] > 0)
            grads.append((hs[i].T @ g, g.sum(0)))
            g = g @ Ws_np[i].T
        return grads

    t_np, t_dg = median_time(np_mlp), median_time(dg_mlp)
    print("\n3-layer MLP 4-16-16-3, 4 samples, forward + backward (microseconds)")
    print_table([("hand NumPy", f"{t_np * 1e6:.1f}", "1.00"),
                 ("deltagrad", f"{t_dg * 1e6:.1f}", f"{t_dg / t_np:.2f}")],
                ("", "time", "ratio"))
    print(f"\nBLAS: {blas_info()}")


if __name__ == "__main__":
    main()
