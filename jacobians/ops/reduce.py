"""Reductions over any axes: sum, mean, var, max, min and norm.

Each takes NumPy's ``axis`` — None for every entry, one int, or a tuple of
ints (negative ones count from the end) — and ``keepdims``. An output entry
depends only on the entries of its own *group*, the input entries that share
its kept indices, so every term carries one delta per kept axis, tying that
output label to its input label::

    s = Σ_d X_cd (axis=1)      ∂s_a/∂X_cd = δ_ac

With ``keepdims=True`` the reduced axes stay as axes of size 1. Their output
labels get no delta: the term is constant along them.

``sum`` and ``mean`` are linear: their Jacobians are deltas (and ``1/N``),
their second derivatives zero.
The others have a partial ``∂y/∂X_c`` that is an array over the input, the
same for every output entry of the group: a factor over the input labels.
Their VJPs broadcast ``g`` back over each group and multiply by it; their
JVPs multiply and sum over it.

Note that this module's ``sum``, ``max`` and ``min`` are ops, not Python's
builtins.
"""
import math

import numpy as np

from ..abstract import Shaped
from ..arrays import is_traced
from ..index import Delta, Factor, tex, term
from .base import Op


def reduced_axes(name, X, axis):
    """The axes of ``X`` that ``axis`` reduces, counted from 0 and sorted.

    Parameters
    ----------
    name : str
        The op's name, for messages.
    X : array
    axis : None, int or tuple of int
        As NumPy takes it: None for every axis, negative ints from the end.

    Raises
    ------
    ValueError
        For an axis out of range, an axis given twice, or anything but
        None, an int or a tuple of ints; the message names the op, the axis
        and ``X``'s shape.

    Examples
    --------
    >>> reduced_axes("sum", np.ones((2, 3, 4)), (-1, 0))
    (0, 2)
    """
    if axis is None:
        return tuple(range(X.ndim))
    given = axis if isinstance(axis, tuple) else (axis,)
    if any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer))
           for a in given):
        raise ValueError(f"{name}: axis must be None, an int or a tuple of ints, "
                         f"got {axis!r}")
    where = "" if given is not axis else f" (in axis={axis!r})"
    axes = []
    for a in given:
        if not -X.ndim <= a < X.ndim:
            raise ValueError(f"{name}: axis {a}{where} is out of range for X of shape "
                             f"{X.shape}")
        k = int(a) % X.ndim
        if k in axes:
            raise ValueError(f"{name}: axis={axis!r} repeats axis {k} of X, shape {X.shape}; "
                             f"each axis may be reduced once")
        axes.append(k)
    return tuple(sorted(axes))


def group_size(X, axes):
    """``N``: how many entries of ``X`` each output entry reduces."""
    return math.prod(X.shape[k] for k in axes)


def _expand(a, axes, keepdims):
    """A reduced array with a length-1 axis back at each reduced axis, to broadcast against X.

    Leading axes need none: broadcasting aligns the rest from the right.
    """
    if keepdims or axes == tuple(range(len(axes))):
        return a
    return np.expand_dims(a, axes)


class _Reduction(Op):
    """A reduction of ``X`` over ``axis``; subclasses give the value and the terms."""

    arg_names = ("X",)
    params = ("axis", "keepdims")
    trailing = ("axis",)  # jac.sum(X, 1), as np.sum(X, 1)
    examples = (
        (((2, 3),), {}),
        (((2, 3),), {"axis": 1}),
        (((2, 3),), {"axis": 0}),
        (((4,),), {}),
        (((2, 3, 4),), {"axis": (0, 2)}),
        (((2, 3),), {"axis": -1, "keepdims": True}),
        (((2, 3, 2),), {"axis": (-1, 0), "keepdims": True}),
        (((2, 3),), {"keepdims": True}),
    )
    empty_groups = False  # whether a reduction over no entries is defined (a sum's is 0)

    def _check(self, X, axis=None, keepdims=False, **params):
        axes = reduced_axes(self.name, X, axis)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise ValueError(f"{self.name}: keepdims must be True or False, got {keepdims!r}")
        if not self.empty_groups and group_size(X, axes) == 0:
            raise ValueError(f"{self.name}: X has shape {X.shape}, so axis={axis!r} leaves no "
                             f"entries to reduce; the {self.name} of nothing is undefined")
        return axes

    def _ties(self, labels, X, axes, keepdims):
        """A delta between each kept axis's output label and its input label."""
        O, I = labels
        kept = [k for k in range(X.ndim) if k not in axes]
        if keepdims:  # output axis k is input axis k; the reduced ones, of size 1, get none
            return [Delta(O[k], I[k]) for k in kept]
        return [Delta(o, I[k]) for o, k in zip(O, kept)]

    def _group_ties(self, labels, X, axes, keepdims):
        """For a second derivative over ``(O, I, J)``: both inputs' kept axes tied to O."""
        O, I, J = labels
        return self._ties((O, I), X, axes, keepdims) + self._ties((O, J), X, axes, keepdims)


class Sum(_Reduction):
    """``s = Σ X`` over all entries, or over the given axes.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes summed over; None (the default) for every entry.
    keepdims : bool, optional
        Keep the summed axes, with size 1.

    Notes
    -----
    Each input entry adds once to the output entry of its group: over all
    entries ``∂s/∂X_cd = 1``; over axis 1 ``∂s_a/∂X_cd = δ_ac`` (one delta
    per kept axis); over axis 1 with ``keepdims``, ``∂s_ab/∂X_cd = δ_ac``
    — ``b`` has size 1 and no delta.

    The VJP copies ``g`` back along the summed axes (a broadcast); the JVP
    sums the tangent. Linear: its second derivative is zero.

    >>> import jacobians as jac
    >>> print(jac.sum.formula(np.ones((2, 3)), 1))
    ∂s_a/∂X_cd = δ_ac
    """
    name = "sum"
    out_name = "s"
    linear = True
    empty_groups = True

    def _value(self, X, axis=None, keepdims=False):
        return np.sum(X, axis=axis, keepdims=keepdims)

    def _scale(self, X, axes):
        """The constant each entry is weighed by, ``1/N`` for a mean; None for 1."""
        return None

    def _terms(self, wrt, args, out, labels, names, axis=None, keepdims=False):
        (X,) = args
        axes = reduced_axes(self.name, X, axis)
        parts = self._ties(labels, X, axes, keepdims)
        n = self._scale(X, axes)
        if n is not None and n != 1:
            parts.insert(0, Factor(f"1/{n}", "", np.float64(1 / n)))
        return [term(*parts)]

    def _spread(self, g, X, axes, keepdims):
        return np.broadcast_to(_expand(g, axes, keepdims), X.shape)

    def vjp_rule(self, wrt, g, args, out, axis=None, keepdims=False):
        X = args[0]
        return self._spread(g, X, reduced_axes(self.name, X, axis), keepdims)

    def jvp_rule(self, wrt, t, args, out, axis=None, keepdims=False):
        return np.sum(t, axis=axis, keepdims=keepdims)


sum = Sum()  # the op, as np.sum: Python's sum is shadowed from here on


class Mean(Sum):
    """``m = mean(X)`` over all entries or the given axes: the sum scaled by ``1/N``.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes averaged over; None (the default) for every entry.
    keepdims : bool, optional
        Keep the averaged axes, with size 1.

    Notes
    -----
    With ``N`` the number of entries averaged into each output entry (the
    product of the reduced axes' sizes), ``∂m/∂X_cd = 1/N`` over all
    entries, and ``∂m_a/∂X_cd = 1/N δ_ac`` over axis 1. The VJP spreads
    ``g/N`` back; the JVP averages the tangent. A mean over no entries is
    refused. Linear: its second derivative is zero.

    >>> import jacobians as jac
    >>> print(jac.mean.formula(np.ones((2, 3))))
    ∂m/∂X_cd = 1/6
    """
    name = "mean"
    out_name = "m"
    empty_groups = False

    def _value(self, X, axis=None, keepdims=False):
        return np.mean(X, axis=axis, keepdims=keepdims)

    def _scale(self, X, axes):
        return group_size(X, axes)

    def vjp_rule(self, wrt, g, args, out, axis=None, keepdims=False):
        X = args[0]
        axes = reduced_axes(self.name, X, axis)
        return self._spread(g / group_size(X, axes), X, axes, keepdims)

    def jvp_rule(self, wrt, t, args, out, axis=None, keepdims=False):
        return np.mean(t, axis=axis, keepdims=keepdims)


mean = Mean()


class _Partial(_Reduction):
    """A reduction whose partial ``∂y/∂X_c`` is an array over X, shared by the group.

    Subclasses give ``_partial(X, axes, out, keepdims, **params)``, an array
    of X's shape, and ``_partial_name(names, X, axes, **params)``, its
    printed name and LaTeX. The Jacobian is that array as a factor over the input labels
    times the deltas of the kept axes; the VJP is ``g`` broadcast over each
    group times it, the JVP the tangent times it summed over each group.
    """

    def _terms(self, wrt, args, out, labels, names, axis=None, keepdims=False, **params):
        (X,) = args
        axes = reduced_axes(self.name, X, axis)
        name, latex = self._partial_name(names, X, axes, **params)
        partial = Factor(name, labels[1], self._partial(X, axes, out, keepdims, **params), latex)
        return [term(partial, *self._ties(labels, X, axes, keepdims))]

    def vjp_rule(self, wrt, g, args, out, axis=None, keepdims=False, **params):
        X = args[0]
        axes = reduced_axes(self.name, X, axis)
        return _expand(g, axes, keepdims) * self._partial(X, axes, out, keepdims, **params)

    def jvp_rule(self, wrt, t, args, out, axis=None, keepdims=False, **params):
        X = args[0]
        axes = reduced_axes(self.name, X, axis)
        return np.sum(t * self._partial(X, axes, out, keepdims, **params), axis=axes,
                      keepdims=keepdims)


class Var(_Partial):
    """``v = var(X)``, the variance over all entries or the given axes, as ``np.var``.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes the variance is taken over; None (the default) for every entry.
    ddof : number, optional
        "Delta degrees of freedom": the squared deviations are divided by
        ``N − ddof`` (0 by default; 1 for the unbiased estimate of a sample).
    keepdims : bool, optional
        Keep the reduced axes, with size 1.

    Notes
    -----
    With ``μ`` the mean of each group of ``N`` entries,
    ``v = Σ (X_c − μ)² / (N − ddof)``. Since ``Σ_c (X_c − μ) = 0``, the
    mean's own dependence on ``X`` drops out and
    ``∂v/∂X_c = 2 (X_c − μ) / (N − ddof)`` within each group: over all
    entries of a matrix ``∂v/∂X_cd = (2(X−μ)/N)_cd``, over axis 1
    ``∂v_a/∂X_cd = (2(X−μ)/N)_cd δ_ac``, with ``N`` the group size printed
    as a number. ``N − ddof ≤ 0`` is refused (NumPy would return inf or a
    negative variance).

    Second derivative: ``∂²v/∂X_c∂X_e = 2/(N − ddof) (δ_ce − 1/N)`` within
    a group and 0 across groups; with the kept axes tied by deltas, over
    axis 1 ``∂²v_a/∂X_bc∂X_de = 2/3 δ_ab δ_ad δ_ce − 2/(3·3) δ_ab δ_ad``.

    >>> import jacobians as jac
    >>> print(jac.var.formula(np.ones((2, 3)), 1, ddof=1))
    ∂v_a/∂X_cd = (2(X−μ)/2)_cd δ_ac
    """
    name = "var"
    out_name = "v"
    params = ("axis", "ddof", "keepdims")
    examples = _Reduction.examples + (
        (((2, 3),), {"ddof": 1}),
        (((3, 4),), {"axis": 0, "ddof": 1}),
        (((2, 3, 4),), {"axis": (-1, 1), "ddof": 2, "keepdims": True}),
    )

    def _check(self, X, axis=None, ddof=0, keepdims=False):
        axes = super()._check(X, axis, keepdims)
        if isinstance(ddof, (bool, np.bool_)) or not isinstance(ddof, (int, float, np.integer,
                                                                       np.floating)) \
                or not np.isfinite(ddof):
            raise ValueError(f"var: ddof must be a number, got {ddof!r}")
        n = group_size(X, axes)
        if n - ddof <= 0:
            raise ValueError(f"var: each group has N = {n} entries (X of shape {X.shape}, "
                             f"axis={axis!r}) and ddof = {ddof}, so N − ddof = {n - ddof:g} ≤ 0; "
                             f"the variance divides by N − ddof, which must be positive")
        return axes

    def _value(self, X, axis=None, ddof=0, keepdims=False):
        axes = reduced_axes(self.name, X, axis)
        deviation = X - np.mean(X, axis=axes, keepdims=True)
        return np.sum(deviation * deviation, axis=axes, keepdims=keepdims) / \
            (group_size(X, axes) - ddof)

    def _partial(self, X, axes, out, keepdims, ddof=0):
        return (X - np.mean(X, axis=axes, keepdims=True)) * (2 / (group_size(X, axes) - ddof))

    def _partial_name(self, names, X, axes, ddof=0):
        n = f"{group_size(X, axes) - ddof:g}"  # N − ddof, as a number
        return f"2({names[0]}−μ)/{n}", rf"\frac{{2({tex(names[0])}-\mu)}}{{{n}}}"

    def _second_terms(self, i, j, args, out, labels, names, axis=None, ddof=0,
                      keepdims=False):
        # 2/(N − ddof) (δ_ce − 1/N) within a group: the deltas of the kept axes tie
        # both inputs to the output entry, those of the reduced axes c to e.
        (X,) = args
        axes = reduced_axes(self.name, X, axis)
        N = group_size(X, axes)
        n = f"{N - ddof:g}"
        ties = self._group_ties(labels, X, axes, keepdims)
        I, J = labels[1:]
        same = [Delta(I[k], J[k]) for k in axes]
        return [term(Factor(f"2/{n}", "", np.float64(2 / (N - ddof)), rf"\frac{{2}}{{{n}}}"),
                     *ties, *same),
                term(Factor(f"2/({N}·{n})", "", np.float64(2 / (N * (N - ddof))),
                            rf"\frac{{2}}{{{N}\cdot {n}}}"), *ties, sign=-1)]


var = Var()


class Max(_Partial):
    """``y = max(X)`` over all entries or the given axes, as ``np.max``.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes the maximum is taken over; None (the default) for every entry.
    keepdims : bool, optional
        Keep the reduced axes, with size 1.

    Notes
    -----
    Where one entry of a group is the largest, ``∂y/∂X_c`` is 1 for it and 0
    for the others. Where several tie, ``max`` has no derivative; the
    gradient is then **split evenly among the tied entries**, each getting
    ``1/n`` for ``n`` ties — the subgradient JAX's ``reduce_max`` (``jnp.max``)
    and PyTorch's ``amax`` give. (``torch.max(X, dim)``, which returns an
    index, and an ``argmax``-based rule send it all to one entry instead.) So
    ``max([1, 3, 3])`` has gradient ``[0, ½, ½]``. In index notation,
    ``∂y_a/∂X_cd = (𝟙[X=max]/n)_cd δ_ac`` over axis 1: the mask of each
    group's maxima divided by the number of them in its group.

    The VJP puts ``g`` on the mask, shared among ties; the JVP averages the
    tangent over each group's maxima.

    Second derivative: zero almost everywhere. Away from ties the chosen
    entries stay chosen under a small enough change of ``X``, so the mask,
    the Jacobian, is locally constant; at ties (where the mask jumps) ``max``
    has no second derivative, and zero is given there too.

    >>> import jacobians as jac
    >>> jac.max.vjp(1.0, np.array([1.0, 3.0, 3.0]))
    array([0. , 0.5, 0.5])
    """
    name = "max"
    out_name = "y"
    _reduce = staticmethod(np.max)

    def _value(self, X, axis=None, keepdims=False):
        return self._reduce(X, axis=axis, keepdims=keepdims)

    def _partial(self, X, axes, out, keepdims):
        mask = X == _expand(out, axes, keepdims)
        return mask / np.sum(mask, axis=axes, keepdims=True)

    def _second_terms(self, i, j, args, out, labels, names, axis=None, keepdims=False):
        return []  # the mask is locally constant: zero almost everywhere

    def _partial_name(self, names, X, axes):
        x = names[0]
        return f"𝟙[{x}={self.name}]/n", rf"\frac{{\mathbf{{1}}[{tex(x)}=\{self.name}]}}{{n}}"


max = Max()  # the op, as np.max: Python's max is shadowed from here on


class Min(Max):
    """``y = min(X)`` over all entries or the given axes, as ``np.min``.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes the minimum is taken over; None (the default) for every entry.
    keepdims : bool, optional
        Keep the reduced axes, with size 1.

    Notes
    -----
    As for :class:`Max`, with the smallest entries: ``∂y/∂X_c`` is 1 for a
    group's only minimum, and at ties the gradient is **split evenly among
    the tied entries** (JAX's ``reduce_min``, PyTorch's ``amin``):
    ``∂y_a/∂X_cd = (𝟙[X=min]/n)_cd δ_ac`` over axis 1, with ``n`` the number
    of minima in the group. ``min([2, 0, 0])`` has gradient ``[0, ½, ½]``.
    Its second derivative is zero almost everywhere, as ``max``'s.
    """
    name = "min"
    _reduce = staticmethod(np.min)


min = Min()  # the op, as np.min: Python's min is shadowed from here on


class Norm(_Partial):
    """``n = ‖X‖``, the 2-norm (Frobenius norm) over all entries or the given axes.

    Parameters
    ----------
    X : array_like
    axis : None, int or tuple of int, optional
        The axes the norm is taken over; None (the default) for every entry.
    keepdims : bool, optional
        Keep the reduced axes, with size 1.

    Notes
    -----
    ``n = √(Σ X_c²)`` over each group: what ``np.linalg.norm`` gives with
    ``ord=None`` for those axes (the Frobenius norm for two of them), for any
    number of axes. ``∂n/∂X_c = X_c / n``: over all entries
    ``∂n/∂X_cd = (X/n)_cd``, over axis 1 ``∂n_a/∂X_cd = (X/n)_cd δ_ac``. The
    VJP is ``g X / n``, broadcast over each group.

    Second derivative: ``∂²n/∂X_c∂X_e = (δ_ce − X_c X_e / n²) / n`` within
    a group, 0 across groups: over all entries of a vector
    ``∂²n/∂x_c∂x_d = 1/n δ_cd − 1/n (x/n)_c (x/n)_d``.

    At ``X = 0`` the norm is 0 but has no derivative (it is a cone: ``X/n``
    is 0/0). The value is given; the Jacobian, VJP and JVP raise ValueError
    when a group's norm is 0.

    >>> import jacobians as jac
    >>> jac.norm(np.array([3.0, 4.0]))
    array(5.)
    """
    name = "norm"
    out_name = "n"
    empty_groups = True  # the norm of nothing is 0, as NumPy's; no derivative is asked of it

    def _value(self, X, axis=None, keepdims=False):
        return np.sqrt(np.sum(X * X, axis=axis, keepdims=keepdims))

    def _partial(self, X, axes, out, keepdims):
        # A Shaped array has no values to look at; an empty X has no derivative to give.
        # Compared as plain values (or a traced value's own), so nothing is counted.
        if not isinstance(out, Shaped) and X.size and \
                np.any((out if is_traced(out) else np.asarray(out)) == 0):
            raise ValueError(f"norm: X (shape {X.shape}) has a norm of 0 over axes {axes}, "
                             f"where the norm has no derivative (X/‖X‖ is 0/0); its value "
                             f"there is 0, but its Jacobian, VJP and JVP are undefined")
        return X / _expand(out, axes, keepdims)

    def _partial_name(self, names, X, axes):
        x, n = names[0], names[-1]
        return f"{x}/{n}", rf"\frac{{{tex(x)}}}{{{tex(n)}}}"

    def _second_terms(self, i, j, args, out, labels, names, axis=None, keepdims=False):
        # (δ_ce − u_c u_e)/n with u = X/n, the first derivative, within a group.
        (X,) = args
        axes = reduced_axes(self.name, X, axis)
        O, I, J = labels
        ties = self._group_ties(labels, X, axes, keepdims)
        name, latex = self._partial_name(names, X, axes)
        u = self._partial(X, axes, out, keepdims)  # refuses a norm of 0
        n = names[-1]
        inverse = Factor(f"1/{n}", O, 1 / out, rf"\frac{{1}}{{{tex(n)}}}")
        return [term(inverse, *ties, *(Delta(I[k], J[k]) for k in axes)),
                term(inverse, Factor(name, I, u, latex), Factor(name, J, u, latex), *ties,
                     sign=-1)]


norm = Norm()
