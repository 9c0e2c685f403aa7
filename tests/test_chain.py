"""The chain rule on graphs, and the five questions reproduced four ways.

Every gradient is held against central finite differences and against the
closed form from the literature; the naive chain, the VJP sweep and the
derived program must all agree with both.
"""
import re

import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.examples import QUESTIONS

# Two sizes per question: the default and a larger, rectangular one.
SIZES = {
    "Q0": [{}, {"n": 6, "m": 5, "p": 3}],
    "Q1": [{}, {"m": 4, "k": 7}],
    "Q2": [{}, {"K": 6}],
    "Q3": [{}, {"widths": (3, 6, 4, 5)}],
    "Q4": [{}, {"n": 3, "m": 5, "hidden": 6, "k": 4}],
}
CASES = [pytest.param(key, sizes, id=f"{key}-{k}")
         for key, all_sizes in SIZES.items() for k, sizes in enumerate(all_sizes)]


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("key, sizes", CASES)
def test_every_question_four_ways(key, sizes):
    q = QUESTIONS[key]
    args = q.args(seed=3, **sizes)
    closed = _as_tuple(q.closed_form(*args))
    wrt = _as_tuple(q.wrt)
    finite = [finite_difference_jacobian(q.function, *args, wrt=i) for i in wrt]
    for want, fd in zip(closed, finite):
        assert compare(want, fd), "the closed form itself disagrees with finite differences"
    results = {"grad": jac.grad(q.function, wrt=q.wrt)(*args),
               "derived": jac.derive(q.function, wrt=q.wrt)(*args).gradient}
    for order in jac.chain.ORDERS:
        results[f"naive {order}"] = jac.jacobian(q.function, wrt=q.wrt, order=order)(*args)
    for how, got in results.items():
        for g, want in zip(_as_tuple(got), closed):
            assert compare(g, want), f"{key} {how}: {compare(g, want)}"


def test_q1_layouts_are_transposes_and_the_library_gives_the_shape_of_w():
    q = QUESTIONS["Q1"]
    W, x, b, y = q.args()
    g = jac.grad(q.function)(W, x, b, y)
    assert g.shape == W.shape == (3, 10)
    np.testing.assert_allclose(g, np.outer(x, y))  # xᵀ yᵀ: denominator layout
    np.testing.assert_allclose(jac.examples.q1_numerator_layout(W, x, b, y), g.T)
    # ∂f/∂W is a 3rd-order tensor, not x:
    f = lambda W, x, b: jac.matmul(x, W) + b  # noqa: E731
    assert jac.jacobian(f)(W, x, b).shape == (10, 3, 10)


@pytest.mark.parametrize("order", jac.chain.ORDERS)
def test_matrix_valued_function_gives_a_4th_order_tensor(order):
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    f = lambda X, W: jac.sigmoid(X @ W)  # noqa: E731
    J = jac.jacobian(f, wrt=1, order=order)(X, W)
    assert J.shape == (4, 2, 3, 2)
    assert compare(J, finite_difference_jacobian(f, X, W, wrt=1))


@pytest.mark.parametrize("order", jac.chain.ORDERS)
def test_a_variable_used_twice_by_one_op_and_by_several(order):
    x = np.array([0.5, -1.0, 2.0])
    f = lambda x: jac.sum(x * x + jac.tanh(x) * x)  # noqa: E731  x is read four times
    want = 2 * x + np.tanh(x) + x * (1 - np.tanh(x) ** 2)
    assert compare(jac.jacobian(f, order=order)(x), want)
    assert compare(jac.grad(f)(x), want)
    assert compare(jac.derive(f)(x).gradient, want)


def test_every_operator_on_traced_values():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((3, 3)), rng.uniform(0.5, 2.0, (3, 3))
    f = lambda A, B: jac.sum((A @ B.T + A - B) * A / B + (-A) ** 3 + 2.0 * A ** 2)  # noqa: E731
    numpy = (A @ B.T + A - B) * A / B + (-A) ** 3 + 2.0 * A ** 2
    assert f(A, B) == pytest.approx(numpy.sum())
    for i in (0, 1):
        assert compare(jac.grad(f, wrt=i)(A, B), finite_difference_jacobian(f, A, B, wrt=i))
    g = lambda A: jac.sum(np.ones((3, 3)) @ A)  # noqa: E731  ndarray @ traced
    assert compare(jac.grad(g)(A), np.full((3, 3), 3.0))


def test_vjp_and_jvp_of_a_traced_function_pass_the_dot_product_test():
    rng = np.random.default_rng(2)
    X, W = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    f = lambda X, W: jac.softmax(jac.tanh(X @ W))  # noqa: E731
    value, pullback = jac.vjp(f, X, W)
    np.testing.assert_allclose(value, f(X, W))
    g = rng.standard_normal(value.shape)
    tX, tW = rng.standard_normal(X.shape), rng.standard_normal(W.shape)
    gX, gW = pullback(g)
    _, t_out = jac.jvp(f, (X, W), (tX, tW))
    assert np.vdot(g, t_out) == pytest.approx(np.vdot(gX, tX) + np.vdot(gW, tW), rel=1e-10)
    J = finite_difference_jacobian(f, X, W, wrt=1)
    assert compare(gW, np.einsum("ab,abcd->cd", g, J))
    _, only_W = jac.jvp(f, (X, W), (np.zeros_like(X), tW))
    assert compare(only_W, np.einsum("abcd,cd->ab", J, tW))


def test_optimal_order_rediscovers_reverse_mode_for_a_scalar_loss():
    q = QUESTIONS["Q0"]
    args = q.args(n=8, m=8, p=8)
    cost = {o: jac.chain_rule(q.function, order=o)(*args) for o in jac.chain.ORDERS}
    assert cost["optimal"].flops == cost["reverse"].flops
    assert cost["forward"].flops > 5 * cost["reverse"].flops
    # The reverse chain never holds more than a gradient-sized adjoint per node.
    assert cost["reverse"].largest_intermediate <= 8 * 8 * 8


def test_optimal_order_contracts_q0s_one_path_in_one_einsum_counted_by_hand():
    n, m, p = 4, 3, 2
    q = QUESTIONS["Q0"]
    result = jac.chain_rule(q.function, order="optimal")(*q.args(n=n, m=m, p=p))
    [step] = result.steps
    assert step.what == "∂l/∂s · ∂s/∂r² · ∂r²/∂r · ∂r/∂ŷ · ∂ŷ/∂H · ∂H/∂W"
    assert step.shapes == ((), (n,), (n, n), (n, n), (n, n, p), (n, p, m, p))
    # Building 2r, then from the output on: ½ · Σ (n), two vector × matrix products
    # (2·n·n each), then 2·n·(n·p) and 2·(n·p)·(m·p): reverse mode, found by the search.
    assert step.flops == n + n + 2 * n * n + 2 * n * n + 2 * n * n * p + 2 * n * p * m * p
    assert result.local_bytes["∂H/∂W"] == 8 * n * p * m * p
    assert "optimal order" in str(result)


def _brute_force_chain_cost(sizes, summed, i=0, j=None):
    """The cheapest order of a chain of matrices, by trying every split (exponential)."""
    j = len(sizes) - 2 if j is None else j
    if i == j:
        return 0.0
    return min(_brute_force_chain_cost(sizes, summed, i, k) +
               _brute_force_chain_cost(sizes, summed, k + 1, j) +
               sizes[i] * sizes[k + 1] * sizes[j + 1] * (2 if summed[k + 1] else 1)
               for k in range(i, j))


@pytest.mark.parametrize("seed", range(12))
def test_the_optimal_order_of_a_chain_is_the_cheapest_of_all(seed):
    """The matrix-chain search against trying every order, on chains nobody chose."""
    from jacobians.abstract import einsum_cost
    from jacobians.sweep import chain_spec
    rng = np.random.default_rng(seed)
    length = int(rng.integers(2, 8))
    # Each node a vector, or now and then a scalar (nothing to sum over it, size 1).
    summed = [bool(x) for x in rng.random(length + 1) > 0.25]
    sizes = [int(x) if s else 1 for x, s in zip(rng.choice([1, 2, 3, 5, 8, 13], length + 1),
                                                  summed)]
    order = jac.chain._chain_order(sizes, summed)
    ndims = [1 if s else 0 for s in summed]
    shapes = [(sizes[k],) * ndims[k] + (sizes[k + 1],) * ndims[k + 1] for k in range(length)]
    flops, _, _ = einsum_cost(chain_spec(*ndims), tuple(shapes), order)
    assert flops == _brute_force_chain_cost(sizes, summed)


def test_optimal_order_handles_a_long_chain_and_an_output_that_is_an_input():
    def deep(x):
        for _ in range(211):
            x = jac.tanh(x)
        return jac.sum(x)
    x = np.linspace(-1, 1, 3)
    for order in jac.chain.ORDERS:
        assert compare(jac.jacobian(deep, order=order)(x), jac.grad(deep)(x))
    identity = jac.jacobian(lambda x: x, order="optimal")(x)
    np.testing.assert_array_equal(identity, np.eye(3))
    unused = jac.jacobian(lambda x, y: jac.sum(x), wrt=(0, 1), order="optimal")(x, x)
    np.testing.assert_array_equal(unused[1], np.zeros(3))
    scalar = jac.jacobian(lambda x: jac.sum(jac.square(x)), order="optimal")(np.array(2.0))
    assert type(scalar) is np.ndarray and scalar.shape == () and scalar == 4.0


def test_a_graph_with_too_many_paths_is_contracted_in_a_shared_order_and_says_so():
    def shared(x):
        for _ in range(30):
            x = jac.tanh(x) + x       # two routes through every step: 2³⁰ paths
        return jac.sum(x)
    x = np.linspace(-0.5, 0.5, 4)
    graph = jac.trace_graph(shared, x)
    assert graph.count_paths(graph.inputs[0]) == 2 ** 30
    result = jac.chain_rule(shared, order="optimal")(x)
    assert result.order in ("reverse", "forward") and "1,073,741,824 paths" in result.note
    assert compare(result.jacobian, jac.grad(shared)(x))
    assert compare(result.jacobian, finite_difference_jacobian(shared, x))
    with pytest.raises(ValueError, match=r"1,073,741,824 paths lead from x to sum.*too many"):
        jac.paths(shared)(x)


def test_tracing_many_ops_of_one_kind_names_them_all_apart():
    def chain(x):
        for _ in range(4000):
            x = jac.tanh(x)
        return x
    graph = jac.trace_graph(chain, np.zeros(2))
    names = [n.name for n in graph.nodes]
    assert len(set(names)) == len(names) and names[-1] == "tanh4000"


def test_derived_program_of_q0_shows_the_familiar_formula():
    q = QUESTIONS["Q0"]
    program = jac.derive(q.function)(*q.args())
    text = str(program)
    assert "g_H =" in text and "g_ŷ vᵀ" in text
    assert "g_W =" in text and "Xᵀ g_H" in text
    assert "∂H_ab/∂W_cd = X_ac δ_bd:  g_H_ab X_ac δ_bd  →  g_H_ad X_ac" in text
    assert program._repr_latex_().startswith(r"$\begin{aligned}")


def test_derived_program_shows_the_hadamard_product_of_a_sigmoid_step():
    q = QUESTIONS["Q3"]
    text = str(jac.derive(q.function, wrt=0)(*q.args()))
    assert re.search(r"g_z3 =\s+g_a3 ⊙ σ'\(z3\)", text)
    assert re.search(r"g_a2 =\s+W3ᵀ g_W3a2", text)


def test_graph_prints_local_jacobian_shapes_and_orders():
    q = QUESTIONS["Q0"]
    graph = jac.trace_graph(q.function, *q.args())
    text = str(graph)
    assert "∂H/∂W (4, 2, 3, 2) order 4" in text and "∂ŷ/∂H (4, 4, 2) order 3" in text
    assert "<table>" in graph._repr_html_()
    A = [n for n in jac.trace_graph(QUESTIONS["Q2"].function, *QUESTIONS["Q2"].args()).nodes
         if n.name == "A"]
    assert len(A) == 1  # used three times, one node


# --- mistakes the library diagnoses -----------------------------------------
def test_compose_matches_einsum_and_explains_a_misordered_chain():
    q = QUESTIONS["Q0"]
    W, X, v, y = q.args()
    H = X @ W
    dl_dyhat = H @ v - y
    dyhat_dH = jac.matmul.jacobian(H, v, wrt=0)
    dH_dW = jac.matmul.jacobian(X, W, wrt=1)
    chained = jac.compose(jac.compose(dl_dyhat, dyhat_dH), dH_dW, mid_ndim=2)
    np.testing.assert_allclose(chained, np.einsum("a,acd,cdij->ij", dl_dyhat, dyhat_dH, dH_dW))
    np.testing.assert_allclose(chained, q.closed_form(W, X, v, y))
    with pytest.raises(ValueError, match=r"shape \(4, 2, 3, 2\) with one of shape \(4,\).*"
                                         r"compose\(second, first\)"):
        jac.compose(dH_dW, dl_dyhat)


def test_compose_explains_the_q1_mistake_of_multiplying_vectors():
    y, x = np.ones(10), np.ones(3)
    with pytest.raises(ValueError, match=r"\(10,\) with one of shape \(3,\).*rarely a vector"):
        jac.compose(y, x)


def test_compose_asks_when_ambiguous():
    with pytest.raises(ValueError, match="ambiguous.*mid_ndim"):
        jac.compose(np.ones((3, 3, 3)), np.ones((3, 3, 3)))


def test_naive_chain_refuses_before_allocating_and_names_the_largest():
    import tracemalloc
    q = QUESTIONS["Q0"]
    args = q.args(n=60, m=60, p=60)  # ∂H/∂W is 60⁴ × 8 B = 104 MB
    tracemalloc.start()
    try:
        with jac.memory_limit(10**7):
            with pytest.raises(jac.JacobianTooLarge, match=r"∂H/∂W.*\(60, 60, 60, 60\)"):
                jac.jacobian(q.function)(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10**7
    assert jac.grad(q.function)(*args).shape == (60, 60)  # the VJP path needs no limit


def test_grad_of_a_non_scalar_and_bad_wrt_are_explained():
    with pytest.raises(ValueError, match=r"grad needs a scalar function.*\(3,\)"):
        jac.grad(jac.tanh)(np.ones(3))
    with pytest.raises(ValueError, match=r"wrt=\(\) names no argument"):
        jac.grad(jac.sum, wrt=())(np.ones(3))
    with pytest.raises(ValueError, match=r"one argument at a time; wrt=\(0, 1\) names 2"):
        jac.paths(lambda x, y: jac.sum(x * y), wrt=(0, 1))
    with pytest.raises(TypeError, match=r"returned a tuple of 2 values"):
        jac.grad(lambda x: (jac.sum(x), jac.sum(x)))(np.ones(3))
    with pytest.raises(ValueError, match=r"takes 1 argument\(s\); wrt=1"):
        jac.jacobian(jac.sum, wrt=1)(np.ones(3))
    with pytest.raises(ValueError, match="order must be one of"):
        jac.jacobian(jac.sum, order="sideways")


def test_traced_function_leaves_inputs_untouched():
    q = QUESTIONS["Q2"]
    args = q.args()
    before = [a.copy() for a in args]
    jac.grad(q.function, wrt=q.wrt)(*args)
    jac.jacobian(q.function, wrt=q.wrt, order="optimal")(*args)
    jac.derive(q.function, wrt=q.wrt)(*args)
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)


def test_a_traced_op_with_the_wrong_number_of_arguments_is_explained():
    with pytest.raises(TypeError, match=r"matmul takes 2 array argument\(s\) \(X, W\), got 1"):
        jac.grad(lambda x: jac.sum(jac.matmul(x)))(np.ones(2))


def test_q2_paths_sum_to_the_gradient_and_none_can_be_left_out():
    q = QUESTIONS["Q2"]
    args = q.args()
    dA, _, _ = q.closed_form(*args)
    shares = jac.paths(q.function, wrt=0)(*args)
    assert len(shares) == 3  # A enters y, z and w
    assert all(name.endswith("∂y/∂A") or name.endswith("∂z/∂A") or name.endswith("∂w/∂A")
               for name, _ in shares)
    assert compare(sum(share for _, share in shares), dA)
    for left_out in range(3):
        partial = sum(share for k, (_, share) in enumerate(shares) if k != left_out)
        assert not compare(partial, dA)


def test_compose_refuses_two_vectors_and_names_diag():
    delta, sigma_prime = np.ones(3), np.array([0.2, 0.25, 0.1])
    with pytest.raises(ValueError, match=r"two vectors.*diag\(σ'\(z\)\).*mid_ndim=1"):
        jac.compose(delta, sigma_prime)
    assert jac.compose(delta, sigma_prime, mid_ndim=1) == pytest.approx(0.55)
    np.testing.assert_allclose(jac.compose(delta, np.diag(sigma_prime)), sigma_prime)


def test_derived_program_keeps_every_intermediate_gradient():
    q = QUESTIONS["Q0"]
    W, X, v, y = args = q.args()
    program = jac.derive(q.function)(*args)
    r = X @ W @ v - y
    np.testing.assert_allclose(program.cotangents["ŷ"], r)
    np.testing.assert_allclose(program.cotangents["H"], np.outer(r, v))
    assert program.cotangents["W"] is program.gradient


def test_labels_avoid_names_that_read_like_labels():
    text = str(jac.sigmoid.derivative(np.ones(3), names=("a3", "z3")))
    assert text == "∂z3_i/∂a3_k = σ'(a3)_i δ_ik"


@pytest.mark.parametrize("wrt", range(6))
def test_optimal_order_is_never_worse_than_reverse_on_a_single_path(wrt):
    q = QUESTIONS["Q3"]  # three layers: every argument has exactly one path, of up to 11 factors
    graph = jac.trace_graph(q.function, *q.args())
    source = graph.inputs[wrt]
    assert len(graph.paths(source)) == 1
    plans = {o: jac.chain.naive_plan(graph, source, o) for o in ("reverse", "optimal")}
    assert plans["optimal"].flops <= plans["reverse"].flops


def test_results_never_share_memory_with_the_arguments():
    x, t, g = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([3.0, 4.0])
    identity_like = lambda x: x + 0.0  # noqa: E731  its rules pass g and t straight on
    _, tangent = jac.jvp(identity_like, (x,), (t,))
    _, pullback = jac.vjp(identity_like, x)
    (cotangent,) = pullback(g)
    gradient = jac.grad(lambda x: jac.sum(x))(x)
    for result in (tangent, cotangent, gradient):
        result[...] = 7.0
    np.testing.assert_array_equal(t, [0.5, -1.0])
    np.testing.assert_array_equal(g, [3.0, 4.0])
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_gradients_for_several_arguments_are_separate_arrays():
    x, y = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    f = lambda x, y: jac.sum(jac.square(x + y))  # noqa: E731  both gradients equal 2(x + y)
    for gx, gy in (jac.grad(f, wrt=(0, 1))(x, y), jac.vjp(f, x, y)[1](1.0),
                   jac.derive(f, wrt=(0, 1))(x, y).gradient, jac.grad(f, wrt=(0, 0))(x, y)):
        np.testing.assert_allclose(gx, gy)
        assert not np.may_share_memory(gx, gy)


def test_the_identity_function_is_refused_before_its_jacobian_is_built():
    with jac.memory_limit(10**6):
        with pytest.raises(jac.JacobianTooLarge, match=r"identity Jacobian.*\(40, 40, 40, 40\)"):
            jac.jacobian(lambda x: x)(np.ones((40, 40)))


@pytest.mark.parametrize("order", jac.chain.ORDERS)
def test_the_memory_check_counts_what_each_order_really_holds(order):
    import tracemalloc
    q = QUESTIONS["Q3"]
    args = q.args(widths=(48, 48, 48, 48))
    tracemalloc.start()
    try:
        result = jac.chain_rule(q.function, wrt=0, order=order)(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The estimate from shapes is within a few percent of the measured peak (which
    # also holds small arrays of the trace), and never far below it.
    assert 0.85 * peak <= result.plan.held_bytes <= 1.15 * peak


def test_a_traced_op_with_an_unknown_parameter_is_explained():
    with pytest.raises(TypeError, match=r"sum has no parameter 'axes'"):
        jac.grad(lambda x: jac.sum(x, axes=0))(np.ones(2))


def test_a_reshape_derives_and_is_priced_without_its_identity_jacobian():
    """δ(a, 200c+d) is eliminated by reshaping g: no 12 GiB identity factor is built."""
    A = np.random.default_rng(0).standard_normal((200, 200))
    f = lambda A: jac.sum(jac.square(jac.reshape(A, shape=(40000,))))  # noqa: E731
    program = jac.derive(f)(A)
    np.testing.assert_allclose(program.gradient, 2 * A)
    np.testing.assert_allclose(jac.grad(f)(A), 2 * A)
    assert "g_A = reshape(g_reshape, (200, 200))" in " ".join(str(program).split())
    cost = jac.model_cost(f, (A,))
    # Square's rule: 2A (40,000) then g ⊙ 2A (40,000); reshape and sum pass g on or view it.
    assert cost.vjp_flops == 2 * 40000
    assert cost.naive_peak_bytes > jac.get_memory_limit()  # counted, never built
    with pytest.raises(jac.JacobianTooLarge, match=r"would at its peak take 11.9 GiB"):
        jac.jacobian(f)(A)
    assert str(jac.reshape.formula(np.ones((2, 3)), shape=(6,))) == "∂y_a/∂X_cd = δ(a, 3c+d)"


def test_a_jacobian_of_zeros_or_the_identity_is_refused_when_too_large():
    x = np.ones(2000)
    with jac.memory_limit(10**6):
        with pytest.raises(jac.JacobianTooLarge, match=r"all zeros.*\(2000, 2000\)"):
            jac.jacobian(lambda x, y: jac.tanh(x), wrt=1)(x, x.copy())
        with pytest.raises(jac.JacobianTooLarge, match=r"identity Jacobian.*\(2000, 2000\)"):
            jac.jacobian(lambda x: x, order="optimal")(x)


def test_the_identity_is_held_once():
    import tracemalloc
    x = np.ones(1000)
    plan = jac.chain_rule(lambda x: x)(x).plan
    tracemalloc.start()
    try:
        J = jac.jacobian(lambda x: x)(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(J, np.eye(1000))
    assert J.base is None and plan.held_bytes == 8 * 1000 * 1000
    assert peak < 1.1 * plan.held_bytes


def test_a_plan_shared_by_several_arguments_knows_each_answers_shape():
    X, W = np.ones((4, 3)), np.ones((3, 2))
    rules = jac.chain_rule(lambda X, W: jac.sigmoid(X @ W), wrt=(0, 1))(X, W)
    assert rules[0].plan is rules[1].plan
    assert rules[0].plan.shapes == ((4, 2, 4, 3), (4, 2, 3, 2))
    assert [r.jacobian.shape for r in rules] == [(4, 2, 4, 3), (4, 2, 3, 2)]


def test_names_may_be_any_sequence():
    X, W = np.ones((2, 3)), np.ones((3, 4))
    text = str(jac.matmul.derivative(X, W, wrt=1, names=["A", "B", "C"]))
    assert text == "∂C_ab/∂B_cd = A_ac δ_bd"


def test_finite_differences_of_a_function_returning_its_argument():
    np.testing.assert_allclose(finite_difference_jacobian(lambda x: x, np.ones(3)), np.eye(3))
