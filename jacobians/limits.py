"""The memory limit that keeps a dense Jacobian from being built by accident.

A 4th-order Jacobian grows as the fourth power of the layer width: at
n = m = p = 200, ∂H/∂W of ``H = X W`` already needs 12.8 GB. Every place that
materialises a Jacobian — an op's, a naive chain's (all it holds at its
peak), a finite-difference one — asks :func:`check_fits` or
:func:`check_bytes` first, so an oversized request is refused with a message
*before* any memory is allocated.
"""
import math
from contextlib import contextmanager

import numpy as np

_limit_bytes = 1 << 30  # 1 GiB


class JacobianTooLarge(MemoryError):
    """A dense Jacobian would exceed the memory limit; nothing was allocated."""


def get_memory_limit():
    """Return the largest dense Jacobian, in bytes, that may be materialised."""
    return _limit_bytes


def set_memory_limit(nbytes):
    """Set the memory limit in bytes and return the previous one.

    Parameters
    ----------
    nbytes : int
        The new limit; must be positive.
    """
    global _limit_bytes
    if not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
        raise ValueError(f"the memory limit must be a positive number of bytes, got {nbytes!r}")
    previous, _limit_bytes = _limit_bytes, int(nbytes)
    return previous


@contextmanager
def memory_limit(nbytes):
    """Temporarily change the memory limit inside a ``with`` block.

    >>> import jacobians as jac
    >>> with jac.memory_limit(2**20):
    ...     jac.get_memory_limit()
    1048576
    """
    previous = set_memory_limit(nbytes)
    try:
        yield
    finally:
        set_memory_limit(previous)


def format_bytes(nbytes):
    """Write a byte count the way a person reads it, in powers of 1024.

    >>> format_bytes(1 << 30), format_bytes(134217728), format_bytes(936)
    ('1.0 GiB', '128.0 MiB', '936 B')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def check_fits(shape, what, instead, itemsize=8):
    """Refuse, before allocating, a dense array of ``shape`` over the limit.

    Parameters
    ----------
    shape : tuple of int
        Shape of the array about to be allocated.
    what : str
        What the array is, e.g. ``"∂H/∂W of matmul"``.
    instead : str
        The call that gets the wanted result without the array.
    itemsize : int
        Bytes per entry (float64 by default).

    Raises
    ------
    JacobianTooLarge
        If ``prod(shape) * itemsize`` exceeds :func:`get_memory_limit`.
    """
    nbytes = math.prod(shape) * itemsize  # exact Python ints: no overflow for huge shapes
    check_bytes(nbytes, f"{what} would have shape {tuple(shape)} and", instead)


def check_bytes(nbytes, what, instead):
    """Refuse, before allocating, ``nbytes`` over the limit (see :func:`check_fits`).

    ``what`` starts the sentence: ``"the naive chain would"``.
    """
    if nbytes > _limit_bytes:
        raise JacobianTooLarge(
            f"{what} take {format_bytes(nbytes)} ({nbytes} bytes), over the memory limit "
            f"of {format_bytes(_limit_bytes)}; {instead} gives the result without building "
            f"it, or raise the limit with jac.set_memory_limit(nbytes)."
        )
