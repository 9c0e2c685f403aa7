"""The chain rule, two ways: contracting full Jacobians, and sweeping VJPs.

*Naive* (:func:`jacobian`, :func:`chain_rule`): every local Jacobian of the
traced graph is materialised — 3rd- and 4th-order tensors included — and the
chain is contracted with opt_einsum, summing over every path from the input
to the output. The order of contraction is a choice:

* ``"reverse"`` starts at the output: ``∂out/∂node`` for each node going back;
* ``"forward"`` starts at the input: ``∂node/∂in`` for each node going on;
* ``"optimal"`` hands each path's whole chain to opt_einsum to order; on a
  single chain with a scalar output it finds reverse mode by itself. On a
  graph with several paths it orders each path alone and cannot share
  sub-chains between them, so it can cost more than reverse order (Q2).

*Efficient* (:func:`grad`, :func:`vjp`, :func:`jvp`): each op's hand-written
rule passes a cotangent back (or a tangent forward) without forming any
Jacobian — what frameworks do.
"""
import math
from dataclasses import dataclass, field

import numpy as np
import opt_einsum

from .arrays import as_float_array, fresh
from .graph import trace_graph
from .limits import check_bytes, check_fits, format_bytes

ORDERS = ("reverse", "forward", "optimal")


@dataclass(frozen=True)
class Step:
    """One step of a naive chain: an einsum (or a plain copy) into a target.

    Attributes
    ----------
    what : str
        The product in words, ``"∂l/∂H · ∂H/∂W"``.
    spec : str or None
        The einsum; ``None`` when the step only passes one operand on.
    shapes : tuple of tuple
        The operands' shapes.
    flops, largest : int
        opt_einsum's FLOP count and the entries of the largest intermediate
        (the result included) for the path it chose.
    path : tuple
        That path.
    operands : tuple
        Keys of the operands: ``("J", child, position)`` for a local
        Jacobian, ``("A", node)`` for an accumulated one.
    target : tuple
        Key of the accumulated Jacobian this step adds to.
    adds : int
        Entries added because the target already held a path's sum.
    """

    what: str
    spec: str
    shapes: tuple
    flops: int
    largest: int
    path: tuple
    operands: tuple
    target: tuple
    adds: int


@dataclass
class NaivePlan:
    """What a naive chain will do and cost, known from shapes alone.

    Attributes
    ----------
    order : str
    steps : list of Step
    local : dict
        Each local Jacobian's key mapped to ``(name, shape)``.
    result : tuple
        Key of the accumulated Jacobian that is the answer.
    shape : tuple
        The answer's shape, ``out.shape + in.shape``.
    """

    order: str
    steps: list
    local: dict
    result: tuple
    shape: tuple

    @property
    def flops(self):
        """FLOPs of every contraction (opt_einsum's count) plus the additions."""
        return sum(s.flops + s.adds for s in self.steps)

    @property
    def additions(self):
        """Entries added where several paths meet (one FLOP each)."""
        return sum(s.adds for s in self.steps)

    @property
    def local_bytes(self):
        """Bytes of each local Jacobian in float64, by name ``"∂H/∂W"``."""
        return {name: 8 * int(np.prod(shape, dtype=np.int64)) for name, shape in self.local.values()}

    @property
    def largest_intermediate(self):
        """Entries of the largest array any step makes, the result included."""
        return max([s.largest for s in self.steps] + [int(np.prod(self.shape, dtype=np.int64))])

    def last_uses(self):
        """For each operand key, the index of the last step that reads it."""
        return {key: i for i, s in enumerate(self.steps) for key in s.operands}

    @property
    def held_bytes(self):
        """Bytes held at the peak of the run, from shapes alone.

        Every local Jacobian is built first and kept until its last use; an
        accumulated product lives from the step that makes it to the last
        step that reads it; each step also holds its own intermediates and,
        when it adds into a sum already held, a second copy of that sum.
        """
        live = {key: int(np.prod(shape, dtype=np.int64)) for key, (_, shape) in self.local.items()}
        last = self.last_uses()
        peak = sum(live.values())
        for i, s in enumerate(self.steps):
            made = s.largest if s.spec else 0  # a plain step passes its operand on
            peak = max(peak, sum(live.values()) + made + s.adds)
            live[s.target] = s.largest  # the product's size: the sum it joins has the same
            for key in s.operands:
                if last[key] == i and key != self.result:
                    live.pop(key, None)
        return 8 * max(peak, sum(live.values()), int(np.prod(self.shape, dtype=np.int64)))

    def __str__(self):
        lines = [f"{self.order} order: {len(self.steps)} step(s), {self.flops:,} FLOPs, largest "
                 f"intermediate {self.largest_intermediate:,} entries; local Jacobians "
                 f"{format_bytes(sum(self.local_bytes.values()))}"]
        for s in self.steps:
            how = f"einsum('{s.spec}')" if s.spec else "passed on as it is"
            lines.append(f"  {s.what:32} {how:28} {s.flops + s.adds:>14,} FLOPs")
        return "\n".join(lines)


@dataclass
class ChainRule:
    """A naive chain's Jacobian, with the plan that made it and its costs.

    Attributes
    ----------
    jacobian : ndarray, shape ``(*out.shape, *in.shape)``
    plan : NaivePlan
        Its ``steps``, ``flops``, ``largest_intermediate`` and
        ``local_bytes`` are available here directly too.
    """

    jacobian: np.ndarray
    plan: NaivePlan

    def __getattr__(self, name):
        if name in ("order", "steps", "flops", "additions", "local_bytes",
                    "largest_intermediate"):
            return getattr(self.plan, name)
        raise AttributeError(name)

    def __str__(self):
        return str(self.plan)


def _wrt_tuple(wrt, n):
    many = isinstance(wrt, tuple)
    indices = wrt if many else (wrt,)
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise ValueError(f"the function takes {n} argument(s); wrt={wrt!r} is not an "
                             f"argument index (or a tuple of them)")
    return tuple(int(i) % n for i in indices), many


class _Symbols:
    """Distinct einsum labels for every node's axes (opt_einsum allows unicode)."""

    def __init__(self):
        self._next, self._of = 0, {}

    def __call__(self, node):
        if id(node) not in self._of:
            k = node.value.ndim
            self._of[id(node)] = "".join(opt_einsum.get_symbol(self._next + j) for j in range(k))
            self._next += k
        return self._of[id(node)]


def naive_plan(graph, source, order="reverse"):
    """Plan the naive chain from ``source`` to the graph's output, from shapes alone.

    ``"reverse"`` accumulates ``∂out/∂n`` from the output back, ``"forward"``
    accumulates ``∂n/∂source`` from the input on, and ``"optimal"`` gives each
    path's whole product to opt_einsum (best per path; paths share nothing).
    Nothing is materialised, so the plan also prices chains far too large to
    run.

    Returns
    -------
    NaivePlan
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    sym = _Symbols()
    out = graph.output
    edges = graph.edges(source)
    local = {}
    for c, k, p in edges:
        twice = f" (argument {k})" if c.parents.count(p) > 1 else ""
        local[("J", id(c), k)] = (f"∂{c.name}/∂{p.name}{twice}", c.shape + p.shape)
    steps, held = [], set()

    def step(what, spec, operands, shapes, target, target_shape, optimize="auto"):
        adds = int(np.prod(target_shape, dtype=np.int64)) if target in held else 0
        held.add(target)
        if spec is None:
            size = int(np.prod(shapes[0], dtype=np.int64))
            steps.append(Step(what, None, tuple(shapes), 0, size, (), tuple(operands), target, adds))
            return
        path, info = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=optimize)
        steps.append(Step(what, spec, tuple(shapes), int(info.opt_cost),
                          int(info.largest_intermediate), tuple(path), tuple(operands), target, adds))

    def J(c, k, p):
        return ("J", id(c), k), c.shape + p.shape, f"∂{c.name}/∂{p.name}"

    if order == "reverse":
        # ∂out/∂n for each node n, from the output back; at the output it is the identity.
        for c in reversed(graph.between(source)):
            for k, p in enumerate(c.parents):
                if ("J", id(c), k) not in local:
                    continue
                key, shape, name = J(c, k, p)
                target, target_shape = ("A", id(p)), out.shape + p.shape
                if c is out:
                    step(name, None, [key], [shape], target, target_shape)
                else:
                    spec = f"{sym(out)}{sym(c)},{sym(c)}{sym(p)}->{sym(out)}{sym(p)}"
                    step(f"∂{out.name}/∂{c.name} · {name}", spec, [("A", id(c)), key],
                         [out.shape + c.shape, shape], target, target_shape)
    elif order == "forward":
        # ∂n/∂source for each node n, from the input on; at the input it is the identity.
        for c in graph.between(source):
            for k, p in enumerate(c.parents):
                if ("J", id(c), k) not in local:
                    continue
                key, shape, name = J(c, k, p)
                target, target_shape = ("A", id(c)), c.shape + source.shape
                if p is source:
                    step(name, None, [key], [shape], target, target_shape)
                else:
                    spec = f"{sym(c)}{sym(p)},{sym(p)}{sym(source)}->{sym(c)}{sym(source)}"
                    step(f"{name} · ∂{p.name}/∂{source.name}", spec, [key, ("A", id(p))],
                         [shape, p.shape + source.shape], target, target_shape)
    else:
        target, target_shape = ("A", id(source)), out.shape + source.shape
        for path in graph.paths(source):
            keys, shapes, names = zip(*(J(c, k, p) for c, k, p in path))
            if len(path) == 1:
                step(names[0], None, keys, shapes, target, target_shape)
                continue
            spec = ",".join(sym(c) + sym(p) for c, _, p in path) + f"->{sym(out)}{sym(source)}"
            # 'optimal' searches every order; past a handful of operands dynamic
            # programming finds the same, provided it may multiply by a scalar or
            # form an outer product early (search_outer), as reverse order does.
            step(" · ".join(names), spec, keys, shapes, target, target_shape,
                 "optimal" if len(path) <= 6 else opt_einsum.DynamicProgramming(search_outer=True))
    result = ("A", id(source)) if order != "forward" else ("A", id(out))
    return NaivePlan(order, steps, local, result, out.shape + source.shape)


def _refuse_if_too_large(plan):
    """Check what the plan will hold at its peak, before allocating anything."""
    if not plan.local:  # the output is the input: its Jacobian is the identity
        check_fits(plan.shape, "the identity Jacobian of a function returning its input",
                   "jac.grad(f) or jac.vjp(f, ...)")
        return
    name, shape = max(plan.local.values(), key=lambda x: math.prod(x[1]))
    check_bytes(plan.held_bytes, f"the naive chain, whose largest local Jacobian {name} has "
                f"shape {shape}, would at its peak", "jac.grad(f) or jac.vjp(f, ...)")


def _naive(graph, source, order, terms=None):
    """Run the naive chain; each step's product is also appended to ``terms`` if given."""
    plan = naive_plan(graph, source, order)
    _refuse_if_too_large(plan)
    out = graph.output
    if out is source:
        return ChainRule(np.eye(out.value.size).reshape(plan.shape), plan)
    values = {}
    nodes = {id(n): n for n in graph.nodes}
    for key in plan.local:
        _, child, k = key
        values[key] = nodes[child].derivative(k).materialise()
    last = plan.last_uses()
    for i, s in enumerate(plan.steps):
        operands = [values[key] for key in s.operands]
        if s.spec is None:
            term = operands[0]
        else:
            term = np.asarray(opt_einsum.contract(s.spec, *operands, optimize=list(s.path)))
        if terms is not None:
            terms.append((s.what, term))
        values[s.target] = values[s.target] + term if s.target in values else term
        for key in s.operands:  # free what no later step reads, as held_bytes assumes
            if last[key] == i and key != plan.result:
                del values[key]
    jacobian = values.get(plan.result)
    if jacobian is None:  # the output does not depend on the input at all
        jacobian = np.zeros(plan.shape)
    return ChainRule(jacobian, plan)


def chain_rule(f, wrt=0, order="reverse"):
    """The naive chain rule with its costs: a function of ``f``'s arguments.

    Parameters
    ----------
    f : callable
        Built from the library's ops; any output shape.
    wrt : int or tuple of int
        Which argument(s) to differentiate with respect to.
    order : {"reverse", "forward", "optimal"}
        The order in which the chain of local Jacobians is contracted.

    Returns
    -------
    callable
        ``(*args) -> ChainRule`` (a tuple of them for a tuple ``wrt``, each
        argument with its own plan, so shared local Jacobians are built once
        per argument): the
        Jacobian of shape ``f(*args).shape + args[wrt].shape``, every einsum
        with opt_einsum's FLOP count and largest intermediate, and the bytes
        of every local Jacobian.

    Raises
    ------
    JacobianTooLarge
        Before any allocation, naming the largest array the chain would hold.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")

    def run(*args):
        indices, many = _wrt_tuple(wrt, len(args))
        graph = trace_graph(f, *args)
        results = tuple(_naive(graph, graph.inputs[i], order) for i in indices)
        return results if many else results[0]
    return run


def paths(f, wrt=0):
    """Each path's share of the total derivative, for a variable used more than once.

    The chain rule on a graph sums over every path from the input to the
    output; forgetting one is the classic mistake when a weight is shared.

    Returns
    -------
    callable
        ``(*args) -> list of (str, ndarray)``: each path as the product of
        its local Jacobians in words, and that product, of shape
        ``f(*args).shape + args[wrt].shape``. They sum to :func:`jacobian`.

    >>> import jacobians as jac
    >>> f = lambda x: jac.sum(x * jac.exp(x))
    >>> [name for name, _ in jac.paths(f)(np.ones(2))]
    ['∂sum/∂multiply · ∂multiply/∂x', '∂sum/∂multiply · ∂multiply/∂exp · ∂exp/∂x']
    """
    def shares(*args):
        (i,), _ = _wrt_tuple(wrt, len(args))
        graph = trace_graph(f, *args)
        terms = []
        _naive(graph, graph.inputs[i], "optimal", terms)
        return terms
    return shares


def jacobian(f, wrt=0, order="reverse"):
    """The full Jacobian of ``f`` by contracting materialised local Jacobians.

    ``jacobian(f, wrt)(*args)`` has shape ``f(*args).shape + args[wrt].shape``:
    a gradient-shaped array for a scalar ``f``, a 4th-order tensor for
    ``sigmoid(X @ W)`` w.r.t. ``W``. See :func:`chain_rule` for the costs.

    >>> import jacobians as jac
    >>> f = lambda X, W: jac.sigmoid(X @ W)
    >>> jac.jacobian(f, wrt=1)(np.ones((4, 3)), np.ones((3, 2))).shape
    (4, 2, 3, 2)
    """
    run = chain_rule(f, wrt, order)

    def jacobian_of(*args):
        result = run(*args)
        return tuple(r.jacobian for r in result) if isinstance(result, tuple) else result.jacobian
    return jacobian_of


def _backward(graph, g, sources=None):
    """Reverse sweep of hand VJPs from cotangent ``g`` on the output.

    Returns each reached node's cotangent, by node id. Only nodes between a
    source and the output are visited (all ancestors when ``sources`` is None).
    """
    if sources is None:
        active = set(id(n) for n in graph.nodes)
    else:
        active = set(id(n) for s in sources for n in graph.between(s))
    cotangent = {id(graph.output): g}
    for node in reversed(graph.nodes):
        gn = cotangent.get(id(node))
        if gn is None or node.op is None:
            continue
        values = tuple(p.value for p in node.parents)
        for k, p in enumerate(node.parents):
            if id(p) not in active or p.kind == "constant":
                continue
            gp = node.op.vjp_rule(k, gn, values, node.value, **node.params)
            cotangent[id(p)] = gp if id(p) not in cotangent else cotangent[id(p)] + gp
    return cotangent


def _result_for(cotangent, node, inputs=()):
    """The cotangent of ``node`` as a fresh array (a rule may return a view of its input)."""
    g = cotangent.get(id(node))
    return np.zeros(node.shape) if g is None else fresh(g, inputs)


def _results_for(cotangent, nodes, inputs):
    """Fresh cotangents of ``nodes``, none sharing memory with another or with ``inputs``."""
    results = []
    for node in nodes:
        results.append(_result_for(cotangent, node, list(inputs) + results))
    return tuple(results)


def grad(f, wrt=0):
    """The gradient of a scalar ``f`` by a reverse sweep of VJPs; no Jacobian is built.

    Returns
    -------
    callable
        ``(*args) -> ndarray`` of shape ``args[wrt].shape`` (a tuple for a
        tuple ``wrt``).

    >>> import jacobians as jac
    >>> f = lambda W, X: jac.sum(jac.square(X @ W))
    >>> X, W = np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> jac.grad(f)(W, X)
    array([[2., 4.],
           [6., 8.]])
    """
    def gradient(*args):
        indices, many = _wrt_tuple(wrt, len(args))
        graph = trace_graph(f, *args)
        if graph.output.value.ndim != 0:
            raise ValueError(f"grad needs a scalar function, but f returns shape "
                             f"{graph.output.shape}; use jac.vjp(f, ...) with a cotangent, or "
                             f"jac.jacobian(f) for the full Jacobian")
        sources = [graph.inputs[i] for i in indices]
        cotangent = _backward(graph, np.ones(()), sources)
        results = _results_for(cotangent, sources, [n.value for n in graph.inputs])
        return results if many else results[0]
    return gradient


def vjp(f, *args):
    """The value of ``f`` and a function pulling cotangents back to every argument.

    Returns
    -------
    value : ndarray
    pullback : callable
        ``g -> tuple`` of one array per argument, shaped like it;
        ``g`` must have the shape of ``value``.
    """
    graph = trace_graph(f, *args)
    out = graph.output

    def pullback(g):
        g = as_float_array(g, "the cotangent")
        if g.shape != out.shape:
            raise ValueError(f"the cotangent has shape {g.shape} but f's output {out.name} has "
                             f"shape {out.shape}; they must be equal")
        cotangent = _backward(graph, g)
        return _results_for(cotangent, graph.inputs, [n.value for n in graph.inputs] + [g])
    return out.value.copy(), pullback


def jvp(f, args, tangents):
    """The value of ``f`` and its directional derivative, by a forward sweep.

    Parameters
    ----------
    f : callable
    args, tangents : sequence of array_like
        One tangent per argument, of the same shape (zeros for a fixed one).

    Returns
    -------
    value, tangent : ndarray
        ``f(*args)`` and ``Σ_i ∂f/∂args[i] · tangents[i]``, both of the output's shape.
    """
    args, tangents = tuple(args), tuple(tangents)
    if len(args) != len(tangents):
        raise ValueError(f"jvp needs one tangent per argument: {len(args)} argument(s), "
                         f"{len(tangents)} tangent(s)")
    graph = trace_graph(f, *args)
    tangent = {}
    for n, t in zip(graph.inputs, tangents):
        t = as_float_array(t, f"the tangent for {n.name}")
        if t.shape != n.shape:
            raise ValueError(f"the tangent for {n.name} has shape {t.shape}, but {n.name} "
                             f"has shape {n.shape}")
        tangent[id(n)] = t
    for node in graph.nodes:
        if node.op is None:
            continue
        values = tuple(p.value for p in node.parents)
        for k, p in enumerate(node.parents):
            if id(p) in tangent:
                tn = node.op.jvp_rule(k, tangent[id(p)], values, node.value, **node.params)
                tangent[id(node)] = tn if id(node) not in tangent else tangent[id(node)] + tn
    out = graph.output
    inputs = [n.value for n in graph.inputs] + [tangent[id(n)] for n in graph.inputs]
    return out.value.copy(), _result_for(tangent, out, inputs)


def compose(J_outer, J_inner, mid_ndim=None):
    """Chain two Jacobians by hand: ``∂z/∂x = ∂z/∂y · ∂y/∂x``.

    Contracts the trailing ``mid_ndim`` (input) axes of ``J_outer`` with the
    leading (output) axes of ``J_inner``.

    Parameters
    ----------
    J_outer : ndarray, shape ``(*z.shape, *y.shape)``
    J_inner : ndarray, shape ``(*y.shape, *x.shape)``
    mid_ndim : int, optional
        ``y.ndim``. Found from the shapes when only one choice fits.

    Returns
    -------
    ndarray, shape ``(*z.shape, *x.shape)``

    Raises
    ------
    ValueError
        When the shapes do not fit, saying which axes disagree and what would.

    >>> compose(np.ones(4), np.ones((4, 4, 2))).shape
    (4, 2)
    """
    A, B = np.asarray(J_outer, dtype=float), np.asarray(J_inner, dtype=float)
    fits = [k for k in range(1, min(A.ndim, B.ndim) + 1) if A.shape[A.ndim - k:] == B.shape[:k]]
    if mid_ndim is None:
        if A.ndim == B.ndim == 1:
            # Two vectors contract to a number: almost always σ'(z) standing in for diag(σ'(z)).
            raise ValueError(_misfit(A, B, 1) if not fits else _two_vectors(A, B))
        if len(fits) > 1:
            raise ValueError(
                f"composing shapes {A.shape} and {B.shape} is ambiguous: the last "
                f"{' or '.join(map(str, fits))} axes of the first match the first axes of the "
                f"second; say which with mid_ndim=")
        if not fits:
            raise ValueError(_misfit(A, B, 1))
        mid_ndim = fits[0]
    elif mid_ndim not in fits:
        raise ValueError(_misfit(A, B, mid_ndim))
    return np.tensordot(A, B, axes=mid_ndim)


_NOT_A_VECTOR = ("A local derivative is rarely a vector: a vector differentiated by a vector "
                 "is a matrix (for an elementwise step such as σ, the diagonal matrix "
                 "diag(σ'(z))), and a vector differentiated by a matrix is a 3rd-order tensor.")


def _two_vectors(A, B):
    return (f"composing two vectors of shape {A.shape} would sum their product to one number. "
            f"{_NOT_A_VECTOR} Multiplying by diag(σ'(z)) is the Hadamard product. If the "
            f"second really is the Jacobian of a vector by a scalar, pass mid_ndim=1.")


def _misfit(A, B, k):
    """Explain why ``A · B`` does not chain, and what would."""
    k = max(1, min(k, A.ndim, B.ndim))
    axes = list(range(A.ndim - k, A.ndim))
    message = (f"cannot chain a Jacobian of shape {A.shape} with one of shape {B.shape}: the "
               f"first one's input axes {tuple(axes)} have sizes {A.shape[A.ndim - k:]} but the "
               f"second one's output axes {tuple(range(k))} have sizes {B.shape[:k]}. In "
               f"∂z/∂y · ∂y/∂x the sizes of y must meet in the middle.")
    swapped = [j for j in range(1, min(A.ndim, B.ndim) + 1) if B.shape[B.ndim - j:] == A.shape[:j]]
    if swapped:
        axes = "axis" if swapped[0] == 1 else f"{swapped[0]} axes"
        message += (f" The other order fits (the second one's last {axes} and the first one's "
                    f"first {axes} have the same sizes): the chain rule multiplies from the output "
                    f"down to the input, so compose(second, first) may be what you mean.")
    if A.ndim == 1 and B.ndim == 1:
        message += " " + _NOT_A_VECTOR
    return message
