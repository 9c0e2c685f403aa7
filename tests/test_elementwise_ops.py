"""maximum, minimum, abs, clip, where and broadcast_to against independent truths.

The registry tests (test_ops.py, test_sweep.py) check every example of these
ops against finite differences and on Shaped arrays; here is what they
cannot see: values against NumPy, the conventions at ties and kinks (against
hand-derived numbers and one-sided or central differences), broadcasting
against finite differences and closed forms, what a model built from them
is counted to cost, and the messages for bad input.
"""
import numpy as np
import pytest
from test_sweep import _count, _counted_values

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.graph import trace_graph

RNG = np.random.default_rng(42)


def _fd(f, *args, wrt=0):
    return finite_difference_jacobian(f, *args, wrt=wrt)


# --- values against NumPy ---------------------------------------------------------------
@pytest.mark.parametrize("x_shape, y_shape", [((2, 3), (2, 3)), ((4, 3), (3,)), ((), (2, 3)),
                                              ((3, 1), (1, 4)), ((), ())])
def test_maximum_and_minimum_values_are_numpys(x_shape, y_shape):
    X, Y = RNG.standard_normal(x_shape), RNG.standard_normal(y_shape)
    np.testing.assert_array_equal(jac.maximum(X, Y), np.maximum(X, Y))
    np.testing.assert_array_equal(jac.minimum(X, Y), np.minimum(X, Y))


def test_abs_value_is_numpys():
    Z = np.array([[-2.0, -0.0, 0.0], [1.5, -3.25, 7.0]])
    np.testing.assert_array_equal(jac.abs(Z), np.abs(Z))
    assert jac.abs(-3.0) == 3.0


@pytest.mark.parametrize("call, lo, hi", [
    (lambda X: jac.clip(X, -0.5, 0.5), -0.5, 0.5),
    (lambda X: jac.clip(X, a_min=-0.5, a_max=0.5), -0.5, 0.5),
    (lambda X: jac.clip(X, -0.5, a_max=0.5), -0.5, 0.5),
    (lambda X: jac.clip(X, None, 0.2), None, 0.2),
    (lambda X: jac.clip(X, a_min=-0.3), -0.3, None),
    (lambda X: jac.clip(X, [-1.0, 0.0, -0.5], 1), np.array([-1.0, 0.0, -0.5]), 1.0),
    (lambda X: jac.clip(X, np.array([[-0.5], [0.0]]), np.array([[0.5], [2.0]])),
     np.array([[-0.5], [0.0]]), np.array([[0.5], [2.0]])),
    (lambda X: jac.clip(X, -np.inf, 0), -np.inf, 0.0),
])
def test_clip_value_is_numpys(call, lo, hi):
    X = RNG.standard_normal((2, 3))
    np.testing.assert_array_equal(call(X), np.clip(X, lo, hi))


def test_where_value_is_numpys_with_all_three_broadcast():
    C = np.array([[True, False, True], [False, True, False]])
    X, Y = RNG.standard_normal(3), RNG.standard_normal((2, 1))
    np.testing.assert_array_equal(jac.where(C, X, Y), np.where(C, X, Y))
    np.testing.assert_array_equal(jac.where(X, Y, condition=C), np.where(C, X, Y))
    # A condition larger than both arrays: the output has its shape.
    assert jac.where(C, 1.0, RNG.standard_normal(3)).shape == (2, 3)
    # A mask NumPy made by comparing is boolean already.
    Z = RNG.standard_normal((2, 3))
    np.testing.assert_array_equal(jac.where(Z > 0, Z, 0.0), np.maximum(Z, 0.0))


@pytest.mark.parametrize("x_shape, shape", [((3,), (4, 3)), ((2, 1), (2, 5)), ((), (2, 2)),
                                            ((1, 3), (2, 2, 3)), ((2, 3), (2, 3)), ((3,), 3)])
def test_broadcast_to_value_is_numpys(x_shape, shape):
    X = RNG.standard_normal(x_shape)
    Y = jac.broadcast_to(X, shape)
    np.testing.assert_array_equal(Y, np.broadcast_to(X, shape))
    Y[...] = 0.0  # a writable copy, not NumPy's read-only view of X
    assert not np.all(X == 0.0)


# --- ties and kinks -------------------------------------------------------------------------
def test_a_tie_of_maximum_or_minimum_gives_each_side_half():
    for op in (jac.maximum, jac.minimum):
        assert op.vjp(1.0, 2.0, 2.0, wrt=(0, 1)) == (0.5, 0.5)
        assert op.jacobian(2.0, 2.0, wrt=0) == 0.5
        assert op.jvp(4.0, 2.0, 2.0, wrt=1) == 2.0


def test_maximum_and_minimum_partials_by_hand():
    X, Y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    np.testing.assert_array_equal(jac.maximum.jacobian(X, Y, wrt=0), np.diag([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(jac.maximum.jacobian(X, Y, wrt=1), np.diag([1.0, 0.5, 0.0]))
    np.testing.assert_array_equal(jac.minimum.jacobian(X, Y, wrt=0), np.diag([1.0, 0.5, 0.0]))
    np.testing.assert_array_equal(jac.minimum.jacobian(X, Y, wrt=1), np.diag([0.0, 0.5, 1.0]))
    # Y a scalar: its one entry is read by every output entry.
    np.testing.assert_array_equal(jac.maximum.jacobian(X, 2.0, wrt=1), [1.0, 0.5, 0.0])
    assert jac.maximum.vjp(np.ones(3), X, 2.0, wrt=1) == 1.5
    assert jac.minimum.vjp(np.ones(3), X, 2.0, wrt=1) == 1.5


def test_half_at_a_tie_is_the_central_difference():
    # (max(2 + h, 2) − max(2 − h, 2)) / 2h = ½ exactly: the average of the one-sided slopes.
    X, Y = np.array([2.0, 1.0, -0.5, 3.0]), np.array([2.0, 2.0, -0.5, 3.0])
    for op in (jac.maximum, jac.minimum):
        for wrt in (0, 1):
            assert compare(op.jacobian(X, Y, wrt=wrt), _fd(op, X, Y, wrt=wrt))


def test_at_ties_the_two_partials_add_up_to_one():
    # max(X + h t, Y + h t) = max(X, Y) + h t: moving both sides together is exact.
    X = np.array([[1.0, 2.0, -3.0], [0.5, 0.5, 4.0]])
    Y = np.array([[1.0, 0.0, -3.0], [0.5, 1.0, 4.0]])
    t = RNG.standard_normal(X.shape)
    for op in (jac.maximum, jac.minimum):
        both = op.jvp(t, X, Y, wrt=0) + op.jvp(t, X, Y, wrt=1)
        np.testing.assert_allclose(both, t, rtol=0, atol=1e-15)
        h = 1e-3
        np.testing.assert_allclose((op(X + h * t, Y + h * t) - op(X, Y)) / h, both, atol=1e-12)


def test_abs_at_zero_has_derivative_zero():
    Z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(jac.abs.jacobian(Z), np.diag([-1.0, 0.0, 1.0]))
    assert jac.abs.vjp(5.0, 0.0) == 0.0
    # Central differences at 0 agree: (|h| − |−h|) / 2h = 0.
    assert compare(jac.abs.jacobian(Z), _fd(jac.abs, Z))
    Z = RNG.choice([-1.0, 1.0], (3, 4)) * RNG.uniform(0.3, 2.0, (3, 4))
    np.testing.assert_array_equal(jac.abs.vjp(np.ones((3, 4)), Z), np.sign(Z))


def test_clip_at_a_bound_has_derivative_one():
    lo, hi = -1.0, 2.0
    X = np.array([-3.0, lo, 0.5, hi, 5.0])
    want = np.diag([0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(jac.clip.jacobian(X, lo, hi), want)
    # 1 is the slope from inside the interval: a one-sided difference from there.
    h = 1e-6
    assert (np.clip(lo + h, lo, hi) - np.clip(lo, lo, hi)) / h == pytest.approx(1.0)
    assert (np.clip(hi, lo, hi) - np.clip(hi - h, lo, hi)) / h == pytest.approx(1.0)
    # With one bound only, and with array bounds.
    np.testing.assert_array_equal(jac.clip.vjp(np.ones(5), X, a_min=lo), [0, 1, 1, 1, 1])
    np.testing.assert_array_equal(jac.clip.vjp(np.ones(5), X, a_max=hi), [1, 1, 1, 1, 0])
    np.testing.assert_array_equal(jac.clip.vjp(np.ones(5), X, np.full(5, lo), np.full(5, hi)),
                                  [0, 1, 1, 1, 0])


def test_where_partials_are_the_condition_and_its_negation():
    C = np.array([True, False, False, True])
    X, Y = RNG.standard_normal(4), RNG.standard_normal(4)
    np.testing.assert_array_equal(jac.where.jacobian(C, X, Y, wrt=0), np.diag([1.0, 0, 0, 1]))
    np.testing.assert_array_equal(jac.where.jacobian(C, X, Y, wrt=1), np.diag([0.0, 1, 1, 0]))
    # Equal values are no tie: each entry still has one source.
    np.testing.assert_array_equal(jac.where.vjp(np.ones(4), C, X, X, wrt=0), [1.0, 0, 0, 1])


# --- broadcasting against finite differences and closed forms -----------------------------
@pytest.mark.parametrize("op", [jac.maximum, jac.minimum])
@pytest.mark.parametrize("x_shape, y_shape", [((4, 3), (3,)), ((3, 1), (1, 4)), ((), (2, 3)),
                                              ((2, 3), ())])
def test_maximum_and_minimum_broadcast_against_finite_differences(op, x_shape, y_shape):
    X, Y = RNG.standard_normal(x_shape), RNG.standard_normal(y_shape)
    out = op(X, Y)
    g = RNG.standard_normal(out.shape)
    for wrt, a in enumerate((X, Y)):
        J = _fd(op, X, Y, wrt=wrt)
        assert compare(op.jacobian(X, Y, wrt=wrt), J)
        want = np.tensordot(g, J, axes=out.ndim)
        assert compare(op.vjp(g, X, Y, wrt=wrt), want)
        assert compare(op.derivative(X, Y, wrt=wrt).vjp(g), want)


def test_maximum_bias_vjp_by_hand():
    # relu with a learned threshold b: Z = max(X, b), b a row; ∂L/∂b = Σ_rows g ⊙ 𝟙[b > X].
    X, b = RNG.standard_normal((5, 3)), RNG.standard_normal(3)
    g = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(jac.maximum.vjp(g, X, b, wrt=1), (g * (b > X)).sum(axis=0))


@pytest.mark.parametrize("c_shape, x_shape, y_shape", [
    ((2, 3), (3,), (2, 1)), ((3,), (2, 3), ()), ((2, 1), (1, 3), (3,)), ((2, 3), (), ()),
    ((), (2, 3), (3,))])
def test_where_broadcasts_all_three_against_finite_differences(c_shape, x_shape, y_shape):
    C = RNG.random(c_shape) > 0.4
    X, Y = RNG.standard_normal(x_shape), RNG.standard_normal(y_shape)
    out = jac.where(C, X, Y)
    assert out.shape == np.broadcast_shapes(c_shape, x_shape, y_shape)
    def f(X, Y):
        return jac.where(C, X, Y)
    g = RNG.standard_normal(out.shape)
    for wrt, a in enumerate((X, Y)):
        J = _fd(f, X, Y, wrt=wrt)
        assert compare(jac.where.jacobian(C, X, Y, wrt=wrt), J)
        assert compare(jac.where.vjp(g, C, X, Y, wrt=wrt), np.tensordot(g, J, axes=out.ndim))
        t = RNG.standard_normal(a.shape)
        assert compare(jac.where.jvp(t, C, X, Y, wrt=wrt), np.tensordot(J, t, axes=t.ndim))


def test_where_vjp_of_a_stretched_row_by_hand():
    C = np.array([[True, False, True], [False, True, True]])
    x, Y = RNG.standard_normal(3), RNG.standard_normal((2, 3))
    g = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(jac.where.vjp(g, C, x, Y, wrt=0), (g * C).sum(axis=0))
    np.testing.assert_allclose(jac.where.vjp(g, C, x, Y, wrt=1), g * ~C)


@pytest.mark.parametrize("x_shape, lo, hi", [
    ((2, 3), np.array([-1.0, 0.0, -0.5]), 1.0),
    ((2, 3), np.array([[-0.5], [0.0]]), np.array([[0.5], [1.5]])),
    ((2, 2, 3), -0.5, np.array([0.5, 0.2, 1.0])),
    ((), -0.5, 0.5),
])
def test_clip_with_broadcast_bounds_against_finite_differences(x_shape, lo, hi):
    X = RNG.standard_normal(x_shape)
    def f(X):
        return jac.clip(X, lo, hi)
    J = _fd(f, X)
    assert compare(jac.clip.jacobian(X, lo, hi), J)
    g = RNG.standard_normal(X.shape)
    assert compare(jac.clip.vjp(g, X, lo, hi), np.tensordot(g, J, axes=X.ndim))
    assert compare(jac.clip.derivative(X, lo, hi).vjp(g), np.tensordot(g, J, axes=X.ndim))


@pytest.mark.parametrize("x_shape, shape", [((3,), (4, 3)), ((2, 1), (2, 5)), ((), (2, 2)),
                                            ((1, 3), (2, 2, 3)), ((2, 3), (2, 3))])
def test_broadcast_to_against_finite_differences(x_shape, shape):
    X = RNG.standard_normal(x_shape)
    J = _fd(lambda X: jac.broadcast_to(X, shape), X)
    assert compare(jac.broadcast_to.jacobian(X, shape), J)
    g, t = RNG.standard_normal(shape), RNG.standard_normal(x_shape)
    assert compare(jac.broadcast_to.vjp(g, X, shape), np.tensordot(g, J, axes=len(shape)))
    assert compare(jac.broadcast_to.jvp(t, X, shape), np.broadcast_to(t, shape))


def test_broadcast_to_is_the_bias_pattern():
    b = RNG.standard_normal(3)
    assert str(jac.broadcast_to.formula(b, (4, 3))) == "∂Y_ab/∂x_c = δ_bc"
    np.testing.assert_array_equal(jac.broadcast_to.jacobian(b, (4, 3)),
                                  np.broadcast_to(np.eye(3), (4, 3, 3)))
    g = RNG.standard_normal((4, 3))
    np.testing.assert_allclose(jac.broadcast_to.vjp(g, b, (4, 3)), g.sum(axis=0))
    # The same as adding the row to zeros.
    np.testing.assert_array_equal(jac.broadcast_to.jacobian(b, (4, 3)),
                                  jac.add.jacobian(np.zeros((4, 3)), b, wrt=1))


def test_the_ops_in_a_traced_function_give_finite_difference_gradients():
    C = np.array([[True, False, True], [False, True, True]])

    def f(X, y, b):
        Z = jac.maximum(X, y) * jac.where(C, jac.abs(X), jac.clip(y, -0.5, 0.5))
        return jac.sum(jac.minimum(Z, jac.broadcast_to(b, (2, 3))))
    X = RNG.choice([-1.0, 1.0], (2, 3)) * RNG.uniform(0.3, 2.0, (2, 3))
    y, b = RNG.standard_normal(3), RNG.standard_normal(3)
    grads = jac.grad(f, wrt=(0, 1, 2))(X, y, b)
    for wrt, got in enumerate(grads):
        assert compare(got, _fd(f, X, y, b, wrt=wrt))


def test_the_cost_model_counts_what_a_sweep_through_them_performs():
    """On Shaped arrays (values too: np.where and clip's ufuncs) the counts are what runs."""
    C = np.array([[True, False, True], [False, True, True]])

    def f(X, y, b):
        Z = jac.maximum(X, y) * jac.where(C, jac.abs(X), jac.clip(y, -0.5, 0.5))
        return jac.sum(jac.minimum(Z, jac.broadcast_to(b, (2, 3))))
    args = (RNG.standard_normal((2, 3)), RNG.standard_normal(3), RNG.standard_normal(3))
    cost = jac.model_cost(f, args, (0, 1, 2))
    graph = trace_graph(f, *args)
    performed, _ = _count(lambda: jac.chain.gradient_sweep(graph, graph.inputs,
                                                           _counted_values(graph)))
    assert cost.vjp_flops == performed > 0
    for order in jac.chain.ORDERS:
        groups = [graph.inputs] if order == "reverse" else [[s] for s in graph.inputs]
        performed = sum(_count(lambda group=group, order=order: jac.chain._run(
            graph, group, order, _counted_values(graph)))[0] for group in groups)
        assert cost.naive_flops(order) == performed, order


# --- formulas --------------------------------------------------------------------------------
def test_formulas():
    M = np.ones((2, 3))
    assert str(jac.maximum.formula(wrt=0)) == "∂Z_ab/∂X_cd = 𝟙[X>Y]_ab δ_ac δ_bd"
    assert str(jac.minimum.formula(M, np.ones(3), wrt=1)) == "∂Z_ab/∂y_c = 𝟙[y<X]_ab δ_bc"
    assert str(jac.abs.formula(M)) == "∂U_ab/∂Z_cd = sign(Z)_ab δ_ac δ_bd"
    assert str(jac.clip.formula(M, -1, 1)) == "∂Y_ab/∂X_cd = (𝟙[−1≤X≤1])_ab δ_ac δ_bd"
    assert str(jac.clip.formula(M, a_max=2)) == "∂Y_ab/∂X_cd = 𝟙[X≤2]_ab δ_ac δ_bd"
    assert str(jac.clip.formula(M, np.zeros(3), 1)) == "∂Y_ab/∂X_cd = 𝟙[a_min≤X≤1]_ab δ_ac δ_bd"
    assert str(jac.where.formula(M > 0, M, 0.0, wrt=1)) == "∂Z_ab/∂y = 𝟙[¬C]_ab"
    assert str(jac.where.formula(M > 0, M, 0.0, wrt=0)) == "∂Z_ab/∂X_cd = 𝟙[C]_ab δ_ac δ_bd"


# --- what a user meets when something is wrong -------------------------------------------
X = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize("call, error, message", [
    # where: the condition
    (lambda: jac.where(np.ones((2, 3)), X, X), TypeError,
     r"where: the condition must be a boolean array .*got dtype float64"),
    (lambda: jac.where(X, X, condition=[[1, 0, 1]]), TypeError, "got dtype int64"),
    (lambda: jac.trace_graph(lambda c, x: jac.where(c, x, x), X > 2, X), TypeError,
     "where: the condition must be a constant boolean array, such as x > 0"),
    (lambda: jac.where(X, X), TypeError, r"where takes 2 array argument\(s\) \(X, Y\), got 1"),
    (lambda: jac.where(np.ones((2, 4), bool), X, X), ValueError,
     (r"where: condition has shape \(2, 4\), X has shape \(2, 3\) and Y has shape \(2, 3\), "
      r"which do not broadcast: axis -1 has size 4 in condition, 3 in X and 3 in Y")),
    (lambda: jac.where(X > 0, X, np.ones((3, 3))), ValueError, r"axis -2 has size 2 in "),
    # clip: the bounds
    (lambda: jac.trace_graph(lambda x, lo: jac.clip(x, lo, 9.0), X, np.zeros(3)), TypeError,
     r"clip: the bounds are constants, but a_min is a traced value.*jac\.maximum"),
    (lambda: jac.trace_graph(lambda x, hi: jac.clip(x, a_max=hi), X, np.ones(3)), TypeError,
     r"a_max is a traced value.*jac\.minimum"),
    (lambda: jac.clip(X, "0", 1), TypeError, "the bounds are constants, but a_min is str"),
    (lambda: jac.clip(X, 0, True), TypeError, "a_max is bool"),
    (lambda: jac.clip(X), ValueError, "clip: give a_min or a_max"),
    (lambda: jac.clip(X, None, None), ValueError, "clip: give a_min or a_max"),
    (lambda: jac.clip(X, 3, 1), ValueError, "clip: a_min is greater than a_max"),
    (lambda: jac.clip(X, np.array([0, 4, 0]), 3), ValueError, "a_min is greater than a_max"),
    (lambda: jac.clip(X, np.zeros(4), 1), ValueError,
     (r"clip: a_min has shape \(4,\), which does not broadcast to the shape \(2, 3\) of X "
      r"\(axis -1 has size 4 in a_min and 3 in X\)")),
    (lambda: jac.clip(np.ones(3), 0, np.ones((2, 3))), ValueError,
     r"clip: a_max has shape \(2, 3\).*the output has X's shape"),
    (lambda: jac.clip(X, np.nan, 1), ValueError, "clip: a_min has NaN"),
    (lambda: jac.clip(X, 0, 1, 2), TypeError, "at most a_min, a_max"),
    # broadcast_to: the shape
    (lambda: jac.broadcast_to(X, (3, 3)), ValueError,
     (r"broadcast_to: X has shape \(2, 3\) and cannot be broadcast to the shape \(3, 3\): "
      r"axis -2 has size 2 in X and 3 in the target")),
    (lambda: jac.broadcast_to(X, (3,)), ValueError,
     r"X has shape \(2, 3\) and cannot be broadcast to the shape \(3,\): X has 2 axes"),
    (lambda: jac.broadcast_to(X, (2, 3.5)), TypeError, "shape must be an int or a tuple"),
    (lambda: jac.broadcast_to(X, (-1, 3)), ValueError, "negative size"),
    (lambda: jac.broadcast_to(X), TypeError, "broadcast_to needs the parameter shape"),
    # maximum: the two arrays
    (lambda: jac.maximum(np.ones(3), np.ones(4)), ValueError,
     r"maximum: X has shape \(3,\) and Y has shape \(4,\), which do not broadcast"),
])
def test_bad_input_is_explained(call, error, message):
    with pytest.raises(error, match=message):
        call()
