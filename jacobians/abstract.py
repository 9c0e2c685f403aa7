"""Arrays known only by their shape: a program run on them counts what it would cost.

A :class:`Shaped` array has a shape and no values. NumPy hands every ufunc and
array function called with one back to it (``__array_ufunc__``,
``__array_function__``), so the very code that computes a gradient — an op's
hand rule, a derived einsum, a dense contraction — runs on shapes alone and
leaves in its :class:`Tally` what it would have cost. Nothing is allocated,
so a program far too large to run can still be priced, and what is counted
is what runs.

FLOPs follow one convention everywhere:

* an elementwise ufunc does one per output entry (``+``, ``exp`` and ``>``
  alike);
* a reduction (``sum``, ``max``) does one per input entry;
* a contraction (``@``, einsum, ``outer``) does, for each pairwise step, the
  size of its index space, twice when an index is summed (a multiply and an
  add): ``X @ W`` with X n×m and W m×p costs 2·n·m·p, as in opt_einsum; a
  one-operand step costs its size when it sums and nothing when it only
  transposes or takes a diagonal (a view);
* copies, views and new arrays cost no FLOPs.

Bytes: an array that owns its data is counted from its creation until Python
frees it (CPython frees an object as soon as its last reference goes), so the
tally's ``peak`` is the most a program holds at once. Views own nothing.

An operation this module does not know raises ``TypeError`` naming it, never
a made-up count.
"""
import math
from functools import lru_cache

import numpy as np
import opt_einsum


class Tally:
    """What a program run on :class:`Shaped` arrays did: FLOPs, and bytes held.

    Attributes
    ----------
    flops : int
        Arithmetic done so far (see the module's convention).
    live : int
        Bytes held now by arrays that own their data.
    peak : int
        The most bytes held at any one time.

    Examples
    --------
    >>> tally = Tally()
    >>> X, W = tally.array((4, 3)), tally.array((3, 2))
    >>> H = X @ W
    >>> H.shape, tally.flops, tally.live
    ((4, 2), 48, 208)
    """

    def __init__(self):
        self.flops = 0
        self.live = 0
        self.peak = 0

    def array(self, shape, held=True):
        """A new float64 array of ``shape``, held from now on.

        With ``held=False`` the array is the caller's (a function's input):
        it is not counted among the bytes the program holds.
        """
        return Shaped(shape, self, held=held)

    def allocate(self, nbytes):
        self.live += nbytes
        self.peak = max(self.peak, self.live)

    def free(self, nbytes):
        self.live -= nbytes

    def transient(self, nbytes):
        """Bytes held only for a moment, inside one operation (an einsum's intermediates)."""
        self.peak = max(self.peak, self.live + nbytes)

    def __repr__(self):
        return f"Tally(flops={self.flops:,}, live={self.live:,} B, peak={self.peak:,} B)"


class _Flags:
    __slots__ = ("c_contiguous", "writeable")

    def __init__(self, c_contiguous, writeable):
        self.c_contiguous, self.writeable = c_contiguous, writeable


def _size(shape):
    return math.prod(shape)


class Shaped:
    """An array with a shape and no values; NumPy calls on it are counted, not computed.

    Parameters
    ----------
    shape : tuple of int
    tally : Tally
        Where the FLOPs and bytes of every operation on it go.
    dtype : numpy dtype
        float64 unless made otherwise (a comparison makes booleans).
    base : Shaped, optional
        The array whose data a view shares; None for an array that owns its data.
    held : bool
        Whether its bytes count as the program's (False for the caller's own).
    """

    __slots__ = ("shape", "dtype", "base", "tally", "flags", "held")
    __array_priority__ = 100

    def __init__(self, shape, tally, dtype=np.float64, base=None, contiguous=True,
                 writeable=True, held=True):
        self.shape = tuple(int(n) for n in shape)
        if any(n < 0 for n in self.shape):
            raise ValueError(f"negative dimensions are not allowed: {self.shape}")
        self.dtype, self.base, self.tally = np.dtype(dtype), base, tally
        self.flags = _Flags(contiguous, writeable)
        self.held = held and base is None
        if self.held:
            tally.allocate(self.nbytes)

    def __del__(self):
        if self.held:
            self.tally.free(self.nbytes)

    # --- what an array tells about itself -----------------------------------
    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return _size(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self):
        return f"Shaped({self.shape})"

    def __array__(self, *args, **kwargs):
        raise TypeError("a Shaped array has a shape and no values; it cannot become an ndarray")

    def __bool__(self):
        raise TypeError("a Shaped array has no values, so it is neither true nor false")

    # --- making arrays and views --------------------------------------------
    def _new(self, shape, flops=0, dtype=np.float64):
        self.tally.flops += flops
        return Shaped(shape, self.tally, dtype)

    def _view(self, shape, contiguous=False, writeable=None):
        owner = _owner(self)
        writeable = self.flags.writeable if writeable is None else writeable
        return Shaped(shape, self.tally, self.dtype, owner, contiguous, writeable)

    def copy(self, order="C"):
        return self._new(self.shape, dtype=self.dtype)

    def astype(self, dtype, copy=True):
        return self._new(self.shape, dtype=dtype)

    @property
    def T(self):
        return self.transpose()

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]  # one sequence of axes, or None
        if axes is None or len(axes) == 0:
            axes = tuple(range(self.ndim))[::-1]
        axes = tuple(_axis(a, self.ndim) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"axes {axes} do not match an array of shape {self.shape}")
        moved = axes != tuple(range(self.ndim))
        return self._view(tuple(self.shape[a] for a in axes),
                          contiguous=self.flags.c_contiguous and not moved)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        shape = _reshaped(self.shape, shape)
        if self.flags.c_contiguous:
            return self._view(shape, contiguous=True)
        return self._new(shape)  # NumPy copies what it cannot view

    def ravel(self):
        return self.reshape(-1)

    def __getitem__(self, index):
        try:
            return self._view(_basic_index(self.shape, index))
        except TypeError:  # integer arrays or masks: NumPy copies what they pick
            return self._new(_advanced_index(self.shape, index), dtype=self.dtype)

    # --- reductions -----------------------------------------------------------
    def _reduce(self, axis=None, keepdims=False, out=None, **unsupported):
        _refuse(unsupported, out=out)
        return self._new(_reduced(self.shape, axis, keepdims), flops=self.size)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        return self._reduce(axis, keepdims, out, **unsupported)

    def max(self, axis=None, out=None, keepdims=False, **unsupported):
        return self._reduce(axis, keepdims, out, **unsupported)

    def min(self, axis=None, out=None, keepdims=False, **unsupported):
        return self._reduce(axis, keepdims, out, **unsupported)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
        total = self._reduce(axis, keepdims, out, **unsupported)
        total.tally.flops += total.size  # the division by the count, in place
        return total

    def any(self, *args, **kwargs):
        raise TypeError("a Shaped array has no values, so any() has no answer")

    all = any

    # --- arithmetic, through the ufuncs ---------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if any(_foreign(type(x)) for x in inputs):
            return NotImplemented  # another array type (a traced value) handles the call
        tally = next(x.tally for x in inputs + (out or ()) if isinstance(x, Shaped))
        if method == "reduce":
            (x,) = inputs
            return x._reduce(out=out, **kwargs)
        _refuse(kwargs)
        shapes = [x.shape if isinstance(x, Shaped) else np.shape(x) for x in inputs]
        if method == "__call__" and ufunc is np.matmul:
            shape, flops = _matmul(*shapes)
        elif method == "__call__" and ufunc.nout == 1:
            shape = np.broadcast_shapes(*shapes)
            flops = _size(shape)
        elif method == "outer":
            shape = shapes[0] + shapes[1]
            flops = _size(shape)
        else:
            raise TypeError(f"Shaped arrays count {ufunc.__name__}.{method} nowhere; "
                            f"they know elementwise ufuncs, reduce, outer and matmul")
        # The result's dtype by NumPy's own rules: Python's numbers are weak.
        dtypes = tuple(x.dtype if hasattr(x, "dtype") else type(x) for x in inputs)
        dtype = ufunc.resolve_dtypes(dtypes + (None,))[-1]
        tally.flops += flops
        if out is None:
            return Shaped(shape, tally, dtype)
        (target,) = out
        _writable(target, ufunc.__name__)
        if np.broadcast_shapes(shape, target.shape) != target.shape:
            raise ValueError(f"{ufunc.__name__}: a result of shape {shape} cannot be written "
                             f"into one of shape {target.shape}")
        return target

    def __array_function__(self, func, types, args, kwargs):
        if any(_foreign(t) for t in types):
            return NotImplemented
        if func in _CREATORS:  # np.zeros(shape, like=self): NumPy passes ``like`` on as self
            return _CREATORS[func](self, *args, **kwargs)
        handler = _HANDLERS.get(func)
        if handler is None:
            known = sorted("np." + f.__name__ for f in (*_HANDLERS, *_CREATORS))
            raise TypeError(f"Shaped arrays cannot count np.{func.__name__}; they know "
                            f"{', '.join(known)}")
        return handler(*args, **kwargs)

    def __add__(self, other): return np.add(self, other)
    def __radd__(self, other): return np.add(other, self)
    def __sub__(self, other): return np.subtract(self, other)
    def __rsub__(self, other): return np.subtract(other, self)
    def __mul__(self, other): return np.multiply(self, other)
    def __rmul__(self, other): return np.multiply(other, self)
    def __truediv__(self, other): return np.true_divide(self, other)
    def __rtruediv__(self, other): return np.true_divide(other, self)
    def __pow__(self, other): return np.power(self, other)
    def __rpow__(self, other): return np.power(other, self)
    def __matmul__(self, other): return np.matmul(self, other)
    def __rmatmul__(self, other): return np.matmul(other, self)
    def __eq__(self, other): return np.equal(self, other)
    def __ne__(self, other): return np.not_equal(self, other)
    __hash__ = None
    def __neg__(self): return np.negative(self)
    def __abs__(self): return np.absolute(self)
    def __gt__(self, other): return np.greater(self, other)
    def __ge__(self, other): return np.greater_equal(self, other)
    def __lt__(self, other): return np.less(self, other)
    def __le__(self, other): return np.less_equal(self, other)
    def __iadd__(self, other): return np.add(self, other, out=(self,))
    def __isub__(self, other): return np.subtract(self, other, out=(self,))
    def __imul__(self, other): return np.multiply(self, other, out=(self,))


def _foreign(cls):
    """Whether ``cls`` is an array type of its own that speaks NumPy (not ndarray, not Shaped).

    A call mixing it with Shaped arrays is left to it: a value traced on
    shapes must be recorded by the tracer, not counted away as a constant.
    """
    return hasattr(cls, "__array_function__") and not issubclass(cls, (Shaped, np.ndarray,
                                                                        np.generic))


def _refuse(unsupported, out=None):
    """Raise TypeError for arguments a Shaped operation cannot honour, rather than ignore them."""
    given = {k: v for k, v in unsupported.items() if v is not None and k not in ("dtype",)}
    if out is not None:
        given["out"] = out
    if given:
        raise TypeError(f"Shaped arrays cannot count an operation given "
                        f"{', '.join(sorted(given))}; call it without")


def _writable(array, what):
    if not array.flags.writeable:
        raise ValueError(f"{what}: output array is read-only")


def _axis(axis, ndim):
    """``axis`` counted from 0, or NumPy's AxisError."""
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return int(axis) % ndim


def _reshaped(shape, new):
    """``new`` with its one ``-1`` resolved, as NumPy would, or ValueError."""
    new = (new,) if isinstance(new, (int, np.integer)) else tuple(int(n) for n in new)
    size, known = _size(shape), _size(n for n in new if n != -1)
    if new.count(-1) > 1 or (-1 in new and (known == 0 or size % known)) or \
            (-1 not in new and known != size):
        raise ValueError(f"cannot reshape an array of shape {shape} into shape {new}")
    return tuple(size // known if n == -1 else n for n in new)


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(_axis(a, ndim) for a in axes))


def _reduced(shape, axis, keepdims):
    axes = _axes(axis, len(shape))
    if keepdims:
        return tuple(1 if k in axes else n for k, n in enumerate(shape))
    return tuple(n for k, n in enumerate(shape) if k not in axes)


def _basic_index(shape, index):
    """The shape of ``a[index]`` for basic indices: ints, slices, None and ``...``."""
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (bool, np.bool_)) or
           not isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis)))
           for i in index):
        raise TypeError("Shaped arrays take basic indices only (ints, slices, None, ...)")
    if index.count(Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > len(shape):
        raise IndexError(f"too many indices for an array of {len(shape)} dimensions")
    rest = (slice(None),) * (len(shape) - used)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + rest + index[k + 1:]
    else:
        index = index + rest
    out, axis = [], 0
    for i in index:
        if i is None:
            out.append(1)
            continue
        if isinstance(i, slice):
            out.append(len(range(*i.indices(shape[axis]))))
        elif not -shape[axis] <= i < shape[axis]:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size "
                             f"{shape[axis]}")
        axis += 1
    return tuple(out)


def stand_in(shape):
    """An array of ``shape`` that holds no memory: asks NumPy what it makes of a shape."""
    return np.broadcast_to(np.zeros((), np.bool_), shape)


def _advanced_index(shape, index):
    """The shape of ``a[index]`` for any NumPy index, found on a stand-in of ``a``."""
    if any(isinstance(i, Shaped) for i in (index if isinstance(index, tuple) else (index,))):
        raise TypeError("Shaped arrays cannot be indexed by an array without values")
    return stand_in(shape)[index].shape


def _joined(arrays, axis=0, out=None, dtype=None, casting="same_kind", new_axis=False):
    """``np.concatenate`` or ``np.stack``: a new array, no arithmetic."""
    _refuse({}, out=out)
    shaped = next(a for a in arrays if isinstance(a, Shaped))
    join = np.stack if new_axis else np.concatenate
    return shaped._new(join([stand_in(np.shape(a)) for a in arrays], axis=axis).shape)


def _bincount(x, weights=None, minlength=0):
    """``np.bincount(x, weights)``: one add per index.

    Indices without values (a Shaped ``x``) are taken to stay below
    ``minlength``, which is then the number of bins.
    """
    if weights is None or (isinstance(x, Shaped) and not minlength):
        raise TypeError("Shaped arrays count a bincount with Shaped weights, of known indices "
                        "or of indices below a given minlength")
    length = minlength if isinstance(x, Shaped) else max(int(np.max(x, initial=-1)) + 1,
                                                          minlength)
    return weights._new((length,), flops=len(x))


def _matmul(a, b):
    """Shape and FLOPs of ``a @ b`` for the shapes ``a`` and ``b`` (vectors included)."""
    if not a or not b:
        raise ValueError("matmul: a scalar is not a matrix; use * instead")
    x, y = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    if x[-1] != y[-2]:
        raise ValueError(f"matmul: shapes {a} and {b} do not fit: {x[-1]} ≠ {y[-2]}")
    batch = np.broadcast_shapes(x[:-2], y[:-2])
    shape = batch + (x[-2],) * (len(a) > 1) + (y[-1],) * (len(b) > 1)
    return shape, 2 * _size(batch) * x[-2] * x[-1] * y[-1]


@lru_cache(maxsize=4096)
def einsum_cost(spec, shapes, path=None):
    """FLOPs, the largest intermediate (in entries) and the result shape of an einsum.

    Parameters
    ----------
    spec : str
        An explicit einsum, ``"ab,bc->ac"``.
    shapes : tuple of tuple of int
    path : tuple of tuple of int, optional
        The pairwise order, as opt_einsum writes it; the one opt_einsum's
        ``"auto"`` finds when None (no search for one or two operands).

    Examples
    --------
    >>> einsum_cost("ad,ac->cd", ((4, 2), (4, 3)))
    (48, 0, (3, 2))
    >>> einsum_cost("ab->b", ((4, 2),))[0]
    8
    """
    optimize = list(path) if path is not None else "auto"
    _, info = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=optimize)
    sizes = info.size_dict
    flops, largest = 0, 0
    steps = info.contraction_list
    for k, (_, removed, step, _, _) in enumerate(steps):
        inputs, result = step.split("->")
        operands = inputs.split(",")
        space = _size(sizes[x] for x in set(inputs) - {","})
        flops += space * (len(operands) - 1) + (space if removed else 0)
        if k < len(steps) - 1:  # the last step makes the result itself
            largest = max(largest, _size(sizes[x] for x in result))
    result = spec.split("->")[1]
    return flops, largest, tuple(sizes[x] for x in result)


def contract_shaped(spec, operands, path=None):
    """An einsum of operands, some of them :class:`Shaped`: its result, counted."""
    tally = next(x.tally for x in operands if isinstance(x, Shaped))
    shapes = tuple(tuple(np.shape(x)) for x in operands)
    flops, largest, shape = einsum_cost(spec, shapes, path)
    inputs, result = spec.split("->")
    if len(operands) == 1 and set(inputs) == set(result):
        # NumPy's einsum makes a view when nothing is summed: a transpose or a diagonal.
        return operands[0]._view(shape, contiguous=inputs == result)
    tally.transient(8 * largest)
    tally.flops += flops
    return Shaped(shape, tally)


# --- array functions ---------------------------------------------------------------
def _like_shape(shape):
    return (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)


def _make(like, shape, dtype=None, *args, **kwargs):
    """A new array of ``shape`` in the tally of ``like``."""
    return Shaped(_like_shape(shape), like.tally, dtype or np.float64)


def _broadcast_to(array, shape, subok=False):
    # A view that repeats entries, read-only as in NumPy.
    shape = _like_shape(shape)
    if np.broadcast_shapes(array.shape, shape) != shape:
        raise ValueError(f"cannot broadcast shape {array.shape} to {shape}")
    return array._view(shape, writeable=False)


def _expand_dims(array, axis):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    ndim = array.ndim + len(axes)
    axes = {_axis(a, ndim) for a in axes}
    dims = iter(array.shape)
    return array._view(tuple(1 if k in axes else next(dims) for k in range(ndim)),
                       contiguous=array.flags.c_contiguous)


def _copyto(dst, src, casting="same_kind", where=True):
    _writable(dst, "copyto")
    shape = np.shape(src) if not isinstance(src, Shaped) else src.shape
    if np.broadcast_shapes(shape, dst.shape) != dst.shape:
        raise ValueError(f"could not broadcast shape {shape} into {dst.shape}")


def _where(condition, x=None, y=None):
    """``np.where(condition, x, y)``: a new array, each entry picked from x or y, no arithmetic."""
    if x is None or y is None:
        raise TypeError("Shaped arrays count np.where(condition, x, y), with all three")
    arrays = (condition, x, y)
    like = next(a for a in arrays if isinstance(a, Shaped))
    dtype = np.result_type(*(a.dtype if hasattr(a, "dtype") else a for a in (x, y)))
    return like._new(np.broadcast_shapes(*(np.shape(a) for a in arrays)), dtype=dtype)


def _owner(a):
    return a if a.base is None else a.base


def _may_share_memory(a, b, max_work=None):
    if not (isinstance(a, Shaped) and isinstance(b, Shaped)):
        return False
    return _owner(a) is _owner(b)


def _outer(a, b, out=None):
    return np.multiply.outer(a.ravel() if isinstance(a, Shaped) else np.ravel(a),
                             b.ravel() if isinstance(b, Shaped) else np.ravel(b))


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if a.ndim != 2 or (axis1, axis2) != (0, 1) or out is not None:
        raise TypeError("Shaped arrays count the trace of a matrix only, over its own axes")
    rows, cols = a.shape
    length = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    return a._new((), flops=length)


def _tensordot(a, b, axes=2):
    if not isinstance(axes, (int, np.integer)):
        raise TypeError("Shaped arrays count np.tensordot over a number of axes only")
    a_shape, b_shape = np.shape(a), np.shape(b)
    if a_shape[len(a_shape) - axes:] != b_shape[:axes]:
        raise ValueError(f"tensordot: shapes {a_shape} and {b_shape} do not fit over {axes} axes")
    shape = a_shape[:len(a_shape) - axes] + b_shape[axes:]
    space = _size(a_shape) * _size(b_shape[axes:])
    like = a if isinstance(a, Shaped) else b
    return like._new(shape, flops=space * (2 if axes else 1))


def _einsum(spec, *operands, **kwargs):
    if not isinstance(spec, str) or "->" not in spec:
        raise TypeError("Shaped arrays count an einsum written with its output: 'ab,bc->ac'")
    _refuse({k: v for k, v in kwargs.items() if k != "optimize"})
    return contract_shaped(spec, operands)


def _reduction(name):
    """``np.sum(a, ...)`` and its kind, passed on to the method with NumPy's own signature."""
    def reduce(a, *args, **kwargs):
        return getattr(a, name)(*args, **kwargs)
    return reduce


# Functions that make a new array, called with ``like=`` a Shaped array.
_CREATORS = {
    np.zeros: _make, np.ones: _make, np.empty: _make,
    np.eye: lambda like, N, M=None, k=0, dtype=float, *args, **kwargs:
        _make(like, (N, N if M is None else M), dtype),
}

_HANDLERS = {
    np.zeros_like: lambda a, dtype=None, *args, **kwargs: _make(a, a.shape, dtype),
    np.ones_like: lambda a, dtype=None, *args, **kwargs: _make(a, a.shape, dtype),
    np.empty_like: lambda a, dtype=None, *args, **kwargs: _make(a, a.shape, dtype),
    np.full_like: lambda a, fill_value, dtype=None, *args, **kwargs: _make(a, a.shape, dtype),
    np.copy: lambda a, *args, **kwargs: a.copy(),
    np.shape: lambda a: a.shape,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.transpose: lambda a, axes=None: a.transpose(axes),
    np.reshape: lambda a, shape=None, *args, newshape=None, order="C", **kw:
        a.reshape(newshape if shape is None else shape),
    np.ravel: lambda a, order="C": a.ravel(),
    np.broadcast_to: _broadcast_to,
    np.expand_dims: _expand_dims,
    np.copyto: _copyto,
    np.where: _where,
    np.may_share_memory: _may_share_memory,
    np.shares_memory: _may_share_memory,
    np.outer: _outer,
    np.trace: _trace,
    np.einsum: _einsum,
    np.bincount: _bincount,
    np.concatenate: _joined,
    np.stack: lambda arrays, axis=0, out=None, **kwargs: _joined(arrays, axis, out,
                                                                 new_axis=True),
    np.tensordot: _tensordot,
    np.sum: _reduction("sum"),
    np.mean: _reduction("mean"),
    np.max: _reduction("max"),
    np.min: _reduction("min"),
}
