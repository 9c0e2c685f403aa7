"""How fast is a dense Jacobian built? Against the floor, and against einsum.

For ``H = X W`` with n = m = p, ∂H/∂W has n⁴ entries, of which n³ are
nonzero. The floor is what any dense construction must pay: allocate a
zero array of that shape and touch each of its pages once. The library
writes ``X`` along the δ_bd-tied diagonal of such an array; a plain
``einsum('ac,bd->abcd', X, I)`` multiplies all n⁴ entries instead. The hand
VJP ``Xᵀ G`` is shown for scale. All candidates are timed interleaved in one
run; ratios are of medians.

Usage: python benchmarks/materialise.py [--sizes 16 24 32 48 64] [--repeat 15]
"""
import single_thread  # noqa: F401  (before NumPy: BLAS on one thread)

import argparse  # noqa: E402

import numpy as np  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.timing import interleaved  # noqa: E402

PAGE_ENTRIES = 4096 // 8


def floor(shape):
    a = np.zeros(shape)
    a.reshape(-1)[::PAGE_ENTRIES] = 1.0  # one write per 4 kB page
    return a


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 24, 32, 48, 64])
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'n':>4} {'floor':>10} {'library':>10} {'einsum':>10} {'hand vjp':>10}"
          f" {'library/floor':>14} {'einsum/floor':>13} {'einsum/library':>15}")
    for n in options.sizes:
        X, W, G = rng.standard_normal((n, n)), rng.standard_normal((n, n)), rng.standard_normal((n, n))
        eye = np.eye(n)
        t = interleaved({
            "floor": lambda: floor((n, n, n, n)),
            "library": lambda: jac.matmul.jacobian(X, W, wrt=1),
            "einsum": lambda: np.einsum("ac,bd->abcd", X, eye),
            "vjp": lambda: jac.matmul.vjp(G, X, W, wrt=1),
        }, repeat=options.repeat)
        ms = {k: v.median * 1e3 for k, v in t.items()}
        print(f"{n:>4} {ms['floor']:>8.3f}ms {ms['library']:>8.3f}ms {ms['einsum']:>8.3f}ms "
              f"{ms['vjp']:>8.3f}ms {ms['library'] / ms['floor']:>14.2f} "
              f"{ms['einsum'] / ms['floor']:>13.2f} {ms['einsum'] / ms['library']:>15.2f}")


if __name__ == "__main__":
    main()
