"""Second order and the two modes, timed side by side.

1. Q0's Hessian in W three ways, as N grows (n = m = p = N): the naive
   ``jac.hessian`` (every local first and second derivative materialised,
   the second-order chain rule contracted with einsum), the whole Hessian as
   ``N²`` Hessian–vector products (one per column), and a single HVP —
   forward over reverse and reverse over reverse. The ``N²`` HVPs are
   ``jac.jacfwd(jac.grad(f))``: the gradient traced once, one forward sweep
   through it per column. Beside each time, what ``jac.hessian_cost`` counts.
2. A full Jacobian as n JVPs (``jac.jacfwd``) against m VJPs
   (``jac.jacrev``) on a wide function (200 inputs, one output) and a tall
   one (one input, 200 outputs), with ``jac.mode_cost``'s FLOPs.

Everything is timed interleaved in one run; ratios are of medians.

Usage: python benchmarks/second_order.py [--sizes 4 8 16 24 32] [--repeat 7]
"""
import single_thread  # noqa: F401  (before NumPy: BLAS on one thread)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.examples import QUESTIONS  # noqa: E402
from jacobians.timing import interleaved  # noqa: E402


def hessians(sizes, repeat):
    q = QUESTIONS["Q0"]
    for n in sizes:
        args = q.args(n=n, m=n, p=n)
        # n² HVPs: the gradient traced once, then one forward sweep per column of H.
        columns = jac.jacfwd(jac.grad(q.function))
        np.testing.assert_allclose(columns(*args), jac.hessian(q.function)(*args), atol=1e-9)
        v = np.random.default_rng(1).standard_normal(args[0].shape)
        t = interleaved({
            "jac.hessian (naive)": lambda: jac.hessian(q.function)(*args),
            f"{n * n} HVPs, forward over reverse": lambda: columns(*args),
            "one HVP, forward over reverse": lambda: jac.hvp(q.function)(*args, v),
            "one HVP, reverse over reverse":
                lambda: jac.hvp(q.function, mode="reverse-over-reverse")(*args, v),
        }, repeat=repeat)
        cost = jac.hessian_cost(q.function, args)
        base = t["one HVP, forward over reverse"].median
        print(f"Q0's Hessian in W, n = m = p = {n} (W has {n * n} entries)")
        counted = {"jac.hessian (naive)": cost.naive_flops,
                   f"{n * n} HVPs, forward over reverse": cost.hvps_flops,
                   "one HVP, forward over reverse": cost.hvp_flops}
        for name, timing in t.items():
            flops = f"{counted[name]:>14,} FLOPs" if name in counted else " " * 20
            print(f"  {name:36} {timing.median * 1e3:9.3f} ms   ratio {timing.median / base:8.1f}"
                  f"   {flops}")


def modes(repeat):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200)
    cases = {"wide: Σ tanh(x), x of 200": (lambda x: np.sum(np.tanh(x)), x),
             "tall: tanh(s k), k = 0..199": (lambda s: np.tanh(s * np.arange(200.0)),
                                             np.array(0.3))}
    for title, (f, arg) in cases.items():
        np.testing.assert_allclose(jac.jacfwd(f)(arg), jac.jacrev(f)(arg), atol=1e-12)
        t = interleaved({"jac.jacfwd (n JVPs)": lambda: jac.jacfwd(f)(arg),
                         "jac.jacrev (m VJPs)": lambda: jac.jacrev(f)(arg)}, repeat=repeat)
        cost = jac.mode_cost(f, (arg,))
        print(f"{title}: {cost}")
        base = t["jac.jacrev (m VJPs)"].median
        for name, timing in t.items():
            print(f"  {name:36} {timing.median * 1e3:9.3f} ms   ratio {timing.median / base:8.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[4, 8, 16, 24, 32])
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    hessians(options.sizes, options.repeat)
    modes(options.repeat)


if __name__ == "__main__":
    main()
