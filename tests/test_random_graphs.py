"""Random graphs nobody wrote by hand, differentiated every way the library knows.

Hypothesis draws small programs: two to eight ops over one to three inputs,
each op reading any earlier values (so variables are shared, read twice by
one op, broadcast against each other), ending in a scalar or an array. Every
one is held to central finite differences: the naive chain in all three
orders, the reverse sweep with each rule (hand, derived, dense), ``grad``,
``derive``, ``vjp`` and ``jvp``.
"""
import numpy as np

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.graph import trace_graph
from jacobians.sweep import DENSE, DERIVED, HAND, forward, reverse

# Values are matrices M (2, 3), vectors v (3,) and u (2,), or scalars s.
SHAPES = {"M": (2, 3), "v": (3,), "u": (2,), "s": ()}


def _bounded_exp(x):
    return jac.exp(jac.tanh(x))  # exp of exp of … would overflow


def _safe_divide(a, b):
    return a / (1.0 + b * b)


# Each op: the classes it reads, the class it makes, and how.
UNARY = {"tanh": jac.tanh, "sigmoid": jac.sigmoid, "softplus": jac.softplus,
         "negative": jac.negative, "square": jac.square, "exp": _bounded_exp}
BINARY = {"add": jac.add, "subtract": jac.subtract, "multiply": jac.multiply,
          "divide": _safe_divide}
# Which classes broadcast against which, and to what.
BROADCAST = {("M", "M"): "M", ("M", "v"): "M", ("v", "M"): "M", ("M", "s"): "M", ("s", "M"): "M",
             ("v", "v"): "v", ("v", "s"): "v", ("s", "v"): "v", ("u", "u"): "u", ("u", "s"): "u",
             ("s", "u"): "u", ("s", "s"): "s"}
STRUCTURAL = {
    "matvec": (("M", "v"), "u", lambda M, v: M @ v),
    "transposed matvec": (("M", "u"), "v", lambda M, u: M.T @ u),
    "outer": (("u", "v"), "M", jac.outer),
    "column sums": (("M",), "v", lambda M: jac.sum(M, axis=0)),
    "row means": (("M",), "u", lambda M: jac.mean(M, axis=1)),
    "sum": (("v",), "s", jac.sum),
    "row softmax": (("M",), "M", jac.softmax),
    "log_softmax": (("v",), "v", jac.log_softmax),
    "reshape and transpose": (("M",), "M", lambda M: jac.reshape(M, shape=(3, 2)).T),
}


@st.composite
def programs(draw):
    """A random program: its inputs' classes and a list of steps reading earlier values."""
    inputs = draw(st.lists(st.sampled_from(list(SHAPES)), min_size=1, max_size=3))
    classes, steps = list(inputs), []
    for _ in range(draw(st.integers(2, 8))):
        choices = [("unary", name, (k,)) for name in UNARY for k in range(len(classes))]
        choices += [("binary", name, (i, j)) for name in BINARY
                    for i in range(len(classes)) for j in range(len(classes))
                    if (classes[i], classes[j]) in BROADCAST]
        choices += [("structural", name, operands)
                    for name, (wanted, _, _) in STRUCTURAL.items()
                    for operands in _matches(classes, wanted)]
        kind, name, operands = draw(st.sampled_from(choices))
        if kind == "unary":
            made = classes[operands[0]]
        elif kind == "binary":
            made = BROADCAST[(classes[operands[0]], classes[operands[1]])]
        else:
            made = STRUCTURAL[name][1]
        classes.append(made)
        steps.append((kind, name, operands))
    scalar = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return inputs, steps, scalar, seed


def _matches(classes, wanted):
    if len(wanted) == 1:
        return [(k,) for k, c in enumerate(classes) if c == wanted[0]]
    return [(i, j) for i, a in enumerate(classes) for j, b in enumerate(classes)
            if (a, b) == wanted]


def _function(inputs, steps, scalar):
    def f(*args):
        values = list(args)
        for kind, name, operands in steps:
            operation = {"unary": UNARY, "binary": BINARY}.get(kind, {}).get(name) or \
                STRUCTURAL[name][2]
            values.append(operation(*(values[k] for k in operands)))
        return jac.sum(values[-1]) if scalar else values[-1]
    return f


def _arguments(inputs, seed):
    rng = np.random.default_rng(seed)
    return [0.7 * rng.standard_normal(SHAPES[c]) for c in inputs]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_every_way_to_differentiate_a_random_graph_agrees(program):
    inputs, steps, scalar, seed = program
    f, args = _function(inputs, steps, scalar), _arguments(inputs, seed)
    graph = trace_graph(f, *args)
    out = graph.output
    truth = [finite_difference_jacobian(f, *args, wrt=i) for i in range(len(args))]
    rng = np.random.default_rng(seed + 1)
    g = rng.standard_normal(out.shape)
    tangents = [rng.standard_normal(a.shape) for a in args]

    for i, want in enumerate(truth):
        for order in jac.chain.ORDERS:
            got = jac.jacobian(f, wrt=i, order=order)(*args)
            assert compare(got, want), (order, i, compare(got, want))
    pulled = [np.tensordot(g, J, axes=g.ndim) for J in truth]
    directional = sum(np.tensordot(J, t, axes=t.ndim) for J, t in zip(truth, tangents))
    for rule in (HAND, DERIVED, DENSE):
        cotangents = reverse(graph, g, rule, graph.inputs)
        for node, want in zip(graph.inputs, pulled):
            got = cotangents.get(node.index, np.zeros(node.shape))
            assert compare(got, want), (rule, node.name, compare(got, want))
        pushed = forward(graph, dict(zip(graph.inputs, tangents)), rule)
        assert compare(np.zeros(out.shape) if pushed is None else pushed, directional), rule
    _, pullback = jac.vjp(f, *args)
    for got, want in zip(pullback(g), pulled):
        assert compare(got, want)
    _, got = jac.jvp(f, args, tangents)
    assert compare(got, directional)
    if scalar:
        wrt = tuple(range(len(args)))
        for got, want in zip(jac.grad(f, wrt=wrt)(*args), truth):
            assert compare(got, want)
        for got, want in zip(jac.derive(f, wrt=wrt)(*args).gradient, truth):
            assert compare(got, want)
