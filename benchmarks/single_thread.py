"""Import first in every benchmark: BLAS runs on one thread unless the environment says otherwise.

The benchmarks ask how much work each method does. On a small shared machine
waking a second BLAS thread can cost a whole scheduler tick, which would
swamp the small matrix products of a VJP sweep. The variables must be set
before NumPy loads its BLAS, hence a module of its own.
"""
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
