"""The cost model on counts done by hand, and on growth rates.

The counts follow the one FLOP convention of ``jacobians.abstract``: one per
entry of an elementwise operation or of a reduction's input, two per term of
a summed product (``X @ W``: 2·n·m·p). That the model counts exactly what
``grad`` and ``jacobian`` perform is held in test_sweep.py, against a counter
written there afresh. No test asserts a wall time: timings are only checked
to exist, and the sizes that would not fit in memory to be skipped rather
than crash.
"""
import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.__main__ import main  # noqa: E402
from jacobians.cost import (SERIES, CostRow, cost_row, cost_table, log_log_slope,  # noqa: E402
                            measure, model_cost, scaled_sizes, sweep)
from jacobians.examples import QUESTIONS  # noqa: E402
from jacobians.plot_cost import plot_cost_growth  # noqa: E402


def _sum_of_matmul(W, X):
    return jac.sum(X @ W)


def test_a_single_matmul_counted_by_hand():
    n, m, p = 5, 3, 2
    W, X = np.ones((m, p)), np.ones((n, m))
    cost = model_cost(_sum_of_matmul, (W, X))
    # Local Jacobians: ∂s/∂H (shape n×p) and ∂H_ab/∂W_cd = X_ac δ_bd (shape n×p×m×p).
    assert cost.naive_local_bytes == 8 * (n * p + n * p * m * p)
    # Reverse order: ∂s/∂H is passed on, then einsum('ab,abcd->cd'): a multiply and
    # an add for each of the n·p·m·p entries of ∂H/∂W. Building either costs nothing:
    # their coefficients are ones and X itself.
    assert cost.naive_reverse_flops == 2 * n * p * m * p
    # Forward order: ∂H/∂W is passed on, then ∂s/∂H · ∂H/∂W sums over its n·p rows.
    assert cost.naive_forward_flops == 2 * n * p * m * p
    # The VJP: sum's rule broadcasts g (a view), matmul's is Xᵀ g: 2·n·m·p.
    assert cost.vjp_flops == 2 * n * m * p
    # At its peak it holds, besides the caller's W and X, the forward values H and s,
    # the seed 1 (which g_H views), and g_W.
    assert cost.vjp_bytes == 8 * ((n * p + 1) + 1 + m * p)
    # The forward pass: X @ W, then the sum of its n·p entries.
    assert cost.forward_flops == 2 * n * m * p + n * p


def test_q0_counted_by_hand():
    n, m, p = 4, 3, 2
    q = QUESTIONS["Q0"]
    cost = model_cost(q.function, q.args(n=n, m=m, p=p), q.wrt)
    # l = ½ s, s = Σ r², r = ŷ − y, ŷ = H v, H = X W.  Local Jacobians on the path from W:
    # ∂l/∂s (1), ∂s/∂r² (n), ∂r²/∂r (n·n), ∂r/∂ŷ (n·n), ∂ŷ/∂H (n·n·p), ∂H/∂W (n·p·m·p).
    entries = 1 + n + n * n + n * n + n * n * p + n * p * m * p
    assert cost.naive_local_bytes == 8 * entries == 936
    # Reverse: ∂l/∂s passed on; ½ times ∂s/∂r² (n); 2r for ∂r²/∂r (n), then vector ×
    # matrix twice (2·n·n each); ∂l/∂H = 2·n·n·p and ∂l/∂W = 2·n·p·m·p.
    reverse = n + (n + 2 * n * n) + 2 * n * n + 2 * n * n * p + 2 * n * p * m * p
    assert cost.naive_reverse_flops == reverse == 232
    # Forward: ∂H/∂W passed on; ∂ŷ/∂W = ∂ŷ/∂H · ∂H/∂W is 2·n·(n·p)·(m·p); through r and
    # r² 2·n·n·(m·p) each (and 2r, n); Σ makes it 2·n·m·p, and the ½ scales m·p entries.
    forward = 2 * n * n * p * m * p + 2 * (2 * n * n * m * p) + n + 2 * n * m * p + m * p
    assert cost.naive_forward_flops == forward == 826
    # One path, ordered at best: as reverse order for a scalar loss.
    assert cost.naive_optimal_flops == reverse
    # VJP: ½·g (1); Σ broadcasts; 2r (n) then g ⊙ 2r (n); r = ŷ − y passes g on;
    # g_ŷ vᵀ (n·p); Xᵀ g_H (2·n·p·m).
    assert cost.vjp_flops == 1 + 2 * n + n * p + 2 * n * p * m == 65
    assert [(s.what, s.flops) for s in cost.vjp_steps] == [
        ("g_l → g_s", 1), ("g_s → g_r²", 0), ("g_r² → g_r", 2 * n), ("g_r → g_ŷ", 0),
        ("g_ŷ → g_H", n * p), ("g_H → g_W", 2 * n * m * p)]


@pytest.mark.parametrize("key", ["Q2", "Q3"])
def test_reverse_order_shares_one_plan_and_the_other_orders_have_one_each(key):
    q = QUESTIONS[key]
    graph = jac.trace_graph(q.function, *q.args())
    sources = [graph.inputs[i] for i in q.wrt]
    shared = jac.chain.naive_plans(graph, sources, "reverse")
    assert len(shared) == len(sources) and all(plan is shared[0] for plan in shared)
    for order in ("forward", "optimal"):
        plans = jac.chain.naive_plans(graph, sources, order)
        assert len({id(plan) for plan in plans}) == len(sources)
        assert [plan.shapes for plan in plans] == [(graph.output.shape + s.shape,)
                                                   for s in sources]


def test_q0_growth_rates():
    """n⁴ bytes for the naive chain, n² for the VJP sweep; forward order grows fastest."""
    slopes = sweep("Q0", [8, 16, 32, 64, 128], measure_time=False).slopes(start=32)
    assert slopes["naive bytes"] == pytest.approx(4, abs=0.05)
    assert slopes["VJP bytes"] == pytest.approx(2, abs=0.05)
    assert slopes["naive FLOPs, forward"] == pytest.approx(5, abs=0.05)
    assert slopes["naive FLOPs, reverse"] == pytest.approx(4, abs=0.05)
    assert slopes["VJP FLOPs"] == pytest.approx(3, abs=0.05)
    assert slopes["naive FLOPs, forward"] > slopes["naive FLOPs, reverse"] + 0.9


def test_log_log_slope_recovers_a_power_law():
    sizes = np.array([3.0, 7.0, 20.0])
    assert log_log_slope(sizes, 0.5 * sizes ** 2.5) == pytest.approx(2.5)


def test_too_large_is_skipped_with_a_note_and_still_counted():
    with jac.memory_limit(10_000):
        grown = sweep("Q0", [3, 8], repeat=1, progress=False)
    small, large = grown.rows
    assert small.measured.naive is not None and not small.note
    assert large.measured.naive is None and large.measured.time_ratio is None
    assert "memory limit" in large.note
    assert large.model.naive_bytes > 10_000 and large.model.naive_reverse_flops > 0
    assert large.measured.vjp.median > 0  # the VJP sweep still runs
    slopes = grown.slopes()
    assert "naive time" not in slopes and "VJP time" in slopes
    text = str(grown)
    assert "Q0 N=8: naive not run" in text and "—" in text


def test_a_progress_bar_only_on_request(capsys):
    sweep("Q1", [2, 3], measure_time=False, progress=True)
    assert "Q1 sweep" in capsys.readouterr().err
    sweep("Q1", [2, 3], measure_time=False)  # standard error is not a terminal here
    assert capsys.readouterr().err == ""


def test_measure_times_and_traces_both():
    W, X = np.ones((3, 2)), np.ones((4, 3))
    measured = measure(_sum_of_matmul, (W, X), repeat=2)
    assert measured.naive.q1 <= measured.naive.median <= measured.naive.q3
    assert measured.naive_peak > 0 and measured.vjp_peak > 0
    assert measured.time_ratio > 0


def test_inputs_are_not_modified():
    q = QUESTIONS["Q4"]
    args = q.args()
    copies = [np.copy(a) for a in args]
    model_cost(q.function, args, q.wrt)
    measure(q.function, args, q.wrt, repeat=1)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)


def test_rows_print_readably():
    row = cost_row("Q1", measure_time=False)
    assert isinstance(row, CostRow) and row.measured is None
    text = str(row)
    assert text.startswith("Q1 (m=3 k=10)") and "naive:" in text and "VJP:" in text
    table = cost_table([row]).splitlines()
    assert table[0].split()[:3] == ["model", "naive", "bytes"] and table[2].startswith("Q1")


@pytest.mark.parametrize("bad, message", [
    (lambda: cost_row("Q9"), "unknown question 'Q9'"),
    (lambda: scaled_sizes("Q0", 0), "positive integer"),
    (lambda: scaled_sizes("Q0", 2.5), "positive integer"),
    (lambda: scaled_sizes("Q0", True), "positive integer"),
    (lambda: sweep("Q0", [4, 4]), "at least two distinct sizes"),
    (lambda: sweep("Q0", [4, -8]), "positive integer"),
    (lambda: log_log_slope([1, 2], [0, 1]), "positive"),
    (lambda: model_cost(_sum_of_matmul, (np.ones((3, 2)), np.ones((4, 3))), wrt=5),
     "argument index"),
    (lambda: cost_row("Q0", measure_time=False).model.naive_flops("sideways"), "order"),
])
def test_bad_input_is_refused_clearly(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_every_series_is_read_from_rows():
    row = cost_row("Q0", measure_time=False)
    for name, read in SERIES.items():
        value = read(row)
        assert value is None or value > 0, name


# --- the figure ----------------------------------------------------------------

def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40, metadata={"Software": None})
    return buffer.getvalue()


@pytest.fixture(scope="module")
def measured_sweep():
    return sweep("Q0", [2, 4, 6], repeat=1, progress=False)


def test_the_figure_has_a_panel_per_quantity_and_slopes_in_its_legends(measured_sweep):
    fig = plot_cost_growth(measured_sweep)
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    assert [ax.get_title() for ax in fig.axes] == ["memory held", "arithmetic, counted",
                                                   "wall time, measured"]
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels and all("slope" in label for label in labels)


def test_the_figure_is_deterministic(measured_sweep):
    assert _png(plot_cost_growth(measured_sweep)) == _png(plot_cost_growth(measured_sweep))


def test_one_panel_into_given_axes(measured_sweep):
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_cost_growth(measured_sweep, ax=ax, quantity="flops") is fig
    assert ax.get_title() == "arithmetic, counted"
    with pytest.raises(ValueError, match="quantity="):
        plot_cost_growth(measured_sweep, ax=ax)
    with pytest.raises(ValueError, match="quantity must be"):
        plot_cost_growth(measured_sweep, quantity="joules")


# --- the command -----------------------------------------------------------------

def test_the_cost_command_prints_one_table_and_writes_the_figure(capsys, tmp_path):
    main(["cost", "--size", "3", "--sweep", "Q0", "--sizes", "2", "4", "--repeat", "1",
          "--out", str(tmp_path), "--quiet"])
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("model"))
    for column in ("naive bytes", "naive FLOPs fwd / rev / opt", "VJP FLOPs", "VJP bytes",
                   "naive time", "VJP time", "time ratio"):
        assert column in header
    table = lines[lines.index(header) + 2:lines.index(header) + 2 + len(QUESTIONS)]
    assert [line.split()[0] for line in table] == list(QUESTIONS)
    assert [line.split()[1] for line in lines if line.startswith("Q0 N=")] == ["N=2", "N=4"]
    assert any(line.startswith("log-log slope") for line in lines)
    assert (tmp_path / "cost_growth_Q0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_cost_command_counting_only(capsys, tmp_path):
    main(["cost", "--sweep", "--no-measure", "--no-figures", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "FLOP ratio" in out and "time" not in out.split("\n\n")[1]
    assert "log-log slope" not in out and list(tmp_path.iterdir()) == []
    for wrong in (["--sweep", "Q7"], ["--sizes", "8"], ["--size", "0"]):
        with pytest.raises(SystemExit):
            main(["cost", *wrong])


def test_the_tour(capsys):
    main(["tour"])
    out = capsys.readouterr().out
    assert out.startswith("Q0.") and "g_W = " in out and out.rstrip().endswith("True")


def test_no_command_runs_the_main_job(monkeypatch):
    import jacobians.__main__ as cli
    calls = []
    monkeypatch.setattr(cli, "write_figures", lambda: calls.append("figures"))
    monkeypatch.setattr(cli, "cost", lambda: calls.append("cost"))
    main([])
    assert calls == ["figures", "cost"]


def test_a_vjp_sweep_without_arithmetic_prints_and_tabulates():
    cost = model_cost(lambda x, b: jac.sum(x + b), (np.ones((2, 3)), np.ones(3)))
    assert cost.vjp_flops == 0 and cost.naive_reverse_flops > 0
    assert cost.flop_ratio == float("inf")
    assert "no arithmetic" in str(cost)
