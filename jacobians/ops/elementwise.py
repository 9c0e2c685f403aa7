"""Entry-by-entry operations, with NumPy broadcasting.

``U = f(Z)`` acts on each entry alone, so ``∂U_ab/∂Z_cd = f'(Z)_ab δ_ac δ_bd``:
a diagonal Jacobian. Its VJP is therefore a Hadamard product, ``g ⊙ f'(Z)``.

For two arguments that broadcast (a bias row ``b`` added to every row of
``X``), an argument axis of size 1 — or missing — that the output stretches
gets no delta: every output row depends on the same ``b_d``, so
``∂H_ab/∂b_c = δ_bc`` and the VJP sums ``g`` over the rows.
"""
from functools import lru_cache

import numpy as np

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
    """

    partial_names = ()
    partial_latex = ()

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
    """``Z = X + Y``; ``∂Z_ab/∂X_cd = δ_ac δ_bd``; VJP ``g`` (summed where broadcast)."""
    name = "add"
    _value = staticmethod(np.add)

    def _partial(self, wrt, args, out, **params):
        return 1


add = Add()


class Subtract(Binary):
    """``Z = X − Y``; ``∂Z/∂Y = −δ δ``; VJP ``−g`` for ``Y``."""
    name = "subtract"
    _value = staticmethod(np.subtract)

    def _partial(self, wrt, args, out, **params):
        return (1, -1)[wrt]


subtract = Subtract()


class Multiply(Binary):
    """``Z = X ⊙ Y`` (Hadamard); ``∂Z_ab/∂X_cd = Y_ab δ_ac δ_bd``; VJP ``g ⊙ Y``."""
    name = "multiply"
    partial_names = ("{1}", "{0}")
    _value = staticmethod(np.multiply)

    def _partial(self, wrt, args, out, **params):
        return args[1 - wrt]


multiply = Multiply()


class Divide(Binary):
    """``Z = X / Y``; ``∂Z/∂X = (1/Y) δ δ``, ``∂Z/∂Y = −(X/Y²) δ δ``."""
    name = "divide"
    partial_names = ("1/{1}", "−{0}/{1}²")
    partial_latex = (r"\frac{{1}}{{{1}}}", r"\left(-\frac{{{0}}}{{{1}^2}}\right)")
    domains = (REAL, Domain("nonzero", " (it divides)"))
    _value = staticmethod(np.divide)

    def _partial(self, wrt, args, out, **params):
        X, Y = args
        return 1 / Y if wrt == 0 else -X / Y**2


divide = Divide()


# ----------------------------------------------------------------------------
# One argument: f'(Z) on the diagonal.
# ----------------------------------------------------------------------------
class Negative(Unary):
    """``U = −Z``; ``∂U/∂Z = −δ δ``; VJP ``−g``."""
    name = "negative"
    _value = staticmethod(np.negative)

    def _partial(self, wrt, args, out, **params):
        return -1


negative = Negative()


class Exp(Unary):
    """``U = exp(Z)``; ``f' = exp(Z) = U``; VJP ``g ⊙ U``."""
    name = "exp"
    partial_names = ("exp({0})",)
    partial_latex = (r"\exp({0})",)
    _value = staticmethod(np.exp)

    def _partial(self, wrt, args, out, **params):
        return out


exp = Exp()


class Log(Unary):
    """``U = log(Z)`` for positive Z; ``f' = 1/Z``; VJP ``g / Z``."""
    name = "log"
    partial_names = ("1/{0}",)
    partial_latex = (r"\frac{{1}}{{{0}}}",)
    domains = (Domain("positive", " (log is taken)"),)
    _value = staticmethod(np.log)

    def _partial(self, wrt, args, out, **params):
        return 1 / args[0]


log = Log()


class Tanh(Unary):
    """``U = tanh(Z)``; ``f' = 1 − U²``; VJP ``g ⊙ (1 − U²)``."""
    name = "tanh"
    partial_names = ("(1 − tanh²({0}))",)
    partial_latex = (r"(1-\tanh^2({0}))",)
    _value = staticmethod(np.tanh)

    def _partial(self, wrt, args, out, **params):
        return 1 - out**2


tanh = Tanh()


def _sigmoid(z):
    # For z < −709 exp(−z) overflows to inf and 1/(1 + inf) is the right 0.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))


class Sigmoid(Unary):
    """``U = σ(Z) = 1/(1 + e^{−Z})``; ``σ' = U(1 − U)``; VJP ``g ⊙ U ⊙ (1 − U)``."""
    name = "sigmoid"
    partial_names = ("σ'({0})",)
    partial_latex = (r"\sigma'({0})",)

    def _value(self, Z):
        return _sigmoid(Z)

    def _partial(self, wrt, args, out, **params):
        return out * (1 - out)


sigmoid = Sigmoid()


class Relu(Unary):
    """``U = max(Z, 0)``; ``f' = 𝟙[Z > 0]`` (0 at Z = 0, as frameworks choose)."""
    name = "relu"
    partial_names = ("𝟙[{0}>0]",)
    partial_latex = (r"\mathbb{{1}}[{0}>0]",)
    sampling = ("away_from_zero",)  # a finite difference across the kink would be wrong

    def _value(self, Z):
        return np.maximum(Z, 0)

    def _partial(self, wrt, args, out, **params):
        return (args[0] > 0).astype(np.float64)


relu = Relu()


class Square(Unary):
    """``U = Z²``; ``f' = 2Z``; VJP ``2 g ⊙ Z``."""
    name = "square"
    partial_names = ("2{0}",)
    _value = staticmethod(np.square)

    def _partial(self, wrt, args, out, **params):
        return 2 * args[0]


square = Square()


class Sqrt(Unary):
    """``U = √Z`` for positive Z; ``f' = 1/(2√Z)``; VJP ``g / (2U)``."""
    name = "sqrt"
    partial_names = ("1/(2√{0})",)
    partial_latex = (r"\frac{{1}}{{2\sqrt{{{0}}}}}",)
    domains = (Domain("positive", " (the derivative is infinite at 0)"),)
    _value = staticmethod(np.sqrt)

    def _partial(self, wrt, args, out, **params):
        return 0.5 / out


sqrt = Sqrt()


class Softplus(Unary):
    """``U = log(1 + e^Z)``; ``f' = σ(Z)``; VJP ``g ⊙ σ(Z)``."""
    name = "softplus"
    partial_names = ("σ({0})",)
    partial_latex = (r"\sigma({0})",)

    def _value(self, Z):
        return np.logaddexp(0, Z)

    def _partial(self, wrt, args, out, **params):
        return _sigmoid(args[0])


softplus = Softplus()


class Power(Unary):
    """``U = Z^p`` for a constant exponent ``p``; ``f' = p Z^(p−1)``.

    ``Z`` must be positive unless ``p`` is a whole number, and nonzero when
    ``p`` is negative. For ``p = 0`` the value is 1 and the derivative 0.
    """
    name = "power"
    params = required = ("exponent",)
    sampling = ("positive",)
    examples = ((((3,),), {"exponent": 3}), (((2, 3),), {"exponent": 0.5}),
                (((2, 2),), {"exponent": -1}), (((3,),), {"exponent": 0}))

    def _check(self, Z, exponent):
        if not np.isscalar(exponent) or not np.isfinite(exponent):
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


power = Power()
