"""Every op, for every argument, against independent truths.

The cases are generated from the op registry: each op's own ``examples``
plus the extra shapes below, so an op is tested the moment it exists.
"""
import string

import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian, sample_inputs

# Shapes beyond each op's own examples, chosen to reach the edges:
EXTRA = {
    # Q0's shapes: ∂H/∂W is 4th order, ∂ŷ/∂H 3rd order.
    "matmul": [((5, 3), (3, 2)), ((4, 3), (3,))],
    # a bias row added to every row, a scalar, a column broadcast
    "add": [((4, 3), (1, 3)), ((), (2, 3)), ((3, 1), (3, 4))],
    "multiply": [((4, 3), (3,)), ((), (3,))],
    "divide": [((4, 3), (3,)), ((2, 3), ())],
    "subtract": [((3,), (2, 3))],
    # elementwise on a 4th-order array
    "sigmoid": [((2, 1, 2, 3),)],
    "tanh": [((2, 2, 2, 2),)],
    "softmax": [((4, 5),), ((2, 2, 3),)],
    "log_softmax": [((4, 5),)],
    # max and min of two arrays: a row against a column, scalars, 4th order; |Z| of 4th order
    "maximum": [((3, 1), (1, 4)), ((), ()), ((3,), (2, 1, 2, 3))],
    "minimum": [((4, 3), (1, 3)), ((), (3,))],
    "abs": [((2, 1, 2, 3),)],
    # reductions of a 4th-order array, a scalar, and a single entry
    "sum": [((2, 1, 2, 3),), ((),)],
    "mean": [((2, 1, 2, 3),), ((1,),)],
    "var": [((2, 1, 2, 3),)],
    "max": [((2, 1, 2, 3),), ((1,),)],
    "min": [((2, 1, 2, 3),)],
    "norm": [((2, 1, 2, 3),), ((),)],
}


def _cases():
    for name, op in sorted(jac.REGISTRY.items()):
        examples = list(op.examples) + [(shapes, {}) for shapes in EXTRA.get(name, [])]
        for k, (shapes, params) in enumerate(examples):
            for wrt in range(len(shapes)):
                yield pytest.param(op, shapes, params, wrt, id=f"{name}-{k}-wrt{wrt}")


CASES = list(_cases())


def _letters(n, start=0):
    return string.ascii_letters[start:start + n]


def _setup(op, shapes, params, wrt, seed=0):
    args = sample_inputs(op, shapes, seed=seed)
    out = op(*args, **params)
    rng = np.random.default_rng(seed + 1)
    g = rng.standard_normal(out.shape)
    t = rng.standard_normal(args[wrt].shape)
    return args, out, g, t


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_jacobian_matches_finite_differences(op, shapes, params, wrt):
    args, out, _, _ = _setup(op, shapes, params, wrt)
    J = op.jacobian(*args, wrt=wrt, **params)
    assert J.shape == out.shape + args[wrt].shape
    fd = finite_difference_jacobian(lambda *a: op(*a, **params), *args, wrt=wrt)
    assert compare(J, fd), compare(J, fd)


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_vjps_and_jvps_against_einsum_of_the_jacobian(op, shapes, params, wrt):
    args, out, g, t = _setup(op, shapes, params, wrt)
    J = op.jacobian(*args, wrt=wrt, **params)
    o, i = _letters(out.ndim), _letters(args[wrt].ndim, start=out.ndim)
    want_vjp = np.einsum(f"{o},{o}{i}->{i}", g, J)
    want_jvp = np.einsum(f"{o}{i},{i}->{o}", J, t)
    d = op.derivative(*args, wrt=wrt, **params)
    assert compare(op.vjp(g, *args, wrt=wrt, **params), want_vjp)    # hand-written shortcut
    assert compare(d.vjp(g), want_vjp)                                # derived by delta elimination
    assert compare(op.jvp(t, *args, wrt=wrt, **params), want_jvp)
    assert compare(d.jvp(t), want_jvp)


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_dot_product_test(op, shapes, params, wrt):
    """⟨g, J t⟩ = ⟨Jᵀ g, t⟩ holds for the hand VJP and JVP without any J."""
    args, _, g, t = _setup(op, shapes, params, wrt, seed=7)
    left = np.vdot(g, op.jvp(t, *args, wrt=wrt, **params))
    right = np.vdot(op.vjp(g, *args, wrt=wrt, **params), t)
    assert np.isclose(left, right, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_nonzeros_are_counted_without_materialising(op, shapes, params, wrt):
    args, _, _, _ = _setup(op, shapes, params, wrt)
    d = op.derivative(*args, wrt=wrt, **params)
    dense = d.materialise()
    assert d.nnz() == np.count_nonzero(dense)
    assert d.density() == pytest.approx(np.count_nonzero(dense) / dense.size)


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_inputs_are_never_modified_or_shared(op, shapes, params, wrt):
    args, out, g, t = _setup(op, shapes, params, wrt)
    before = [a.copy() for a in (*args, g, t)]
    results = [op(*args, **params), op.jacobian(*args, wrt=wrt, **params),
               op.vjp(g, *args, wrt=wrt, **params), op.jvp(t, *args, wrt=wrt, **params),
               op.derivative(*args, wrt=wrt, **params).vjp(g)]
    for r in results:
        r[...] = 123.0  # a caller writing into a result must not reach an input
    for a, b in zip((*args, g, t), before):
        np.testing.assert_array_equal(a, b)


def test_every_op_states_a_formula():
    for name, op in jac.REGISTRY.items():
        for wrt in range(len(op.examples[0][0])):
            text = str(op.formula(wrt=wrt))
            assert text.startswith("∂") and " = " in text, name
            assert op.formula(wrt=wrt)._repr_latex_().startswith(r"$\frac{\partial")


# --- formulas as the lectures print them -------------------------------------
def test_matmul_formulas():
    assert str(jac.matmul.formula(wrt=1)) == "∂H_ab/∂W_cd = X_ac δ_bd"
    assert str(jac.matmul.formula(wrt=0)) == "∂H_ab/∂X_cd = δ_ac W_db"
    H, v = np.ones((4, 3)), np.ones(3)
    assert str(jac.matmul.formula(H, v, wrt=0)) == "∂h_a/∂X_cd = δ_ac w_d"
    assert jac.matmul.formula(wrt=1)._repr_latex_() == \
        r"$\frac{\partial H_{ab}}{\partial W_{cd}} = X_{ac}\,\delta_{bd}$"


def test_sigmoid_formula():
    assert str(jac.sigmoid.formula(np.zeros((2, 3)))) == "∂U_ab/∂Z_cd = σ'(Z)_ab δ_ac δ_bd"


def test_softmax_formulas():
    assert str(jac.softmax.formula()) == "∂s_a/∂z_c = s_a δ_ac − s_a s_c"
    assert str(jac.softmax.formula(np.zeros((2, 3)))) == \
        "∂S_ab/∂Z_cd = S_ab δ_ac δ_bd − S_ab S_ad δ_ac"


def test_derived_vjp_of_a_diagonal_jacobian_is_a_hadamard_product():
    steps = jac.sigmoid.derivative(np.zeros((2, 3))).vjp_steps()
    assert steps.startswith("g_ab σ'(Z)_ab δ_ac δ_bd  →  g_cd σ'(Z)_cd")
    assert "Hadamard" in steps
    assert "Hadamard" not in jac.matmul.derivative(np.ones((2, 3)), np.ones((3, 4)), wrt=1).vjp_steps()


# --- closed forms from the literature ------------------------------------------
def test_softmax_jacobian_is_diag_minus_outer():
    z = np.array([0.3, -1.2, 2.0, 0.1])
    s = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(jac.softmax.jacobian(z), np.diag(s) - np.outer(s, s), atol=1e-15)


def test_softmax_cross_entropy_gradient_is_softmax_minus_target():
    z = np.array([[0.3, -1.2, 2.0], [1.0, 0.0, -1.0]])
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(jac.softmax_cross_entropy.vjp(1.0, z, y), s - y, atol=1e-15)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    z, y = np.array([1000.0, 0.0, -1000.0]), np.array([0.0, 1.0, 0.0])
    assert jac.softmax_cross_entropy(z, y) == pytest.approx(1000.0)
    np.testing.assert_allclose(jac.softmax_cross_entropy.vjp(1.0, z, y), [1.0, -1.0, 0.0])


def test_bias_jacobian_is_broadcast_and_sum():
    X, b = np.zeros((4, 3)), np.zeros(3)
    J = jac.add.jacobian(X, b, wrt=1)
    np.testing.assert_array_equal(J, np.broadcast_to(np.eye(3), (4, 3, 3)))
    np.testing.assert_array_equal(jac.add.vjp(np.ones((4, 3)), X, b, wrt=1), [4.0, 4.0, 4.0])


def test_tuple_wrt_returns_one_result_per_argument():
    X, W = np.ones((2, 3)), np.ones((3, 4))
    JX, JW = jac.matmul.jacobian(X, W, wrt=(0, 1))
    assert JX.shape == (2, 4, 2, 3) and JW.shape == (2, 4, 3, 4)


# --- what a user meets when something is wrong ---------------------------------
def test_matmul_shape_mismatch_names_shapes_and_axis():
    with pytest.raises(ValueError, match=r"matmul: X has shape \(3, 4\) and W has shape "
                                         r"\(5, 2\): axis 1 of X has size 4 but axis 0 of W"):
        jac.matmul(np.ones((3, 4)), np.ones((5, 2)))


def test_broadcast_mismatch_names_the_axis():
    with pytest.raises(ValueError, match=r"add: X has shape \(3, 4\) and Y has shape \(5,\), "
                                         r"which do not broadcast: axis -1 has sizes 4 and 5"):
        jac.add(np.ones((3, 4)), np.ones(5))


def test_cotangent_of_wrong_shape_is_explained():
    H, v = np.ones((4, 3)), np.ones(3)
    with pytest.raises(ValueError, match=r"∂h/∂X has shape \(4, 4, 3\) but the upstream "
                                         r"gradient g has shape \(3,\).*\(4,\)"):
        jac.matmul.vjp(np.ones(3), H, v, wrt=0)
    with pytest.raises(ValueError, match=r"tangent t has shape \(4,\).*input X, \(4, 3\)"):
        jac.matmul.jvp(np.ones(4), H, v, wrt=0)
    d = jac.matmul.derivative(H, v, wrt=0)
    with pytest.raises(ValueError, match=r"∂h_a/∂X_cd has shape \(4, 4, 3\) but the cotangent"):
        d.vjp(np.ones(3))


@pytest.mark.parametrize("wrt", [2, -3, 1.0, True])
def test_wrt_out_of_range(wrt):
    with pytest.raises(ValueError, match=r"matmul has 2 argument\(s\) \(X, W\); wrt="):
        jac.matmul.jacobian(np.ones((2, 2)), np.ones((2, 2)), wrt=wrt)


def test_integer_inputs_are_taken_as_floats():
    X, W = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    H = jac.matmul(X, W)
    assert H.dtype == np.float64
    np.testing.assert_array_equal(H, X.astype(float) @ W)
    assert jac.matmul.jacobian(X, W, wrt=1).dtype == np.float64


@pytest.mark.parametrize("bad, message", [(np.array([1.0, np.nan]), "NaN or infinite"),
                                           (np.array([1.0, np.inf]), "NaN or infinite"),
                                           (np.array([1j, 2]), "real numbers"),
                                           (np.array(["a"]), "real numbers")])
def test_non_finite_and_non_real_inputs_are_refused(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        jac.sigmoid(bad)


@pytest.mark.parametrize("call, message", [
    (lambda: jac.log(np.array([1.0, 0.0])), "log: Z must be positive"),
    (lambda: jac.trace(np.ones((2, 3))), "trace: X must be a square matrix"),
    (lambda: jac.sum(np.ones((2, 3)), axis=2), "sum: axis 2 is out of range"),
    (lambda: jac.reshape(np.ones((2, 3)), shape=(4,)), "cannot be reshaped to"),
    (lambda: jac.cross_entropy(np.ones(3), np.ones(4)), "axis -1 has sizes 3 and 4"),
    (lambda: jac.transpose(np.ones((2, 3)), axes=(0, 0)), "not a permutation"),
    (lambda: jac.matmul(np.ones((2, 2, 3)), np.ones((2, 4, 2))),
     "axis 2 of X has size 3 but axis 1 of W has size 4"),
    (lambda: jac.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))),
     r"batch\) axes \(2,\) and \(3,\) do not"),
    (lambda: jac.matmul(np.ones(()), np.ones(2)), r"scalar; multiply it with \* instead"),
])
def test_domain_and_parameter_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_too_large_a_jacobian_is_refused_before_allocating():
    import tracemalloc
    X, W = np.ones((64, 64)), np.ones((64, 64))
    tracemalloc.start()
    try:
        with jac.memory_limit(10**6):
            with pytest.raises(jac.JacobianTooLarge) as info:
                jac.matmul.jacobian(X, W, wrt=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10**6  # the 134 MB tensor was never allocated
    message = str(info.value)
    assert "(64, 64, 64, 64)" in message and "134217728 bytes" in message
    assert "jac.matmul.vjp(g, ..., wrt=1)" in message
    assert jac.get_memory_limit() == 1 << 30  # the context restored the default


def test_memory_limit_must_be_positive():
    with pytest.raises(ValueError, match="positive number of bytes"):
        jac.set_memory_limit(0)


def test_power_at_zero():
    Z = np.array([0.0, 1.0, -2.0])
    np.testing.assert_array_equal(jac.power(Z, exponent=0), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(jac.power.jacobian(Z, exponent=0), np.zeros((3, 3)))
    np.testing.assert_array_equal(jac.power.jacobian(Z, exponent=2), np.diag(2 * Z))
    with pytest.raises(ValueError, match="nonzero for the negative exponent -1"):
        jac.power(Z, exponent=-1)
    with pytest.raises(ValueError, match="positive for the exponent 0.5"):
        jac.power(Z, exponent=0.5)


def test_every_example_fits_its_op():
    for name, op in jac.REGISTRY.items():
        for shapes, params in op.examples:
            assert op.variadic or len(shapes) == len(op.arg_names), name
            op(*sample_inputs(op, shapes), **params)
    with pytest.raises(ValueError, match=r"matmul takes 2 argument\(s\)"):
        sample_inputs(jac.matmul, ((2, 3),))


def test_the_shipped_checks_catch_a_wrong_vjp_and_jvp():
    X, W = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    g, t = np.ones((2, 2)), np.ones((3, 2))
    f = lambda X, W: jac.matmul(X, W)  # noqa: E731
    assert jac.check_vjp(X.T @ g, g, f, X, W, wrt=1)
    assert not jac.check_vjp(g @ X, g, f, X, W, wrt=1)     # a learner's misordered product
    assert jac.check_jvp(X @ t, t, f, X, W, wrt=1)
    assert not jac.check_jvp(2 * X @ t, t, f, X, W, wrt=1)
    assert not jac.check_jacobian(np.zeros((2, 2, 3, 2)), f, X, W, wrt=1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: jac.sum(np.ones((2, 3)), axes=0), TypeError, r"sum has no parameter 'axes'; its parameters are axis"),
    (lambda: jac.tanh(np.ones(2), axis=0), TypeError, r"tanh has no parameter 'axis'; it takes none"),
    (lambda: jac.sum(np.ones((2, 3)), axis=(0, -2)), ValueError,
     r"sum: axis=\(0, -2\) repeats axis 0 of X, shape \(2, 3\)"),
    (lambda: jac.matmul.vjp(np.ones(2), np.ones((2, 2)), np.ones(2), wrt=(5,)), ValueError, "wrt=5"),
    (lambda: jac.matmul.derivative(np.ones((2, 2)), np.ones(2), names=("A",)), ValueError, "names needs"),
    (lambda: jac.softmax(np.ones((2, 0))), ValueError, r"at least one entry.*\(2, 0\)"),
    (lambda: jac.power(np.ones(2)), TypeError,
     r"power needs the parameter exponent: power\(Z, exponent=...\)"),
    (lambda: jac.reshape(np.ones(2)), TypeError, "reshape needs the parameter shape"),
    (lambda: jac.divide(np.ones(2), np.array([1.0, 0.0])), ValueError,
     "divide: Y must be nonzero"),
])
def test_more_bad_input_is_explained(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_reshape_takes_numpys_shapes():
    X = np.arange(6.0).reshape(2, 3)
    assert jac.reshape(X, shape=(-1,)).shape == (6,)
    assert jac.reshape(X, shape=6).shape == (6,)
    assert jac.reshape.jacobian(X, shape=(3, -1)).shape == (3, 2, 2, 3)
