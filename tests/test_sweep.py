"""The one reverse sweep and the one forward sweep, with each of their three rules.

For every op in the registry and every argument: the hand, derived and dense
rules agree with each other and with central finite differences, both ways;
and what a rule counts when it runs on shapes alone is what it performs on
real arrays — counted here by an ndarray subclass that watches every NumPy
call, an implementation of the FLOP convention independent of the library's.
"""
import math
import string

import numpy as np
import pytest

import jacobians as jac
from jacobians.abstract import Tally
from jacobians.check import compare, finite_difference_jacobian, sample_inputs
from jacobians.examples import QUESTIONS
from jacobians.graph import trace_graph
from jacobians.sweep import DENSE, DERIVED, HAND, RULES, forward, reverse, shaped_values

from test_ops import CASES


# --- an independent FLOP counter ------------------------------------------------------
class Counted(np.ndarray):
    """An ndarray that counts the arithmetic NumPy does on it.

    The convention (from the library's docs, implemented here afresh): one
    FLOP per output entry of an elementwise ufunc, one per input entry of a
    reduction, and for a product the size of its index space, twice when an
    index is summed. Calls made inside another call are not counted again.
    """

    flops = 0
    depth = 0

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [np.asarray(x) if isinstance(x, Counted) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(np.asarray(x) for x in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        if not Counted.depth:
            shapes = [np.shape(x) for x in plain]
            if method == "reduce":
                Counted.flops += math.prod(shapes[0])
            elif ufunc is np.matmul:
                Counted.flops += _matmul_flops(*shapes)
            else:
                Counted.flops += np.size(result)
        if out is not None:
            return out[0]
        return _watched(result)

    def __array_function__(self, func, types, args, kwargs):
        Counted.depth += 1
        try:
            plain = [_plain(a) for a in args]
            kwargs = {k: _plain(v) for k, v in kwargs.items()}
            result = func(*plain, **kwargs)
        finally:
            Counted.depth -= 1
        if not Counted.depth:
            Counted.flops += _function_flops(func, plain, kwargs, result)
        return _watched(result)


def _plain(a):
    """``a`` with Counted arrays, also inside a list or tuple, as plain ndarrays."""
    if isinstance(a, (list, tuple)):
        return type(a)(_plain(x) for x in a)
    return np.asarray(a) if isinstance(a, Counted) else a


def _watched(result):
    """Arrays and NumPy's scalars as Counted arrays, so what is done to them counts too."""
    if isinstance(result, (np.ndarray, np.generic)):
        return np.asarray(result).view(Counted)
    return result


def _matmul_flops(a, b):
    a2, b2 = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    return 2 * math.prod(batch) * a2[-2] * a2[-1] * b2[-1]


def _einsum_flops(spec, *operands):
    inputs, output = spec.split("->")
    sizes = {}
    for labels, x in zip(inputs.split(","), operands):
        sizes.update(zip(labels, np.shape(x)))
    space = math.prod(sizes.values())
    summed = set(sizes) - set(output)
    if len(operands) == 1:
        return space if summed else 0
    assert len(operands) == 2, "the library hands einsum at most two operands at a time"
    return space * (2 if summed else 1)


def _function_flops(func, args, kwargs, result):
    if func in (np.sum, np.max, np.min):
        return np.size(args[0])
    if func is np.mean:
        return np.size(args[0]) + np.size(result)
    if func is np.outer:
        return np.size(result)
    if func is np.trace:
        return min(np.shape(args[0]))
    if func is np.einsum:
        return _einsum_flops(*args)
    if func is np.tensordot:
        a, b = args
        axes = kwargs.get("axes", args[2] if len(args) > 2 else 2)
        inner = math.prod(np.shape(a)[-axes:]) if isinstance(axes, int) else \
            math.prod(np.shape(a)[k] for k in axes[0])
        return 2 * np.size(a) * np.size(b) // inner if inner else 0
    if func is np.dot:
        return _matmul_flops(np.shape(args[0]), np.shape(args[1]))
    if func is np.bincount:  # one add per weight
        return np.size(args[0])
    return 0  # views, copies, new arrays, shape queries


def _count(fn):
    Counted.flops = 0
    result = fn()
    return Counted.flops, result


def test_the_counter_counts_by_hand():
    X, W = np.ones((4, 3)).view(Counted), np.ones((3, 2)).view(Counted)
    assert _count(lambda: X @ W)[0] == 2 * 4 * 3 * 2
    assert _count(lambda: X.sum(axis=0))[0] == 12
    assert _count(lambda: np.tanh(X) * 2.0)[0] == 24
    assert _count(lambda: np.einsum("ab,bc->ac", X, W))[0] == 2 * 4 * 3 * 2
    assert _count(lambda: np.broadcast_to(X[:, None, :], (4, 5, 3)))[0] == 0


# --- one op as a graph --------------------------------------------------------------
def _one_op(op, shapes, params, seed=0):
    args = sample_inputs(op, shapes, seed=seed)
    graph = trace_graph(lambda *a: op(*a, **params), *args)
    return args, graph


@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_every_rule_agrees_with_finite_differences_both_ways(op, shapes, params, wrt):
    args, graph = _one_op(op, shapes, params)
    source, out = graph.inputs[wrt], graph.output
    rng = np.random.default_rng(5)
    g, t = rng.standard_normal(out.shape), rng.standard_normal(source.shape)
    J = finite_difference_jacobian(lambda *a: op(*a, **params), *args, wrt=wrt)
    o, i = string.ascii_letters[:out.ndim], string.ascii_letters[out.ndim:out.ndim + source.ndim]
    pulled = np.einsum(f"{o},{o}{i}->{i}", g, J)
    pushed = np.einsum(f"{o}{i},{i}->{o}", J, t)
    for rule in (HAND, DERIVED, DENSE):
        got = reverse(graph, g, rule, [source])[source.index]
        assert compare(got, pulled), (rule, compare(got, pulled))
        others = {n: np.zeros(n.shape) for n in graph.inputs if n is not source}
        got = forward(graph, {source: t, **others}, rule)
        assert compare(got, pushed), (rule, compare(got, pushed))


def _counted_values(graph):
    return [n.value.view(Counted) for n in graph.nodes]


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("op, shapes, params, wrt", CASES)
def test_what_an_edge_counts_on_shapes_is_what_it_performs(op, shapes, params, wrt, rule):
    """The FLOPs a rule counts on Shaped arrays equal those NumPy does running it."""
    _, graph = _one_op(op, shapes, params, seed=1)
    source, out = graph.inputs[wrt], graph.output
    rule = RULES[rule]
    g, t = np.ones(out.shape).view(Counted), np.ones(source.shape).view(Counted)
    performed, _ = _count(lambda: reverse(graph, g, rule, [source], _counted_values(graph)))
    tally = Tally()
    record = []
    reverse(graph, tally.array(out.shape), rule, [source], shaped_values(graph, tally), record)
    assert sum(e.flops for e in record) == performed
    performed, _ = _count(lambda: forward(graph, {source: t}, rule, _counted_values(graph)))
    tally, record = Tally(), []
    forward(graph, {source: tally.array(source.shape)}, rule, shaped_values(graph, tally), record)
    assert sum(e.flops for e in record) == performed


@pytest.mark.parametrize("key", list(QUESTIONS))
def test_the_cost_model_counts_what_grad_and_jacobian_perform(key):
    q = QUESTIONS[key]
    args = q.args()
    cost = jac.model_cost(q.function, args, q.wrt)
    graph = trace_graph(q.function, *args)
    indices = q.wrt if isinstance(q.wrt, tuple) else (q.wrt,)
    sources = [graph.inputs[i] for i in indices]
    performed, _ = _count(lambda: jac.chain.gradient_sweep(graph, sources,
                                                           _counted_values(graph)))
    assert cost.vjp_flops == performed
    # jacobian runs one reverse sweep for every argument, and one chain per argument
    # in the other orders.
    for order in jac.chain.ORDERS:
        groups = [sources] if order == "reverse" else [[s] for s in sources]
        performed = sum(_count(lambda: jac.chain._run(graph, group, order,
                                                      _counted_values(graph)))[0]
                        for group in groups)
        assert cost.naive_flops(order) == performed, order


def test_every_rule_gives_q2s_closed_form():
    q = QUESTIONS["Q2"]
    args = q.args(K=5, seed=2)
    graph = trace_graph(q.function, *args)
    sources = graph.inputs
    closed = q.closed_form(*args)
    for rule in (HAND, DERIVED, DENSE):
        cotangents = reverse(graph, np.ones(()), rule, sources)
        for s, want in zip(sources, closed):
            assert compare(cotangents[s.index], want), rule


def test_a_sweep_drops_each_cotangent_once_pulled_back():
    """Reverse mode frees as it goes, and what the shape run holds is what the real run holds."""
    import tracemalloc
    width, depth = 256, 8
    one = 8 * width * width  # bytes of one activation, and of one cotangent

    def mlp(x, W):
        for _ in range(depth):
            x = jac.tanh(x @ W)
        return jac.sum(x)
    rng = np.random.default_rng(0)
    graph = trace_graph(mlp, rng.standard_normal((width, width)),
                        rng.standard_normal((width, width)) / 16)
    tally = Tally()
    values = shaped_values(graph, tally)
    held_before = tally.live
    reverse(graph, tally.array(()), HAND, graph.inputs[1:], values)
    counted = tally.peak - held_before
    tracemalloc.start()
    try:
        reverse(graph, np.ones(()), HAND, graph.inputs[1:])
        _, measured = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A handful of arrays at a time (a cotangent, a rule's temporaries, the weight's sum),
    # not the 2 · depth cotangents of the layers; NumPy's ufunc buffers come on top.
    assert counted <= 7 * one < 2 * depth * one
    assert abs(counted - measured) <= 0.15 * measured + 2**17
