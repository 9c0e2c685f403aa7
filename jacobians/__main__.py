"""The command line: ``python -m jacobians [tour]``."""
import argparse

import numpy as np
import opt_einsum

from . import matmul, subtract


def tour(n=4, m=3, p=2, seed=0):
    """Q0 with real tensors: each local Jacobian, the chain, and the VJP."""
    rng = np.random.default_rng(seed)
    X, W, v, y = (rng.standard_normal(s) for s in ((n, m), (m, p), (p,), (n,)))
    H = matmul(X, W)
    y_hat = matmul(H, v)
    r = subtract(y_hat, y)
    print(f"Q0: H = X W, ŷ = H v, l = ½‖ŷ − y‖²   with n={n}, m={m}, p={p}\n")
    locals_ = [("∂l/∂ŷ", r),  # the loss's gradient: ŷ − y
               ("∂ŷ/∂H", matmul.jacobian(H, v, wrt=0)),
               ("∂H/∂W", matmul.jacobian(X, W, wrt=1))]
    formulas = ("(ŷ − y)_a", matmul.formula(H, v, wrt=0, names=("H", "v", "ŷ")),
                matmul.formula(X, W, wrt=1))
    for (name, J), formula in zip(locals_, formulas):
        print(f"  {name:6} shape {str(J.shape):14} order {J.ndim}   {formula}")
    chain = opt_einsum.contract("a,acd,cdij->ij", *(J for _, J in locals_))
    vjp = matmul.vjp(matmul.vjp(r, H, v, wrt=0), X, W, wrt=1)
    closed = X.T @ np.outer(r, v)
    print(f"\n  chain  einsum('a,acd,cdij->ij') gives shape {chain.shape}")
    print(f"  VJPs   Xᵀ (g vᵀ) gives shape {vjp.shape}")
    print(f"  equal: {np.allclose(chain, vjp)}, and equal to Xᵀ(ŷ − y)vᵀ: "
          f"{np.allclose(vjp, closed)}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jacobians", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("tour", help="Q0's local Jacobians, the chain and the VJP")
    parser.parse_args(argv)
    tour()


if __name__ == "__main__":
    main()
