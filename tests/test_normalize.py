"""Layer norm and batch norm: values, the layer they are built from, formulas and structure.

The registry tests (test_ops, test_sweep, test_second_derivatives,
test_nesting) hold both ops to finite differences; here they are held to
NumPy, to the same layer written with the library's smaller ops, and to the
structure their deltas promise: block-diagonal over a batch for layer norm,
coupling the examples for batch norm.
"""
import numpy as np
import pytest

import jacobians as jac
from jacobians.structure import local_structure

OPS = [jac.layer_norm, jac.batch_norm]


def _numpy_norm(X, axis, eps=1e-5):
    centred = X - X.mean(axis=axis, keepdims=True)
    return centred / np.sqrt(X.var(axis=axis, keepdims=True) + eps)


def _composed(axis, eps=1e-5):
    """The normalisation as a graph of mean, var, sqrt and divide."""
    def layer(X):
        centred = jac.subtract(X, jac.mean(X, axis=axis, keepdims=True))
        scale = jac.sqrt(jac.add(jac.var(X, axis=axis, keepdims=True), eps))
        return jac.divide(centred, scale)
    return layer


# (shape, parameters, the axis they normalise for layer norm, and for batch norm)
SETTINGS = [((4, 3), {}, -1, 0),
            ((5,), {}, -1, 0),
            ((2, 3, 4), {"axis": 1}, 1, 1),
            ((3, 2, 2), {"axis": -3, "eps": 0.25}, 0, 0),
            ((2, 5), {"eps": 1e-3}, -1, 0)]


def _sample(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 2.0 + 0.5


@pytest.mark.parametrize("op, which", [(jac.layer_norm, 2), (jac.batch_norm, 3)])
@pytest.mark.parametrize("setting", SETTINGS)
def test_values_match_numpy(op, which, setting):
    shape, params, axis = setting[0], setting[1], setting[which]
    X = _sample(shape)
    Y = op(X, **params)
    np.testing.assert_allclose(Y, _numpy_norm(X, axis, params.get("eps", 1e-5)), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(Y.mean(axis=axis), 0.0, atol=1e-12)


def test_the_two_differ_only_in_the_default_axis_and_take_numpys_positions():
    X = _sample((4, 3))
    np.testing.assert_array_equal(jac.batch_norm(X), jac.layer_norm(X, axis=0))
    np.testing.assert_array_equal(jac.layer_norm(X), jac.batch_norm(X, axis=-1))
    np.testing.assert_array_equal(jac.layer_norm(X, 0, 0.5), jac.layer_norm(X, axis=0, eps=0.5))
    np.testing.assert_array_equal(jac.batch_norm.vjp(X, X, 1, 0.5),
                                  jac.layer_norm.vjp(X, X, axis=1, eps=0.5))


@pytest.mark.parametrize("op, which", [(jac.layer_norm, 2), (jac.batch_norm, 3)])
@pytest.mark.parametrize("setting", SETTINGS)
def test_gradient_and_jacobian_equal_those_of_the_composed_layer(op, which, setting):
    shape, params, axis = setting[0], setting[1], setting[which]
    X = _sample(shape, seed=1)
    layer = _composed(axis, params.get("eps", 1e-5))
    np.testing.assert_allclose(op(X, **params), layer(X), rtol=1e-12, atol=1e-12)
    weights = np.random.default_rng(2).standard_normal(shape)

    def loss(f):
        return lambda X: jac.sum(jac.multiply(weights, f(X)))
    np.testing.assert_allclose(jac.grad(loss(lambda X: op(X, **params)))(X),
                               jac.grad(loss(layer))(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(op.jacobian(X, **params), jac.jacobian(layer)(X), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(op.vjp(weights, X, **params), jac.grad(loss(layer))(X),
                               rtol=1e-10, atol=1e-12)


def test_the_hand_vjp_is_the_closed_form():
    x, g = _sample(5, seed=3), np.random.default_rng(4).standard_normal(5)
    sigma = np.sqrt(x.var() + 1e-5)
    y = (x - x.mean()) / sigma
    want = (g - g.mean() - y * np.mean(g * y)) / sigma
    np.testing.assert_allclose(jac.layer_norm.vjp(g, x), want, rtol=1e-12)
    # The Jacobian is symmetric: the JVP is the same formula.
    np.testing.assert_allclose(jac.layer_norm.jvp(g, x), want, rtol=1e-12)
    n = x.size
    J = (np.eye(n) - 1 / n - np.outer(y, y) / n) / sigma
    np.testing.assert_allclose(jac.layer_norm.jacobian(x), J, rtol=1e-12, atol=1e-14)


# --- formulas -----------------------------------------------------------------------
def test_formulas():
    assert str(jac.layer_norm.formula()) == \
        "∂X̂_ab/∂X_cd = (1/σ̃)_a δ_ac δ_bd − (1/(3σ̃))_a δ_ac − (X̂/(3σ̃))_ab X̂_ad δ_ac"
    assert str(jac.batch_norm.formula()) == \
        "∂X̂_ab/∂X_cd = (1/σ̃)_b δ_ac δ_bd − (1/(4σ̃))_b δ_bd − (X̂/(4σ̃))_ab X̂_cb δ_bd"
    assert str(jac.layer_norm.formula(np.arange(3.0))) == \
        "∂x̂_a/∂x_c = 1/σ̃ δ_ac − 1/(3σ̃) − (x̂/(3σ̃))_a x̂_c"
    latex = jac.batch_norm.formula()._repr_latex_()
    assert r"\left(\frac{1}{\tilde\sigma}\right)_{b}" in latex
    assert r"\left(\frac{\hat{X}}{4\tilde\sigma}\right)_{ab}\,\hat{X}_{cb}" in latex


def test_second_derivative_formula():
    d = jac.layer_norm.second_derivative(np.arange(3.0))
    assert str(d) == (
        "∂²x̂_a/∂x_c∂x_d = −(x̂/(3σ̃²))_a δ_cd − (x̂/(3σ̃²))_c δ_ad − (x̂/(3σ̃²))_d δ_ac"
        " + (x̂/(3²σ̃²))_a + (x̂/(3²σ̃²))_c + (x̂/(3²σ̃²))_d + (3x̂/(3²σ̃²))_a x̂_c x̂_d")
    # The closed form, symmetric in its three indices.
    x = _sample(4, seed=5)
    n, sigma = x.size, np.sqrt(x.var() + 1e-5)
    y, eye = (x - x.mean()) / sigma, np.eye(4)
    want = (-np.einsum("a,ce->ace", y, eye) - np.einsum("c,ae->ace", y, eye)
            - np.einsum("e,ac->ace", y, eye)
            + (y[:, None, None] + y[None, :, None] + y[None, None, :]) / n
            + 3 * np.einsum("a,c,e->ace", y, y, y) / n) / (n * sigma**2)
    H = jac.layer_norm.hessian(x)
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, np.transpose(H, (1, 0, 2)), rtol=1e-12)
    np.testing.assert_allclose(H, np.transpose(H, (2, 1, 0)), rtol=1e-12)


# --- structure ------------------------------------------------------------------------
def test_layer_norm_of_a_batch_is_block_diagonal_and_batch_norm_couples_the_examples():
    X = _sample((4, 3), seed=6)
    layer = jac.structure(jac.layer_norm.jacobian(X), 2)
    assert layer.kind == "block-diagonal" and layer.blocks == 4
    assert layer.nnz == 4 * 3 * 3
    assert local_structure(jac.layer_norm.derivative(X)) == ("block-diagonal", "")
    J = jac.batch_norm.jacobian(X)
    batch = jac.structure(J, 2)
    assert batch.kind != "block-diagonal"
    assert J[0, 1, 2, 1] != 0  # example 0's output depends on example 2's input, same feature
    assert not J[0, 1, 2, 0]   # ... and on no other feature
    assert batch.nnz == 3 * 4 * 4
    with pytest.raises(ValueError, match="output example 0 depends on input example 1"):
        jac.per_example(J, 2)


def test_nonzeros_are_counted_from_the_deltas():
    X = _sample((4, 3), seed=7)
    assert jac.layer_norm.derivative(X).nnz() == 4 * 3 * 3
    assert jac.batch_norm.derivative(X).nnz() == 3 * 4 * 4


# --- a slice of one entry -----------------------------------------------------------------
@pytest.mark.parametrize("op", OPS)
def test_a_slice_of_one_entry_is_zero_and_so_is_its_jacobian(op):
    X = _sample((1, 3), seed=8) if op is jac.batch_norm else _sample((3, 1), seed=8)
    assert not op(X).any()
    assert not op.jacobian(X).any()
    assert not op.vjp(np.ones(X.shape), X).any()
    assert not op.jvp(np.ones(X.shape), X).any()
    assert not op.hessian(X).any()


# --- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("call, message", [
    (lambda op: op(np.ones((2, 3)), axis=2), r"axis 2 is out of range for X of shape \(2, 3\)"),
    (lambda op: op(np.ones(3), axis=-2), r"axis -2 is out of range for X of shape \(3,\)"),
    (lambda op: op(np.ones((2, 3)), axis=(0, 1)), r"axis must be one axis \(an int\)"),
    (lambda op: op(np.ones((2, 3)), axis=True), r"axis must be one axis \(an int\)"),
    (lambda op: op(np.ones((2, 3)), eps=0.0), r"eps must be a positive number, got 0.0"),
    (lambda op: op(np.ones((2, 3)), eps=-1e-5), r"eps must be a positive number, got -1e-05"),
    (lambda op: op(np.ones((2, 3)), eps=np.inf), r"eps must be a positive number"),
    (lambda op: op(np.ones((2, 3)), eps="small"), r"eps must be a positive number"),
    (lambda op: op(np.ones(())), r"got a scalar, shape \(\)"),
    (lambda op: op(np.ones((0, 0))), r"axis -?[01] of X \(shape \(0, 0\)\) has no entries"),
])
def test_errors_name_the_op_the_shape_and_the_axis(op, call, message):
    with pytest.raises(ValueError, match=rf"{op.name}: .*{message}"):
        call(op)


def test_eps_is_what_keeps_a_constant_slice_finite():
    X = np.full((2, 3), 4.0)
    assert not jac.layer_norm(X).any()
    np.testing.assert_allclose(jac.layer_norm.jacobian(X)[0, :, 0, :],
                               (np.eye(3) - 1 / 3) / np.sqrt(1e-5), rtol=1e-12)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        jac.layer_norm(X, eps=0)


def test_unknown_parameters_are_refused():
    with pytest.raises(TypeError, match="layer_norm has no parameter 'keepdims'"):
        jac.layer_norm(np.ones((2, 3)), keepdims=True)
