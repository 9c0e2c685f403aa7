"""The command line: ``python -m jacobians [tour]``."""
import argparse

import numpy as np

from .chain import chain_rule, grad
from .derive import derive
from .examples import QUESTIONS
from .graph import trace_graph


def tour():
    """Q0 with real tensors: the local Jacobians, the naive chain, the VJPs."""
    q = QUESTIONS["Q0"]
    args = q.args()
    print(f"{q.key}. {q.title}\n    H = X W,  ŷ = H v,  l = ½‖ŷ − y‖²   "
          f"(n, m, p = {q.sizes['n']}, {q.sizes['m']}, {q.sizes['p']})\n")
    print(f"{trace_graph(q.function, *args)}\n")
    naive = chain_rule(q.function, wrt=q.wrt)(*args)
    print("The naive chain contracts the materialised Jacobians:")
    print(f"{naive}\n")
    print("The derived backprop program eliminates the deltas first:")
    print(f"{derive(q.function, wrt=q.wrt)(*args)}\n")
    efficient = grad(q.function, wrt=q.wrt)(*args)
    print(f"naive chain == VJP sweep: {np.allclose(naive.jacobian, efficient)};  "
          f"== Xᵀ(ŷ − y)vᵀ: {np.allclose(efficient, q.closed_form(*args))}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="jacobians", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("tour", help="Q0's local Jacobians, the naive chain and the VJPs")
    parser.parse_args(argv)
    tour()


if __name__ == "__main__":
    main()
