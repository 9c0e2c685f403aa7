"""How fast is a dense Jacobian built? Against the floor, and against einsum.

For ``H = X W`` with n = m = p, ∂H/∂W has n⁴ entries, of which n³ are
nonzero. The floor is what any dense construction must pay: allocate a
zero array of that shape and touch each of its pages once. The library
writes ``X`` along the δ_bd-tied diagonal of such an array; a plain
``einsum('ac,bd->abcd', X, I)`` multiplies all n⁴ entries instead. The hand
VJP ``Xᵀ G`` is shown for scale. All candidates are timed interleaved in one
run; ratios are of medians.

With ``--op conv2d`` the Jacobian is a convolution's, ∂y/∂x for one image
of C = O = 4 channels, n × n pixels, a 3×3 kernel and padding 1: (4n²)²
entries, of which about 36·4n² are nonzero. The library adds the kernel's
taps at the windows of a zero array (one ``np.bincount``); the einsum
multiplies the kernel by two one-hot window tensors ``D[a, k, l] = [l = a +
k − 1]`` into every entry.

Usage: python benchmarks/materialise.py [--op matmul|conv2d] [--sizes ...] [--repeat 15]
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


def windows(n, taps=3, padding=1):
    """``D[a, k, l] = 1`` where tap ``k`` of window ``a`` reads position ``l``."""
    D = np.zeros((n, taps, n))
    for a in range(n):
        for k in range(taps):
            if 0 <= a + k - padding < n:
                D[a, k, a + k - padding] = 1.0
    return D


def conv2d(sizes, repeat, channels=4):
    rng = np.random.default_rng(0)
    print(f"{'n':>4} {'entries':>11} {'floor':>10} {'library':>10} {'einsum':>10} {'vjp':>10}"
          f" {'library/floor':>14} {'einsum/library':>15}")
    for n in sizes:
        x = rng.standard_normal((1, channels, n, n))
        w = rng.standard_normal((channels, channels, 3, 3))
        g = rng.standard_normal((1, channels, n, n))
        D = windows(n)
        shape = (1, channels, n, n, 1, channels, n, n)
        t = interleaved({
            "floor": lambda: floor(shape),
            "library": lambda: jac.conv2d.jacobian(x, w, wrt=0, padding=1),
            "einsum": lambda: np.einsum("ocij,aiy,bjz->oabcyz", w, D, D)[None, :, :, :, None],
            "vjp": lambda: jac.conv2d.vjp(g, x, w, wrt=0, padding=1),
        }, repeat=repeat)
        ms = {k: v.median * 1e3 for k, v in t.items()}
        print(f"{n:>4} {np.prod(shape):>11,} {ms['floor']:>8.3f}ms {ms['library']:>8.3f}ms "
              f"{ms['einsum']:>8.3f}ms {ms['vjp']:>8.3f}ms "
              f"{ms['library'] / ms['floor']:>14.2f} {ms['einsum'] / ms['library']:>15.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", choices=("matmul", "conv2d"), default="matmul")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()
    if options.op == "conv2d":
        return conv2d(options.sizes or [8, 12, 16, 24, 32], options.repeat)
    options.sizes = options.sizes or [16, 24, 32, 48, 64]
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
