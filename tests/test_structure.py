"""Layouts, Kronecker factors and structure, against closed forms from the literature.

The truths are independent of the code under test: ``np.kron`` for the
Kronecker identities of matrix calculus (Magnus & Neudecker), closed-form
Jacobians (``diag(σ')``, ``diag(s) − s sᵀ``), and counts worked out by hand.
Sizes differ everywhere (n, m, p, k = 4, 3, 2, 5) so a swapped axis cannot
pass by symmetry.
"""
import re

import numpy as np
import pytest

import jacobians as jac
from jacobians.structure import (KroneckerFactors, Structure, as_matrix, kronecker_factors,
                                 local_structure, nearest_kronecker, per_example, structure)

n, m, p, k = 4, 3, 2, 5


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def XW(rng):
    return rng.standard_normal((n, m)), rng.standard_normal((m, p))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ----------------------------------------------------------------------------
# as_matrix: the vec identities for H = X W
# ----------------------------------------------------------------------------
def test_column_major_vec_of_XW_by_W_is_I_kron_X(XW):
    X, W = XW
    J = jac.matmul.jacobian(X, W, wrt=1)
    np.testing.assert_array_equal(as_matrix(J, 2, order="F"), np.kron(np.eye(p), X))


def test_column_major_vec_of_XW_by_X_is_Wt_kron_I(XW):
    X, W = XW
    J = jac.matmul.jacobian(X, W, wrt=0)
    np.testing.assert_array_equal(as_matrix(J, 2, order="F"), np.kron(W.T, np.eye(n)))


def test_row_major_vec_swaps_the_factors(XW):
    X, W = XW
    np.testing.assert_array_equal(as_matrix(jac.matmul.jacobian(X, W, wrt=1), 2),
                                  np.kron(X, np.eye(p)))
    np.testing.assert_array_equal(as_matrix(jac.matmul.jacobian(X, W, wrt=0), 2),
                                  np.kron(np.eye(n), W.T))


def test_vec_of_AXB_is_Bt_kron_A(rng):
    A, X, B = rng.standard_normal((k, n)), rng.standard_normal((n, m)), rng.standard_normal((m, p))
    inner = jac.matmul.jacobian(A, X, wrt=1)           # ∂(AX)/∂X, shape (k, m, n, m)
    outer = jac.matmul.jacobian(A @ X, B, wrt=0)       # ∂(YB)/∂Y, shape (k, p, k, m)
    J = np.einsum("abij,ijcd->abcd", outer, inner)     # ∂(AXB)/∂X, shape (k, p, n, m)
    np.testing.assert_allclose(as_matrix(J, 2, order="F"), np.kron(B.T, A), atol=1e-12)
    # and the matrix acts on vec(X) as the identity says
    vec = X.flatten(order="F")
    np.testing.assert_allclose(np.kron(B.T, A) @ vec, (A @ X @ B).flatten(order="F"))


def test_matrix_times_vec_is_the_jvp(XW, rng):
    X, W = XW
    T = rng.standard_normal(W.shape)
    for order in "CF":
        M = as_matrix(jac.matmul.jacobian(X, W, wrt=1), 2, order=order)
        np.testing.assert_allclose(M @ T.flatten(order=order),
                                   (X @ T).flatten(order=order), atol=1e-12)


def test_denominator_layout_is_the_transpose(XW):
    X, W = XW
    J = jac.matmul.jacobian(X, W, wrt=1)
    for order in "CF":
        numerator = as_matrix(J, 2, order=order)
        denominator = as_matrix(J, 2, order=order, layout="denominator")
        assert numerator.shape == (n * p, m * p) and denominator.shape == (m * p, n * p)
        np.testing.assert_array_equal(denominator, numerator.T)


def test_a_gradient_is_a_row_in_numerator_and_a_column_in_denominator_layout():
    # Q1: ∂L/∂W for a scalar L has W's shape, m·p entries
    g = np.arange(6.0).reshape(3, 2)
    assert as_matrix(g, 0).shape == (1, 6)
    assert as_matrix(g, 0, layout="denominator").shape == (6, 1)


def test_as_matrix_returns_a_new_array_and_leaves_J_alone(XW):
    X, W = XW
    J = jac.matmul.jacobian(X, W, wrt=1)
    before = J.copy()
    M = as_matrix(J, 2)
    M[0, 0] = 99.0
    np.testing.assert_array_equal(J, before)


@pytest.mark.parametrize("kwargs, message", [
    ({"out_ndim": 5}, r"out_ndim must be an int from 0 to 4 .*shape \(4, 2, 3, 2\).*got 5"),
    ({"out_ndim": -1}, r"from 0 to 4"),
    ({"out_ndim": True}, r"got True"),
    ({"out_ndim": 2, "order": "K"}, r"order must be one of 'C', 'F', got 'K'"),
    ({"out_ndim": 2, "layout": "mixed"}, r"layout must be one of 'numerator', 'denominator'"),
])
def test_as_matrix_refuses_bad_arguments(XW, kwargs, message):
    J = jac.matmul.jacobian(*XW, wrt=1)
    with pytest.raises(ValueError, match=message):
        as_matrix(J, **kwargs)


def test_as_matrix_refuses_non_finite_entries():
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_matrix(np.array([[1.0, np.nan]]), 1)


# ----------------------------------------------------------------------------
# Kronecker factors
# ----------------------------------------------------------------------------
def test_nearest_kronecker_recovers_an_exact_product(rng):
    A, B = rng.standard_normal((n, m)), rng.standard_normal((p, k))
    A2, B2, error = nearest_kronecker(np.kron(A, B), A.shape, B.shape)
    assert error < 1e-12
    np.testing.assert_allclose(np.kron(A2, B2), np.kron(A, B), atol=1e-12)
    # the factors are the true ones up to a scale c: A2 = cA, B2 = B/c
    c = A2[0, 0] / A[0, 0]
    np.testing.assert_allclose(A2, c * A, atol=1e-12)
    np.testing.assert_allclose(B2, B / c, atol=1e-12)


def test_nearest_kronecker_scales_an_identity_factor_to_the_identity(rng):
    X = rng.standard_normal((n, m))
    A, B, _ = nearest_kronecker(-2.0 * np.kron(X, np.eye(p)), (n, m), (p, p))
    np.testing.assert_allclose(B, np.eye(p), atol=1e-12)
    np.testing.assert_allclose(A, -2.0 * X, atol=1e-12)
    A, B, _ = nearest_kronecker(np.kron(np.eye(p), X), (p, p), (n, m))
    np.testing.assert_allclose(A, np.eye(p), atol=1e-12)
    np.testing.assert_allclose(B, X, atol=1e-12)


def test_nearest_kronecker_reports_the_true_error_and_beats_the_truth(rng):
    A, B = rng.standard_normal((n, m)), rng.standard_normal((p, p))
    M = np.kron(A, B) + 0.1 * rng.standard_normal((n * p, m * p))
    A2, B2, error = nearest_kronecker(M, A.shape, B.shape)
    direct = np.linalg.norm(M - np.kron(A2, B2)) / np.linalg.norm(M)
    assert error == pytest.approx(direct, rel=1e-10)
    assert 0 < error <= np.linalg.norm(M - np.kron(A, B)) / np.linalg.norm(M)


def test_nearest_kronecker_of_zero_and_bad_shapes():
    A, B, error = nearest_kronecker(np.zeros((6, 4)), (3, 2), (2, 2))
    assert error == 0.0 and not A.any() and not B.any()
    with pytest.raises(ValueError, match=r"M has shape \(6, 4\), but A \(3, 3\) ⊗ B \(2, 2\)"):
        nearest_kronecker(np.zeros((6, 4)), (3, 3), (2, 2))
    with pytest.raises(ValueError, match="shape_a must be a pair of positive ints"):
        nearest_kronecker(np.zeros((6, 4)), (6,), (1, 4))


def test_kronecker_factors_of_dH_dW_in_both_orders(XW):
    X, W = XW
    J = jac.matmul.jacobian(X, W, wrt=1)
    row = kronecker_factors(J, 2)
    assert isinstance(row, KroneckerFactors) and row.exact and row.order == "C"
    assert (row.a_labels, row.b_labels) == ("ac", "bd")      # ∂H_ab/∂W_cd = X_ac δ_bd
    np.testing.assert_allclose(row.A, X, atol=1e-12)
    np.testing.assert_allclose(row.B, np.eye(p), atol=1e-12)
    column = kronecker_factors(J, 2, order="F")
    assert column.exact and (column.a_labels, column.b_labels) == ("bd", "ac")
    np.testing.assert_allclose(column.A, np.eye(p), atol=1e-12)
    np.testing.assert_allclose(column.B, X, atol=1e-12)
    assert re.fullmatch(r"A ⊗ B in C order with A_ac: 4×3, B_bd: I_2; exact, relative error "
                        r"\S+", str(row))


def test_kronecker_factors_of_dH_dX(XW):
    X, W = XW
    f = kronecker_factors(jac.matmul.jacobian(X, W, wrt=0), 2)
    assert f.exact
    np.testing.assert_allclose(np.kron(f.A, f.B), np.kron(np.eye(n), W.T), atol=1e-12)
    np.testing.assert_allclose(f.A, np.eye(n), atol=1e-12)


def test_an_elementwise_jacobian_is_not_a_kronecker_product(rng):
    f = kronecker_factors(jac.sigmoid.jacobian(rng.standard_normal((n, m))), 2)
    assert not f.exact and f.relative_error > 1e-3
    assert "not exact" in str(f)


def test_kronecker_factors_needs_two_factors():
    with pytest.raises(ValueError, match=r"shape \(3,\) with out_ndim=0 has no split"):
        kronecker_factors(np.ones(3), 0)
    with pytest.raises(ValueError, match="order must be one of"):
        kronecker_factors(np.ones((2, 2, 2, 2)), 2, order="A")


# ----------------------------------------------------------------------------
# structure
# ----------------------------------------------------------------------------
def _cases():
    rng = np.random.default_rng(3)
    X, W = rng.standard_normal((n, m)), rng.standard_normal((m, p))
    Z = rng.standard_normal((n, m))
    A = rng.standard_normal((m, m))
    # name, J, out_ndim, kind, nnz worked out by hand
    return [
        ("sigmoid of a matrix", jac.sigmoid.jacobian(Z), 2, "diagonal", n * m),
        ("dH/dW", jac.matmul.jacobian(X, W, wrt=1), 2, "Kronecker", n * m * p),
        ("dH/dX", jac.matmul.jacobian(X, W, wrt=0), 2, "block-diagonal", n * p * m),
        ("softmax of a vector", jac.softmax.jacobian(rng.standard_normal(k)), 1, "dense", k * k),
        ("softmax of each row", jac.softmax.jacobian(Z), 2, "block-diagonal", n * m * m),
        ("bias vector", jac.add.jacobian(Z, rng.standard_normal(m), wrt=1), 2, "Kronecker", n * m),
        ("bias row", jac.add.jacobian(Z, rng.standard_normal((1, m)), wrt=1), 2, "Kronecker",
         n * m),
        ("X + Y by X", jac.add.jacobian(Z, Z, wrt=0), 2, "identity", n * m),
        ("zero", np.zeros((n, m, m)), 1, "zero", 0),
        ("transpose", jac.transpose.jacobian(Z), 2, "permutation", n * m),
        ("trace", jac.trace.jacobian(A), 0, "sparse", m),
        ("reshape", jac.reshape.jacobian(Z, shape=(n * m,)), 1, "identity", n * m),
        ("layer norm of each row", jac.layer_norm.jacobian(Z), 2, "block-diagonal", n * m * m),
        ("batch norm of each column", jac.batch_norm.jacobian(Z), 2, "batch-coupled",
         m * n * n),
    ]


@pytest.mark.parametrize("name, J, out_ndim, kind, nnz", _cases(), ids=[c[0] for c in _cases()])
def test_structure_of_known_jacobians(name, J, out_ndim, kind, nnz):
    s = structure(J, out_ndim)
    assert isinstance(s, Structure)
    assert s.kind == kind
    assert s.nnz == nnz
    assert s.shape == J.shape and s.order == J.ndim
    assert s.density == pytest.approx(nnz / J.size)


def test_structure_one_line_summaries(XW, rng):
    X, W = XW
    Z = rng.standard_normal((3, 2))
    assert str(structure(jac.sigmoid.jacobian(Z), 2)) == "diagonal: 6 of 36 entries nonzero (16.7%)"
    assert str(structure(jac.matmul.jacobian(X, W, wrt=1), 2)) == \
        "Kronecker 4×3 ⊗ I_2: 24 of 48 entries nonzero (50.0%)"
    assert str(structure(jac.softmax.jacobian(Z), 2)) == \
        "block-diagonal, 3 blocks of 2×2: 12 of 36 entries nonzero (33.3%)"
    assert str(structure(np.zeros((2, 2)), 1)) == "zero: 0 of 4 entries nonzero (0.0%)"


def test_structure_details(XW):
    X, W = XW
    s = structure(jac.matmul.jacobian(X, W, wrt=1), 2)
    np.testing.assert_allclose(np.kron(s.factors.A, s.factors.B), np.kron(X, np.eye(p)),
                               atol=1e-12)
    assert s.blocks is None and s.axes is None
    assert s.detail == " 4×3 ⊗ I_2"
    b = structure(jac.matmul.jacobian(X, W, wrt=0), 2)
    assert b.blocks == n and b.factors is None and b.axes == (0,)
    assert structure(jac.sigmoid.jacobian(X), 2).detail == ""


# ----------------------------------------------------------------------------
# Layers: blocks over the batch, or over the features with the batch coupled
# ----------------------------------------------------------------------------
def test_layer_norm_is_block_diagonal_over_the_examples(rng):
    X = rng.standard_normal((n, m))
    s = structure(jac.layer_norm.jacobian(X), 2)
    assert (s.kind, s.blocks, s.axes) == ("block-diagonal", n, (0,))
    assert str(s) == "block-diagonal, 4 blocks of 3×3: 36 of 144 entries nonzero (25.0%)"


def test_batch_norm_couples_the_examples_and_is_block_diagonal_over_the_features(rng):
    X = rng.standard_normal((n, m))
    J = jac.batch_norm.jacobian(X)
    s = structure(J, 2)
    assert (s.kind, s.blocks, s.axes, s.factors) == ("batch-coupled", m, (1,), None)
    assert s.nnz == m * n * n      # one n × n block per feature, every entry of it nonzero
    assert s.detail == ", block-diagonal over axis 1 but not axis 0, 3 blocks of 4×4"
    assert str(s) == ("batch-coupled, block-diagonal over axis 1 but not axis 0, 3 blocks of "
                      "4×4: 48 of 144 entries nonzero (33.3%)")
    # Column-major vec puts the features first: the blocks are then on the diagonal, and
    # block f is feature f's Jacobian over the batch, (I − 1/n − x̂ x̂ᵀ/n)/σ̃.
    M = as_matrix(J, 2, order="F")
    for f in range(m):
        x = X[:, f]
        sigma = np.sqrt(x.var() + 1e-5)
        xhat = (x - x.mean()) / sigma
        block = (np.eye(n) - 1 / n - np.outer(xhat, xhat) / n) / sigma
        rows = slice(f * n, (f + 1) * n)
        np.testing.assert_allclose(M[rows, rows], block, atol=1e-12)
        assert not M[rows, :f * n].any() and not M[rows, (f + 1) * n:].any()
    assert local_structure(jac.batch_norm.derivative(X)) == ("batch-coupled", "")


def test_batch_norm_of_a_batch_of_feature_maps_is_tied_on_every_other_axis(rng):
    X = rng.standard_normal((3, n, p))        # (batch, channels, positions)
    J = jac.batch_norm.jacobian(X)
    s = structure(J, 3)
    assert (s.kind, s.blocks, s.axes) == ("batch-coupled", n * p, (1, 2))
    assert s.detail == ", block-diagonal over axes 1 and 2 but not axis 0, 8 blocks of 3×3"
    assert local_structure(jac.batch_norm.derivative(X)) == ("batch-coupled", "")
    # normalised over the channels instead, the examples are independent again
    assert structure(jac.batch_norm.jacobian(X, axis=1), 3).kind == "block-diagonal"


def test_a_hand_built_jacobian_that_mixes_examples_within_each_feature(rng):
    # ∂Y_ab/∂X_cd = C[b]_ac δ_bd: feature b's own n × n matrix, a different one per feature
    C = rng.standard_normal((m, n, n))
    J = np.einsum("bac,bd->abcd", C, np.eye(m))
    s = structure(J, 2)
    assert (s.kind, s.blocks, s.axes, s.nnz) == ("batch-coupled", m, (1,), m * n * n)
    # one feature's block diagonal in the examples would tie them after all: still coupled
    C[1] = np.diag(np.diag(C[1]))
    assert structure(np.einsum("bac,bd->abcd", C, np.eye(m)), 2).kind == "batch-coupled"
    # ... but every block diagonal makes the whole Jacobian diagonal
    D = np.einsum("ba,ac,bd->abcd", rng.standard_normal((m, n)), np.eye(n), np.eye(m))
    assert structure(D, 2).kind == "diagonal"
    # a feature leaking into another is no longer block-diagonal over the features
    leaky = J.copy()
    leaky[0, 1, 2, 0] = 1e-12
    assert structure(leaky, 2).kind == "sparse"
    assert structure(leaky, 2, tol=1e-9).kind == "batch-coupled"


def test_the_same_matrix_for_every_feature_is_a_kronecker_product(rng):
    # Y = A X mixes the examples with one A for every feature: A ⊗ I_k, reported as Kronecker
    A, X = rng.standard_normal((n, n)), rng.standard_normal((n, k))
    s = structure(jac.matmul.jacobian(A, X, wrt=1), 2)
    assert s.kind == "Kronecker" and s.axes is None
    np.testing.assert_allclose(np.kron(s.factors.A, s.factors.B), np.kron(A, np.eye(k)),
                               atol=1e-12)


def test_batch_coupled_needs_a_batch_on_both_sides(rng):
    # leading axes of different sizes, or of size 1: nothing for the batch to couple
    C = rng.standard_normal((m, n, k))
    assert structure(np.einsum("bac,bd->abcd", C, np.eye(m)), 2).kind == "sparse"
    C = rng.standard_normal((m, 1, 1))
    assert structure(np.einsum("bac,bd->abcd", C, np.eye(m)), 2).kind == "diagonal"


def test_attention_by_q_is_block_diagonal_over_the_queries_and_the_batch():
    rng = np.random.default_rng(5)
    Q, K, V = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    # one head: a query's output depends on its own query only, so one 2 × 2 block per query
    s = structure(jac.attention.jacobian(Q, K, V, wrt=0), 2)
    assert (s.kind, s.blocks, s.axes) == ("block-diagonal", 3, (0,))
    assert s.detail == ", 3 blocks of 2×2"
    # a batch of two heads: blocks over the batch, each itself block-diagonal per query
    Qs, Ks, Vs = (np.stack([a, 2 * a]) for a in (Q, K, V))
    J = jac.attention.jacobian(Qs, Ks, Vs, wrt=0)
    s = structure(J, 3)
    assert (s.kind, s.blocks, s.axes) == ("block-diagonal", 2, (0,))
    assert structure(per_example(J, 3)[0], 2).kind == "block-diagonal"
    # through the softmax, K reaches every output of its own head: no blocks inside a head
    assert structure(jac.attention.jacobian(Q, K, V, wrt=1), 2).kind == "dense"


def test_structure_tolerance(rng):
    J = np.diag(rng.uniform(1, 2, k)) + 1e-12 * rng.standard_normal((k, k))
    assert structure(J, 1).kind == "dense"
    assert structure(J, 1, tol=1e-9).kind == "diagonal"
    assert structure(np.eye(k) + 1e-12, 1, tol=1e-9).kind == "identity"


def test_structure_leaves_J_alone(XW):
    J = jac.matmul.jacobian(*XW, wrt=1)
    before = J.copy()
    structure(J, 2)
    np.testing.assert_array_equal(J, before)


# ----------------------------------------------------------------------------
# per_example
# ----------------------------------------------------------------------------
def test_per_example_of_sigmoid_is_diag_of_its_derivative(rng):
    Z = rng.standard_normal((n, k))
    blocks = per_example(jac.sigmoid.jacobian(Z), 2)
    assert blocks.shape == (n, k, k)
    for b in range(n):
        s = sigmoid(Z[b])
        np.testing.assert_allclose(blocks[b], np.diag(s * (1 - s)), atol=1e-15)


def test_per_example_of_row_softmax_is_diag_s_minus_s_st(rng):
    Z = rng.standard_normal((n, k))
    blocks = per_example(jac.softmax.jacobian(Z), 2)
    for b in range(n):
        s = np.exp(Z[b]) / np.exp(Z[b]).sum()
        np.testing.assert_allclose(blocks[b], np.diag(s) - np.outer(s, s), atol=1e-15)


def test_per_example_keeps_trailing_axes(rng):
    # a batch of matrices: ∂Y/∂Z for Y = σ(Z), Z of shape (B, 2, 3)
    Z = rng.standard_normal((n, 2, 3))
    blocks = per_example(jac.sigmoid.jacobian(Z), 3)
    assert blocks.shape == (n, 2, 3, 2, 3)
    s = sigmoid(Z[1])
    np.testing.assert_allclose(blocks[1].reshape(6, 6), np.diag((s * (1 - s)).ravel()))


def test_per_example_refuses_a_function_that_mixes_examples(rng):
    # Y = A X mixes the rows (examples) of X: ∂Y_ab/∂X_cd = A_ac δ_bd
    A = np.array([[1.0, 0.0, 0.0], [0.25, 1.0, 0.0], [0.0, -3.0, 1.0]])
    X = rng.standard_normal((3, k))
    J = jac.matmul.jacobian(A, X, wrt=1)
    with pytest.raises(ValueError) as err:
        per_example(J, 2)
    message = str(err.value)
    assert "output example 1 depends on input example 0" in message   # first pair: A[1, 0]
    assert "max |J[1, …, 0, …]| = 0.25" in message
    assert "largest cross-example entry is 3, at examples (2, 1)" in message
    # a diagonal mixing matrix only scales each example
    D = np.diag([1.0, 2.0, 3.0])
    blocks = per_example(jac.matmul.jacobian(D, X, wrt=1), 2)
    np.testing.assert_allclose(blocks[2], 3.0 * np.eye(k))


def test_per_example_checks_the_batch_axes(rng):
    with pytest.raises(ValueError, match=r"output's batch axis \(axis 0\) has size 4 but the "
                                         r"input's \(axis 2\) has size 3"):
        per_example(np.zeros((4, 2, 3, 2)), 2)
    with pytest.raises(ValueError, match="need a leading batch axis"):
        per_example(np.zeros((4, 4)), 2)


def test_per_example_tolerance_and_inputs_untouched(rng):
    Z = rng.standard_normal((n, k))
    J = jac.sigmoid.jacobian(Z) + 1e-13 * rng.standard_normal((n, k, n, k))
    before = J.copy()
    with pytest.raises(ValueError):
        per_example(J, 2)
    assert per_example(J, 2, tol=1e-10).shape == (n, k, k)
    np.testing.assert_array_equal(J, before)
