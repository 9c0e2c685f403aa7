"""Scaled dot-product attention: one layer built of a product, a softmax and a product.

``O = softmax(Q Kᵀ/√d) V``: each query (a row of ``Q``) scores every key (a
row of ``K``), the scores of a row are turned into weights by a softmax, and
the output row is those weights' average of the values (the rows of ``V``).
Written with ``S = softmax(Z)``, ``Z = Q Kᵀ/√d`` and any leading batch axes
``z``::

    Z_zqk = (1/√d) Σ_d Q_zqd K_zkd      S_zqk = e^{Z_zqk} / Σ_k' e^{Z_zqk'}
    O_zqe = Σ_k S_zqk V_zke

``O`` is linear in ``V``, so ``∂O/∂V`` holds only the weights ``S``. Through
``Q`` and ``K`` the row softmax is inside, and its Jacobian
``s_a δ_ac − s_a s_c`` makes each derivative two terms: a weighted sum of the
values minus the output itself, ``V_ke − O_qe``. Each batch entry is its own
attention, so every Jacobian is block-diagonal over the batch.
"""
import math
import string

import numpy as np

from ..contract import contract
from ..index import Delta, Factor, term
from .base import Op
from .linear import _swap_last


def _weights(Q, K):
    """``S = softmax(Q Kᵀ/√d)`` over the keys (the last axis), and the scale ``1/√d``."""
    scale = 1 / math.sqrt(Q.shape[-1])
    Z = (Q @ _swap_last(K)) * scale
    e = np.exp(Z - Z.max(axis=-1, keepdims=True))  # shifted, so exp never overflows
    return e / e.sum(axis=-1, keepdims=True), scale


def _per_batch(spec, *operands):
    """``einsum(spec, *operands)`` repeated over the leading batch axes, written ``…``.

    ``_per_batch("…qk,…ke,…kd->…qed", S, V, K)`` is ``A_zqed = Σ_k S_zqk
    V_zke K_zkd`` for every batch entry ``z``.
    """
    batch = string.ascii_uppercase[:operands[0].ndim - 2]
    return contract(spec.replace("…", batch), *operands)


def _mismatch(what, first, a, second, b, axis):
    """The message for two arrays whose ``axis`` (counted from the end) must agree."""
    i, j = a.ndim + axis, b.ndim + axis
    return (f"attention: {first} has shape {a.shape} and {second} has shape {b.shape}: axis {i} "
            f"of {first} has size {a.shape[axis]} but axis {j} of {second} has size "
            f"{b.shape[axis]}; they must be equal ({what})")


class Attention(Op):
    """``O = softmax(Q Kᵀ/√d) V``, scaled dot-product attention over any leading batch axes.

    Parameters
    ----------
    Q : array_like, shape ``(..., q, d)``
        One query per row.
    K : array_like, shape ``(..., k, d)``
        One key per row, of the queries' size ``d``.
    V : array_like, shape ``(..., k, e)``
        One value per key.

    The leading (batch) axes of the three must be equal: they are not
    broadcast.

    Returns
    -------
    O : ndarray, shape ``(..., q, e)``
        Each query's average of the values, weighted by the softmax of its
        scores ``Q Kᵀ/√d`` over the keys.

    Notes
    -----
    With ``Z = Q Kᵀ/√d``, ``S = softmax(Z)`` over the keys (each row sums to
    1) and ``O = S V``, per batch entry ``z`` (tied by ``δ_zz'``: the
    Jacobians are block-diagonal over the batch):

    * ``∂O_zqe/∂V_z'k'e' = δ_zz' S_zqk' δ_ee'`` — ``O`` is linear in ``V``;
    * ``∂O_zqe/∂Q_z'q'd = δ_zz' δ_qq' (1/√d) [A_zqed − O_zqe M_zqd]``, with
      ``A_zqed = Σ_k S_zqk V_zke K_zkd`` and ``M = S K``: the softmax's
      ``S ⊙ (· − Σ_k · S)`` applied to ``∂Z/∂Q = K/√d``;
    * ``∂O_zqe/∂K_z'k'd = δ_zz' (1/√d) S_zqk' (V_zk'e − O_zqe) Q_zqd``,
      written as two products, ``S V Q − S O Q``.

    Each follows from ``∂O_zqe/∂Z_zqk = S_zqk (V_zke − O_zqe)`` (a row of
    softmax's Jacobian contracted with ``V``), the chain rule, and
    ``∂Z_zqk/∂Q_zqd = K_zkd/√d``, ``∂Z_zqk/∂K_zkd = Q_zqd/√d``.

    VJPs, as frameworks write them: ``dS = g Vᵀ``,
    ``dZ = S ⊙ (dS − Σ_k dS ⊙ S)``, then ``dQ = dZ K/√d``,
    ``dK = dZᵀ Q/√d`` and ``dV = Sᵀ g``. JVPs: ``S t`` for ``V``; for ``Q``
    and ``K`` the tangent of the scores, ``dZ = t Kᵀ/√d`` or ``Q tᵀ/√d``,
    through the softmax, ``(S ⊙ (dZ − Σ_k dZ ⊙ S)) V``.

    Second derivatives. ``∂²O/∂V² = 0``. Across ``V`` and ``Q`` or ``K``,
    the derivative of the weights:
    ``∂²O_qe/∂V_k'e'∂Q_q'd = (1/√d) δ_qq' δ_ee' S_qk' (K_k'd − M_qd)`` and
    ``∂²O_qe/∂V_k'e'∂K_k''d = (1/√d) δ_ee' S_qk' (δ_k'k'' − S_qk'') Q_qd``.
    For ``Q`` and ``K``, with ``P_qke = S_qk (V_ke − O_qe)`` the softmax's
    second derivative gives
    ``∂²O_qe/∂Z_qk∂Z_ql = P_qke δ_kl − P_qke S_ql − S_qk P_qle``; contracted
    with ``∂Z/∂Q`` and ``∂Z/∂K`` (and, across Q and K, plus
    ``∂O/∂Z · ∂²Z/∂Q∂K``, which is ``(1/√d) δ_qq' δ_dd' P_qk''e``):

    * ``∂²O_qe/∂Q_q'd∂Q_q''d' = (1/d) δ_qq' δ_qq'' [B_qedd' − O_qe N_qdd'
      − A_qed M_qd' − M_qd A_qed' + 2 O_qe M_qd M_qd']``, with
      ``N_qdd' = Σ_k S_qk K_kd K_kd'`` and ``B_qedd' = Σ_k S_qk V_ke K_kd K_kd'``;
    * ``∂²O_qe/∂K_k'd∂K_k''d' = (1/d) Q_qd Q_qd' [S_qk' V_k'e δ_k'k''
      − S_qk' O_qe δ_k'k'' − S_qk' S_qk'' (V_k'e + V_k''e − 2 O_qe)]``;
    * ``∂²O_qe/∂Q_q'd∂K_k''d' = (1/d) δ_qq' S_qk'' Q_qd' [V_k''e K_k''d
      − O_qe K_k''d − A_qed − M_qd V_k''e + 2 O_qe M_qd]
      + (1/√d) δ_qq' δ_dd' S_qk'' (V_k''e − O_qe)``;

    each with ``δ_zz'`` for every batch label, as above.

    >>> import jacobians as jac
    >>> Q, K, V = np.ones((3, 4)), np.ones((5, 4)), np.ones((5, 2))
    >>> print(jac.attention.formula(Q, K, V, wrt=2))
    ∂O_ab/∂V_cd = S_ac δ_bd
    >>> print(jac.attention.formula(Q, K, V, wrt=0))
    ∂O_ab/∂Q_cd = 1/√d δ_ac A_abd − 1/√d δ_ac O_ab M_ad
    """
    name = "attention"
    arg_names = ("Q", "K", "V")
    out_name = "O"
    examples = ((((3, 4), (5, 4), (5, 2)), {}),
                (((2, 3, 4), (2, 5, 4), (2, 5, 2)), {}),
                (((2, 1, 2, 3), (2, 1, 3, 3), (2, 1, 3, 2)), {}),
                (((1, 2), (3, 2), (3, 1)), {}))

    def _check(self, Q, K, V):
        for name, a, axes in zip(self.arg_names, (Q, K, V), ("(q, d)", "(k, d)", "(k, e)")):
            if a.ndim < 2:
                raise ValueError(f"attention: {name} must have two axes {axes} after any batch "
                                 f"axes, got shape {a.shape}")
        if Q.shape[-1] != K.shape[-1]:
            raise ValueError(_mismatch("d, the size of each query and key", "Q", Q, "K", K, -1))
        if K.shape[-2] != V.shape[-2]:
            raise ValueError(_mismatch("k, one value for each key", "K", K, "V", V, -2))
        for name, a in (("K", K), ("V", V)):
            batch, other = Q.shape[:-2], a.shape[:-2]
            if batch == other:
                continue
            if len(batch) != len(other):
                where = f"Q has {_axes(len(batch))} and {name} has {len(other)}"
            else:
                axis = next(m for m, (n, p) in enumerate(zip(batch, other)) if n != p)
                where = f"axis {axis} has sizes {batch[axis]} and {other[axis]}"
            raise ValueError(f"attention: Q has shape {Q.shape} and {name} has shape {a.shape}; "
                             f"their batch axes (all but the last two), {batch} and {other}, "
                             f"must be equal (they are not broadcast), but {where}")
        if K.shape[-2] == 0:
            raise ValueError(f"attention: K has shape {K.shape}, no keys (axis {K.ndim - 2} has "
                             f"size 0); each query's softmax needs at least one")
        if Q.shape[-1] == 0:
            raise ValueError(f"attention: Q has shape {Q.shape}, queries of size d = 0 (axis "
                             f"{Q.ndim - 1}); the scores are scaled by 1/√d")

    def _value(self, Q, K, V):
        return _weights(Q, K)[0] @ V

    def _terms(self, wrt, args, out, labels, names):
        Q, K, V = args
        O, I = labels
        nb = Q.ndim - 2
        zb, q, e = O[:nb], O[nb], O[nb + 1]  # batch, query and value labels of the output
        r, c = I[nb], I[nb + 1]              # the argument's row and column
        ties = [Delta(z, y) for z, y in zip(zb, I[:nb])]
        S, scale = _weights(Q, K)
        root = _scale("1/√d", r"\frac{1}{\sqrt{d}}", scale)
        if wrt == 2:  # δ_zz' S_zqk' δ_ee'
            return [term(*ties, Factor("S", zb + q + r, S), Delta(e, c))]
        if wrt == 0:  # δ_zz' δ_qq' (1/√d) [A_zqed − O_zqe M_zqd]
            A = _per_batch("…qk,…ke,…kd->…qed", S, V, K)
            return [term(root, *ties, Delta(q, r), Factor("A", zb + q + e + c, A)),
                    term(root, *ties, Delta(q, r), Factor(names[3], zb + q + e, out),
                         Factor("M", zb + q + c, S @ K), sign=-1)]
        # δ_zz' (1/√d) S_zqk' (V_zk'e − O_zqe) Q_zqd
        weights, query = Factor("S", zb + q + r, S), Factor(names[0], zb + q + c, Q)
        return [term(root, *ties, weights, Factor(names[2], zb + r + e, V), query),
                term(root, *ties, weights, Factor(names[3], zb + q + e, out), query, sign=-1)]

    def _second_terms(self, i, j, args, out, labels, names):
        if i == j == 2:  # O is linear in V
            return []
        Q, K, V = args
        O, first, second = labels
        nb = Q.ndim - 2
        zb, q, e = O[:nb], O[nb], O[nb + 1]
        ties = [Delta(z, y) for L in (first, second) for z, y in zip(zb, L[:nb])]
        S, scale = _weights(Q, K)

        def f(name, value, *axes):  # a factor of one batch entry, by its other labels
            return Factor(name, zb + "".join(axes), value)
        root = _scale("1/√d", r"\frac{1}{\sqrt{d}}", scale)
        square, twice = _scale("1/d", r"\frac{1}{d}", scale**2), \
            _scale("2/d", r"\frac{2}{d}", 2 * scale**2)
        o = f(names[3], out, q, e)  # the output, O_qe
        if i == j == 0:  # (1/d) δ_qq' δ_qq'' [B − O N − A M − M A + 2 O M M]
            (_, c1), (_, c2) = first[nb:], second[nb:]
            M = S @ K
            A = _per_batch("…qk,…ke,…kd->…qed", S, V, K)
            N = _per_batch("…qk,…kd,…kf->…qdf", S, K, K)
            B = _per_batch("…qk,…ke,…kd,…kf->…qedf", S, V, K, K)
            rows = [Delta(q, first[nb]), Delta(q, second[nb])]
            return [term(square, *ties, *rows, f("B", B, q, e, c1, c2)),
                    term(square, *ties, *rows, o, f("N", N, q, c1, c2), sign=-1),
                    term(square, *ties, *rows, f("A", A, q, e, c1), f("M", M, q, c2), sign=-1),
                    term(square, *ties, *rows, f("M", M, q, c1), f("A", A, q, e, c2), sign=-1),
                    term(twice, *ties, *rows, o, f("M", M, q, c1), f("M", M, q, c2))]
        if i == j == 1:  # (1/d) Q_qd Q_qd' [S V δ − S O δ − S S V_k' − S S V_k'' + 2 S S O]
            (k1, c1), (k2, c2) = first[nb:], second[nb:]
            queries = [f(names[0], Q, q, c1), f(names[0], Q, q, c2)]
            s1, s2 = f("S", S, q, k1), f("S", S, q, k2)
            return [term(square, *ties, s1, f(names[2], V, k1, e), Delta(k1, k2), *queries),
                    term(square, *ties, s1, o, Delta(k1, k2), *queries, sign=-1),
                    term(square, *ties, s1, s2, f(names[2], V, k1, e), *queries, sign=-1),
                    term(square, *ties, s1, s2, f(names[2], V, k2, e), *queries, sign=-1),
                    term(twice, *ties, s1, s2, o, *queries)]
        mine = {i: first[nb:], j: second[nb:]}
        if 2 in mine:  # across V and Q or K: the derivative of the weights S
            kv, ev = mine[2]
            value_ties = [*ties, f("S", S, q, kv), Delta(e, ev)]
            if 0 in mine:  # (1/√d) δ_qq' δ_ee' S_qk' (K_k'd − M_qd)
                qq, dq = mine[0]
                return [term(root, Delta(q, qq), *value_ties, f(names[1], K, kv, dq)),
                        term(root, Delta(q, qq), *value_ties, f("M", S @ K, q, dq), sign=-1)]
            kk, dk = mine[1]  # (1/√d) δ_ee' S_qk' (δ_k'k'' − S_qk'') Q_qd
            return [term(root, *value_ties, Delta(kv, kk), f(names[0], Q, q, dk)),
                    term(root, *value_ties, f("S", S, q, kk), f(names[0], Q, q, dk), sign=-1)]
        # Across Q and K: (1/d) δ_qq' S_qk'' Q_qd' [V K − O K − A − M V + 2 O M]
        # + (1/√d) δ_qq' δ_dd' S_qk'' (V_k''e − O_qe), from Z's own ∂²Z/∂Q∂K.
        (qq, dq), (kk, dk) = mine[0], mine[1]
        M = S @ K
        A = _per_batch("…qk,…ke,…kd->…qed", S, V, K)
        lead = [*ties, Delta(q, qq), f("S", S, q, kk)]
        query, value = f(names[0], Q, q, dk), f(names[2], V, kk, e)
        return [term(square, *lead, value, f(names[1], K, kk, dq), query),
                term(square, *lead, o, f(names[1], K, kk, dq), query, sign=-1),
                term(square, *lead, f("A", A, q, e, dq), query, sign=-1),
                term(square, *lead, f("M", M, q, dq), value, query, sign=-1),
                term(twice, *lead, o, f("M", M, q, dq), query),
                term(root, *lead, Delta(dq, dk), value),
                term(root, *lead, Delta(dq, dk), o, sign=-1)]

    def vjp_rule(self, wrt, g, args, out):
        Q, K, V = args
        S, scale = _weights(Q, K)
        if wrt == 2:
            return _swap_last(S) @ g                        # dV = Sᵀ g
        dS = g @ _swap_last(V)                               # dS = g Vᵀ
        dZ = S * (dS - (dS * S).sum(axis=-1, keepdims=True))  # through the row softmax
        if wrt == 0:
            return (dZ @ K) * scale                          # dQ = dZ K/√d
        return (_swap_last(dZ) @ Q) * scale                  # dK = dZᵀ Q/√d

    def jvp_rule(self, wrt, t, args, out):
        Q, K, V = args
        S, scale = _weights(Q, K)
        if wrt == 2:
            return S @ t
        dZ = (t @ _swap_last(K) if wrt == 0 else Q @ _swap_last(t)) * scale
        return (S * (dZ - (dZ * S).sum(axis=-1, keepdims=True))) @ V


def _axes(n):
    """``"1 batch axis"``, ``"2 batch axes"``."""
    return f"{n} batch axis" if n == 1 else f"{n} batch axes"


def _scale(name, latex, value):
    """A scalar factor of every term, such as ``1/√d``."""
    return Factor(name, "", np.float64(value), latex)


attention = Attention()
