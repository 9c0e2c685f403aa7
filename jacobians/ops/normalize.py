"""Layer norm and batch norm: each slice of an array standardised along one axis.

Both compute, in training mode and without the affine scale and shift (those
are :func:`~jacobians.multiply` and :func:`~jacobians.add`)::

    x̂ = (x − μ) / σ̃,    μ = mean(x),  σ² = mean((x − μ)²),  σ̃ = √(σ² + eps)

over each slice along one axis of ``n`` entries. They are one operation and
differ only in the axis normalised by default: **layer norm** standardises
each example over its features (the last axis), **batch norm** each feature
over the examples of the batch (axis 0).

Within a slice, since ``∂μ/∂x_c = 1/n`` and ``∂σ̃/∂x_c = (x_c − μ)/(nσ̃) = x̂_c/n``,
::

    ∂x̂_a/∂x_c = (δ_ac − 1/n − x̂_a x̂_c / n) / σ̃

three terms, and a delta ties every other axis of the output to the input's,
so slices never mix. For a (batch, features) matrix that is the whole
difference between the two: layer norm's Jacobian is block-diagonal over the
examples, while batch norm's couples every example of the batch with every
other (through the mean and the variance of each feature).
"""
import numpy as np

from ..index import Delta, Factor, tex, term
from .base import Op, check_one_axis
from .softmax import _across, _second_ties

EPS = 1e-5  # the default eps, PyTorch's and Flax's


def _centred_and_scale(X, k, eps):
    """``X − μ`` and ``σ̃ = √(σ² + eps)`` along axis ``k``, which ``σ̃`` keeps with size 1."""
    centred = X - np.mean(X, axis=k, keepdims=True)
    return centred, np.sqrt(np.mean(centred * centred, axis=k, keepdims=True) + eps)


class _Normalize(Op):
    """``x̂ = (x − μ)/√(σ² + eps)`` along one axis; subclasses give the name and the default axis.

    The parameters reach every hook as given by the caller (an absent
    ``axis`` is the op's ``default_axis``), read by :meth:`_settings`.
    """

    arg_names = ("X",)
    params = ("axis", "eps")
    trailing = ("axis", "eps")  # jac.layer_norm(X, -1, 1e-6), as the signature reads
    out_name = "x̂"
    default_axis = None

    def _settings(self, X, params):
        """The normalised axis, counted from 0, and ``eps``."""
        return params.get("axis", self.default_axis) % X.ndim, params.get("eps", EPS)

    def _check(self, X, **params):
        axis, eps = params.get("axis", self.default_axis), params.get("eps", EPS)
        check_one_axis(self.name, "X", X, axis)
        if isinstance(eps, (bool, np.bool_)) or \
                not isinstance(eps, (int, float, np.integer, np.floating)) \
                or not np.isfinite(eps) or eps <= 0:
            raise ValueError(f"{self.name}: eps must be a positive number, got {eps!r}; it "
                             f"keeps σ̃ = √(σ² + eps) from 0 where a slice of X (shape "
                             f"{X.shape}) along axis {axis} is constant")

    def _value(self, X, **params):
        centred, scale = _centred_and_scale(X, *self._settings(X, params))
        return centred / scale

    def _terms(self, wrt, args, out, labels, names, **params):
        # (δ_ac − 1/n − x̂_a x̂_c/n)/σ̃ along the axis k; deltas tie the other axes, and σ̃
        # is indexed by them.
        (X,) = args
        k, eps = self._settings(X, params)
        n = X.shape[k]
        O, I = labels
        rows, row_shape = O[:k] + O[k + 1:], X.shape[:k] + X.shape[k + 1:]
        inverse = 1 / _centred_and_scale(X, k, eps)[1]
        ties = [Delta(o, i) for o, i in zip(O, I)]
        y = names[-1]
        return [
            term(Factor("1/σ̃", rows, np.reshape(inverse, row_shape), r"\frac{1}{\tilde\sigma}"),
                 *ties),
            term(Factor(f"1/({n}σ̃)", rows, np.reshape(inverse / n, row_shape),
                        rf"\frac{{1}}{{{n}\tilde\sigma}}"), *ties[:k], *ties[k + 1:], sign=-1),
            term(Factor(f"{y}/({n}σ̃)", O, out * (inverse / n),
                        rf"\frac{{{tex(y)}}}{{{n}\tilde\sigma}}"),
                 Factor(y, _across(O, I, k), out, tex(y)), *ties[:k], *ties[k + 1:], sign=-1),
        ]

    def _second_terms(self, i, j, args, out, labels, names, **params):
        # ∂/∂x_e of (δ_ac − 1/n − x̂_a x̂_c/n)/σ̃, where ∂x̂_a/∂x_e is the Jacobian and
        # ∂σ̃/∂x_e = x̂_e/n:
        # (−x̂_a δ_ce − x̂_c δ_ae − x̂_e δ_ac + (x̂_a + x̂_c + x̂_e)/n + 3 x̂_a x̂_c x̂_e/n)/(nσ̃²).
        (X,) = args
        k, eps = self._settings(X, params)
        n = X.shape[k]
        O, I, J = labels
        scale = _centred_and_scale(X, k, eps)[1]
        scaled = out / (n * scale * scale)  # x̂/(nσ̃²)
        y, latex = names[-1], tex(names[-1])

        def at(L):  # x̂'s labels for the entry along the axis that L names, in O's slice
            return _across(O, L, k)

        def over(L):
            return Factor(f"{y}/({n}σ̃²)", at(L), scaled, rf"\frac{{{latex}}}{{{n}\tilde\sigma^2}}")

        def over_n(L):
            return Factor(f"{y}/({n}²σ̃²)", at(L), scaled / n,
                          rf"\frac{{{latex}}}{{{n}^2\tilde\sigma^2}}")

        cubic = Factor(f"3{y}/({n}²σ̃²)", O, scaled * (3 / n),
                       rf"\frac{{3{latex}}}{{{n}^2\tilde\sigma^2}}")
        slice_only = _second_ties(labels, k)
        return [term(over(O), *_second_ties(labels, k, ("IJ",)), sign=-1),
                term(over(I), *_second_ties(labels, k, ("OJ",)), sign=-1),
                term(over(J), *_second_ties(labels, k, ("OI",)), sign=-1),
                term(over_n(O), *slice_only),
                term(over_n(I), *slice_only),
                term(over_n(J), *slice_only),
                term(cubic, Factor(y, at(I), out, latex), Factor(y, at(J), out, latex),
                     *slice_only)]

    def _standardised_projection(self, v, X, out, params):
        """``(v − mean(v) − x̂ mean(v x̂))/σ̃`` along the axis: ``J v``, which is also ``Jᵀ v``."""
        k, eps = self._settings(X, params)
        scale = _centred_and_scale(X, k, eps)[1]
        return (v - np.mean(v, axis=k, keepdims=True)
                - out * np.mean(v * out, axis=k, keepdims=True)) / scale

    def vjp_rule(self, wrt, g, args, out, **params):
        return self._standardised_projection(g, args[0], out, params)

    def jvp_rule(self, wrt, t, args, out, **params):
        return self._standardised_projection(t, args[0], out, params)


_NOTES = """
    Notes
    -----
    Along the axis, in each slice of ``n`` entries: ``μ`` the mean,
    ``σ² = mean((x − μ)²)`` the biased variance (``np.var``'s, what
    training-mode normalisation uses) and ``σ̃ = √(σ² + eps)``. The Jacobian,
    with the entries of one slice written as a vector,

    ``∂x̂_a/∂x_c = (δ_ac − 1/n − x̂_a x̂_c / n) / σ̃``

    is stated as three terms: ``(1/σ̃) δ_ac``, ``−1/(nσ̃)`` and
    ``−(x̂/(nσ̃))_a x̂_c``, with ``n`` printed as a number. For an array, each
    term carries a delta for every other axis, tying the output's label to
    the input's, and ``σ̃`` is indexed by those axes: entries of different
    slices never mix. The Jacobian of a slice is symmetric, so the VJP and
    the JVP are one formula, ``(v − mean(v) − x̂ mean(v x̂)) / σ̃`` along the
    axis.

    Second derivative, within a slice (0 across slices):

    ``∂²x̂_a/∂x_c∂x_e = (−x̂_a δ_ce − x̂_c δ_ae − x̂_e δ_ac
    + (x̂_a + x̂_c + x̂_e)/n + 3 x̂_a x̂_c x̂_e / n) / (nσ̃²)``,

    symmetric in ``a``, ``c`` and ``e``; seven terms.

    An axis of size ``n = 1`` is accepted: each entry is its own mean, so
    ``x̂ = 0`` whatever ``x`` is, and the Jacobian is 0 — its first two
    terms cancel exactly. (:meth:`~jacobians.Derivative.nnz` counts the
    terms' entries, not the cancellation.)
"""


class LayerNorm(_Normalize):
    __doc__ = """``x̂ = (x − μ)/√(σ² + eps)`` over each example's features: layer normalisation.

    Parameters
    ----------
    X : array_like
        At least one axis; typically a batch, shape ``(batch, features)``.
    axis : int, optional
        The axis normalised over, the last (-1) by default: each slice
        along it gets mean 0 and variance ``σ²/(σ² + eps)``.
    eps : float, optional
        Added to the variance, 1e-5 by default; must be positive.

    Returns
    -------
    ndarray, shape ``X.shape``
    """ + _NOTES + """
    For a batch ``(B, F)`` normalised over its features, the terms tie the
    examples, ``δ_ac``: the Jacobian is block-diagonal, one ``F × F`` block
    per example. The scale and shift of a layer are ``multiply`` and ``add``.

    Examples
    --------
    >>> import jacobians as jac
    >>> print(jac.layer_norm.formula())
    ∂X̂_ab/∂X_cd = (1/σ̃)_a δ_ac δ_bd − (1/(3σ̃))_a δ_ac − (X̂/(3σ̃))_ab X̂_ad δ_ac
    >>> jac.layer_norm(np.array([1.0, 2.0, 3.0])).round(4)
    array([-1.2247,  0.    ,  1.2247])
    """
    name = "layer_norm"
    default_axis = -1
    examples = ((((4, 3),), {}), (((5,),), {}), (((2, 3, 4),), {}),
                (((2, 3, 4),), {"axis": 1}), (((3, 2),), {"axis": -2, "eps": 0.5}),
                (((2, 3, 2),), {"axis": -3}))


layer_norm = LayerNorm()


class BatchNorm(_Normalize):
    __doc__ = """``x̂ = (x − μ)/√(σ² + eps)`` over the batch for each feature: batch normalisation.

    Parameters
    ----------
    X : array_like
        At least one axis; typically a batch, shape ``(batch, features)``.
    axis : int, optional
        The axis normalised over, the batch axis (0) by default: each slice
        along it (each feature, and each position of any further axes) is
        standardised over the examples.
    eps : float, optional
        Added to the variance, 1e-5 by default; must be positive.

    Returns
    -------
    ndarray, shape ``X.shape``
    """ + _NOTES + """
    Training mode: the batch's own statistics are used (and differentiated),
    not running averages. For a batch ``(B, F)`` the terms tie the features,
    ``δ_bd``, and not the examples: every output example depends on every
    input example, through its feature's mean and variance.
    The scale and shift of a layer are ``multiply`` and ``add``.

    Examples
    --------
    >>> import jacobians as jac
    >>> print(jac.batch_norm.formula())
    ∂X̂_ab/∂X_cd = (1/σ̃)_b δ_ac δ_bd − (1/(4σ̃))_b δ_bd − (X̂/(4σ̃))_ab X̂_cb δ_bd
    """
    name = "batch_norm"
    default_axis = 0
    examples = ((((4, 3),), {}), (((5,),), {}), (((2, 3, 4),), {}),
                (((2, 3, 4),), {"axis": -1}), (((3, 2),), {"axis": 1, "eps": 0.5}),
                (((2, 3, 2),), {"axis": -2}))


batch_norm = BatchNorm()
