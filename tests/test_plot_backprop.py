"""The graph, the sweep and the cost bars: what they draw, where, and the same every time."""
import io
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.cost import scaled_sizes  # noqa: E402
from jacobians.examples import FIVE, QUESTIONS  # noqa: E402
from jacobians.figures import regenerate  # noqa: E402
from jacobians.limits import format_bytes  # noqa: E402
from jacobians.plot import plot_chain  # noqa: E402
from jacobians.plot_backprop import plot_cost_bars, plot_graph, plot_sweep  # noqa: E402
from jacobians.structure import as_matrix, local_structure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PNG = {"format": "png", "dpi": 40, "metadata": {"Software": None}}
Q0, Q2 = QUESTIONS["Q0"], QUESTIONS["Q2"]
N, M, P = Q0.sizes["n"], Q0.sizes["m"], Q0.sizes["p"]      # 4, 3, 2: X is n×m, W is m×p


@pytest.fixture(autouse=True)
def no_open_figures():
    """The functions make figures pyplot does not track; anything it holds was opened here."""
    yield
    assert plt.get_fignums() == [], "a plot function left a pyplot figure open"


# Each function, drawing into ax (a new figure when None).
DRAWS = {
    "graph": lambda ax=None: plot_graph(Q0.function, *Q0.args(), wrt=0, ax=ax),
    "sweep": lambda ax=None: plot_sweep(Q0.function, *Q0.args(), ax=ax),
    "bars": lambda ax=None: plot_cost_bars(["Q0", "Q1"], ax=ax),
}


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _gids(fig, prefix):
    return sorted(p.get_gid() for ax in fig.axes for p in ax.patches
                  if (p.get_gid() or "").startswith(prefix))


def _edge_labels(fig):
    """``{"∂H/∂W  order 4": "X ⊗ I₂", …}``: each edge label's first line and its second."""
    texts = _texts(fig)
    return {head: tag for head, tag in zip(texts, texts[1:]) if head.startswith("∂")}


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, **PNG)
    return buffer.getvalue()


# --- all three ------------------------------------------------------------------------
@pytest.mark.parametrize("name", DRAWS)
def test_each_returns_a_figure_that_pyplot_does_not_hold(name):
    fig = DRAWS[name]()
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_title()


@pytest.mark.parametrize("name", DRAWS)
def test_each_draws_into_one_ax_of_a_subplots_grid_with_its_fonts_scaled(name):
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    try:
        assert DRAWS[name](ax=axes[1, 0]) is fig
        assert axes[1, 0].texts and axes[1, 0].patches
        assert not (axes[0, 0].texts or axes[0, 0].patches or axes[1, 1].texts)
        # The panel is smaller than the figure the function makes: every font shrinks with it.
        alone = max(t.get_fontsize() for t in DRAWS[name]().axes[0].texts)
        assert max(t.get_fontsize() for t in axes[1, 0].texts) < alone
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", DRAWS)
def test_each_renders_the_same_png_bytes_twice(name):
    assert _png(DRAWS[name]()) == _png(DRAWS[name]())


def test_the_registered_figures_are_written_byte_for_byte_the_same(tmp_path):
    names = ["q0_graph.png", "q2_graph.png", "q0_sweep.png", "naive_vs_vjp_bars.png"]
    first, second = regenerate(tmp_path / "a", names), regenerate(tmp_path / "b", names)
    assert [p.name for p in first] == names
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_importing_jacobians_does_not_import_matplotlib():
    code = "import sys, jacobians; print('matplotlib' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert run.stdout.strip() == "False", run.stderr


# --- the graph ------------------------------------------------------------------------
def test_the_graph_names_nodes_and_labels_only_the_edges_the_derivative_needs():
    fig = DRAWS["graph"]()
    texts = _texts(fig)
    for name in ("W", "X", "v", "y", "H", "ŷ", "r", "r²", "s", "l"):
        assert name in texts
    assert {f"  {(M, P)}", f"  {(N, M)}", f"  {(N, P)}", "  ()"} <= set(texts)
    assert {"input", "matmul(X, W)", "subtract(ŷ, y)", "multiply(0.5, s)"} <= set(texts)
    # The 0.5 of l = 0.5·s is named in its reader, not drawn.
    assert "node 0.5" not in _gids(fig, "node")
    assert _gids(fig, "edge") == ["edge H→ŷ 0", "edge W→H 1", "edge X→H 0", "edge r²→s 0",
                                  "edge r→r² 0", "edge s→l 1", "edge v→ŷ 1", "edge y→r 1",
                                  "edge ŷ→r 0"]
    # Only edges on W's paths to l carry a Jacobian: X, v and y need none.
    assert _edge_labels(fig) == {
        "∂H/∂W  order 4": "X ⊗ I₂", "∂ŷ/∂H  order 3": "block-diagonal",
        "∂r/∂ŷ  order 2": "identity", "∂r²/∂r  order 2": "diagonal",
        "∂s/∂r²  order 1": "dense", "∂l/∂s  order 0": "scalar"}


def test_every_input_is_differentiated_when_wrt_is_none():
    labels = _edge_labels(plot_graph(Q0.function, *Q0.args()))
    assert labels["∂H/∂X  order 4"] == "block-diagonal"
    assert labels["∂ŷ/∂v  order 2"] == "dense"
    assert labels["∂r/∂y  order 2"] == "diagonal"
    assert len(labels) == 9


def test_a_value_read_three_times_has_three_out_edges():
    fig = plot_graph(Q2.function, *Q2.args(), wrt=Q2.wrt)
    assert _gids(fig, "edge A→") == ["edge A→w 0", "edge A→y 0", "edge A→z 0"]
    labels = _edge_labels(fig)
    for child in ("y", "z", "w"):
        assert labels[f"∂{child}/∂A  order 3"] == "block-diagonal"


def test_a_traced_graph_is_drawn_as_it_is_and_names_replace_traced_names():
    graph = jac.trace_graph(lambda X, W: jac.sum(jac.sigmoid(X @ W)), np.ones((4, 3)),
                            np.ones((3, 2)))
    fig = plot_graph(graph, wrt=1, names={"matmul": "Z"})
    texts = _texts(fig)
    assert "Z" in texts and "matmul" not in texts and "sigmoid(Z)" in texts
    labels = _edge_labels(fig)
    assert labels["∂Z/∂W  order 4"] == "X ⊗ I₂"
    # The unnamed sigmoid is named by what it computes, as plot_chain names it.
    assert labels["∂σ(Z)/∂Z  order 4"] == "diagonal"


def test_an_array_constant_is_drawn_faint_and_a_value_read_twice_has_two_edges():
    X = np.arange(12.0).reshape(4, 3)

    def f(W):
        H = np.tanh(X @ W)
        return np.sum(H * H)

    fig = plot_graph(f, np.ones((3, 2)))
    assert _gids(fig, "node const") == ["node const"]
    # X @ W is short enough to be named by what it computes; tanh of it and H * H are not.
    assert _gids(fig, "edge const→") == ["edge const→(const W) 0"]
    assert _gids(fig, "edge tanh→") == ["edge tanh→multiply 0", "edge tanh→multiply 1"]
    labels = _edge_labels(fig)
    assert not any(head.startswith("∂(const W)/∂const") for head in labels)
    assert labels["∂multiply/∂tanh (argument 0)  order 4"] == "diagonal"
    assert labels["∂multiply/∂tanh (argument 1)  order 4"] == "diagonal"


def test_a_function_that_returns_its_input_is_one_node_without_edges():
    fig = plot_graph(lambda x: x, np.ones(3))
    assert _gids(fig, "node") == ["node x"] and _gids(fig, "edge") == []


def test_plot_graph_refuses_a_graph_with_arguments_and_names_it_lacks():
    graph = jac.trace_graph(lambda x: jac.sum(x), np.ones(3))
    with pytest.raises(TypeError, match="not a graph with arguments"):
        plot_graph(graph, np.ones(3))
    with pytest.raises(ValueError, match="names renames nope, which the graph does not have"):
        plot_graph(graph, names={"nope": "z"})


def test_the_graph_names_unnamed_nodes_as_the_chain_does_and_shows_parameters():
    graph = jac.trace_graph(lambda A, X: jac.sum(jac.tanh(A @ (A @ X))), np.ones((3, 3)),
                            np.ones((3, 2)))
    labels = _edge_labels(plot_graph(graph))
    # The two unnamed matmuls, A X and A (A X), by what they compute, not ∂matmul2/∂matmul.
    assert labels["∂(A (A X))/∂(A X)  order 4"] == "A ⊗ I₂"
    assert labels["∂(A X)/∂X  order 4"] == "A ⊗ I₂"
    assert not any("matmul" in head for head in labels)
    chain = [t.get_text() for t in plot_chain(graph, "X").axes[0].texts]
    assert "∂(A (A X))/∂(A X)" in chain
    # An op's parameters, where they change what it computes.
    texts = _texts(plot_graph(lambda Z: jac.sum(jac.max(Z, axis=1)), np.ones((2, 3))))
    assert "max(Z, axis=1)" in texts


def test_the_sweep_refuses_a_function_with_nothing_to_sweep():
    with pytest.raises(ValueError, match=r"\(Σ x\) does not depend on y: the sweep has no edge"):
        plot_sweep(lambda x, y: np.sum(x), np.ones(3), np.ones(3), wrt=1)
    with pytest.raises(ValueError, match="x is the output itself: there is no sweep to draw"):
        plot_sweep(lambda x: x, np.ones(()))
    with pytest.raises(ValueError, match="names renames typo, which the graph does not have; "
                                         "its nodes are W, X, v, y, H"):
        plot_sweep(Q0.function, *Q0.args(), names={"typo": "z"})


def test_the_sweep_shows_the_names_it_is_given():
    texts = _texts(plot_sweep(Q0.function, *Q0.args(), names={"H": "Z"}))
    assert "g_W = Xᵀ g_Z" in texts and "∂Z_ab/∂W_cd = X_ac δ_bd" in texts
    assert not any("g_H" in t for t in texts)


# --- the structure of a local Jacobian, against the dense check -------------------------
def _question_edges():
    """Every local Jacobian of every question, one test case each."""
    graphs = {key: jac.trace_graph(q.function, *q.args()) for key, q in QUESTIONS.items()}
    return [pytest.param(node.derivative(k), id=f"{key} ∂{node.name}/∂{parent.name}")
            for key, graph in graphs.items() for node in graph.nodes
            for k, parent in enumerate(node.parents)]


@pytest.mark.parametrize("derivative", _question_edges())
def test_the_structure_read_off_the_term_is_the_dense_arrays(derivative):
    kind, _ = local_structure(derivative)
    if not derivative.order:
        assert kind == "scalar"
    else:
        assert kind == jac.structure(derivative.materialise(), len(derivative.out_shape)).kind


_RNG = np.random.default_rng(0)
_X, _Y, _V, _S = (_RNG.standard_normal(s) for s in ((3, 4), (3, 4), (4,), (4, 4)))
OPS = {
    "reshape": lambda: jac.reshape.derivative(_X, (4, 3)),
    "expand_dims": lambda: jac.expand_dims.derivative(_X, 0),
    "transpose": lambda: jac.transpose.derivative(_X),
    "sum over rows": lambda: jac.sum.derivative(_X, axis=0),
    "sum over columns": lambda: jac.sum.derivative(_X, axis=1, keepdims=True),
    "sum of all": lambda: jac.sum.derivative(_X),
    "mean": lambda: jac.mean.derivative(_X, axis=1),
    "broadcast_to": lambda: jac.broadcast_to.derivative(_V, (3, 4)),
    "a column": lambda: jac.getitem.derivative(_X, (slice(None), 0)),
    "reversed": lambda: jac.getitem.derivative(_V, slice(None, None, -1)),
    "all of it": lambda: jac.getitem.derivative(_V, slice(None)),
    "trace": lambda: jac.trace.derivative(_S),
    "outer": lambda: jac.outer.derivative(_V, _V, wrt=0),
    "multiply": lambda: jac.multiply.derivative(_X, _Y, wrt=0),
    "multiply by a row": lambda: jac.multiply.derivative(_X, _V, wrt=1),
    "negative": lambda: jac.negative.derivative(_X),
    "softmax of rows": lambda: jac.softmax.derivative(_X),
    "max of rows": lambda: jac.max.derivative(_X, axis=1),
    "relu": lambda: jac.relu.derivative(_X),
    "einsum": lambda: jac.einsum.derivative("ij,jk->ik", _X, _S, wrt=0),
    "norm": lambda: jac.norm.derivative(_V),
}


@pytest.mark.parametrize("op", OPS)
def test_the_structure_of_an_op_read_off_its_term_is_the_dense_arrays(op):
    derivative = OPS[op]()
    dense = jac.structure(derivative.materialise(), len(derivative.out_shape))
    assert local_structure(derivative)[0] == dense.kind


def test_where_the_term_proves_no_kind_the_answer_is_still_true():
    # A concatenation's selection is a Kronecker product in its values; the term says sparse.
    derivative = jac.concatenate.derivative(_X, _Y, wrt=0)
    J = derivative.materialise()
    assert jac.structure(J, 2).kind == "Kronecker"
    assert local_structure(derivative) == ("sparse", "")
    assert 0 < np.count_nonzero(J) < J.size


def test_named_kronecker_factors_are_the_matrix_flattened_row_major():
    X, W, x, W1 = _X, _RNG.standard_normal((4, 2)), _V, _RNG.standard_normal((4, 5))
    cases = [
        (jac.matmul.derivative(X, W, wrt=1, names=("X", "W", "H")), "X ⊗ I₂",
         np.kron(X, np.eye(2))),
        (jac.matmul.derivative(x, W1, wrt=1, names=("x", "W", "z")), "xᵀ ⊗ I₅",
         np.kron(x[None, :], np.eye(5))),
        (jac.sum.derivative(X, axis=0), "1₃ᵀ ⊗ I₄", np.kron(np.ones((1, 3)), np.eye(4))),
        (jac.add.derivative(X, x, wrt=1), "1₃ ⊗ I₄", np.kron(np.ones((3, 1)), np.eye(4))),
    ]
    for derivative, name, kron in cases:
        assert local_structure(derivative) == ("Kronecker", name)
        assert np.array_equal(as_matrix(derivative.materialise(), len(derivative.out_shape)),
                              kron)


# --- the sweep ------------------------------------------------------------------------
def test_the_sweep_sets_each_local_jacobian_beside_its_cotangent():
    texts = _texts(DRAWS["sweep"]())
    # The naive column: ∂H/∂W with its shape, order, structure, size and statement.
    assert {"∂H/∂W", f"  {(N, P, M, P)}", "order 4, X ⊗ I₂: 48 entries, 384 B",
            "∂H_ab/∂W_cd = X_ac δ_bd"} <= set(texts)
    assert {"∂ŷ/∂H", "order 3, block-diagonal: 32 entries, 256 B"} <= set(texts)
    # The VJP column: what is computed instead, and its size.
    assert {"g_W = Xᵀ g_H", "(3, 2), 6 entries, 48 B", "g_H = g_ŷ vᵀ",
            "(4, 2), 8 entries, 64 B", "seed: g_l = 1, shape ()"} <= set(texts)
    # Totals by hand: ∂l/∂s, ∂s/∂r², ∂r²/∂r, ∂r/∂ŷ, ∂ŷ/∂H, ∂H/∂W against g_s … g_W.
    built = 1 + N + N * N + N * N + N * N * P + N * P * M * P
    carried = 1 + N + N + N + N * P + M * P
    assert f"built in all: {built} entries, {format_bytes(8 * built)}" in texts
    assert f"computed in all: {carried} entries, {format_bytes(8 * carried)}" in texts
    cost = jac.model_cost(Q0.function, Q0.args(), 0)
    assert 8 * built == cost.naive_local_bytes
    assert f"{cost.naive_reverse_flops:,} FLOPs (reverse order)" in texts
    # 0.5 g_l, g_r² ⊙ 2r (2n), g_ŷ vᵀ (n·p), Xᵀ g_H (2·n·m·p); the rest only pass g on.
    assert f"{1 + 2 * N + N * P + 2 * N * M * P} FLOPs" in texts


def test_the_sweep_shows_where_a_cotangent_is_added_to():
    texts = _texts(plot_sweep(Q2.function, *Q2.args(K=3), wrt=0))
    assert [t for t in texts if t.startswith("g_A ")] == [
        "g_A = g_w zᵀ", "g_A += g_z sᵀ", "g_A += g_y xᵀ"]


# --- the cost bars --------------------------------------------------------------------
def _bars(fig):
    return {p.get_gid(): p.get_height() for p in fig.axes[0].patches if p.get_gid()}


def test_the_bars_are_the_counts_of_model_cost_and_labelled_with_them():
    fig = plot_cost_bars()
    bars, texts = _bars(fig), _texts(fig)
    assert len(bars) == 4 * len(FIVE)
    for key in FIVE:  # the five questions; the CNN is drawn only when asked for
        q = QUESTIONS[key]
        cost = jac.model_cost(q.function, q.args(), q.wrt)
        assert bars[f"{key} naive bytes"] == cost.naive_bytes
        assert bars[f"{key} VJP bytes"] == cost.vjp_bytes
        assert bars[f"{key} naive FLOPs"] == cost.naive_reverse_flops
        assert bars[f"{key} VJP FLOPs"] == cost.vjp_flops
        assert format_bytes(cost.naive_bytes) in texts
    # By hand, Q0's sweep: 0.5 g_l, g_r² ⊙ 2r, g_ŷ vᵀ and Xᵀ g_H.
    assert bars["Q0 VJP FLOPs"] == 1 + 2 * N + N * P + 2 * N * M * P == 65
    assert fig.axes[0].get_yscale() == "log"
    assert "each question at its own sizes" in fig.axes[0].get_title()


def test_the_bars_at_one_size_for_every_question():
    fig = plot_cost_bars(["Q0", "Q3"], size=8)
    bars = _bars(fig)
    assert sorted(bars) == ["Q0 VJP FLOPs", "Q0 VJP bytes", "Q0 naive FLOPs", "Q0 naive bytes",
                            "Q3 VJP FLOPs", "Q3 VJP bytes", "Q3 naive FLOPs", "Q3 naive bytes"]
    for key in ("Q0", "Q3"):
        q = QUESTIONS[key]
        cost = jac.model_cost(q.function, q.args(**{**q.sizes, **scaled_sizes(key, 8)}), q.wrt)
        assert bars[f"{key} naive bytes"] == cost.naive_bytes
        assert bars[f"{key} VJP FLOPs"] == cost.vjp_flops
    assert bars["Q0 VJP FLOPs"] == 1 + 2 * 8 + 8 * 8 + 2 * 8 ** 3
    assert "N = 8" in fig.axes[0].get_title()


def test_a_bar_past_a_thousand_tera_is_labelled_in_peta():
    from jacobians.cost import _count
    # Q0's naive chain at n = m = p = 16384: 2 n p m p = 2 N⁴ FLOPs by hand, 1.44e17; the
    # bars are labelled by the cost table's own formatter (drawing them would trace Q0 on
    # 2 GiB arrays).
    assert _count(2 * 16384 ** 4) == "144P"
    texts = _texts(plot_cost_bars(["Q0"], size=32))
    n = 32  # Q0's VJP FLOPs by hand: 1 + 2n + n·p + 2·n·m·p
    assert _count(1 + 2 * n + n * n + 2 * n ** 3) == "66,625" and "66,625" in texts


def test_cost_bars_show_the_names_they_are_given():
    fig = plot_cost_bars(["Q0", "Q1"], names={"Q0": "MLP"})
    below = [t.get_text() for ax in fig.axes[0].child_axes for t in ax.get_xticklabels()]
    assert [t.split("\n")[0] for t in below] == ["MLP", "Q1"]
    with pytest.raises(ValueError, match="names renames Q3, which is not drawn; the questions "
                                         "drawn are Q0, Q1"):
        plot_cost_bars(["Q0", "Q1"], names={"Q3": "x"})


def test_cost_bars_refuse_what_is_not_a_question():
    with pytest.raises(ValueError, match="keys of QUESTIONS"):
        plot_cost_bars(["Q9"])
    with pytest.raises(ValueError, match="keys of QUESTIONS"):
        plot_cost_bars([])
