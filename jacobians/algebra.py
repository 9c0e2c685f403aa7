"""Reading a small einsum as the matrix algebra it is.

After delta elimination, most steps of a backprop program are einsums of
one or two operands of order ≤ 2: ``'ad,ac->cd'`` is ``Xᵀ g``, ``'c,d->cd'``
is ``g vᵀ``, ``'cd,cd->cd'`` is ``g ⊙ σ'(Z)``. :func:`read` recognises those
shapes; a :class:`Reading` both prints the formula a textbook would write
and computes it the way NumPy would (a BLAS product on transposed views, no
copies): every contraction the library runs that reads as matrix algebra is
computed this way (:func:`jacobians.contract.contract`), so a derived
program runs as fast as hand-written code.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


def is_compound(name):
    """Whether a printed name needs parentheses before a subscript or a ᵀ: ``y/p``."""
    wrapped = name.startswith("(") and name.endswith(")")
    return not wrapped and any(ch in name for ch in " /+−-*^⊙·")


@dataclass(frozen=True)
class Reading:
    """An einsum recognised as matrix algebra.

    Attributes
    ----------
    kind : str
        ``"copy"``, ``"sum"``, ``"scale"``, ``"hadamard"``, ``"outer"`` or
        ``"product"``.
    order : tuple of int
        The operands in the order they are written.
    transposed : tuple of bool
        Whether each written operand carries a ``ᵀ``.
    summed : tuple of int
        For ``"sum"``: the axes summed over.
    summed_labels : str
        Their index labels, as the formula prints them: ``Σ_a``.
    """

    kind: str
    order: tuple
    transposed: tuple = (False, False)
    summed: tuple = ()
    summed_labels: str = ""

    def text(self, names, sign=1):
        """The formula, e.g. ``"Xᵀ g"``, with ``names`` of the operands in spec order."""
        shown = []
        for k, t in zip(self.order, self.transposed):
            n = f"({names[k]})" if is_compound(names[k]) else names[k]
            shown.append(f"{n}ᵀ" if t else n)
        minus = "−" if sign < 0 else ""
        if self.kind == "sum":
            return f"{minus}Σ_{self.summed_labels} {shown[0]}"
        return minus + (" ⊙ " if self.kind == "hadamard" else " ").join(shown)

    def __call__(self, *arrays):
        """Compute the einsum the way the formula reads."""
        a = [arrays[k].T if t else arrays[k] for k, t in zip(self.order, self.transposed)]
        if self.kind == "copy":
            return a[0]
        if self.kind == "sum":
            return a[0].sum(axis=self.summed)
        if self.kind in ("scale", "hadamard"):
            return a[0] * a[1]
        if self.kind == "outer":
            return np.multiply.outer(a[0], a[1])
        return np.matmul(a[0], a[1])


@lru_cache(maxsize=1024)
def read(spec):
    """Recognise ``spec`` as matrix algebra, or return ``None`` (cached: programs reuse specs).

    >>> read("ad,ac->cd").text(["g", "X"])
    'Xᵀ g'
    >>> read("c,d->cd").text(["g", "v"])
    'g vᵀ'
    >>> read("cd,cd->cd").text(["g", "σ'(Z)"])
    "g ⊙ σ'(Z)"
    >>> read("a,a,c->c") is None
    True
    """
    inputs, out = spec.split("->")
    labels = inputs.split(",")
    if len(labels) > 2 or len(out) > 2 or any(len(set(x)) != len(x) or len(x) > 2 for x in labels):
        return None
    if len(labels) == 1:
        return _read_one(labels[0], out)
    a, b = labels
    if not a or not b:  # a scalar times something; of two scalars the constant goes first
        scalar, other = (1, 0) if not b else (0, 1)
        inner = _read_one(labels[other], out)
        if inner is None or inner.kind != "copy":
            return None
        return Reading("scale", (scalar, other), (False, inner.transposed[0]))
    if a == b == out:
        return Reading("hadamard", (0, 1))
    if len(a) == len(b) == 1 and len(out) == 2 and {a + b, b + a} & {out}:
        return Reading("outer", (0, 1) if a == out[0] else (1, 0), (False, True))
    return _read_product(a, b, out)


def _read_one(a, out):
    if a == out:
        return Reading("copy", (0,))
    if len(a) == 2 and a[::-1] == out:
        return Reading("copy", (0,), (True,))
    kept = "".join(x for x in a if x in out)
    if kept == out and len(kept) < len(a):
        return Reading("sum", (0,), (False,), tuple(k for k, x in enumerate(a) if x not in out),
                       "".join(x for x in a if x not in out))
    return None


def _read_product(a, b, out):
    """``left @ right`` with one index summed; each side a matrix or a vector."""
    summed = (set(a) | set(b)) - set(out)
    if len(summed) != 1:
        return None
    k = summed.pop()
    if k not in a or k not in b:
        return None
    free = {0: a.replace(k, ""), 1: b.replace(k, "")}
    # The operand carrying the output's first index is written on the left.
    order = (0, 1) if free[0] + free[1] == out else (1, 0) if free[1] + free[0] == out else None
    if order is None:
        return None
    left, right = (a, b) if order == (0, 1) else (b, a)
    if len(out) == 1 and len(left) == 1:
        # A vector result is written as a column: matrix times vector, Wᵀ g not gᵀ W.
        order, left, right = order[::-1], right, left
        return Reading("product", order, (left[0] == k, False))
    # A matrix is transposed when its summed index is on the wrong side; a
    # vector needs no mark (on the left it acts as a row, on the right as a column).
    return Reading("product", order, (len(left) == 2 and left[0] == k,
                                      len(right) == 2 and right[1] == k))
