"""Every figure draws on Agg, returns its Figure, fits its labels and renders reproducibly."""
import inspect
import io
import re
import warnings

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
from jacobians.plot import DPI, plot_chain, plot_collapse, plot_shape, plot_sparsity  # noqa: E402

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
    # Each cell is numbered too, the letter on the first: c=0, 1, 2, 3 in every block row.
    cells = [t.get_text() for t in ax.get_yticklabels(minor=True)]
    assert cells == ["c=0", "1", "2", "3"] * 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d=0", "1"] * 2
    vector = plot_shape(np.ones((3, 2)), 1).axes[0]
    assert vector.get_title() == "∂y/∂x: shape (3, 2), order 2"
    assert vector.get_ylabel() == "a: axis 0 of y, size 3"
    # The output has one axis, so its letters stop at a and the input's start at c: said so.
    assert vector.get_xlabel() == "c: axis 0 of x, size 2\n(indices: a b… out, c d… in)"


def test_plot_shape_letters_avoid_the_names():
    ax = plot_shape(jac.add.jacobian(np.ones((3, 2)), np.ones(2), wrt=1), 2,
                    names=("Z", "b")).axes[0]
    assert ax.get_ylabel() == "j: axis 1 of Z, size 2"
    assert not any(t.get_text().startswith("b=") for t in ax.get_xticklabels())


def test_plot_shape_refuses_order_five_saying_what_it_can_draw():
    J = np.ones((2, 1, 2, 1, 3))
    with pytest.raises(ValueError, match=r"order 0 to 4; J has shape \(2, 1, 2, 1, 3\), order 5. "
                       r"Draw all of it matricised, plot_sparsity\(J, 2, values=True\), which "
                       r"takes any order, or a slice of order 4 that fixes the first index: "
                       r"plot_shape\(J\[0\], 1\)"):
        plot_shape(J, 2)
    # Both suggestions draw.
    assert _fits(plot_sparsity(J, 2, values=True))
    assert _fits(plot_shape(J[0], 1))
    with pytest.raises(ValueError, match=r"fixes the first 2 indices: plot_shape\(J\[0, 0\], 0\)"):
        plot_shape(np.ones((1,) * 6), 2)
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
    # Blocks by the slow index, the rows and columns within them by the fast one.
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a=0", "a=1", "a=2"]
    assert [t.get_text() for t in ax.get_yticklabels(minor=True)] == ["b=0", "1"] * 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["c=0", "c=1", "c=2", "c=3"]
    assert [t.get_text() for t in ax.get_xticklabels(minor=True)] == ["d=0", "1"] * 4
    assert ax.get_ylabel() == "output: row 2a + b\nshape (3, 2)"
    assert ax.get_xlabel() == "input: column 2c + d\nshape (4, 2)"
    # Column-major: the first index is the fast one, so the blocks are d's.
    ax = plot_sparsity(J, 2, order="F", names=("H", "W")).axes[0]
    assert ax.get_xlabel() == "input W: column 4d + c\nshape (4, 2)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d=0", "d=1"]


def test_plot_sparsity_with_values_shades_each_nonzero_by_its_value():
    X = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]])
    J = jac.matmul.jacobian(X, np.ones((2, 2)), wrt=1)          # X ⊗ I_2: X in every block
    ax = plot_sparsity(J, 2, values=True, names=("H", "W")).axes[0]
    mesh = ax.collections[0]
    shaded = mesh.get_array()
    M = J.reshape(6, 4)
    # Zeros are masked (drawn white), nonzeros keep their values on a scale centred at 0.
    np.testing.assert_array_equal(np.ma.getmaskarray(shaded).reshape(6, 4), M == 0)
    np.testing.assert_array_equal(shaded.compressed(), M[M != 0])
    assert mesh.norm.vmin == -3.0 and mesh.norm.vmax == 3.0
    assert tuple(mesh.cmap.get_bad()) == (1.0, 1.0, 1.0, 1.0)
    # X's values are printed in their cells, zeros not at all.
    printed = sorted(t.get_text() for t in ax.texts)
    assert printed == sorted(["1", "1", "−2", "−2", "0.5", "0.5", "3", "3", "−1.5", "−1.5",
                              "0.25", "0.25"])
    # Heavy block lines, dark on the pale shades.
    assert max(line.get_linewidth() for line in ax.lines) >= 2
    assert _fits(ax.figure)


def test_plot_sparsity_letters_avoid_the_names():
    J = jac.add.jacobian(np.ones((3, 2)), np.ones(2), wrt=1)     # Z = H + b
    ax = plot_sparsity(J, 2, names=("Z", "b")).axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) +
             ax.get_xticklabels()]
    assert not any(t.startswith("b=") for t in ticks)
    assert ticks[:3] == ["i=0", "i=1", "i=2"] and "j=0" in ticks and "k=0" in ticks
    assert ax.get_ylabel() == "output Z: row 2i + j\nshape (3, 2)"


def test_plots_draw_into_a_given_axes():
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    try:
        J = jac.sigmoid.jacobian(np.linspace(-1, 1, 4))
        assert plot_shape(J, 1, ax=axes[0]) is fig
        assert plot_sparsity(J, 1, ax=axes[1]) is fig
        assert plot_collapse(J, np.ones(4), ax=axes[2]) is fig
    finally:
        plt.close(fig)


def test_plots_side_by_side_keep_to_their_own_axes():
    """Four gradients in a row, as lecture 3 draws them: no label runs into the next panel."""
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, 4)
    for ax in axes:
        plot_shape(np.linspace(-1, 1, 16).reshape(4, 4), 0, names=("L", "A"), ax=ax)
    fig.draw_without_rendering()
    boxes = [ax.get_tightbbox() for ax in axes]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))


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
    # A 2-D g is drawn flattened, and called so.
    assert fig.axes[0].get_title() == "A diagonal Jacobian: vec(g)ᵀJ = vec(g) ⊙ diag(J)"
    texts = _texts(fig)
    assert "vec(g)ᵀ" in texts and "vec(g)" in texts and "gᵀ" not in texts


def test_plot_collapse_shows_the_cheap_rule_beside_the_dense_product():
    z, g = np.array([1.5, -0.5, 0.3, 2.0]), np.array([0.9, -1.2, 0.5, 1.1])
    rule = ("s ⊙ (g − ⟨g, s⟩)", jac.softmax.vjp(g, z), "2n = 8 multiplications")
    fig = plot_collapse(jac.softmax.jacobian(z), g, shortcut=rule, names=("s", "z"),
                        title="s = softmax(z)")
    ax = fig.axes[0]
    assert ax.get_title() == ("s = softmax(z)\n"
                              "J is not diagonal: no Hadamard shortcut, but gᵀJ = s ⊙ (g − ⟨g, s⟩)")
    texts = _texts(fig)
    assert "J = ∂s/∂z" in texts and "s ⊙ (g − ⟨g, s⟩)" in texts
    # The Hadamard row differs from gᵀJ, the rule's row equals it; both say so upright.
    assert texts.count("≠") == 1 and texts.count("=") >= 3
    assert all(t.get_rotation() == 0 for t in ax.texts)
    assert any("s ⊙ (g − ⟨g, s⟩) takes 2n = 8 multiplications" in t for t in texts)
    assert _fits(fig)
    with pytest.raises(ValueError, match="the shortcut's values have shape \\(3,\\)"):
        plot_collapse(jac.softmax.jacobian(z), g, shortcut=("r", np.ones(3), "n"))


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
    fig = plot_chain(_graph("Q0"), "W", upstream="ŷ")        # n, m, p = 4, 3, 2
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title() == ("∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W\n"
                                       "shapes (4,) · (4, 4, 2) · (4, 2, 3, 2) → (3, 2)")
    texts = _texts(fig)
    # Each box: name, shape, order, then its index form in the formulas' letters.
    for box in (["∂l/∂ŷ", "(4,)", "order 1", "∂l/∂ŷ_c", "(upstream gradient)"],
                ["∂ŷ/∂H", "(4, 4, 2)", "order 3", "∂ŷ_a/∂H_cd", "= δ_ac v_d"],
                ["∂H/∂W", "(4, 2, 3, 2)", "order 4", "∂H_ab/∂W_cd", "= X_ac δ_bd"],
                ["∂l/∂W", "(3, 2)", "order 2", "∂l/∂W_cd", ""]):
        at = texts.index(box[0])
        assert texts[at:at + 5] == box
    # Above each ·, the variable the contraction sums over and the terms of each sum.
    assert "① Σ over ŷ\n4 terms" in texts and "② Σ over H\n8 terms" in texts
    # The steps' einsums in the letters of each step's local Jacobian.
    assert any("einsum('a,acd->cd')" in t for t in texts)
    assert any("einsum('ab,abcd->cd')" in t for t in texts)
    # No letter of opt_einsum's own (∂H_de/∂W_fg) anywhere.
    assert not any(re.search(r"_(de|fg)\b", t) for t in texts)
    # The model's equations define every node the figure names.
    assert "the model:   H = X W,   ŷ = H v,   r = ŷ − y,   r² = r ⊙ r,   s = Σ r²,   l = 0.5 s" \
        in texts
    assert _fits(fig)


def test_plot_chain_names_the_nodes_as_told_or_by_what_they_compute():
    q = QUESTIONS["Q1"]
    texts = _texts(plot_chain(trace_graph(q.function, *q.args()), "W", names={"xW": "z"}))
    assert "∂f/∂z" in texts and "∂z_a/∂W_cd" in texts and not any("xW" in t for t in texts)
    assert "the model:   z = x W,   f = z + b,   L = f y" in texts
    unnamed = trace_graph(lambda W, X: jac.sum(jac.square(jac.sigmoid(X @ W))), np.ones((3, 2)),
                          np.ones((4, 3)))
    fig = plot_chain(unnamed, "W")
    texts = _texts(fig)
    # Not ∂sum/∂square: each unnamed node is written as what it computes, when that is short.
    assert "∂σ(X W)/∂(X W)" in texts and "∂(X W)/∂W" in texts
    assert fig.axes[0].get_title().startswith("∂sum/∂W = ∂sum/∂σ(X W)² · ∂σ(X W)²/∂σ(X W)")
    # A longer one keeps its traced name, and the equations say what it is.
    assert any("sum = Σ σ(X W)²" in t for t in texts)


def test_plot_chain_sums_the_paths_of_a_shared_variable():
    fig = plot_chain(_graph("Q2", K=3), "A", title="Q2")
    title = fig.axes[0].get_title()
    assert title.startswith("Q2\n∂L/∂A: A is read by w, z, y, so the chain is a sum over 3 "
                            "paths")
    texts = _texts(fig)
    assert "sum of 3 paths" in texts and texts.count("+") == 2
    # Every local Jacobian on a path is drawn once: the shared ∂L/∂w² and ∂w²/∂w too.
    for name in ("∂L/∂w²", "∂w²/∂w", "∂w/∂A", "∂w/∂z", "∂z/∂A", "∂z/∂s", "∂s/∂u", "∂u/∂y",
                 "∂y/∂A"):
        assert texts.count(name) == 1, name
    assert sum("added to the sum" in t for t in texts) == 2
    # s and w² are defined, with the rest of the model.
    model = next(t for t in texts if t.startswith("the model:"))
    assert "s = u ⊙ v" in model and "w² = w ⊙ w" in model and "L = Σ w²" in model
    assert _fits(fig)


def _renamed(spec, other):
    """Whether two einsums are the same up to a one-to-one renaming of their letters."""
    if len(spec) != len(other):
        return False
    pairs = set(zip(spec, other))
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


@pytest.mark.parametrize("order", ["reverse", "forward", "optimal"])
def test_plot_chain_lists_the_plan_of_each_order(order):
    graph = _graph("Q0")
    plan = naive_plan(graph, graph.inputs[0], order)
    texts = _texts(plot_chain(graph, order=order))
    listed = [m.group(1) for t in texts for m in [re.search(r"einsum\('([^']*)'\)", t)] if m]
    specs = [step.spec for step in plan.steps if step.spec is not None]
    assert len(listed) == len(specs)
    for spec, shown in zip(specs, listed):
        assert _renamed(spec, shown), (spec, shown)


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


def _inside(fig, ax):
    """Whether every text drawn in ``ax`` lies inside it, and its title clear of other axes."""
    fig.draw_without_rendering()
    box = ax.get_window_extent()
    inside = all(box.x0 - 1 <= t.x0 and t.x1 <= box.x1 + 1 and box.y0 - 1 <= t.y0 and
                 t.y1 <= box.y1 + 1 for t in (text.get_window_extent() for text in ax.texts))
    title = ax.title.get_window_extent()
    clear = not any(title.overlaps(other.get_window_extent()) for other in fig.axes
                    if other is not ax)
    return inside and clear


def _overlapping(ax):
    """Pairs of texts in ``ax`` that overlap (a "·" sits on its line, so it is left out)."""
    boxes = [(t.get_text(), t.get_window_extent().shrunk(0.95, 0.9)) for t in ax.texts
             if t.get_text().strip() not in ("·", "=", "+", "")]
    return [(a, b) for k, (a, first) in enumerate(boxes) for b, second in boxes[k + 1:]
            if first.overlaps(second)]


@pytest.mark.parametrize("size", [(12, 4), (7, 7)])
def test_plot_chain_fits_inside_a_subplots_grid(size):
    fig, axes = plt.subplots(1, 2, figsize=size, layout="constrained")
    try:
        assert plot_chain(_graph("Q1"), "W", ax=axes[0]) is fig
        assert plot_chain(_graph("Q2"), "A", upstream="w", ax=axes[1]) is fig
        for ax in axes:
            assert _inside(fig, ax)
            assert not _overlapping(ax)
    finally:
        plt.close(fig)


def test_plot_chain_texts_do_not_overprint():
    for graph, source, upstream in ((_graph("Q0"), "W", None), (_graph("Q2"), "A", None)):
        ax = plot_chain(graph, source, upstream=upstream).axes[0]
        ax.figure.draw_without_rendering()
        assert not _overlapping(ax)


def test_plot_chain_draws_reproducibly():
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


def test_plot_chain_numbers_steps_past_ten_in_glyphs_the_font_has():
    """DejaVu Sans stops at ⑩: the eleventh step on is written "11.", not an empty box."""
    graph = _graph("Q3")
    # W1 to C, by hand: W1x, z1, a1, W2a1, z2, a2, W3a2, z3, a3, r, r², s, C read in turn,
    # 13 local Jacobians, so 12 contractions between them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = plot_chain(graph, "W1")
        _png(fig)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    texts = _texts(fig)
    tags = [t for t in texts if (t and t in "①②③④⑤⑥⑦⑧⑨⑩") or re.fullmatch(r"\d+\.", t)]
    assert tags == list("①②③④⑤⑥⑦⑧⑨⑩") + ["11.", "12."]
    assert sum(t.startswith(("11. ", "12. ")) for t in texts) == 2    # above the junctions too


def test_plot_chain_refuses_a_name_the_graph_lacks():
    with pytest.raises(ValueError, match="names renames typo, which the graph does not have; "
                                         "its nodes are W, x, b, y, xW, f, L"):
        plot_chain(_graph("Q1"), "W", names={"typo": "z"})


# ----------------------------------------------------------------------------
# What every plot function shares
# ----------------------------------------------------------------------------
PLOTS = [jac.plot_shape, jac.plot_sparsity, jac.plot_collapse, jac.plot_chain, jac.plot_graph,
         jac.plot_sweep, jac.plot_cost_bars, jac.plot_cost_growth]
_Z = np.array([-2.0, 0.0, 1.5])
_J = jac.sigmoid.jacobian(_Z)


def _growth():
    return jac.sweep("Q0", [4, 8], measure_time=False, progress=False)


def _draws(growth):
    """Each plot function, by name, as ``draw(names, **keywords)``, and names it can take."""
    q = QUESTIONS["Q0"]
    return {
        "plot_shape": (lambda names, **k: plot_shape(_J, 1, names=names, **k), ("u", "z")),
        "plot_sparsity": (lambda names, **k: plot_sparsity(_J, 1, names=names, **k),
                          ("u", "z")),
        "plot_collapse": (lambda names, **k: plot_collapse(_J, np.array([1.0, -0.5, 2.0]),
                                                           names=names, **k), ("u", "z")),
        "plot_chain": (lambda names, **k: plot_chain(_graph("Q0"), "W", names=names, **k),
                       {"ŷ": "u"}),
        "plot_graph": (lambda names, **k: jac.plot_graph(q.function, *q.args(), wrt=0,
                                                         names=names, **k), {"ŷ": "u"}),
        "plot_sweep": (lambda names, **k: jac.plot_sweep(q.function, *q.args(), names=names,
                                                         **k), {"ŷ": "u"}),
        "plot_cost_bars": (lambda names, **k: jac.plot_cost_bars(["Q0", "Q1"], names=names,
                                                                 **k), {"Q0": "u"}),
        "plot_cost_growth": (lambda names, **k: jac.plot_cost_growth(
            growth, names=names, **({"quantity": "bytes"} if "ax" in k else {}), **k),
            {"Q0": "u"}),
    }


def _title(fig):
    """The figure's title: its suptitle, or its first axes' title."""
    return fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()


def test_every_plot_takes_the_same_keywords():
    for plot in PLOTS:
        parameters = inspect.signature(plot).parameters
        assert {"names", "title", "ax", "dpi"} <= set(parameters), plot.__name__
        assert parameters["dpi"].default == DPI == 150, plot.__name__
    for name, (draw, names) in _draws(_growth()).items():
        plain, fig = draw(None), draw(names, title="a title", dpi=72)
        # title= is a first line above the figure's own title, which stays.
        assert _title(fig).startswith("a title\n"), name
        assert fig.dpi == 72 and plain.dpi == 150, name
        # names= shows "u" where the figure would show the name it replaces.
        texts = [t.get_text() for ax in fig.axes for t in
                 ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label] + ax.get_xticklabels() +
                 [label for child in ax.child_axes for label in child.get_xticklabels()]]
        texts.append(_title(fig))
        assert any(re.search(r"(^|[^\w])u([^\w]|$)", t) for t in texts), name
        if isinstance(names, dict):     # a name the figure lacks is refused, naming those it has
            with pytest.raises(ValueError, match="names renames typo, which"):
                draw({"typo": "u"})


def test_text_reads_on_a_projector():
    """No text under 8 points as drawn, and a new figure is drawn at 150 dpi."""
    for name, (draw, _) in _draws(_growth()).items():
        fig = draw(None)
        fig.draw_without_rendering()
        assert fig.dpi == 150
        sizes = [t.get_fontsize() for ax in fig.axes for t in
                 ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label] +
                 ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
        assert min(sizes) >= 8, (name, min(sizes))


def _drawn_texts(fig, monkeypatch):
    """Every text drawn when ``fig`` is saved, with its box in pixels.

    Recorded as Text.draw runs, so that what is counted is what reaches the picture: no
    tick label outside the view, no text left out for being too small.
    """
    drawn = []
    original = matplotlib.text.Text.draw

    def recording(text, renderer):
        original(text, renderer)
        if text.get_visible() and text.get_text().strip():
            drawn.append((text.get_text(), text.get_window_extent(renderer)))

    monkeypatch.setattr(matplotlib.text.Text, "draw", recording)
    fig.canvas.draw()       # at the figure's own dpi, the pixels the cells are measured in
    monkeypatch.undo()
    return drawn


def _cells(fig, rows, columns):
    """The panels of a rows × columns grid, in pixels: the figure cut into equal cells."""
    width, height = fig.bbox.width, fig.bbox.height
    return [matplotlib.transforms.Bbox.from_extents(
        c * width / columns, (rows - r - 1) * height / rows, (c + 1) * width / columns,
        (rows - r) * height / rows) for r in range(rows) for c in range(columns)]


def _overprinted(drawn):
    """Pairs of drawn texts whose boxes overlap by more than a pixel each way."""
    return [(a, b) for k, (a, first) in enumerate(drawn) for b, second in drawn[k + 1:]
            if min(first.x1, second.x1) - max(first.x0, second.x0) > 1
            and min(first.y1, second.y1) - max(first.y0, second.y0) > 1]


@pytest.mark.parametrize("layout", [None, "constrained"])
@pytest.mark.parametrize("name", [plot.__name__ for plot in PLOTS])
def test_every_plot_keeps_its_text_inside_its_panel(name, layout, monkeypatch):
    """Four copies in a 2 × 2 grid: every text inside its own cell, none on another."""
    draw, names = _draws(_growth())[name]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout=layout)
    try:
        for ax in axes.flat:
            draw(names, title="a title", ax=ax)
        drawn = _drawn_texts(fig, monkeypatch)
    finally:
        plt.close(fig)
    cells = _cells(fig, 2, 2)
    for text, box in drawn:
        x, y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        cell = next(c for c in cells if c.x0 <= x <= c.x1 and c.y0 <= y <= c.y1)
        assert cell.x0 - 1 <= box.x0 and box.x1 <= cell.x1 + 1 and \
            cell.y0 - 1 <= box.y0 and box.y1 <= cell.y1 + 1, (text, box, cell)
    assert len(drawn) > 4 * 3
    assert not _overprinted(drawn)


def test_the_reviewers_pairs_no_longer_overprint(monkeypatch):
    """Two collapses side by side and an order-4 Jacobian in a 2 × 2 grid, as reported."""
    z, g = np.array([1.5, -0.5, 0.3, 2.0]), np.array([0.9, -1.2, 0.5, 1.1])
    rule = ("s ⊙ (g − ⟨g, s⟩)", jac.softmax.vjp(g, z), "2n = 8 multiplications")
    for layout in (None, "constrained"):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout=layout)
        plot_collapse(jac.tanh.jacobian(z), g, ax=axes[0])
        plot_collapse(jac.softmax.jacobian(z), g, shortcut=rule, ax=axes[1])
        pair = _drawn_texts(fig, monkeypatch)
        plt.close(fig)
        fig, axes = plt.subplots(2, 2, figsize=(14, 10), layout=layout)
        plot_shape(np.random.default_rng(0).standard_normal((4, 5, 4, 3)), 2, ax=axes[1, 1])
        plot_sparsity(jac.softmax.jacobian(np.ones((3, 4))), 2, ax=axes[0, 1], values=True)
        grid = _drawn_texts(fig, monkeypatch)
        plt.close(fig)
        for drawn in (pair, grid):
            assert not _overprinted(drawn), layout
        # Each collapse keeps to its half of the figure.
        assert all(box.x1 <= 600 + 1 or box.x0 >= 600 - 1 for _, box in pair), layout


def test_every_plot_saves_as_svg_reproducibly():
    def svg(fig):
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "test"}):
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        return buffer.getvalue()

    growth = _growth()
    first, second = ([svg(draw(None)) for draw, _ in _draws(growth).values()] for _ in range(2))
    assert first == second
    for data in first:
        assert data.startswith(b"<?xml") and b"<svg" in data
