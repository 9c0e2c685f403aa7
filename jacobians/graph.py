"""Tracing a function into a computation graph.

A function written with the library's ops, or as ordinary NumPy (ufuncs,
functions such as ``np.sum`` and ``np.einsum``, array methods, operators and
indexing; see ``spelling.py``), is run once on :class:`Traced` values. Each
op call records a :class:`Node` — its op, the nodes it read, its value — so
the graph can then be swept backwards or forwards (``sweep.py``).

A variable read by several ops (``A`` in Q2 is read three times) is *one*
node with several children; the chain rule sums over all of them.
"""
import html
import inspect
import weakref

import numpy as np

from .arrays import as_float_array
from . import spelling
from .ops import REGISTRY
from .ops.base import param_key


class Node:
    """One value of a traced computation.

    Attributes
    ----------
    name : str
        How the value is printed (``"W"``, ``"H"``, ``"matmul3"``).
    value : ndarray
        The value computed while tracing.
    op : Op or None
        The operation that made it; ``None`` for inputs and constants.
    parents : tuple of Node
        The op's arguments, in order (a node may appear twice: ``x * x``).
    params : dict
        The op's constant parameters (``axis=1``).
    kind : str
        ``"input"``, ``"constant"`` or ``"op"``.
    index : int
        Its place in :attr:`Graph.nodes`; parents come first.
    """

    __slots__ = ("name", "value", "op", "parents", "params", "kind", "index")

    def __init__(self, name, value, op=None, parents=(), params=None, kind="op", index=0):
        self.name, self.value, self.op, self.parents = name, value, op, parents
        self.params, self.kind, self.index = params or {}, kind, index

    @property
    def shape(self):
        return self.value.shape

    @property
    def ndim(self):
        return self.value.ndim

    @property
    def size(self):
        return self.value.size

    def derivative(self, position, values=None):
        """``∂self/∂parents[position]`` in index notation, with the graph's names.

        ``values`` replaces the graph's values (a list by node index), e.g.
        with :class:`~jacobians.abstract.Shaped` arrays to count instead of
        compute.
        """
        args = tuple(p.value if values is None else values[p.index] for p in self.parents)
        out = self.value if values is None else values[self.index]
        names = tuple(p.name for p in self.parents) + (self.name,)
        return self.op.derivative_at(position, args, out, names, **self.params)

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

    def __init__(self, depth=0):
        self.nodes, self.inputs, self.output = [], [], None
        self.depth = depth  # how many traces this one runs inside (jac.grad within jac.grad)
        self._taken = set()
        self._next = {}  # for each base name, the first suffix that may be free

    def add(self, name, value, op=None, parents=(), params=None, kind="op"):
        """Append a node named ``name`` (made unique) and return it."""
        if name in self._taken:
            name = self.unique_name(name)
        node = Node(name, value, op, parents, params, kind, len(self.nodes))
        self.nodes.append(node)
        self._taken.add(name)
        return node

    def unique_name(self, name):
        """``name``, or ``name2``, ``name3``… if a node has it already.

        No underscore: ``tanh_2`` would read as a subscript in ``∂tanh_2_ab``.
        Each base name remembers its next suffix, so tracing n ops of one
        kind takes O(n), not O(n²).
        """
        if name not in self._taken:
            return name
        k = self._next.get(name, 2)
        while f"{name}{k}" in self._taken:
            k += 1
        self._next[name] = k + 1
        return f"{name}{k}"

    def rename(self, node, label):
        """Call ``node`` ``label`` (made unique), freeing its old name."""
        self._taken.discard(node.name)
        node.name = self.unique_name(label)
        self._taken.add(node.name)

    def children(self, node):
        """The ``(child, position)`` pairs in which ``node`` is an argument."""
        return [(c, k) for c in self.nodes[node.index + 1:] for k, p in enumerate(c.parents)
                if p is node]

    def active(self, sources):
        """Which nodes carry a derivative from any of ``sources`` to the output.

        Returns
        -------
        list of bool
            By node index: true for a node that depends on a source and that
            the output depends on. Every other node acts as a constant.
            Computed once for all sources, in one pass each way.
        """
        after = [False] * len(self.nodes)
        for s in sources:
            after[s.index] = True
        for n in self.nodes:
            for p in n.parents:
                if after[p.index]:
                    after[n.index] = True
                    break
        before = [False] * len(self.nodes)
        before[self.output.index] = True
        for n in reversed(self.nodes):
            if before[n.index]:
                for p in n.parents:
                    before[p.index] = True
        return [a and b for a, b in zip(after, before)]

    def edges(self, sources):
        """The ``(child, position, parent)`` edges on paths from ``sources`` to the output."""
        active = self.active(sources)
        return [(c, k, p) for c in self.nodes if active[c.index] and c.op is not None
                for k, p in enumerate(c.parents) if active[p.index]]

    def count_paths(self, source):
        """How many paths lead from ``source`` to the output, counted without listing them.

        >>> import jacobians as jac
        >>> def f(y):
        ...     for _ in range(30):
        ...         y = jac.tanh(y) + y       # two routes through every step
        ...     return jac.sum(y)
        >>> graph = jac.trace_graph(f, np.ones(2))
        >>> graph.count_paths(graph.inputs[0])
        1073741824
        """
        active = self.active([source])
        ways = [0] * len(self.nodes)
        ways[source.index] = 1
        for n in self.nodes:
            if active[n.index] and n is not source:
                ways[n.index] = sum(ways[p.index] for p in n.parents if active[p.index])
        return ways[self.output.index] if active[self.output.index] else 0

    def paths(self, source):
        """Every path from the output back to ``source``.

        Their number can grow exponentially with the graph (count them first
        with :meth:`count_paths`).

        Returns
        -------
        list of list of (Node, int, Node)
            Each path as its ``(child, position, parent)`` edges, output first.
        """
        into = {}
        for c, k, p in self.edges([source]):
            into.setdefault(c.index, []).append((c, k, p))

        def back_from(node):
            if node is source:
                return [[]]
            return [[e] + rest for e in into.get(node.index, []) for rest in back_from(e[2])]
        return back_from(self.output) if self.output is not source else [[]]

    def signature(self):
        """The graph's structure: ops, parameters, wiring and shapes, without values.

        Two traces with equal signatures run the same program, so what was
        planned or counted for one holds for the other.
        """
        return tuple((n.op or n.kind, param_key(n.params),
                      tuple(p.index for p in n.parents), n.value.shape) for n in self.nodes) + (
            self.output.index, tuple(n.index for n in self.inputs))

    def rows(self):
        """One row per node: name, op, arguments, shape, local Jacobians."""
        rows = []
        for n in self.nodes:
            if n.kind == "constant" and n.ndim == 0:
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
    """A value inside a function being traced; what is done to it adds nodes to the graph.

    It speaks NumPy: ufuncs (``np.tanh(x)``), array functions (``np.sum``,
    ``np.einsum``…), the operators ``@ + - * / ** abs()``, methods
    (``x.sum(axis=0)``, ``x.reshape(…)``, ``x.T``), indexing (``x[:, 0]``,
    ``x[idx]``, ``x[mask]``) and comparisons, which give constant masks. What
    has no derivative in the library raises rather than answering with
    numbers that have none.
    """

    __slots__ = ("graph", "node")

    def __init__(self, graph, node):
        self.graph, self.node = graph, node

    # --- NumPy hands its calls on traced values to the library ---------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return spelling.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return spelling.apply_function(func, args, kwargs)

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self.node.name} is traced: turning it into an ndarray (np.asarray, "
                        f"np.array, float) would drop its derivative. Use NumPy functions on "
                        f"it directly; they are traced")

    @staticmethod
    def __jac_apply__(op, args, params):
        # The innermost trace records the call; values of traces around it are its
        # constants, whose own graphs record what is done with them.
        graph = None
        for a in args:
            if type(a) is Traced and (graph is None or a.graph.depth > graph.depth):
                graph = a.graph
        op.check_call(args, params)
        parents = tuple([a.node if type(a) is Traced and a.graph is graph else
                         _node_of(graph, a) for a in args])
        values = tuple([p.value for p in parents])
        if graph.depth and any(type(v) is Traced for v in values):
            # Values of an enclosing trace (a gradient taken inside another): the op
            # itself is recorded there, as one node.
            value = op(*values, **params)
        else:
            # Inputs and constants were checked on entering the graph; every node
            # after them is an op's float64 output.
            value = op.value_at(values, **params)
        if not hasattr(value, "__array_function__"):
            value = np.asarray(value)  # NumPy's scalars become 0-d arrays
        return Traced(graph, graph.add(op.name, value, op, parents, params))

    # --- what it tells about itself ------------------------------------------------
    @property
    def shape(self):
        return self.node.shape

    @property
    def ndim(self):
        return self.node.ndim

    @property
    def size(self):
        return self.node.size

    @property
    def dtype(self):
        return self.node.value.dtype

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d traced value")
        return self.shape[0]

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    @property
    def value(self):
        raise AttributeError(
            f"{self.node.name}.value inside a traced function would be a constant, cutting "
            f"the derivative through it. Compute with {self.node.name} itself (NumPy calls on "
            f"it are traced); its value is the graph's, jac.trace_graph(f, ...).nodes")

    def __bool__(self):
        raise TypeError(
            f"{self.node.name} is traced, so it has no truth value: `if` on it would pick one "
            f"branch for all inputs and differentiate only that one. Choose entries with "
            f"np.where(x > 0, a, b), whose mask is a constant of the trace")

    def _no_number(self, *args):
        raise TypeError(f"{self.node.name} is traced: a Python number made from it would "
                        f"drop its derivative")

    __float__ = __int__ = __complex__ = __index__ = item = tolist = _no_number

    def __setitem__(self, index, value):
        raise TypeError(f"{self.node.name} is traced and cannot be written into; build the "
                        f"new array instead (np.where, np.concatenate)")

    def __repr__(self):
        return f"Traced({self.node.name}, shape={self.shape})"

    # --- operators: straight to the ops (NumPy's ufunc dispatch would take longer) --
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
    def __pow__(self, other): return spelling.power(self, other)
    def __rpow__(self, other): return spelling.power(other, self)
    def __neg__(self): return REGISTRY["negative"](self)
    def __pos__(self): return self
    def __abs__(self): return REGISTRY["abs"](self)
    def __gt__(self, other): return np.greater(self.node.value, _plain(other))
    def __ge__(self, other): return np.greater_equal(self.node.value, _plain(other))
    def __lt__(self, other): return np.less(self.node.value, _plain(other))
    def __le__(self, other): return np.less_equal(self.node.value, _plain(other))
    def __eq__(self, other): return np.equal(self.node.value, _plain(other))
    def __ne__(self, other): return np.not_equal(self.node.value, _plain(other))
    __hash__ = object.__hash__  # kept: a traced value is one node, whatever == says

    def __getitem__(self, index):
        if isinstance(index, Traced) or (isinstance(index, tuple) and
                                         any(isinstance(i, Traced) for i in index)):
            raise TypeError("an index must be a constant (ints, slices, integer arrays or "
                            "boolean masks), not a traced value")
        return REGISTRY["getitem"](self, index)

    # --- methods, as NumPy's ---------------------------------------------------------
    @property
    def T(self):
        return REGISTRY["transpose"](self)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        return np.ravel(self, order)

    def flatten(self, order="C"):
        return spelling.named(np.ravel(self, order), "flatten")

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def swapaxes(self, axis1, axis2):
        return np.swapaxes(self, axis1, axis2)

    def sum(self, *args, **kwargs): return np.sum(self, *args, **kwargs)
    def mean(self, *args, **kwargs): return np.mean(self, *args, **kwargs)
    def var(self, *args, **kwargs): return np.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return np.std(self, *args, **kwargs)
    def max(self, *args, **kwargs): return np.max(self, *args, **kwargs)
    def min(self, *args, **kwargs): return np.min(self, *args, **kwargs)
    def dot(self, other): return np.dot(self, other)
    def clip(self, *args, **kwargs): return np.clip(self, *args, **kwargs)
    def trace(self, *args, **kwargs): return np.trace(self, *args, **kwargs)

    def copy(self):
        return self  # a traced value is never written into, so its copy is itself

    def astype(self, dtype, copy=True):
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"{self.node.name} is traced; as {np.dtype(dtype)} it would lose "
                            f"its derivative")
        return self


def _plain(x):
    """A traced value's value, for a comparison: the mask it gives is a constant."""
    return x.node.value if isinstance(x, Traced) else x


def _node_of(graph, a):
    """The node behind an argument; a plain array becomes a constant node.

    A value of a trace that this one runs inside (the x of ``jac.grad`` called
    within ``jac.jacobian``) is a constant here, and stays traced there.
    """
    if isinstance(a, Traced):
        if a.graph is graph:
            return a.node
        if a.graph not in _TRACING or a.graph.depth >= graph.depth:
            raise ValueError("a value from one traced function was used inside another, "
                             "which does not run inside the first")
        return graph.add(a.node.name, a, kind="constant")
    value = as_float_array(a, "a constant in a traced function")
    name = f"{value.item():g}" if value.ndim == 0 and isinstance(value, np.ndarray) else "const"
    return graph.add(name, value, kind="constant")


def name(x, label):
    """Give a traced value a printable name (``"H"``); arrays pass through.

    Use inside a model so graphs and derived programs speak of ``H`` and
    ``ŷ`` rather than ``matmul3``:

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
    graph = Graph(depth=len(_TRACING))
    for k, (label, a) in enumerate(zip(_parameter_names(f, len(args)), args)):
        # An argument traced by an enclosing trace keeps its trace: the values of this
        # graph are then traced values, and every rule run on them records itself there.
        value = a if isinstance(a, Traced) else as_float_array(a, f"argument {k} ({label})")
        graph.inputs.append(graph.add(label, value, kind="input"))
    _TRACING.append(graph)
    try:
        result = f(*(Traced(graph, n) for n in graph.inputs))
        if isinstance(result, (tuple, list)):
            raise TypeError(f"f returned a {type(result).__name__} of {len(result)} values; "
                            f"the library differentiates a function of one array output at "
                            f"a time: take one, e.g. lambda *args: f(*args)[0]")
        graph.output = _node_of(graph, result)
    finally:
        _TRACING.pop()
    return graph


# The traces running now, outermost first: jac.grad inside jac.jacobian nests two.
_TRACING = []


# Parameter names by function, forgotten with the function (a closure may hold big arrays).
_PARAMETERS = weakref.WeakKeyDictionary()


def _parameter_names(f, n):
    try:
        named = _PARAMETERS[f]
    except (KeyError, TypeError):  # not seen yet, or not weakly referable
        named = _named_parameters(f)
        try:
            _PARAMETERS[f] = named
        except TypeError:
            pass
    return (list(named) + [f"x{k}" for k in range(len(named), n)])[:n]


def _named_parameters(f):
    """Names of ``f``'s positional parameters."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
