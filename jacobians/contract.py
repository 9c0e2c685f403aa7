"""Every einsum the library runs, planned once per spec and shapes.

A derived VJP's einsum after its deltas are eliminated, a dense local
Jacobian contracted with an accumulated one, a path's whole product in the
naive chain: all go through :func:`contract`. An einsum that reads as matrix
algebra (``Xᵀ g``, ``g ⊙ σ'``, ``g vᵀ``: :func:`jacobians.algebra.read`) is
computed as such, with NumPy's own operations, and one that is a plain
``np.tensordot`` (the naive chain's products) as that; any other has its pairwise
order searched once per spec and shapes and kept in a prepared opt_einsum
expression. On :class:`~jacobians.abstract.Shaped` operands both count the
contraction instead of computing it.
"""
from functools import lru_cache

import numpy as np
import opt_einsum

from .abstract import Shaped, contract_shaped
from .algebra import read


@lru_cache(maxsize=4096)
def _tensordot(spec):
    """How many axes ``spec`` sums, when it is a plain ``np.tensordot``; else None.

    That is two operands whose shared labels end the first and begin the
    second, with the other labels kept in order: ``'ab,bcd->acd'`` sums one.
    The naive chain's every product has this form.
    """
    inputs, out = spec.split("->")
    if inputs.count(",") != 1:
        return None
    a, b = inputs.split(",")
    shared = len(set(a) & set(b))
    if shared and a[len(a) - shared:] == b[:shared] and a[:len(a) - shared] + b[shared:] == out \
            and len(set(a + b)) == len(a) + len(b) - shared:
        return shared
    return None


@lru_cache(maxsize=4096)
def _expression(spec, shapes, path):
    optimize = list(path) if path is not None else "auto"
    return opt_einsum.contract_expression(spec, *shapes, optimize=optimize)


def contract(spec, *operands, path=None):
    """``einsum(spec, *operands)`` as a new array (0-d for a scalar).

    Parameters
    ----------
    spec : str
        An explicit einsum, ``"ad,ac->cd"``.
    *operands : ndarray or Shaped
    path : tuple of tuple of int, optional
        The pairwise order; opt_einsum's ``"auto"`` choice when None.

    Examples
    --------
    >>> contract("ad,ac->cd", np.ones((4, 2)), np.ones((4, 3))).shape
    (3, 2)
    """
    reading = read(spec) if path is None else None
    summed = _tensordot(spec) if path is None and reading is None else None
    if reading is not None:
        result = reading(*operands)
    elif summed is not None:
        result = np.tensordot(*operands, axes=summed)
    elif any(isinstance(x, Shaped) for x in operands):
        return contract_shaped(spec, operands, path)
    else:
        # NumPy's backend by name: opt_einsum would guess it from the arrays' module.
        expression = _expression(spec, tuple(x.shape for x in operands), path)
        result = expression(*operands, backend="numpy")
    return result if hasattr(result, "__array_function__") else np.asarray(result)
