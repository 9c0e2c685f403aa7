"""What every operation offers: its value, its Jacobian, its VJP and its JVP.

An operation subclasses :class:`Op` and writes four small methods side by
side — ``_value``, ``_terms`` (the Jacobian in index notation), ``vjp_rule``
(the shortcut a framework runs) and ``jvp_rule`` — plus ``_check`` for shapes.
The base class turns them into the public calls, checks inputs and shapes with
messages that name the op, and never lets a result share memory with an input.

The two rules are public, and so are ``value_at`` and ``derivative_at``,
because a sweep over a graph calls them directly: given arrays it has
already checked (and the forward value), they convert and recompute nothing.
"""
import numpy as np

from ..arrays import as_float_array, fresh
from ..index import Derivative, labels_for

REGISTRY = {}


def cased(name, ndim):
    """Lower-case names for scalars and vectors, upper-case for matrices."""
    return name.lower() if ndim <= 1 else name.upper()


class Op:
    """An operation with its value, Jacobian, VJP and JVP.

    Subclasses set ``name``, ``arg_names`` (one per differentiable argument),
    ``params`` (the names of its constant keyword parameters, like ``axis``),
    ``out_name``, ``examples`` (argument shapes and parameters, the first of
    which prints the default formula) and ``domains`` (``"real"``,
    ``"positive"`` or ``"away_from_zero"`` per argument, used to sample inputs
    where the op is smooth), and implement the hooks below.
    """

    name = None
    arg_names = ()
    params = ()
    out_name = "y"
    examples = ()
    domains = None

    def __init__(self):
        if self.name in REGISTRY:
            raise ValueError(f"an op named {self.name!r} exists already")
        REGISTRY[self.name] = self

    # --- hooks ------------------------------------------------------------
    def _check(self, *args, **params):
        """Raise ValueError naming the op, the shapes and the axis that disagree."""

    def _value(self, *args, **params):
        raise NotImplementedError

    def _terms(self, wrt, args, out, labels, names, **params):
        """The Jacobian w.r.t. argument ``wrt`` as a list of index-notation terms.

        ``labels`` is ``(out_labels, in_labels)``; ``names`` the printed name
        of each argument followed by the output's.
        """
        raise NotImplementedError

    def vjp_rule(self, wrt, g, args, out, **params):
        """``g`` pulled back to argument ``wrt``, given the value ``out``."""
        raise NotImplementedError

    def jvp_rule(self, wrt, t, args, out, **params):
        """A tangent ``t`` of argument ``wrt`` pushed forward, given ``out``."""
        raise NotImplementedError

    # --- public calls -----------------------------------------------------
    def __call__(self, *args, **params):
        """The value of the operation.

        An argument whose type defines ``__jac_apply__`` (a value being
        traced into a graph) takes over the call, so that ops need not know
        about graphs.
        """
        for a in args:
            apply = getattr(type(a), "__jac_apply__", None)
            if apply is not None:
                return apply(self, args, params)
        args = self._prepare(args, params)
        return fresh(self._value(*args, **params), args)

    def value_at(self, args, **params):
        """The value for arguments that already are checked float64 arrays.

        Like :meth:`vjp_rule`, for a graph whose nodes hold such arrays: the
        shapes are checked, nothing is converted or scanned for NaN.
        """
        self._check(*args, **params)
        return self._value(*args, **params)

    def derivative(self, *args, wrt=0, names=None, **params):
        """The Jacobian w.r.t. argument ``wrt`` in index notation.

        Parameters
        ----------
        names : tuple of str, optional
            How to print each argument and then the output, e.g.
            ``("H", "v", "ŷ")``; by default the op's own names, lower-case
            for scalars and vectors.

        Returns
        -------
        Derivative
            Prints as a formula, materialises to the dense tensor, and
            gives the VJP and JVP derived by delta elimination.
        """
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        return self.derivative_at(self._wrt(wrt), args, out, names, **params)

    def jacobian(self, *args, wrt=0, **params):
        """The dense Jacobian w.r.t. argument ``wrt``.

        Returns
        -------
        ndarray, shape ``(*out.shape, *args[wrt].shape)``
            ``J[a…, c…] = ∂out[a…]/∂args[wrt][c…]``; a tuple of them when
            ``wrt`` is a tuple.

        Raises
        ------
        JacobianTooLarge
            Before allocating, if the array would exceed the memory limit.
        """
        args = self._prepare(args, params)
        out = self._value(*args, **params)

        def one(i):
            d = self.derivative_at(i, args, out, None, **params)
            return d.materialise(instead=f"jac.{self.name}.vjp(g, ..., wrt={i})")
        return self._each(wrt, one)

    def vjp(self, g, *args, wrt=0, **params):
        """The vector–Jacobian product, computed the way frameworks do.

        Returns
        -------
        ndarray, shape ``args[wrt].shape``
            ``einsum(g, J)`` summed over the output axes, without ``J``.
        """
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        g = self._operand(g, out.shape, "upstream gradient g", "output", wrt, args, out)

        def one(i):
            return fresh(self.vjp_rule(i, g, args, out, **params), args + (g,))
        return self._each(wrt, one)

    def jvp(self, t, *args, wrt=0, **params):
        """The Jacobian–vector product (a directional derivative).

        Returns
        -------
        ndarray, shape ``out.shape``
            ``einsum(J, t)`` summed over the input axes, without ``J``.
        """
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        i = self._wrt(wrt)
        t = self._operand(t, args[i].shape, "tangent t", "input", i, args, out)
        return fresh(self.jvp_rule(i, t, args, out, **params), args + (t,))

    def formula(self, *args, wrt=0, names=None, **params):
        """The Jacobian's formula, printable as text and LaTeX.

        Without arguments, the op's first example shapes are used.

        >>> import jacobians as jac
        >>> print(jac.matmul.formula(wrt=1))
        ∂H_ab/∂W_cd = X_ac δ_bd
        """
        if not args:
            shapes, example = self.examples[0]
            args = tuple(np.ones(s) for s in shapes)
            params = {**example, **params}
        return self.derivative(*args, wrt=wrt, names=names, **params)

    def __repr__(self):
        return f"<op {self.name}({', '.join(self.arg_names)})>"

    # --- plumbing ---------------------------------------------------------
    def check_call(self, args, params):
        """Raise TypeError unless there is one array per argument and every parameter is known."""
        if len(args) != len(self.arg_names):
            raise TypeError(f"{self.name} takes {len(self.arg_names)} array argument(s) "
                            f"({', '.join(self.arg_names)}), got {len(args)}")
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            takes = f"its parameters are {', '.join(self.params)}" if self.params else \
                "it takes none"
            raise TypeError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}; "
                            f"{takes}")

    def _prepare(self, args, params):
        self.check_call(args, params)
        args = tuple(as_float_array(a, f"{self.name}: argument {n}")
                     for a, n in zip(args, self.arg_names))
        self._check(*args, **params)
        return args

    def _wrt(self, wrt):
        n = len(self.arg_names)
        if isinstance(wrt, bool) or not isinstance(wrt, (int, np.integer)) or not -n <= wrt < n:
            raise ValueError(f"{self.name} has {n} argument(s) ({', '.join(self.arg_names)}); "
                             f"wrt={wrt!r} is not an argument index")
        return int(wrt) % n

    def _each(self, wrt, one):
        if isinstance(wrt, tuple):
            return tuple(one(self._wrt(i)) for i in wrt)
        return one(self._wrt(wrt))

    def names(self, args, out):
        """Printed names of the arguments and of the output, cased by order."""
        return tuple(cased(n, a.ndim) for n, a in zip(self.arg_names, args)) + (
            cased(self.out_name, np.ndim(out)),)

    def derivative_at(self, i, args, out, names=None, **params):
        """The :class:`Derivative` w.r.t. argument ``i``, given the value ``out``.

        Like :meth:`vjp_rule`, for sweeps over a graph: no checks, nothing
        recomputed.
        """
        names = tuple(names) if names else self.names(args, out)
        if len(names) != len(args) + 1:
            raise ValueError(f"{self.name}: names needs one name per argument and one for the "
                             f"output, {len(args) + 1} in all, got {names!r}")
        labels = labels_for(np.ndim(out), args[i].ndim, avoid=(names[i], names[-1]))
        terms = self._terms(i, args, out, labels, names, **params)
        return Derivative(names[-1], names[i], *labels, np.shape(out), args[i].shape, tuple(terms))

    def _operand(self, v, shape, what, side, wrt, args, out):
        v = as_float_array(v, f"{self.name}: the {what}")
        if v.shape != tuple(shape):
            names = self.names(args, out)
            i = self._wrt(wrt[0] if isinstance(wrt, tuple) else wrt)
            jshape = tuple(np.shape(out)) + args[i].shape
            whose = names[-1] if side == "output" else names[i]
            raise ValueError(
                f"{self.name}: ∂{names[-1]}/∂{names[i]} has shape {jshape} but the {what} "
                f"has shape {v.shape}; it must have the shape of the {side} {whose}, "
                f"{tuple(shape)}")
        return v
