"""Run the training workloads for each framework, each in its own process, interleaved
so that machine drift cancels, and print medians and ratios to hand-written NumPy.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/run.py [--rounds 3] [mlp wide small]

PyTorch is included when it is installed (it is never a dependency of deltagrad).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path

from _util import blas_info, print_table

HERE = Path(__file__).resolve().parent


def measure(framework: str, workload: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "mlp.py"), framework, workload],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", default=["mlp", "wide", "small", "embed", "memory"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frameworks = ["numpy", "deltagrad"]
    if importlib.util.find_spec("torch") is not None:
        frameworks.append("torch")
    print(f"BLAS: {blas_info()}")
    for workload in args.workloads:
        if workload == "memory":
            report_memory(frameworks)
            continue
        results = {f: [] for f in frameworks}
        for _ in range(args.rounds):
            for framework in frameworks:
                results[framework].append(measure(framework, workload))
        base = statistics.median(r["epoch_s"] for r in results["numpy"])
        torch_epoch = statistics.median(r["epoch_s"] for r in results.get("torch", [])) \
            if "torch" in results else None
        rows = []
        for framework in frameworks:
            epoch = statistics.median(r["epoch_s"] for r in results[framework])
            step = statistics.median(r["step_us"] for r in results[framework])
            gflops = statistics.median(r["gflops"] for r in results[framework])
            rows.append((framework, f"{epoch:.3f}", f"{step:.1f}", f"{gflops:.0f}",
                         f"{epoch / base:.2f}",
                         f"{epoch / torch_epoch:.2f}" if torch_epoch else "-"))
        print(f"\n{workload}: median of {args.rounds} rounds")
        print_table(rows, ("framework", "epoch s", "step us", "GFLOP/s", "x numpy", "x torch"))
        if workload == "wide":
            peak = statistics.median(measure("numpy", "gemm")["gflops"] for _ in range(3))
            dg_rate = statistics.median(r["gflops"] for r in results["deltagrad"])
            print(f"NumPy float32 GEMM peak at these shapes: {peak:.0f} GFLOP/s; "
                  f"deltagrad reaches {dg_rate / peak:.0%} of it")


def report_memory(frameworks) -> None:
    rows = []
    for framework in frameworks:
        r = measure(framework, "memory")
        rows.append((framework, f"{r['peak_rss_mb']:.0f}", f"{r['growth_mb']:+.1f}",
                     f"{r['data_mb']:.0f}", f"{r['training_mb']:.1f}", f"{r['model_mb']:.1f}"))
    print("\nmemory: workload mlp, 20 epochs (MB)")
    print_table(rows, ("framework", "peak RSS", "growth ep2->20", "data", "peak - before training",
                       "params+grads+acts"))


if __name__ == "__main__":
    main()
