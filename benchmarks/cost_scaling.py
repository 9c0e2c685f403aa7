"""Naive against VJP as the problem grows: predicted growth beside measured growth.

For each question swept, every size is counted (FLOPs and bytes, from
shapes) and measured (median time of the naive chain and of ``jac.grad``,
interleaved in this one process, and each one's peak memory under
tracemalloc). Sizes whose naive Jacobians would exceed the memory limit are
counted, and only the VJP sweep is run: so the VJP can be timed at sizes
where its own arithmetic, not the fixed overhead of tracing and Python
calls, takes the time. Then each counted growth rate is set beside the
measured one it predicts — bytes beside peak memory, FLOPs beside time,
FLOP ratio beside time ratio — as log-log slopes fitted on the three
largest sizes measured, both over the same sizes.

BLAS runs on one thread unless the environment says otherwise (see
single_thread.py).

Usage: python benchmarks/cost_scaling.py [--questions Q0 Q3] [--sizes N ...] [--repeat 9]
"""
import os

import single_thread  # noqa: F401  (before NumPy)

import argparse  # noqa: E402

from jacobians.cost import log_log_slope, sweep  # noqa: E402
from jacobians.limits import format_bytes, get_memory_limit  # noqa: E402

# Each counted quantity beside the measured one it predicts.
PAIRS = (("naive bytes", "naive peak"), ("VJP bytes", "VJP peak"),
         ("naive FLOPs, reverse", "naive time"), ("VJP FLOPs", "VJP time"),
         ("FLOP ratio", "time ratio"))

# Up to the largest naive chain that fits in 1 GiB, then on for the VJP alone.
SIZES = {"Q0": [16, 32, 48, 64, 96, 192, 384, 768], "Q3": [32, 64, 128, 256, 512, 1024]}
LAST = 3  # points per fit: the growth rate is the slope at large N


def _fit(grown, name, sizes=None):
    """The slope over a series' last points (or over ``sizes``), and the sizes it spans."""
    x, y = grown.series(name)
    keep = slice(-LAST, None) if sizes is None else [s in sizes for s in x]
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return "—", (), ""
    return f"{log_log_slope(x, y):.2f}", tuple(x), f"N = {x[0]:.0f}–{x[-1]:.0f}"


def growth_table(grown):
    lines = [f"growth at large N: log-log slopes over the last {LAST} sizes measured, the "
             f"counted ones over the same sizes (a cost growing as Nᵏ has slope k)",
             f"  {'counted':22} {'slope':>6}    {'measured':12} {'slope':>6}  fitted on"]
    for counted, measured in PAIRS:
        b, sizes, over = _fit(grown, measured)
        a, _, over = _fit(grown, counted, sizes or None)
        lines.append(f"  {counted:22} {a:>6}    {measured:12} {b:>6}  {over}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", nargs="+", default=["Q0", "Q3"])
    parser.add_argument("--sizes", nargs="+", type=int,
                        help="sizes for every question (default: per question, up to "
                             "where the VJP's arithmetic shows)")
    parser.add_argument("--repeat", type=int, default=9)
    options = parser.parse_args()
    print(f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}; memory limit "
          f"{format_bytes(get_memory_limit())}; {options.repeat} interleaved rounds per size")
    for key in options.questions:
        grown = sweep(key, options.sizes or SIZES.get(key, [8, 16, 32, 64]),
                      repeat=options.repeat)
        print(f"\n{key}, N = {grown.scale}\n")
        print(grown)
        print()
        print(growth_table(grown))


if __name__ == "__main__":
    main()
