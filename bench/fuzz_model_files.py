"""Fuzz the model-file readers with damaged and hostile model folders and checkpoints.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python bench/fuzz_model_files.py --cases 100000 --cli 1000 --resume 1000 --seed 0

Each case copies one valid folder (a ``dg.save`` MLP, a float64 model of every layer type,
an embedding model, and the folders ``deltagrad train``, ``deltagrad ner train`` and
``deltagrad lm train`` write, each with its run's checkpoint), damages it (bit flips,
truncation, header lengths near 2**64, offsets overlapping or past the end, dtype and shape
lies, huge shapes with tiny data, deep or huge JSON, non-UTF-8 bytes, unknown layer types and
Python paths, symlinks, FIFOs, folders where files should be) and reads it with ``dg.load``,
``dg.load_state_dict``, ``dg.load_metadata``, the checkpoint reader, the text models' loaders
and the ONNX exporter (where onnx is installed). A seeded sample of ``--cli`` cases also goes
through ``deltagrad evaluate`` in a process of its own, and one of ``--resume`` cases is
continued with the training command's ``--resume`` (the checkpoint's state put back into a
trainer). Case ``i`` draws from ``default_rng([seed, i])``, so ``--only i`` replays it alone;
``--max-minutes`` stops a long run early with the figures of the cases it ran.

The goal: no exception but ``ModelFileError``/``ValueError``, no crash or hang, a peak RSS
growth under 100 MB (the highest resident set while the readers run, over the warm worker's,
with the peak reset after each case's damage is done, so that it is the readers' and not the
fuzzer's own), and no file outside the case folder touched. The cases run in a worker
process (address space capped at 4 GB, so a runaway read fails instead of swapping) that the
driver restarts after a crash or a hang, counting it. Exit status 1 if any goal is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _fuzz_mutations as M
import numpy as np

MEMORY_CAP = 4 << 30
HANG_SECONDS = 300


# --- the valid folders every case starts from ------------------------------------------------


def make_bases(root: Path) -> dict[str, Path]:
    """Small valid model folders of every kind the readers meet."""
    import deltagrad as dg
    from deltagrad import nn
    from deltagrad.cli import main

    rng = np.random.default_rng(0)
    bases = root / "bases"
    every = nn.Sequential(nn.Flatten(), nn.Linear(4, 6, rng=rng), nn.LeakyReLU(0.2),
                          nn.Dropout(0.1), nn.GELU("tanh"), nn.Tanh(), nn.Sigmoid(),
                          nn.Identity(), nn.ReLU(), nn.Linear(6, 3, bias=False, rng=rng),
                          nn.Softmax(), nn.LogSoftmax(axis=1)).to(np.float64)
    folders = {
        "mlp": dg.save(nn.MLP(4, [8, 8], 3, dropout=0.1, rng=rng), bases / "mlp",
                       {"classes": ["a", "b", "c"], "best": float("nan")}),
        "every": dg.save(every, bases / "every"),
        "embed": dg.save(nn.Sequential(nn.Embedding(10, 3, rng=rng), nn.Flatten(),
                                       nn.Linear(6, 2, rng=rng)), bases / "embed"),
    }
    for name, args in train_commands(root).items():  # each with its checkpoint
        with quiet():
            assert main([*args, "--out", str(bases / name)]) == 0, f"{args[:2]} failed"
        folders[name] = bases / name
    return folders


def train_commands(root: Path) -> dict[str, list[str]]:
    """The training commands that make the ``tabular``, ``ner`` and ``lm`` folders (each
    with the checkpoint its run leaves), less ``--out``; their data lives in ``root/data``."""
    data = root / "data"
    if not data.exists():
        data.mkdir()
        words, tags = "Peter lives in Paris".split(), ["B-PER", "O", "O", "B-LOC"]
        sentence = "\n".join(f"{w} X {t}" for w, t in zip(words, tags))
        (data / "ner.txt").write_text("\n\n".join([sentence] * 4) + "\n")
        (data / "lm.txt").write_text("abcab " * 20)
    return {"tabular": ["train", "--data", "iris", "--epochs", "2", "--hidden", "8", "-q"],
            "ner": ["ner", "train", "--train", str(data / "ner.txt"), "--epochs", "1",
                    "--hidden", "4", "--word-dim", "3", "-q"],
            "lm": ["lm", "train", "--data", str(data / "lm.txt"), "--context", "2",
                   "--epochs", "1", "--hidden", "4", "--embed-dim", "2", "-q"]}


@contextlib.contextmanager
def quiet():
    """The commands' own output kept off the worker's standard output (its case records)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def resumed(folder: Path, command: list[str]) -> str:
    """Continue the run in ``folder`` with the command that made it, as ``--resume`` does:
    the checkpoint's state goes back into a trainer. Exit 0 ("ok"), or 1 with one
    ``error:`` line ("error"); anything else raises."""
    from deltagrad.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main([*command, "--out", str(folder), "--resume"])
    lines = err.getvalue().strip().splitlines()
    if status == 1 and not (len(lines) == 1 and lines[0].startswith("error: ")):
        raise RuntimeError(f"exit 1 without one error line: {err.getvalue()[-300:]!r}")
    if status not in (0, 1):
        raise RuntimeError(f"exit {status}: {err.getvalue()[-300:]!r}")
    return "ok" if status == 0 else "error"


def readers(folder: Path, base: str) -> list[tuple[str, object]]:
    import deltagrad as dg
    from deltagrad.text import LanguageModel, NERTagger
    from deltagrad.train import load_checkpoint

    found = [("load", lambda: dg.load(folder)),
             ("load_state_dict", lambda: dg.load_state_dict(folder)),
             ("load_metadata", lambda: dg.load_metadata(folder))]
    if base in ("tabular", "ner", "lm"):
        found.append(("load_checkpoint",
                      lambda: load_checkpoint(folder / "checkpoint.safetensors")))
    if base == "ner":
        found.append(("NERTagger.load", lambda: NERTagger.load(folder)))
    if base == "lm":
        found.append(("LanguageModel.load", lambda: LanguageModel.load(folder)))
    if importlib.util.find_spec("onnx") is not None:  # it reads the folder as the loaders do
        from deltagrad.export import export_folder

        found.append(("export_folder", lambda: export_folder(folder, folder / "out.onnx")))
    return found


# --- one case --------------------------------------------------------------------------------


def damage(case: Path, rng, outside: Path) -> list[str]:
    """Apply one to three mutations to the files of ``case``; return their labels."""
    labels = []
    for _ in range(int(rng.integers(1, 4))):
        files = sorted(p.name for p in case.iterdir() if p.is_file() and not p.is_symlink())
        if not files or rng.random() < 0.06:
            labels.append(M.relink(case, M._pick(rng, ["config.json", *M.SAFETENSORS]), rng,
                                   outside))
            continue
        name = M._pick(rng, files)
        kinds = list(M.BYTE_MUTATIONS)
        if name in M.SAFETENSORS:
            kinds += M.SAFETENSORS_MUTATIONS * 2
        if name == "checkpoint.safetensors":
            kinds += M.CHECKPOINT_MUTATIONS
        if name == "config.json":
            kinds += M.CONFIG_MUTATIONS * 3
        data, label = M._pick(rng, kinds)((case / name).read_bytes(), rng)
        (case / name).write_bytes(data)
        labels.append(label)
    if rng.random() < 0.6:
        M.rehash(case)
        labels.append("rehash")
    return labels


def outcome(fn) -> str:
    from deltagrad.io import ModelFileError

    try:
        result = fn()
    except ModelFileError as exc:
        return "ModelFileError" if "\n" not in str(exc) else "!multi-line ModelFileError"
    except ValueError:
        return "ValueError"
    except BaseException as exc:  # any other exception is what the fuzzer looks for
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"!{type(exc).__name__}: {str(exc)[:200]}"
    return result if isinstance(result, str) else "ok"


def run_cli(case: Path, cwd: Path) -> str:
    """``deltagrad evaluate`` on the case: exit 0, or 1/2 with one ``error:`` line."""
    try:
        proc = subprocess.run([sys.executable, "-m", "deltagrad.cli", "evaluate", str(case)],
                              cwd=cwd, capture_output=True, text=True, timeout=HANG_SECONDS,
                              errors="replace", preexec_fn=_cap_memory, check=False)
    except subprocess.TimeoutExpired:
        return "!hang"
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 0:
        return "ok"
    if proc.returncode in (1, 2) and len(lines) == 1 and lines[0].startswith("error: "):
        return "error"
    return f"!exit {proc.returncode}: {proc.stderr.strip()[-300:]}"


def run_case(i: int, args, bases: dict[str, Path], root: Path, cli: bool, resume: bool) -> dict:
    rng, base = case_base(args, i, bases)
    case = root / "cases" / f"case{i}"
    shutil.copytree(bases[base], case, symlinks=True)
    record = {"case": i, "base": base, "mutations": damage(case, rng, root / "outside")}
    _reset_peak()  # from here on the peak is the readers' (damaging a file is the fuzzer's)
    record["outcomes"] = {name: outcome(fn) for name, fn in readers(case, base)}
    if resume:  # last: a resumed run writes the folder anew
        command = train_commands(root)[base]
        record["outcomes"]["--resume"] = outcome(lambda: resumed(case, command))
    if cli:
        record["outcomes"]["deltagrad evaluate"] = run_cli(case, root / "cwd")
    shutil.rmtree(case)
    return record


# --- the worker: cases in a row, watched for memory and stray writes -------------------------


def _cap_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status: ``VmRSS`` (the resident set
    now) or ``VmHWM`` (its peak since the last reset)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Start VmHWM afresh from the resident set now (Linux 4.0+), so that the peak measured
    is the cases', not the imports' before them."""
    Path("/proc/self/clear_refs").write_text("5")


def snapshot(root: Path) -> dict:
    """Every file outside the case folders, with its size, mtime and inode."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root:  # the cases, and the worker's own error output
            dirs[:] = [d for d in dirs if d != "cases"]
            files = [f for f in files if f != "worker.err"]
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            st = os.lstat(os.path.join(folder, name))
            seen[os.path.join(folder, name)] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return seen


def case_base(args, i: int, bases) -> tuple[np.random.Generator, str]:
    """Case ``i``'s generator, and the valid folder it starts from (its first draw)."""
    rng = np.random.default_rng([args.seed, i])
    return rng, M._pick(rng, sorted(bases))


def sample(args, bases, kinds: tuple, n: int, salt: int) -> set[int]:
    """A seeded sample of ``n`` of the cases that start from a folder of ``kinds``."""
    among = [i for i in range(args.cases) if case_base(args, i, bases)[1] in kinds]
    rng = np.random.default_rng([args.seed, 2 ** 31 + salt])
    n = min(n, len(among))
    return set(rng.choice(among, size=n, replace=False).tolist()) if n else set()


def worker(args) -> None:
    _cap_memory()
    root = Path(args.root)
    bases = {p.name: p for p in (root / "bases").iterdir()}
    # deltagrad evaluate takes only a train folder (any other is refused at once); --resume
    # continues the run of any folder that has a checkpoint
    cli = sample(args, bases, ("tabular",), args.cli, 0)
    resume = sample(args, bases, ("tabular", "ner", "lm"), args.resume, 1)
    commands = train_commands(root)
    for base, folder in bases.items():  # warm up: imports, caches, first allocations
        for _, fn in readers(folder, base):
            outcome(fn)
        if base in commands and resume:  # on a copy: a resumed run rewrites its folder
            copy = shutil.copytree(folder, root / "cases" / "warm", symlinks=True)
            outcome(lambda: resumed(copy, commands[base]))
            shutil.rmtree(copy)
    # Growth is measured from the resident set once warm: the highest the readers take it
    # in any case, and where it stands every --report-every cases and at the end (a leak would
    # climb steadily).
    before = snapshot(root)
    rss_mb = peak_mb = _status_mb("VmRSS")
    cases = [args.only] if args.only is not None else range(args.start, args.stop)
    for i in cases:
        if args.deadline and time.time() > args.deadline:
            break
        record = run_case(i, args, bases, root, i in cli, i in resume)
        after = snapshot(root)
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))
            record["outcomes"]["sandbox"] = f"!touched {changed[:3]}"
            before = after
        if (i + 1) % args.report_every == 0:
            record["rss_growth_mb"] = round(_status_mb("VmRSS") - rss_mb, 1)
        if _status_mb("VmHWM") > peak_mb + 5:  # a new high: say which case made it
            peak_mb = _status_mb("VmHWM")
            record["peak_growth_mb"] = round(peak_mb - rss_mb, 1)
        print(json.dumps(record), flush=True)
    print(json.dumps({"done": True, "rss_growth_mb": max(peak_mb, _status_mb("VmHWM")) - rss_mb,
                      "rss_end_growth_mb": _status_mb("VmRSS") - rss_mb}), flush=True)


# --- the driver: restarts the worker after a crash or a hang, and sums up ------------------------


def _lines(proc, out: queue.Queue) -> None:
    for line in proc.stdout:
        out.put(line)
    out.put(None)


def _tally(record: dict, counts: dict, log) -> None:
    """Count the case's outcomes; write it to the log if any reader failed."""
    counts["cases"] += 1
    for k, v in record["outcomes"].items():
        key = f"{k}: {v if not v.startswith('!') else 'FAIL'}"
        counts[key] = counts.get(key, 0) + 1
    if any(v.startswith("!") for v in record["outcomes"].values()):
        counts["failures"] += 1
        log.write(json.dumps(record) + "\n")
        log.flush()


def drive(args, root: Path, log) -> tuple[dict, float | None]:
    """Run every case in workers; return the failure counts and the RSS growth."""
    began = time.perf_counter()
    counts: dict = {"cases": 0, "failures": 0, "crashes": 0, "hangs": 0}
    start, growth = args.start, None
    while start < args.stop and growth is None:
        cmd = [sys.executable, __file__, "--worker", "--root", str(root), "--seed",
               str(args.seed), "--cases", str(args.cases), "--cli", str(args.cli),
               "--resume", str(args.resume), "--deadline", str(args.deadline),
               "--start", str(start), "--stop", str(args.stop),
               "--report-every", str(args.report_every)]
        with open(root / "worker.err", "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                    cwd=root / "cwd")
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_lines, args=(proc, lines), daemon=True).start()
        last = start - 1
        while True:
            try:
                line = lines.get(timeout=HANG_SECONDS)
            except queue.Empty:
                proc.kill()
                counts["hangs"] += 1
                log.write(json.dumps({"case": last + 1, "outcomes": {"worker": "!hang"}}) + "\n")
                break
            if line is None:
                break
            record = json.loads(line)
            if record.get("done"):
                growth = record["rss_growth_mb"]
                counts["resident set growth by the end (MB)"] = round(
                    record["rss_end_growth_mb"], 1)
                break
            last = record["case"]
            _tally(record, counts, log)
            if "peak_growth_mb" in record:
                print(f"case {last} ({', '.join(record['mutations'])}) took the peak RSS to "
                      f"+{record['peak_growth_mb']} MB", file=sys.stderr, flush=True)
            if "rss_growth_mb" in record:
                print(f"{counts['cases']} cases, {counts['failures']} failing, resident set "
                      f"+{record['rss_growth_mb']} MB, {time.perf_counter() - began:.0f} s",
                      file=sys.stderr, flush=True)
        proc.wait()
        if growth is None and proc.returncode not in (0, -9):
            counts["crashes"] += 1
            tail = (root / "worker.err").read_text(errors="replace")[-2000:]
            log.write(json.dumps({"case": last + 1, "outcomes": {
                "worker": f"!crash, exit {proc.returncode}: {tail}"}}) + "\n")
            if last < start:
                raise SystemExit(f"the worker died before its first case:\n{tail}")
        start = last + 2 if growth is None else args.stop
    return counts, growth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--cli", type=int, default=100, help="cases also run through "
                        "'deltagrad evaluate' (a seeded sample)")
    parser.add_argument("--resume", type=int, default=100, help="cases whose training run "
                        "is also continued with --resume (a seeded sample)")
    parser.add_argument("--max-minutes", type=float, help="stop starting cases after this "
                        "long, and give the figures for those run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, help="replay this one case and print it")
    parser.add_argument("--log", default="fuzz_failures.jsonl",
                        help="where failing cases are written, one JSON object per line")
    parser.add_argument("--report-every", type=int, default=5000, help="say the resident "
                        "set's growth every this many cases")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help="run only cases --start to "
                        "--stop - 1 of the seeded run of --cases (the same cases, samples "
                        "and outcomes), to spread one run over processes or continue it")
    parser.add_argument("--stop", type=int, help="see --start (default: --cases)")
    parser.add_argument("--deadline", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.stop = args.cases if args.stop is None else min(args.stop, args.cases)
    if args.worker:
        worker(args)
        return 0
    began = time.perf_counter()
    if args.max_minutes:
        args.deadline = time.time() + 60 * args.max_minutes
    with tempfile.TemporaryDirectory(prefix="dgfuzz") as tmp:
        root = Path(tmp)
        for name in ("outside", "cwd", "cases"):
            (root / name).mkdir()
        (root / "outside" / "secret.txt").write_text("must stay as it is\n")
        (root / "outside" / "big.bin").write_bytes(os.urandom(1 << 16))
        make_bases(root)
        if args.only is not None:
            args.root = str(root)
            worker(args)
            return 0
        with open(args.log, "w") as log:
            counts, growth = drive(args, root, log)
    seconds = time.perf_counter() - began
    for key, value in sorted(counts.items()):
        print(f"{key:<55} {value}")
    import resource

    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"peak RSS growth while reading, over the warm worker: "
          f"{growth if growth is None else round(growth, 1)} MB; {seconds:.0f} s "
          f"({cpu.ru_utime + cpu.ru_stime:.0f} s of CPU); failures in {args.log}")
    ok = (counts["failures"] == counts["crashes"] == counts["hangs"] == 0
          and growth is not None and growth < 100)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
