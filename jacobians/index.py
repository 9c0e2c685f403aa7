"""Jacobians stated once, in index notation.

A Jacobian ``∂out/∂in`` is written as a sum of *terms*. A term is a sign and a
product of *factors* (coefficient arrays carrying index labels) and Kronecker
*deltas* that tie two labels together::

    ∂H_ab/∂W_cd = X_ac δ_bd              (H = X W)
    ∂s_a/∂x_c   = s_a δ_ac − s_a s_c     (s = softmax(x))

Output axes carry the labels ``a b …`` and input axes ``c d …``. Everything a
learner sees is computed from that one statement:

* :meth:`Derivative.materialise` writes the dense array of shape
  ``out.shape + in.shape``: zeros, then the coefficients along the diagonals
  that the deltas tie together (a strided view, no loop over entries);
* :meth:`Derivative.vjp` and :meth:`Derivative.jvp` contract a cotangent
  ``g`` (over the output labels) or a tangent ``t`` (over the input labels)
  after *eliminating each delta by renaming* one of its labels to the other:
  ``g_ab X_ac δ_bd → g_ad X_ac``, which is ``(Xᵀ g)_cd``;
* :meth:`Derivative.nnz` counts the entries that can be nonzero — where the
  deltas hold and no coefficient is zero — without materialising anything;
* ``str()`` and ``_repr_latex_`` print the formula.
"""
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations

import numpy as np
import opt_einsum

from .arrays import as_float_array
from .limits import check_fits

# Output and input labels for Jacobians of arrays of order ≤ 2, as in the
# lectures: ∂H_ab/∂W_cd. When a name would read like a label (a layer's
# activation "a3"), the next pair of pairs is used instead. Higher orders
# take consecutive letters.
_PAIRS = (("ab", "cd"), ("ij", "kl"), ("pq", "rs"))
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def labels_for(out_ndim, in_ndim, avoid=()):
    """Index labels for the output and input axes of a Jacobian.

    Parameters
    ----------
    out_ndim, in_ndim : int
    avoid : iterable of str
        Printed names; a label that a name could be read as (``a``, ``a3``,
        ``b′``) is avoided, so ``∂a3/∂z3`` is not written ``∂a3_a/∂z3_c``.

    >>> labels_for(2, 2)
    ('ab', 'cd')
    >>> labels_for(0, 1)
    ('', 'c')
    >>> labels_for(1, 1, avoid=("z3", "a3"))
    ('i', 'k')
    >>> labels_for(3, 3)
    ('abc', 'def')
    """
    if out_ndim <= 2 and in_ndim <= 2:
        # A name reads like a label when it is one letter, perhaps with digits or primes.
        taken = {name[:1] for name in avoid if name[1:].strip("0123456789'′") == ""}
        for out, inp in _PAIRS:
            if not taken & set(out[:out_ndim] + inp[:in_ndim]):
                return out[:out_ndim], inp[:in_ndim]
        return _PAIRS[0][0][:out_ndim], _PAIRS[0][1][:in_ndim]
    if out_ndim + in_ndim > len(_LETTERS):
        raise ValueError(f"a Jacobian of order {out_ndim + in_ndim} has more axes than labels")
    return _LETTERS[:out_ndim], _LETTERS[out_ndim:out_ndim + in_ndim]


# Characters the plain-text formulas use, and how LaTeX writes them.
_TEX = (("ᵀ", r"^\top "), ("⊙", r"\odot "), ("−", "-"), ("Σ_", r"\sum_"), ("𝟙", r"\mathbf{1}"),
        ("σ", r"\sigma"), ("θ", r"\theta "), ("ŷ", r"\hat{y}"), ("²", "^2"), ("√", r"\sqrt "))


def tex(text):
    r"""A plain-text name or formula with its symbols written for LaTeX.

    >>> print(tex("σ'(Z)⊙ŷ²"))
    \sigma'(Z)\odot \hat{y}^2
    """
    for plain, latex in _TEX:
        text = text.replace(plain, latex)
    return text


def is_compound(name):
    """Whether a printed name needs parentheses before a subscript or a ᵀ: ``y/p``."""
    wrapped = name.startswith("(") and name.endswith(")")
    return not wrapped and any(ch in name for ch in " /+−-*^⊙")


@dataclass(frozen=True)
class Factor:
    """A coefficient array with one index label per axis, e.g. ``X_ac``.

    Attributes
    ----------
    name : str
        How the array is printed as text, e.g. ``"σ'(Z)"``.
    labels : str
        One label per axis of ``value``; ``""`` for a scalar.
    value : ndarray
        The coefficients.
    latex : str
        How the array is printed in LaTeX; defaults to ``name``.
    """

    name: str
    labels: str
    value: np.ndarray
    latex: str = None

    def text(self):
        if not self.labels:
            return self.name
        # A compound name takes its subscript as a whole: (y/p)_c, not y/p_c.
        if is_compound(self.name):
            return f"({self.name})_{self.labels}"
        return f"{self.name}_{self.labels}"

    def tex(self):
        if not self.labels:
            return self.latex or tex(self.name)
        name = self.latex or tex(self.name)
        # A fraction or a compound name takes its subscript as a whole, too.
        wrapped = name.startswith(r"\left(")
        if not wrapped and (r"\frac" in name or (self.latex is None and is_compound(self.name))):
            name = rf"\left({name}\right)"
        return f"{name}_{{{self.labels}}}"


@dataclass(frozen=True)
class Delta:
    """The Kronecker delta ``δ_ij``: 1 where labels i and j take the same value."""

    i: str
    j: str

    def text(self):
        return f"δ_{self.i}{self.j}"

    def tex(self):
        return rf"\delta_{{{self.i}{self.j}}}"


@dataclass(frozen=True)
class Term:
    """A sign times a product of factors and deltas, kept in print order."""

    parts: tuple
    sign: int = 1

    @property
    def factors(self):
        return [p for p in self.parts if isinstance(p, Factor)]

    @property
    def deltas(self):
        return [p for p in self.parts if isinstance(p, Delta)]

    def text(self):
        return " ".join(p.text() for p in self.parts) or "1"

    def tex(self):
        return r"\,".join(p.tex() for p in self.parts) or "1"


def term(*parts, sign=1):
    """Build a :class:`Term` from factors and deltas in the order they print."""
    return Term(tuple(parts), sign)


def _join(terms, render):
    """Write a sum of terms with their signs: ``a − b + c``."""
    text = ""
    for k, t in enumerate(terms):
        body = render(t)
        if k == 0:
            text = body if t.sign > 0 else f"−{body}"
        else:
            text += f" + {body}" if t.sign > 0 else f" − {body}"
    return text or "0"


@lru_cache(maxsize=4096)
def _classes(deltas, labels, preferred):
    """Map every label to one label of its delta-tied class (a shared, read-only dict).

    Labels joined by deltas must take equal values, so each class is one index.
    The representative is the first label of the class found in ``preferred``
    (so a contraction can be indexed by the labels the caller wants back).
    Cached: ops reuse a handful of delta patterns.
    """
    rep = {label: label for label in labels}

    def find(x):
        while rep[x] != x:
            x = rep[x]
        return x

    for d in deltas:
        rep[find(d.i)] = find(d.j)
    classes = {}
    for label in labels:
        classes.setdefault(find(label), []).append(label)
    order = {label: k for k, label in enumerate(preferred)}
    chosen = {}
    for members in classes.values():
        best = min(members, key=lambda x: (order.get(x, len(order)), labels.index(x)))
        for label in members:
            chosen[label] = best
    return chosen


def _diagonal_view(array, labels, rep):
    """A writable view of C-contiguous ``array`` with one axis per delta-tied class.

    Tying two axes (δ_bd) means walking both at once, which is a single axis
    whose stride is the sum of theirs.
    """
    axes = "".join(dict.fromkeys(rep[label] for label in labels))
    shape = [array.shape[labels.index(r)] for r in axes]
    strides = [sum(array.strides[k] for k, label in enumerate(labels) if rep[label] == r)
               for r in axes]
    return np.ndarray(shape, array.dtype, array, 0, strides), axes


def _spread(core, axes, present):
    """``core`` (over the present axes) with length-1 axes for the absent ones.

    A term that no operand indexes by some label is constant along it, so the
    core broadcasts there.
    """
    return core[tuple(slice(None) if r in present else None for r in axes)]


@dataclass(frozen=True)
class Elimination:
    """A term contracted with operands after its deltas are eliminated.

    Attributes
    ----------
    sign : int
        The term's sign.
    labels : tuple of str
        The renamed labels of every operand, then of every factor.
    result_labels : str
        The labels the result is indexed by.
    rep : dict
        Each label's representative after the deltas are eliminated.
    """

    sign: int
    labels: tuple
    result_labels: str
    rep: dict

    @cached_property
    def present(self):
        return set("".join(self.labels))

    @cached_property
    def kept(self):
        """The einsum's output labels: result classes that some operand carries."""
        wanted = dict.fromkeys(self.rep[x] for x in self.result_labels)
        return "".join(r for r in wanted if r in self.present)

    @property
    def spec(self):
        return ",".join(self.labels) + "->" + self.kept

    @property
    def direct(self):
        """Whether the einsum's output already is the result, with no diagonal to write.

        It is not when two result labels are tied (a trace's δ_cd: the
        result is diagonal) or when no operand carries a result label (a
        bias broadcast over rows: the result is constant along it).
        """
        return self.kept == self.result_labels

    def accumulate(self, result, core, shape, inputs=()):
        """Add this term's contribution ``core`` (einsum output) into ``result``.

        ``result`` is ``None`` for the first term. Labels tied together are
        written through a strided diagonal view, labels no operand carries by
        broadcasting; ``core`` is copied if it may alias one of ``inputs``.
        """
        core = np.asarray(core)  # NumPy turns 0-d results into scalars
        if result is None and self.direct:
            if self.sign < 0:
                return np.asarray(-core)  # a new array, in C order
            aliased = any(np.may_share_memory(core, a) for a in inputs)
            # Later terms write through a strided view, which needs C order.
            return core.copy(order="C") if aliased or not core.flags.c_contiguous else core
        if result is None:
            result = np.zeros(shape)
        view, axes = _diagonal_view(result, self.result_labels, self.rep)
        if self.sign < 0:
            view -= _spread(core, axes, self.present)
        else:
            view += _spread(core, axes, self.present)
        return result


@lru_cache(maxsize=4096)
def _eliminate(sign, deltas, factor_labels, operand_labels, result_labels, everything):
    """The :class:`Elimination` of a term's structure (cached: it holds no arrays)."""
    rep = _classes(deltas, everything, result_labels)
    labels = tuple("".join(rep[x] for x in lab) for lab in operand_labels + factor_labels)
    return Elimination(sign, labels, result_labels, rep)


@dataclass(frozen=True)
class Derivative:
    """The Jacobian ``∂of/∂by`` as a sum of terms in index notation.

    Attributes
    ----------
    of, by : str
        Names of the output and the input, e.g. ``"H"`` and ``"W"``.
    out_labels, in_labels : str
        Index labels of the output and input axes.
    out_shape, in_shape : tuple of int
        Shapes of the output and the input.
    terms : tuple of Term
        The summands; every label they use is an output or an input label.

    Examples
    --------
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> d = Derivative("H", "W", "ab", "cd", (3, 4), (2, 4),
    ...                (term(Factor("X", "ac", X), Delta("b", "d")),))
    >>> print(d)
    ∂H_ab/∂W_cd = X_ac δ_bd
    >>> d.materialise().shape
    (3, 4, 2, 4)
    """

    of: str
    by: str
    out_labels: str
    in_labels: str
    out_shape: tuple
    in_shape: tuple
    terms: tuple

    def __post_init__(self):
        sizes = self.sizes
        for t in self.terms:
            for f in t.factors:
                want = tuple(sizes[label] for label in f.labels)
                if np.shape(f.value) != want:
                    raise ValueError(f"factor {f.text()} has shape {np.shape(f.value)}, "
                                     f"its labels need {want}")
            for d in t.deltas:
                if sizes[d.i] != sizes[d.j]:
                    raise ValueError(f"{d.text()} ties axes of sizes {sizes[d.i]} and {sizes[d.j]}")

    @property
    def sizes(self):
        """Size of every label, as a dict."""
        return dict(zip(self.out_labels + self.in_labels, self.out_shape + self.in_shape))

    @property
    def shape(self):
        """Shape of the dense Jacobian: ``out_shape + in_shape``."""
        return tuple(self.out_shape) + tuple(self.in_shape)

    @property
    def order(self):
        """Order of the tensor: the number of its axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of entries of the dense Jacobian."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self):
        """Bytes the dense Jacobian would take in float64."""
        return 8 * self.size

    # --- printing ---------------------------------------------------------
    def lhs(self):
        """The left-hand side, ``∂H_ab/∂W_cd``."""
        out = f"{self.of}_{self.out_labels}" if self.out_labels else self.of
        inp = f"{self.by}_{self.in_labels}" if self.in_labels else self.by
        return f"∂{out}/∂{inp}"

    def __str__(self):
        return f"{self.lhs()} = {_join(self.terms, Term.text)}"

    def _repr_latex_(self):
        of, by = tex(self.of), tex(self.by)
        out = f"{of}_{{{self.out_labels}}}" if self.out_labels else of
        inp = f"{by}_{{{self.in_labels}}}" if self.in_labels else by
        rhs = tex(_join(self.terms, Term.tex))  # the signs between terms
        return rf"$\frac{{\partial {out}}}{{\partial {inp}}} = {rhs}$"

    def __repr__(self):
        return f"Derivative({self}, shape={self.shape})"

    # --- counting ---------------------------------------------------------
    def nnz(self):
        """Number of entries that can be nonzero, counted without materialising.

        A term is nonzero where its deltas hold and none of its coefficients
        is zero; the count of such places is a contraction of the factors'
        nonzero masks over the delta-tied classes. Several terms are counted
        once each by inclusion–exclusion (terms cancelling each other
        exactly is not looked for).

        >>> d = Derivative("s", "x", "a", "c", (3,), (3,),
        ...                (term(Delta("a", "c")), term(Factor("s", "a", np.ones(3)))))
        >>> d.nnz(), d.size
        (9, 9)
        """
        labels = self.out_labels + self.in_labels
        sizes = self.sizes
        total = 0
        for k in range(1, len(self.terms) + 1):
            for subset in combinations(self.terms, k):
                rep = _classes(tuple(d for t in subset for d in t.deltas), labels, labels)
                masks = [("".join(rep[x] for x in f.labels), (f.value != 0).astype(np.float64))
                         for t in subset for f in t.factors]
                present = set("".join(m for m, _ in masks))
                free = [sizes[r] for r in set(rep.values()) if r not in present]
                count = round(float(_einsum(masks, ""))) * int(np.prod(free, dtype=np.int64))
                total += count if k % 2 else -count
        return total

    def density(self):
        """Structural nonzeros as a fraction of all entries."""
        return self.nnz() / self.size if self.size else 0.0

    # --- contraction ------------------------------------------------------
    def eliminate(self, t, operand_labels, result_labels):
        """Plan the contraction of ``operands × t`` onto ``result_labels``.

        Each delta is eliminated by renaming all labels it ties to one
        representative, preferring the result's own labels; what remains is
        an ordinary einsum.

        Parameters
        ----------
        t : Term
            One term of this derivative.
        operand_labels : list of str
            Labels of the extra operands (a cotangent's ``"ab"``).
        result_labels : str
            Labels the result is indexed by.

        Returns
        -------
        Elimination
        """
        return _eliminate(t.sign, tuple(t.deltas), tuple(f.labels for f in t.factors),
                          tuple(operand_labels), result_labels, self.out_labels + self.in_labels)

    def _contract(self, operands, result_labels, result_shape):
        """Σ over every other label of ``operands × term``, summed over terms.

        ``operands`` are extra ``(labels, array)`` pairs (a cotangent or a
        tangent); opt_einsum contracts each term once its deltas are
        eliminated.
        """
        result = None
        for t in self.terms:
            e = self.eliminate(t, [labels for labels, _ in operands], result_labels)
            arrays = [a for _, a in operands] + [f.value for f in t.factors]
            result = e.accumulate(result, _einsum(list(zip(e.labels, arrays)), e.kept),
                                  result_shape, arrays)
        return result if result is not None else np.zeros(result_shape)

    def materialise(self, instead=None):
        """The dense Jacobian, shape ``(*out_shape, *in_shape)``.

        Parameters
        ----------
        instead : str, optional
            The call to suggest if the array is refused for its size.

        Raises
        ------
        JacobianTooLarge
            Before anything is allocated, when the array would exceed the
            memory limit.
        """
        check_fits(self.shape, f"the Jacobian {self.lhs()}",
                   instead or "a vector-Jacobian product (vjp)")
        labels = self.out_labels + self.in_labels
        dense = np.zeros(self.shape)
        for k, t in enumerate(self.terms):
            rep = _classes(tuple(t.deltas), labels, labels)
            view, axes = _diagonal_view(dense, labels, rep)
            pairs = [("".join(rep[x] for x in f.labels), f.value) for f in t.factors]
            present = set("".join(labels for labels, _ in pairs))
            core = _spread(_einsum(pairs, "".join(r for r in axes if r in present)), axes, present)
            if k == 0:  # the array is still zero: a copy is cheaper than an add
                np.copyto(view, -core if t.sign < 0 else core)
            elif t.sign < 0:
                view -= core
            else:
                view += core
        return dense

    def vjp(self, g):
        """The derived vector–Jacobian product ``Σ_out g ∂out/∂in``.

        Parameters
        ----------
        g : ndarray, shape ``out_shape``
            The cotangent (upstream gradient).

        Returns
        -------
        ndarray, shape ``in_shape``
            ``einsum('ab,abcd->cd', g, J)`` computed without ``J``: the deltas
            are eliminated first, e.g. ``g_ab X_ac δ_bd → g_ad X_ac``.
        """
        g = as_float_array(g, "the cotangent g")
        _check_operand("cotangent g", g, self.out_shape, self, "output")
        return self._contract([(self.out_labels, g)], self.in_labels, self.in_shape)

    def jvp(self, t):
        """The derived Jacobian–vector product ``Σ_in ∂out/∂in t``.

        Parameters
        ----------
        t : ndarray, shape ``in_shape``
            The tangent (a direction in input space).

        Returns
        -------
        ndarray, shape ``out_shape``
            ``einsum('abcd,cd->ab', J, t)`` computed without ``J``.
        """
        t = as_float_array(t, "the tangent t")
        _check_operand("tangent t", t, self.in_shape, self, "input")
        return self._contract([(self.in_labels, t)], self.out_labels, self.out_shape)

    def vjp_steps(self, g="g"):
        """How the VJP is derived, term by term, as text.

        Each line is the contraction with the cotangent, then the same
        contraction after the deltas are eliminated, then its einsum.

        >>> X = np.ones((3, 2))
        >>> d = Derivative("H", "W", "ab", "cd", (3, 4), (2, 4),
        ...                (term(Factor("X", "ac", X), Delta("b", "d")),))
        >>> print(d.vjp_steps())
        g_ab X_ac δ_bd  →  g_ad X_ac    einsum('ad,ac->cd')
        """
        lines = []
        for t in self.terms:
            text, e = self.eliminated(t, g)
            hadamard = len(e.labels) > 1 and all(labels == e.kept for labels in e.labels)
            note = "   (a Hadamard product: nothing is summed)" if hadamard else ""
            lines.append(f"{text}    einsum('{e.spec}'){note}")
        return "\n".join(lines)

    def eliminated(self, t, g="g"):
        """Term ``t`` times the cotangent, before and after its deltas are eliminated.

        Returns
        -------
        text : str
            ``"g_ab X_ac δ_bd  →  g_ad X_ac"``.
        elimination : Elimination
            The plan of the contraction that remains.
        """
        e = self.eliminate(t, [self.out_labels], self.in_labels)
        sign = "−" if t.sign < 0 else ""
        before = " ".join([Factor(g, self.out_labels, None).text()] + [p.text() for p in t.parts])
        names = [g] + [f.name for f in t.factors]
        after = " ".join(Factor(n, labels, None).text() for n, labels in zip(names, e.labels))
        return f"{sign}{before}  →  {sign}{after}", e


def _einsum(pairs, result):
    """Contract ``(labels, array)`` pairs into ``result`` labels with opt_einsum."""
    if not pairs:
        return np.ones(())
    if len(pairs) == 1 and pairs[0][0] == result:
        return pairs[0][1]
    spec = ",".join(labels for labels, _ in pairs) + "->" + result
    return opt_einsum.contract(spec, *(a for _, a in pairs))


def _check_operand(what, array, shape, derivative, side):
    if array.shape != tuple(shape):
        raise ValueError(
            f"{derivative.lhs()} has shape {derivative.shape} but the {what} has shape "
            f"{array.shape}; it must have the {side}'s shape {tuple(shape)}")
