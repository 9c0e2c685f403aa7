"""NumPy spoken on traced values: which NumPy call is which op.

A model written as ordinary NumPy — ``np.tanh(X @ W + b).mean()`` — is traced
because NumPy hands every ufunc and array function called on a traced value
back to it (``__array_ufunc__``, ``__array_function__``). The tables here
turn each call into the library's op, with NumPy's own arguments.

What is not in the tables raises ``TypeError`` naming the function and the
nearest ops the library has: a NumPy function that ran on the values alone
would return numbers with no derivative behind them, a wrong answer without
an error. Comparisons (``x > 0``) and other piecewise-constant functions
return plain boolean or float arrays: constants, as their derivative is zero
wherever it exists.
"""
import difflib
import string

import numpy as np

from . import ops
from .abstract import Shaped
from .arrays import is_traced


def _refuse_extra(name, given, allowed=()):
    """Raise TypeError for keyword arguments NumPy takes that the library does not follow."""
    extra = sorted(k for k, v in given.items() if k not in allowed and v is not None)
    if extra:
        raise TypeError(f"np.{name} on a traced value does not take "
                        f"{', '.join(extra)}; call it without")


def _axis(name, axis, ndim, what="the array"):
    """``axis`` counted from 0; a ValueError naming the call and the axes there are."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)) or \
            not -ndim <= axis < ndim:
        raise ValueError(f"np.{name}: axis {axis} is out of range for {what}, which has "
                         f"{ndim} axes")
    return int(axis) % ndim


def _pair_sizes(name, a, b, a_axes, b_axes):
    """Raise ValueError unless each summed axis of ``a`` has its partner's size in ``b``."""
    for i, j in zip(a_axes, b_axes):
        if np.shape(a)[i] != np.shape(b)[j]:
            raise ValueError(f"np.{name}: a has shape {np.shape(a)} and b has shape "
                             f"{np.shape(b)}: axis {i} of a has size {np.shape(a)[i]} but axis "
                             f"{j} of b has size {np.shape(b)[j]}; they are summed together")


# --- ufuncs -------------------------------------------------------------------------
def power(x, y):
    """``x ** y``: a constant exponent is :data:`ops.power`; a traced one is ``exp(y log x)``."""
    if not is_traced(y):
        exponent = np.asarray(y)
        if exponent.dtype.kind not in "iuf":
            raise TypeError(f"x ** y takes a number as exponent, got {y!r}")
        if exponent.ndim:
            raise TypeError("x ** y takes a number as a constant exponent, not an array; "
                            "for an array of exponents write np.exp(y * np.log(x))")
        exponent = exponent.item()
        return ops.square(x) if exponent == 2 else ops.power(x, exponent=exponent)
    if not is_traced(x):
        base = np.asarray(x, dtype=float)
        if (base <= 0).any():
            raise ValueError(f"b ** x for a traced x needs a positive base b (it is "
                             f"exp(x log b)); got {x!r}")
    return ops.exp(ops.multiply(y, ops.log(x)))


_UNARY = {np.negative: ops.negative, np.exp: ops.exp, np.log: ops.log, np.tanh: ops.tanh,
          np.sqrt: ops.sqrt, np.square: ops.square, np.absolute: ops.abs,
          np.positive: lambda x: x}
_BINARY = {np.add: ops.add, np.subtract: ops.subtract, np.multiply: ops.multiply,
           np.true_divide: ops.divide, np.maximum: ops.maximum, np.minimum: ops.minimum,
           np.matmul: ops.matmul, np.power: power}

# Piecewise constant: their value is a constant of the trace (a mask for np.where).
_CONSTANT = {np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
             np.sign, np.isfinite, np.isnan, np.isinf, np.floor, np.ceil, np.rint, np.trunc,
             np.logical_not, np.logical_and, np.logical_or, np.logical_xor}

_REDUCE = {np.add: "sum", np.maximum: "max", np.minimum: "min"}


def _value_of(x):
    return x.node.value if is_traced(x) else x


def apply_ufunc(ufunc, method, inputs, kwargs):
    """A NumPy ufunc called on traced values, as the library's op."""
    name = ufunc.__name__
    if kwargs.get("out") is not None:
        raise TypeError(f"np.{name}(..., out=...) would write into an array; a traced value "
                        f"cannot be written into: use the result instead")
    if method == "__call__" and ufunc in _CONSTANT:
        _refuse_extra(name, kwargs)
        return ufunc(*(_value_of(x) for x in inputs))
    if method == "__call__" and (ufunc in _UNARY or ufunc in _BINARY):
        _refuse_extra(name, kwargs)
        return (_UNARY.get(ufunc) or _BINARY[ufunc])(*inputs)
    if method == "reduce" and ufunc in _REDUCE:
        _refuse_extra(name, {k: v for k, v in kwargs.items() if k != "keepdims"},
                      ("axis",))
        (x,) = inputs
        reduction = _reduction(_REDUCE[ufunc])
        return reduction(x, axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
    if method == "outer" and ufunc is np.multiply:
        _refuse_extra(name, kwargs)
        a, b = inputs
        return _outer_nd(a, b)
    spelled = f"np.{name}" if method == "__call__" else f"np.{name}.{method}"
    raise TypeError(_cannot(spelled, name))


def _outer_nd(a, b):
    """``np.multiply.outer``: every entry of ``a`` times every entry of ``b``."""
    na, nb = np.ndim(a), np.ndim(b)
    letters = string.ascii_lowercase
    x, y = letters[:na], letters[na:na + nb]
    return ops.einsum(f"{x},{y}->{x}{y}", a, b)


# --- array functions -----------------------------------------------------------------
def named(result, label):
    """Name the node as the NumPy user wrote the call (``dot`` rather than ``matmul``)."""
    if is_traced(result):
        result.graph.rename(result.node, label)
    return result


def _reduction(name, *extras):
    """``np.sum(a, axis, dtype, out, keepdims)`` as the op ``name``; ``extras`` (var's ddof) too."""
    def call(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        given = {k: rest.pop(k) for k in extras if k in rest}
        _refuse_extra(name, {"dtype": dtype, "out": out, **rest})
        params = {"axis": axis, **{k: v for k, v in given.items() if v}}
        if keepdims:
            params["keepdims"] = True
        return ops.REGISTRY[name](a, **params)
    return call


def _std(a, *args, **kwargs):
    return named(ops.sqrt(_reduction("var", "ddof")(a, *args, **kwargs)), "std")


def _spec(na, nb, a_axes, b_axes):
    """The einsum subscripts contracting ``a_axes`` of ``a`` with ``b_axes`` of ``b``."""
    letters = iter(string.ascii_lowercase)
    a = [next(letters) for _ in range(na)]
    b = [next(letters) for _ in range(nb)]
    for i, j in zip(a_axes, b_axes):
        b[j] = a[i]
    out = [x for k, x in enumerate(a) if k not in a_axes] + \
        [x for k, x in enumerate(b) if k not in b_axes]
    return f"{''.join(a)},{''.join(b)}->{''.join(out)}"


def _dot(a, b, out=None):
    """``np.dot``: the last axis of ``a`` with the second-to-last of ``b`` (or its only one)."""
    _refuse_extra("dot", {"out": out})
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return named(ops.multiply(a, b), "dot")
    _pair_sizes("dot", a, b, [na - 1], [max(nb - 2, 0)])
    if na <= 2 and nb <= 2:
        return named(ops.matmul(a, b), "dot")
    return named(ops.einsum(_spec(na, nb, [na - 1], [max(nb - 2, 0)]), a, b), "dot")


def _inner(a, b):
    """``np.inner``: the last axes of ``a`` and ``b`` contracted."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return named(ops.multiply(a, b), "inner")
    _pair_sizes("inner", a, b, [na - 1], [nb - 1])
    return named(ops.einsum(_spec(na, nb, [na - 1], [nb - 1]), a, b), "inner")


def _tensordot(a, b, axes=2):
    """``np.tensordot``: the last ``axes`` axes of ``a`` with the first of ``b``, or given pairs."""
    na, nb = np.ndim(a), np.ndim(b)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(na, nb):
            raise ValueError(f"np.tensordot: axes={axes} sums that many axes of each, but a has "
                             f"{na} and b has {nb}")
        a_axes, b_axes = range(na - axes, na), range(axes)
    else:
        a_axes, b_axes = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
        if len(a_axes) != len(b_axes):
            raise ValueError(f"np.tensordot: {len(a_axes)} axes of a are paired with "
                             f"{len(b_axes)} of b; they are summed in pairs")
    a_axes = [_axis("tensordot", k, na, "a") for k in a_axes]
    b_axes = [_axis("tensordot", k, nb, "b") for k in b_axes]
    if len(set(a_axes)) < len(a_axes) or len(set(b_axes)) < len(b_axes):
        raise ValueError(f"np.tensordot: an axis is named twice in axes={axes!r}")
    _pair_sizes("tensordot", a, b, a_axes, b_axes)
    return named(ops.einsum(_spec(na, nb, a_axes, b_axes), a, b), "tensordot")


def _einsum(subscripts, *operands, out=None, optimize=False, **rest):
    _refuse_extra("einsum", {"out": out, **rest})
    if not isinstance(subscripts, str):
        raise TypeError("np.einsum on traced values takes its subscripts as one string, "
                        "np.einsum('ij,jk->ik', A, B), not interleaved with the operands")
    return ops.einsum(subscripts, *operands)


def _transpose(a, axes=None):
    if axes is None:
        return ops.transpose(a)
    return ops.transpose(a, axes=tuple(_axis("transpose", k, np.ndim(a)) for k in axes))


def _swapaxes(a, axis1, axis2):
    axes = list(range(np.ndim(a)))
    i, j = (_axis("swapaxes", k, np.ndim(a)) for k in (axis1, axis2))
    axes[i], axes[j] = axes[j], axes[i]
    return ops.transpose(a, axes=tuple(axes))


def _moveaxis(a, source, destination):
    n = np.ndim(a)
    source = [_axis("moveaxis", k, n) for k in np.atleast_1d(source)]
    destination = [_axis("moveaxis", k, n) for k in np.atleast_1d(destination)]
    if len(source) != len(destination):
        raise ValueError(f"np.moveaxis: {len(source)} source axes and {len(destination)} "
                         f"destinations; each axis moved needs one")
    order = [k for k in range(n) if k not in source]
    for d, s in sorted(zip(destination, source)):
        order.insert(d, s)
    return ops.transpose(a, axes=tuple(int(k) for k in order))


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise TypeError("np.reshape on a traced value reads entries in row-major (C) order "
                        "only; transpose first for another order")
    return ops.reshape(a, shape=newshape if shape is None else shape)


def _ravel(a, order="C"):
    if order != "C":
        raise TypeError("np.ravel on a traced value reads entries in row-major (C) order only")
    return named(ops.reshape(a, shape=(-1,)), "ravel")


def _join(op):
    def call(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
        _refuse_extra(op.name, {"out": out, "dtype": dtype})
        return op(*arrays, axis=axis)
    return call


def _where(condition, x=None, y=None):
    if x is None or y is None:
        raise TypeError("np.where(condition) alone gives indices, which have no derivative; "
                        "np.where(condition, x, y) picks entries and is traced")
    return ops.where(condition, x, y)


def _clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
          max=np._NoValue, **rest):
    _refuse_extra("clip", {"out": out, **rest})
    lo = None if a_min is np._NoValue else a_min
    hi = None if a_max is np._NoValue else a_max
    lo = lo if min is np._NoValue else min
    hi = hi if max is np._NoValue else max
    return ops.clip(a, lo, hi)


def _norm(x, ord=None, axis=None, keepdims=False):
    one = isinstance(axis, (int, np.integer))
    axes = range(np.ndim(x)) if axis is None else (axis,) if one else tuple(axis)
    if axis is not None and len(axes) > 2:
        raise ValueError(f"np.linalg.norm: axis={axis!r} names {len(axes)} axes; a norm is "
                         f"taken over one axis (a vector) or two (a matrix)")
    if not (ord is None or (ord == "fro" and len(axes) == 2) or (ord == 2 and len(axes) == 1)):
        raise TypeError(f"np.linalg.norm on a traced value takes the 2-norm of vectors and "
                        f"the Frobenius norm of matrices (ord=None); ord={ord!r} over "
                        f"{len(axes)} axes is not traced: write it from np.abs, np.max or "
                        f"np.sum")
    params = {"axis": axis}
    if keepdims:
        params["keepdims"] = True
    return ops.norm(x, **params)


def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if returned:
        raise TypeError("np.average(..., returned=True) gives two values; the library "
                        "traces one: call np.average and np.sum(weights) apart")
    if weights is None:
        return named(_reduction("mean")(a, axis=axis, keepdims=keepdims), "average")
    if is_traced(weights):
        raise TypeError("np.average on a traced value takes constant weights; write "
                        "np.sum(a * w, axis) / np.sum(w, axis) for traced ones")
    w = weights if isinstance(weights, Shaped) else np.asarray(weights, dtype=float)
    if w.shape != np.shape(a):
        if not isinstance(axis, (int, np.integer)) or w.ndim != 1:
            raise TypeError(f"np.average: weights of shape {w.shape} for a of shape "
                            f"{np.shape(a)} need one axis (an int) to lie along, and 1-D")
        k = _axis("average", axis, np.ndim(a))
        if w.size != np.shape(a)[k]:
            raise ValueError(f"np.average: {w.size} weights for axis {k} of a, which has "
                             f"size {np.shape(a)[k]}")
        shape = [1] * np.ndim(a)
        shape[k] = w.size
        w = w.reshape(shape)
    total = _reduction("sum")(ops.multiply(a, w), axis=axis, keepdims=keepdims)
    return named(ops.divide(total, np.sum(np.broadcast_to(w, np.shape(a)), axis=axis,
                                           keepdims=keepdims)), "average")


def _outer(a, b, out=None):
    _refuse_extra("outer", {"out": out})
    return ops.outer(ops.reshape(a, shape=(-1,)) if np.ndim(a) != 1 else a,
                     ops.reshape(b, shape=(-1,)) if np.ndim(b) != 1 else b)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if offset or (axis1, axis2) != (0, 1) or np.ndim(a) != 2:
        raise TypeError("np.trace on a traced value takes the main diagonal of a matrix; "
                        "for others write np.einsum")
    _refuse_extra("trace", {"dtype": dtype, "out": out})
    return ops.trace(a)


def _constant_like(func):
    """``np.zeros_like(x)`` of a traced ``x``: a constant of its shape."""
    def call(a, *args, **kwargs):
        return func(_value_of(a), *args, **kwargs)
    return call


def _created(func):
    """``np.zeros(shape, like=x)`` of a traced ``x``: a new constant array."""
    def call(*args, like=None, **kwargs):
        return func(*args, **kwargs)
    return call


def _bincount(x, weights=None, minlength=0):
    """``np.bincount(x, weights=w)`` of traced weights: ``w`` added up by index, ``P w``.

    ``P`` is the one-hot matrix of the (constant) indices: a scatter-add is
    linear in ``w``, which is how a getitem's VJP is itself differentiated.
    """
    if weights is None or is_traced(x):
        raise TypeError("np.bincount on a traced value adds up traced weights at constant "
                        "indices: np.bincount(indices, weights=w)")
    x = np.asarray(x)
    length = max(int(x.max(initial=-1)) + 1, minlength)
    one_hot = (np.arange(length)[:, None] == x[None, :]).astype(np.float64)
    return named(ops.matmul(one_hot, weights), "bincount")


def _split(ary, indices_or_sections, axis=0):
    return ops.split(ary, indices_or_sections, axis)


FUNCTIONS = {
    np.sum: _reduction("sum"), np.mean: _reduction("mean"), np.var: _reduction("var", "ddof"),
    np.std: _std,
    np.max: _reduction("max"), np.min: _reduction("min"),
    np.amax: _reduction("max"), np.amin: _reduction("min"),
    np.dot: _dot, np.inner: _inner, np.tensordot: _tensordot,
    np.einsum: _einsum, np.outer: _outer, np.trace: _trace,
    np.transpose: _transpose, np.swapaxes: _swapaxes, np.moveaxis: _moveaxis,
    np.reshape: _reshape, np.ravel: _ravel,
    np.concatenate: _join(ops.concatenate), np.stack: _join(ops.stack), np.split: _split,
    np.expand_dims: lambda a, axis: ops.expand_dims(a, axis=axis),
    np.squeeze: lambda a, axis=None: ops.squeeze(a, axis=axis) if axis is not None
    else ops.squeeze(a),
    np.broadcast_to: lambda array, shape, subok=False: ops.broadcast_to(array, shape=shape),
    np.where: _where, np.clip: _clip, np.linalg.norm: _norm, np.average: _average,
    np.shape: lambda a: a.shape, np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else
    a.shape[_axis("size", axis, a.ndim)],
    np.copy: lambda a, order="K", subok=False: a,  # never written into, so its own copy
    np.zeros_like: _constant_like(np.zeros_like), np.ones_like: _constant_like(np.ones_like),
    np.full_like: _constant_like(np.full_like), np.empty_like: _constant_like(np.empty_like),
    np.zeros: _created(np.zeros), np.ones: _created(np.ones), np.empty: _created(np.empty),
    np.eye: _created(np.eye), np.full: _created(np.full), np.bincount: _bincount,
}


def apply_function(func, args, kwargs):
    """A NumPy function called with traced values, as the library's ops."""
    handler = FUNCTIONS.get(func)
    if handler is None:
        module = "np.linalg." if func.__module__.endswith("linalg") else "np."
        raise TypeError(_cannot(module + func.__name__, func.__name__))
    return handler(*args, **kwargs)


def known_names():
    """Every NumPy spelling that is traced, as it is written."""
    return sorted({f"np.{u.__name__}" for u in (*_UNARY, *_BINARY, *_CONSTANT)} |
                  {("np.linalg." if f is np.linalg.norm else "np.") + f.__name__
                   for f in FUNCTIONS})


# What to write instead, for calls a model is likely to try.
_INSTEAD = {
    "cumsum": "a matrix of ones below the diagonal: np.tril(np.ones((n, n))) @ x",
    "inv": "no inverse is traced; write the model without one",
    "flip": "x[::-1] (indexing is traced)",
    "prod": "np.exp(np.sum(np.log(x))) for positive x",
    "logaddexp": "np.log(np.exp(a) + np.exp(b)), or jac.softplus for log(1 + eˣ)",
    "exp2": "2 ** x", "log2": "np.log(x) / np.log(2)", "log10": "np.log(x) / np.log(10)",
    "hstack": "np.concatenate", "vstack": "np.concatenate",
    "tile": "np.broadcast_to or np.concatenate", "repeat": "indexing with repeated indices",
    "sin": "nothing yet: the library has no trigonometric ops",
    "cos": "nothing yet: the library has no trigonometric ops",
}


def _cannot(spelled, name):
    """The message for a NumPy call the library cannot trace, with what it could write instead."""
    instead = _INSTEAD.get(name)
    if instead is None:
        near = difflib.get_close_matches(
            name, [n.split(".")[-1] for n in known_names()] + sorted(ops.REGISTRY), n=3,
            cutoff=0.85)
        instead = ", ".join(dict.fromkeys(near)) or None
    hint = f" Instead: {instead}." if instead else ""
    return (f"{spelled} cannot be traced: the library has no rule for it, and running it on "
            f"the values would give numbers without a derivative.{hint} "
            f"jacobians.spelling.known_names() lists the NumPy calls that are traced.")
