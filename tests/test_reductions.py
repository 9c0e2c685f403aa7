"""Reductions over any axes, and softmax over any axis, against independent truths.

NumPy's own functions for the values, central finite differences for the
derivatives, and closed forms worked out by hand for the edges (ties, ddof,
a norm of zero). The registry-driven tests in test_ops.py and test_sweep.py
run every op's examples besides.
"""
import numpy as np
import pytest

import jacobians as jac
from jacobians.abstract import Tally
from jacobians.check import compare, finite_difference_jacobian

X3 = np.random.default_rng(3).standard_normal((2, 3, 4))

# Every way of naming axes of a 3rd-order array: None, ints, negative ints, tuples in any
# order, all of them, and none.
AXES = [None, 0, 1, 2, -1, -3, (0,), (0, 2), (2, 0), (-1, 1), (0, 1, 2), ()]
AXIS_IDS = [repr(a) for a in AXES]


def _norm(X, axis, keepdims):
    """The 2-norm over the axes, by NumPy: np.linalg.norm where it takes them."""
    if axis is None or isinstance(axis, int) or len(axis) in (1, 2):
        return np.linalg.norm(X, axis=axis, keepdims=keepdims)
    return np.sqrt(np.sum(X**2, axis=axis, keepdims=keepdims))  # three axes, or none


NUMPY = {
    "sum": np.sum,
    "mean": np.mean,
    "var": np.var,
    "max": np.max,
    "min": np.min,
    "norm": _norm,
}


# --- values ------------------------------------------------------------------------
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=AXIS_IDS)
@pytest.mark.parametrize("name", list(NUMPY))
def test_values_match_numpy(name, axis, keepdims):
    got = jac.REGISTRY[name](X3, axis=axis, keepdims=keepdims)
    want = NUMPY[name](X3, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("ddof", [0, 1, 2, 0.5])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=repr)
def test_var_matches_numpy_for_each_ddof(axis, ddof):
    n = X3.size // np.sum(X3, axis=axis).size  # the entries in each group
    if n - ddof <= 0:  # NumPy warns and divides by zero or a negative count
        with pytest.raises(ValueError, match="N − ddof"):
            jac.var(X3, axis=axis, ddof=ddof)
        return
    np.testing.assert_allclose(jac.var(X3, axis=axis, ddof=ddof), np.var(X3, axis=axis, ddof=ddof),
                               rtol=1e-13)


def test_axis_may_be_given_by_position_as_in_numpy():
    X = X3[0]
    np.testing.assert_allclose(jac.sum(X, 1), np.sum(X, 1))
    np.testing.assert_allclose(jac.mean(X, (0, 1)), np.mean(X, (0, 1)))
    np.testing.assert_allclose(jac.var(X, 0, ddof=1), np.var(X, 0, ddof=1))
    np.testing.assert_allclose(jac.max(X, -1), np.max(X, -1))
    np.testing.assert_allclose(jac.min.vjp(np.ones(4), X, 0),
                               (X == X.min(0)).astype(float))
    with pytest.raises(TypeError, match="sum got axis both by position and by keyword"):
        jac.sum(X, 1, axis=0)


# --- derivatives against finite differences ----------------------------------------------
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=AXIS_IDS)
@pytest.mark.parametrize("name", list(NUMPY))
def test_derivatives_match_finite_differences(name, axis, keepdims):
    op = jac.REGISTRY[name]
    params = {"axis": axis, "keepdims": keepdims}
    out = op(X3, **params)
    fd = finite_difference_jacobian(lambda X: op(X, **params), X3)
    assert compare(op.jacobian(X3, **params), fd)
    rng = np.random.default_rng(1)
    g, t = rng.standard_normal(out.shape), rng.standard_normal(X3.shape)
    pulled = np.tensordot(g, fd, axes=g.ndim)
    pushed = np.tensordot(fd, t, axes=t.ndim)
    d = op.derivative(X3, **params)
    assert compare(op.vjp(g, X3, **params), pulled)   # the hand rule
    assert compare(d.vjp(g), pulled)                   # derived by delta elimination
    assert compare(op.jvp(t, X3, **params), pushed)
    assert compare(d.jvp(t), pushed)


@pytest.mark.parametrize("ddof", [1, 2.5])
def test_var_with_ddof_matches_finite_differences(ddof):
    for axis in (None, 1, (0, 2)):
        assert jac.check_jacobian(jac.var.jacobian(X3, axis=axis, ddof=ddof),
                                  lambda X: jac.var(X, axis=axis, ddof=ddof), X3)


def test_gradients_through_a_traced_function():
    # A layer-norm-like function: each row centred and scaled, then its largest entry.
    def f(X):
        return jac.sum(jac.max(jac.divide(X, jac.norm(X, axis=1, keepdims=True)), axis=1))
    X = X3[:, :, 0]
    assert jac.check_vjp(jac.grad(f)(X), 1.0, f, X)
    g = lambda X: jac.sum(jac.var(X, axis=0, ddof=1))  # noqa: E731
    assert jac.check_vjp(jac.grad(g)(X), 1.0, g, X)


# --- closed forms ---------------------------------------------------------------------
def test_sum_and_mean_keep_their_formulas():
    X = np.ones((2, 3))
    assert str(jac.sum.formula()) == "∂s/∂X_cd = 1"
    assert str(jac.sum.formula(X, axis=1)) == "∂s_a/∂X_cd = δ_ac"
    assert str(jac.sum.formula(X, axis=0)) == "∂s_a/∂X_cd = δ_ad"
    assert str(jac.mean.formula()) == "∂m/∂X_cd = 1/6"
    assert str(jac.mean.formula(X, axis=1)) == "∂m_a/∂X_cd = 1/3 δ_ac"
    # keepdims: the size-1 output axis b gets no delta
    assert str(jac.sum.formula(X, axis=1, keepdims=True)) == "∂S_ab/∂X_cd = δ_ac"
    assert str(jac.sum.formula(X, keepdims=True)) == "∂S_ab/∂X_cd = 1"
    assert str(jac.mean.formula(np.ones((2, 3, 4)), axis=(0, 2))) == "∂m_a/∂X_bcd = 1/8 δ_ac"


def test_formulas_of_the_nonlinear_reductions():
    X = np.ones((2, 3))
    assert str(jac.var.formula()) == "∂v/∂X_cd = (2(X−μ)/6)_cd"
    assert str(jac.var.formula(X, axis=1, ddof=1)) == "∂v_a/∂X_cd = (2(X−μ)/2)_cd δ_ac"
    assert str(jac.max.formula(X, axis=1)) == "∂y_a/∂X_cd = (𝟙[X=max]/n)_cd δ_ac"
    assert str(jac.min.formula(X, axis=0, keepdims=True)) == \
        "∂Y_ab/∂X_cd = (𝟙[X=min]/n)_cd δ_bd"
    assert str(jac.norm.formula(X)) == "∂n/∂X_cd = (X/n)_cd"
    assert jac.norm.formula(X, axis=0)._repr_latex_() == \
        r"$\frac{\partial n_{a}}{\partial X_{cd}} = \left(\frac{X}{n}\right)_{cd}\,\delta_{ad}$"


def test_sum_and_mean_jacobians_by_hand():
    X = np.arange(6.0).reshape(2, 3)
    # ∂s_a/∂X_cd = δ_ac: row a of the Jacobian is ones on row a of X
    J = jac.sum.jacobian(X, axis=1)
    np.testing.assert_array_equal(J, [[[1, 1, 1], [0, 0, 0]], [[0, 0, 0], [1, 1, 1]]])
    J = jac.mean.jacobian(X, axis=0, keepdims=True)
    assert J.shape == (1, 3, 2, 3)
    np.testing.assert_array_equal(J[0, 1], [[0, 0.5, 0], [0, 0.5, 0]])
    np.testing.assert_array_equal(jac.mean.vjp(np.array([[2.0, 4.0, 6.0]]), X, axis=0,
                                               keepdims=True), [[1, 2, 3], [1, 2, 3]])


def test_var_gradient_with_ddof_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0])  # mean 2.5
    assert jac.var(x, ddof=1) == pytest.approx(5 / 3)
    # ∂v/∂x_c = 2(x_c − 2.5)/(4 − 1)
    np.testing.assert_allclose(jac.var.vjp(1.0, x, ddof=1), [-1, -1 / 3, 1 / 3, 1])
    np.testing.assert_allclose(jac.var.vjp(1.0, x), [-0.75, -0.25, 0.25, 0.75])
    X = np.array([[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(jac.var.vjp(np.array([1.0, 10.0]), X, axis=1, ddof=1),
                               [[-2.0, 2.0], [0.0, 0.0]])


def test_norm_gradient_by_hand():
    np.testing.assert_allclose(jac.norm.vjp(1.0, np.array([3.0, 4.0])), [0.6, 0.8])
    X = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(jac.norm(X, axis=1), [5.0, 2.0])
    np.testing.assert_allclose(jac.norm.vjp(np.ones(2), X, axis=1), [[0.6, 0.8], [0.0, 1.0]])
    # the Frobenius norm of a matrix
    assert jac.norm(X) == pytest.approx(np.linalg.norm(X, "fro"))


# --- max and min at ties ---------------------------------------------------------------
def test_max_splits_the_gradient_evenly_among_ties():
    x = np.array([1.0, 3.0, 3.0])
    assert jac.max(x) == 3.0
    for got in (jac.max.vjp(1.0, x), jac.max.jacobian(x), jac.max.derivative(x).vjp(1.0)):
        np.testing.assert_allclose(got, [0.0, 0.5, 0.5])
    np.testing.assert_allclose(jac.min.vjp(1.0, np.array([2.0, 0.0, 0.0])), [0.0, 0.5, 0.5])
    # three ties share it in thirds; all equal, in quarters
    np.testing.assert_allclose(jac.max.vjp(3.0, np.array([5.0, 5.0, 1.0, 5.0])), [1, 1, 0, 1])
    np.testing.assert_allclose(jac.min.vjp(1.0, np.ones((2, 2))), np.full((2, 2), 0.25))


def test_ties_are_counted_within_each_group():
    X = np.array([[1.0, 3.0, 3.0], [5.0, 2.0, 5.0]])
    g = np.array([1.0, 2.0])
    # row 0: two maxima share g_0 = 1; row 1: two maxima share g_1 = 2
    np.testing.assert_allclose(jac.max.vjp(g, X, axis=1), [[0, 0.5, 0.5], [1, 0, 1]])
    np.testing.assert_allclose(jac.max.derivative(X, axis=1).vjp(g), [[0, 0.5, 0.5], [1, 0, 1]])
    # no column ties, so each column's maximum takes all of its g
    np.testing.assert_allclose(jac.max.vjp(np.array([1.0, 2.0, 4.0]), X, axis=0),
                               [[0, 2, 0], [1, 0, 4]])
    # over every entry the two 5s tie
    np.testing.assert_allclose(jac.max.vjp(1.0, X), [[0, 0, 0], [0.5, 0, 0.5]])
    np.testing.assert_allclose(jac.max.vjp(np.ones((1, 1)), X, keepdims=True),
                               [[0, 0, 0], [0.5, 0, 0.5]])
    # each row's minimum (1, then 2) is alone: it takes all of g
    np.testing.assert_allclose(jac.min.jvp(np.ones((2, 3)), X, axis=1), [1.0, 1.0])
    np.testing.assert_allclose(jac.min.vjp(np.array([1.0, 1.0]), X, axis=1),
                               [[1, 0, 0], [0, 1, 0]])


def test_the_split_agrees_with_differences_where_they_are_defined():
    x = np.array([1.0, 3.0, 3.0])
    f = lambda x: jac.max(x)  # noqa: E731
    # Moving the tied entries together, max is differentiable: the slope is 1.
    along = np.array([0.0, 1.0, 1.0])
    assert jac.max.jvp(along, x) == pytest.approx(1.0)
    assert jac.check_jvp(jac.max.jvp(along, x), along, f, x)
    # Moving one of two ties, the one-sided slopes are 1 and 0: the central difference and the
    # even split both give their mean, ½.
    assert compare(jac.max.jacobian(x), finite_difference_jacobian(f, x))


# --- norm at zero ---------------------------------------------------------------------
def test_norm_at_zero_has_a_value_and_no_derivative():
    Z = np.zeros(3)
    assert jac.norm(Z) == 0.0
    message = "norm of 0.*no derivative"
    for call in (lambda: jac.norm.jacobian(Z), lambda: jac.norm.vjp(1.0, Z),
                 lambda: jac.norm.jvp(np.ones(3), Z), lambda: jac.norm.derivative(Z),
                 lambda: jac.grad(lambda X: jac.norm(X))(Z)):
        with pytest.raises(ValueError, match=message):
            call()
    X = np.array([[0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(jac.norm(X, axis=1), [0.0, np.sqrt(5)])
    with pytest.raises(ValueError, match=message):
        jac.norm.vjp(np.ones(2), X, axis=1)        # row 0 has norm 0
    np.testing.assert_allclose(jac.norm.vjp(np.ones(2), X, axis=0),  # no column does
                               [[0.0, 0.0], [1.0, 1.0]])


def test_norm_rules_run_on_shapes_without_values():
    tally = Tally()
    X = tally.array((3, 4), held=False)
    out = tally.array((3,))
    assert jac.norm.vjp_rule(0, tally.array((3,)), (X,), out, axis=1).shape == (3, 4)
    assert jac.norm.derivative_at(0, (X,), out, axis=1).materialise().shape == (3, 3, 4)
    assert tally.flops > 0


# --- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: jac.sum(np.ones((2, 3)), axis=2), r"sum: axis 2 is out of range for X of shape "
                                               r"\(2, 3\)"),
    (lambda: jac.mean(np.ones((2, 3)), axis=-3), r"mean: axis -3 is out of range"),
    (lambda: jac.var(np.ones((2, 3)), axis=(0, 5)), r"var: axis 5 \(in axis=\(0, 5\)\) is out "
                                                    r"of range for X of shape \(2, 3\)"),
    (lambda: jac.max(np.ones((2, 3)), axis=(1, -1)), r"max: axis=\(1, -1\) repeats axis 1 of "
                                                     r"X, shape \(2, 3\)"),
    (lambda: jac.min(np.ones((2, 3)), axis=(0, 0)), r"min: axis=\(0, 0\) repeats axis 0"),
    (lambda: jac.norm(np.ones((2, 3)), axis=1.0), r"norm: axis must be None, an int or a tuple"),
    (lambda: jac.sum(np.ones((2, 3)), axis=[0, 1]), r"sum: axis must be None, an int or a tuple"),
    (lambda: jac.sum(np.ones((2, 3)), axis=True), r"sum: axis must be None"),
    (lambda: jac.sum(np.ones((2, 3)), keepdims=1), r"sum: keepdims must be True or False"),
    (lambda: jac.var(np.ones((2, 3)), axis=0, ddof=2), r"var: each group has N = 2 entries.*"
                                                       r"N − ddof = 0 ≤ 0"),
    (lambda: jac.var(np.ones(3), ddof=3.5), r"N − ddof = -0.5 ≤ 0"),
    (lambda: jac.var(np.ones(3), ddof="1"), r"var: ddof must be a number"),
    (lambda: jac.mean(np.ones((0, 3)), axis=0), r"mean: X has shape \(0, 3\).*no entries"),
    (lambda: jac.max(np.ones((0, 3))), r"max: X has shape \(0, 3\).*no entries"),
    (lambda: jac.softmax(np.ones((2, 3)), axis=2), r"softmax: axis 2 is out of range for Z of "
                                                   r"shape \(2, 3\)"),
    (lambda: jac.log_softmax(np.ones(3), axis=-2), r"log_softmax: axis -2 is out of range"),
    (lambda: jac.softmax(np.ones((2, 3)), axis=(0, 1)), r"softmax: axis must be one axis"),
    (lambda: jac.softmax(np.ones((0, 3)), axis=0), r"at least one entry.*\(0, 3\)"),
    (lambda: jac.softmax(np.ones(())), r"softmax: Z needs an axis.*scalar"),
])
def test_bad_axes_and_parameters_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_reductions_that_are_defined():
    # As NumPy: a sum over no entries is 0, a norm too (and no derivative is asked of it).
    np.testing.assert_array_equal(jac.sum(np.ones((0, 3)), axis=0), np.zeros(3))
    np.testing.assert_array_equal(jac.norm(np.ones((0, 3)), axis=0), np.zeros(3))
    assert jac.norm.jacobian(np.ones((0, 3)), axis=0).shape == (3, 0, 3)
    np.testing.assert_array_equal(jac.sum.vjp(np.ones(3), np.ones((0, 3)), axis=0),
                                  np.ones((0, 3)))


# --- softmax over any axis ----------------------------------------------------------------
def _softmax_by_hand(Z, axis):
    e = np.exp(Z)
    return e / e.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1, -2, 2], ids=repr)
def test_softmax_over_any_axis_matches_numpy_and_finite_differences(axis):
    Z = X3 if axis == 2 else X3[0]
    s = jac.softmax(Z, axis=axis)
    np.testing.assert_allclose(s, _softmax_by_hand(Z, axis), rtol=1e-13)
    np.testing.assert_allclose(s.sum(axis=axis), 1.0)
    np.testing.assert_allclose(jac.log_softmax(Z, axis=axis),
                               np.log(_softmax_by_hand(Z, axis)), rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(2)
    g, t = rng.standard_normal(Z.shape), rng.standard_normal(Z.shape)
    for op in (jac.softmax, jac.log_softmax):
        f = lambda Z: op(Z, axis=axis)  # noqa: E731
        assert jac.check_jacobian(op.jacobian(Z, axis=axis), f, Z)
        assert jac.check_vjp(op.vjp(g, Z, axis=axis), g, f, Z)
        assert jac.check_jvp(op.jvp(t, Z, axis=axis), t, f, Z)
        assert jac.check_vjp(op.derivative(Z, axis=axis).vjp(g), g, f, Z)


def test_softmax_over_axis_0_is_diag_minus_outer_for_each_column():
    Z = np.array([[0.3, -1.0], [1.2, 0.0], [-0.5, 2.0]])
    J = jac.softmax.jacobian(Z, 0)           # axis by position, as jax.nn.softmax(Z, 0)
    for b in range(2):
        s = np.exp(Z[:, b]) / np.exp(Z[:, b]).sum()
        np.testing.assert_allclose(J[:, b, :, b], np.diag(s) - np.outer(s, s), atol=1e-15)
        np.testing.assert_array_equal(J[:, b, :, 1 - b], 0.0)  # columns do not interact


def test_softmax_formulas_over_other_axes():
    Z = np.zeros((2, 3))
    assert str(jac.softmax.formula(Z, axis=0)) == "∂S_ab/∂Z_cd = S_ab δ_ac δ_bd − S_ab S_cb δ_bd"
    assert str(jac.softmax.formula(Z, axis=-1)) == str(jac.softmax.formula(Z))
    assert str(jac.log_softmax.formula(Z, axis=0)) == "∂L_ab/∂Z_cd = δ_ac δ_bd − S_cb δ_bd"
    assert str(jac.log_softmax.formula()) == "∂l_a/∂z_c = δ_ac − s_c"


def test_softmax_over_a_huge_logit_is_stable_on_any_axis():
    Z = np.array([[1000.0, 0.0], [0.0, -1000.0]])
    np.testing.assert_allclose(jac.softmax(Z, axis=0), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(jac.log_softmax(Z, axis=0)[:, 0], [0.0, -1000.0])
