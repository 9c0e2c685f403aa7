"""Softmax, log-softmax and the cross-entropy losses.

Softmax couples the entries of a row: ``∂s_a/∂x_c = s_a δ_ac − s_a s_c``, a
diagonal matrix *minus a dense one*. So unlike σ its Jacobian is not
diagonal, and its VJP is not a Hadamard product on its own:
``g ↦ s ⊙ (g − ⟨g, s⟩)``. Paired with cross-entropy the two collapse to
``softmax(z) − y``.

Softmax and log-softmax normalise over one axis, the last by default (any
other with ``axis=``): a vector, or each row of a matrix independently (the
rows are tied by deltas ``δ_ac``; every axis but the normalised one is tied
so). The cross-entropies act on the last axis.
"""
import numpy as np

from ..index import Delta, Factor, term
from .base import REAL, Domain, Op, cased, check_one_axis


def _log_softmax(z, axis=-1):
    shifted = z - z.max(axis=axis, keepdims=True)  # exp never overflows
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _ties(labels, axis):
    """Deltas tying every axis, those tying all but the normalised ``axis``, and the labels."""
    O, I = labels
    deltas = [Delta(o, i) for o, i in zip(O, I)]
    k = axis % len(O)
    return deltas, deltas[:k] + deltas[k + 1:], O, I


def _across(O, I, axis):
    """The output labels with the normalised axis's replaced by the input's: ``ad`` for ``ab``."""
    k = axis % len(O)
    return O[:k] + I[k] + O[k + 1:]


def _second_ties(labels, axis, along=()):
    """The deltas of a term of a second derivative over ``(O, I, J)``, in axis order.

    On every axis but the normalised one ``k``, I and J are tied to O (the
    same row). Along ``k`` only those of ``δ(O_k, I_k)``, ``δ(O_k, J_k)``
    and ``δ(I_k, J_k)`` named in ``along`` (``"OI"``, ``"OJ"``, ``"IJ"``).
    """
    O, I, J = labels
    k = axis % len(O)
    deltas = []
    for m in range(len(O)):
        if m != k:
            deltas += [Delta(O[m], I[m]), Delta(O[m], J[m])]
            continue
        named = {"OI": (O[m], I[m]), "OJ": (O[m], J[m]), "IJ": (I[m], J[m])}
        deltas += [Delta(*named[x]) for x in ("OI", "OJ", "IJ") if x in along]
    return deltas


class _OneAxis(Op):
    """An op that normalises ``Z`` over one axis, the last by default."""

    arg_names = ("Z",)
    params = trailing = ("axis",)  # jac.softmax(Z, 0), as jax.nn.softmax(Z, 0)
    examples = ((((3,),), {}), (((2, 3),), {}), (((2, 3),), {"axis": 0}),
                (((2, 3, 4),), {"axis": 1}), (((2, 3, 2),), {"axis": -3}))

    def _check(self, Z, axis=-1):
        check_one_axis(self.name, "Z", Z, axis)


class Softmax(_OneAxis):
    """``s = softmax(z)``: ``s_a = e^{z_a} / Σ_k e^{z_k}`` over one axis.

    Parameters
    ----------
    Z : array_like
        At least one axis.
    axis : int, optional
        The axis normalised over, the last (-1) by default; each slice along
        it sums to 1.

    Notes
    -----
    ``∂s_a/∂z_c = s_a δ_ac − s_a s_c`` (``diag(s) − s sᵀ``); for a matrix
    each row on its own: ``∂S_ab/∂Z_cd = S_ab δ_ac δ_bd − S_ab S_ad δ_ac``.
    Over axis 0, each column on its own:
    ``∂S_ab/∂Z_cd = S_ab δ_ac δ_bd − S_ab S_cb δ_bd`` — in general the second
    term has a delta for every axis but the normalised one.
    VJP ``s ⊙ (g − Σ_axis g ⊙ s)``.

    Second derivative, a third-order tensor per row:
    ``∂²s_a/∂z_c∂z_e = s_a (δ_ac − s_c)(δ_ae − s_e) − s_a s_c (δ_ce − s_e)``,
    which expands to ``s_a δ_ac δ_ae − s_a s_e δ_ac − s_a s_c δ_ae −
    s_a s_c δ_ce + 2 s_a s_c s_e``; rows are tied by deltas as above.
    """
    name = "softmax"
    out_name = "s"

    def _value(self, Z, axis=-1):
        e = np.exp(Z - Z.max(axis=axis, keepdims=True))  # shifted, so exp never overflows
        return e / e.sum(axis=axis, keepdims=True)

    def _terms(self, wrt, args, out, labels, names, axis=-1):
        deltas, rows, O, I = _ties(labels, axis)
        s = names[-1]
        return [term(Factor(s, O, out), *deltas),
                term(Factor(s, O, out), Factor(s, _across(O, I, axis), out), *rows, sign=-1)]

    def _second_terms(self, i, j, args, out, labels, names, axis=-1):
        O, I, J = labels
        name = names[-1]
        s_a = Factor(name, O, out)
        s_c, s_e = (Factor(name, _across(O, L, axis), out) for L in (I, J))
        return [term(s_a, *_second_ties(labels, axis, ("OI", "OJ"))),
                term(s_a, s_e, *_second_ties(labels, axis, ("OI",)), sign=-1),
                term(s_a, s_c, *_second_ties(labels, axis, ("OJ",)), sign=-1),
                term(s_a, s_c, *_second_ties(labels, axis, ("IJ",)), sign=-1),
                term(Factor("2", "", np.float64(2)), s_a, s_c, s_e,
                     *_second_ties(labels, axis))]

    def vjp_rule(self, wrt, g, args, out, axis=-1):
        return out * (g - (g * out).sum(axis=axis, keepdims=True))

    def jvp_rule(self, wrt, t, args, out, axis=-1):
        return out * (t - (t * out).sum(axis=axis, keepdims=True))


softmax = Softmax()


class LogSoftmax(_OneAxis):
    """``l = log softmax(z) = z − log Σ_k e^{z_k}`` over one axis.

    Parameters
    ----------
    Z : array_like
        At least one axis.
    axis : int, optional
        The axis normalised over, the last (-1) by default.

    Notes
    -----
    ``∂l_a/∂z_c = δ_ac − s_c`` with ``s = softmax(z)``; for a matrix over its
    rows ``∂L_ab/∂Z_cd = δ_ac δ_bd − S_ad δ_ac``, over axis 0
    ``∂L_ab/∂Z_cd = δ_ac δ_bd − S_cb δ_bd``. VJP ``g − s Σ_axis g``.

    Second derivative: ``∂²l_a/∂z_c∂z_e = −(s_c δ_ce − s_c s_e)``, the same
    for every ``a`` of the row (minus softmax's Jacobian); rows are tied by
    deltas.
    """
    name = "log_softmax"
    out_name = "l"

    def _value(self, Z, axis=-1):
        return _log_softmax(Z, axis)

    def _terms(self, wrt, args, out, labels, names, axis=-1):
        deltas, rows, O, I = _ties(labels, axis)
        s = cased("s", out.ndim)  # the softmax, exp(l)
        return [term(*deltas),
                term(Factor(s, _across(O, I, axis), np.exp(out)), *rows, sign=-1)]

    def _second_terms(self, i, j, args, out, labels, names, axis=-1):
        O, I, J = labels
        name, s = cased("s", out.ndim), np.exp(out)  # the softmax, exp(l)
        s_c, s_e = (Factor(name, _across(O, L, axis), s) for L in (I, J))
        return [term(s_c, *_second_ties(labels, axis, ("IJ",)), sign=-1),
                term(s_c, s_e, *_second_ties(labels, axis))]

    def vjp_rule(self, wrt, g, args, out, axis=-1):
        return g - np.exp(out) * g.sum(axis=axis, keepdims=True)

    def jvp_rule(self, wrt, t, args, out, axis=-1):
        return t - (np.exp(out) * t).sum(axis=axis, keepdims=True)


log_softmax = LogSoftmax()


def _same_shape(name, names, a, b):
    if a.shape != b.shape:
        axis = next((k for k in range(-1, -min(a.ndim, b.ndim) - 1, -1)
                     if a.shape[k] != b.shape[k]), None)
        where = f"axis {axis} has sizes {a.shape[axis]} and {b.shape[axis]}" \
            if axis is not None else f"they have {a.ndim} and {b.ndim} axes"
        raise ValueError(f"{name}: {names[0]} has shape {a.shape} and {names[1]} has shape "
                         f"{b.shape}; they must be equal, but {where}")


class CrossEntropy(Op):
    """``L = −Σ y ⊙ log p`` over all entries, for probabilities ``p``.

    Notes
    -----
    ``∂L/∂p_c = −y_c / p_c`` and ``∂L/∂y_c = −log p_c``. VJPs
    ``−g y / p`` and ``−g log p``.

    Second derivatives: ``∂²L/∂p_c∂p_e = (y/p²)_c δ_ce``,
    ``∂²L/∂p_c∂y_e = −(1/p)_c δ_ce`` and ``∂²L/∂y_c∂y_e = 0`` (L is linear
    in y).
    """
    name = "cross_entropy"
    arg_names = ("p", "y")
    out_name = "L"
    domains = (Domain("positive", " (log p is taken)"), REAL)
    examples = ((((3,), (3,)), {}), (((2, 3), (2, 3)), {}))

    def _check(self, p, y):
        _same_shape(self.name, self.arg_names, p, y)

    def _value(self, p, y):
        return -np.sum(y * np.log(p))

    def _terms(self, wrt, args, out, labels, names):
        p, y = args
        I = labels[1]
        if wrt == 0:
            return [term(Factor(f"{names[1]}/{names[0]}", I, y / p,
                                rf"\frac{{{names[1]}}}{{{names[0]}}}"), sign=-1)]
        return [term(Factor(f"log {names[0]}", I, np.log(p), rf"\log {names[0]}"), sign=-1)]

    def _second_terms(self, i, j, args, out, labels, names):
        if i == j == 1:  # linear in y
            return []
        p, y = args
        _, I, J = labels
        same = [Delta(c, e) for c, e in zip(I, J)]
        if i == j == 0:
            return [term(Factor(f"{names[1]}/{names[0]}²", I, y / (p * p),
                                rf"\frac{{{names[1]}}}{{{names[0]}^2}}"), *same)]
        return [term(Factor(f"1/{names[0]}", I if i == 0 else J, 1 / p,
                            rf"\frac{{1}}{{{names[0]}}}"), *same, sign=-1)]

    def vjp_rule(self, wrt, g, args, out):
        p, y = args
        return -g * y / p if wrt == 0 else -g * np.log(p)

    def jvp_rule(self, wrt, t, args, out):
        p, y = args
        return -np.sum(t * y / p) if wrt == 0 else -np.sum(t * np.log(p))


cross_entropy = CrossEntropy()


class SoftmaxCrossEntropy(Op):
    """``L = −Σ y ⊙ log softmax(z)`` from logits, over all entries.

    Notes
    -----
    Writing ``log softmax(z) = z − lse(z)`` and ``μ`` for each row's target
    mass ``Σ_last y`` (1 for a one-hot row): ``L = Σ_rows μ lse(z) − Σ y ⊙ z``,
    so ``∂L/∂z_c = μ s_c − y_c`` — no division by ``p`` anywhere, and for
    one-hot rows the familiar ``softmax(z) − y``. ``∂L/∂y_c = −log s_c``.

    Second derivatives, with ``c`` and ``e`` tied to the same row by deltas:
    ``∂²L/∂z_c∂z_e = μ (s_c δ_ce − s_c s_e)`` (``μ`` times softmax's
    Jacobian); ``∂²L/∂z_c∂y_e = s_c − δ_ce``, since ``∂(μ s_c)/∂y_e = s_c``
    for every ``e`` of the row; ``∂²L/∂y_c∂y_e = 0`` (L is linear in y).
    """
    name = "softmax_cross_entropy"
    arg_names = ("z", "y")
    out_name = "L"
    examples = ((((3,), (3,)), {}), (((2, 3), (2, 3)), {}))

    def _check(self, z, y):
        _same_shape(self.name, self.arg_names, z, y)
        if z.ndim == 0:
            raise ValueError(f"{self.name}: z must have at least one axis, got a scalar")

    def _value(self, z, y):
        return -np.sum(y * _log_softmax(z))

    def _mass_times_softmax(self, z, y):
        """``μ s``: each row's softmax scaled by that row's target mass ``μ``."""
        return y.sum(axis=-1, keepdims=True) * np.exp(_log_softmax(z))

    def _terms(self, wrt, args, out, labels, names):
        z, y = args
        I = labels[1]
        if wrt == 0:
            return [term(Factor("μ s", I, self._mass_times_softmax(z, y), r"\mu\,s")),
                    term(Factor(names[1], I, y), sign=-1)]
        return [term(Factor("log s", I, _log_softmax(z), r"\log s"), sign=-1)]

    def _second_terms(self, i, j, args, out, labels, names):
        if i == j == 1:  # linear in y
            return []
        z, y = args
        _, I, J = labels
        rows = [Delta(c, e) for c, e in zip(I[:-1], J[:-1])]  # c and e in the same row
        same = rows + [Delta(I[-1], J[-1])]
        s = np.exp(_log_softmax(z))
        if i == j == 0:
            ms = self._mass_times_softmax(z, y)
            return [term(Factor("μ s", I, ms, r"\mu\,s"), *same),
                    term(Factor("μ s", I, ms, r"\mu\,s"), Factor("s", J, s), *rows, sign=-1)]
        return [term(Factor("s", I if i == 0 else J, s), *rows), term(*same, sign=-1)]

    def vjp_rule(self, wrt, g, args, out):
        z, y = args
        return g * (self._mass_times_softmax(z, y) - y) if wrt == 0 else -g * _log_softmax(z)

    def jvp_rule(self, wrt, t, args, out):
        z, y = args
        return np.sum(t * (self._mass_times_softmax(z, y) - y)) if wrt == 0 else -np.sum(t * _log_softmax(z))


softmax_cross_entropy = SoftmaxCrossEntropy()
