"""Shared helpers for the benchmark scripts: timing, the BLAS in use, and a table printer."""

from __future__ import annotations

import statistics
import time


def median_time(fn, *, repeats: int = 7, number: int | None = None, min_time: float = 0.2) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` runs of ``number`` calls each."""
    if number is None:  # calibrate so one run takes about min_time
        number, elapsed = 1, 0.0
        while elapsed < min_time / 4:
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = time.perf_counter() - start
            number *= 2
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def blas_info() -> str:
    """The BLAS library, kernel and thread count NumPy uses (threadpoolctl when installed)."""
    import numpy  # noqa: F401  (loads the BLAS so that threadpoolctl can see it)

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl to see the BLAS kernel)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} kernel={p.get('architecture')} "
                     f"threads={p.get('num_threads')}" for p in pools) or "no BLAS pool found"


def print_table(rows: list[tuple], header: tuple) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)))
