"""Which library should read the tables ``deltagrad train`` is given? Load time and peak
memory of each candidate on a generated 1,000,000-row, 20-column CSV file, each load in a
process of its own, the candidates interleaved round after round (medians reported).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/read_tables.py [--rows 1000000]
        [--rounds 3] [--dir DIR] [readers ...]

Two files: ``numeric.csv`` (19 float features and an integer label: the only kind the
row-by-row reader of old could read) and ``mixed.csv`` (floats, integers, three text
categories, a yes/no column, ISO dates, blanks and "NA" in two columns, a text label).
Each reader ends where training starts: a float32 feature matrix for the numeric file;
for the mixed file, a float64 array (NaN where missing) per numeric column and integer
codes plus the distinct values per text column. "peak MiB" is the process's peak resident
set (``ru_maxrss``); "over import" subtracts the resident set after the imports, so it is
what the load itself cost. The raw float32 array of the numeric file is rows x 19 x 4 bytes.

Needs pandas and pyarrow (the test extra installs pandas; ``pip install pyarrow``).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _util import print_table

READERS = ("csv_module", "pandas_c", "pandas_pyarrow", "pyarrow", "deltagrad")
N_FEATURES = 19


# --- the files -----------------------------------------------------------------------------


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    import pandas as pd

    rng = np.random.default_rng(0)
    numeric = folder / f"numeric_{rows}.csv"
    mixed = folder / f"mixed_{rows}.csv"
    if not numeric.exists():
        frame = pd.DataFrame({f"x{j}": rng.normal(size=rows).round(5) for j in range(N_FEATURES)})
        frame["label"] = rng.integers(0, 5, rows)
        frame.to_csv(numeric, index=False)
    if not mixed.exists():
        columns = {f"f{j}": rng.normal(size=rows).round(4) for j in range(11)}
        columns["age"] = rng.integers(18, 90, rows).astype(float)
        columns["visits"] = rng.integers(0, 40, rows).astype(float)
        columns["region"] = rng.choice(["north", "south", "east", "west", "centre"], rows)
        columns["product"] = rng.choice([f"p{k:02d}" for k in range(50)], rows)
        columns["city"] = rng.choice([f"city{k}" for k in range(1000)], rows)
        columns["member"] = rng.choice(["yes", "no"], rows)
        days = rng.integers(0, 3650, rows)
        columns["signup"] = (np.datetime64("2015-01-01") + days).astype(str)
        columns["plan"] = rng.choice(["basic", "plus", "pro"], rows)
        frame = pd.DataFrame(columns)
        frame = frame.astype({"age": object, "region": object})
        frame.loc[rng.random(rows) < 0.02, "age"] = "NA"
        frame.loc[rng.random(rows) < 0.02, "region"] = ""
        frame.to_csv(mixed, index=False)
    return numeric, mixed


# --- the readers: file -> what training starts from ------------------------------------------


def csv_module(path: Path, numeric: bool):
    """deltagrad's reader before issue 19: every row as a list of strings, then parsed."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [[cell.strip() for cell in row] for row in csv.reader(f, skipinitialspace=True)]
    header, data = rows[0], rows[1:]
    if not numeric:
        return _columns_from_strings(header, data)
    X = np.empty((len(data), N_FEATURES), dtype=np.float32)
    for i, row in enumerate(data):
        X[i] = [float(cell) for cell in row[:N_FEATURES]]
    return X


def _columns_from_strings(header, data):
    out = {}
    for j, name in enumerate(header):
        cells = [row[j] for row in data]
        try:
            out[name] = np.array([float(c) if c not in ("", "NA") else np.nan for c in cells])
        except ValueError:
            out[name] = np.unique(cells, return_inverse=True)
    return out


def pandas_c(path: Path, numeric: bool):
    import pandas as pd

    return _from_frame(pd.read_csv(path, na_values=["NA"], keep_default_na=False), numeric)


def pandas_pyarrow(path: Path, numeric: bool):
    import pandas as pd

    return _from_frame(pd.read_csv(path, engine="pyarrow", na_values=["", "NA"],
                                   keep_default_na=False), numeric)


def _from_frame(frame, numeric: bool):
    if numeric:
        return frame.iloc[:, :N_FEATURES].to_numpy(np.float32)
    out = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "fiub":
            out[name] = column.to_numpy(np.float64)
        else:
            codes, uniques = column.factorize()
            out[name] = (codes, uniques)
    return out


def pyarrow(path: Path, numeric: bool):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    convert = pacsv.ConvertOptions(null_values=["", "NA"], strings_can_be_null=True,
                                   auto_dict_encode=True, auto_dict_max_cardinality=2 ** 31 - 1)
    table = pacsv.read_csv(path, convert_options=convert)
    if numeric:
        X = np.empty((table.num_rows, N_FEATURES), dtype=np.float32)
        for j in range(N_FEATURES):
            X[:, j] = table.column(j).to_numpy()
        return X
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            chunk = column.unify_dictionaries().combine_chunks()
            out[name] = (chunk.indices.to_numpy(zero_copy_only=False), chunk.dictionary)
        else:
            out[name] = column.to_numpy()
    return out


def deltagrad(path: Path, numeric: bool):
    """deltagrad's reader now (``deltagrad.data.read_table``)."""
    from deltagrad.data import read_table

    table = read_table(path)
    if numeric:
        X = np.empty((table.n_rows, N_FEATURES), dtype=np.float32)
        for j in range(N_FEATURES):
            X[:, j] = table.columns[table.names[j]].data
        return X
    return table.columns


# --- one measurement per process ---------------------------------------------------------------


def child(reader: str, path: str, numeric: bool) -> None:
    import pandas  # noqa: F401  every reader pays the same imports, so "over import" compares
    import pyarrow.csv  # noqa: F401

    import deltagrad.data  # noqa: F401

    base = _rss_mib()
    began = time.perf_counter()
    result = globals()[reader](Path(path), numeric)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del result
    print(json.dumps({"seconds": seconds, "peak": peak, "base": base}))


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(reader: str, path: Path, numeric: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path),
                          "numeric" if numeric else "mixed"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readers", nargs="*", default=list(READERS))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    numeric_file, mixed_file = write_files(args.dir, args.rows)
    raw = args.rows * N_FEATURES * 4 / 2 ** 20
    for path, numeric in ((numeric_file, True), (mixed_file, False)):
        results = {r: [] for r in args.readers}
        for _ in range(args.rounds):
            for reader in args.readers:
                results[reader].append(measure(reader, path, numeric))
        rows = []
        for reader, runs in results.items():
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = statistics.median(r["peak"] for r in runs)
            over = statistics.median(r["peak"] - r["base"] for r in runs)
            rows.append((reader, f"{seconds:.2f}", f"{peak:.0f}", f"{over:.0f}"))
        size = path.stat().st_size / 2 ** 20
        print(f"\n{path.name}: {args.rows:,} rows, 20 columns, {size:.0f} MiB on disk"
              + (f"; raw float32 features {raw:.0f} MiB" if numeric else "")
              + f"; median of {args.rounds} rounds")
        print_table(rows, ("reader", "load s", "peak MiB", "over import"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4] == "numeric")
    else:
        main()
