"""What every operation offers: its value, its Jacobian, its VJP and its JVP.

An operation subclasses :class:`Op` and writes four small methods side by
side — ``_value``, ``_terms`` (the Jacobian in index notation), ``vjp_rule``
(the shortcut a framework runs) and ``jvp_rule`` — plus ``_check`` for shapes
and ``domains`` for where its arguments may lie. The base class turns them
into the public calls, checks inputs, shapes and domains with messages that
name the op, and never lets a result share memory with an input.

The rules are written with NumPy functions (and, for contractions, the
library's :func:`~jacobians.contract.contract`) on whatever arrays they are
given, making new arrays ``like=`` one of them: so the same rule runs on
ndarrays and, to count what it costs, on :class:`~jacobians.abstract.Shaped`
arrays. A sweep over a graph calls ``value_at``, ``vjp_rule``, ``jvp_rule``
and ``derivative_at`` directly: given arrays it has already checked (and
the forward value), they convert and recompute nothing.
"""
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..abstract import Shaped
from ..arrays import as_float_array, fresh, is_traced, kind
from ..index import Derivative, SecondDerivative, labels_for

REGISTRY = {}


def cased(name, ndim):
    """Lower-case names for scalars and vectors, upper-case for matrices."""
    return name.lower() if ndim <= 1 else name.upper()


class Domain(NamedTuple):
    """Where an argument may lie — ``"real"``, ``"positive"`` or ``"nonzero"`` — and why.

    ``why`` finishes the sentence of the error message: ``"log: Z must be
    positive (log is taken)"``.
    """

    kind: str
    why: str = ""


REAL = Domain("real")

# How a domain is checked, and what the message says the offending entries are.
_DOMAIN_CHECKS = {"positive": (lambda a: a > 0, "≤ 0"), "nonzero": (lambda a: a != 0, "equal to 0")}


@lru_cache(maxsize=1024)
def _labels(out_ndim, in_ndim, names):
    return labels_for(out_ndim, in_ndim, avoid=names)


def remember(table, key, value, limit=4096):
    """``table[key] = value``, forgetting everything once ``table`` holds ``limit`` entries.

    For the small tables ops keep by structure and name: a trace of thousands
    of distinct node names must not grow them without end.
    """
    if len(table) >= limit:
        table.clear()
    table[key] = value


def param_key(params):
    """A hashable key for an op's parameters; an array stands for its shape alone.

    For tables kept by structure: a mask's entries do not change names,
    labels or shapes, and its ``repr`` would be long (and, past a thousand
    entries, abbreviated).
    """
    if not params:
        return ""

    def key(v):
        if isinstance(v, np.ndarray):
            return ("array", v.shape)
        return tuple(key(x) for x in v) if isinstance(v, tuple) else v
    return repr({k: key(v) for k, v in params.items()})


def check_one_axis(op, name, X, axis, what="normalise over"):
    """Raise ValueError unless ``axis`` is one axis of ``X`` with entries to ``what``."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{op}: axis must be one axis (an int), got {axis!r}")
    if X.ndim == 0:
        raise ValueError(f"{op}: {name} needs an axis to {what}, got a scalar, shape {X.shape}")
    if not -X.ndim <= axis < X.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for {name} of shape {X.shape}")
    if X.shape[axis] == 0:
        raise ValueError(f"{op}: axis {axis} of {name} (shape {X.shape}) has no entries, "
                         f"and at least one entry is needed to {what}: shape {X.shape}")


class Op:
    """An operation with its value, Jacobian, VJP and JVP.

    Subclasses set ``name``, ``arg_names`` (one per differentiable argument),
    ``params`` (the names of its constant keyword parameters, like ``axis``)
    and ``required`` (those without a default), ``out_name``, ``examples``
    (argument shapes and parameters, the first of which prints the default
    formula), ``domains`` (a :class:`Domain` per argument, enforced on every
    call; all real when None) and ``sampling`` (how tests draw each argument
    where the op is smooth: ``"real"``, ``"positive"`` or
    ``"away_from_zero"``; the domains' kinds when None), and implement the
    hooks below.

    NumPy's spelling is accepted for constants it takes by position:
    ``leading`` names a parameter given before the arrays (einsum's
    subscripts, where's condition) and ``trailing`` those given after them
    (reshape's shape, clip's bounds). A ``variadic`` op takes any number of
    arrays (einsum, concatenate), named by :meth:`names_for`.
    """

    name = None
    arg_names = ()
    params = ()
    required = ()
    leading = None
    trailing = ()
    variadic = False
    linear = False  # linear in every argument: every second derivative is zero
    out_name = "y"
    examples = ()
    domains = None
    sampling = None

    def __init__(self):
        if self.name in REGISTRY:
            raise ValueError(f"an op named {self.name!r} exists already")
        REGISTRY[self.name] = self
        # Whether any argument's domain needs a look at its values.
        self._restricted = type(self).domain is not Op.domain or any(
            d.kind != "real" for d in self.domains or ())
        self._names = {}       # printed names, by the orders of the arguments and output
        self._structures = {}  # names and labels of each derivative checked once

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

    def _second_terms(self, i, j, args, out, labels, names, **params):
        """``∂²out/∂args[i]∂args[j]`` as a list of index-notation terms ([] for zero).

        ``labels`` is ``(out_labels, labels_i, labels_j)``; ``names`` as for
        :meth:`_terms`. Ops that are linear in every argument leave it at
        this default: their second derivatives are zero.
        """
        if self.linear:
            return []
        raise NotImplementedError(f"{self.name} states no second derivative")

    def vjp_rule(self, wrt, g, args, out, **params):
        """``g`` pulled back to argument ``wrt``, given the value ``out``."""
        raise NotImplementedError

    def jvp_rule(self, wrt, t, args, out, **params):
        """A tangent ``t`` of argument ``wrt`` pushed forward, given ``out``."""
        raise NotImplementedError

    def domain(self, **params):
        """Each argument's :class:`Domain` for these parameters."""
        return self.domains or (REAL,) * len(self.arg_names)

    def names_for(self, n):
        """The names of ``n`` array arguments (a variadic op numbers them)."""
        return self.arg_names

    # --- public calls -----------------------------------------------------
    def __call__(self, *args, **params):
        """The value of the operation.

        An argument whose type defines ``__jac_apply__`` (a value being
        traced into a graph) takes over the call, so that ops need not know
        about graphs.
        """
        args, params = self.split(args, params)
        for a in args:
            apply = getattr(type(a), "__jac_apply__", None)
            if apply is not None:  # the traced value decides which trace records the call
                return apply(self, args, params)
        args = self._prepare(args, params)
        return fresh(self._value(*args, **params), args)

    def value_at(self, args, **params):
        """The value for arguments that already are float64 arrays.

        Like :meth:`vjp_rule`, for a graph whose nodes hold such arrays: the
        shapes and domains are checked, nothing is converted or scanned for NaN.
        """
        self._check(*args, **params)
        self._check_domain(args, params)
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
        args, params = self.split(args, params)
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        return self.derivative_at(self._wrt(wrt, len(args)), args, out, names, **params)

    def jacobian(self, *args, wrt=0, **params):
        """The dense Jacobian w.r.t. argument ``wrt``.

        Returns
        -------
        J : ndarray, shape ``(*out.shape, *args[wrt].shape)``
            ``J[a…, c…] = ∂out[a…]/∂args[wrt][c…]``; a tuple of them when
            ``wrt`` is a tuple.

        Raises
        ------
        JacobianTooLarge
            Before allocating, if the array would exceed the memory limit.
        """
        args, params = self.split(args, params)
        args = self._prepare(args, params)
        out = self._value(*args, **params)

        def one(i):
            return self.derivative_at(i, args, out, **params).materialise(
                instead=f"jac.{self.name}.vjp(g, ..., wrt={i})")
        return self._each(wrt, one, len(args))

    def vjp(self, g, *args, wrt=0, **params):
        """The vector–Jacobian product, computed the way frameworks do.

        Returns
        -------
        ndarray, shape ``args[wrt].shape``
            ``einsum(g, J)`` summed over the output axes, without ``J``.
        """
        args, params = self.split(args, params)
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        g = self._operand(g, out.shape, "upstream gradient g", "output", wrt, args, out)

        def one(i):
            return fresh(self.vjp_rule(i, g, args, out, **params), args + (g,))
        return self._each(wrt, one, len(args))

    def jvp(self, t, *args, wrt=0, **params):
        """The Jacobian–vector product (a directional derivative).

        Returns
        -------
        ndarray, shape ``out.shape``
            ``einsum(J, t)`` summed over the input axes, without ``J``.
        """
        args, params = self.split(args, params)
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        i = self._wrt(wrt, len(args))
        t = self._operand(t, args[i].shape, "tangent t", "input", i, args, out)
        return fresh(self.jvp_rule(i, t, args, out, **params), args + (t,))

    def formula(self, *args, wrt=0, names=None, **params):
        """The Jacobian's formula, printable as text and LaTeX.

        Without arguments, the op's first example shapes are used.

        >>> import jacobians as jac
        >>> print(jac.matmul.formula(wrt=1))
        ∂H_ab/∂W_cd = X_ac δ_bd
        """
        args, params = self.split(args, params)
        if not args:
            shapes, example = self.examples[0]
            args = tuple(np.ones(s) for s in shapes)
            params = {**example, **params}
        return self.derivative(*args, wrt=wrt, names=names, **params)

    def __repr__(self):
        return f"<op {self.name}({', '.join(self.arg_names)})>"

    # --- plumbing ---------------------------------------------------------
    def split(self, args, params):
        """The arrays, and the parameters with NumPy's positional constants among them.

        ``jac.einsum("ij,jk->ik", A, B)`` and ``jac.reshape(X, (6,))`` read
        as ``einsum(A, B, spec="ij,jk->ik")`` and ``reshape(X, shape=(6,))``.
        """
        if self.leading is None and not self.trailing:
            return args, params
        if self.leading and self.leading not in params and args and not is_traced(args[0]):
            params = {**params, self.leading: args[0]}
            args = args[1:]
        n = len(self.arg_names)
        if self.trailing and not self.variadic and len(args) > n:
            extra = args[n:]
            if len(extra) > len(self.trailing):
                raise TypeError(f"{self.name} takes {n} array argument(s) "
                                f"({', '.join(self.arg_names)}) and then at most "
                                f"{', '.join(self.trailing)}; got {len(args)} arguments")
            given = dict(zip(self.trailing, extra))
            twice = sorted(set(given) & set(params))
            if twice:
                raise TypeError(f"{self.name} got {', '.join(twice)} both by position and by "
                                f"keyword")
            params, args = {**params, **given}, args[:n]
        return args, params

    def check_call(self, args, params):
        """Raise TypeError unless there is one array per argument and the parameters fit."""
        if self.variadic:
            if not args:
                raise TypeError(f"{self.name} needs at least one array argument")
        elif len(args) != len(self.arg_names):
            raise TypeError(f"{self.name} takes {len(self.arg_names)} array argument(s) "
                            f"({', '.join(self.arg_names)}), got {len(args)}")
        if params or self.required:
            self._check_params(params)

    def _check_params(self, params):
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            takes = f"its parameters are {', '.join(self.params)}" if self.params else \
                "it takes none"
            raise TypeError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}; "
                            f"{takes}")
        missing = [p for p in self.required if p not in params]
        if missing:
            raise TypeError(f"{self.name} needs the parameter {', '.join(missing)}: "
                            f"{self.name}({', '.join(self.arg_names)}, "
                            f"{', '.join(f'{p}=...' for p in missing)})")

    def _check_domain(self, args, params):
        if not self._restricted:
            return
        for a, name, domain in zip(args, self.names_for(len(args)), self.domain(**params)):
            if domain.kind == "real" or isinstance(a, Shaped):
                continue  # a Shaped array has no values to check
            holds, offending = _DOMAIN_CHECKS[domain.kind]
            if not holds(a).all():
                raise ValueError(f"{self.name}: {name} must be {domain.kind}{domain.why}; it "
                                 f"has entries {offending}")

    def _prepare(self, args, params):
        self.check_call(args, params)
        args = tuple(as_float_array(a, f"{self.name}: argument {n}")
                     for a, n in zip(args, self.names_for(len(args))))
        self._check(*args, **params)
        self._check_domain(args, params)
        return args

    def _wrt(self, wrt, n):
        if isinstance(wrt, bool) or not isinstance(wrt, (int, np.integer)) or not -n <= wrt < n:
            raise ValueError(f"{self.name} has {n} argument(s) "
                             f"({', '.join(self.names_for(n))}); wrt={wrt!r} is not an "
                             f"argument index")
        return int(wrt) % n

    def _each(self, wrt, one, n):
        if isinstance(wrt, tuple):
            return tuple(one(self._wrt(i, n)) for i in wrt)
        return one(self._wrt(wrt, n))

    def names(self, args, out):
        """Printed names of the arguments and of the output, cased by order."""
        orders = tuple(a.ndim for a in args) + (out.ndim,)
        names = self._names.get(orders)
        if names is None:
            names = tuple(cased(n, k) for n, k in
                          zip(self.names_for(len(args)) + (self.out_name,), orders))
            remember(self._names, orders, names)
        return names

    def derivative_at(self, i, args, out, names=None, **params):
        """The :class:`Derivative` w.r.t. argument ``i``, given the value ``out``.

        Like :meth:`vjp_rule`, for sweeps over a graph: no checks, nothing
        recomputed. Its dense form is an array of the same kind as ``out``.
        """
        # What depends on the structure alone is worked out once for each one:
        # the printed names, the index labels, and a check of the terms' shapes.
        names = tuple(names) if names else None
        structure = (i, names, tuple(a.shape for a in args), param_key(params))
        known = self._structures.get(structure)
        if known is None:
            names = names or self.names(args, out)
            if len(names) != len(args) + 1:
                raise ValueError(f"{self.name}: names needs one name per argument and one for "
                                 f"the output, {len(args) + 1} in all, got {names!r}")
            labels = _labels(out.ndim, args[i].ndim, (names[i], names[-1]))
        else:
            names, labels = known
        terms = self._terms(i, args, out, labels, names, **params)
        derivative = Derivative(names[-1], names[i], *labels, out.shape, args[i].shape, terms,
                                like=kind(out), check=known is None)
        if known is None:
            remember(self._structures, structure, (names, labels))
        return derivative

    def second_derivative(self, *args, wrt=(0, 0), names=None, **params):
        """The second derivative ``∂²out/∂args[i]∂args[j]`` in index notation.

        Parameters
        ----------
        wrt : int or (int, int)
            ``i`` for the Hessian of each output entry w.r.t. one argument,
            or ``(i, j)`` for a mixed second derivative.

        Returns
        -------
        SecondDerivative
            Prints as a formula; materialises to shape
            ``(*out.shape, *args[i].shape, *args[j].shape)``.
        """
        args, params = self.split(args, params)
        args = self._prepare(args, params)
        out = self._value(*args, **params)
        i, j = self._pair(wrt, len(args))
        return self.second_derivative_at(i, j, args, out, names, **params)

    def hessian(self, *args, wrt=0, **params):
        """The dense second derivative: ``wrt=i`` or a pair ``(i, j)``.

        Returns
        -------
        H : ndarray, shape ``(*out.shape, *args[i].shape, *args[j].shape)``
            ``H[a…, c…, e…] = ∂²out[a…]/∂args[i][c…]∂args[j][e…]``.

        Raises
        ------
        JacobianTooLarge
            Before allocating, if the array would exceed the memory limit.
        """
        d = self.second_derivative(*args, wrt=wrt, **params)
        return d.materialise(instead="a Hessian-vector product (jac.hvp)")

    def _pair(self, wrt, n):
        pair = (wrt, wrt) if not isinstance(wrt, tuple) else wrt
        if len(pair) != 2:
            raise ValueError(f"{self.name}: a second derivative is taken w.r.t. one argument "
                             f"or a pair (i, j), got wrt={wrt!r}")
        return tuple(self._wrt(k, n) for k in pair)

    def second_derivative_at(self, i, j, args, out, names=None, **params):
        """The :class:`SecondDerivative` w.r.t. arguments ``i`` and ``j``, given ``out``."""
        names = tuple(names) if names else self.names(args, out)
        out_labels, inputs = labels_for(out.ndim, args[i].ndim + args[j].ndim,
                                        avoid=names)
        labels = (out_labels, inputs[:args[i].ndim], inputs[args[i].ndim:])
        terms = self._second_terms(i, j, args, out, labels, names, **params)
        return SecondDerivative(names[-1], names[i], names[j], *labels, out.shape,
                                args[i].shape, args[j].shape, terms, like=kind(out))

    def _operand(self, v, shape, what, side, wrt, args, out):
        v = as_float_array(v, f"{self.name}: the {what}")
        if v.shape != tuple(shape):
            names = self.names(args, out)
            i = self._wrt(wrt[0] if isinstance(wrt, tuple) else wrt, len(args))
            jshape = tuple(np.shape(out)) + args[i].shape
            whose = names[-1] if side == "output" else names[i]
            raise ValueError(
                f"{self.name}: ∂{names[-1]}/∂{names[i]} has shape {jshape} but the {what} "
                f"has shape {v.shape}; it must have the shape of the {side} {whose}, "
                f"{tuple(shape)}")
        return v
