"""Data-parallel training over MPI: samples/s for K = 1 and 2 ranks (one BLAS thread each),
fast and deterministic mode, the share of a step spent in the gradient sum, and the inputs
of the cost model in docs/distributed.md.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/distributed.py [--rounds 3]

Needs the mpi extra (mpi4py, mpich: ``mpiexec`` next to the Python in use or on PATH).
Workloads (one epoch each, or the first ``samples``; the global batch is the one given):
  mlp     784-512-512-10 ReLU, batch 128, Adam: the MLP epoch of bench/mlp.py
  wide    784-2048-2048-10 ReLU, batch 1024 (5.8 M parameters, 23 MB of gradients)
  charlm  the character LM of ``deltagrad lm train`` (context 8, 16-d embeddings, tanh
          512-512, direct connections, dropout 0.1), batch 256, on tiny-shakespeare when
          ../shared/data holds it, else on generated text
Each configuration runs in its own ``mpiexec``, the rounds interleaved (A B A B ...), and
medians are printed. ``comm`` is the time inside MPI calls during the epoch (waiting for
the other rank included); ``exact`` the time of deterministic mode's exact sums (their
collectives included). ``allreduce`` times MPI_Allreduce alone on each workload's gradient
buffer: the bandwidth and latency of this machine's shared memory, which the cost model uses
to predict K = 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"
WORKLOADS = {  # name: (samples, global batch)
    "mlp": (20_000, 128), "wide": (8_192, 1024), "charlm": (65_536, 256)}


# --- inside one rank -----------------------------------------------------------------------


def _charlm_data():
    from deltagrad.text.lm import FeedForwardLM, LanguageModel
    from deltagrad.text.vocab import Vocabulary

    if DATA.exists():
        text = DATA.read_text(encoding="utf-8")
    else:
        rng = np.random.default_rng(0)
        text = "".join(rng.choice(list("abcdefghij klmnop\n"), 300_000))
    vocab = Vocabulary.build(list(text))
    module = FeedForwardLM(len(vocab), 8, embed_dim=16, hidden=(512, 512), dropout=0.1,
                           direct=True, rng=np.random.default_rng(0))
    X, y = LanguageModel(module, vocab).dataset(text)
    return module, X, y


def _model_and_data(workload: str):
    from deltagrad import nn

    if workload == "charlm":
        return _charlm_data()
    sizes = (784, 512, 512, 10) if workload == "mlp" else (784, 2048, 2048, 10)
    rng = np.random.default_rng(0)
    n = WORKLOADS[workload][0]
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    return nn.MLP(sizes[0], list(sizes[1:-1]), sizes[-1], rng=rng), X, rng.integers(0, 10, n)


def _timed(owner, name: str, spent: list) -> None:
    """Wrap ``owner.name`` so that the seconds spent in it add up in ``spent[0]``."""
    inner = getattr(owner, name)

    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - began

    setattr(owner, name, timed)


def worker(workload: str, mode: str) -> None:
    from deltagrad import distributed
    from deltagrad.distributed import comm as comm_module
    from deltagrad.distributed import exact
    from deltagrad.train import Trainer
    from deltagrad.train.sample_random import use_trainer_dropout

    samples, batch = WORKLOADS[workload]
    model, X, y = _model_and_data(workload)
    use_trainer_dropout(model)
    X, y = X[:samples], y[:samples]
    comm_time, exact_time = [0.0], [0.0]
    for name in ("allreduce", "bcast"):
        _timed(comm_module.MPIComm, name, comm_time)
    _timed(exact.ExactSum, "__call__", exact_time)

    def trainer():  # a fresh one per fit (the warm-up's would count its epoch as done)
        return Trainer(model, "cross_entropy", lr=1e-3, seed=0, progress="none",
                       deterministic=mode == "det")

    trainer().fit(X[:batch * 2], y[:batch * 2], epochs=1, batch_size=batch)  # warm up
    comm_time[0] = exact_time[0] = 0.0
    began = time.perf_counter()
    trainer().fit(X, y, epochs=1, batch_size=batch)
    seconds = time.perf_counter() - began
    if distributed.rank() == 0:
        params = sum(p.data.size for p in model.parameters())
        steps = -(-len(y) // batch)
        print(json.dumps({"workload": workload, "mode": mode, "k": distributed.world_size(),
                          "samples_per_s": len(y) / seconds, "step_s": seconds / steps,
                          "comm_share": comm_time[0] / seconds,
                          "exact_share": exact_time[0] / seconds, "params": params}))


def allreduce_worker(size: int) -> None:
    """Median seconds of an in-place MPI_Allreduce of ``size`` float32 between the ranks."""
    from mpi4py import MPI

    buffer = np.ones(size, np.float32)
    runs = []
    for _ in range(15):
        MPI.COMM_WORLD.Barrier()
        began = time.perf_counter()
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buffer)
        runs.append(time.perf_counter() - began)
    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps({"size": size, "seconds": statistics.median(runs[3:])}))


# --- the driver ---------------------------------------------------------------------------


def _mpiexec() -> str:
    found = shutil.which("mpiexec", path=f"{Path(sys.executable).parent}{os.pathsep}"
                                         f"{os.environ.get('PATH', '')}")
    if found is None:
        raise SystemExit("no mpiexec: pip install 'deltagrad[mpi]'")
    return found


def _launch(k: int, *args: str) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([_mpiexec(), "-n", str(k), sys.executable, __file__, *args],
                         check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS))
    args = parser.parse_args()
    configs = [(w, m, k) for w in args.workloads for m in ("fast", "det") for k in (1, 2)]
    runs: dict = {c: [] for c in configs}
    for _ in range(args.rounds):
        for config in configs:
            runs[config].append(_launch(config[2], "worker", config[0], config[1]))
    print(f"{'workload':8} {'mode':5} {'K':>2} {'samples/s':>10} {'step ms':>8} "
          f"{'comm %':>7} {'exact %':>8}")
    results = []
    for (w, m, k), rs in runs.items():
        row = {key: statistics.median(r[key] for r in rs)
               for key in ("samples_per_s", "step_s", "comm_share", "exact_share")}
        row.update(workload=w, mode=m, k=k, params=rs[0]["params"])
        results.append(row)
        print(f"{w:8} {m:5} {k:>2} {row['samples_per_s']:>10.0f} {1e3 * row['step_s']:>8.2f} "
              f"{100 * row['comm_share']:>7.1f} {100 * row['exact_share']:>8.1f}")
    sizes = sorted({r["params"] for r in results})
    reduce = {s: _launch(2, "allreduce", str(s))["seconds"] for s in [1, *sizes]}
    print("\nMPI_Allreduce, 2 ranks, float32:")
    for size, seconds in reduce.items():
        print(f"  {size:>9} values ({4 * size / 1e6:.3f} MB): {1e6 * seconds:.1f} us")
    print("\n" + json.dumps({"runs": results, "allreduce": reduce}))
    cost_model(results, reduce)


#: (name, bits per second, latency per message in seconds) of the networks modelled:
#: MPI over TCP on 10 Gbit/s Ethernet, and RDMA (InfiniBand / RoCE) at 100 Gbit/s
NETWORKS = (("10 Gbit/s", 10e9, 25e-6), ("100 Gbit/s", 100e9, 3e-6))
RANKS = (2, 4, 8, 16, 32, 64, 128, 256)


def ring_seconds(k: int, nbytes: float, bits_per_s: float, latency: float) -> float:
    """A ring allreduce of ``nbytes`` over ``k`` ranks: 2(k-1)/k of the bytes through each
    link, 2(k-1) messages in a row."""
    return 2 * (k - 1) / k * nbytes * 8 / bits_per_s + latency * 2 * (k - 1)


def cost_model(results: list, reduce: dict) -> None:
    """One step at K ranks and global batch B: compute t * B / K (t: a sample's share of a
    measured single-rank step), then the gradient sum (no overlap). Efficiency = compute /
    (compute + sum); the batch for 80 % makes compute = 4 x sum."""
    fast = {(r["workload"], r["k"]): r for r in results if r["mode"] == "fast"}
    for workload, (_, batch) in WORKLOADS.items():
        if (workload, 1) not in fast:
            continue
        one = fast[(workload, 1)]
        per_sample = one["step_s"] / batch
        nbytes = 4 * one["params"]
        print(f"\n{workload}: {one['params']:,} parameters ({nbytes / 1e6:.1f} MB), "
              f"{1e6 * per_sample:.1f} us per sample on one rank")
        if (workload, 2) in fast:
            predicted = per_sample * batch / 2 + reduce[one["params"]]
            print(f"  K=2 here: predicted step {1e3 * predicted:.2f} ms (compute "
                  f"{1e3 * per_sample * batch / 2:.2f} + allreduce "
                  f"{1e3 * reduce[one['params']]:.2f}), measured "
                  f"{1e3 * fast[(workload, 2)]['step_s']:.2f} ms")
        print(f"  {'K':>4}" + "".join(f"  {name:>10} eff  B for 80%" for name, _, _ in NETWORKS))
        for k in RANKS:
            row = f"  {k:>4}"
            for _, bits, latency in NETWORKS:
                reduce_s = ring_seconds(k, nbytes, bits, latency)
                compute = per_sample * batch / k
                row += (f"  {100 * compute / (compute + reduce_s):>13.0f}%"
                        f"  {4 * k * reduce_s / per_sample:>9,.0f}")
            print(row)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "allreduce":
        allreduce_worker(int(sys.argv[2]))
    else:
        main()
