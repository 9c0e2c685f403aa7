"""Second order and the two modes: Hessians as tensors, Hessian–vector products, jacfwd and jacrev.

*Naive* (:func:`hessian`): every op states its second derivative in index
notation too (``op.second_derivative``), and the second-order chain rule is
contracted with einsum, node by node from the inputs::

    ∂n/∂x   = Σ_k A_k ∂p_k/∂x
    ∂²n/∂x∂y = Σ_k A_k ∂²p_k/∂x∂y + Σ_k,l B_kl (∂p_k/∂x)(∂p_l/∂y)

with ``A_k = ∂n/∂p_k`` and ``B_kl = ∂²n/∂p_k∂p_l`` materialised — for
``f = h ∘ g`` this is ``H_f = J_gᵀ H_h J_g + Σ_k (∂h/∂g_k) H_{g_k}``. The
Hessian of a scalar loss in a matrix ``W`` is a 4th-order tensor of shape
``W.shape + W.shape``, and it is refused before allocation when too large.

*Efficient* (:func:`hvp`): the gradient is itself traced as a graph of the
library's ops (its pullbacks run on traced values), so a Hessian–vector
product is a JVP through that graph (forward over reverse) or a gradient of
``⟨∇f, v⟩`` (reverse over reverse); no Hessian is formed.

:func:`jacfwd` and :func:`jacrev` build a full Jacobian as ``n`` JVPs (one
per input entry) or ``m`` VJPs (one per output entry); :func:`mode_cost`
counts both on shapes: a wide function (many inputs, one output) wants
reverse mode, a tall one (one input, many outputs) forward mode.
"""
from dataclasses import dataclass

import numpy as np
import opt_einsum

from .abstract import Tally
from .arrays import as_float_array, owned
from .chain import grad, jacobian, jvp, wrt_indices
from .check import compare, finite_difference_jacobian
from .contract import contract
from .graph import trace_graph
from .limits import check_fits
from .sweep import HAND, forward, reverse, shaped_values

HVP_MODES = ("forward-over-reverse", "reverse-over-reverse")


def _letters(*ndims):
    """One string of distinct einsum letters per group of axes."""
    out, k = [], 0
    for n in ndims:
        out.append("".join(opt_einsum.get_symbol(k + j) for j in range(n)))
        k += n
    return out


def _symbols(start, n):
    """``n`` einsum letters from the ``start``-th on."""
    return "".join(opt_einsum.get_symbol(start + k) for k in range(n))


def _add(total, share):
    return share if total is None else total + share


def hessian(f, wrt=0):
    """The Hessian (or any second derivative) of ``f``, naively: every local tensor built.

    Parameters
    ----------
    f : callable
        Built from the library's ops or written in NumPy.
    wrt : int or (int, int)
        ``i`` for ``∂²f/∂x_i²``, or a pair for the mixed ``∂²f/∂x_i∂x_j``.

    Returns
    -------
    callable
        ``(*args) -> H`` of shape ``(*f(*args).shape, *args[i].shape,
        *args[j].shape)``: ``H[a…, c…, e…] = ∂²f[a…]/∂x_i[c…]∂x_j[e…]``.

    Raises
    ------
    JacobianTooLarge
        Before allocating, when a tensor it would hold exceeds the memory
        limit; :func:`hvp` never forms the Hessian.

    Examples
    --------
    >>> import jacobians as jac
    >>> jac.hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    pair = (wrt, wrt) if not isinstance(wrt, tuple) else wrt
    if len(pair) != 2:
        raise ValueError(f"hessian takes wrt=i or a pair (i, j), got wrt={wrt!r}")

    def second(*args):
        (i, j), _ = wrt_indices(tuple(pair), len(args))
        graph = trace_graph(f, *args)
        return owned(_second_order_chain(graph, graph.inputs[i], graph.inputs[j]),
                     {id(a) for a in args})
    return second


def _second_order_chain(graph, x, y, values=None):
    """``∂²out/∂x∂y`` by the second-order chain rule, forward from the inputs.

    ``values`` (by node index) replaces the graph's: Shaped arrays count the
    run instead of computing it, and nothing is refused for its size.
    """
    out = graph.output
    like = None if values is None else values[0]
    instead = "jac.hvp(f, ...), which never forms the Hessian,"

    def fits(shape, what):
        if values is None:
            check_fits(shape, what, instead)
    fits(out.shape + x.shape + y.shape, f"the Hessian ∂²{out.name}/∂{x.name}∂{y.name}")
    # By node index: ∂node/∂x, ∂node/∂y (the same table when x is y) and ∂²node/∂x∂y.
    jx = {x.index: np.eye(x.size, like=like).reshape(x.shape * 2)}
    jy = jx if y is x else {y.index: np.eye(y.size, like=like).reshape(y.shape * 2)}
    hxy = {}
    cx, cy = _letters(x.ndim, y.ndim)
    for node in graph.nodes[:out.index + 1]:
        parents = node.parents
        if node.op is None or not any(p.index in jx or p.index in jy for p in parents):
            continue
        o = _symbols(100, node.ndim)
        # Each parent's axes, and a second copy for a parent met twice in one B_kl.
        spell = [_symbols(200 + 10 * k, p.ndim) for k, p in enumerate(parents)]
        again = [_symbols(600 + 10 * k, p.ndim) for k, p in enumerate(parents)]
        locals_ = {}

        def local(k):
            if k not in locals_:
                fits(node.shape + parents[k].shape,
                     f"the local Jacobian ∂{node.name}/∂{parents[k].name}")
                locals_[k] = node.derivative(k, values).materialise(instead=instead)
            return locals_[k]
        for table, letters in ((jx, cx),) if jy is jx else ((jx, cx), (jy, cy)):
            total = None
            for k, p in enumerate(parents):
                if p.index in table:
                    spec = f"{o}{spell[k]},{spell[k]}{letters}->{o}{letters}"
                    total = _add(total, contract(spec, local(k), table[p.index]))
            if total is not None:
                table[node.index] = total

        def second_share(spec, *operands):
            # Checked only when a share is formed: a node linear in its parents (H = X W)
            # has none, and holds no ∂²H/∂x∂y at all.
            fits(node.shape + x.shape + y.shape, f"∂²{node.name}/∂{x.name}∂{y.name}")
            return contract(spec, *operands)
        total = None
        for k, p in enumerate(parents):
            if p.index in hxy:
                spec = f"{o}{spell[k]},{spell[k]}{cx}{cy}->{o}{cx}{cy}"
                total = _add(total, second_share(spec, local(k), hxy[p.index]))
        for k, p in enumerate(parents):
            for m, q in enumerate(parents):
                if p.index not in jx or q.index not in jy:
                    continue
                args = tuple(n.value if values is None else values[n.index] for n in parents)
                B = node.op.second_derivative_at(
                    k, m, args, node.value if values is None else values[node.index],
                    **node.params)
                if not B.terms:
                    continue
                other = again[m] if m == k else spell[m]
                spec = f"{o}{spell[k]}{other},{spell[k]}{cx},{other}{cy}->{o}{cx}{cy}"
                total = _add(total, second_share(spec, B.materialise(instead=instead),
                                                 jx[p.index], jy[q.index]))
        if total is not None:
            hxy[node.index] = total
    result = hxy.get(out.index)
    return np.zeros(out.shape + x.shape + y.shape, like=like) if result is None else result


def hvp(f, wrt=0, mode="forward-over-reverse"):
    """The Hessian–vector product ``H v`` of a scalar ``f``, with no Hessian formed.

    Parameters
    ----------
    f : callable
        A scalar function.
    wrt : int
        The argument ``x`` the Hessian is taken in.
    mode : {"forward-over-reverse", "reverse-over-reverse"}
        A JVP through the traced gradient (one forward sweep over the
        backward graph), or the gradient of ``⟨∇f, v⟩``.

    Returns
    -------
    callable
        ``(*args, v) -> Hv``, shaped like ``args[wrt]``:
        ``(Hv)[c…] = Σ_e ∂²f/∂x[c…]∂x[e…] v[e…]``.

    Examples
    --------
    >>> import jacobians as jac
    >>> jac.hvp(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    if mode not in HVP_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, HVP_MODES))}, got {mode!r}")

    def product(*args_and_v):
        *args, v = args_and_v
        (i,), _ = wrt_indices(wrt, len(args))
        x = as_float_array(args[i], f"argument {i}")
        v = as_float_array(v, "the vector v")
        if v.shape != x.shape:
            raise ValueError(f"hvp: v has shape {v.shape} but argument {i} has shape {x.shape}; "
                             f"H v needs v shaped like the argument the Hessian is taken in")
        gradient = grad(f, wrt=i)
        if mode == "forward-over-reverse":
            tangents = [v if k == i else np.zeros(np.shape(a)) for k, a in enumerate(args)]
            return jvp(gradient, args, tangents)[1]
        return grad(lambda *a: np.sum(gradient(*a) * v), wrt=i)(*args)
    return product


def jacfwd(f, wrt=0):
    """The full Jacobian as ``n`` JVPs: one forward sweep per entry of the input.

    Returns
    -------
    callable
        ``(*args) -> J`` of shape ``(*f(*args).shape, *args[wrt].shape)``,
        as :func:`jacobians.jacobian` returns it; column ``c`` is the JVP of
        the unit tangent ``e_c``.
    """
    def full(*args):
        graph, source, out = _traced_for_jacobian(f, wrt, args)
        columns = [forward(graph, {source: e.reshape(source.shape)}, HAND)
                   for e in _units(source.size)]
        columns = [np.zeros(out.shape) if c is None else c for c in columns]
        return np.moveaxis(np.array(columns), 0, -1).reshape(out.shape + source.shape)
    return full


def jacrev(f, wrt=0):
    """The full Jacobian as ``m`` VJPs: one reverse sweep per entry of the output.

    Returns
    -------
    callable
        ``(*args) -> J`` of shape ``(*f(*args).shape, *args[wrt].shape)``;
        row ``a`` is the VJP of the unit cotangent ``e_a``.
    """
    def full(*args):
        graph, source, out = _traced_for_jacobian(f, wrt, args)
        rows = [reverse(graph, e.reshape(out.shape), HAND, [source]).get(source.index)
                for e in _units(out.size)]
        rows = [np.zeros(source.shape) if r is None else r for r in rows]
        return np.array(rows).reshape(out.shape + source.shape)
    return full


def _units(n):
    """The unit vectors of n entries, one at a time (an identity matrix would take n²)."""
    for k in range(n):
        e = np.zeros(n)
        e[k] = 1.0
        yield e


def _traced_for_jacobian(f, wrt, args):
    """The graph of ``f``, the node of argument ``wrt`` and the output, once the Jacobian fits."""
    (i,), _ = wrt_indices(wrt, len(args))
    graph = trace_graph(f, *args)
    source, out = graph.inputs[i], graph.output
    check_fits(out.shape + source.shape, f"the Jacobian ∂{out.name}/∂{source.name}",
               "jac.jvp or jac.vjp, one product at a time")
    return graph, source, out


@dataclass(frozen=True)
class ModeCost:
    """What a full Jacobian costs by forward mode (``n`` JVPs) and by reverse mode (``m`` VJPs).

    Attributes
    ----------
    inputs, outputs : int
        ``n`` entries of the input, ``m`` of the output: the passes each mode makes.
    jvp_flops, vjp_flops : int
        One forward sweep, one reverse sweep, counted on shapes.
    """

    inputs: int
    outputs: int
    jvp_flops: int
    vjp_flops: int

    @property
    def jacfwd_flops(self):
        return self.inputs * self.jvp_flops

    @property
    def jacrev_flops(self):
        return self.outputs * self.vjp_flops

    @property
    def cheaper(self):
        """``"forward"`` or ``"reverse"``: the mode with fewer FLOPs (reverse on a tie)."""
        return "forward" if self.jacfwd_flops < self.jacrev_flops else "reverse"

    def __str__(self):
        verdict = "both cost the same" if self.jacfwd_flops == self.jacrev_flops else \
            f"{self.cheaper} mode is cheaper"
        return (f"jacfwd: {self.inputs} JVPs × {self.jvp_flops:,} FLOPs = "
                f"{self.jacfwd_flops:,}; jacrev: {self.outputs} VJPs × {self.vjp_flops:,} "
                f"FLOPs = {self.jacrev_flops:,}; {verdict}")


def mode_cost(f, args, wrt=0):
    """Count a full Jacobian of ``f`` by ``n`` JVPs against ``m`` VJPs, on shapes.

    One forward and one reverse sweep of hand rules run on
    :class:`~jacobians.abstract.Shaped` arrays; each mode repeats its sweep
    once per input or output entry.

    Returns
    -------
    ModeCost

    Examples
    --------
    >>> import jacobians as jac
    >>> wide = jac.mode_cost(lambda x: np.sum(np.tanh(x)), (np.ones(100),))
    >>> wide.inputs, wide.outputs, wide.cheaper
    (100, 1, 'reverse')
    """
    (i,), _ = wrt_indices(wrt, len(args))
    graph = trace_graph(f, *args)
    source, out = graph.inputs[i], graph.output
    counts = []
    for sweep in ("forward", "reverse"):
        tally = Tally()
        values = shaped_values(graph, tally)
        before = tally.flops
        if sweep == "forward":
            forward(graph, {source: tally.array(source.shape, held=False)}, HAND, values)
        else:
            reverse(graph, tally.array(out.shape, held=False), HAND, [source], values)
        counts.append(tally.flops - before)
    return ModeCost(source.size, out.size, *counts)


@dataclass(frozen=True)
class HessianCost:
    """The Hessian of a scalar ``f`` naively, against ``n`` HVPs, against one HVP.

    Attributes
    ----------
    entries : int
        ``n``, the entries of ``x``: the HVPs that make the whole Hessian.
    naive_flops, naive_peak_bytes : int
        :func:`hessian`'s second-order chain rule, counted on shapes.
    hvp_flops, hvp_peak_bytes : int
        One forward-over-reverse :func:`hvp`: a forward sweep through the
        traced gradient, counted on shapes.
    """

    entries: int
    naive_flops: int
    naive_peak_bytes: int
    hvp_flops: int
    hvp_peak_bytes: int

    @property
    def hvps_flops(self):
        """The whole Hessian as ``n`` HVPs, one per column."""
        return self.entries * self.hvp_flops

    def __str__(self):
        return (f"naive Hessian: {self.naive_flops:,} FLOPs, {self.naive_peak_bytes:,} B at "
                f"its peak; {self.entries} HVPs: {self.hvps_flops:,} FLOPs; one HVP: "
                f"{self.hvp_flops:,} FLOPs, {self.hvp_peak_bytes:,} B")


def hessian_cost(f, args, wrt=0):
    """Count :func:`hessian` against ``n`` HVPs against one, on shapes: nothing allocated.

    Returns
    -------
    HessianCost

    Examples
    --------
    >>> import jacobians as jac
    >>> from jacobians.examples import QUESTIONS
    >>> q = QUESTIONS["Q0"]
    >>> cost = jac.hessian_cost(q.function, q.args(n=20, m=1500, p=1500))
    >>> cost.naive_peak_bytes > 2**45, cost.hvp_peak_bytes < 2**26   # 32 TiB, 64 MiB
    (True, True)
    """
    (i,), _ = wrt_indices(wrt, len(args))
    graph = trace_graph(f, *args)
    tally = Tally()
    _second_order_chain(graph, graph.inputs[i], graph.inputs[i], shaped_values(graph, tally))
    gradient = trace_graph(grad(f, wrt=i), *args)
    hvp_tally = Tally()
    source = gradient.inputs[i]
    forward(gradient, {source: hvp_tally.array(source.shape, held=False)}, HAND,
            shaped_values(gradient, hvp_tally))
    return HessianCost(graph.inputs[i].size, tally.flops, tally.peak, hvp_tally.flops,
                       hvp_tally.peak)


def gauss_newton(residual, wrt=0):
    """The Gauss–Newton matrix ``JᵀJ`` of a least-squares loss ``½‖r‖²``.

    Parameters
    ----------
    residual : callable
        ``r(*args)``, an array of any shape.
    wrt : int
        The argument ``x``.

    Returns
    -------
    callable
        ``(*args) -> G`` of shape ``x.shape + x.shape``:
        ``G[c…, e…] = Σ_a ∂r_a/∂x_c ∂r_a/∂x_e``. The Hessian of ``½‖r‖²`` is
        ``G + Σ_a r_a ∂²r_a/∂x∂x``: equal to ``G`` where ``r`` is linear in
        ``x``, and differing by that sum of curvatures otherwise.
    """
    def matrix(*args):
        J = jacobian(residual, wrt=wrt)(*args)
        (i,), _ = wrt_indices(wrt, len(args))
        o, c, e = _letters(J.ndim - np.ndim(args[i]), np.ndim(args[i]), np.ndim(args[i]))
        return contract(f"{o}{c},{o}{e}->{c}{e}", J, J)
    return matrix


# --- checks a notebook can run ------------------------------------------------------
def check_hessian(H, f, *args, wrt=0):
    """Compare a Hessian ``H`` of scalar ``f`` with finite differences of its gradient.

    The gradient (a reverse sweep, tested on its own against finite
    differences of ``f``) is differentiated once more by central differences.

    Returns
    -------
    Agreement
    """
    pair = (wrt, wrt) if not isinstance(wrt, tuple) else wrt
    return compare(H, finite_difference_jacobian(grad(f, wrt=pair[0]), *args, wrt=pair[1]))


def check_symmetric(H, ndim):
    """Whether ``H`` (shape ``x.shape + x.shape``, ``ndim = x.ndim``) equals its transpose.

    Second derivatives commute (Schwarz): ``∂²f/∂x_c∂x_e = ∂²f/∂x_e∂x_c``.

    Returns
    -------
    Agreement
    """
    H = np.asarray(H)
    lead = H.ndim - 2 * ndim
    axes = (*range(lead), *range(lead + ndim, lead + 2 * ndim), *range(lead, lead + ndim))
    return compare(H, np.transpose(H, axes))


def check_hvp(f, *args, wrt=0, mode="forward-over-reverse", seed=0):
    """The dot-product test of a Hessian–vector product: ``⟨u, H v⟩ = ⟨H u, v⟩``.

    For random ``u`` and ``v`` — true of any symmetric ``H``, so a wrong
    product shows without the Hessian ever being formed.

    Returns
    -------
    Agreement
    """
    (i,), _ = wrt_indices(wrt, len(args))
    rng = np.random.default_rng(seed)
    u, v = (rng.standard_normal(np.shape(args[i])) for _ in range(2))
    product = hvp(f, wrt=i, mode=mode)
    return compare(np.vdot(u, product(*args, v)), np.vdot(product(*args, u), v))
