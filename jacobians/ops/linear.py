"""Linear and multilinear operations: products, rearrangements and reductions.

Their Jacobians hold no new numbers, only the other argument (``X`` in
``∂H/∂W``) or ones, placed by Kronecker deltas. That is why ``∂H/∂W`` of a
matrix product is mostly zeros, and why its VJP is a single matrix product.
"""
import numpy as np

from ..index import Delta, Factor, term
from .base import Op


class Matmul(Op):
    """``H = X W`` for matrices and vectors (``@``).

    Notes
    -----
    ``H_ab = Σ_k X_ak W_kb``, so
    ``∂H_ab/∂X_cd = δ_ac W_db`` and ``∂H_ab/∂W_cd = X_ac δ_bd`` — 4th-order
    tensors of shape ``(n, p, n, m)`` and ``(n, p, m, p)``. With a vector on
    either side the free axis of that side disappears, giving 3rd-order
    tensors such as ``∂ŷ_a/∂H_cd = δ_ac v_d``.

    VJPs: ``g Wᵀ`` and ``Xᵀ g`` (outer products when a side is a vector).

    >>> import jacobians as jac
    >>> X, W = np.ones((4, 3)), np.ones((3, 2))
    >>> jac.matmul.jacobian(X, W, wrt=1).shape
    (4, 2, 3, 2)
    """
    name = "matmul"
    arg_names = ("X", "W")
    out_name = "H"
    examples = ((((3, 4), (4, 2)), {}), (((3, 4), (4,)), {}), (((4,), (4, 2)), {}),
                (((4,), (4,)), {}))

    def _check(self, X, W):
        for name, a in zip(self.arg_names, (X, W)):
            if a.ndim not in (1, 2):
                raise ValueError(f"matmul: {name} must be a vector or a matrix, "
                                 f"got shape {a.shape}")
        if X.shape[-1] != W.shape[0]:
            raise ValueError(
                f"matmul: X has shape {X.shape} and W has shape {W.shape}: axis {X.ndim - 1} "
                f"of X has size {X.shape[-1]} but axis 0 of W has size {W.shape[0]}; "
                f"they must be equal")

    def _value(self, X, W):
        return X @ W

    def _terms(self, wrt, args, out, labels, names):
        X, W = args
        O, I = labels
        rows = O[:1] if X.ndim == 2 else ""   # the output axis that comes from X
        cols = O[-1:] if W.ndim == 2 else ""  # the output axis that comes from W
        if wrt == 0:  # ∂H_ab/∂X_cd = δ_ac W_db
            tie = [Delta(rows, I[0])] if rows else []
            return [term(*tie, Factor(names[1], I[-1] + cols, W))]
        tie = [Delta(cols, I[-1])] if cols else []  # ∂H_ab/∂W_cd = X_ac δ_bd
        return [term(Factor(names[0], rows + I[0], X), *tie)]

    def vjp_rule(self, wrt, g, args, out):
        X, W = args
        if wrt == 0:
            return g @ W.T if W.ndim == 2 else np.multiply.outer(g, W)
        return X.T @ g if X.ndim == 2 else np.multiply.outer(X, g)

    def jvp_rule(self, wrt, t, args, out):
        X, W = args
        return t @ W if wrt == 0 else X @ t


matmul = Matmul()


class Outer(Op):
    """``O = u vᵀ``; ``∂O_ab/∂u_c = δ_ac v_b``, ``∂O_ab/∂v_c = u_a δ_bc``.

    VJPs ``g v`` and ``gᵀ u``.
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

    def vjp_rule(self, wrt, g, args, out):
        u, v = args
        return g @ v if wrt == 0 else g.T @ u

    def jvp_rule(self, wrt, t, args, out):
        u, v = args
        return np.outer(t, v) if wrt == 0 else np.outer(u, t)


outer = Outer()


class Transpose(Op):
    """``Y = Xᵀ`` (or any permutation of axes); ``∂Y_ab/∂X_cd = δ_ad δ_bc``.

    The VJP transposes ``g`` back.
    """
    name = "transpose"
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
    reshapes ``g`` back: no number is computed.
    """
    name = "reshape"
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


def _axis(name, X, axis):
    if axis is None:
        return
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: axis must be one axis (an int) or None for all entries, "
                         f"got {axis!r}")
    if not -X.ndim <= axis < X.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for X of shape {X.shape}")


class Sum(Op):
    """``s = Σ X`` over all entries, or over one axis.

    Notes
    -----
    Over all entries ``∂s/∂X_cd = 1``; over axis 1 ``∂s_a/∂X_cd = δ_ac``.
    The VJP copies ``g`` back along the summed axis (a broadcast).
    """
    name = "sum"
    arg_names = ("X",)
    params = ("axis",)
    out_name = "s"
    examples = ((((2, 3),), {}), (((2, 3),), {"axis": 1}), (((2, 3),), {"axis": 0}),
                (((4,),), {}))

    def _check(self, X, axis=None):
        _axis(self.name, X, axis)

    def _value(self, X, axis=None):
        return np.sum(X, axis=axis)

    def _scale(self, X, axis):
        return None

    def _terms(self, wrt, args, out, labels, names, axis=None):
        (X,) = args
        O, I = labels
        kept = [k for k in range(X.ndim) if axis is None or k != axis % X.ndim]
        parts = [Delta(o, I[k]) for o, k in zip(O, kept)]
        scale = self._scale(X, axis)
        if scale and scale != 1:
            parts.insert(0, Factor(f"1/{scale}", "", np.float64(1 / scale)))
        return [term(*parts)]

    def _spread(self, g, X, axis):
        g = g if axis is None else np.expand_dims(g, axis)
        return np.broadcast_to(g, X.shape)

    def vjp_rule(self, wrt, g, args, out, axis=None):
        return self._spread(g, args[0], axis)

    def jvp_rule(self, wrt, t, args, out, axis=None):
        return np.sum(t, axis=axis)


sum = Sum()


class Mean(Sum):
    """``m = mean(X)`` over all entries or one axis: the sum scaled by ``1/N``.

    ``∂m/∂X_cd = 1/N``; the VJP spreads ``g/N`` back.
    """
    name = "mean"
    out_name = "m"

    def _value(self, X, axis=None):
        return np.mean(X, axis=axis)

    def _scale(self, X, axis):
        return X.size if axis is None else X.shape[axis]

    def vjp_rule(self, wrt, g, args, out, axis=None):
        X = args[0]
        return self._spread(g / self._scale(X, axis), X, axis)

    def jvp_rule(self, wrt, t, args, out, axis=None):
        return np.mean(t, axis=axis)


mean = Mean()


class Trace(Op):
    """``t = tr(X) = Σ_k X_kk`` for square X; ``∂t/∂X_cd = δ_cd``; VJP ``g I``."""
    name = "trace"
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
        return g * np.eye(len(args[0]), like=g)

    def jvp_rule(self, wrt, t, args, out):
        return np.trace(t)


trace = Trace()
