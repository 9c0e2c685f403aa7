"""Wall-clock timing that survives a noisy, shared machine, and peak memory.

Candidates are timed *interleaved* — one run of each in turn, repeated — so
a burst of load from elsewhere slows all of them alike, and each is reported
by its median with the spread between its quartiles. :func:`measure_peak`
measures the most bytes a run holds at once.
"""
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of repeated runs, in seconds."""

    median: float
    q1: float
    q3: float

    def __str__(self):
        return f"{self.median * 1e3:.3f} ms (IQR {self.q1 * 1e3:.3f}–{self.q3 * 1e3:.3f})"


def interleaved(candidates, repeat=15, warmup=2, number=1):
    """Time each callable in ``candidates`` (a dict name → fn), interleaved.

    Parameters
    ----------
    candidates : dict of str to callable
        Functions of no arguments.
    repeat : int
        Timed rounds; each round runs every candidate in turn.
    warmup : int
        Untimed rounds first (caches, page tables, lazy imports).
    number : int
        Calls per sample, one after the other; a sample is their mean. For
        calls of microseconds, so that the timer's resolution and the caches
        another candidate left cold weigh little.

    Returns
    -------
    dict of str to Timing
        Seconds per call.
    """
    samples = {name: [] for name in candidates}
    for round_ in range(warmup + repeat):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = (time.perf_counter() - start) / number
            if round_ >= warmup:
                samples[name].append(elapsed)
    return {name: Timing(*np.percentile(s, [50, 25, 75])) for name, s in samples.items()}


def measure_peak(fn):
    """Run ``fn()`` once and return its result and the most bytes it held at once.

    Measured with :mod:`tracemalloc`, above what was held before the call;
    NumPy reports its arrays' memory to it.

    Returns
    -------
    result : object
        What ``fn`` returned.
    peak : int
        Bytes.

    Examples
    --------
    >>> total, peak = measure_peak(lambda: np.ones(100_000).sum())
    >>> float(total), 800_000 <= peak < 810_000       # the array of ones, and a little besides
    (100000.0, True)
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()
