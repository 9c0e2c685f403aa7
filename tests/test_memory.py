"""The memory of reverse mode, against truths found independently.

What a VJP reads is held to the rule itself: replacing every value it is said
not to read leaves its result unchanged, for every op in the registry. The
timeline of a two-layer chain and the schedule of a four-layer one are
counted by hand in the comments. Checkpointing is held to the √L rule (a
peak of L/k + k layers), to ``jac.grad`` and central finite differences, to
the bytes a run on Shaped arrays holds, and to tracemalloc.
"""
import math

import matplotlib

matplotlib.use("Agg")  # before pyplot: the tests never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jacobians as jac  # noqa: E402
from jacobians.abstract import Tally  # noqa: E402
from jacobians.check import sample_inputs  # noqa: E402
from jacobians.memory import _reads, tanh_chain  # noqa: E402
from jacobians.ops import REGISTRY  # noqa: E402


def _chain(L, n=4, d=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, [rng.standard_normal((d, d)) / np.sqrt(d) for _ in range(L)]


# --- what a VJP reads ---------------------------------------------------------------

def test_tanh_keeps_its_output_and_matmul_its_inputs():
    X, W = np.ones((4, 3)), np.ones((3, 2))
    assert jac.vjp_reads(jac.tanh, X) == ("U",)            # g ⊙ (1 − U²)
    assert jac.vjp_reads(jac.matmul, X, W, wrt=0) == ("W",)  # g Wᵀ
    assert jac.vjp_reads(jac.matmul, X, W, wrt=1) == ("X",)  # Xᵀ g
    assert jac.vjp_reads(jac.sum, X) == ()                  # g broadcast back
    assert jac.vjp_reads(jac.add, X, X) == ()
    assert jac.vjp_reads(jac.sum, X, axis=0) == ()


def test_vjp_reads_refuses_a_bad_wrt():
    with pytest.raises(ValueError, match="wrt=2"):
        jac.vjp_reads(jac.matmul, np.ones((2, 2)), np.ones((2, 2)), wrt=2)


_CASES = [(name, shapes, params, wrt) for name, op in sorted(REGISTRY.items())
          for shapes, params in op.examples for wrt in range(len(shapes))]


@pytest.mark.parametrize("name, shapes, params, wrt", _CASES,
                         ids=[f"{c[0]}-{c[1]}-wrt{c[3]}" for c in _CASES])
def test_a_value_said_unread_does_not_change_the_vjp(name, shapes, params, wrt):
    op = REGISTRY[name]
    args = sample_inputs(op, shapes, seed=0)
    out = np.asarray(op(*args, **params))
    positions, reads_out = _reads(op, wrt, tuple(a.shape for a in args), out.shape, params)
    g = np.random.default_rng(1).standard_normal(out.shape)
    expected = op.vjp_rule(wrt, g, args, out, **params)
    others = sample_inputs(op, shapes, seed=2)
    swapped = tuple(a if k in positions else b for k, (a, b) in enumerate(zip(args, others)))
    other_out = out if reads_out else np.random.default_rng(3).uniform(0.5, 2.0, out.shape)
    np.testing.assert_allclose(op.vjp_rule(wrt, g, swapped, other_out, **params), expected)


# --- the timeline ---------------------------------------------------------------------

def _two_layers(x, W1, W2):
    return np.sum(np.tanh(np.tanh(x @ W1) @ W2))


def test_the_timeline_of_two_layers_counted_by_hand():
    # x (2, 3), W (3, 3): every layer value 48 B, a weight (and its gradient) 72 B, the sum 8.
    x, (W1, W2) = np.ones((2, 3)), [np.ones((3, 3))] * 2
    timeline = jac.memory_timeline(_two_layers, (x, W1, W2), wrt=(1, 2))
    # Kept: X1 = tanh(Z1), read by tanh's VJP and by matmul2's w.r.t. W2; X2, read by
    # tanh2's. Z1 and Z2 are read by no VJP.
    assert timeline.kept == (("tanh", 48), ("tanh2", 48))
    # Forward: Z1; Z1 X1 (then Z1 goes); X1 Z2; X1 Z2 X2 (then Z2 goes); X1 X2 s.
    # Backward, cotangents: s and X2 (56); X2 and Z2 (96); Z2, X1 and W2 (168), then X2 is
    # gone from the values; X1, W2 and Z1 (168), then X1 is gone; Z1, W2 and W1 (192).
    steps = [(s.phase, s.values, s.cotangents) for s in timeline.steps]
    assert steps == [("forward", 48, 0), ("forward", 96, 0), ("forward", 96, 0),
                     ("forward", 144, 0), ("forward", 104, 0),
                     ("backward", 104, 56), ("backward", 104, 96), ("backward", 56, 168),
                     ("backward", 56, 168), ("backward", 8, 192)]
    # Inference frees each value after its last reader: never more than two layers.
    assert [s.held for s in timeline.inference] == [48, 96, 96, 96, 56]
    assert (timeline.peak, timeline.inference_peak) == (224, 96)
    assert timeline.peak_step == 7


def test_a_deep_chain_keeps_one_layer_per_layer_and_inference_two():
    layer = 8 * 4 * 3
    peaks = {}
    for L in (4, 8, 16):
        x, weights = _chain(L)
        timeline = jac.memory_timeline(tanh_chain, (x, *weights), wrt=tuple(range(1, L + 1)))
        assert timeline.kept_bytes == L * layer  # x_1 … x_L, never Z_l = x_l W_l
        assert timeline.inference_peak == 2 * layer
        # Just after the turn: every layer and the loss (8 B) held, and the cotangents of
        # x_L·x_L and of x_L being made.
        assert timeline.peak == L * layer + 8 + 2 * layer
        peaks[L] = timeline.peak
    assert peaks[16] - peaks[8] == 2 * (peaks[8] - peaks[4])  # linear in L


def test_the_timeline_counts_only_what_the_sources_need():
    # Differentiating by W2 alone: nothing below tanh(x W1) is swept, and X1 is kept only
    # because matmul2's VJP w.r.t. W2 reads it.
    x, (W1, W2) = np.ones((2, 3)), [np.ones((3, 3))] * 2
    timeline = jac.memory_timeline(_two_layers, (x, W1, W2), wrt=2)
    assert [s.phase for s in timeline.steps].count("backward") == 3
    assert timeline.kept == (("tanh", 48), ("tanh2", 48))
    assert "reverse sweep: peak" in str(timeline) and "tanh, tanh2" in str(timeline)
    assert len(timeline.table().splitlines()) == 1 + len(timeline.steps)


def test_the_timeline_is_counted_on_shapes_far_too_large_to_run():
    tally = Tally()  # a million rows of 10⁴ columns: 80 GB a layer, never allocated
    x, W = tally.array((10**6, 10**4), held=False), tally.array((10**4, 10**4), held=False)
    timeline = jac.memory_timeline(lambda x, W: np.sum(np.tanh(x @ W)), (x, W), wrt=1)
    assert timeline.kept_bytes == 8 * 10**10 and tally.peak == 0


# --- the checkpoint schedule ----------------------------------------------------------

def _walk(schedule, L):
    """Follow a schedule and check every step reads values that are held."""
    held, made, freed = {0}, [], []
    for action, i in schedule:
        if action in ("forward", "recompute"):
            assert i in held, f"{action} {i} reads x_{i}, which is not held"
            held.add(i + 1)
            made.append((action, i))
        elif action == "free":
            held.remove(i)
            freed.append(i)
        else:
            assert {i, i + 1} <= held, f"backward {i} needs x_{i} and x_{i + 1}"
    return held, made, freed


@pytest.mark.parametrize("L, k", [(1, 1), (4, 1), (4, 2), (4, 4), (7, 3), (10, 4), (16, 4)])
def test_the_schedule_holds_what_each_step_reads(L, k):
    schedule = jac.checkpoint_schedule(L, k)
    held, made, freed = _walk(schedule, L)
    assert held == {0}                                # only the caller's input is left
    assert sorted(freed) == sorted(i + 1 for _, i in made)  # each value made, freed once
    assert [i for a, i in made if a == "forward"] == list(range(L))
    assert sum(a == "recompute" for a, _ in made) == L - math.ceil(L / k)
    assert [i for a, i in schedule if a == "backward"] == list(range(L - 1, -1, -1))


def test_four_layers_every_second_counted_by_hand():
    # Values held (x_0 left out) and cotangents, step by step; the cotangent of x_4 is
    # x_4 itself (the loss ½‖x_4‖²) and that of x_0 is never made:
    # forward x1: 1; x2: 2 (x1 goes); x3: 2; x4: 3 (x3 goes); recompute x3: 3;
    # backward 3: 3 + 1 (x4 goes); backward 2: 2 + 2 (x3 goes); recompute x1: 2 + 1;
    # backward 1: 2 + 2 (x2 goes); backward 0: 1 + 1.
    cost = jac.checkpoint_cost(4, 2)
    assert [s.held for s in cost.timeline.steps] == [1, 2, 2, 3, 3, 4, 4, 3, 4, 2]
    assert [s.phase for s in cost.timeline.steps].count("recompute") == 2
    assert (cost.checkpoints, cost.recomputed, cost.peak_bytes) == (2, 2, 4)
    assert cost.timeline.inference_peak == 2


@pytest.mark.parametrize("L", [12, 16, 36, 64, 100])
def test_the_peak_is_L_over_k_plus_k_layers(L):
    for k in (k for k in range(1, L + 1) if L % k == 0):
        cost = jac.checkpoint_cost(L, k, layer_bytes=800, layer_flops=30)
        assert cost.peak_bytes == (L // k + k) * 800
        assert cost.extra_flops == (L - L // k) * 30 and cost.forward_flops == L * 30


@pytest.mark.parametrize("L", [9, 16, 50, 64, 100, 144, 200])
def test_the_least_peak_is_near_the_square_root_of_L(L):
    peaks = {k: jac.checkpoint_cost(L, k).peak_bytes for k in range(1, L + 1)}
    best = min(peaks.values())
    model = {k: L / k + k for k in range(1, L + 1)}       # least at k = √L: 2√L
    assert best <= 2 * math.sqrt(L) + 2
    assert all(abs(k - math.sqrt(L)) <= math.sqrt(L) / 2 for k, p in peaks.items() if p == best)
    assert all(abs(peaks[k] - model[k]) <= 1 for k in peaks)
    assert peaks[1] == peaks[L] == L + 1                  # both ends hold the whole chain


@pytest.mark.parametrize("layers, every, match", [
    (4, 0, "every must be"), (4, -1, "every must be"), (4, 5, "every must be"),
    (4, 1.5, "every must be"), (4, True, "every must be"), (0, 1, "positive whole number"),
    (2.0, 1, "positive whole number")])
def test_bad_segment_lengths_are_refused(layers, every, match):
    with pytest.raises(ValueError, match=match):
        jac.checkpoint_schedule(layers, every)
    with pytest.raises(ValueError, match=match):
        jac.checkpoint_cost(layers, every)


def test_bad_layer_sizes_are_refused():
    with pytest.raises(ValueError, match="layer_bytes"):
        jac.checkpoint_cost(4, 2, layer_bytes=-8)


# --- the checkpointed gradient --------------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_the_checkpointed_gradient_is_jac_grad(k):
    x, weights = _chain(7)
    loss, grads = jac.checkpointed_grad(x, weights, k)
    expected = jac.grad(tanh_chain, wrt=tuple(range(1, 8)))(x, *weights)
    assert loss == pytest.approx(tanh_chain(x, *weights), rel=1e-14)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_the_checkpointed_gradient_against_finite_differences():
    x, weights = _chain(6, n=5, d=4, seed=3)
    _, grads = jac.checkpointed_grad(x, weights, 2)
    rng = np.random.default_rng(4)
    for _ in range(3):
        direction = [rng.standard_normal(W.shape) for W in weights]
        eps = 1e-6
        up = tanh_chain(x, *(W + eps * V for W, V in zip(weights, direction)))
        down = tanh_chain(x, *(W - eps * V for W, V in zip(weights, direction)))
        slope = sum(np.sum(g * V) for g, V in zip(grads, direction))
        assert (up - down) / (2 * eps) == pytest.approx(slope, rel=1e-7)


def test_the_checkpointed_gradient_leaves_its_inputs_alone():
    x, weights = _chain(5)
    before = [x.copy()] + [W.copy() for W in weights]
    _, grads = jac.checkpointed_grad(x, weights, 2)
    for a, b in zip([x] + weights, before):
        np.testing.assert_array_equal(a, b)
    assert not any(np.shares_memory(g, a) for g in grads for a in [x] + weights)


def test_shapes_that_do_not_chain_are_refused():
    x, weights = _chain(3)
    with pytest.raises(ValueError, match="layer 1: W_1 has shape"):
        jac.checkpointed_grad(x, [weights[0], np.ones((4, 3)), weights[2]], 1)
    with pytest.raises(ValueError, match="batch of rows"):
        jac.checkpointed_grad(x[0], weights, 1)
    with pytest.raises(ValueError, match="at least one weight"):
        jac.checkpointed_grad(x, [], 1)
    with pytest.raises(ValueError, match="every must be"):
        jac.checkpointed_grad(x, weights, 4)


def _counted(L, n, d, k):
    """Run the checkpointed gradient on Shaped arrays: its tally's peak and FLOPs."""
    tally = Tally()
    jac.checkpointed_grad(tally.array((n, d), held=False),
                          [tally.array((d, d), held=False) for _ in range(L)], k)
    return tally


@pytest.mark.parametrize("L, k", [(16, 1), (16, 4), (16, 16), (12, 5)])
def test_a_run_on_shapes_holds_what_the_schedule_counts(L, k):
    n, d = 64, 4
    layer = 8 * n * d
    tally = _counted(L, n, d, k)
    model = jac.checkpoint_cost(L, k, layer).peak_bytes
    # Besides the schedule's values and cotangents, a run holds the weight gradients it has
    # made (L·d² entries at most) and one step's temporary (a layer: x W, or 1 − y²).
    assert model <= tally.peak <= model + layer + 8 * L * d * d


def test_recomputation_costs_the_layers_run_twice():
    L, n, d = 16, 8, 5
    layer_flops = 2 * n * d * d + n * d  # x W, then tanh entry by entry
    base = _counted(L, n, d, 1).flops
    for k in (2, 4, 16):
        extra = _counted(L, n, d, k).flops - base
        cost = jac.checkpoint_cost(L, k, layer_flops=layer_flops)
        assert extra == cost.extra_flops == (L - math.ceil(L / k)) * layer_flops


def test_measured_memory_is_least_near_the_square_root_of_L():
    L, n, d = 16, 256, 8
    x, weights = _chain(L, n, d)
    layer = 8 * n * d
    peaks = {}
    for k in (1, 4, 16):
        (_, grads), peaks[k] = jac.measure_peak(lambda: jac.checkpointed_grad(x, weights, k))
        model = jac.checkpoint_cost(L, k, layer).peak_bytes
        # tracemalloc sees the schedule's arrays, the weight gradients and a temporary.
        assert model <= peaks[k] <= model + 2 * layer + 8 * L * d * d
    assert peaks[4] < 0.6 * min(peaks[1], peaks[16])


def test_measure_peak_returns_the_result():
    result, peak = jac.measure_peak(lambda: np.ones(10_000).sum())
    assert result == 10_000 and 80_000 <= peak < 90_000


# --- the figure ---------------------------------------------------------------------

def test_plot_memory_draws_one_panel_per_timeline():
    timelines = {f"k = {k}": jac.checkpoint_cost(16, k).timeline for k in (1, 4, 16)}
    fig = jac.plot_memory(timelines, title="L = 16")
    assert [a.get_title() for a in fig.axes] == list(timelines)
    assert fig.axes[0].get_ylim() == fig.axes[2].get_ylim()
    assert "L = 16" in fig._suptitle.get_text()


def test_plot_memory_into_a_given_axes():
    x, weights = _chain(3)
    timeline = jac.memory_timeline(tanh_chain, (x, *weights), wrt=(1, 2, 3))
    fig, ax = plt.subplots()
    assert jac.plot_memory(timeline, ax=ax) is fig
    assert ax.get_title().startswith("bytes held")
    plt.close(fig)


def test_plot_memory_refuses_what_it_cannot_draw():
    timeline = jac.checkpoint_cost(4, 2).timeline
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="need a panel each"):
        jac.plot_memory({"a": timeline, "b": timeline}, ax=ax)
    plt.close(fig)
    with pytest.raises(ValueError, match="no timeline"):
        jac.plot_memory({})
    with pytest.raises(ValueError, match="MemoryTimeline"):
        jac.plot_memory(jac.checkpoint_cost(4, 2))


def test_what_the_learner_may_pass_wrongly_is_explained():
    with pytest.raises(TypeError, match="jac.tanh, not <ufunc 'tanh'>"):
        jac.vjp_reads(np.tanh, np.ones(3))
    with pytest.raises(TypeError, match="args is the tuple of f's arguments"):
        jac.memory_timeline(lambda x: x.sum(), np.ones(3))
    with pytest.raises(ValueError, match="needs a scalar function, but f returns shape"):
        jac.memory_timeline(np.tanh, (np.ones(3),))


def test_checkpointed_grad_takes_lists_and_non_square_layers():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 5)).tolist()
    weights = [rng.standard_normal(s).tolist() for s in ((5, 2), (2, 7), (7, 3))]
    _, grads = jac.checkpointed_grad(x, weights, 2)
    expected = jac.grad(tanh_chain, wrt=(1, 2, 3))(np.array(x), *map(np.array, weights))
    assert all(np.allclose(a, b) for a, b in zip(grads, expected))


def test_a_cost_in_layers_prints_layers():
    assert "peak 6 layer(s)" in str(jac.checkpoint_cost(8, 2))
    assert "peak 6,144 B" in str(jac.checkpoint_cost(8, 2, layer_bytes=1024))
