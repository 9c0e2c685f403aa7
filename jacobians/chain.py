"""The chain rule, two ways: contracting full Jacobians, and sweeping VJPs.

*Naive* (:func:`jacobian`, :func:`chain_rule`): every local Jacobian of the
traced graph is materialised — 3rd- and 4th-order tensors included — and the
chain is contracted with opt_einsum, summing over every path from the input
to the output. The order of contraction is a choice:

* ``"reverse"`` starts at the output: ``∂out/∂node`` for each node going back;
* ``"forward"`` starts at the input: ``∂node/∂in`` for each node going on;
* ``"optimal"`` hands each path's whole chain to opt_einsum to order; for a
  scalar output it finds reverse mode by itself.

*Efficient* (:func:`grad`, :func:`vjp`, :func:`jvp`): each op's hand-written
rule passes a cotangent back (or a tangent forward) without forming any
Jacobian — what frameworks do.
"""
from dataclasses import dataclass, field

import numpy as np
import opt_einsum

from .graph import trace_graph
from .limits import check_fits, format_bytes

ORDERS = ("reverse", "forward", "optimal")


@dataclass(frozen=True)
class Step:
    """One einsum of a naive chain: its spec, operand shapes and cost.

    ``flops`` and ``largest`` (entries of the largest intermediate) are
    opt_einsum's own counts for the path it chose.
    """

    what: str
    spec: str
    shapes: tuple
    flops: int
    largest: int
    path: tuple


@dataclass
class ChainRule:
    """The outcome of a naive chain: the Jacobian and what it cost.

    Attributes
    ----------
    jacobian : ndarray, shape ``(*out.shape, *in.shape)``
    order : str
    steps : list of Step
        Every einsum, in the order run.
    local_bytes : dict of str to int
        Bytes of each materialised local Jacobian, by name ``"∂H/∂W"``.
    additions : int
        Entries added where several paths meet (one FLOP each).
    """

    jacobian: np.ndarray
    order: str
    steps: list = field(default_factory=list)
    local_bytes: dict = field(default_factory=dict)
    additions: int = 0

    @property
    def flops(self):
        """FLOPs of every contraction (opt_einsum's count) plus the additions."""
        return sum(s.flops for s in self.steps) + self.additions

    @property
    def largest_intermediate(self):
        """Entries of the largest array any step made, the result included."""
        return max([s.largest for s in self.steps] + [self.jacobian.size])

    def __str__(self):
        lines = [f"{self.order} order: {len(self.steps)} einsum(s), {self.flops:,} FLOPs, "
                 f"largest intermediate {self.largest_intermediate:,} entries; local "
                 f"Jacobians {format_bytes(sum(self.local_bytes.values()))}"]
        lines += [f"  {s.what:28} einsum('{s.spec}')  {s.flops:>14,} FLOPs" for s in self.steps]
        return "\n".join(lines)


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


def _refuse_if_too_large(graph, source, order):
    """Check every array the naive chain will hold, before allocating any."""
    edges = graph.edges(source)
    sizes = [(f"the local Jacobian ∂{c.name}/∂{p.name}", c.shape + p.shape) for c, _, p in edges]
    active = graph.between(source)
    if order == "reverse":
        sizes += [(f"the accumulated ∂{graph.output.name}/∂{n.name}", graph.output.shape + n.shape)
                  for n in active]
    elif order == "forward":
        sizes += [(f"the accumulated ∂{n.name}/∂{source.name}", n.shape + source.shape)
                  for n in active]
    if not sizes:
        return
    what, shape = max(sizes, key=lambda x: int(np.prod(x[1], dtype=object)))
    check_fits(shape, what + " (the largest array of this naive chain)",
               "jac.grad(f) or jac.vjp(f, ...)")


def _paths(graph, source):
    """Every path from ``source`` to the output, as a list of edges output-first."""
    edges = graph.edges(source)
    into = {}
    for c, k, p in edges:
        into.setdefault(id(c), []).append((c, k, p))

    def from_(node):
        if node is source:
            return [[]]
        return [[e] + rest for e in into.get(id(node), []) for rest in from_(e[2])]
    return from_(graph.output)


def _contract(result, what, spec, operands, optimize="auto"):
    path, info = opt_einsum.contract_path(spec, *operands, optimize=optimize)
    result.steps.append(Step(what, spec, tuple(o.shape for o in operands), int(info.opt_cost),
                             int(info.largest_intermediate), tuple(path)))
    return np.asarray(opt_einsum.contract(spec, *operands, optimize=path))


def _add(result, total, term):
    if total is None:
        return term
    result.additions += term.size
    return total + term


def _naive(graph, source, order):
    _refuse_if_too_large(graph, source, order)
    sym = _Symbols()
    out = graph.output
    result = ChainRule(None, order)
    local = {}
    for c, k, p in graph.edges(source):
        local[(id(c), k)] = c.derivative(k).materialise()
        name = f"∂{c.name}/∂{p.name}" + (f" (argument {k})" if c.parents.count(p) > 1 else "")
        result.local_bytes[name] = local[(id(c), k)].nbytes
    if out is source:
        result.jacobian = np.eye(out.value.size).reshape(out.shape + out.shape)
        return result

    if order == "reverse":
        # adjoint[n] = ∂out/∂n, built from the output back; None stands for the identity.
        adjoint = {id(out): None}
        for c in reversed(graph.between(source)):
            if c is source:
                continue
            for k, p in enumerate(c.parents):
                if (id(c), k) not in local:
                    continue
                J = local[(id(c), k)]
                if adjoint[id(c)] is None:
                    term = J
                else:
                    spec = f"{sym(out)}{sym(c)},{sym(c)}{sym(p)}->{sym(out)}{sym(p)}"
                    term = _contract(result, f"∂{out.name}/∂{c.name} · ∂{c.name}/∂{p.name}",
                                     spec, [adjoint[id(c)], J])
                adjoint[id(p)] = _add(result, adjoint.get(id(p)), term)
        result.jacobian = adjoint[id(source)]
    elif order == "forward":
        # tangent[n] = ∂n/∂source, built from the input on.
        tangent = {id(source): None}
        for c in graph.between(source):
            for k, p in enumerate(c.parents):
                if (id(c), k) not in local:
                    continue
                J = local[(id(c), k)]
                if tangent[id(p)] is None:
                    term = J
                else:
                    spec = f"{sym(c)}{sym(p)},{sym(p)}{sym(source)}->{sym(c)}{sym(source)}"
                    term = _contract(result, f"∂{c.name}/∂{p.name} · ∂{p.name}/∂{source.name}",
                                     spec, [J, tangent[id(p)]])
                tangent[id(c)] = _add(result, tangent.get(id(c)), term)
        result.jacobian = tangent[id(out)]
    else:
        total = None
        for path in _paths(graph, source):
            operands = [local[(id(c), k)] for c, k, _ in path]
            if len(operands) == 1:
                term = operands[0]
            else:
                spec = ",".join(sym(c) + sym(p) for c, _, p in path) + f"->{sym(out)}{sym(source)}"
                names = " · ".join(f"∂{c.name}/∂{p.name}" for c, _, p in path)
                # 'optimal' searches every order; past a handful of operands dp is as good and fast.
                term = _contract(result, names, spec, operands,
                                 "optimal" if len(operands) <= 6 else "dp")
            total = _add(result, total, term)
        result.jacobian = total
    if result.jacobian is None:  # the output does not depend on the input at all
        result.jacobian = np.zeros(out.shape + source.shape)
    return result


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


def _result_for(cotangent, node):
    g = cotangent.get(id(node))
    return np.zeros(node.shape) if g is None else np.array(g, dtype=np.float64)


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
        results = tuple(_result_for(cotangent, s) for s in sources)
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
        g = np.asarray(g, dtype=np.float64)
        if g.shape != out.shape:
            raise ValueError(f"the cotangent has shape {g.shape} but f's output {out.name} has "
                             f"shape {out.shape}; they must be equal")
        cotangent = _backward(graph, g)
        return tuple(_result_for(cotangent, n) for n in graph.inputs)
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
        t = np.asarray(t, dtype=np.float64)
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
    return out.value.copy(), _result_for(tangent, out)


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
        message += (f" The other order fits (the last {swapped[0]} axes of the second match "
                    f"the first axes of the first): the chain rule multiplies from the output "
                    f"down to the input, so compose(second, first) may be what you mean.")
    if A.ndim == 1 and B.ndim == 1:
        message += (" Two vectors are not a chain: the local derivative of a vector by a vector "
                    "is a matrix, and a diagonal one (σ'(z)) must be written diag(σ'(z)).")
    return message
