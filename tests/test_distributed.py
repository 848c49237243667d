"""Data-parallel training over MPI (``deltagrad.distributed``).

In-process: the exact sum (any order of its terms gives the same bits, within its stated
bound of the true sum), the per-sample random numbers (a sample's draw does not depend on
the batch it is drawn in), the launcher detection. Under ``mpiexec -n K`` (tests/mpi_worker.py,
K = 1, 2, 3 on two cores): deterministic mode bit-identical for every K with dropout and
augmentation, fast mode bit-identical for a fixed K and within tolerance of one process,
a failing or killed rank ending the job in seconds with one line naming it, mismatched data
refused, files written by rank 0 only, an interrupted run resumed exactly, and the command
line under MPI. These skip, saying why, only where mpi4py (the ``mpi`` extra) is missing.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deltagrad import distributed
from deltagrad.distributed import DataParallel, LocalComm, comm
from deltagrad.distributed.exact import ExactSum
from deltagrad.train.sample_random import SampleRandom

WORKER = Path(__file__).with_name("mpi_worker.py")


# --- in one process ---------------------------------------------------------------------------


def test_outside_mpi_one_process_of_rank_0():
    assert (distributed.is_distributed(), distributed.rank(), distributed.world_size()) == \
        (False, 0, 1)


def test_exact_sum_is_independent_of_the_order_and_within_its_bound():
    rng = np.random.default_rng(0)
    terms = [(rng.uniform(0.1, 1.0), [rng.normal(size=50).astype(np.float32) * 10.0 ** k,
                                      None if k == 2 else rng.normal(size=3)])
             for k in range(-3, 5)]
    first = ExactSum(LocalComm(), [50, 3])(terms, len(terms))
    for order in (terms[::-1], [terms[i] for i in rng.permutation(len(terms))]):
        again = ExactSum(LocalComm(), [50, 3])(order, len(terms))
        for a, b in zip(first, again):
            assert a.tobytes() == b.tobytes()
    # The oracle: math.fsum of the float64 products, correctly rounded.
    n = len(terms)
    for s, total in enumerate(first):
        truth = np.array([math.fsum(float(share) * float(a[s][i]) for share, a in terms
                                    if a[s] is not None) for i in range(len(total))])
        largest = max(abs(float(share)) * np.abs(a[s]).max() for share, a in terms
                      if a[s] is not None)
        assert np.abs(total - truth).max() <= n * n * largest * 2.0 ** -61


def test_exact_sum_reports_a_segment_no_term_has_and_a_non_finite_one():
    terms = [(1.0, [np.array([1.0, np.nan]), None]), (0.5, [np.array([2.0, 3.0]), None])]
    values, missing = ExactSum(LocalComm(), [2, 4])(terms, 2)
    assert missing is None and np.isinf(values).all()


def test_a_sample_draws_the_same_numbers_in_any_batch():
    rng = SampleRandom(7)
    rng.at(3, 10, 20)
    whole = [rng.random((10, 5), dtype=np.float32), rng.random((10, 2))]
    rng.at(3, 10, 14)
    head = [rng.random((4, 5), dtype=np.float32), rng.random((4, 2))]
    rng.at(3, 14, 20)
    tail = [rng.random((6, 5), dtype=np.float32), rng.random((6, 2))]
    for w, h, t in zip(whole, head, tail):
        assert np.array_equal(w, np.concatenate([h, t]))
        assert 0 <= w.min() and w.max() < 1 and 0.3 < w.mean() < 0.7
    assert whole[0].dtype == np.float32 and whole[1].dtype == np.float64
    rng.at(4, 10, 20)  # another epoch, other numbers
    assert not np.array_equal(rng.random((10, 5), dtype=np.float32), whole[0])
    assert rng.integers(0, 10, size=3).shape == (3,)  # any other draw works as usual


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 40), rows=st.integers(2, 12), data=st.data())
def test_any_split_of_the_rows_draws_the_same_numbers(width, rows, data):
    split = data.draw(st.integers(1, rows - 1))
    for dtype in (np.float32, np.float64):
        rng = SampleRandom(3)
        rng.at(1, 5, 5 + rows)
        whole = rng.random((rows, width), dtype=dtype)
        rng.at(1, 5, 5 + split)
        head = rng.random((split, width), dtype=dtype)
        rng.at(1, 5 + split, 5 + rows)
        tail = rng.random((rows - split, width), dtype=dtype)
        assert np.array_equal(whole, np.concatenate([head, tail]))
        # float32 numbers are whole multiples of 2^-24 in [0, 1): 24 random bits each
        bits = 24 if dtype == np.float32 else 53
        assert np.array_equal(whole * 2.0 ** bits, np.floor(whole * 2.0 ** bits))
        assert 0 <= whole.min() and whole.max() < 1
        assert len(np.unique(whole)) > 0.9 * whole.size  # no row repeats another


def test_launched_by_mpi_without_mpi4py_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"one of 2 started by an MPI launcher.*deltagrad\[mpi\]"):
        comm._connect()
    monkeypatch.setenv("PMI_SIZE", "1")  # a launch of one process is just one process
    assert isinstance(comm._connect(), LocalComm)


class _FourRanks(LocalComm):
    rank, size = 0, 4


def test_a_batch_that_leaves_a_rank_idle_is_refused_on_every_rank():
    with pytest.raises(ValueError, match=r"batch of 3 samples gives 3 rows, fewer than the 4"):
        DataParallel(_FourRanks()).check_batch(3, 100)
    with pytest.raises(ValueError, match=r"gives 2 micro-batches of 8 rows, fewer than the 4") \
            as caught:
        DataParallel(_FourRanks(), deterministic=True, micro_batch_size=8).check_batch(16, 100)
    assert distributed.is_on_every_rank(caught.value)
    DataParallel(_FourRanks(), deterministic=True).check_batch(32, 100)  # 8 micro-batches


def test_deterministic_mode_in_one_process_trains_and_checks_its_setting():
    from deltagrad import nn
    from deltagrad.train import Trainer

    with pytest.raises(ValueError, match="micro_batch_size"):
        Trainer(nn.Linear(2, 2), deterministic=True, micro_batch_size=0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X.sum(axis=1) > 0).astype(np.int64)
    runs = []
    for _ in range(2):
        model = nn.MLP(3, [8], 2, dropout=0.3, rng=np.random.default_rng(1))
        trainer = Trainer(model, "cross_entropy", lr=0.05, seed=0, progress="none",
                          deterministic=True, micro_batch_size=4, metrics=["accuracy"])
        history = trainer.fit(X, y, epochs=8, batch_size=16, validation_split=0.25)
        runs.append(np.concatenate([p.data.ravel() for p in model.parameters()]))
    assert runs[0].tobytes() == runs[1].tobytes()
    assert history["loss"][-1] < history["loss"][0] and history["accuracy"][-1] > 0.7


# --- under mpiexec ----------------------------------------------------------------------------


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="the MPI tests need the mpi extra: "
                                         "pip install 'deltagrad[mpi]'")
    found = shutil.which("mpiexec", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if found is None:
        pytest.skip("mpi4py is installed but no mpiexec was found (pip install mpich)")
    return found


def run_mpi(k: int, *args, timeout: float = 90) -> subprocess.CompletedProcess:
    """``mpiexec -n k python -m ... args`` (one BLAS thread per rank, as CI's two cores
    allow); returns the finished process with its output and ``.seconds``."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONUNBUFFERED": "1"}
    began = time.perf_counter()
    done = subprocess.run([_mpiexec(), "-n", str(k), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    done.seconds = time.perf_counter() - began
    return done


def worker(k: int, scenario: str, out: Path) -> subprocess.CompletedProcess:
    return run_mpi(k, sys.executable, str(WORKER), scenario, str(out))


@pytest.fixture(scope="module")
def modes(tmp_path_factory):
    """The "modes" scenario on 1, 2, 3 processes, and on 2 again."""
    out = tmp_path_factory.mktemp("modes")
    results = {}
    for k, name in ((1, "1"), (2, "2"), (3, "3"), (2, "2 again")):
        done = worker(k, "modes", out)
        assert done.returncode == 0, done.stderr
        results[name] = dict(np.load(out / f"modes_{k}.npz"))
    return results


@pytest.mark.parametrize("key", ["tab_det", "tab_det_plain", "lm_det"])
def test_deterministic_mode_is_bit_identical_for_any_number_of_processes(modes, key):
    for k in ("2", "3"):
        assert modes[k][key].tobytes() == modes["1"][key].tobytes(), (key, k)


@pytest.mark.parametrize("key", ["tab_fast", "lm_fast"])
def test_fast_mode_is_reproducible_for_a_fixed_number_of_processes(modes, key):
    assert modes["2"][key].tobytes() == modes["2 again"][key].tobytes()
    assert modes["2"][key].tobytes() != modes["1"][key].tobytes()  # another summation order


def test_fast_mode_stays_within_tolerance_of_one_process(modes):
    one, two = modes["1"], modes["2"]
    # After one epoch (12 steps) only the float32 rounding of the sum differs.
    assert np.abs(two["tab_fast_1"] - one["tab_fast_1"]).max() < 1e-5
    assert abs(two["tab_fast_acc"][-1] - one["tab_fast_acc"][-1]) <= 0.01 + 1e-9


def test_a_rank_that_raises_stops_every_rank_with_one_line_naming_it(tmp_path):
    done = worker(2, "raise", tmp_path)
    assert done.returncode != 0 and done.seconds < 30
    failed = {line for line in done.stderr.splitlines() if " failed" in line}
    # One line (MPICH's mpiexec may repeat an aborting process's last output verbatim).
    assert failed == {"error: rank 1 of 2 failed: RuntimeError: the training data of this "
                      "rank went missing; stopping all 2 ranks"}


def test_ranks_started_with_other_data_are_refused_before_training(tmp_path):
    done = worker(2, "mismatch", tmp_path)
    assert done.returncode != 0 and done.seconds < 30
    assert done.stderr.count("rank 1 of 2 was started with other data than rank 0") == 1


def test_a_killed_run_resumes_exactly_and_only_rank_0_writes(tmp_path):
    killed = worker(2, "kill", tmp_path)
    # The run died mid-way: its last checkpoint is epoch 1's and no model folder was written.
    # (Not the launcher's exit status: MPICH 4.1's mpiexec, our oldest, now and then exits 0
    # when a rank is SIGKILLed, about one run in eight here; MPICH 5 reports 9 every time.)
    assert killed.seconds < 30, killed.stdout + killed.stderr
    assert not (tmp_path / "run" / "model.safetensors").exists()
    from deltagrad.train import load_checkpoint

    assert load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")["epoch"] == 1
    resumed = worker(2, "resume", tmp_path)  # on rank 1 every file write raises
    assert resumed.returncode == 0, resumed.stderr
    result = np.load(tmp_path / "resume_2.npz")
    assert result["resumed"].tobytes() == result["straight"].tobytes()
    assert (tmp_path / "run" / "model.safetensors").exists() and (tmp_path / "best").exists()


def test_the_command_line_trains_over_mpi_as_one_process_would(tmp_path):
    from deltagrad.cli import main
    from deltagrad.io import load_state_dict

    args = ["train", "--data", "iris", "--epochs", "4", "--hidden", "16", "--dropout", "0.2",
            "--batch-size", "16", "--deterministic", "--quiet", "--seed", "1"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    done = run_mpi(2, sys.executable, "-m", "deltagrad", *args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("test metrics") == 1  # rank 0 alone prints
    one, two = load_state_dict(tmp_path / "one"), load_state_dict(tmp_path / "two")
    assert all(one[k].tobytes() == two[k].tobytes() for k in one)
