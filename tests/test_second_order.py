"""Hessians as tensors, Hessian–vector products, jacfwd against jacrev, Gauss–Newton.

Truths: central finite differences of the (separately tested) gradient; the
closed form of Q0's Hessian, ``∂²l/∂W_cd∂W_ef = (XᵀX)_ce (v vᵀ)_df``; the
dot-product test for HVPs; the library's own naive Jacobian for jacfwd and
jacrev; and for Gauss–Newton, that ``H − JᵀJ = Σ_a r_a ∂²r_a``.
"""
import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.examples import QUESTIONS

rng = np.random.default_rng(0)


def network(W1, b1, W2, X, Y):
    """A tanh layer, then softmax cross-entropy, written in NumPy."""
    H = np.tanh(X @ W1 + b1)
    return jac.softmax_cross_entropy(H @ W2, Y) / len(X)


def network_args():
    X, Y = rng.standard_normal((4, 3)), np.eye(2)[[0, 1, 1, 0]]
    return (rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((3, 2)),
            X, Y)


MODELS = [(key, q.function, q.args()) for key, q in QUESTIONS.items()] + \
    [("tanh-softmax network", network, network_args())]


@pytest.mark.parametrize("key, f, args", MODELS, ids=[m[0] for m in MODELS])
def test_hessians_and_hvps_match_finite_differences_of_the_gradient(key, f, args):
    for i in range(len(args)):
        H = jac.hessian(f, wrt=i)(*args)
        assert jac.check_hessian(H, f, *args, wrt=i), (key, i)
        assert jac.check_symmetric(H, np.ndim(args[i])), (key, i)
        v = rng.standard_normal(np.shape(args[i]))
        expected = np.tensordot(H, v, axes=np.ndim(v))
        for mode in ("forward-over-reverse", "reverse-over-reverse"):
            assert compare(jac.hvp(f, wrt=i, mode=mode)(*args, v), expected), (key, i, mode)
        assert jac.check_hvp(f, *args, wrt=i), (key, i)


def test_mixed_second_derivatives():
    f, args = network, network_args()
    H = jac.hessian(f, wrt=(0, 2))(*args)
    assert H.shape == (3, 3, 3, 2)
    assert jac.check_hessian(H, f, *args, wrt=(0, 2))
    swapped = jac.hessian(f, wrt=(2, 0))(*args)
    np.testing.assert_allclose(np.transpose(H, (2, 3, 0, 1)), swapped, atol=1e-12)


def test_q0_hessian_is_the_kronecker_product_of_xtx_and_vvt():
    q = QUESTIONS["Q0"]
    W, X, v, y = q.args()
    H = jac.hessian(q.function)(W, X, v, y)
    np.testing.assert_allclose(H, np.einsum("ce,df->cdef", X.T @ X, np.outer(v, v)), atol=1e-12)
    structure = jac.structure(H, 2)
    assert structure.kind == "Kronecker"
    A, B = structure.factors.A, structure.factors.B
    np.testing.assert_allclose(np.kron(A, B), np.kron(X.T @ X, np.outer(v, v)), atol=1e-10)


def test_an_hvp_runs_where_the_hessian_would_need_37_tib():
    q = QUESTIONS["Q0"]
    W, X, v, y = q.args(n=20, m=1500, p=1500)
    with pytest.raises(jac.JacobianTooLarge, match=r"36\.8 TiB.*jac\.hvp"):
        jac.hessian(q.function)(W, X, v, y)
    u = rng.standard_normal(W.shape)
    Hu = jac.hvp(q.function)(W, X, v, y, u)
    np.testing.assert_allclose(Hu, X.T @ X @ u @ np.outer(v, v), rtol=1e-9)


@pytest.mark.parametrize("f, shapes", [
    (lambda x: np.tanh(x) * x.sum(), [(4,)]),
    (lambda X, W: jac.softmax(X @ W, axis=-1), [(3, 4), (4, 2)]),
    (lambda x: np.sum(x ** 2), [(5,)]),
    (lambda x: np.outer(x, x), [(3,)]),
])
def test_jacfwd_and_jacrev_equal_the_naive_jacobian(f, shapes):
    args = [rng.standard_normal(s) for s in shapes]
    for i in range(len(args)):
        J = jac.jacobian(f, wrt=i)(*args)
        np.testing.assert_allclose(jac.jacfwd(f, wrt=i)(*args), J, atol=1e-12)
        np.testing.assert_allclose(jac.jacrev(f, wrt=i)(*args), J, atol=1e-12)


def test_wide_wants_reverse_mode_and_tall_wants_forward_mode():
    x = rng.standard_normal(200)
    wide = jac.mode_cost(lambda x: np.sum(np.tanh(x)), (x,))
    assert (wide.inputs, wide.outputs, wide.cheaper) == (200, 1, "reverse")
    assert wide.jacfwd_flops > 100 * wide.jacrev_flops
    tall = jac.mode_cost(lambda s: np.tanh(s * np.arange(200.0)), (np.array(0.3),))
    assert (tall.inputs, tall.outputs, tall.cheaper) == (1, 200, "forward")
    assert tall.jacrev_flops > 100 * tall.jacfwd_flops
    assert "forward mode is cheaper" in str(tall)


def test_gauss_newton_equals_the_hessian_of_a_linear_residual_and_misses_curvature_otherwise():
    q = QUESTIONS["Q0"]
    W, X, v, y = q.args()

    def linear(W):
        return X @ W @ v - y
    G = jac.gauss_newton(linear)(W)
    np.testing.assert_allclose(G, jac.hessian(q.function)(W, X, v, y), atol=1e-12)

    def curved(W):  # Q3's kind of residual: a sigmoid layer
        return jac.sigmoid(X @ W) @ v - y
    H = jac.hessian(lambda W: 0.5 * np.sum(curved(W) ** 2))(W)
    G = jac.gauss_newton(curved)(W)
    r = curved(W)
    curvature = np.tensordot(r, jac.hessian(curved)(W), axes=1)
    np.testing.assert_allclose(H - G, curvature, atol=1e-10)
    assert np.abs(curvature).max() > 1e-3  # the gap is real


def test_the_shipped_checks_catch_a_wrong_hessian_and_a_wrong_hvp():
    f = lambda x: np.sum(np.tanh(x) ** 2)  # noqa: E731
    x = rng.standard_normal(3)
    H = jac.hessian(f)(x)
    assert not jac.check_hessian(1.01 * H, f, x)
    skewed = H + np.triu(np.ones((3, 3)), 1)
    assert not jac.check_symmetric(skewed, 1)
    assert jac.check_symmetric(H, 1)


def test_bad_arguments_are_explained():
    f = lambda x: np.sum(x ** 3)  # noqa: E731
    with pytest.raises(ValueError, match="v has shape \\(2,\\) but argument 0 has shape \\(3,\\)"):
        jac.hvp(f)(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="mode must be one of"):
        jac.hvp(f, mode="sideways")
    with pytest.raises(ValueError, match="wrt=i or a pair"):
        jac.hessian(f, wrt=(0, 1, 2))


def test_hessian_cost_counts_what_the_naive_hessian_and_an_hvp_do():
    q = QUESTIONS["Q0"]
    n = 3
    W, X, v, y = q.args(n=n, m=n, p=n)
    cost = jac.hessian_cost(q.function, (W, X, v, y))
    assert cost.entries == n * n and cost.hvps_flops == n * n * cost.hvp_flops
    # One HVP is a forward sweep through the gradient: a few matrix products of
    # the model's size, so about as many FLOPs as a gradient (2n³ per product).
    assert 2 * n**3 < cost.hvp_flops < 40 * n**3
    # The naive Hessian holds the 4th-order ∂²l/∂W∂W (n⁴ entries) at least.
    assert cost.naive_peak_bytes >= 8 * n**4
    assert cost.naive_flops > cost.hvps_flops
    big = jac.hessian_cost(q.function, q.args(n=20, m=1500, p=1500))
    assert big.naive_peak_bytes >= 8 * 1500**4 and big.hvp_peak_bytes < 2**27
