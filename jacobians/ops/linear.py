"""Linear and multilinear operations: products, rearrangements and the trace.

Their Jacobians hold no new numbers, only the other argument (``X`` in
``∂H/∂W``) or ones, placed by Kronecker deltas. That is why ``∂H/∂W`` of a
matrix product is mostly zeros, and why its VJP is a single matrix product.
The reductions (sum, mean and the others) are in :mod:`jacobians.ops.reduce`.
"""
import numpy as np

from ..index import Delta, Factor, term
from .base import Op
from .elementwise import unbroadcast


class Matmul(Op):
    """``H = X W`` for matrices, vectors and stacks of matrices (``@``).

    Notes
    -----
    ``H_ab = Σ_k X_ak W_kb``, so
    ``∂H_ab/∂X_cd = δ_ac W_db`` and ``∂H_ab/∂W_cd = X_ac δ_bd`` — 4th-order
    tensors of shape ``(n, p, n, m)`` and ``(n, p, m, p)``. With a vector on
    either side the free axis of that side disappears, giving 3rd-order
    tensors such as ``∂ŷ_a/∂H_cd = δ_ac v_d``.

    Leading axes are a batch, broadcast as NumPy does: ``H_zab = Σ_k
    X_zak W_zkb``. Each batch entry's product depends on its own matrices
    only, so a delta ties the batch labels (``∂H_zab/∂X_ycd = δ_zy δ_ac
    W_zdb``): the Jacobian is block-diagonal across the batch. An argument
    the batch stretches (one ``W`` for every ``z``) has no delta there, and
    its VJP sums over the batch.

    VJPs: ``g Wᵀ`` and ``Xᵀ g`` (outer products when a side is a vector),
    per batch entry.

    Second derivative: ``H`` is linear in each argument, so ``∂²H/∂X²`` and
    ``∂²H/∂W²`` are zero; across them only deltas are left,
    ``∂²H_ab/∂X_cd∂W_ef = δ_ac δ_de δ_bf`` (the row from X, the summed
    index shared by X and W, the column from W), without ``δ_ac`` or
    ``δ_bf`` for a vector side and with the batch deltas of each side.

    >>> import jacobians as jac
    >>> X, W = np.ones((4, 3)), np.ones((3, 2))
    >>> jac.matmul.jacobian(X, W, wrt=1).shape
    (4, 2, 3, 2)
    """
    name = "matmul"
    arg_names = ("X", "W")
    out_name = "H"
    examples = ((((3, 4), (4, 2)), {}), (((3, 4), (4,)), {}), (((4,), (4, 2)), {}),
                (((4,), (4,)), {}), (((2, 3, 4), (2, 4, 2)), {}), (((2, 3, 4), (4, 2)), {}),
                (((3,), (2, 3, 2)), {}), (((2, 1, 2, 3), (3, 3, 2)), {}))

    def _check(self, X, W):
        for name, a in zip(self.arg_names, (X, W)):
            if a.ndim == 0:
                raise ValueError(f"matmul: {name} is a scalar; multiply it with * instead")
        k = W.ndim - 2 if W.ndim >= 2 else 0
        if X.shape[-1] != W.shape[k]:
            raise ValueError(
                f"matmul: X has shape {X.shape} and W has shape {W.shape}: axis {X.ndim - 1} "
                f"of X has size {X.shape[-1]} but axis {k} of W has size {W.shape[k]}; "
                f"they must be equal")
        if X.ndim <= 2 and W.ndim <= 2:
            return
        try:
            self._batch(X, W)
        except ValueError:
            raise ValueError(f"matmul: X has shape {X.shape} and W has shape {W.shape}, whose "
                             f"leading (batch) axes {X.shape[:-2]} and {W.shape[:-2]} do not "
                             f"broadcast") from None

    @staticmethod
    def _batch(X, W):
        """The batch shape: the leading axes of both, broadcast."""
        if X.ndim <= 2 and W.ndim <= 2:
            return ()
        return np.broadcast_shapes(X.shape[:-2], W.shape[:-2])

    def _value(self, X, W):
        return X @ W

    def _terms(self, wrt, args, out, labels, names):
        X, W = args
        O, I = labels
        batch = self._batch(X, W)
        nb = len(batch)
        rows = O[nb:nb + 1] if X.ndim >= 2 else ""  # the output axis that comes from X
        cols = O[-1:] if W.ndim >= 2 else ""        # the output axis that comes from W
        mine, other = args[wrt], args[1 - wrt]
        # The batch axes this argument has (right-aligned) and the batch does not stretch.
        lead = nb - max(mine.ndim - 2, 0)
        ties = [Delta(O[lead + j], I[j]) for j in range(max(mine.ndim - 2, 0))
                if mine.shape[j] == batch[lead + j]]
        # The other argument, broadcast to the whole batch (a view), labelled by it.
        if other.ndim >= 2 and nb:
            other = np.broadcast_to(other, batch + other.shape[-2:])
            ob = O[:nb]
        else:
            ob = ""
        if wrt == 0:  # ∂H_ab/∂X_cd = δ_ac W_db
            tie = [Delta(rows, I[-2])] if rows else []
            return [term(*ties, *tie, Factor(names[1], ob + I[-1] + cols, other))]
        tie = [Delta(cols, I[-1])] if cols else []  # ∂H_ab/∂W_cd = X_ac δ_bd
        k = I[-2] if W.ndim >= 2 else I[-1]
        return [term(Factor(names[0], ob + rows + k, other), *ties, *tie)]

    def _second_terms(self, i, j, args, out, labels, names):
        if i == j:  # linear in each argument
            return []
        X, W = args
        O = labels[0]
        x, w = (labels[1], labels[2]) if i == 0 else (labels[2], labels[1])
        batch = self._batch(X, W)
        nb = len(batch)

        def ties(mine, L):  # batch labels of one side, as in _terms
            lead = nb - max(mine.ndim - 2, 0)
            return [Delta(O[lead + k], L[k]) for k in range(max(mine.ndim - 2, 0))
                    if mine.shape[k] == batch[lead + k]]
        parts = ties(X, x) + ties(W, w)
        if X.ndim >= 2:  # the row of H is X's row
            parts.append(Delta(O[nb], x[-2]))
        k = w[-2] if W.ndim >= 2 else w[-1]  # X's last axis is summed against W's k
        parts.append(Delta(x[-1], k) if i == 0 else Delta(k, x[-1]))
        if W.ndim >= 2:  # the column of H is W's column
            parts.append(Delta(O[-1], w[-1]))
        return [term(*parts)]

    def vjp_rule(self, wrt, g, args, out):
        X, W = args
        if X.ndim <= 2 and W.ndim <= 2:
            if wrt == 0:
                return g @ W.T if W.ndim == 2 else np.multiply.outer(g, W)
            return X.T @ g if X.ndim == 2 else np.multiply.outer(X, g)
        # A batch: vectors as one-row or one-column matrices, products per batch entry,
        # then a sum over the batch axes that broadcasting stretched.
        X2 = X if X.ndim >= 2 else X.reshape(1, -1)
        W2 = W if W.ndim >= 2 else W.reshape(-1, 1)
        g2 = g.reshape(self._batch(X, W) + (X2.shape[-2], W2.shape[-1]))
        if wrt == 0:
            return unbroadcast(g2 @ _swap_last(W2), X2.shape).reshape(X.shape)
        return unbroadcast(_swap_last(X2) @ g2, W2.shape).reshape(W.shape)

    def jvp_rule(self, wrt, t, args, out):
        X, W = args
        return t @ W if wrt == 0 else X @ t


def _swap_last(a):
    """Each matrix of a stack transposed: the last two axes swapped (a view)."""
    return a.transpose(tuple(range(a.ndim - 2)) + (a.ndim - 1, a.ndim - 2))


matmul = Matmul()


class Outer(Op):
    """``O = u vᵀ``; ``∂O_ab/∂u_c = δ_ac v_b``, ``∂O_ab/∂v_c = u_a δ_bc``.

    VJPs ``g v`` and ``gᵀ u``. Second derivative: zero within ``u`` or
    ``v`` (it is linear in each), ``∂²O_ab/∂u_c∂v_d = δ_ac δ_bd`` across.
    """
    name = "outer"
    arg_names = ("u", "v")
    out_name = "O"
    examples = ((((3,), (2,)), {}),)

    def _check(self, u, v):
        for name, a in zip(self.arg_names, (u, v)):
            if a.ndim != 1:
                raise ValueError(f"outer: {name} must be a vector, got shape {a.shape}")

    def _value(self, u, v):
        return np.outer(u, v)

    def _terms(self, wrt, args, out, labels, names):
        (a, b), (c,) = labels
        if wrt == 0:
            return [term(Delta(a, c), Factor(names[1], b, args[1]))]
        return [term(Factor(names[0], a, args[0]), Delta(b, c))]

    def _second_terms(self, i, j, args, out, labels, names):
        if i == j:  # linear in each argument
            return []
        (a, b), first, second = labels
        u, v = (first, second) if i == 0 else (second, first)
        return [term(Delta(a, u), Delta(b, v))]

    def vjp_rule(self, wrt, g, args, out):
        u, v = args
        return g @ v if wrt == 0 else g.T @ u

    def jvp_rule(self, wrt, t, args, out):
        u, v = args
        return np.outer(t, v) if wrt == 0 else np.outer(u, t)


outer = Outer()


class Transpose(Op):
    """``Y = Xᵀ`` (or any permutation of axes); ``∂Y_ab/∂X_cd = δ_ad δ_bc``.

    The VJP transposes ``g`` back. Linear: its second derivative is zero.
    """
    name = "transpose"
    linear = True
    arg_names = ("X",)
    params = ("axes",)
    out_name = "Y"
    examples = ((((2, 3),), {}), (((2, 3, 4),), {"axes": (2, 0, 1)}), (((3,),), {}))

    def _check(self, X, axes=None):
        if axes is not None and sorted(axes) != list(range(X.ndim)):
            raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the "
                             f"{X.ndim} axes of X, shape {X.shape}")

    def _value(self, X, axes=None):
        return np.transpose(X, axes)

    def _terms(self, wrt, args, out, labels, names, axes=None):
        O, I = labels
        axes = range(len(I))[::-1] if axes is None else axes
        return [term(*(Delta(O[k], I[j]) for k, j in enumerate(axes)))]

    def vjp_rule(self, wrt, g, args, out, axes=None):
        return np.transpose(g, None if axes is None else np.argsort(axes))

    def jvp_rule(self, wrt, t, args, out, axes=None):
        return np.transpose(t, axes)


transpose = Transpose()


class Reshape(Op):
    """``y = reshape(X, shape)`` in row-major (C) order.

    Notes
    -----
    Each output entry is one input entry: the one at the same row-major flat
    index. So the Jacobian is a single delta between the two flat indices —
    for X of shape (2, 3) and y of shape (6,), ``∂y_a/∂X_cd = δ(a, 3c+d)`` —
    the identity matrix with its rows and columns re-indexed. Eliminating it
    reshapes ``g`` back: no number is computed. Linear: its second
    derivative is zero.
    """
    name = "reshape"
    linear = True
    arg_names = ("X",)
    params = required = trailing = ("shape",)
    out_name = "y"
    examples = ((((2, 3),), {"shape": (6,)}), (((6,),), {"shape": (3, 2)}))

    def _check(self, X, shape):
        try:  # NumPy's own rules, -1 included; a view costs nothing
            np.reshape(X, shape)
        except (ValueError, TypeError):
            raise ValueError(f"reshape: X has shape {X.shape} ({X.size} entries) and cannot "
                             f"be reshaped to {shape!r}") from None

    def _value(self, X, shape):
        return np.reshape(X, shape)

    def _terms(self, wrt, args, out, labels, names, shape):
        O, I = labels
        if not O or not I:  # one entry on each side: the Jacobian is the number 1
            return [term()]
        return [term(Delta(O, I))]

    def vjp_rule(self, wrt, g, args, out, shape):
        return g.reshape(args[0].shape)

    def jvp_rule(self, wrt, t, args, out, shape):
        return t.reshape(out.shape)


reshape = Reshape()


class Trace(Op):
    """``t = tr(X) = Σ_k X_kk`` for square X; ``∂t/∂X_cd = δ_cd``; VJP ``g I``.

    Linear: its second derivative is zero.
    """
    name = "trace"
    linear = True
    arg_names = ("X",)
    out_name = "t"
    examples = ((((3, 3),), {}),)

    def _check(self, X):
        if X.ndim != 2 or X.shape[0] != X.shape[1]:
            raise ValueError(f"trace: X must be a square matrix, got shape {X.shape}")

    def _value(self, X):
        return np.trace(X)

    def _terms(self, wrt, args, out, labels, names):
        c, d = labels[1]
        return [term(Delta(c, d))]

    def vjp_rule(self, wrt, g, args, out):
        return g * np.eye(len(args[0]), like=args[0])

    def jvp_rule(self, wrt, t, args, out):
        return np.trace(t)


trace = Trace()
