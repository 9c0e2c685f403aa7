"""Tracing a function into a computation graph.

A function written with the library's ops (and the operators
``@ + - * / **`` and ``.T``) is run once on :class:`Traced` values. Each op
call records a :class:`Node` — its op, the nodes it read, its value — so the
graph can then be differentiated by contraction (``chain.py``).

A variable read by several ops (``A`` in Q2 is read three times) is *one*
node with several children; the chain rule sums over all of them.
"""
import html
import inspect
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .arrays import as_float_array
from .ops import REGISTRY, Op


@dataclass(eq=False)
class Node:
    """One value of a traced computation.

    Attributes
    ----------
    name : str
        How the value is printed (``"W"``, ``"H"``, ``"matmul_3"``).
    value : ndarray
        The value computed while tracing.
    op : Op or None
        The operation that made it; ``None`` for inputs and constants.
    parents : tuple of Node
        The op's arguments, in order (a node may appear twice: ``x * x``).
    params : dict
        The op's static parameters (``axis=1``).
    kind : str
        ``"input"``, ``"constant"`` or ``"op"``.
    """

    name: str
    value: np.ndarray
    op: Op = None
    parents: tuple = ()
    params: dict = field(default_factory=dict)
    kind: str = "op"

    @property
    def shape(self):
        return self.value.shape

    def derivative(self, position):
        """``∂self/∂parents[position]`` in index notation, with the graph's names."""
        values = tuple(p.value for p in self.parents)
        names = tuple(p.name for p in self.parents) + (self.name,)
        return self.op.derivative_at(position, values, self.value, names, **self.params)

    def __repr__(self):
        return f"<node {self.name} {self.kind} {self.shape}>"


class Graph:
    """The nodes of a traced function, in the order they were computed.

    Attributes
    ----------
    nodes : list of Node
        Every node; parents always come before their children.
    inputs : list of Node
        One node per argument of the function.
    output : Node
        What the function returned.
    """

    def __init__(self):
        self.nodes, self.inputs, self.output = [], [], None
        self._taken = set()

    def _add(self, node):
        self.nodes.append(node)
        self._taken.add(node.name)
        return node

    def unique_name(self, name):
        """``name``, or ``name2``, ``name3``… if a node has it already.

        No underscore: ``tanh_2`` would read as a subscript in ``∂tanh_2_ab``.
        """
        candidate, k = name, 1
        while candidate in self._taken:
            k += 1
            candidate = f"{name}{k}"
        return candidate

    def rename(self, node, label):
        """Call ``node`` ``label`` (made unique), freeing its old name."""
        self._taken.discard(node.name)
        node.name = self.unique_name(label)
        self._taken.add(node.name)

    def children(self, node):
        """The ``(child, position)`` pairs in which ``node`` is an argument."""
        return [(c, k) for c in self.nodes for k, p in enumerate(c.parents) if p is node]

    def between(self, source):
        """Nodes that depend on ``source`` and that the output depends on.

        Only these carry a derivative from ``source`` to the output; every
        other node acts as a constant.
        """
        after = {id(source)}
        for n in self.nodes:
            if any(id(p) in after for p in n.parents):
                after.add(id(n))
        before = {id(self.output)}
        for n in reversed(self.nodes):
            if id(n) in before:
                before.update(id(p) for p in n.parents)
        return [n for n in self.nodes if id(n) in after and id(n) in before]

    def edges(self, source):
        """The ``(child, position, parent)`` edges on paths from ``source`` to the output."""
        active = {id(n) for n in self.between(source)}
        return [(c, k, p) for c in self.nodes if id(c) in active
                for k, p in enumerate(c.parents) if id(p) in active]

    def paths(self, source):
        """Every path from the output back to ``source``.

        Returns
        -------
        list of list of (Node, int, Node)
            Each path as its ``(child, position, parent)`` edges, output first.
        """
        into = {}
        for c, k, p in self.edges(source):
            into.setdefault(id(c), []).append((c, k, p))

        def back_from(node):
            if node is source:
                return [[]]
            return [[e] + rest for e in into.get(id(node), []) for rest in back_from(e[2])]
        return back_from(self.output)

    def rows(self):
        """One row per node: name, op, arguments, shape, local Jacobians."""
        rows = []
        for n in self.nodes:
            if n.kind == "constant" and n.value.ndim == 0:
                continue  # the 0.5 in 0.5 * s is not worth a row
            local = ", ".join(f"∂{n.name}/∂{p.name} {n.shape + p.shape} order "
                              f"{len(n.shape + p.shape)}" for p in n.parents
                              if p.kind != "constant")
            rows.append((n.name, n.op.name if n.op else n.kind,
                         ", ".join(p.name for p in n.parents), str(n.shape), local))
        return rows

    _HEAD = ("node", "op", "arguments", "shape", "local Jacobians")

    def __str__(self):
        rows = [self._HEAD] + self.rows()
        widths = [max(len(r[k]) for r in rows) for k in range(len(self._HEAD) - 1)]
        return "\n".join(("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]).rstrip()
                         for r in rows)

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        head = "".join(f"<th>{h}</th>" for h in self._HEAD)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in self.rows())
        return f"<table><tr>{head}</tr>{body}</table>"


class Traced:
    """A value inside a function being traced; ops on it add nodes to the graph.

    Supports ``@ + - * / **``, unary ``-`` and ``.T``, so a model can be
    written as ordinary array code.
    """

    # Make NumPy hand ``ndarray @ traced`` back to us instead of looping.
    __array_ufunc__ = None

    def __init__(self, graph, node):
        self.graph, self.node = graph, node

    @property
    def shape(self):
        return self.node.shape

    @property
    def ndim(self):
        return self.node.value.ndim

    @property
    def value(self):
        return self.node.value

    @staticmethod
    def __jac_apply__(op, args, params):
        graph = next(a.graph for a in args if isinstance(a, Traced))
        op.check_call(args, params)
        parents = tuple(_node_of(graph, a) for a in args)
        # Inputs and constants were checked on entering the graph; every node
        # after them is an op's float64 output.
        value = np.asarray(op.value_at(tuple(p.value for p in parents), **params))
        name = graph.unique_name(op.name)
        return Traced(graph, graph._add(Node(name, value, op, parents, dict(params))))

    def __matmul__(self, other): return REGISTRY["matmul"](self, other)
    def __rmatmul__(self, other): return REGISTRY["matmul"](other, self)
    def __add__(self, other): return REGISTRY["add"](self, other)
    def __radd__(self, other): return REGISTRY["add"](other, self)
    def __sub__(self, other): return REGISTRY["subtract"](self, other)
    def __rsub__(self, other): return REGISTRY["subtract"](other, self)
    def __mul__(self, other): return REGISTRY["multiply"](self, other)
    def __rmul__(self, other): return REGISTRY["multiply"](other, self)
    def __truediv__(self, other): return REGISTRY["divide"](self, other)
    def __rtruediv__(self, other): return REGISTRY["divide"](other, self)
    def __neg__(self): return REGISTRY["negative"](self)

    def __pow__(self, exponent):
        if not np.isscalar(exponent):
            raise TypeError("only a constant number can be an exponent: x ** 2, not x ** y")
        if exponent == 2:
            return REGISTRY["square"](self)
        return REGISTRY["power"](self, exponent=exponent)

    @property
    def T(self):
        return REGISTRY["transpose"](self)

    def __repr__(self):
        return f"Traced({self.node.name}, shape={self.shape})"


def _node_of(graph, a):
    """The node behind an argument; a plain array becomes a constant node."""
    if isinstance(a, Traced):
        if a.graph is not graph:
            raise ValueError("a value from one traced function was used inside another")
        return a.node
    value = as_float_array(a, "a constant in a traced function")
    return graph._add(Node(graph.unique_name(_constant_name(value)), value, kind="constant"))


def _constant_name(value):
    return f"{value.item():g}" if value.ndim == 0 else "const"


def name(x, label):
    """Give a traced value a printable name (``"H"``); arrays pass through.

    Use inside a model so graphs and derived programs speak of ``H`` and
    ``ŷ`` rather than ``matmul_1``:

    >>> import jacobians as jac
    >>> def f(X, W):
    ...     return jac.sum(jac.name(X @ W, "H"))
    >>> print(jac.trace_graph(f, np.ones((2, 3)), np.ones((3, 4))).nodes[2].name)
    H
    """
    if isinstance(x, Traced):
        x.graph.rename(x.node, label)
    return x


def trace_graph(f, *args):
    """Run ``f(*args)`` on traced values and return its :class:`Graph`.

    Inputs are named after ``f``'s parameters where it has named ones.

    >>> import jacobians as jac
    >>> g = jac.trace_graph(lambda X, W: jac.sigmoid(X @ W), np.ones((4, 3)), np.ones((3, 2)))
    >>> print(g)
    node     op       arguments  shape   local Jacobians
    X        input               (4, 3)
    W        input               (3, 2)
    matmul   matmul   X, W       (4, 2)  ∂matmul/∂X (4, 2, 4, 3) order 4, ∂matmul/∂W (4, 2, 3, 2) order 4
    sigmoid  sigmoid  matmul     (4, 2)  ∂sigmoid/∂matmul (4, 2, 4, 2) order 4
    """
    graph = Graph()
    for k, (label, a) in enumerate(zip(_parameter_names(f, len(args)), args)):
        value = as_float_array(a, f"argument {k} ({label})")
        graph.inputs.append(graph._add(Node(graph.unique_name(label), value, kind="input")))
    result = f(*(Traced(graph, n) for n in graph.inputs))
    graph.output = _node_of(graph, result)
    return graph


def _parameter_names(f, n):
    try:
        named = _named_parameters(f)
    except TypeError:  # an unhashable callable object: look it up uncached
        named = _named_parameters.__wrapped__(f)
    return (list(named) + [f"x{k}" for k in range(len(named), n)])[:n]


@lru_cache(maxsize=256)
def _named_parameters(f):
    """Names of ``f``'s positional parameters (cached: a model is traced again and again)."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
