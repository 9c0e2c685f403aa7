"""The two rules every array entering or leaving the library follows.

In: real numbers as float64 (integers converted), never NaN or infinite —
a derivative there is undefined, and a silent NaN is a wrong answer.
Out: a result never shares memory with what the caller passed in.
"""
import numpy as np


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
    result = np.asarray(result, dtype=np.float64)
    if any(np.may_share_memory(result, a) for a in inputs) or not result.flags.writeable:
        return result.copy()
    return result
