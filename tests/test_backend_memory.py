"""Training keeps its freed temporaries for the next step (glibc only, see
``deltagrad.backend.memory``), rather than faulting them in again every step."""

import contextlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from deltagrad import nn
from deltagrad.backend import memory
from deltagrad.train import Trainer
from deltagrad.train import trainer as trainer_module

glibc_only = pytest.mark.skipif(memory._glibc() is None,
                                reason="the C library is not glibc (or its allocator is tuned)")

# Eight 1 MiB arrays written and freed, twenty times: 40960 pages touched. Run in a fresh
# process, so that glibc's own thresholds are in force before the context.
FAULTS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from deltagrad.backend.memory import reusing_freed_memory

    def faults(rounds=20):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(rounds):
            blocks = [np.ones(1 << 18, np.float32) for _ in range(8)]
            del blocks
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    plain = faults()
    with reusing_freed_memory():
        faults(1)  # the heap grows once
        kept = faults()
    print(plain, kept)
""")


@glibc_only
def test_freed_blocks_are_reused_inside_not_faulted_in_again():
    out = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                         check=True).stdout
    plain, kept = map(int, out.split())
    touched = 20 * 8 * 256
    assert kept < 0.02 * touched, (plain, kept)
    # glibc on its own hands the freed top of the heap back, so the same loop faults
    # (if a future glibc stops doing so, this module is no longer needed)
    assert plain > 0.5 * touched, (plain, kept)


def test_a_user_tuned_allocator_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert memory._glibc() is None
    with memory.reusing_freed_memory():
        pass


def test_fit_trains_inside_it(monkeypatch):
    seen = []

    @contextlib.contextmanager
    def recording():
        seen.append("enter")
        yield
        seen.append("exit")

    monkeypatch.setattr(trainer_module, "reusing_freed_memory", recording)
    model = nn.Linear(3, 1, rng=np.random.default_rng(0))
    trainer = Trainer(model, loss="mse", seed=0)
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32)
    trainer.fit(x, x[:, :1], epochs=1, batch_size=8)
    assert seen == ["enter", "exit"]
