"""Entry-by-entry operations, with NumPy broadcasting.

``U = f(Z)`` acts on each entry alone, so ``∂U_ab/∂Z_cd = f'(Z)_ab δ_ac δ_bd``:
a diagonal Jacobian. Its VJP is therefore a Hadamard product, ``g ⊙ f'(Z)``.

For two arguments that broadcast (a bias row ``b`` added to every row of
``X``), an argument axis of size 1 — or missing — that the output stretches
gets no delta: every output row depends on the same ``b_d``, so
``∂H_ab/∂b_c = δ_bc`` and the VJP sums ``g`` over the rows.

Second derivatives are diagonal too: ``∂²U_a/∂Z_c∂Z_d = f''(Z)_a δ_ac δ_ad``,
each of the two input groups tied to the output by the same deltas as in the
Jacobian (so ``∂²Z_ab/∂X_cd∂Y_ef = δ_ac δ_bd δ_ae δ_bf`` for ``Z = X ⊙ Y``).
"""
import operator
from functools import lru_cache

import numpy as np

from ..abstract import Shaped
from ..arrays import is_traced
from ..index import Delta, Factor, term
from .base import REAL, Domain, Op, param_key, remember


def unbroadcast(g, shape):
    """Sum ``g`` over the axes that broadcasting stretched, back to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    stretched = tuple(range(lead)) + tuple(
        lead + k for k, n in enumerate(shape) if n == 1 and g.shape[lead + k] != 1)
    return g.sum(axis=stretched).reshape(shape) if stretched else g


def _broadcast_check(name, names, *args):
    try:
        np.broadcast_shapes(*(a.shape for a in args))
    except ValueError:
        x, y = args
        for k in range(1, min(x.ndim, y.ndim) + 1):
            if x.shape[-k] != y.shape[-k] and 1 not in (x.shape[-k], y.shape[-k]):
                raise ValueError(
                    f"{name}: {names[0]} has shape {x.shape} and {names[1]} has shape {y.shape}, "
                    f"which do not broadcast: axis {-k} has sizes {x.shape[-k]} and "
                    f"{y.shape[-k]}") from None


@lru_cache(maxsize=1024)
def _deltas(labels, shape, out_shape):
    """Each argument axis tied to its output axis, unless broadcasting stretched it."""
    O, I = labels
    lead = len(O) - len(I)
    return tuple(Delta(O[lead + k], I[k]) for k, n in enumerate(shape)
                 if n == out_shape[lead + k])


class Elementwise(Op):
    """An op applied entry by entry; subclasses give the value and the partials.

    ``_partial(i, args, out)`` returns ``∂out/∂args[i]`` entry by entry (an
    array that broadcasts to the output's shape), or the int ±1 when it is
    that constant; ``partial_names[i]`` prints it, ``{0}``/``{1}`` standing
    for the arguments' names.

    Second derivatives likewise: ``_second_partial(i, j, args, out)``, called
    with ``i ≤ j``, returns ``∂²out/∂args[i]∂args[j]`` entry by entry (an
    array that broadcasts to the output's shape), a float when it is that
    constant, the int ±1 when the term is deltas alone, or the int 0 when it
    is zero; ``second_names[(i, j)]`` prints it. Ops linear in every
    argument set ``linear = True`` instead.
    """

    partial_names = ()
    partial_latex = ()
    second_names = {}
    second_latex = {}

    def __init__(self):
        super().__init__()
        self._partial_names = {}  # by wrt, the printed names and the parameters

    def _check(self, *args):
        if len(args) == 2 and args[0].shape != args[1].shape:
            _broadcast_check(self.name, self.arg_names, *args)

    def _terms(self, wrt, args, out, labels, names, **params):
        partial = self._partial(wrt, args, out, **params)
        deltas = _deltas(labels, args[wrt].shape, out.shape)
        if isinstance(partial, int):  # ±1: the Jacobian is only deltas
            return [term(*deltas, sign=partial)]
        key = (wrt, names, param_key(params))
        if key not in self._partial_names:
            remember(self._partial_names, key, self._partial_name(wrt, names, **params))
        name, latex = self._partial_names[key]
        if partial.shape != out.shape:
            partial = np.broadcast_to(partial, out.shape)
        return [term(Factor(name, labels[0], partial, latex), *deltas)]

    def _partial_name(self, wrt, names, **params):
        latex = self.partial_latex[wrt].format(*names) if self.partial_latex else None
        return self.partial_names[wrt].format(*names), latex

    def _second_terms(self, i, j, args, out, labels, names, **params):
        # f''_a times the deltas tying I to O and those tying J to O: each input
        # axis the output does not stretch is tied to its output axis, as in _terms.
        if self.linear:
            return []
        pair = (min(i, j), max(i, j))  # a second derivative is symmetric: stated for i ≤ j
        value = self._second_partial(*pair, args, out, **params)
        if isinstance(value, int) and value == 0:
            return []
        O, I, J = labels
        deltas = (_deltas((O, I), args[i].shape, out.shape) +
                  _deltas((O, J), args[j].shape, out.shape))
        if isinstance(value, int):  # ±1: only deltas
            return [term(*deltas, sign=value)]
        key = (pair, names, param_key(params))
        if key not in self._partial_names:
            remember(self._partial_names, key, self._second_name(*pair, names, **params))
        name, latex = self._partial_names[key]
        if type(value) is float:  # a constant: one factor without labels (not a 0-d result)
            return [term(Factor(name, "", np.float64(value), latex), *deltas)]
        if value.shape != out.shape:
            value = np.broadcast_to(value, out.shape)
        return [term(Factor(name, O, value, latex), *deltas)]

    def _second_partial(self, i, j, args, out, **params):
        raise NotImplementedError(f"{self.name} states no second derivative")

    def _second_name(self, i, j, names, **params):
        latex = self.second_latex.get((i, j))
        return (self.second_names[(i, j)].format(*names),
                latex.format(*names) if latex else None)

    def vjp_rule(self, wrt, g, args, out, **params):
        # g ⊙ f'(Z): the diagonal Jacobian's product collapses to a Hadamard product
        # (and for a partial of ±1, to g itself).
        return unbroadcast(_times(self._partial(wrt, args, out, **params), g), args[wrt].shape)

    def jvp_rule(self, wrt, t, args, out, **params):
        return np.broadcast_to(_times(self._partial(wrt, args, out, **params), t), out.shape)


def _times(partial, v):
    """``partial ⊙ v``, without a pass over ``v`` when the partial is the int ±1."""
    if isinstance(partial, int):
        return v if partial == 1 else -v
    return partial * v


class Unary(Elementwise):
    arg_names = ("Z",)
    out_name = "U"
    examples = ((((3,),), {}), (((2, 3),), {}), (((2, 2, 2),), {}), (((),), {}))


# ----------------------------------------------------------------------------
# Two arguments. The partials are broadcast to the output by the base class.
# ----------------------------------------------------------------------------
class Binary(Elementwise):
    arg_names = ("X", "Y")
    out_name = "Z"
    # Same shapes, a bias row, a scalar, and both sides stretched.
    examples = ((((2, 3), (2, 3)), {}), (((3, 2), (2,)), {}), (((2, 3), ()), {}),
                (((1, 3), (2, 1)), {}))


class Add(Binary):
    """``Z = X + Y``; ``∂Z_ab/∂X_cd = δ_ac δ_bd``; VJP ``g`` (summed where broadcast).

    Linear: every second derivative is zero.
    """
    name = "add"
    linear = True
    _value = staticmethod(np.add)

    def _partial(self, wrt, args, out, **params):
        return 1


add = Add()


class Subtract(Binary):
    """``Z = X − Y``; ``∂Z/∂Y = −δ δ``; VJP ``−g`` for ``Y``.

    Linear: every second derivative is zero.
    """
    name = "subtract"
    linear = True
    _value = staticmethod(np.subtract)

    def _partial(self, wrt, args, out, **params):
        return (1, -1)[wrt]


subtract = Subtract()


class Multiply(Binary):
    """``Z = X ⊙ Y`` (Hadamard); ``∂Z_ab/∂X_cd = Y_ab δ_ac δ_bd``; VJP ``g ⊙ Y``.

    Second derivatives: ``∂²Z_ab/∂X_cd∂Y_ef = δ_ac δ_bd δ_ae δ_bf``; those in
    ``X`` alone or ``Y`` alone are zero.
    """
    name = "multiply"
    partial_names = ("{1}", "{0}")
    _value = staticmethod(np.multiply)

    def _partial(self, wrt, args, out, **params):
        return args[1 - wrt]

    def _second_partial(self, i, j, args, out, **params):
        return 1 if i != j else 0


multiply = Multiply()


class Divide(Binary):
    """``Z = X / Y``; ``∂Z/∂X = (1/Y) δ δ``, ``∂Z/∂Y = −(X/Y²) δ δ``.

    Second derivatives: ``∂²Z/∂X∂Y = −(1/Y²) δ δ δ δ``,
    ``∂²Z/∂Y∂Y = (2X/Y³) δ δ δ δ``, and ``∂²Z/∂X∂X = 0``.
    """
    name = "divide"
    partial_names = ("1/{1}", "−{0}/{1}²")
    partial_latex = (r"\frac{{1}}{{{1}}}", r"\left(-\frac{{{0}}}{{{1}^2}}\right)")
    second_names = {(0, 1): "−1/{1}²", (1, 1): "2{0}/{1}³"}
    second_latex = {(0, 1): r"\left(-\frac{{1}}{{{1}^2}}\right)", (1, 1): r"\frac{{2{0}}}{{{1}^3}}"}
    domains = (REAL, Domain("nonzero", " (it divides)"))
    _value = staticmethod(np.divide)

    def _partial(self, wrt, args, out, **params):
        X, Y = args
        return 1 / Y if wrt == 0 else -X / Y**2

    def _second_partial(self, i, j, args, out, **params):
        X, Y = args
        if j == 0:
            return 0
        return -1 / Y**2 if i == 0 else 2 * X / Y**3


divide = Divide()


def _wins(mine, other, beats):
    """1 where ``beats(mine, other)``, ½ at a tie, 0 elsewhere: a max's or min's partial."""
    return beats(mine, other) + 0.5 * (mine == other)


class Maximum(Binary):
    """``Z = max(X, Y)`` entry by entry, with broadcasting, like ``np.maximum``.

    Notes
    -----
    Each entry of ``Z`` is the larger of ``X`` and ``Y``, so its derivative
    is 1 for that one and 0 for the other::

        ∂Z_ab/∂X_cd = 𝟙[X>Y]_ab δ_ac δ_bd        ∂Z_ab/∂Y_cd = 𝟙[Y>X]_ab δ_ac δ_bd

    At a tie (``X = Y``) max has no derivative; each side gets ½, as JAX and
    PyTorch choose, so the two partials still add up to 1 (the printed
    ``𝟙[X>Y]`` is ½ there). VJP ``g ⊙ 𝟙[X>Y]``, summed where broadcast.

    Every second derivative is zero almost everywhere: max is linear on
    each side of the tie, and at the tie the derivative of the step is no
    function; it is taken as 0, as the frameworks give.

    >>> import jacobians as jac
    >>> jac.maximum.vjp(1.0, 2.0, 2.0, wrt=(0, 1))
    (array(0.5), array(0.5))
    """
    name = "maximum"
    partial_names = ("𝟙[{0}>{1}]", "𝟙[{1}>{0}]")
    partial_latex = (r"\mathbb{{1}}[{0}>{1}]", r"\mathbb{{1}}[{1}>{0}]")
    _value = staticmethod(np.maximum)
    _beats = staticmethod(np.greater)  # which side wins: the larger

    def _partial(self, wrt, args, out, **params):
        X, Y = args
        return _wins(X, Y, self._beats) if wrt == 0 else _wins(Y, X, self._beats)

    def _second_partial(self, i, j, args, out, **params):
        return 0  # piecewise linear: zero away from the kink (see the docstring)


maximum = Maximum()


class Minimum(Maximum):
    """``Z = min(X, Y)`` entry by entry, with broadcasting, like ``np.minimum``.

    Notes
    -----
    ``∂Z_ab/∂X_cd = 𝟙[X<Y]_ab δ_ac δ_bd`` and
    ``∂Z_ab/∂Y_cd = 𝟙[Y<X]_ab δ_ac δ_bd``. At a tie (``X = Y``) each side
    gets ½, as JAX and PyTorch choose (the printed ``𝟙[X<Y]`` is ½ there).
    VJP ``g ⊙ 𝟙[X<Y]``, summed where broadcast.

    Every second derivative is zero almost everywhere: at the tie it is no
    function, and is taken as 0, as the frameworks give.
    """
    name = "minimum"
    partial_names = ("𝟙[{0}<{1}]", "𝟙[{1}<{0}]")
    partial_latex = (r"\mathbb{{1}}[{0}<{1}]", r"\mathbb{{1}}[{1}<{0}]")
    _value = staticmethod(np.minimum)
    _beats = staticmethod(np.less)  # the smaller


minimum = Minimum()


def _clash(shapes):
    """The first axis, from the right, on which ``shapes`` do not broadcast, and its sizes."""
    for k in range(1, max(len(s) for s in shapes) + 1):
        sizes = [s[-k] if k <= len(s) else None for s in shapes]
        if len({n for n in sizes if n not in (None, 1)}) > 1:
            return -k, sizes
    return None


def _sizes(sizes, names):
    """``"size 3 in X and 2 in Y"``, leaving out the arrays that lack the axis."""
    said = [f"{n} in {who}" for n, who in zip(sizes, names) if n is not None]
    return "size " + (", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0])


def _stretch(shape, target, name, target_name):
    """Why ``shape`` does not broadcast to ``target`` exactly (naming the axis), or None."""
    for k in range(1, len(shape) + 1):
        n = shape[-k]
        if k > len(target):
            return (f"{name} has {len(shape)} axes and {target_name} only {len(target)}: "
                    f"axis {-k} of size {n} has nowhere to go" if n != 1 else
                    f"{name} has {len(shape)} axes and {target_name} only {len(target)}")
        if n != 1 and n != target[-k]:
            return f"axis {-k} has size {n} in {name} and {target[-k]} in {target_name}"
    return None


_MASK = np.array([[True, False, True], [False, False, True]])  # where's examples


class Where(Elementwise):
    """``Z = where(condition, X, Y)``: ``X`` where the condition holds, else ``Y``.

    Like ``np.where``, with ``condition`` given first or as a keyword.

    ``condition`` is a constant boolean array (``X > 0`` made by NumPy is
    one); ``X`` and ``Y`` are differentiated. All three broadcast together,
    and the output has their broadcast shape.

    Notes
    -----
    Each entry of ``Z`` is one entry of ``X`` or of ``Y``, chosen by the
    condition ``C``; read as 0/1, it is the partial::

        ∂Z_ab/∂X_cd = 𝟙[C]_ab δ_ac δ_bd         ∂Z_ab/∂Y_cd = 𝟙[¬C]_ab δ_ac δ_bd

    There are no ties: every entry has exactly one source. An axis of ``X``
    or ``Y`` that broadcasting stretches gets no delta, and its VJP
    ``g ⊙ 𝟙[C]`` is summed over it.

    For a fixed condition ``Z`` is linear in ``X`` and ``Y``, so every second
    derivative is zero. (Were the condition made from ``X``, as in
    ``where(X > 0, X, 0)``, the function would be piecewise linear: zero
    almost everywhere, and taken as 0 at the switch, as the frameworks give.)
    """
    name = "where"
    linear = True  # in X and Y, for the constant condition
    arg_names = ("X", "Y")
    out_name = "Z"
    params = required = ("condition",)
    leading = "condition"
    partial_names = ("𝟙[C]", "𝟙[¬C]")
    partial_latex = (r"\mathbb{{1}}[C]", r"\mathbb{{1}}[\lnot C]")
    # Same shapes; a scalar Y; X and Y both stretched; the condition stretched; a
    # condition larger than X and Y; all scalars.
    examples = ((((2, 3), (2, 3)), {"condition": _MASK}),
                (((2, 3), ()), {"condition": _MASK}),
                (((3,), (2, 1)), {"condition": _MASK}),
                (((2, 3), (2, 3)), {"condition": np.array([True, False, True])}),
                (((3,), ()), {"condition": _MASK}),
                (((), ()), {"condition": np.array(False)}))

    def check_call(self, args, params):
        # A traced condition stays among the arrays: say why, not "3 arrays for 2".
        if len(args) == len(self.arg_names) + 1 and "condition" not in params:
            self._condition(args[0])
        super().check_call(args, params)

    @staticmethod
    def _condition(condition):
        if is_traced(condition):
            raise TypeError("where: the condition must be a constant boolean array, such as "
                            "x > 0 (a comparison of a traced value is one), not a traced "
                            "value; only X and Y are differentiated")
        c = condition if isinstance(condition, Shaped) else np.asarray(condition)
        if c.dtype != np.bool_:
            raise TypeError(f"where: the condition must be a boolean array (such as X > 0), "
                            f"got dtype {c.dtype}; compare it, e.g. condition != 0")
        return c

    def _check(self, X, Y, condition):
        c = self._condition(condition)
        clash = _clash((c.shape, X.shape, Y.shape))
        if clash:
            k, sizes = clash
            raise ValueError(f"where: condition has shape {c.shape}, X has shape {X.shape} and "
                             f"Y has shape {Y.shape}, which do not broadcast: axis {k} has "
                             f"{_sizes(sizes, ('condition', 'X', 'Y'))}")

    def _value(self, X, Y, condition):
        return np.where(condition, X, Y)

    def _partial(self, wrt, args, out, condition):
        c = self._condition(condition)
        return (c if wrt == 0 else np.logical_not(c)).astype(np.float64)


where = Where()


# ----------------------------------------------------------------------------
# One argument: f'(Z) on the diagonal.
# ----------------------------------------------------------------------------
class Negative(Unary):
    """``U = −Z``; ``∂U/∂Z = −δ δ``; VJP ``−g``. Linear: ``f'' = 0``."""
    name = "negative"
    linear = True
    _value = staticmethod(np.negative)

    def _partial(self, wrt, args, out, **params):
        return -1


negative = Negative()


class Exp(Unary):
    """``U = exp(Z)``; ``f' = exp(Z) = U``; VJP ``g ⊙ U``; ``f'' = exp(Z) = U``."""
    name = "exp"
    partial_names = ("exp({0})",)
    partial_latex = (r"\exp({0})",)
    second_names = {(0, 0): "exp({0})"}
    second_latex = {(0, 0): r"\exp({0})"}
    _value = staticmethod(np.exp)

    def _partial(self, wrt, args, out, **params):
        return out

    def _second_partial(self, i, j, args, out, **params):
        return out


exp = Exp()


class Log(Unary):
    """``U = log(Z)`` for positive Z; ``f' = 1/Z``; VJP ``g / Z``; ``f'' = −1/Z²``."""
    name = "log"
    partial_names = ("1/{0}",)
    partial_latex = (r"\frac{{1}}{{{0}}}",)
    second_names = {(0, 0): "−1/{0}²"}
    second_latex = {(0, 0): r"\left(-\frac{{1}}{{{0}^2}}\right)"}
    domains = (Domain("positive", " (log is taken)"),)
    _value = staticmethod(np.log)

    def _partial(self, wrt, args, out, **params):
        return 1 / args[0]

    def _second_partial(self, i, j, args, out, **params):
        return -1 / args[0]**2


log = Log()


class Tanh(Unary):
    """``U = tanh(Z)``; ``f' = 1 − U²``; VJP ``g ⊙ (1 − U²)``; ``f'' = −2U(1 − U²)``."""
    name = "tanh"
    partial_names = ("(1 − tanh²({0}))",)
    partial_latex = (r"(1-\tanh^2({0}))",)
    second_names = {(0, 0): "−2tanh({0})(1 − tanh²({0}))"}
    second_latex = {(0, 0): r"\left(-2\tanh({0})(1-\tanh^2({0}))\right)"}
    _value = staticmethod(np.tanh)

    def _partial(self, wrt, args, out, **params):
        return 1 - out**2

    def _second_partial(self, i, j, args, out, **params):
        return -2 * out * (1 - out**2)


tanh = Tanh()


def _sigmoid(z):
    # For z < −709 exp(−z) overflows to inf and 1/(1 + inf) is the right 0.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


class Sigmoid(Unary):
    """``U = σ(Z) = 1/(1 + e^{−Z})``; ``σ' = U(1 − U)``; VJP ``g ⊙ U ⊙ (1 − U)``.

    ``σ'' = U(1 − U)(1 − 2U)``, printed ``σ''(Z)``.
    """
    name = "sigmoid"
    partial_names = ("σ'({0})",)
    partial_latex = (r"\sigma'({0})",)
    second_names = {(0, 0): "σ''({0})"}
    second_latex = {(0, 0): r"\sigma''({0})"}

    def _value(self, Z):
        return _sigmoid(Z)

    def _partial(self, wrt, args, out, **params):
        return out * (1 - out)

    def _second_partial(self, i, j, args, out, **params):
        return out * (1 - out) * (1 - 2 * out)


sigmoid = Sigmoid()


class Relu(Unary):
    """``U = max(Z, 0)``; ``f' = 𝟙[Z > 0]`` (0 at Z = 0, as frameworks choose).

    ``f'' = 0`` almost everywhere: at the kink ``Z = 0`` the second derivative
    is no function, and is taken as 0, as the frameworks give.
    """
    name = "relu"
    partial_names = ("𝟙[{0}>0]",)
    partial_latex = (r"\mathbb{{1}}[{0}>0]",)
    sampling = ("away_from_zero",)  # a finite difference across the kink would be wrong

    def _value(self, Z):
        return np.maximum(Z, 0)

    def _partial(self, wrt, args, out, **params):
        return (args[0] > 0).astype(np.float64)

    def _second_partial(self, i, j, args, out, **params):
        return 0  # piecewise linear: zero away from the kink (see the docstring)


relu = Relu()


class Abs(Unary):
    """``U = |Z|`` entry by entry, like ``np.abs``.

    Notes
    -----
    ``∂U_ab/∂Z_cd = sign(Z)_ab δ_ac δ_bd``; VJP ``g ⊙ sign(Z)``. At the kink
    ``Z = 0`` the derivative is taken as 0 (``np.sign(0)``), as JAX and
    PyTorch choose. The second derivative is 0 almost everywhere; at the kink
    it is no function, and is taken as 0, as the frameworks give.
    """
    name = "abs"
    partial_names = ("sign({0})",)
    partial_latex = (r"\operatorname{{sign}}({0})",)
    sampling = ("away_from_zero",)  # a finite difference across the kink would be wrong
    _value = staticmethod(np.abs)

    def _partial(self, wrt, args, out, **params):
        return np.sign(args[0])

    def _second_partial(self, i, j, args, out, **params):
        return 0  # piecewise linear: zero away from the kink (see the docstring)


abs = Abs()  # shadows the builtin abs in this module: the code here calls np.abs


def _bound(name, b):
    """A clip bound as a float64 array (None stays None); TypeError for anything not constant."""
    if b is None:
        return None
    if isinstance(b, Shaped) and b.dtype.kind in "iuf":  # a constant known by its shape
        return b
    plain = isinstance(b, (int, float, np.integer, np.floating, np.ndarray, list, tuple)) and \
        not isinstance(b, (bool, np.bool_))
    a = np.asarray(b) if plain else None
    if a is None or a.dtype.kind not in "iuf":
        got = "a traced value" if is_traced(b) else type(b).__name__ + (
            "" if a is None else f" of dtype {a.dtype}")
        raise TypeError(f"clip: the bounds are constants, but {name} is {got}; give a real "
                        f"number or an array of them, or, for a bound to differentiate, "
                        f"use jac.maximum(X, lower) or jac.minimum(X, upper)")
    if np.isnan(a).any():
        raise ValueError(f"clip: {name} has NaN entries")
    return a.astype(np.float64)


def _bound_name(b, name, latex):
    """A bound as a formula prints it: its value when it is one number, else its name."""
    if isinstance(b, np.ndarray) or np.ndim(b):  # an array (param_key keeps its shape alone)
        return name, latex
    return f"{float(b):g}".replace("-", "−"), f"{float(b):g}"


class Clip(Elementwise):
    """``Y = clip(X, a_min, a_max)``: ``X`` limited to ``[a_min, a_max]``, like ``np.clip``.

    The bounds are constants, given by position or keyword: numbers, or
    arrays that broadcast to the shape of ``X`` (the output has ``X``'s
    shape). Either may be None, not both. A bound that should be
    differentiated is an argument of :data:`maximum` or :data:`minimum`.

    Notes
    -----
    An entry inside the bounds passes through, one outside is replaced by a
    constant::

        ∂Y_ab/∂X_cd = 𝟙[a_min≤X≤a_max]_ab δ_ac δ_bd

    At a bound itself (``X = a_min`` or ``X = a_max``) the derivative is taken
    as 1, as PyTorch's ``clamp`` does. VJP ``g ⊙ 𝟙[a_min≤X≤a_max]``.

    The second derivative is 0 almost everywhere; at a bound it is no
    function, and is taken as 0, as the frameworks give.
    """
    name = "clip"
    arg_names = ("X",)
    out_name = "Y"
    params = trailing = ("a_min", "a_max")
    # Both bounds, one of them, array bounds that broadcast along rows and columns, a scalar.
    examples = ((((3,),), {"a_min": -0.5, "a_max": 0.5}),
                (((2, 3),), {"a_min": -0.3}),
                (((2, 3),), {"a_max": 0.2}),
                (((2, 3),), {"a_min": np.array([-1.0, 0.0, -0.5]), "a_max": 1.0}),
                (((2, 3),), {"a_min": np.array([[-0.5], [0.0]]),
                             "a_max": np.array([[0.5], [1.5]])}),
                (((2, 2, 2),), {"a_min": -0.5, "a_max": 0.5}),
                (((),), {"a_min": 0.0, "a_max": 1.0}))

    def _check(self, X, a_min=None, a_max=None):
        lo, hi = _bound("a_min", a_min), _bound("a_max", a_max)
        if lo is None and hi is None:
            raise ValueError("clip: give a_min or a_max (or both); with neither there is "
                             "nothing to clip")
        for name, b in (("a_min", lo), ("a_max", hi)):
            why = None if b is None else _stretch(b.shape, X.shape, name, "X")
            if why:
                raise ValueError(f"clip: {name} has shape {b.shape}, which does not broadcast "
                                 f"to the shape {X.shape} of X ({why}); the output has X's "
                                 f"shape, so a bound may not make it larger")
        known = not isinstance(lo, Shaped) and not isinstance(hi, Shaped)
        if known and lo is not None and hi is not None and (lo > hi).any():
            raise ValueError("clip: a_min is greater than a_max somewhere; the bounds must "
                             "satisfy a_min ≤ a_max")

    def _value(self, X, a_min=None, a_max=None):
        # np.clip's own definition, in ufuncs that Shaped arrays count.
        lo, hi = _bound("a_min", a_min), _bound("a_max", a_max)
        Y = X if lo is None else np.maximum(X, lo)
        return Y if hi is None else np.minimum(Y, hi)

    def _partial(self, wrt, args, out, a_min=None, a_max=None):
        (X,) = args
        lo, hi = _bound("a_min", a_min), _bound("a_max", a_max)
        if lo is None:
            inside = X <= hi
        elif hi is None:
            inside = X >= lo
        else:
            inside = np.logical_and(X >= lo, X <= hi)
        return inside.astype(np.float64)

    def _second_partial(self, i, j, args, out, **params):
        return 0  # piecewise linear: zero away from the kink (see the docstring)

    def _partial_name(self, wrt, names, a_min=None, a_max=None):
        X = names[0]
        if a_min is not None:
            lo, lo_tex = _bound_name(a_min, "a_min", r"a_{\min}")
        if a_max is not None:
            hi, hi_tex = _bound_name(a_max, "a_max", r"a_{\max}")
        if a_max is None:
            return f"𝟙[{X}≥{lo}]", rf"\mathbb{{1}}[{X}\ge {lo_tex}]"
        if a_min is None:
            return f"𝟙[{X}≤{hi}]", rf"\mathbb{{1}}[{X}\le {hi_tex}]"
        return f"𝟙[{lo}≤{X}≤{hi}]", rf"\mathbb{{1}}[{lo_tex}\le {X}\le {hi_tex}]"


clip = Clip()


class Square(Unary):
    """``U = Z²``; ``f' = 2Z``; VJP ``2 g ⊙ Z``; ``f'' = 2``."""
    name = "square"
    partial_names = ("2{0}",)
    second_names = {(0, 0): "2"}
    _value = staticmethod(np.square)

    def _partial(self, wrt, args, out, **params):
        return 2 * args[0]

    def _second_partial(self, i, j, args, out, **params):
        return 2.0


square = Square()


class Sqrt(Unary):
    """``U = √Z`` for positive Z; ``f' = 1/(2√Z)``; VJP ``g / (2U)``.

    ``f'' = −1/(4Z^(3/2)) = −1/(4U³)``.
    """
    name = "sqrt"
    partial_names = ("1/(2√{0})",)
    partial_latex = (r"\frac{{1}}{{2\sqrt{{{0}}}}}",)
    second_names = {(0, 0): "−1/(4{0}^(3/2))"}
    second_latex = {(0, 0): r"\left(-\frac{{1}}{{4{0}^{{3/2}}}}\right)"}
    domains = (Domain("positive", " (the derivative is infinite at 0)"),)
    _value = staticmethod(np.sqrt)

    def _partial(self, wrt, args, out, **params):
        return 0.5 / out

    def _second_partial(self, i, j, args, out, **params):
        return -0.25 / out**3


sqrt = Sqrt()


class Softplus(Unary):
    """``U = log(1 + e^Z)``; ``f' = σ(Z)``; VJP ``g ⊙ σ(Z)``; ``f'' = σ'(Z) = σ(1 − σ)``."""
    name = "softplus"
    partial_names = ("σ({0})",)
    partial_latex = (r"\sigma({0})",)
    second_names = {(0, 0): "σ'({0})"}
    second_latex = {(0, 0): r"\sigma'({0})"}

    def _value(self, Z):
        return np.logaddexp(0, Z)

    def _partial(self, wrt, args, out, **params):
        return _sigmoid(args[0])

    def _second_partial(self, i, j, args, out, **params):
        s = _sigmoid(args[0])
        return s * (1 - s)


softplus = Softplus()


class Power(Unary):
    """``U = Z^p`` for a constant exponent ``p``; ``f' = p Z^(p−1)``.

    ``Z`` must be positive unless ``p`` is a whole number, and nonzero when
    ``p`` is negative. For ``p = 0`` the value is 1 and the derivative 0.
    ``f'' = p(p−1) Z^(p−2)``: 0 for ``p`` 0 or 1, and the constant 2 for ``p = 2``.
    """
    name = "power"
    params = required = ("exponent",)
    sampling = ("positive",)
    examples = ((((3,),), {"exponent": 3}), (((2, 3),), {"exponent": 0.5}),
                (((2, 2),), {"exponent": -1}), (((3,),), {"exponent": 0}))

    def _check(self, Z, exponent):
        if not np.isscalar(exponent) or isinstance(exponent, (bool, np.bool_)) or \
                not np.isfinite(exponent):
            raise ValueError(f"power: the exponent must be a finite number, got {exponent!r}")

    def domain(self, exponent):
        if float(exponent) != int(exponent):
            return (Domain("positive", f" for the exponent {exponent}"),)
        if exponent < 0:
            return (Domain("nonzero", f" for the negative exponent {exponent}"),)
        return (REAL,)

    def _value(self, Z, exponent):
        return np.power(Z, float(exponent))

    def _partial(self, wrt, args, out, exponent):
        if exponent == 0:  # Z⁰ = 1 everywhere, even where 0 · 0⁻¹ would say NaN
            return np.zeros_like(args[0])
        return exponent * np.power(args[0], exponent - 1.0)

    def _partial_name(self, wrt, names, exponent):
        return f"{exponent:g}{names[0]}^{exponent - 1:g}", rf"{exponent:g}\,{names[0]}^{{{exponent - 1:g}}}"

    def _second_partial(self, i, j, args, out, exponent):
        if exponent in (0, 1):  # Z⁰ and Z¹ are linear, even where 0⁻¹ or 0⁻² would say inf
            return 0
        if exponent == 2:
            return 2.0
        return exponent * (exponent - 1) * np.power(args[0], exponent - 2.0)

    def _second_name(self, i, j, names, exponent):
        c, k = exponent * (exponent - 1), exponent - 2
        if exponent == 2:
            return "2", "2"
        if k == 1:
            return f"{c:g}{names[0]}", rf"{c:g}\,{names[0]}"
        return (f"{c:g}{names[0]}^{k:g}".replace("-", "−"),
                rf"\left({c:g}\,{names[0]}^{{{k:g}}}\right)")


power = Power()


# ----------------------------------------------------------------------------
# Broadcasting on its own: the partial is 1, the Jacobian only deltas.
# ----------------------------------------------------------------------------
def _target_shape(shape):
    """``shape`` as a tuple of ints, as ``np.broadcast_to`` reads it, or an error naming it."""
    try:
        dims = (shape,) if np.ndim(shape) == 0 else tuple(shape)
        if any(isinstance(n, (bool, np.bool_)) for n in dims):
            raise TypeError
        dims = tuple(operator.index(n) for n in dims)
    except (TypeError, ValueError):
        raise TypeError(f"broadcast_to: shape must be an int or a tuple of ints, "
                        f"got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"broadcast_to: shape {dims} has a negative size")
    return dims


class BroadcastTo(Elementwise):
    """``Y = broadcast_to(X, shape)``: ``X`` repeated along new or size-1 axes.

    Like ``np.broadcast_to``, with ``shape`` given second or as a keyword.

    Notes
    -----
    Each entry of ``Y`` is a copy of one entry of ``X``. An axis of ``X``
    that the output keeps gets a delta; one that it stretches (size 1, or
    missing in front) gets none, since every output entry along it reads the
    same entry of ``X``. For ``b`` of shape ``(3,)`` broadcast to ``(4, 3)``
    this is the bias pattern::

        ∂Y_ab/∂b_c = δ_bc

    The VJP sums ``g`` back over the stretched axes; the JVP broadcasts ``t``.
    Linear: every second derivative is zero.
    """
    name = "broadcast_to"
    linear = True
    arg_names = ("X",)
    out_name = "Y"
    params = required = trailing = ("shape",)
    # A bias row, a column, a scalar, a new leading axis, nothing stretched.
    examples = ((((3,),), {"shape": (4, 3)}), (((2, 1),), {"shape": (2, 3)}),
                (((),), {"shape": (2, 2)}), (((1, 3),), {"shape": (2, 2, 3)}),
                (((2, 3),), {"shape": (2, 3)}), (((),), {"shape": ()}))

    def _check(self, X, shape):
        shape = _target_shape(shape)
        why = _stretch(X.shape, shape, "X", "the target")
        if why:
            raise ValueError(f"broadcast_to: X has shape {X.shape} and cannot be broadcast to "
                             f"the shape {shape}: {why}; each size of X must equal the "
                             f"target's or be 1")

    def _value(self, X, shape):
        return np.broadcast_to(X, _target_shape(shape))

    def _partial(self, wrt, args, out, **params):
        return 1


broadcast_to = BroadcastTo()
