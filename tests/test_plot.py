"""Every figure draws on Agg, returns its Figure, fits its labels and renders reproducibly."""
import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.chain import naive_plan  # noqa: E402
from jacobians.examples import QUESTIONS  # noqa: E402
from jacobians.graph import trace_graph  # noqa: E402
from jacobians.plot import plot_chain, plot_collapse, plot_shape, plot_sparsity  # noqa: E402

# Deterministic PNGs: Agg draws the same pixels every time, and PNG files
# carry no timestamp; dropping the "Software" key (matplotlib's version)
# leaves nothing in the file that changes from one run to the next.
PNG = {"format": "png", "dpi": 50, "metadata": {"Software": None}}


@pytest.fixture(autouse=True)
def no_open_figures():
    """The library makes untracked figures; anything pyplot holds was opened here."""
    yield
    assert plt.get_fignums() == [], "a plot function left a pyplot figure open"


def _jacobians():
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    v, z = rng.standard_normal(2), rng.standard_normal(4)
    return [
        # name, J, out_ndim, names
        ("order 0", np.array(0.7), 0, ("l", "x")),
        ("order 1, vector output", jac.sigmoid.jacobian(z)[0], 1, ("u", "z")),
        ("order 1, vector input", rng.standard_normal(5), 0, ("L", "x")),
        ("order 2", jac.softmax.jacobian(z), 1, ("s", "z")),
        ("order 3", jac.matmul.jacobian(X @ W, v, wrt=0), 1, ("ŷ", "H")),
        ("order 3, matrix by vector", jac.outer.jacobian(z, v, wrt=0), 2, ("O", "u")),
        ("order 4", jac.matmul.jacobian(X, W, wrt=1), 2, ("H", "W")),
        ("order 4, too many to label", jac.matmul.jacobian(
            rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), wrt=1), 2, ("H", "W")),
    ]


CASES = _jacobians()
IDS = [c[0] for c in CASES]
ONE_PER_ORDER = [c for c in CASES if c[0] in ("order 0", "order 1, vector input", "order 2",
                                              "order 3", "order 4")]


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, **PNG)
    return buffer.getvalue()


def _fits(fig):
    """Whether every axes, with its labels and title, lies inside the figure."""
    fig.draw_without_rendering()
    box, tight = fig.bbox, [a.get_tightbbox() for a in fig.axes]
    return all(box.x0 - 1 <= t.x0 and t.x1 <= box.x1 + 1 and box.y0 - 1 <= t.y0 and
               t.y1 <= box.y1 + 1 for t in tight)


@pytest.mark.parametrize("name, J, out_ndim, names", CASES, ids=IDS)
def test_plot_shape_draws_every_order(name, J, out_ndim, names):
    before = J.copy()
    fig = plot_shape(J, out_ndim, names=names)
    assert isinstance(fig, Figure)
    title = f"∂{names[0]}/∂{names[1]}: shape {J.shape}, order {J.ndim}"
    assert fig.axes[0].get_title() == title
    assert _fits(fig)
    np.testing.assert_array_equal(J, before)


def test_plot_shape_names_axes_by_their_index_letters():
    J = jac.matmul.jacobian(np.ones((3, 4)), np.ones((4, 2)), wrt=1)
    ax = plot_shape(J, 2, names=("H", "W")).axes[0]
    assert ax.get_xlabel() == ("blocks: a ↓, b →  (axes 0, 1 of H: 3 × 2)\n"
                               "in each: c ↓, d →  (axes 0, 1 of W: 4 × 2)")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a=0", "a=1", "a=2"]
    vector = plot_shape(np.ones((3, 2)), 1).axes[0]
    assert vector.get_title() == "∂y/∂x: shape (3, 2), order 2"
    assert vector.get_ylabel() == "a: axis 0 of y, size 3"
    assert vector.get_xlabel() == "c: axis 0 of x, size 2"


def test_plot_shape_refuses_order_five_and_bad_out_ndim():
    with pytest.raises(ValueError, match=r"order 0 to 4; J has shape \(1, 1, 1, 1, 1\), order 5"):
        plot_shape(np.ones((1,) * 5), 2)
    with pytest.raises(ValueError, match="out_ndim must be an int from 0 to 2"):
        plot_shape(np.ones((2, 2)), 3)


@pytest.mark.parametrize("name, J, out_ndim, names", ONE_PER_ORDER,
                         ids=[c[0] for c in ONE_PER_ORDER])
def test_plot_sparsity_draws_every_order(name, J, out_ndim, names):
    order = "F" if J.ndim % 2 else "C"   # both vec orders, without doubling the cases
    fig = plot_sparsity(J, out_ndim, order=order, title=name)
    assert isinstance(fig, Figure)
    count = np.count_nonzero(J)
    title = fig.axes[0].get_title()
    assert title.startswith(f"{name}\n{count} of {J.size} entries nonzero")
    assert _fits(fig)


def test_plot_sparsity_marks_the_blocks_of_X_kron_I():
    J = jac.matmul.jacobian(np.ones((3, 4)), np.ones((4, 2)), wrt=1)   # X ⊗ I_2 in C order
    ax = plot_sparsity(J, 2).axes[0]
    horizontal = sorted(line.get_ydata()[0] for line in ax.lines if line.get_ydata()[0] ==
                        line.get_ydata()[1])
    vertical = sorted(line.get_xdata()[0] for line in ax.lines if line.get_xdata()[0] ==
                      line.get_xdata()[1])
    assert horizontal == [2, 4] and vertical == [2, 4, 6]   # every p = 2 rows and columns
    assert ax.get_title() == "24 of 48 entries nonzero (50.0%)"


def test_plots_draw_into_a_given_axes():
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    try:
        J = jac.sigmoid.jacobian(np.linspace(-1, 1, 4))
        assert plot_shape(J, 1, ax=axes[0]) is fig
        assert plot_sparsity(J, 1, ax=axes[1]) is fig
        assert plot_collapse(J, np.ones(4), ax=axes[2]) is fig
    finally:
        plt.close(fig)


def test_plot_collapse_shows_equality_for_a_diagonal_jacobian():
    z, g = np.array([-1.0, 0.5, 2.0, 0.0]), np.array([1.0, -2.0, 0.5, 3.0])
    before = g.copy()
    fig = plot_collapse(jac.sigmoid.jacobian(z), g)
    assert fig.axes[0].get_title() == "A diagonal Jacobian: gᵀJ = g ⊙ diag(J)"
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "gᵀJ takes n² = 16 multiplications, g ⊙ diag(J) takes n = 4; largest difference 0" \
        in texts
    assert _fits(fig)
    np.testing.assert_array_equal(g, before)


def test_plot_collapse_shows_that_softmax_has_no_hadamard_shortcut():
    z = np.array([0.3, -1.0, 2.0])
    fig = plot_collapse(jac.softmax.jacobian(z), np.array([1.0, 0.0, -1.0]))
    ax = fig.axes[0]
    assert ax.get_title() == "J is not diagonal: no Hadamard shortcut for gᵀJ"
    assert "≠" in [t.get_text() for t in ax.texts]


def test_plot_collapse_flattens_a_matrix_argument():
    Z = np.linspace(-2, 2, 12).reshape(3, 4)
    fig = plot_collapse(jac.tanh.jacobian(Z), np.ones((3, 4)))     # n = 12, a colour bar
    assert len(fig.axes) == 2 and _fits(fig)


def test_plot_collapse_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"J has shape \(3, 3\) and g has shape \(2,\)"):
        plot_collapse(np.eye(3), np.ones(2))


def _all_three():
    fig = Figure(figsize=(12, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    plot_shape(jac.matmul.jacobian(np.eye(3), np.ones((3, 2)), wrt=1), 2, ax=axes[0])
    plot_sparsity(jac.softmax.jacobian(np.ones((3, 4))), 2, order="F", ax=axes[1])
    plot_collapse(jac.sigmoid.jacobian(np.arange(4.0)), np.ones(4), ax=axes[2])
    return fig


def test_png_bytes_are_reproducible():
    assert _png(_all_three()) == _png(_all_three())


# ----------------------------------------------------------------------------
# plot_chain
# ----------------------------------------------------------------------------
def _graph(key, **sizes):
    q = QUESTIONS[key]
    return trace_graph(q.function, *q.args(**sizes))


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_plot_chain_draws_q0_as_the_learner_writes_it():
    fig = plot_chain(_graph("Q0", n=3, m=4, p=2), "W", upstream="ŷ")
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title() == ("∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W\n"
                                       "shapes (3,) · (3, 3, 2) · (3, 2, 4, 2) → (4, 2)")
    texts = _texts(fig)
    for name, shape, order in (("∂l/∂ŷ", "(3,)", 1), ("∂ŷ/∂H", "(3, 3, 2)", 3),
                               ("∂H/∂W", "(3, 2, 4, 2)", 4), ("∂l/∂W", "(4, 2)", 2)):
        at = texts.index(name)
        assert texts[at + 1:at + 3] == [shape, f"order {order}"]
    # The summed indices are those of the reverse plan's einsums 'c,cde->de' and 'de,defg->fg'.
    assert "① Σ c" in texts and "② Σ d,e" in texts
    assert "∂ŷ_c/∂H_de" in texts and "∂H_de/∂W_fg" in texts
    assert any("einsum('de,defg->fg')" in t for t in texts)
    assert _fits(fig)


def test_plot_chain_sums_the_paths_of_a_shared_variable():
    fig = plot_chain(_graph("Q2", K=3), "A")
    title = fig.axes[0].get_title()
    assert title.startswith("∂L/∂A: A is read by w, z, y, so the chain is a sum over 3 paths")
    texts = _texts(fig)
    assert "sum of 3 paths" in texts and texts.count("+") == 2
    # Every local Jacobian on a path is drawn once: the shared ∂L/∂w² and ∂w²/∂w too.
    for name in ("∂L/∂w²", "∂w²/∂w", "∂w/∂A", "∂w/∂z", "∂z/∂A", "∂z/∂s", "∂s/∂u", "∂u/∂y",
                 "∂y/∂A"):
        assert texts.count(name) == 1, name
    assert sum("added to the sum" in t for t in texts) == 2
    assert _fits(fig)


@pytest.mark.parametrize("order", ["reverse", "forward", "optimal"])
def test_plot_chain_lists_the_plan_of_each_order(order):
    graph = _graph("Q0")
    plan = naive_plan(graph, graph.inputs[0], order)
    texts = _texts(plot_chain(graph, order=order))
    for step in plan.steps:
        if step.spec is not None:
            assert any(f"einsum('{step.spec}')" in t for t in texts), step.spec


def test_plot_chain_materialises_nothing():
    import tracemalloc
    graph = _graph("Q0", n=60, m=60, p=60)   # ∂H/∂W alone would take 99 MiB
    tracemalloc.start()
    try:
        for order in ("reverse", "forward", "optimal"):
            plot_chain(graph, "W", order=order)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_plot_chain_draws_into_a_given_axes_and_reproducibly():
    fig, ax = plt.subplots(figsize=(14, 5))
    try:
        assert plot_chain(_graph("Q1"), "W", ax=ax) is fig
    finally:
        plt.close(fig)
    graph = _graph("Q2")
    assert _png(plot_chain(graph, "A", upstream="w")) == _png(plot_chain(graph, "A", upstream="w"))


def test_plot_chain_refuses_what_it_cannot_draw():
    graph = _graph("Q2")
    with pytest.raises(ValueError, match="'q' is not a node of the graph"):
        plot_chain(graph, "q")
    with pytest.raises(ValueError, match="L is the output itself"):
        plot_chain(graph, "L")
    with pytest.raises(ValueError, match="does not pass through u"):
        plot_chain(graph, "x", upstream="u")
    with pytest.raises(ValueError, match="needs order='reverse'"):
        plot_chain(graph, "A", order="forward", upstream="w")
    with pytest.raises(ValueError, match="order must be"):
        plot_chain(graph, "A", order="backward")
    constant = trace_graph(lambda x, c: jac.sum(jac.square(c)), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="does not depend on x"):
        plot_chain(constant, "x")
