"""Checkpointing a deep tanh chain: memory held and time taken for k = 1, √L and L.

For each chain ``x_{l+1} = tanh(x_l W_l)`` (loss ½‖x_L‖²) and each segment
length k, one line gives

* the peak the schedule counts (``jac.checkpoint_cost``: layer values and
  their cotangents; the weight gradients left out),
* the peak ``tracemalloc`` measures during one run of
  ``jac.checkpointed_grad`` (everything it allocates: the weight gradients
  and each step's temporary too),
* the FLOPs recomputation adds, counted, as a share of the forward pass,
* the time of a run: median and quartiles of interleaved runs (BLAS on one
  thread), and its ratio to k = 1.

Inference (the chain evaluated alone) and ``jac.grad`` are measured beside
them. Every checkpointed gradient is first checked against ``jac.grad``.

Usage: python benchmarks/checkpointing.py [--repeat 15]
"""
import single_thread  # noqa: F401  (before NumPy: BLAS on one thread)

import argparse  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.limits import format_bytes  # noqa: E402
from jacobians.memory import tanh_chain  # noqa: E402
from jacobians.timing import interleaved  # noqa: E402


def chain(L, n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]


def run(L, n, d, repeat):
    x, weights = chain(L, n, d)
    layer, layer_flops = 8 * n * d, 2 * n * d * d + n * d
    wrt = tuple(range(1, L + 1))
    expected = jac.grad(tanh_chain, wrt=wrt)(x, *weights)
    ks = sorted({1, math.isqrt(L), L})
    for k in ks:
        _, grads = jac.checkpointed_grad(x, weights, k)
        worst = max(np.max(np.abs(a - b)) for a, b in zip(grads, expected))
        assert worst < 1e-10, f"k = {k} disagrees with jac.grad by {worst:.2e}"

    runs = {f"k = {k}": (lambda k=k: jac.checkpointed_grad(x, weights, k)) for k in ks}
    runs["jac.grad"] = lambda: jac.grad(tanh_chain, wrt=wrt)(x, *weights)
    runs["inference"] = lambda: tanh_chain(x, *weights)
    times = interleaved(runs, repeat=repeat)
    peaks = {name: jac.measure_peak(fn)[1] for name, fn in runs.items()}

    print(f"L = {L} layers, batch {n} × width {d}: a layer's values {format_bytes(layer)}, "
          f"the weights {format_bytes(8 * L * d * d)}")
    print(f"  {'':10} {'counted peak':>13} {'measured peak':>14} {'(layers)':>9} "
          f"{'extra FLOPs':>12} {'time (median, IQR)':>28} {'vs k = 1':>9}")
    base = times["k = 1"].median
    for name in runs:
        t = times[name]
        timing = f"{t.median * 1e3:8.2f} ms ({t.q1 * 1e3:.2f}–{t.q3 * 1e3:.2f})"
        if name.startswith("k = "):
            cost = jac.checkpoint_cost(L, int(name[4:]), layer, layer_flops)
            counted = format_bytes(cost.peak_bytes)
            extra = f"+{cost.extra_flops / cost.forward_flops:.0%} fwd"
        else:
            counted, extra = "—", "—"
        print(f"  {name:10} {counted:>13} {format_bytes(peaks[name]):>14} "
              f"{peaks[name] / layer:9.1f} {extra:>12} {timing:>28} {t.median / base:8.2f}×")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (default 15)")
    repeat = parser.parse_args().repeat
    run(64, 256, 32, repeat)
    run(256, 512, 64, max(3, repeat // 3))


if __name__ == "__main__":
    main()
