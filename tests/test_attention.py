"""Scaled dot-product attention, ``softmax(Q Kᵀ/√d) V``, against the ops it is made of.

The registry tests (test_ops, test_sweep, test_second_derivatives,
test_nesting, test_random_graphs) hold the op to finite differences; here it
is held to the same computation composed from a batched matmul, the row
softmax and ``np.swapaxes``, whose derivatives the library already knows:
values, gradients, full Jacobians and second derivatives must agree for each
of the three arguments.
"""
import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare

SHAPES = {
    "one head": ((3, 4), (5, 4), (5, 2)),
    "a batch": ((2, 3, 4), (2, 5, 4), (2, 5, 2)),
    "two batch axes": ((2, 1, 2, 3), (2, 1, 3, 3), (2, 1, 3, 2)),
}


def _arguments(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _numpy(Q, K, V):
    """Attention in plain NumPy, each query's scores normalised over the keys."""
    scores = np.einsum("...qd,...kd->...qk", Q, K) / np.sqrt(Q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return np.einsum("...qk,...ke->...qe", weights, V)


def _composed(Q, K, V):
    """The same computation from the library's ops: matmul, softmax over the keys, matmul."""
    return jac.softmax(Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1]), axis=-1) @ V


@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES)
def test_the_value_is_numpys(shapes):
    args = _arguments(shapes)
    np.testing.assert_allclose(jac.attention(*args), _numpy(*args), rtol=1e-13, atol=1e-14)


def test_huge_scores_do_not_overflow():
    Q, K, V = 1e3 * np.eye(2), np.eye(2), np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(jac.attention(Q, K, V), np.eye(2), atol=1e-12)


@pytest.mark.parametrize("wrt", [0, 1, 2])
@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES)
def test_the_jacobians_are_those_of_the_composition(shapes, wrt):
    args = _arguments(shapes)
    composed = jac.jacobian(_composed, wrt=wrt)(*args)
    assert compare(jac.attention.jacobian(*args, wrt=wrt), composed, rtol=1e-10, atol=1e-12)
    assert compare(jac.attention.derivative(*args, wrt=wrt).materialise(), composed,
                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shapes", SHAPES.values(), ids=SHAPES)
def test_the_gradients_and_products_are_those_of_the_composition(shapes):
    args = _arguments(shapes)
    rng = np.random.default_rng(1)
    weights = rng.standard_normal(jac.attention(*args).shape)
    tangents = [rng.standard_normal(a.shape) for a in args]
    every = (0, 1, 2)
    by_op = jac.grad(lambda *a: np.sum(weights * jac.attention(*a)), wrt=every)(*args)
    by_parts = jac.grad(lambda *a: np.sum(weights * _composed(*a)), wrt=every)(*args)
    _, pullback = jac.vjp(_composed, *args)
    for i, (got, want, pulled) in enumerate(zip(by_op, by_parts, pullback(weights))):
        assert compare(got, want, rtol=1e-10, atol=1e-12), i
        assert compare(jac.attention.vjp(weights, *args, wrt=i), pulled, rtol=1e-10,
                       atol=1e-12), i
    _, pushed = jac.jvp(_composed, args, tangents)
    assert compare(sum(jac.attention.jvp(t, *args, wrt=i) for i, t in enumerate(tangents)),
                   pushed, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pair", [(0, 0), (1, 1), (0, 1), (1, 2), (2, 0), (2, 2)])
def test_second_derivatives_are_those_of_the_composition(pair):
    args = _arguments(SHAPES["a batch"])
    weights = np.random.default_rng(2).standard_normal((2, 3, 2))
    composed = jac.hessian(lambda *a: np.sum(weights * _composed(*a)), wrt=pair)(*args)
    H = jac.attention.hessian(*args, wrt=pair)
    assert compare(np.tensordot(weights, H, axes=3), composed, rtol=1e-9, atol=1e-11)
    # The second-order chain rule through the op reads the same second derivative.
    through_op = jac.hessian(lambda *a: np.sum(weights * jac.attention(*a)), wrt=pair)(*args)
    assert compare(through_op, composed, rtol=1e-9, atol=1e-11)


def test_the_formulas_print_as_index_notation():
    Q, K, V = _arguments(SHAPES["one head"])
    assert str(jac.attention.formula(Q, K, V, wrt=2)) == "∂O_ab/∂V_cd = S_ac δ_bd"
    assert str(jac.attention.formula(Q, K, V, wrt=0)) == \
        "∂O_ab/∂Q_cd = 1/√d δ_ac A_abd − 1/√d δ_ac O_ab M_ad"
    assert str(jac.attention.formula(Q, K, V, wrt=1)) == \
        "∂O_ab/∂K_cd = 1/√d S_ac V_cb Q_ad − 1/√d S_ac O_ab Q_ad"
    assert str(jac.attention.formula(*_arguments(SHAPES["a batch"]), wrt=2)) == \
        "∂O_abc/∂V_def = δ_ad S_abe δ_cf"
    assert jac.attention.formula(Q, K, V, wrt=0)._repr_latex_().startswith(
        r"$\frac{\partial O_{ab}}{\partial Q_{cd}} = \frac{1}{\sqrt{d}}\,\delta_{ac}")
    assert str(jac.attention.second_derivative(Q, K, V, wrt=2)) == "∂²O_ab/∂V_cd∂V_ef = 0"


def test_the_formulas_factors_are_the_ones_named():
    Q, K, V = _arguments(SHAPES["one head"])
    S = jac.softmax(Q @ K.T / 2.0)  # d = 4
    (first, second) = jac.attention.derivative(Q, K, V, wrt=0).terms
    A = next(f.value for f in first.factors if f.name == "A")
    M = next(f.value for f in second.factors if f.name == "M")
    np.testing.assert_allclose(A, np.einsum("qk,ke,kd->qed", S, V, K), rtol=1e-13)
    np.testing.assert_allclose(M, S @ K, rtol=1e-13)
    (weights,) = jac.attention.derivative(Q, K, V, wrt=2).terms[0].factors
    np.testing.assert_allclose(weights.value, S, rtol=1e-13)


def test_the_jacobian_wrt_v_is_block_diagonal_over_the_batch():
    Q, K, V = _arguments(((3, 2, 4), (3, 4, 4), (3, 4, 2)))
    J = jac.attention.jacobian(Q, K, V, wrt=2)
    s = jac.structure(J, 3)
    assert s.kind == "block-diagonal" and s.blocks == 3
    assert str(s) == "block-diagonal, 3 blocks of 4×8: 48 of 288 entries nonzero (16.7%)"
    # Through the softmax, Q and K reach every output of their own batch entry only.
    for wrt in (0, 1):
        assert jac.structure(jac.attention.jacobian(Q, K, V, wrt=wrt), 3).kind == \
            "block-diagonal"
    assert jac.attention.derivative(Q, K, V, wrt=2).nnz() == 48


@pytest.mark.parametrize("shapes, message", [
    (((3, 4), (5, 3), (5, 2)),
     r"attention: Q has shape \(3, 4\) and K has shape \(5, 3\): axis 1 of Q has size 4 but "
     r"axis 1 of K has size 3; they must be equal \(d, the size of each query and key\)"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 2)),
     r"attention: K has shape \(2, 5, 4\) and V has shape \(2, 6, 2\): axis 1 of K has size 5 "
     r"but axis 1 of V has size 6; they must be equal \(k, one value for each key\)"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 2)),
     r"attention: Q has shape \(2, 3, 4\) and K has shape \(3, 5, 4\); their batch axes \(all "
     r"but the last two\), \(2,\) and \(3,\), must be equal \(they are not broadcast\), but "
     r"axis 0 has sizes 2 and 3"),
    (((2, 3, 4), (2, 5, 4), (1, 5, 2)),
     r"Q has shape \(2, 3, 4\) and V has shape \(1, 5, 2\);.*but axis 0 has sizes 2 and 1"),
    (((2, 3, 4), (5, 4), (5, 2)),
     r"Q has shape \(2, 3, 4\) and K has shape \(5, 4\);.*but Q has 1 batch axis and K has 0"),
    (((4,), (5, 4), (5, 2)), r"attention: Q must have two axes \(q, d\) after any batch axes, "
                             r"got shape \(4,\)"),
    (((3, 4), (0, 4), (0, 2)), r"attention: K has shape \(0, 4\), no keys"),
    (((3, 0), (5, 0), (5, 2)), r"attention: Q has shape \(3, 0\), queries of size d = 0"),
])
def test_mismatched_shapes_are_explained(shapes, message):
    with pytest.raises(ValueError, match=message):
        jac.attention(*(np.ones(s) for s in shapes))
