"""Operations that pick and place entries: indexing, joining, adding or dropping axes.

Each output entry is one input entry (or none), so the Jacobian is a
*selection*: a single 1 in every row that reads an input entry. Written as a
:class:`~jacobians.index.Gather`, ``∂y_a/∂X_cd = δ(3c+d, p_a)``: output entry
``a`` reads the input entry whose row-major flat index is ``p_a``.

Its VJP adds ``g`` into a zero array at ``p``. When an index repeats —
an embedding table read at the same token twice — the contributions *add
up* there (a scatter-add, ``np.add.at``), which plain assignment would lose.

All of them are linear — the selection does not depend on the values — so
their second derivatives are zero.
"""
import numpy as np

from ..abstract import Shaped, stand_in
from ..index import Gather, term
from .base import Op
from .linear import Reshape


def _flat_positions(shape):
    """Every entry's row-major flat index, as an array of ``shape``."""
    return np.arange(int(np.prod(shape)), dtype=np.intp).reshape(shape)


def _is_constant_index(part):
    return part is None or part is Ellipsis or isinstance(
        part, (int, np.integer, np.bool_, slice, np.ndarray, list, range))


class Getitem(Op):
    """``y = X[index]``: NumPy indexing, basic or advanced.

    ``index`` may hold ints (negative too), slices with steps, ``None``
    (``np.newaxis``), ``...``, integer arrays (a gather: entries may repeat)
    and boolean masks; it is a constant, never a traced value.

    Notes
    -----
    ``∂y_a/∂X_c = δ(c, p_a)`` with ``p = arange(X.size).reshape(X.shape)[index]``:
    the index applied to the entries' own positions. VJP: ``g`` added into
    zeros at ``p`` (``np.add.at``; repeated indices accumulate). JVP:
    ``t[index]``. Linear (the index is a constant): its second derivative
    is zero.

    >>> import jacobians as jac
    >>> print(jac.getitem.formula(np.ones((4, 3)), (slice(None), 0)))
    ∂y_a/∂X_cd = δ(3c+d, p_a)
    >>> jac.getitem.vjp(np.ones(3), np.zeros(3), [0, 0, 2])
    array([2., 0., 1.])
    """
    name = "getitem"
    linear = True
    arg_names = ("X",)
    params = required = trailing = ("index",)
    out_name = "y"
    examples = ((((4, 3),), {"index": (slice(None), 0)}),
                (((5,),), {"index": slice(None, None, -2)}),
                (((3, 2),), {"index": (None, 1, slice(None))}),
                (((4,),), {"index": np.array([2, 0, 2, 3])}),
                (((2, 3),), {"index": np.array([[True, False, True], [False, True, True]])}),
                (((3, 4),), {"index": (Ellipsis, -1)}))

    def _check(self, X, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, Shaped) for p in parts):
            raise TypeError("getitem: an index made from values (a mask x > 0) picks a number "
                            "of entries that only the values know, so it cannot be counted "
                            "on shapes; np.where(mask, x, 0) keeps the shape")
        if not all(_is_constant_index(p) for p in parts):
            raise TypeError(f"getitem: an index must be a constant (ints, slices, None, ..., "
                            f"integer arrays or boolean masks), got {index!r}")
        try:
            stand_in(X.shape)[index]
        except IndexError as e:
            raise IndexError(f"getitem: {e} (X has shape {X.shape})") from None

    def _gather(self, X, index, labels=("", "")):
        return Gather(*labels, _flat_positions(X.shape)[index])

    def _value(self, X, index):
        return X[index]

    def _terms(self, wrt, args, out, labels, names, index):
        return [term(self._gather(args[0], index, labels))]

    def vjp_rule(self, wrt, g, args, out, index):
        # Frameworks' scatter-add (np.add.at): g added into zeros at the entries read.
        X = args[0]
        return self._gather(X, index).scatter(g, X.size).reshape(X.shape)

    def jvp_rule(self, wrt, t, args, out, index):
        return t[index]


getitem = Getitem()


class Concatenate(Op):
    """``Y = concatenate((X1, X2, …), axis)``: the arrays joined along one axis.

    Called as NumPy is, ``jac.concatenate([A, B], axis=1)``.

    Notes
    -----
    ``∂Y/∂Xk`` selects the block of ``Y`` that came from ``Xk``:
    ``∂Y_a/∂Xk_c = δ(c, p_a)`` where ``p`` holds ``Xk``'s flat positions in
    its block and ``−1`` (no entry) elsewhere. VJP: the block of ``g``
    (a slice); JVP: ``t`` placed in its block, zeros around it. Linear:
    every second derivative is zero.
    """
    name = "concatenate"
    linear = True
    variadic = True
    params = trailing = ("axis",)
    out_name = "Y"
    examples = ((((2, 3), (4, 3)), {}), (((2, 3), (2, 1), (2, 2)), {"axis": 1}),
                (((3,), (2,)), {"axis": -1}))

    def names_for(self, n):
        return tuple(f"X{k + 1}" for k in range(n))

    def split(self, args, params):
        if len(args) >= 1 and isinstance(args[0], (list, tuple)):  # NumPy's one sequence
            args = tuple(args[0]) + tuple(args[1:])
        if len(args) >= 2 and not hasattr(args[-1], "shape") and \
                isinstance(args[-1], (int, np.integer, type(None))):
            if "axis" in params:
                raise TypeError(f"{self.name} got axis both by position and by keyword")
            args, params = args[:-1], {**params, "axis": args[-1]}
        return args, params

    def _join(self, arrays, axis):
        return np.concatenate(arrays, axis=axis)

    def _axis(self, args, axis):
        return axis % args[0].ndim

    def _check(self, *args, axis=0):
        names = self.names_for(len(args))
        if any(a.ndim == 0 for a in args):
            raise ValueError(f"{self.name}: zero-dimensional arrays cannot be joined; "
                             f"shapes {[a.shape for a in args]}")
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{self.name}: axis must be an int, got {axis!r}")
        ndim = self._ndim(args)
        if not -ndim <= axis < ndim:
            raise ValueError(f"{self.name}: axis {axis} is out of range for a result of "
                             f"{ndim} axes")
        self._check_shapes(args, names, axis % ndim)

    def _ndim(self, args):
        return args[0].ndim

    def _check_shapes(self, args, names, axis):
        first = args[0]
        for a, n in zip(args[1:], names[1:]):
            if a.ndim != first.ndim:
                raise ValueError(f"concatenate: {names[0]} has shape {first.shape} and {n} "
                                 f"has shape {a.shape}: they must have the same number of axes")
            for k in range(a.ndim):
                if k != axis and a.shape[k] != first.shape[k]:
                    raise ValueError(
                        f"concatenate: {names[0]} has shape {first.shape} and {n} has shape "
                        f"{a.shape}: axis {k} has sizes {first.shape[k]} and {a.shape[k]}; "
                        f"only axis {axis}, the one joined along, may differ")

    def _value(self, *args, axis=0):
        return self._join(args, axis)

    def _positions(self, wrt, args, axis):
        """Where each entry of the result comes from in argument ``wrt``; −1 elsewhere."""
        return self._join([_flat_positions(a.shape) if k == wrt else np.full(a.shape, -1)
                           for k, a in enumerate(args)], axis)

    def _terms(self, wrt, args, out, labels, names, axis=0):
        O, I = labels
        return [term(Gather(O, I, self._positions(wrt, args, axis)))]

    def _block(self, wrt, args, axis):
        """The index of argument ``wrt``'s block within the result."""
        axis %= self._ndim(args)
        start = sum(a.shape[axis] for a in args[:wrt])
        return (slice(None),) * axis + (slice(start, start + args[wrt].shape[axis]),)

    def vjp_rule(self, wrt, g, args, out, axis=0):
        return g[self._block(wrt, args, axis)]

    def jvp_rule(self, wrt, t, args, out, axis=0):
        return self._join([t if k == wrt else np.zeros(a.shape, like=a)
                           for k, a in enumerate(args)], axis)


concatenate = Concatenate()


class Stack(Concatenate):
    """``Y = stack((X1, X2, …), axis)``: equal-shaped arrays joined along a new axis.

    Notes
    -----
    A concatenation of the arrays each given a new axis of size 1:
    ``∂Y/∂Xk`` selects slice ``k`` along ``axis``. VJP: that slice of ``g``.
    Linear, as concatenate: every second derivative is zero.
    """
    name = "stack"
    examples = ((((2, 3), (2, 3)), {}), (((3,), (3,), (3,)), {"axis": 1}),
                (((2, 2), (2, 2)), {"axis": -1}))

    def _join(self, arrays, axis):
        return np.stack(arrays, axis=axis)

    def _ndim(self, args):
        return args[0].ndim + 1

    def _check_shapes(self, args, names, axis):
        for a, n in zip(args[1:], names[1:]):
            if a.shape != args[0].shape:
                raise ValueError(f"stack: {names[0]} has shape {args[0].shape} and {n} has "
                                 f"shape {a.shape}; stacked arrays must have equal shapes")

    def _check(self, *args, axis=0):
        ndim = self._ndim(args)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or \
                not -ndim <= axis < ndim:
            raise ValueError(f"stack: axis {axis!r} is out of range for a result of {ndim} "
                             f"axes")
        self._check_shapes(args, self.names_for(len(args)), axis % ndim)

    def _block(self, wrt, args, axis):
        return (slice(None),) * (axis % self._ndim(args)) + (wrt,)


stack = Stack()


def split(X, indices_or_sections, axis=0):
    """``np.split`` on a traced value or an array: one :data:`getitem` slice per piece.

    Each piece is its own selection of ``X``, so the pieces' cotangents add
    back into ``X`` block by block.
    """
    ndim = len(np.shape(X))
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or \
            not -ndim <= axis < ndim:
        raise ValueError(f"split: axis {axis!r} is out of range for X of shape {np.shape(X)}")
    length = np.shape(X)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if indices_or_sections <= 0 or length % indices_or_sections:
            raise ValueError(f"split: axis {axis} of size {length} does not divide into "
                             f"{indices_or_sections} equal pieces")
        step = length // indices_or_sections
        cuts = list(range(step, length, step))
    elif all(isinstance(k, (int, np.integer)) for k in np.ravel(indices_or_sections)):
        cuts = list(indices_or_sections)
    else:
        raise TypeError(f"split: give a number of equal pieces or a list of indices to cut at, "
                        f"got {indices_or_sections!r}")
    bounds = zip([0] + cuts, cuts + [length])
    lead = (slice(None),) * (axis % ndim)
    return [getitem(X, lead + (slice(start, stop),)) for start, stop in bounds]


class ExpandDims(Reshape):
    """``y = expand_dims(X, axis)``: new axes of size 1.

    A reshape, so its Jacobian is one delta between flat indices, its
    VJP reshapes ``g`` back and its second derivative is zero (it is linear).
    """
    name = "expand_dims"
    params = required = trailing = ("axis",)
    examples = ((((2, 3),), {"axis": 1}), (((3,),), {"axis": (0, 2)}))
    _reshaped = staticmethod(np.expand_dims)

    def _shape(self, X, axis):
        return self._reshaped(stand_in(X.shape), axis).shape

    def _check(self, X, axis=None):
        try:
            self._shape(X, axis)
        except (ValueError, np.exceptions.AxisError) as e:
            raise ValueError(f"{self.name}: {e} (X has shape {X.shape})") from None

    def _value(self, X, axis=None):
        return X.reshape(self._shape(X, axis))

    def _terms(self, wrt, args, out, labels, names, axis=None):
        return super()._terms(wrt, args, out, labels, names, out.shape)

    def vjp_rule(self, wrt, g, args, out, axis=None):
        return super().vjp_rule(wrt, g, args, out, out.shape)

    def jvp_rule(self, wrt, t, args, out, axis=None):
        return super().jvp_rule(wrt, t, args, out, out.shape)


expand_dims = ExpandDims()


class Squeeze(ExpandDims):
    """``y = squeeze(X, axis)``: axes of size 1 removed (all of them when ``axis`` is None).

    A reshape, like :data:`expand_dims`: linear, its second derivative zero.
    """
    name = "squeeze"
    params = trailing = ("axis",)
    required = ()
    examples = ((((2, 1, 3),), {}), (((1, 3, 1),), {"axis": 0}))
    _reshaped = staticmethod(np.squeeze)


squeeze = Squeeze()
