"""Naive against hand-written naive, and efficient against hand-written NumPy.

1. Is ``jac.jacobian`` the best naive path? On Q0 (n = m = p = 48) it is set
   beside a hand-written naive baseline: the three local Jacobians built by
   direct strided writes, contracted by one opt_einsum expression prepared in
   advance (so its path search is not timed).
2. Is ``jac.grad`` cheap? On Q0 and Q4 at width 256 it is set beside the
   closed form written in NumPy (forward pass included in both), and so is
   the derived program ``jac.derive``. Q4's closed form fuses softmax and
   cross-entropy into ``ŷ − y``; the model keeps them apart as the learner
   wrote them, so Q4 is also timed with the fused ``jac.softmax_cross_entropy``.

Everything is timed interleaved in one run; ratios are of medians.

Usage: python benchmarks/chain.py [--naive-size 48] [--width 256] [--repeat 15]
"""
import single_thread  # noqa: F401  (before NumPy: BLAS on one thread)

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import opt_einsum  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.examples import QUESTIONS  # noqa: E402
from jacobians.timing import interleaved  # noqa: E402


def hand_naive_q0(W, X, v, y, expression):
    """Q0's chain with the local Jacobians written by hand, no library."""
    n, m = X.shape
    p = W.shape[1]
    r = X @ W @ v - y                              # ∂l/∂ŷ
    dyhat_dH = np.zeros((n, n, p))                 # δ_ac v_d
    np.einsum("aad->ad", dyhat_dH)[...] = v        # write along the diagonal a = c
    dH_dW = np.zeros((n, p, m, p))                 # X_ac δ_bd
    np.einsum("abcb->acb", dH_dW)[...] = X[:, :, None]
    return expression(r, dyhat_dH, dH_dW)


def q4_fused(x, W1, b1, W2, b2, y):
    """Q4 with ``jac.softmax_cross_entropy`` in place of softmax, then cross-entropy."""
    theta = jac.sigmoid(x @ W1 + b1) @ W2 + b2
    return jac.softmax_cross_entropy(theta, y)


def report(title, t, baseline):
    print(title)
    base = t[baseline].median
    for name, timing in t.items():
        print(f"  {name:34} {timing}   ratio {timing.median / base:5.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--naive-size", type=int, default=48)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=15)
    options = parser.parse_args()

    q0, q4 = QUESTIONS["Q0"], QUESTIONS["Q4"]
    s = options.naive_size
    args = q0.args(n=s, m=s, p=s)
    expression = opt_einsum.contract_expression("a,acd,cdij->ij", (s,), (s, s, s), (s, s, s, s))
    np.testing.assert_allclose(hand_naive_q0(*args, expression), q0.closed_form(*args))
    t = interleaved({
        "hand-written naive (baseline)": lambda: hand_naive_q0(*args, expression),
        "jac.jacobian, reverse order": lambda: jac.jacobian(q0.function)(*args),
        "jac.jacobian, optimal order": lambda: jac.jacobian(q0.function, order="optimal")(*args),
    }, repeat=options.repeat)
    report(f"Q0 naive, n = m = p = {s}", t, "hand-written naive (baseline)")

    w = options.width
    for q, args in ((q0, q0.args(n=w, m=w, p=w)), (q4, q4.args(n=w, m=w, hidden=w, k=w))):
        candidates = {
            "NumPy closed form (baseline)": lambda: q.closed_form(*args),
            "jac.grad": lambda: jac.grad(q.function, wrt=q.wrt)(*args),
            "jac.derive (trace, derive, run)": lambda: jac.derive(q.function, wrt=q.wrt)(*args),
        }
        if q is q4:
            # The closed form fuses softmax and cross-entropy into ŷ − y; so can the model.
            candidates["jac.grad, fused loss"] = lambda: jac.grad(q4_fused)(*args)
            candidates["jac.derive, fused loss"] = lambda: jac.derive(q4_fused)(*args)
        t = interleaved(candidates, repeat=options.repeat)
        report(f"{q.key} efficient, width {w}", t, "NumPy closed form (baseline)")


if __name__ == "__main__":
    main()
