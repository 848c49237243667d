"""Settings for the whole test run, applied before any test module imports NumPy."""

import os

# The suite runs one pytest-xdist worker per core (`pytest -n auto`), and many tests start
# `deltagrad` in a subprocess beside them. A BLAS thread pool per process on top of that
# oversubscribes the cores, and OpenBLAS's spinning threads then make the small GEMMs of
# the tests ten times slower (a 4-epoch tagger test: 12.9 s with the default pool, 0.8 s
# with one thread, on a loaded 2-core machine). One BLAS thread per process, unless the
# caller chose otherwise; subprocesses inherit it.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
