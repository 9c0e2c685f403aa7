"""The backprop program derived from the tensors.

For a traced scalar function, the reverse sweep is written out as one
instruction per edge of the graph: the cotangent of a child contracted with
the local Jacobian's index-notation term, *after its deltas are eliminated*.
What is left is a small einsum — and usually a familiar matrix formula::

    g_H  = g_ŷ vᵀ     einsum('c,d->cd')     from  g_ŷ_a δ_ac v_d  →  g_ŷ_c v_d
    g_W  = Xᵀ g_H     einsum('ad,ac->cd')   from  g_H_ab X_ac δ_bd  →  g_H_ad X_ac

That is how the 3rd- and 4th-order tensors of Q0 turn into
``∂l/∂W = Xᵀ(ŷ − y)vᵀ``. The program also runs, and gives the gradient.
"""
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import opt_einsum

from .chain import _wrt_tuple
from .algebra import read
from .arrays import fresh
from .graph import trace_graph
from .index import tex


@lru_cache(maxsize=1024)
def _expression(spec, shapes):
    """A compiled contraction: its path is searched once per spec and shapes."""
    return opt_einsum.contract_expression(spec, *shapes)


def _placed(core, e):
    """How a step's einsum result is written into the cotangent, in matrix notation.

    The einsum leaves out result indices that are tied to each other (a
    trace's δ_cd: the result is diagonal) or that no operand carries (a sum
    over rows: the result is copied along them); ``None`` where neither a
    ``𝟙``, an ``I`` nor a ``diag`` says it.
    """
    labels = e.result_labels
    tied = len(set(e.rep[x] for x in labels)) < len(labels)
    if not e.kept:  # a scalar on the diagonal, or in every entry
        return f"{core} I" if tied else f"{core} 𝟙"
    if len(labels) == 2 and len(e.kept) == 1:
        if tied:
            return f"diag({core})"
        # A vector copied along the other axis: an outer product with ones.
        core = f"({core})" if " " in core else core
        return f"{core} 𝟙ᵀ" if e.rep[labels[0]] == e.kept else f"𝟙 {core}ᵀ"
    return None


@dataclass
class Instruction:
    """One step of the reverse sweep: a child's cotangent pulled to one argument."""

    child: object
    position: int
    parent: object
    derivative: object
    plans: list

    @property
    def names(self):
        return [[f"g_{self.child.name}"] + [f.name for f in t.factors]
                for t in self.derivative.terms]

    def formula(self):
        """The step in matrix notation where each term has one, else in einsum."""
        parts = []
        for (t, e), names in zip(self.plans, self.names):
            reading = read(e.spec)
            readable = reading.text(names, t.sign) if reading else None
            if readable and not e.direct:
                readable = _placed(readable, e)
            parts.append(readable or f"{'−' if t.sign < 0 else ''}einsum('{e.spec}', "
                                     f"{', '.join(names)})")
        return " + ".join(parts).replace("+ −", "− ")

    def einsums(self):
        return "  ".join(f"einsum('{e.spec}')" for _, e in self.plans)

    def run(self, g):
        """This edge's contribution to the parent's cotangent."""
        contribution = None
        for t, e in self.plans:
            arrays = [g] + [f.value for f in t.factors]
            reading = read(e.spec)
            if reading is not None:
                core = reading(*arrays)
            else:
                core = _expression(e.spec, tuple(a.shape for a in arrays))(*arrays)
            # A later term adds into the contribution in place, so it must not be
            # one of the operands; a lone term may pass the cotangent straight on.
            guard = arrays if len(self.plans) > 1 else ()
            contribution = e.accumulate(contribution, core, self.parent.shape, guard)
        if contribution is None:
            return np.zeros(self.parent.shape)
        return contribution


@dataclass(repr=False)
class Program:
    """The derived reverse sweep of a traced scalar function.

    Attributes
    ----------
    graph : Graph
    instructions : list of Instruction
        In the order they run, output first.
    gradients : tuple of ndarray
        The result for each requested argument.
    cotangents : dict of str to ndarray
        ``∂out/∂node`` for every node the sweep reached, by the node's name:
        the intermediate gradients ``g_H``, ``g_ŷ``….
    """

    graph: object
    sources: list
    instructions: list
    many: bool = False
    gradients: tuple = ()
    cotangents: dict = None

    @property
    def gradient(self):
        """The gradient, or a tuple of them when several arguments were asked for."""
        return self.gradients if self.many else self.gradients[0]

    def run(self):
        """Execute the instructions; return one gradient per requested argument."""
        out = self.graph.output
        cotangent = {id(out): np.ones(out.shape)}
        for ins in self.instructions:
            gp = ins.run(cotangent[id(ins.child)])
            key = id(ins.parent)
            cotangent[key] = gp if key not in cotangent else cotangent[key] + gp
        gradients = []
        for s in self.sources:  # each its own array, even for wrt=(0, 0)
            g = cotangent[id(s)] if id(s) in cotangent else np.zeros(s.shape)
            gradients.append(fresh(g, [n.value for n in self.graph.inputs] + gradients))
        self.gradients = tuple(gradients)
        names = {id(n): n.name for n in self.graph.nodes}
        self.cotangents = {names[key]: g for key, g in cotangent.items()}
        return self.gradients

    def lines(self):
        """One row per instruction: target, matrix form, einsum, and the elimination."""
        rows = [(f"g_{self.graph.output.name} =", "1", "", "")]
        seen = {id(self.graph.output)}
        for ins in self.instructions:
            target = f"g_{ins.parent.name}"
            op = "+=" if id(ins.parent) in seen else "="
            seen.add(id(ins.parent))
            g = f"g_{ins.child.name}"
            steps = [ins.derivative.eliminated(t, g)[0] for t in ins.derivative.terms]
            rows.append((f"{target} {op}", ins.formula(), ins.einsums(),
                         f"from {ins.derivative}:  " + ";  ".join(steps)))
        return rows

    def __repr__(self):
        return str(self)

    def __str__(self):
        rows = self.lines()
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        w2 = max(len(r[2]) for r in rows)
        text = [f"{a:<{w0}} {b:<{w1}}   {c:<{w2}}   {d}".rstrip() for a, b, c, d in rows]
        return "\n".join(text)

    def _repr_latex_(self):
        rows = []
        for target, formula, _, _ in self.lines():
            name, _, op = target.partition(" ")
            op = r"\mathrel{+}=" if op == "+=" else "="
            rows.append(f"{_tex(name)} &{op} {_tex(formula)}")
        return r"$\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$"


def _tex(text):
    """Matrix notation as printed, in LaTeX: subscripts braced, symbols named."""
    text = re.sub(r"einsum\('([^']*)'", r"\\operatorname{einsum}(\\texttt{\1}", text)
    return tex(re.sub(r"g_([^\s,()]+)", r"g_{\1}", text))


def derive(f, wrt=0):
    """The backprop program of scalar ``f``, derived by delta elimination.

    Returns
    -------
    callable
        ``(*args) -> Program``: printable (text and LaTeX), already run —
        ``.gradient`` holds the result, shaped like ``args[wrt]`` (a tuple
        for a tuple ``wrt``) — and runnable again with ``.run()``.

    >>> import jacobians as jac
    >>> def loss(W, X):
    ...     return jac.sum(jac.sigmoid(jac.name(X @ W, "Z")))
    >>> program = jac.derive(loss)(np.ones((3, 2)), np.ones((4, 3)))
    >>> print(program.instructions[-1].formula())
    Xᵀ g_Z
    """
    def program_of(*args):
        indices, many = _wrt_tuple(wrt, len(args))
        graph = trace_graph(f, *args)
        if graph.output.value.ndim != 0:
            raise ValueError(f"derive needs a scalar function, but f returns shape "
                             f"{graph.output.shape}")
        sources = [graph.inputs[i] for i in indices]
        active = {id(n) for s in sources for n in graph.between(s)}
        instructions = []
        for child in reversed(graph.nodes):
            if id(child) not in active or child.op is None:
                continue
            for k, parent in enumerate(child.parents):
                if id(parent) not in active:
                    continue
                d = child.derivative(k)
                plans = [(t, d.eliminate(t, [d.out_labels], d.in_labels)) for t in d.terms]
                instructions.append(Instruction(child, k, parent, d, plans))
        program = Program(graph, sources, instructions, many)
        program.run()
        return program
    return program_of
