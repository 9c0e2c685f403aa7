"""The backprop program derived from the tensors.

For a traced scalar function, the reverse sweep is written out as one
instruction per edge of the graph: the cotangent of a child contracted with
the local Jacobian's index-notation term, *after its deltas are eliminated*.
What is left is a small einsum — and usually a familiar matrix formula::

    g_H  = g_ŷ vᵀ     einsum('c,d->cd')     from  g_ŷ_a δ_ac v_d  →  g_ŷ_c v_d
    g_W  = Xᵀ g_H     einsum('ad,ac->cd')   from  g_H_ab X_ac δ_bd  →  g_H_ad X_ac

That is how the 3rd- and 4th-order tensors of Q0 turn into
``∂l/∂W = Xᵀ(ŷ − y)vᵀ``. The program also runs, and gives the gradient: it is
the reverse sweep with the derived rule on every edge (``sweep.DERIVED``), the
same sweep that ``grad`` runs with the hand rules.
"""
import re
from dataclasses import dataclass

import numpy as np

from .algebra import read
from .chain import wrt_indices
from .graph import trace_graph
from .index import Selection, Windowed, tex
from .sweep import DERIVED, reverse


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


def _einsum_of(e):
    """What a step computes, in the program's einsum column."""
    if isinstance(e, Selection):
        return "no einsum: adds at indices" if e.adds else "no arithmetic: placed at indices"
    if isinstance(e, Windowed):
        read = "im2col, then " if e.reads else ""
        added = ", then col2im" if e.writes else ""
        return f"{read}einsum('{e.elimination.spec}'){added}"
    return "no arithmetic" if e.only_reshapes else f"einsum('{e.spec}')"


def _windowed(t, plan, names, shape):
    """A step through a window delta: ``einsum('…', g_Y, im2col(X))`` or ``col2im(einsum(…), shape)``.

    An array read at the windows is its im2col (every window's taps laid
    out); a result added into at the windows is the col2im of the einsum
    (each window's taps added back where they came from: a transposed
    convolution).
    """
    read = {k for k, _, _ in plan.reads}
    operands = ", ".join(f"im2col({n})" if k in read else n for k, n in enumerate(names))
    e = plan.elimination
    text = f"{'−' if t.sign < 0 else ''}einsum('{e.spec}', {operands})"
    if not plan.writes:
        return text
    # A tap no operand carries (average pooling's): the einsum's value goes to every tap.
    every = " on every tap" if e.kept != e.result_classes else ""
    return f"col2im({text}{every}, {shape})"


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
            if isinstance(e, Selection):
                how = "scatter_add" if e.adds else "place"
                parts.append(f"{'−' if t.sign < 0 else ''}{how}({names[0]}, {e.name}, "
                             f"{self.parent.shape})")
                continue
            if isinstance(e, Windowed):
                parts.append(_windowed(t, e, names, self.parent.shape))
                continue
            if e.only_reshapes:
                parts.append(f"reshape({names[0]}, {self.parent.shape})")
                continue
            reading = read(e.spec)
            readable = reading.text(names, t.sign) if reading else None
            if readable and not e.direct:
                readable = _placed(readable, e)
            parts.append(readable or f"{'−' if t.sign < 0 else ''}einsum('{e.spec}', "
                                     f"{', '.join(names)})")
        return " + ".join(parts).replace("+ −", "− ")

    def einsums(self):
        return "  ".join(_einsum_of(e) for _, e in self.plans)


class Program:
    """The derived reverse sweep of a traced scalar function.

    Attributes
    ----------
    graph : Graph
    sources : list of Node
        The inputs the gradient is taken for.
    instructions : list of Instruction
        In the order they run, output first.
    gradients : tuple of ndarray
        The result for each requested argument.
    cotangents : dict of str to ndarray
        ``∂out/∂node`` for every node the sweep reached, by the node's name:
        the intermediate gradients ``g_H``, ``g_ŷ``….
    """

    def __init__(self, graph, sources, many=False):
        self.graph, self.sources, self.many = graph, sources, many
        self.instructions, self.gradients, self.cotangents = [], (), {}

    @property
    def gradient(self):
        """The gradient, or a tuple of them when several arguments were asked for."""
        return self.gradients if self.many else self.gradients[0]

    def run(self):
        """Run the sweep with the derived rule; return one gradient per requested argument."""
        out = self.graph.output
        record = []
        cotangent = reverse(self.graph, np.ones(out.shape), DERIVED, self.sources, record=record,
                            keep=self.graph.nodes)
        if not self.instructions:
            for e in record:
                d = e.child.derivative(e.position)
                plans = [(t, d.eliminate(t, [d.out_labels], d.in_labels)) for t in d.terms]
                self.instructions.append(Instruction(e.child, e.position, e.parent, d, plans))
        gradients = []
        for s in self.sources:  # each its own array, even for wrt=(0, 0)
            g = cotangent.get(s.index)
            gradients.append(np.zeros(s.shape) if g is None else np.array(g, dtype=float))
        self.gradients = tuple(gradients)
        names = {n.index: n.name for n in self.graph.nodes}
        self.cotangents = {names[k]: g for k, g in cotangent.items()}
        for s, g in zip(self.sources, self.gradients):
            self.cotangents[s.name] = g
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
    text = text.replace("scatter_add(", r"\operatorname{scatter\_add}(")
    text = text.replace("place(", r"\operatorname{place}(")
    for name in ("im2col", "col2im"):
        text = text.replace(f"{name}(", rf"\operatorname{{{name}}}(")
    return tex(re.sub(r"g_([^\s,()]+)", r"g_{\1}", text))


def derive(f, wrt=0):
    """The backprop program of scalar ``f``, derived by delta elimination.

    Returns
    -------
    callable
        ``(*args) -> Program``: printable (text and LaTeX), already run —
        ``.gradient`` holds the result, shaped like ``args[wrt]`` (a tuple
        for a tuple ``wrt``) — and runnable again with ``.run()``.

    Examples
    --------
    >>> import jacobians as jac
    >>> def loss(W, X):
    ...     return jac.sum(jac.sigmoid(jac.name(X @ W, "Z")))
    >>> program = jac.derive(loss)(np.ones((3, 2)), np.ones((4, 3)))
    >>> print(program.instructions[-1].formula())
    Xᵀ g_Z
    """
    def program_of(*args):
        indices, many = wrt_indices(wrt, len(args))
        graph = trace_graph(f, *args)
        if graph.output.ndim != 0:
            raise ValueError(f"derive needs a scalar function, but f returns shape "
                             f"{graph.output.shape}; jac.vjp(f, ...) pulls back any cotangent")
        program = Program(graph, [graph.inputs[i] for i in indices], many)
        program.run()
        return program
    return program_of
