"""einsum, batched matmul and the selections (indexing, joining) against closed forms."""
import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian

rng = np.random.default_rng(0)


@pytest.mark.parametrize("spec, shapes, wrt, formula", [
    ("ij,jk->ik", [(2, 3), (3, 4)], 0, "∂E_ab/∂A_cd = δ_ac B_db"),
    ("ij,jk->ik", [(2, 3), (3, 4)], 1, "∂E_ab/∂B_cd = A_ac δ_bd"),
    ("i,j->ij", [(3,), (2,)], 0, "∂E_ij/∂a_k = δ_ik b_j"),  # a and b are names here
    ("ii->", [(3, 3)], 0, "∂e/∂A_cd = δ_cd"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], 1, "∂E_ab/∂B_cd = A_ac C_db"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], 0, "∂E_ab/∂A_cd = δ_ac (Σ_k B·C)_db"),
    ("ab,bb->ab", [(2, 3), (3, 3)], 0, "∂E_ab/∂A_cd = δ_ac δ_bd diag(B)_b"),
    ("ij,jk->i", [(2, 3), (3, 4)], 0, "∂e_a/∂A_cd = δ_ac (Σ_k B)_d"),
])
def test_einsum_states_the_other_operands_times_deltas(spec, shapes, wrt, formula):
    args = [rng.standard_normal(s) for s in shapes]
    assert str(jac.einsum.formula(spec, *args, wrt=wrt)) == formula


def test_einsum_of_a_matrix_product_is_matmul():
    X, W, G = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    for k in (0, 1):
        np.testing.assert_allclose(jac.einsum.jacobian("ab,bc->ac", X, W, wrt=k),
                                   jac.matmul.jacobian(X, W, wrt=k))
        np.testing.assert_allclose(jac.einsum.vjp(G, "ab,bc->ac", X, W, wrt=k),
                                   (G @ W.T, X.T @ G)[k])


def test_einsum_vjp_writes_a_diagonal_and_a_broadcast():
    A = rng.standard_normal((3, 3))
    # d/dA of Σ_i A_ii g_i is g on the diagonal; of Σ_ij A_ij g_i it is g copied along j.
    g = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(jac.einsum.vjp(g, "ii->i", A), np.diag(g))
    np.testing.assert_array_equal(jac.einsum.vjp(g, "ij->i", A), np.repeat(g[:, None], 3, 1))


@pytest.mark.parametrize("spec, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 2)], "label 'j' has size 3 in operand 0"),
    ("ij->k", [(2, 3)], "labels no operand has: k"),
    ("...i->i", [(2, 3)], "write every axis out"),
    ("ij,jk->ik", [(2, 3)], "subscripts for 2 operand"),
    ("ijk->i", [(2, 3)], "operand 0 has 2 axes"),
])
def test_einsum_errors_name_the_operand_and_axis(spec, shapes, message):
    with pytest.raises(ValueError, match=message):
        jac.einsum(spec, *[np.ones(s) for s in shapes])


def test_batched_matmul_is_block_diagonal_across_the_batch():
    A, B = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 4, 2))
    J = jac.matmul.jacobian(A, B, wrt=0)
    assert J.shape == (3, 2, 2, 3, 2, 4)
    structure = jac.structure(J, 3)
    assert structure.kind == "block-diagonal" and structure.blocks == 3
    # One W for the whole batch: its gradient sums the batch's, Σ_z A_zᵀ g_z.
    W, G = rng.standard_normal((4, 2)), rng.standard_normal((3, 2, 2))
    np.testing.assert_allclose(jac.matmul.vjp(G, A, W, wrt=1),
                               sum(A[z].T @ G[z] for z in range(3)))
    assert compare(jac.matmul.jacobian(A, W, wrt=1),
                   finite_difference_jacobian(jac.matmul, A, W, wrt=1))


def test_attention_scores_can_be_written_and_differentiated():
    Q, K, V = (rng.standard_normal((2, 3, 4)) for _ in range(3))

    def attention(Q, K, V):
        scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(4.0)
        return jac.softmax(scores, axis=-1) @ V
    for k in range(3):
        assert compare(jac.jacobian(attention, wrt=k)(Q, K, V),
                       finite_difference_jacobian(attention, Q, K, V, wrt=k))


def test_repeated_indices_add_up_the_embedding_lesson():
    E = rng.standard_normal((4, 2))               # an embedding table, one row per token
    tokens = np.array([1, 3, 1, 1])
    g = np.ones((4, 2))
    # Token 1 is read three times: its row's gradient is three rows of g added.
    np.testing.assert_array_equal(jac.getitem.vjp(g, E, tokens),
                                  [[0, 0], [3, 3], [0, 0], [1, 1]])
    assert jac.getitem.derivative(E, tokens).nnz() == 8


def test_a_selection_prints_its_gather_and_derives_a_scatter():
    X = np.ones((4, 3))
    d = jac.getitem.derivative(X, (slice(None), 0))
    assert str(d) == "∂y_a/∂X_cd = δ(3c+d, p_a)"
    assert "g_X[p_a] = g_a, p = [0, 3, 6, 9]" in d.vjp_steps()  # each entry read once
    assert "g_x[p_a] += g_a, p = [1, 1, 0]" in \
        jac.getitem.derivative(np.ones(3), [1, 1, 0]).vjp_steps()
    assert d._repr_latex_() == r"$\frac{\partial y_{a}}{\partial X_{cd}} = \delta_{3c+d,\,p_{a}}$"

    def loss(X):
        return np.sum(X[:, 0] ** 2)
    program = jac.derive(loss)(X)
    assert "place(g_getitem, p, (4, 3))   no arithmetic: placed at indices" in str(program)
    assert r"\operatorname{place}" in program._repr_latex_()
    np.testing.assert_array_equal(program.gradient, np.outer(np.ones(4), [2, 0, 0]))

    def embed(E):
        return np.sum(E[[1, 1, 0]] ** 2)
    program = jac.derive(embed)(X)
    assert "scatter_add(g_getitem, p, (4, 3))   no einsum: adds at indices" in str(program)
    assert r"\operatorname{scatter\_add}" in program._repr_latex_()
    np.testing.assert_array_equal(program.gradient[:2], [[2, 2, 2], [4, 4, 4]])


def test_concatenate_and_stack_route_each_block_back():
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    g = rng.standard_normal((2, 4))
    np.testing.assert_array_equal(jac.concatenate.vjp(g, [a, b], axis=1, wrt=1), g[:, 3:])
    np.testing.assert_array_equal(jac.stack.vjp(g[:, :3].T, [a[0], a[1]], axis=1, wrt=1),
                                  g[1, :3])
    with pytest.raises(ValueError, match="axis 0 has sizes 2 and 3; only axis 1"):
        jac.concatenate([a, np.ones((3, 1))], axis=1)
    with pytest.raises(ValueError, match="stacked arrays must have equal shapes"):
        jac.stack([a, b])


def test_split_pieces_add_back_into_their_source():
    x = rng.standard_normal(6)

    def f(x):
        first, second, third = jac.split(x, 3)
        return np.sum(first * third) + np.sum(second)
    expected = np.array([x[4], x[5], 1, 1, x[0], x[1]])
    np.testing.assert_allclose(jac.grad(f)(x), expected)
    with pytest.raises(ValueError, match="does not divide into 4 equal pieces"):
        jac.split(x, 4)


@pytest.mark.parametrize("op, spec, shapes", [
    (jac.outer, "i,j->ij", [(3,), (2,)]),
    (jac.trace, "ii->", [(3, 3)]),
    (jac.matmul, "ij,j->i", [(2, 3), (3,)]),
    (jac.transpose, "ij->ji", [(2, 3)]),
    (jac.sum, "ij->", [(2, 3)]),
])
def test_the_products_are_einsums(op, spec, shapes):
    args = [rng.standard_normal(s) for s in shapes]
    for k in range(len(args)):
        np.testing.assert_allclose(op.jacobian(*args, wrt=k),
                                   jac.einsum.jacobian(spec, *args, wrt=k))


def test_a_selection_of_nothing_is_a_real_zero_gradient():
    x = np.array([0.3])
    g = jac.grad(lambda x: jac.sum(x[1:]))(x)
    assert g.dtype == np.float64 and g.tolist() == [0.0]
    J = jac.concatenate.jacobian(np.zeros(0), np.zeros(2), wrt=0)
    assert J.shape == (2, 0)
