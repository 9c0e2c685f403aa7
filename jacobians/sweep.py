"""One reverse sweep and one forward sweep over a traced graph.

Every way the library differentiates a graph is one of these two sweeps. They
differ only in how an edge ``child ← parent`` carries a derivative: its
*rule*, a choice of three.

========  ======================================  ==================================
rule      reverse (pull ``g`` back to a parent)   what runs it
========  ======================================  ==================================
HAND      the op's hand rule: ``Xᵀ g``,           :func:`jacobians.grad`, ``vjp``,
          ``g ⊙ σ'``                              ``jvp`` — what frameworks run
DERIVED   the index-notation term contracted      :func:`jacobians.derive`
          after its deltas are eliminated
DENSE     the materialised local Jacobian,        :func:`jacobians.jacobian`: the
          contracted with the cotangent           naive chain in reverse or
                                                  forward order
========  ======================================  ==================================

Forward sweeps push a tangent ``t`` the same three ways. The dense rule
carries whole Jacobians: in reverse the cotangent of node n is ``∂out/∂n``, of
shape ``out.shape + n.shape``, seeded with the identity (:data:`IDENTITY`,
never built: the first edge passes its local Jacobian on); in forward order
the tangent of n is ``∂n/∂x``, of shape ``n.shape + x.shape``.

A sweep runs on the values it is given — the graph's own, or
:class:`~jacobians.abstract.Shaped` arrays of the same shapes, on which the
same code counts its FLOPs and bytes instead of computing them: that is how
the naive chain is planned and a model priced, so what is counted is what
runs. The rules are written with NumPy calls on whatever arrays they get, and
new arrays are made ``like=`` them; values that record NumPy calls into a
graph would turn a sweep into a graph of its own, to differentiate again.
Only nodes between a source and the output are visited; a node's cotangent
is dropped as soon as it has been pulled back, as a framework frees it.
"""
from dataclasses import dataclass
from functools import lru_cache

import opt_einsum

from .abstract import Tally
from .contract import contract


class _Identity:
    """The seed of a dense sweep: ``∂out/∂out`` (or ``∂x/∂x``), never materialised."""

    def __repr__(self):
        return "IDENTITY"


IDENTITY = _Identity()


@lru_cache(maxsize=1024)
def _letters(*ndims):
    """One string of distinct einsum letters per group of axes."""
    out, k = [], 0
    for n in ndims:
        out.append("".join(opt_einsum.get_symbol(k + j) for j in range(n)))
        k += n
    return tuple(out)


@lru_cache(maxsize=1024)
def chain_spec(*ndims):
    """The einsum of a chain of Jacobians ``∂n₀/∂n₁ · ∂n₁/∂n₂ ⋯`` through nodes of these orders.

    >>> chain_spec(0, 1, 2, 2)
    'a,abc,bcde->de'
    """
    letters = _letters(*ndims)
    operands = ",".join(a + b for a, b in zip(letters, letters[1:]))
    return f"{operands}->{letters[0]}{letters[-1]}"


class Rule:
    """How one edge carries a derivative; see the module's table."""

    name = None

    def pull(self, node, k, g, args, out):
        """``g`` (the cotangent of ``node``) pulled back to its argument ``k``."""
        raise NotImplementedError

    def push(self, node, k, t, args, out):
        """``t`` (the tangent of argument ``k``) pushed forward to ``node``."""
        raise NotImplementedError

    def __repr__(self):
        return self.name.upper()


class _Hand(Rule):
    name = "hand"

    def pull(self, node, k, g, args, out):
        return node.op.vjp_rule(k, g, args, out, **node.params)

    def push(self, node, k, t, args, out):
        return node.op.jvp_rule(k, t, args, out, **node.params)


class _Derived(Rule):
    name = "derived"

    def pull(self, node, k, g, args, out):
        d = node.op.derivative_at(k, args, out, **node.params)
        return d.contract([(d.out_labels, g)], d.in_labels, d.in_shape)

    def push(self, node, k, t, args, out):
        d = node.op.derivative_at(k, args, out, **node.params)
        return d.contract([(d.in_labels, t)], d.out_labels, d.out_shape)


class _Dense(Rule):
    name = "dense"

    @staticmethod
    def local(node, k, args, out):
        d = node.op.derivative_at(k, args, out, **node.params)
        return d.materialise(instead="jac.grad(f) or jac.vjp(f, ...)")

    def pull(self, node, k, g, args, out):
        J = self.local(node, k, args, out)
        if g is IDENTITY:
            return J
        # ∂out/∂child · ∂child/∂parent: g carries the output's axes first.
        return contract(chain_spec(g.ndim - node.ndim, node.ndim, args[k].ndim), g, J)

    def push(self, node, k, t, args, out):
        J = self.local(node, k, args, out)
        if t is IDENTITY:
            return J
        # ∂child/∂parent · ∂parent/∂x: t carries the input's axes last.
        return contract(chain_spec(node.ndim, args[k].ndim, t.ndim - args[k].ndim), J, t)


HAND, DERIVED, DENSE = _Hand(), _Derived(), _Dense()
RULES = {rule.name: rule for rule in (HAND, DERIVED, DENSE)}


@dataclass(frozen=True)
class Edge:
    """What a sweep did on one edge.

    Attributes
    ----------
    child, parent : Node
        The edge ``child ← parent``; ``parent`` is the child's argument ``position``.
    position : int
    flops : int or None
        What the rule did, counted when the sweep ran on Shaped arrays.
    adds : int
        Entries added because the target already held another edge's share.
    """

    child: object
    position: int
    parent: object
    flops: int = None
    adds: int = 0


def shaped_values(graph, tally):
    """One :class:`~jacobians.abstract.Shaped` array per node, for a sweep that counts.

    The inputs are the caller's, so their bytes are not counted; every other
    value is, as the forward pass made it and the sweep keeps it.
    """
    return [tally.array(n.shape, held=n.kind != "input") for n in graph.nodes]


def counter(values):
    """The tally of Shaped ``values``, or None for real ones (or none given)."""
    tally = getattr(values[0], "tally", None) if values else None
    return tally if isinstance(tally, Tally) else None


def _carry(table, index, share, edge, tally, before, record):
    """Add an edge's ``share`` into ``table[index]``, and record what the edge did.

    ``before`` is the tally's count before the edge's rule ran; the addition
    into a share already held is recorded apart, as ``adds``.
    """
    flops = tally.flops - before if tally else None
    held = table.get(index)
    table[index] = share if held is None else held + share
    if record is not None:
        record.append(Edge(*edge, flops, 0 if held is None else share.size))


def _args(node, values):
    if values is None:
        return tuple(p.value for p in node.parents), node.value
    return tuple(values[p.index] for p in node.parents), values[node.index]


def reverse(graph, seed, rule, sources, values=None, record=None, keep=()):
    """Pull ``seed`` back from the output to ``sources``.

    Parameters
    ----------
    graph : Graph
    seed : array or IDENTITY
        The output's cotangent: ``1`` for a gradient, ``g`` for a VJP, the
        identity for the dense naive chain.
    rule : Rule
    sources : sequence of Node
    values : list, optional
        An array per node (by index) to use instead of the graph's values.
    record : list, optional
        Receives one :class:`Edge` per edge swept, in order.
    keep : sequence of Node
        Nodes whose cotangents are kept besides the sources' (by default a
        cotangent is dropped once pulled back).

    Returns
    -------
    dict
        By node index, the cotangent of every source and kept node the sweep
        reached (``seed`` itself for an output that is a source or kept).
    """
    active = graph.active(sources)
    tally = counter(values)
    kept = {n.index for n in (*sources, *keep)}
    cotangent = {graph.output.index: seed}
    for node in reversed(graph.nodes[:graph.output.index + 1]):
        g = cotangent.get(node.index)
        if g is None or node.op is None:
            continue
        args, out = _args(node, values)
        for k, parent in enumerate(node.parents):
            if not active[parent.index]:
                continue
            before = tally.flops if tally else 0
            _carry(cotangent, parent.index, rule.pull(node, k, g, args, out),
                   (node, k, parent), tally, before, record)
        if node.index not in kept:
            del cotangent[node.index]  # pulled back: nothing reads it again
    return cotangent


def forward(graph, seeds, rule, values=None, record=None):
    """Push ``seeds`` (tangents of some nodes, by node) forward to the output.

    Parameters
    ----------
    graph : Graph
    seeds : dict of Node to array or IDENTITY
        A tangent per seeded node: ``t`` for a JVP, the identity at the
        input for the dense chain in forward order.
    rule, values, record
        As in :func:`reverse`.

    Returns
    -------
    array or None
        The output's tangent; None when it depends on no seeded node.
    """
    active = graph.active(list(seeds))
    tally = counter(values)
    tangent = {node.index: t for node, t in seeds.items()}
    # How many active edges still read each tangent, so it is dropped after the last.
    readers = {}
    for node in graph.nodes:
        if active[node.index] and node.op is not None:
            for parent in node.parents:
                if parent.index in tangent or active[parent.index]:
                    readers[parent.index] = readers.get(parent.index, 0) + 1
    for node in graph.nodes[:graph.output.index + 1]:
        if not active[node.index] or node.op is None or node.index in tangent:
            continue
        args, out = _args(node, values)
        for k, parent in enumerate(node.parents):
            t = tangent.get(parent.index)
            if t is None:
                continue
            before = tally.flops if tally else 0
            _carry(tangent, node.index, rule.push(node, k, t, args, out), (node, k, parent),
                   tally, before, record)
            readers[parent.index] -= 1
            if not readers[parent.index] and parent is not graph.output:
                del tangent[parent.index]
    return tangent.get(graph.output.index)
