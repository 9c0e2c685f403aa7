"""One sweep, fast at every size: fixed costs, growth with depth, and the naive chain.

Each line sets the library beside a baseline timed interleaved in the same
run (ratios of medians; BLAS on one thread). Calls that take microseconds are
timed two ways, which disagree: one call at a time, as in a notebook (each
candidate finds the caches as the others left them), and 50 calls in a row,
as in a training loop (JAX's compiled dispatch is then far faster):

1. ``jac.grad`` over every weight of a tanh MLP (width 16) at depths 50 and
   200: time per layer, and against backprop written by hand in NumPy.
2. ``jac.grad`` of Q0 at width 8, written with the library's ops and in
   plain NumPy, against jitted ``jax.grad`` (when JAX is installed), called
   with NumPy arrays as a user would and with arrays already on the device;
   at width 256 against the NumPy closed form.
3. ``op.jacobian`` of ``sigmoid`` on (8, 8) and ``matmul`` at n = 16 against
   jitted ``jax.jacrev``, and its fixed overhead: its time less that of the
   same NumPy work written by hand; ``matmul`` at n = 64 against the floor
   of allocating the zero array and touching its pages.
4. ``jac.jacobian`` (the naive chain, reverse order) of Q0 at n = 16 and 48
   against a hand-written naive chain.
5. ``order="optimal"`` on a plain chain of 211 ops and on 30 levels of
   ``y = tanh(y) + y`` (2³⁰ paths), which used to take exponential time.

Usage: python benchmarks/sweep.py [--repeat 100]
"""
import single_thread  # noqa: F401  (before NumPy: BLAS on one thread)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import opt_einsum  # noqa: E402

import jacobians as jac  # noqa: E402
from chain import hand_naive_q0  # noqa: E402
from jacobians.examples import QUESTIONS  # noqa: E402
from jacobians.timing import interleaved  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)  # float64, as the library computes
except ImportError:
    jax = None


def report(title, timings, baseline):
    print(title)
    base = timings[baseline].median
    for name, t in timings.items():
        print(f"  {name:44} {t.median * 1e6:10.1f} µs   ratio {t.median / base:6.2f}")


def mlp(depth, width=16, batch=4):
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(depth)]
    x = rng.standard_normal((batch, width))

    def loss(x, *weights):
        h = x
        for W in weights:
            h = jac.tanh(h @ W)
        return jac.sum(h)

    def by_hand(x, *weights):
        hs = [x]
        for W in weights:
            hs.append(np.tanh(hs[-1] @ W))
        g, grads = np.ones_like(hs[-1]), []
        for W, h_in, h_out in zip(weights[::-1], hs[-2::-1], hs[:0:-1]):
            g = g * (1 - h_out ** 2)
            grads.append(h_in.T @ g)
            g = g @ W.T
        return grads[::-1]
    return loss, by_hand, (x, *weights)


def depth(repeat):
    per_layer = {}
    for d in (50, 200):
        loss, by_hand, args = mlp(d)
        wrt = tuple(range(1, d + 1))
        grad = jac.grad(loss, wrt=wrt)
        for got, want in zip(grad(*args), by_hand(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-10)
        t = interleaved({"hand-written backprop (baseline)": lambda: by_hand(*args),
                         "jac.grad over every weight": lambda: grad(*args)},
                        repeat=max(5, repeat // 20))
        report(f"tanh MLP, depth {d}, width 16", t, "hand-written backprop (baseline)")
        per_layer[d] = t["jac.grad over every weight"].median / d
    print(f"  per-layer time, depth 200 / depth 50: {per_layer[200] / per_layer[50]:.2f}")


def q0_loss_jax(W, X, v, y):
    r = X @ W @ v - y
    return 0.5 * jnp.sum(r ** 2)


def q0_loss_numpy(W, X, v, y):
    """Q0 as a learner writes it in NumPy; traced, it is the same graph as ``q0.function``."""
    r = X @ W @ v - y
    return 0.5 * np.sum(r ** 2)


def gradients(repeat):
    q0 = QUESTIONS["Q0"]
    args = q0.args(n=8, m=8, p=8)
    candidates = {"jac.grad": lambda: jac.grad(q0.function)(*args),
                  "jac.grad, Q0 written in NumPy": lambda: jac.grad(q0_loss_numpy)(*args)}
    np.testing.assert_allclose(jac.grad(q0_loss_numpy)(*args), jac.grad(q0.function)(*args),
                               rtol=1e-12)
    if jax is None:
        t = interleaved(candidates, repeat=repeat)
        report("Q0 gradient, width 8 (pip install jax to compare with JAX)", t, "jac.grad")
    else:
        jitted = jax.jit(jax.grad(q0_loss_jax))
        on_device = [jnp.asarray(a) for a in args]
        np.testing.assert_allclose(jitted(*args), jac.grad(q0.function)(*args), rtol=1e-10)
        candidates["jitted jax.grad, NumPy arrays in"] = \
            lambda: jitted(*args).block_until_ready()
        candidates["jitted jax.grad, device arrays in"] = \
            lambda: jitted(*on_device).block_until_ready()
        for number, how in ((1, "one call at a time"), (50, "50 calls in a row")):
            t = interleaved(candidates, repeat=repeat, number=number)
            report(f"Q0 gradient, width 8, {how}", t, "jitted jax.grad, NumPy arrays in")
    w = 256
    args = q0.args(n=w, m=w, p=w)
    t = interleaved({"NumPy closed form (baseline)": lambda: q0.closed_form(*args),
                     "jac.grad": lambda: jac.grad(q0.function)(*args)},
                    repeat=max(5, repeat // 10))
    report(f"Q0 gradient, width {w}", t, "NumPy closed form (baseline)")


def sigmoid_by_hand(Z):
    """σ's dense Jacobian with the least NumPy work: its value, σ', and one strided write."""
    s = 1 / (1 + np.exp(-Z))
    J = np.zeros(Z.shape * 2)
    np.einsum("abab->ab", J)[...] = s * (1 - s)
    return J


def matmul_by_hand(X, W):
    """∂(XW)/∂W = X_ac δ_bd with the least NumPy work."""
    J = np.zeros((X.shape[0], W.shape[1]) + W.shape)
    np.einsum("abcb->acb", J)[...] = X[:, :, None]
    return J


def floor(shape):
    a = np.zeros(shape)
    a.reshape(-1)[::4096 // 8] = 1.0  # one write per 4 kB page
    return a


def op_jacobians(repeat):
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((8, 8))
    X, W = rng.standard_normal((16, 16)), rng.standard_normal((16, 16))
    np.testing.assert_allclose(jac.sigmoid.jacobian(Z), sigmoid_by_hand(Z))
    np.testing.assert_allclose(jac.matmul.jacobian(X, W, wrt=1), matmul_by_hand(X, W))
    cases = (("sigmoid on (8, 8)", lambda: jac.sigmoid.jacobian(Z), lambda: sigmoid_by_hand(Z),
              jax and jax.jit(jax.jacrev(jax.nn.sigmoid)), (Z,)),
             ("matmul at n = 16, wrt W", lambda: jac.matmul.jacobian(X, W, wrt=1),
              lambda: matmul_by_hand(X, W),
              jax and jax.jit(jax.jacrev(lambda X, W: X @ W, argnums=1)), (X, W)))
    for title, library, by_hand, jitted, args in cases:
        candidates = {"op.jacobian": library, "the same NumPy work by hand": by_hand}
        if jitted is not None:
            jitted(*args).block_until_ready()
            candidates["jitted jax.jacrev, NumPy arrays in"] = \
                lambda: jitted(*args).block_until_ready()
        for number, how in ((1, "one call at a time"), (50, "50 calls in a row")):
            t = interleaved(candidates, repeat=repeat, number=number)
            report(f"op.jacobian, {title}, {how}", t, "op.jacobian")
            overhead = t["op.jacobian"].median - t["the same NumPy work by hand"].median
            print(f"  fixed overhead: {overhead * 1e6:.1f} µs")
    X, W = rng.standard_normal((64, 64)), rng.standard_normal((64, 64))
    t = interleaved({"zero array, pages touched (floor)": lambda: floor((64,) * 4),
                     "op.jacobian": lambda: jac.matmul.jacobian(X, W, wrt=1)},
                    repeat=max(5, repeat // 20))
    report("matmul at n = 64 (128 MiB)", t, "zero array, pages touched (floor)")


def naive_chains(repeat):
    q0 = QUESTIONS["Q0"]
    for s in (16, 48):
        args = q0.args(n=s, m=s, p=s)
        expression = opt_einsum.contract_expression("a,acd,cdij->ij", (s,), (s, s, s),
                                                    (s, s, s, s))
        np.testing.assert_allclose(jac.jacobian(q0.function)(*args),
                                   hand_naive_q0(*args, expression))
        t = interleaved({"hand-written naive chain (baseline)":
                         lambda: hand_naive_q0(*args, expression),
                         "jac.jacobian, reverse order": lambda: jac.jacobian(q0.function)(*args)},
                        repeat=repeat if s == 16 else max(5, repeat // 10))
        report(f"Q0 naive chain, n = m = p = {s}", t, "hand-written naive chain (baseline)")


def blow_ups():
    def plain(x):
        for _ in range(211):
            x = jac.tanh(x)
        return jac.sum(x)

    def shared(y):
        for _ in range(30):
            y = jac.tanh(y) + y
        return jac.sum(y)
    x = np.linspace(-1, 1, 4)
    print("optimal order where paths blew up")
    for title, f in (("a plain chain of 211 ops", plain), ("30 levels of y = tanh(y) + y", shared)):
        start = time.perf_counter()
        result = jac.chain_rule(f, order="optimal")(x)
        seconds = time.perf_counter() - start
        print(f"  {title:44} {seconds * 1e3:10.1f} ms   ran in {result.order} order")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100)
    options = parser.parse_args()
    depth(options.repeat)
    gradients(options.repeat)
    op_jacobians(options.repeat)
    naive_chains(options.repeat)
    blow_ups()


if __name__ == "__main__":
    main()
