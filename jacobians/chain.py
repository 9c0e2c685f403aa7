"""The chain rule, two ways: contracting full Jacobians, and sweeping VJPs.

Both are the sweeps of ``sweep.py``, with different rules on the edges.

*Naive* (:func:`jacobian`, :func:`chain_rule`): every local Jacobian of the
traced graph is materialised — 3rd- and 4th-order tensors included — and the
chain is contracted (einsum), summing over every path from the input to the
output. The order of contraction is a choice:

* ``"reverse"`` starts at the output: ``∂out/∂node`` for each node going back
  (the reverse sweep with dense local Jacobians);
* ``"forward"`` starts at the input: ``∂node/∂in`` for each node going on
  (the forward sweep with dense local Jacobians);
* ``"optimal"`` contracts each path's whole chain in the cheapest order of
  neighbour products (the matrix-chain problem, solved exactly); on a single
  chain with a scalar output that is reverse mode. On a graph with several
  paths each is ordered alone and shares nothing with the others, so it can
  cost more than reverse order (Q2), and a graph with more than
  :data:`MAX_PATHS` paths is contracted in the cheaper of reverse and forward
  order instead, with a note saying so.

Before anything is allocated, the run is planned by running it on shapes
alone (:func:`naive_plan`): what it would hold at its peak is refused if it
exceeds the memory limit.

*Efficient* (:func:`grad`, :func:`vjp`, :func:`jvp`): each op's hand-written
rule passes a cotangent back (or a tangent forward) without forming any
Jacobian — what frameworks do.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import opt_einsum

from .abstract import Tally, einsum_cost
from .arrays import as_float_array, kind, owned
from .contract import contract
from .graph import trace_graph
from .limits import check_bytes, check_fits, format_bytes
from .sweep import DENSE, HAND, IDENTITY, chain_spec, counter, forward, reverse, shaped_values

ORDERS = ("reverse", "forward", "optimal")
MAX_PATHS = 64  # past this many paths, none is contracted on its own


def check_order(order):
    """Return ``order`` if it is one of :data:`ORDERS`, else raise ValueError."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(map(repr, ORDERS))}, got {order!r}")
    return order


def wrt_indices(wrt, n):
    """Argument indices from ``wrt`` (an int or a tuple of them) for ``n`` arguments.

    Returns
    -------
    indices : tuple of int
        Each in ``range(n)`` (negative ones counted from the end).
    many : bool
        Whether ``wrt`` was a tuple, so the caller returns a tuple.

    Examples
    --------
    >>> wrt_indices(-1, 3), wrt_indices((0, 2), 3)
    (((2,), False), ((0, 2), True))
    """
    many = isinstance(wrt, tuple)
    indices = wrt if many else (wrt,)
    if many and not indices:
        raise ValueError("wrt=() names no argument; give an index or a tuple of them")
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise ValueError(f"the function takes {n} argument(s); wrt={wrt!r} is not an "
                             f"argument index (or a tuple of them)")
    return tuple(int(i) % n for i in indices), many


@dataclass(frozen=True)
class Local:
    """A local Jacobian ``∂child/∂parent``, the parent being the child's argument ``position``."""

    child: object
    position: int
    parent: object

    @property
    def name(self):
        twice = sum(p is self.parent for p in self.child.parents) > 1
        return (f"∂{self.child.name}/∂{self.parent.name}"
                + (f" (argument {self.position})" if twice else ""))

    @property
    def shape(self):
        return self.child.shape + self.parent.shape

    @property
    def nbytes(self):
        return 8 * math.prod(self.shape)


@dataclass(frozen=True)
class Step:
    """One product of a naive chain: an einsum (or a local Jacobian passed on) into a target.

    Attributes
    ----------
    what : str
        The product in words, ``"∂l/∂H · ∂H/∂W"``.
    spec : str or None
        The einsum; None when a local Jacobian is passed on as it is.
    operands : tuple of (Node, Node)
        Each operand of the einsum as the pair ``(of, by)`` of ``∂of/∂by``,
        in the order of ``spec``; its subscript is ``of``'s letters, then
        ``by``'s.
    target : (Node, Node)
        The accumulated Jacobian ``∂of/∂by`` the product adds to.
    locals : tuple of Local
        The local Jacobians this step multiplies by.
    flops : int
        What the step did, counted as it ran on shapes: building its local
        Jacobians (their coefficients) and contracting them.
    adds : int
        Entries added because the target already held another path's share.
    largest : int
        Entries of the largest array its contraction makes, the product
        included (the local Jacobians it multiplies by are not counted here).
    """

    what: str
    spec: str
    operands: tuple
    target: tuple
    locals: tuple
    flops: int
    adds: int
    largest: int

    @property
    def shapes(self):
        return tuple(of.shape + by.shape for of, by in self.operands)


@dataclass
class NaivePlan:
    """What a naive chain does and costs, counted by running it on shapes alone.

    Attributes
    ----------
    order : str
        The order that runs (see ``note`` when it is not the one asked for).
    steps : list of Step
    locals : tuple of Local
        Every local Jacobian it materialises, once each.
    shapes : tuple of tuple
        The shape ``out.shape + in.shape`` of each answer: one for each
        argument the chain serves (in reverse order one sweep serves several).
    held_bytes : int
        The most it holds at once besides the caller's inputs, forward values
        included.
    note : str
        Why the order that runs differs from the one asked for, or ``""``.
    """

    order: str
    steps: list
    locals: tuple
    shapes: tuple
    held_bytes: int
    note: str = ""

    @property
    def flops(self):
        """FLOPs of every step plus the additions where paths meet."""
        return sum(s.flops + s.adds for s in self.steps)

    @property
    def additions(self):
        """Entries added where several paths meet (one FLOP each)."""
        return sum(s.adds for s in self.steps)

    @property
    def local_bytes(self):
        """Bytes of each local Jacobian in float64, by name ``"∂H/∂W"``."""
        return {local.name: local.nbytes for local in self.locals}

    @property
    def largest_intermediate(self):
        """Entries of the largest array any step's products make, the results included.

        The local Jacobians the steps multiply by are not among them: they are
        in ``locals``.
        """
        return max([s.largest for s in self.steps] + [math.prod(s) for s in self.shapes])

    def __str__(self):
        lines = [f"{self.order} order: {len(self.steps)} step(s), {self.flops:,} FLOPs, largest "
                 f"intermediate {self.largest_intermediate:,} entries; local Jacobians "
                 f"{format_bytes(sum(self.local_bytes.values()))}"]
        if self.note:
            lines.append(f"  ({self.note})")
        for s in self.steps:
            how = f"einsum('{s.spec}')" if s.spec else "passed on as it is"
            lines.append(f"  {s.what:32} {how:28} {s.flops + s.adds:>14,} FLOPs")
        return "\n".join(lines)


class ChainRule:
    """A naive chain's Jacobian, with the plan that made it and its costs.

    Attributes
    ----------
    jacobian : ndarray, shape ``(*out.shape, *in.shape)``
    plan : NaivePlan
        Counted on shapes the first time it is asked for. Its ``steps``,
        ``flops``, ``largest_intermediate`` and ``local_bytes`` are
        available here directly too.
    """

    def __init__(self, jacobian, plan_of):
        self.jacobian, self._plan_of = jacobian, plan_of

    @cached_property
    def plan(self):
        return self._plan_of()

    def __getattr__(self, name):
        if name in ("order", "steps", "flops", "additions", "local_bytes",
                    "largest_intermediate", "note"):
            return getattr(self.plan, name)
        raise AttributeError(name)

    def __str__(self):
        return str(self.plan)

    def __repr__(self):
        return f"ChainRule(jacobian of shape {self.jacobian.shape})"


# --- the naive chain --------------------------------------------------------------
def _identity(shape, like):
    """``∂x/∂x``: ones on the diagonal of an array that owns its data (no copy to hand out)."""
    size = math.prod(shape)
    identity = np.zeros(shape + shape, like=like)
    np.copyto(np.einsum("ii->i", identity.reshape(size, size)), 1.0)
    return identity


def _finished(result, out, source, like):
    """``∂out/∂source`` from what a sweep left: the identity seed or nothing become arrays."""
    if result is IDENTITY:
        return _identity(source.shape, like)
    if result is None:  # the output does not depend on the source
        return np.zeros(out.shape + source.shape, like=like)
    return result


class _Letters:
    """Distinct einsum letters for every node's axes, the same in every step of a plan.

    The sweep contracts with letters of its own; a plan prints its steps with
    these, so that one node has one subscript everywhere (opt_einsum allows
    unicode past the 52 letters).
    """

    def __init__(self):
        self._next, self._of = 0, {}

    def __call__(self, node):
        if node.index not in self._of:
            self._of[node.index] = "".join(opt_einsum.get_symbol(self._next + j)
                                           for j in range(node.ndim))
            self._next += node.ndim
        return self._of[node.index]

    def spec(self, operands, target):
        """The einsum of Jacobians ``∂of/∂by`` given as ``(of, by)`` pairs."""
        inputs = ",".join(self(of) + self(by) for of, by in operands)
        return f"{inputs}->{self(target[0])}{self(target[1])}"


def _reverse_steps(graph, record):
    out, letters = graph.output, _Letters()
    steps = []
    for e in record:
        local = Local(e.child, e.position, e.parent)
        size = math.prod(out.shape + e.parent.shape)
        if e.child is out:
            steps.append(Step(local.name, None, ((e.child, e.parent),), (out, e.parent),
                              (local,), e.flops, e.adds, size))
            continue
        operands = ((out, e.child), (e.child, e.parent))
        steps.append(Step(f"∂{out.name}/∂{e.child.name} · {local.name}",
                          letters.spec(operands, (out, e.parent)), operands, (out, e.parent),
                          (local,), e.flops, e.adds, size))
    return steps


def _forward_steps(source, record):
    steps, letters = [], _Letters()
    for e in record:
        local = Local(e.child, e.position, e.parent)
        size = math.prod(e.child.shape + source.shape)
        if e.parent is source:
            steps.append(Step(local.name, None, ((e.child, e.parent),), (e.child, source),
                              (local,), e.flops, e.adds, size))
            continue
        operands = ((e.child, e.parent), (e.parent, source))
        steps.append(Step(f"{local.name} · ∂{e.parent.name}/∂{source.name}",
                          letters.spec(operands, (e.child, source)), operands,
                          (e.child, source), (local,), e.flops, e.adds, size))
    return steps


def _chain_order(sizes, summed):
    """The cheapest order of neighbour products for a chain of matrices: the matrix-chain DP.

    Parameters
    ----------
    sizes : list of int
        ``sizes[i]`` × ``sizes[i + 1]`` is matrix ``i`` (a local Jacobian
        flattened: the sizes of the nodes along the path).
    summed : list of bool
        Whether the node between matrices ``i − 1`` and ``i`` has an axis to
        sum over (a scalar node makes their product an outer product).

    Returns
    -------
    tuple of tuple of int
        The order as opt_einsum's path: pairs of positions in the list of
        operands, each pair replaced by its product at the end of the list.

    Examples
    --------
    >>> _chain_order([1, 5, 5, 5], [True] * 4)   # a scalar output: reverse mode
    ((0, 1), (0, 1))
    >>> _chain_order([5, 5, 5, 1], [True] * 4)   # a scalar input: forward mode
    ((1, 2), (0, 1))
    """
    n = len(sizes) - 1
    p = np.asarray(sizes, dtype=float)
    factor = np.where(summed, 2.0, 1.0)
    cost = np.zeros((n, n))
    split = np.zeros((n, n), dtype=int)
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            k = np.arange(i, j)
            total = cost[i, k] + cost[k + 1, j] + p[i] * p[k + 1] * p[j + 1] * factor[k + 1]
            best = int(np.argmin(total))
            cost[i, j], split[i, j] = total[best], i + best
    # Post-order over the split tree, without recursion: a long chain is deep.
    operands, path, stack, done = list(range(n)), [], [(0, n - 1, False)], {}
    next_id = n
    while stack:
        i, j, expanded = stack.pop()
        if i == j:
            done[(i, j)] = i
        elif not expanded:
            k = int(split[i, j])
            stack += [(i, j, True), (k + 1, j, False), (i, k, False)]
        else:
            k = int(split[i, j])
            a, b = operands.index(done[(i, k)]), operands.index(done[(k + 1, j)])
            path.append((min(a, b), max(a, b)))
            operands = [x for m, x in enumerate(operands) if m not in (a, b)] + [next_id]
            done[(i, j)] = next_id
            next_id += 1
    return tuple(path)


def _path_products(graph, source, paths, values=None):
    """Each path's product of local Jacobians, contracted in its cheapest order.

    Yields ``(step, product)``: the :class:`Step` (with its FLOPs when
    ``values`` are Shaped, counted by the tally) and the product.
    """
    out = graph.output
    tally = counter(values)
    built, letters = {}, _Letters()
    for path in paths:
        before = tally.flops if tally else 0
        locals_here = tuple(Local(c, k, p) for c, k, p in path)
        for (c, k, p), local in zip(path, locals_here):
            if (c.index, k) not in built:
                args = tuple(q.value if values is None else values[q.index] for q in c.parents)
                value = c.value if values is None else values[c.index]
                built[(c.index, k)] = DENSE.local(c, k, args, value)
        matrices = [built[(c.index, k)] for c, k, _ in path]
        operands = tuple((c, p) for c, _, p in path)
        size = math.prod(out.shape + source.shape)
        if len(path) == 1:
            step = Step(locals_here[0].name, None, operands, (out, source), locals_here,
                        tally.flops - before if tally else 0, 0, size)
            yield step, matrices[0]
            continue
        nodes = [out] + [p for _, _, p in path]
        spec = chain_spec(*(n.ndim for n in nodes))
        order = _chain_order([n.size for n in nodes], [n.ndim > 0 for n in nodes])
        product = contract(spec, *matrices, path=order)
        _, largest, _ = einsum_cost(spec, tuple(m.shape for m in matrices), order)
        step = Step(" · ".join(local.name for local in locals_here),
                    letters.spec(operands, (out, source)), operands, (out, source), locals_here,
                    tally.flops - before if tally else 0, 0, max(largest, size))
        yield step, product


def _run(graph, sources, order, values=None, steps=None):
    """Run the naive chain in ``order`` (reverse, forward, or per path) on ``values``.

    Returns the Jacobians, one per source; ``steps``, a list, receives a
    :class:`Step` for every product.
    """
    out = graph.output
    like = kind(values[0]) if values is not None else None
    record = [] if steps is not None else None
    if order == "reverse":
        results = reverse(graph, IDENTITY, DENSE, sources, values, record)
        if steps is not None:
            steps += _reverse_steps(graph, record)
        return [_finished(results.get(s.index), out, s, like) for s in sources]
    (source,) = sources
    if order == "forward":
        result = forward(graph, {source: IDENTITY}, DENSE, values, record)
        if steps is not None:
            steps += _forward_steps(source, record)
        return [_finished(result, out, source, like)]
    if source is out:
        return [_identity(source.shape, like)]
    total = None
    for step, product in _path_products(graph, source, graph.paths(source), values):
        adds = 0 if total is None else product.size
        total = product if total is None else total + product
        if steps is not None:
            steps.append(Step(step.what, step.spec, step.operands, step.target, step.locals,
                              step.flops, adds, step.largest))
    return [_finished(total, out, source, like)]


def _plan(graph, sources, order):
    """Run the chain on shapes alone: its steps, FLOPs and the most it holds at once."""
    tally, steps = Tally(), []
    values = shaped_values(graph, tally)
    jacobians = _run(graph, sources, order, values, steps)
    del jacobians, values  # what the run hands back is held at its peak, then freed
    locals_ = tuple(dict.fromkeys(local for step in steps for local in step.locals))
    shapes = tuple(graph.output.shape + s.shape for s in sources)
    return NaivePlan(order, steps, locals_, shapes, tally.peak)


def _resolve(graph, source, order):
    """The order that will run for ``source``, and a note when it is not ``order``."""
    if order != "optimal":
        return order, ""
    count = graph.count_paths(source)
    if count <= MAX_PATHS:
        return order, ""
    costs = {o: _plan(graph, [source], o).flops for o in ("reverse", "forward")}
    chosen = min(costs, key=costs.get)
    return chosen, (f"optimal order contracts each path on its own, and {count:,} paths lead "
                    f"from {source.name} to {graph.output.name} (more than {MAX_PATHS}): "
                    f"contracted in {chosen} order instead, the cheaper of reverse and "
                    f"forward, which share every sub-chain")


def naive_plans(graph, sources, order="reverse"):
    """Plan the naive chains that :func:`jacobian` runs for ``sources``, from shapes alone.

    Each chain is run on :class:`~jacobians.abstract.Shaped` arrays: every
    local Jacobian is built and every product taken on shapes, so a plan
    counts exactly what :func:`jacobian` does — and prices chains far too
    large to run.

    Returns
    -------
    list of NaivePlan
        One per source: in reverse order one sweep serves them all, so they
        share one plan; in the other orders each has its own.
    """
    check_order(order)
    if order == "reverse":
        return [_plan(graph, list(sources), order)] * len(sources)
    plans = []
    for source in sources:
        ran, note = _resolve(graph, source, order)
        plans.append(_plan(graph, [source], ran))
        plans[-1].note = note
    return plans


def naive_plan(graph, source, order="reverse"):
    """The :class:`NaivePlan` of the naive chain from ``source`` to the output.

    See :func:`naive_plans`.
    """
    return naive_plans(graph, [source], order)[0]


# What the refusal needs of each chain jacobian runs, by the graph's structure: the
# order that runs, the most it holds, and where its largest local Jacobian is.
_CHECKED = OrderedDict()
_CHECKED_SIZE = 256


def _checks(graph, sources, order):
    """For each chain :func:`jacobian` runs: its order, peak bytes and largest local Jacobian.

    Counted on shapes once per graph structure (every later call with the
    same ops, wiring and shapes reuses the count), holding no arrays.
    """
    key = (graph.signature(), tuple(s.index for s in sources), order)
    found = _CHECKED.get(key)
    if found is None:
        found = []
        for plan in naive_plans(graph, sources, order):
            largest = max(plan.locals, key=lambda local: local.nbytes, default=None)
            where = None if largest is None else (largest.child.index, largest.position)
            found.append((plan.order, plan.held_bytes, where))
        _CHECKED[key] = found
        if len(_CHECKED) > _CHECKED_SIZE:
            _CHECKED.popitem(last=False)
    _CHECKED.move_to_end(key)
    return found


def _refuse_if_too_large(graph, source, held, largest):
    """Refuse, before allocating anything, a chain that would hold more than the limit."""
    if largest is None:  # no local Jacobian: the answer is the identity, or zeros
        what = ("the identity Jacobian of a function returning its input" if
                source is graph.output else
                f"the Jacobian ∂{graph.output.name}/∂{source.name}, all zeros (the output does "
                f"not depend on {source.name}),")
        check_fits(graph.output.shape + source.shape, what, "jac.grad(f) or jac.vjp(f, ...)")
        return
    child, position = largest
    local = Local(graph.nodes[child], position, graph.nodes[child].parents[position])
    check_bytes(held, f"the naive chain, whose largest local Jacobian {local.name} has shape "
                f"{local.shape}, would at its peak", "jac.grad(f) or jac.vjp(f, ...)")


def _naive(graph, sources, order):
    """Check and run the naive chain; one ChainRule per source."""
    checks = _checks(graph, sources, order)
    for source, (_, held, largest) in zip(sources, checks):
        _refuse_if_too_large(graph, source, held, largest)
    if order == "reverse":
        jacobians = _run(graph, sources, order)
        shared = cache(lambda: naive_plans(graph, sources, order)[0])
        plans_of = [shared] * len(sources)
    else:
        jacobians = [_run(graph, [s], ran)[0] for s, (ran, _, _) in zip(sources, checks)]
        plans_of = [cache(lambda s=s: naive_plan(graph, s, order)) for s in sources]
    taken = {id(n.value) for n in graph.inputs}
    results = []
    for J, plan_of in zip(jacobians, plans_of):
        J = owned(J, taken)
        taken.add(id(J))
        results.append(ChainRule(J, plan_of))
    return results


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
        ``(*args) -> ChainRule`` (a tuple of them for a tuple ``wrt``): the
        Jacobian of shape ``f(*args).shape + args[wrt].shape``, every step
        with its FLOPs counted, and the bytes of every local Jacobian. In
        reverse order one sweep serves every argument (and their
        ChainRules share its plan); in the other orders each argument has
        its own chain.

    Raises
    ------
    JacobianTooLarge
        Before any allocation, naming the largest array the chain would hold.
    """
    check_order(order)

    def run(*args):
        indices, many = wrt_indices(wrt, len(args))
        graph = trace_graph(f, *args)
        results = _naive(graph, [graph.inputs[i] for i in indices], order)
        return tuple(results) if many else results[0]
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

    Raises
    ------
    ValueError
        For a tuple ``wrt``, and for a graph with more than
        :data:`MAX_PATHS` paths (their number can grow exponentially).

    Examples
    --------
    >>> import jacobians as jac
    >>> f = lambda x: jac.sum(x * jac.exp(x))
    >>> [name for name, _ in jac.paths(f)(np.ones(2))]
    ['∂sum/∂multiply · ∂multiply/∂x', '∂sum/∂multiply · ∂multiply/∂exp · ∂exp/∂x']
    """
    if isinstance(wrt, tuple):
        raise ValueError(f"paths splits the derivative by one argument at a time; "
                         f"wrt={wrt!r} names {len(wrt)}: call it once for each")

    def shares(*args):
        (i,), _ = wrt_indices(wrt, len(args))
        graph = trace_graph(f, *args)
        source = graph.inputs[i]
        count = graph.count_paths(source)
        if count > MAX_PATHS:
            raise ValueError(f"{count:,} paths lead from {source.name} to "
                             f"{graph.output.name}, too many to list (at most {MAX_PATHS}); "
                             f"jac.jacobian(f) sums them all, accumulating at each node")
        ((_, held, largest),) = _checks(graph, [source], "optimal")
        _refuse_if_too_large(graph, source, held, largest)
        if source is graph.output:
            return [(f"∂{source.name}/∂{source.name}", _identity(source.shape, None))]
        return [(step.what, owned(product, ()))
                for step, product in _path_products(graph, source, graph.paths(source))]
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


# --- the efficient sweeps -----------------------------------------------------------
def _handed_out(results, nodes, callers, like=None):
    """The sweep's results as arrays the caller owns: none shares memory with an input,
    a given array or another result; a node the sweep never reached gets zeros."""
    taken = {id(a) for a in callers}
    handed = []
    for result, node in zip(results, nodes):
        result = np.zeros(node.shape, like=like) if result is None else owned(result, taken)
        taken.add(id(result))
        handed.append(result)
    return tuple(handed)


def gradient_sweep(graph, sources, values=None, record=None, callers=()):
    """What :func:`grad` runs on a traced scalar graph: the reverse sweep of hand rules.

    Parameters
    ----------
    graph : Graph
    sources : list of Node
    values, record
        As in :func:`jacobians.sweep.reverse`: Shaped values count the sweep.
    callers : sequence of array
        Arrays the caller gave, which no result may share memory with.

    Returns
    -------
    tuple of array
        The gradient for each source.
    """
    like = kind(values[0]) if values is not None else None
    cotangent = reverse(graph, np.ones((), like=like), HAND, sources, values, record)
    inputs = [n.value for n in graph.inputs] if values is None else []
    return _handed_out([cotangent.get(s.index) for s in sources], sources,
                       inputs + list(callers), like)


def grad(f, wrt=0):
    """The gradient of a scalar ``f`` by a reverse sweep of VJPs; no Jacobian is built.

    Returns
    -------
    callable
        ``(*args) -> ndarray`` of shape ``args[wrt].shape`` (a tuple for a
        tuple ``wrt``).

    Examples
    --------
    >>> import jacobians as jac
    >>> f = lambda W, X: jac.sum(jac.square(X @ W))
    >>> X, W = np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> jac.grad(f)(W, X)
    array([[2., 4.],
           [6., 8.]])
    """
    def gradient(*args):
        indices, many = wrt_indices(wrt, len(args))
        graph = trace_graph(f, *args)
        if graph.output.ndim != 0:
            raise ValueError(f"grad needs a scalar function, but f returns shape "
                             f"{graph.output.shape}; use jac.vjp(f, ...) with a cotangent, or "
                             f"jac.jacobian(f) for the full Jacobian")
        results = gradient_sweep(graph, [graph.inputs[i] for i in indices], callers=args)
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
        cotangent = reverse(graph, g, HAND, graph.inputs)
        return _handed_out([cotangent.get(n.index) for n in graph.inputs], graph.inputs,
                           [n.value for n in graph.inputs] + list(args) + [g])
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
    seeds = {}
    for n, t in zip(graph.inputs, tangents):
        t = as_float_array(t, f"the tangent for {n.name}")
        if t.shape != n.shape:
            raise ValueError(f"the tangent for {n.name} has shape {t.shape}, but {n.name} "
                             f"has shape {n.shape}")
        seeds[n] = t
    out = graph.output
    pushed = forward(graph, seeds, HAND)
    (tangent,) = _handed_out([pushed], [out], [n.value for n in graph.inputs] + list(args)
                             + list(seeds.values()))
    return out.value.copy(), tangent


# --- composing Jacobians by hand ----------------------------------------------------
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
    J : ndarray, shape ``(*z.shape, *x.shape)``

    Raises
    ------
    ValueError
        When the shapes do not fit, saying which axes disagree and what would.

    Examples
    --------
    >>> compose(np.ones(4), np.ones((4, 4, 2))).shape
    (4, 2)
    """
    A, B = np.asarray(J_outer, dtype=float), np.asarray(J_inner, dtype=float)
    fits = [k for k in range(1, min(A.ndim, B.ndim) + 1) if A.shape[A.ndim - k:] == B.shape[:k]]
    if mid_ndim is None:
        if A.ndim == B.ndim == 1:
            # Two vectors contract to a number, or do not fit at all.
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
                 "is a matrix, and a vector differentiated by a matrix is a 3rd-order tensor.")


def _two_vectors(A, B):
    # Two vectors of one size: almost always σ'(z) standing in for diag(σ'(z)).
    return (f"composing two vectors of shape {A.shape} would sum their product to one number. "
            f"{_NOT_A_VECTOR} For an elementwise step such as σ it is the diagonal matrix "
            f"diag(σ'(z)), and multiplying by it is the Hadamard product. If the second really "
            f"is the Jacobian of a vector by a scalar, pass mid_ndim=1.")


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
