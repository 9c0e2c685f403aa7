"""The two rules every array entering or leaving the library follows.

In: real numbers as float64 (integers converted), never NaN or infinite —
a derivative there is undefined, and a silent NaN is a wrong answer.
Out: a result never shares memory with what the caller passed in.

:class:`~jacobians.abstract.Shaped` arrays, which have a shape and no
values, pass both rules untouched: there is nothing in them to check or copy.
"""
import numpy as np

from .abstract import Shaped


def as_float_array(x, where):
    """``x`` as a float64 array: integers are converted, anything else refused.

    Parameters
    ----------
    x : array_like
    where : str
        What ``x`` is, for the message: ``"matmul: argument X"``.

    Raises
    ------
    TypeError
        For complex, object or string data.
    ValueError
        For NaN or infinite entries.
    """
    if isinstance(x, Shaped):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    elif a.dtype.kind != "f":
        raise TypeError(f"{where} must hold real numbers, got dtype {a.dtype}")
    elif a.dtype != np.float64:
        a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{where} has NaN or infinite entries; derivatives there are undefined")
    return a


def fresh(result, inputs):
    """``result`` as an array sharing no memory with ``inputs``.

    Views (a transpose, a reshape) are copied so that a caller who writes
    into a result never changes an argument, and the other way round.
    """
    if isinstance(result, Shaped):
        return result
    result = np.asarray(result, dtype=np.float64)
    if any(np.may_share_memory(result, a) for a in inputs) or not result.flags.writeable:
        return result.copy()
    return result


def is_traced(x):
    """Whether ``x`` is a value being traced into a graph (it takes over op calls)."""
    return hasattr(type(x), "__jac_apply__")


def kind(*arrays):
    """What new arrays are made ``like=``: the first of ``arrays`` that speaks NumPy
    without being a plain ndarray (a Shaped array, an ndarray subclass), or None
    for NumPy's own.

    >>> kind(np.ones(2), np.float64(1.0)) is None
    True
    """
    for a in arrays:
        if type(a) is not np.ndarray and hasattr(a, "__array_function__"):
            return a
    return None


def owned(result, taken):
    """``result``, or a copy of it when it is a view or an array in ``taken``.

    The check that :func:`fresh` makes against every input, in O(1) for
    many results at once: an array that owns its memory shares it with no
    other array, so only views and the very arrays in ``taken`` (a dict or
    set of ``id`` numbers: the caller's inputs, the results handed out already)
    need a copy.
    """
    if is_traced(result):
        return result  # a value of an enclosing trace is never written into
    if not hasattr(result, "__array_function__"):
        result = np.asarray(result, dtype=np.float64)
    if result.base is not None or id(result) in taken or not result.flags.writeable:
        return result.copy()
    return result
