"""deltagrad.sklearn against scikit-learn's own MLP: test score and fit time, same data, same
splits, same hyperparameters, 5 seeds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/sklearn_compare.py \
        [--seeds 5] [--rounds 3] [--threads N] [--max-iter 200] [DATASET ...]

Classification on iris, digits, wine and breast_cancer (MLPClassifier, accuracy) and
regression on diabetes (MLPRegressor, R²). For each seed: a stratified 75/25 split
(``random_state=seed``), features standardised on the training part (and, for diabetes,
the target too), then ``hidden_layer_sizes=(100,), solver="adam", max_iter=200,
random_state=seed`` and every other hyperparameter at its default, in both frameworks.

Each framework runs in its own process (their BLAS thread pools would fight in one), one
process per data set and framework, the two alternating; ``--rounds`` repeats everything
and each fit's time is its median over the rounds. ``--threads N`` limits the BLAS
threads (threadpoolctl) in both. deltagrad itself trains small networks with one BLAS
thread (see ``deltagrad/sklearn/_blas.py``), so ``--threads 1`` is the equal-footing
comparison; with the default thread count, scikit-learn's multithreaded small products can
stall for milliseconds each on a busy machine. Scores do not depend on the round: each fit is seeded.
The targets: accuracy no worse than scikit-learn's minus one point, fit time at most
0.67x scikit-learn's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

from _util import blas_info, print_table

HERE = Path(__file__).resolve()
CLASSIFICATION = ("iris", "digits", "wine", "breast_cancer")
DATASETS = CLASSIFICATION + ("diabetes",)
ACCURACY_SLACK, TIME_TARGET = 0.01, 0.67


def load(name: str, seed: int):
    """(X_train, X_test, y_train, y_test), standardised on the training part."""
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    stratify = y if name in CLASSIFICATION else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed,
                                                        stratify=stratify)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if name not in CLASSIFICATION:  # scores are R², which standardising y leaves unchanged
        mean, std = y_train.mean(), y_train.std()
        y_train, y_test = (y_train - mean) / std, (y_test - mean) / std
    return X_train, X_test, np.asarray(y_train), np.asarray(y_test)


def estimator(framework: str, dataset: str, seed: int, max_iter: int):
    if framework == "deltagrad":
        from deltagrad.sklearn import MLPClassifier, MLPRegressor
    else:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    cls = MLPClassifier if dataset in CLASSIFICATION else MLPRegressor
    return cls(hidden_layer_sizes=(100,), solver="adam", max_iter=max_iter, random_state=seed)


def worker(framework: str, dataset: str, seeds: int, max_iter: int, threads: int | None) -> None:
    """Fit every seed in this process; print one JSON line of results."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    if threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    splits = [load(dataset, seed) for seed in range(seeds)]
    X_train, _, y_train, _ = splits[0]
    estimator(framework, dataset, 0, 5).fit(X_train, y_train)  # warm-up: imports, caches
    results = []
    for seed, (X_train, X_test, y_train, y_test) in enumerate(splits):
        model = estimator(framework, dataset, seed, max_iter)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        results.append({"seed": seed, "fit_s": seconds, "n_iter": model.n_iter_,
                        "score": float(model.score(X_test, y_test))})
    print(json.dumps(results))


def run_worker(framework: str, dataset: str, args) -> list[dict]:
    command = [sys.executable, str(HERE), "--worker", framework, dataset, "--seeds",
               str(args.seeds), "--max-iter", str(args.max_iter)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def mean_std(values, scale=1.0, digits=3) -> str:
    values = [v * scale for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f}±{std:.{digits}f}"


def summarise(dataset: str, runs: dict[str, list[list[dict]]]) -> tuple[tuple, bool]:
    """One table row (and whether both targets are met) from every round's results."""
    per_seed = {}
    for framework, rounds in runs.items():
        seeds = zip(*rounds)  # the same seed across rounds
        per_seed[framework] = [{"score": r[0]["score"], "n_iter": r[0]["n_iter"],
                                "fit_s": statistics.median(x["fit_s"] for x in r)}
                               for r in seeds]
    sk, dg = per_seed["sklearn"], per_seed["deltagrad"]
    sk_score = statistics.mean(r["score"] for r in sk)
    dg_score = statistics.mean(r["score"] for r in dg)
    sk_time = statistics.mean(r["fit_s"] for r in sk)
    dg_time = statistics.mean(r["fit_s"] for r in dg)
    sk_epoch = sum(r["fit_s"] for r in sk) / sum(r["n_iter"] for r in sk)
    dg_epoch = sum(r["fit_s"] for r in dg) / sum(r["n_iter"] for r in dg)
    ok = dg_score >= sk_score - ACCURACY_SLACK and dg_time <= TIME_TARGET * sk_time
    metric = "acc" if dataset in CLASSIFICATION else "R²"
    row = (dataset, metric, mean_std([r["score"] for r in sk]),
           mean_std([r["score"] for r in dg]), f"{(dg_score - sk_score) * 100:+.1f}",
           mean_std([r["fit_s"] for r in sk]), mean_std([r["fit_s"] for r in dg]),
           f"{dg_time / sk_time:.2f}",
           (f"{statistics.mean(r['n_iter'] for r in sk):.0f}/"
           f"{statistics.mean(r['n_iter'] for r in dg):.0f}"),
           f"{dg_epoch / sk_epoch:.2f}", "yes" if ok else "NO")
    return row, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "DATASET"))
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.seeds, args.max_iter, args.threads)
        return
    import sklearn

    print(f"scikit-learn {sklearn.__version__}; BLAS: {blas_info()}; BLAS threads: "
          f"{args.threads or 'default'}; {args.seeds} seeds x {args.rounds} rounds")
    rows, all_ok = [], True
    for dataset in args.datasets:
        runs = {"sklearn": [], "deltagrad": []}
        for r in range(args.rounds):
            order = ["sklearn", "deltagrad"] if r % 2 == 0 else ["deltagrad", "sklearn"]
            for framework in order:
                runs[framework].append(run_worker(framework, dataset, args))
        row, ok = summarise(dataset, runs)
        rows.append(row)
        all_ok &= ok
    print_table(rows, ("data set", "score", "scikit-learn", "deltagrad", "Δ pts",
                       "sklearn fit s", "deltagrad fit s", "time ratio", "epochs sk/dg",
                       "per-epoch ratio", "targets met"))
    print(f"targets (score >= scikit-learn's - {ACCURACY_SLACK * 100:.0f} point, time ratio "
          f"<= {TIME_TARGET}): {'all met' if all_ok else 'NOT all met'}")


if __name__ == "__main__":
    main()
