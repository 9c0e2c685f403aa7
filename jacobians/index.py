"""Jacobians stated once, in index notation.

A Jacobian ``∂out/∂in`` is written as a sum of *terms*. A term is a sign and a
product of *factors* (coefficient arrays carrying index labels) and Kronecker
*deltas* that tie two labels together::

    ∂H_ab/∂W_cd = X_ac δ_bd              (H = X W)
    ∂s_a/∂x_c   = s_a δ_ac − s_a s_c     (s = softmax(x))

Output axes carry the labels ``a b …`` and input axes ``c d …``. Everything a
learner sees is computed from that one statement:

* :meth:`Derivative.vjp` and :meth:`Derivative.jvp` contract a cotangent
  ``g`` (over the output labels) or a tangent ``t`` (over the input labels)
  after *eliminating each delta by renaming* one of its labels to the other:
  ``g_ab X_ac δ_bd → g_ad X_ac``, which is ``(Xᵀ g)_cd``;
* :meth:`Derivative.materialise` is the same contraction with no operand,
  onto every label: the dense array of shape ``out.shape + in.shape``,
  zeros with the coefficients written along the diagonals that the deltas
  tie together (a strided view, no loop over entries);
* :meth:`Derivative.nnz` counts the entries that can be nonzero — where the
  deltas hold and no coefficient is zero — without materialising anything;
* ``str()`` and ``_repr_latex_`` print the formula.

A delta may also tie two *groups* of labels, each read as one row-major flat
index: reshaping X (2×3) into y (6) gives ``∂y_a/∂X_cd = δ(a, 3c+d)``. Such a
group is merged into one label before anything else, so eliminating it is a
reshape of ``g`` and materialising it writes one strided line.

A :class:`Gather` ties the input's flat index to an integer array indexed
by output labels, ``δ(3c+d, p_a)``: output entry ``a`` reads input entry
``p_a`` (or nothing where ``p_a = −1``). Indexing and concatenation are such
selections; their VJP adds ``g`` into the input at the indices ``p``, which
repeats where an index repeats (a scatter-add), and their JVP reads ``t``
at ``p`` (a gather).

A :class:`Window` ties an input label to an affine combination of an
output label and a *tap* label, ``δ(s·a + k − p, l)``: input position ``l``
is tap ``k`` of output window ``a`` (stride ``s``, padding ``p``). A
one-channel convolution is ``∂y_a/∂x_l = Σ_k w_k δ(s·a + k − p, l)``, with
the tap a label of neither side that the term sums over. A window is
eliminated by substitution: an array that carries ``l`` is *read at the
windows* (im2col: its axis ``l`` becomes the two axes ``a k``, zero in the
padding), and a result indexed by ``l`` is *added into at the windows*
(col2im: every ``(a, k)`` adds where ``s·a + k − p`` lands), which is a
transposed convolution.

All of it works on any array that speaks NumPy — ndarrays, and the
:class:`~jacobians.abstract.Shaped` arrays that count a contraction from
shapes alone.
"""
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations
from typing import NamedTuple

import numpy as np

from .abstract import Shaped
from .algebra import is_compound
from .arrays import as_float_array, kind
from .contract import contract
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

    Examples
    --------
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
        ("x̂", r"\hat{x}"), ("X̂", r"\hat{X}"), ("σ̃", r"\tilde{\sigma}"), ("σ", r"\sigma"), ("θ", r"\theta "), ("ŷ", r"\hat{y}"), ("²", "^2"), ("√", r"\sqrt "))


def tex(text):
    r"""A plain-text name or formula with its symbols written for LaTeX.

    >>> print(tex("σ'(Z)⊙ŷ²"))
    \sigma'(Z)\odot \hat{y}^2
    """
    for plain, latex in _TEX:
        text = text.replace(plain, latex)
    return text


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

    __slots__ = ("name", "labels", "value", "latex")

    def __init__(self, name, labels, value, latex=None):
        self.name, self.labels, self.value, self.latex = name, labels, value, latex

    def text(self, sizes=None):
        if not self.labels or _is_number(self.name):  # a constant the same at every index
            return self.name
        # A compound name takes its subscript as a whole: (y/p)_c, not y/p_c.
        if is_compound(self.name):
            return f"({self.name})_{self.labels}"
        return f"{self.name}_{self.labels}"

    def tex(self, sizes=None):
        if not self.labels or _is_number(self.name):
            return self.latex or tex(self.name)
        name = self.latex or tex(self.name)
        # A fraction or a compound name takes its subscript as a whole, too.
        wrapped = name.startswith(r"\left(")
        if not wrapped and (r"\frac" in name or (self.latex is None and is_compound(self.name))):
            name = rf"\left({name}\right)"
        return f"{name}_{{{self.labels}}}"

    def __repr__(self):
        return f"Factor({self.text()})"


def _is_number(name):
    """Whether a printed name is a number: a scalar constant, broadcast, needs no index."""
    try:
        float(name)
    except ValueError:
        return False
    return True


def flat_index(labels, sizes=None):
    """How a group of labels reads as one row-major index: ``"3c+d"`` for c, d of sizes 2, 3.

    >>> flat_index("cd", {"c": 2, "d": 3}), flat_index("abc", {"a": 2, "b": 2, "c": 5})
    ('3c+d', '10a+5b+c')
    >>> flat_index("cd")
    '(cd)'
    """
    if len(labels) == 1:
        return labels
    if sizes is None:
        return f"({labels})"
    strides = [math.prod(sizes[x] for x in labels[k + 1:]) for k in range(len(labels))]
    return "+".join(f"{s}{x}" if s != 1 else x for s, x in zip(strides, labels))


class Delta(NamedTuple):
    """The Kronecker delta ``δ_ij``: 1 where labels i and j take the same value.

    ``i`` or ``j`` may be a group of labels, read as one row-major flat index:
    ``Delta("a", "cd")`` is ``δ(a, 3c+d)`` when d has size 3.
    """

    i: str
    j: str

    @property
    def grouped(self):
        return len(self.i) > 1 or len(self.j) > 1

    def text(self, sizes=None):
        if self.grouped:
            return f"δ({flat_index(self.i, sizes)}, {flat_index(self.j, sizes)})"
        return f"δ_{self.i}{self.j}"

    def tex(self, sizes=None):
        if self.grouped:
            return rf"\delta_{{{flat_index(self.i, sizes)},\,{flat_index(self.j, sizes)}}}"
        return rf"\delta_{{{self.i}{self.j}}}"


class Gather(NamedTuple):
    """``δ(flat(into), p_on)``: 1 where the input's flat index equals ``p`` at the output's.

    A gather stands alone in its term: ``∂y_a/∂X_cd = δ(3c+d, p_a)``.

    Attributes
    ----------
    on : str
        The output labels that index ``p``.
    into : str
        The input labels, read as one row-major flat index.
    index : ndarray of int
        ``p``, one flat input index per output entry (shape of the ``on``
        labels); ``-1`` where the output entry reads no input entry.
    name : str
        How ``p`` is printed.
    """

    on: str
    into: str
    index: np.ndarray
    name: str = "p"

    def _sides(self, sizes):
        # A 0-d input has the one flat index 0; a 0-d output reads the one entry p.
        into = flat_index(self.into, sizes) if self.into else "0"
        return into, (f"{self.name}_{self.on}" if self.on else self.name)

    def text(self, sizes=None):
        into, at = self._sides(sizes)
        return f"δ({into}, {at})"

    def tex(self, sizes=None):
        into, at = self._sides(sizes)
        at = f"{self.name}_{{{self.on}}}" if self.on else self.name
        return rf"\delta_{{{into},\,{at}}}"

    @property
    def repeats(self):
        """Whether some input entry is read more than once, so that its VJP adds."""
        read = self.index[self.index >= 0]
        return np.unique(read).size < read.size

    def scatter(self, g, size):
        """``r`` of ``size`` entries with ``r[p_a] += g_a`` for every ``a``: the VJP.

        ``p`` shifted by one sends the ``-1`` entries to a slot that is dropped.
        """
        added = np.bincount(self.index.reshape(-1) + 1, weights=g.reshape(-1),
                            minlength=size + 1)
        # With nothing to add NumPy's bincount counts in integers: the sum is still real.
        return added[1:] if added.dtype == np.float64 else added[1:].astype(np.float64)

    def gather(self, t):
        """``t`` (flattened) read at ``p``, 0 where ``p = −1``: the JVP."""
        read = t.reshape(-1)[np.maximum(self.index, 0)]
        if (self.index < 0).any():
            read = read * (self.index >= 0)
        return read


class Window(NamedTuple):
    """``δ(s·a + k − p, l)``: input position ``l`` is tap ``k`` of output window ``a``.

    The delta of a strided, padded convolution or pooling window along one
    axis. ``a`` and ``l`` are labels of the Jacobian (or ``l`` a label the
    term sums over, carried by a factor); the tap ``k`` may be a label the
    term sums over, of ``taps`` values.

    Attributes
    ----------
    out, tap, into : str
        The labels ``a``, ``k`` and ``l``.
    taps : int
        How many values the tap takes (the kernel's size along the axis).
    stride, padding : int
        ``s`` and ``p``: window ``a`` starts at ``s·a − p``.
    """

    out: str
    tap: str
    into: str
    taps: int
    stride: int = 1
    padding: int = 0

    def at(self):
        """The input position the window reads, as printed: ``2b+k−1``."""
        start = f"{self.stride}{self.out}" if self.stride != 1 else self.out
        shift = f"−{self.padding}" if self.padding else ""
        return f"{start}+{self.tap}{shift}"

    def text(self, sizes=None):
        return f"δ({self.at()}, {self.into})"

    def tex(self, sizes=None):
        return rf"\delta_{{{tex(self.at())},\,{self.into}}}"

    def positions(self, windows):
        """``s·a + k − p`` for every window ``a`` and tap ``k``: an int array ``(windows, taps)``."""
        return (self.stride * np.arange(windows)[:, None] + np.arange(self.taps)[None, :]
                - self.padding)


def read_windows(array, axis, window, windows):
    """``array`` read at the windows along ``axis``: that axis becomes two, ``(a, k)``.

    ``result[…, a, k, …] = array[…, s·a + k − p, …]``, and 0 where that
    position falls in the padding: im2col along one axis.
    """
    n = array.shape[axis]
    at = window.positions(windows)
    # One slot of zeros past the end stands for every position in the padding.
    zeros = np.zeros(array.shape[:axis] + (1,) + array.shape[axis + 1:], like=array)
    padded = np.concatenate([array, zeros], axis=axis)
    return padded[(slice(None),) * axis + (np.where((at >= 0) & (at < n), at, n),)]


def add_at_windows(core, core_labels, result_labels, result_shape, windows, sizes):
    """The result that ``core`` adds into at the windows: col2im, a transposed convolution.

    ``core`` is indexed by ``core_labels``: the result's labels with each
    window's input label ``l`` replaced by its window and tap labels
    ``a k``. Entry ``(…, a, k, …)`` adds into the result at
    ``l = s·a + k − p``; where that lies in the padding it adds nothing.
    Computed as one ``np.bincount`` over the result's flat positions.
    """
    if isinstance(core, Shaped):
        # Counted, not computed: the positions, the mask and its copy are held all the same.
        position, inside = (Shaped(core.shape, core.tally, t) for t in (np.int64, np.bool_))
        weights = core * inside
        index = np.where(inside, position, 0)
        added = np.bincount(index.reshape(-1), weights=weights.reshape(-1),
                            minlength=math.prod(result_shape))
        return added.reshape(result_shape)
    writes = {w.into: w for w in windows}
    axis = {label: k for k, label in enumerate(core_labels)}

    def along(label):  # 0, 1, 2, … along the core's axis for this label
        shape = [1] * len(core_labels)
        shape[axis[label]] = sizes[label]
        return np.arange(sizes[label]).reshape(shape)

    position, inside, stride = 0, True, 1
    for label, n in zip(result_labels[::-1], result_shape[::-1]):
        w = writes.get(label)
        if w is None:
            coordinate = along(label)
        else:
            coordinate = w.stride * along(w.out) + along(w.tap) - w.padding
            inside = inside & (coordinate >= 0) & (coordinate < n)
        position = position + stride * coordinate
        stride *= n
    position = np.broadcast_to(position, core.shape)
    weights = core * np.broadcast_to(inside, core.shape)
    added = np.bincount(np.where(inside, position, 0).reshape(-1), weights=weights.reshape(-1),
                        minlength=stride)
    # An empty result still gets the one bin that entries in the padding were sent to.
    return added[:stride].reshape(result_shape)


class Term:
    """A sign times a product of factors and deltas, kept in print order."""

    __slots__ = ("parts", "sign", "factors", "deltas", "windows", "gather")

    def __init__(self, parts, sign=1):
        self.parts, self.sign = tuple(parts), sign
        self.factors = tuple(p for p in self.parts if isinstance(p, Factor))
        self.deltas = tuple(p for p in self.parts if isinstance(p, Delta))
        self.windows = tuple(p for p in self.parts if isinstance(p, Window))
        gathers = [p for p in self.parts if isinstance(p, Gather)]
        if gathers and len(self.parts) > 1:
            raise ValueError("a gather stands alone in its term")
        self.gather = gathers[0] if gathers else None

    def text(self, sizes=None):
        return " ".join(p.text(sizes) for p in self.parts) or "1"

    def tex(self, sizes=None):
        return r"\,".join(p.tex(sizes) for p in self.parts) or "1"

    def __repr__(self):
        return f"Term({'−' if self.sign < 0 else ''}{self.text()})"


def term(*parts, sign=1):
    """Build a :class:`Term` from factors and deltas in the order they print."""
    return Term(parts, sign)


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


# Labels for merged groups: upper case, so they never meet the labels of a Jacobian.
_MERGED = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _merge_groups(deltas, strings, sizes):
    """Merge every group of labels a delta ties into one new label.

    Returns the deltas (now between single labels), each string of labels with
    its groups replaced, the sizes with the new labels added, and each new
    label's group. A string that
    holds part of a group, or its labels out of order, cannot be reshaped into
    the merged label and is refused.
    """
    groups = {}
    for d in deltas:
        for side in (d.i, d.j):
            if len(side) > 1 and side not in groups:
                groups[side] = _MERGED[len(groups)]
    if not groups:
        return deltas, strings, sizes, {}
    sizes = dict(sizes)
    for group, label in groups.items():
        sizes[label] = math.prod(sizes[x] for x in group)

    def merged(labels):
        for group, label in groups.items():
            if group in labels:
                labels = labels.replace(group, label)
            elif set(group) & set(labels):
                raise ValueError(f"the labels {labels!r} split the group ({group}) that a delta "
                                 f"reads as one flat index")
        return labels
    deltas = tuple(Delta(groups.get(d.i, d.i), groups.get(d.j, d.j)) for d in deltas)
    return deltas, [merged(labels) for labels in strings], sizes, \
        {label: group for group, label in groups.items()}


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


@lru_cache(maxsize=4096)
def _diagonal(rep_labels, shape, strides):
    """Shape and strides of the view with one axis per class: tied axes walk together."""
    where = [[k for k, r in enumerate(rep_labels) if r == a] for a in dict.fromkeys(rep_labels)]
    return tuple(shape[k[0]] for k in where), tuple(sum(strides[j] for j in k) for k in where)


def _diagonal_view(array, labels, rep_labels):
    """A writable view of ``array`` with one axis per delta-tied class.

    ``rep_labels`` gives each of ``labels`` its class. Tying two axes (δ_bd)
    means walking both at once: one axis whose stride is the sum of theirs —
    what NumPy's einsum returns for ``'abcb->abc'``, and how other arrays
    (Shaped ones) are asked for it.
    """
    if rep_labels == labels:
        return array
    if isinstance(array, np.ndarray):
        shape, strides = _diagonal(rep_labels, array.shape, array.strides)
        return np.ndarray(shape, array.dtype, array, 0, strides)
    return np.einsum(f"{rep_labels}->{''.join(dict.fromkeys(rep_labels))}", array)


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
        The labels the result is indexed by (a merged group as one label).
    rep : dict
        Each label's representative after the deltas are eliminated.
    shapes : tuple
        For every operand, then every factor, the shape it is reshaped to
        before the einsum (a merged group is one axis), or None.
    merged_shape : tuple or None
        The result's shape with its groups merged, when it has any.
    groups : dict
        Each merged label and the group of labels it stands for.
    """

    sign: int
    labels: tuple
    result_labels: str
    rep: dict
    shapes: tuple
    merged_shape: tuple
    groups: dict

    @cached_property
    def present(self):
        return set("".join(self.labels))

    @cached_property
    def kept(self):
        """The einsum's output labels: result classes that some operand carries."""
        wanted = dict.fromkeys(self.rep[x] for x in self.result_labels)
        return "".join(r for r in wanted if r in self.present)

    @cached_property
    def spec(self):
        return ",".join(self.labels) + "->" + self.kept

    @property
    def only_reshapes(self):
        """Whether all that is left is the operand, reshaped by a delta between flat indices."""
        return bool(self.groups) and self.labels == (self.kept,)

    @cached_property
    def result_classes(self):
        """Each result label's class, in order: ``"abab"`` for δ_ac δ_bd."""
        return "".join(self.rep[x] for x in self.result_labels)

    @cached_property
    def spread(self):
        """The index that gives the einsum's output a length-1 axis for each class it lacks.

        A term that no operand indexes by some label is constant along it, so
        its contribution broadcasts there.
        """
        present = self.present
        return tuple(slice(None) if r in present else None
                     for r in dict.fromkeys(self.result_classes))

    @property
    def direct(self):
        """Whether the einsum's output already is the result, with no diagonal to write.

        It is not when two result labels are tied (a trace's δ_cd: the
        result is diagonal) or when no operand carries a result label (a
        bias broadcast over rows: the result is constant along it).
        """
        return self.kept == self.result_labels

    def printed(self, labels, sizes):
        """``labels`` as a formula writes them: a merged group as its flat index, ``(3c+d)``."""
        return "".join(f"({flat_index(self.groups[x], sizes)})" if x in self.groups else x
                       for x in labels)

    @cached_property
    def regroups(self):
        """Whether an operand or factor is reshaped first, a merged group to one axis."""
        return any(s is not None for s in self.shapes)

    def accumulate(self, result, core, shape, inputs=(), like=None):
        """Add this term's contribution ``core`` (einsum output) into ``result``.

        ``result`` is ``None`` for the first term, then made ``like=`` the
        given array. Labels tied together are written through a strided
        diagonal view, labels no operand carries by broadcasting; ``core`` is
        copied if it may alias one of ``inputs``.
        """
        if result is None and self.direct:
            if self.merged_shape is not None:
                core = core.reshape(shape)
            if self.sign < 0:
                return _array(-core)  # a new array, in C order
            aliased = any(np.may_share_memory(core, a) for a in inputs)
            # Later terms write through a strided view, which needs C order.
            return core.copy() if aliased or not core.flags.c_contiguous else core
        fresh = result is None
        if fresh:
            result = np.zeros(shape, like=kind(core, like))
        target = result if self.merged_shape is None else result.reshape(self.merged_shape)
        view = _diagonal_view(target, self.result_labels, self.result_classes)
        core = core[self.spread]
        if fresh:  # the array is still zero: a copy is cheaper than an add
            np.copyto(view, -core if self.sign < 0 else core)
        elif self.sign < 0:
            view -= core
        else:
            view += core
        return result


class Selection(NamedTuple):
    """What eliminating a gather leaves: no einsum, ``g`` placed into the input at ``p``.

    ``adds`` when an entry is read more than once: its cotangents add up there.
    """

    sign: int
    name: str
    adds: bool


@dataclass(frozen=True)
class Windowed:
    """What eliminating a term's windows leaves: reads, one einsum, then adds.

    Attributes
    ----------
    reads : tuple of (int, int, Window)
        Each array (operands, then factors) read at a window (im2col), the
        axis read, and the window, in the order they are applied.
    elimination : Elimination
        The einsum of the arrays once read, onto ``core_labels``.
    writes : tuple of Window
        The windows the einsum's result adds into the result at (col2im).
    core_labels : str
        The einsum's result labels: the result's, each written window's
        input label replaced by its window and tap labels.
    """

    reads: tuple
    elimination: Elimination
    writes: tuple
    core_labels: str

    @property
    def sign(self):
        return self.elimination.sign


@lru_cache(maxsize=4096)
def _eliminate_windows(sign, deltas, windows, factor_labels, operand_labels, result_labels,
                       everything, shape):
    """The :class:`Windowed` plan of a term with windows (cached: it holds no arrays).

    A window whose input label the result is indexed by is *written*: the
    einsum keeps its window and tap labels instead, and adds at the windows
    afterwards. Any other window is *read*: every array carrying its input
    label is read at the windows first, that label becoming the two.
    """
    labels = list(operand_labels + factor_labels)
    reads, writes = [], []
    for w in windows:
        if w.into in result_labels:
            writes.append(w)
            continue
        carriers = [k for k, carried in enumerate(labels) if w.into in carried]
        if not carriers:
            # Σ_l δ(s·a + k − p, l) alone would be a mask of the windows inside the input.
            raise ValueError(f"{w.text()}: the position {w.into!r} is summed over but no array "
                             f"carries it; contract onto it, or with an array indexed by it")
        for k in carriers:
            reads.append((k, labels[k].index(w.into), w))
            labels[k] = labels[k].replace(w.into, w.out + w.tap)
    core = "".join(x for x in result_labels if x not in {w.into for w in writes})
    for w in writes:
        core += "".join(x for x in (w.out, w.tap) if x not in core)
    n = len(operand_labels)
    elimination = _eliminate(sign, deltas, tuple(labels[n:]), tuple(labels[:n]), core,
                             everything, shape)
    return Windowed(tuple(reads), elimination, tuple(writes), core)


@lru_cache(maxsize=4096)
def _eliminate(sign, deltas, factor_labels, operand_labels, result_labels, everything, shape):
    """The :class:`Elimination` of a term's structure (cached: it holds no arrays).

    ``everything`` holds every label of the Jacobian and ``shape`` their sizes.
    """
    sizes = dict(zip(everything, shape))
    strings = list(operand_labels + factor_labels) + [result_labels, everything]
    deltas, merged, sizes, groups = _merge_groups(deltas, strings, sizes)
    *each, result, everything = merged
    rep = _classes(deltas, everything, result)
    labels = tuple("".join(rep[x] for x in lab) for lab in each)
    shapes = tuple(None if new == old else tuple(sizes[x] for x in new)
                   for new, old in zip(each, operand_labels + factor_labels))
    merged_shape = None if result == result_labels else tuple(sizes[x] for x in result)
    return Elimination(sign, labels, result, rep, shapes, merged_shape, groups)


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
    like : array, optional
        An array of the kind the dense Jacobian should be (an ndarray, or a
        Shaped array when only counting); NumPy's by default.
    check : bool
        Whether to check that every factor's shape fits its labels and every
        delta ties equal sizes (ops check each structure once).

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

    __slots__ = ("of", "by", "out_labels", "in_labels", "out_shape", "in_shape", "terms",
                 "like")

    def __init__(self, of, by, out_labels, in_labels, out_shape, in_shape, terms, like=None,
                 check=True):
        self.of, self.by = of, by
        self.out_labels, self.in_labels = out_labels, in_labels
        self.out_shape, self.in_shape = tuple(out_shape), tuple(in_shape)
        self.terms, self.like = tuple(terms), like
        if check:
            self._check()

    def _check(self):
        sizes = self.sizes
        for t in self.terms:
            if t.gather is not None:
                self._check_gather(t.gather)
            for f in t.factors:
                want = tuple(sizes[label] for label in f.labels)
                if np.shape(f.value) != want:
                    raise ValueError(f"factor {f.text()} has shape {np.shape(f.value)}, "
                                     f"its labels need {want}")
            for d in t.deltas:
                ties = [math.prod(sizes[x] for x in side) for side in d]
                if ties[0] != ties[1]:
                    raise ValueError(f"{d.text(sizes)} ties indices of sizes {ties[0]} and "
                                     f"{ties[1]}")
            if t.windows:
                self._check_windows(t, sizes)

    def _check_windows(self, t, sizes):
        """A window's labels are known and its input label is tied by nothing else."""
        own_labels = self.out_labels + self.in_labels
        own = set(own_labels)
        tied = {x for d in t.deltas for x in d.i + d.j}
        for w in t.windows:
            if w.out not in own:
                raise ValueError(f"{w.text()}: the window label {w.out!r} is not one of the "
                                 f"Jacobian's, {own_labels!r}")
            if w.into not in sizes:
                raise ValueError(f"{w.text()}: the position {w.into!r} is neither one of the "
                                 f"Jacobian's labels nor carried by a factor")
            if w.into in tied:
                raise ValueError(f"{w.text()}: the position {w.into!r} is tied by another "
                                 f"delta too; a window's position is tied by the window alone")
            if any(d.grouped for d in t.deltas):
                raise ValueError(f"{w.text()}: a term with windows has no delta between "
                                 f"groups of labels")
            if w.tap not in own and w.into not in own:
                raise ValueError(f"{w.text()}: a term sums over a window's tap or over its "
                                 f"input position, not both")
            if sizes[w.tap] != w.taps:
                raise ValueError(f"{w.text()}: the window has {w.taps} taps but its tap label "
                                 f"{w.tap!r} has size {sizes[w.tap]}")

    def _check_gather(self, gather):
        if len(self.terms) > 1 or gather.on != self.out_labels or gather.into != self.in_labels:
            raise ValueError(f"a gather is a whole Jacobian: δ(in, p_out) with the output's "
                             f"labels {self.out_labels!r} and the input's {self.in_labels!r}")
        if np.shape(gather.index) != self.out_shape:
            raise ValueError(f"the gather's index has shape {np.shape(gather.index)}; it needs "
                             f"one entry per output entry, {self.out_shape}")

    @property
    def sizes(self):
        """Size of every label, as a dict: the output's, the input's, then those summed over.

        A label a term sums over (a window's tap, or the input position a
        factor is read at) takes its size from its window or its factor.
        """
        sizes = dict(zip(self.out_labels + self.in_labels, self.out_shape + self.in_shape))
        for t in self.terms:
            for w in t.windows:
                sizes.setdefault(w.tap, w.taps)
            for f in t.factors:
                for label, n in zip(f.labels, np.shape(f.value)):
                    sizes.setdefault(label, n)
        return sizes

    @property
    def shape(self):
        """Shape of the dense Jacobian: ``out_shape + in_shape``."""
        return self.out_shape + self.in_shape

    @property
    def order(self):
        """Order of the tensor: the number of its axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of entries of the dense Jacobian."""
        return math.prod(self.shape)

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
        sizes = self.sizes
        return f"{self.lhs()} = {_join(self.terms, lambda t: t.text(sizes))}"

    def _repr_latex_(self):
        of, by, sizes = tex(self.of), tex(self.by), self.sizes
        out = f"{of}_{{{self.out_labels}}}" if self.out_labels else of
        inp = f"{by}_{{{self.in_labels}}}" if self.in_labels else by
        rhs = tex(_join(self.terms, lambda t: t.tex(sizes)))  # the signs between terms
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
        gather = self.terms[0].gather if self.terms else None
        if gather is not None:  # one entry per output entry that reads one
            return int(np.count_nonzero(gather.index >= 0))
        if any(t.windows for t in self.terms):
            return self._windows_nnz()
        labels = self.out_labels + self.in_labels
        total = 0
        for k in range(1, len(self.terms) + 1):
            for subset in combinations(self.terms, k):
                factors = [f for t in subset for f in t.factors]
                deltas = tuple(d for t in subset for d in t.deltas)
                deltas, strings, sizes, _ = _merge_groups(
                    deltas, [f.labels for f in factors] + [labels], self.sizes)
                *factor_labels, everything = strings
                rep = _classes(deltas, everything, everything)
                classes = ["".join(rep[x] for x in lab) for lab in factor_labels]
                masks = [(f.value != 0).reshape([sizes[x] for x in lab]).astype(np.float64)
                         for f, lab in zip(factors, factor_labels)]
                free = [sizes[r] for r in set(rep.values()) if r not in set("".join(classes))]
                placed = round(float(contract(",".join(classes) + "->", *masks))) if masks else 1
                count = placed * math.prod(free)
                total += count if k % 2 else -count
        return total

    def _windows_nnz(self):
        """The nonzeros of one term with windows: its places, each counted once.

        Every entry of the Jacobian is reached by at most one value of the
        labels the term sums over (a tap is fixed by its window and input
        position, an input position by its window and tap), so the count
        is a contraction of nonzero masks: the factors' (read at the
        windows, zero in the padding) and, for each window into the
        Jacobian's input, whether ``s·a + k − p`` lies inside.
        """
        if len(self.terms) > 1:
            raise NotImplementedError("nnz counts a Jacobian with windows when it is one term; "
                                      "materialise it and count with np.count_nonzero")
        (t,) = self.terms
        sizes, own = self.sizes, self.out_labels + self.in_labels
        plan = self.eliminate(t, (), own)  # which windows are read, which written
        masks = [(f.value != 0).astype(np.float64) for f in t.factors]
        labels = [f.labels for f in t.factors]
        for k, axis, w in plan.reads:  # a factor read at the windows: zero in the padding
            masks[k] = read_windows(masks[k], axis, w, sizes[w.out])
            labels[k] = labels[k].replace(w.into, w.out + w.tap)
        for w in plan.writes:  # a position of J: count where the window lands inside
            at = w.positions(sizes[w.out])
            masks.append(((at >= 0) & (at < sizes[w.into])).astype(np.float64))
            labels.append(w.out + w.tap)
        # Every label but the positions that the windows fix, the taps included.
        written = {w.into for w in plan.writes}
        taps = {w.tap for w in t.windows}
        everything = "".join(x for x in sizes if (x in own and x not in written) or x in taps)
        rep = _classes(t.deltas, everything, everything)
        classes = ["".join(rep[x] for x in lab) for lab in labels]
        free = [sizes[r] for r in set(rep.values()) if r not in set("".join(classes))]
        placed = round(float(contract(",".join(classes) + "->", *masks))) if masks else 1
        return placed * math.prod(free)

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
        Elimination, Selection for a gather, or Windowed for a term with windows
        """
        if t.gather is not None:
            return Selection(t.sign, t.gather.name, t.gather.repeats)
        if t.windows:
            sizes = self.sizes
            return _eliminate_windows(t.sign, t.deltas, t.windows,
                                      tuple(f.labels for f in t.factors), tuple(operand_labels),
                                      result_labels, "".join(sizes), tuple(sizes.values()))
        return _eliminate(t.sign, t.deltas, tuple(f.labels for f in t.factors),
                          tuple(operand_labels), result_labels,
                          self.out_labels + self.in_labels, self.out_shape + self.in_shape)

    def contract(self, operands, result_labels, result_shape):
        """Σ over every other label of ``operands × term``, summed over terms.

        ``operands`` are extra ``(labels, array)`` pairs (a cotangent or a
        tangent, or none at all for the dense Jacobian); each term is one
        einsum once its deltas are eliminated.
        """
        if self.terms and self.terms[0].gather is not None:
            return self._select(operands, result_shape)
        result = None
        operand_labels = tuple(labels for labels, _ in operands)
        for t in self.terms:
            e = self.eliminate(t, operand_labels, result_labels)
            if isinstance(e, Windowed):
                result = self._through_windows(e, t, operands, result, result_labels,
                                               result_shape)
                continue
            arrays = [a for _, a in operands] + [f.value for f in t.factors]
            if e.regroups:
                arrays = [a if s is None else a.reshape(s) for a, s in zip(arrays, e.shapes)]
            result = e.accumulate(result, _einsum(e, arrays, self.like), result_shape, arrays,
                                  self.like)
        if result is None:
            return np.zeros(result_shape, like=self.like)
        return result

    def _through_windows(self, plan, t, operands, result, result_labels, result_shape):
        """Add one term with windows: read at the windows, contract, add at the windows."""
        arrays = [a for _, a in operands] + [f.value for f in t.factors]
        sizes = self.sizes
        for k, axis, w in plan.reads:
            arrays[k] = read_windows(arrays[k], axis, w, sizes[w.out])
        e = plan.elimination
        if not plan.writes:
            return e.accumulate(result, _einsum(e, arrays, self.like), result_shape, arrays,
                                self.like)
        core_shape = tuple(sizes[x] for x in plan.core_labels)
        core = e.accumulate(None, _einsum(e, arrays, self.like), core_shape, arrays, self.like)
        added = add_at_windows(core, plan.core_labels, result_labels, result_shape,
                               plan.writes, sizes)
        return added if result is None else result + added

    def _select(self, operands, result_shape):
        """A gather's contraction: scatter-add ``g``, read ``t``, or write the ones of J."""
        (t,) = self.terms
        gather, in_size = t.gather, math.prod(self.in_shape)
        if not operands:
            result = np.zeros(result_shape, like=self.like)
            if isinstance(result, np.ndarray) and result.size:  # Shaped, or empty: no entries
                rows = np.flatnonzero(gather.index >= 0)
                result.reshape(-1, in_size)[rows, gather.index.reshape(-1)[rows]] = t.sign
            return result
        ((labels, v),) = operands
        if labels == self.out_labels:
            result = gather.scatter(v, in_size)
        else:
            result = gather.gather(v)
        result = result.reshape(result_shape)
        return -result if t.sign < 0 else result

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
            memory limit (a Shaped one allocates nothing, so it is counted).
        """
        if not isinstance(self.like, Shaped):
            check_fits(self.shape, f"the Jacobian {self.lhs()}",
                       instead or "a vector-Jacobian product (vjp)")
        return self.contract([], self.out_labels + self.in_labels, self.shape)

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
        return self.contract([(self.out_labels, g)], self.in_labels, self.in_shape)

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
        return self.contract([(self.in_labels, t)], self.out_labels, self.out_shape)

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
            if isinstance(e, Selection):
                how = "added (np.add.at)" if e.adds else "placed"
                lines.append(f"{text}    {g} {how} into zeros shaped like {self.by}, at "
                             f"{e.name}")
                continue
            if isinstance(e, Windowed):
                einsum = f"einsum('{e.elimination.spec}')"
                read = "read at the windows (im2col), then " if e.reads else ""
                added = ", then added at the windows (col2im)" if e.writes else ""
                lines.append(f"{text}    {read}{einsum}{added}")
                continue
            if e.only_reshapes:
                lines.append(f"{text}    np.reshape({g}, {self.in_shape})   (nothing is computed)")
                continue
            hadamard = len(e.labels) > 1 and e.kept and all(labels == e.kept for labels in e.labels)
            note = "   (a Hadamard product: nothing is summed)" if hadamard else ""
            lines.append(f"{text}    einsum('{e.spec}'){note}{_placement(e)}")
        return "\n".join(lines)

    def eliminated(self, t, g="g"):
        """Term ``t`` times the cotangent, before and after its deltas are eliminated.

        Returns
        -------
        text : str
            ``"g_ab X_ac δ_bd  →  g_ad X_ac"``; an operand reshaped by a
            group delta is indexed by its flat index, ``g_(3c+d)``.
        elimination : Elimination
            The plan of the contraction that remains.
        """
        e = self.eliminate(t, [self.out_labels], self.in_labels)
        sizes = self.sizes
        sign = "−" if t.sign < 0 else ""
        if isinstance(e, Selection):
            g_at = Factor(g, self.out_labels, None).text()
            at = Factor(e.name, self.out_labels, None).text()
            index = t.gather.index
            shown = f", {e.name} = {index.ravel().tolist()}" if index.size <= 8 else ""
            return (f"{sign}{g_at} {t.gather.text(sizes)}  →  g_{self.by}[{at}] "
                    f"{'+=' if e.adds else '='} {sign}{g_at}{shown}"), e
        before = " ".join([Factor(g, self.out_labels, None).text()] +
                          [p.text(sizes) for p in t.parts])
        names = [g] + [f.name for f in t.factors]
        if isinstance(e, Windowed):
            labels = [self.out_labels] + [f.labels for f in t.factors]
            after = _windows_after(e, names, labels, self.in_labels, f"g_{self.by}")
            return f"{sign}{before}  →  {sign}{after}", e
        after = " ".join(Factor(n, e.printed(labels, sizes), None).text()
                         for n, labels in zip(names, e.labels))
        return f"{sign}{before}  →  {sign}{after}", e


def _placement(e):
    """What happens to an einsum's output that is not yet the result: ``"", "copied along d"``.

    A result label no operand carries gets the einsum's value at each of its
    values (a sum's VJP copies ``g`` along the summed axis); two result
    labels tied by a delta take it on their diagonal (a trace's ``δ_cd``).
    """
    if e.direct or e.merged_shape is not None:
        return ""
    classes = {}
    for x in e.result_labels:
        classes.setdefault(e.rep[x], []).append(x)
    copied = [tied[0] for r, tied in classes.items() if len(tied) == 1 and r not in e.present]
    diagonal = [" = ".join(tied) for tied in classes.values() if len(tied) > 1]
    if copied and diagonal:
        return f"   (then copied along {', '.join(copied)}, on the diagonal {', '.join(diagonal)})"
    if copied:
        return f"   (then copied along {', '.join(copied)})"
    return f"   (then placed on the diagonal {', '.join(diagonal)})" if diagonal else ""


def _windows_after(plan, names, labels, result_labels, result_name):
    """A term with windows after elimination: ``g_X(d,e,c+k−1) += g_dbc W_bek``.

    ``labels`` are each array's labels before elimination. An array read at
    the windows prints the read position in place of its label,
    ``X(a,e,c+f−1)``; a result added into at the windows prints that
    position on the left.
    """
    rep = plan.elimination.rep

    def at(w):
        return Window(rep[w.out], rep[w.tap], w.into, w.taps, w.stride, w.padding).at()

    def indexed(name, carried, windows):
        if not any(x in windows for x in carried):
            return Factor(name, "".join(rep[x] for x in carried), None).text()
        return f"{name}({','.join(at(windows[x]) if x in windows else rep[x] for x in carried)})"

    read = {w.into: w for _, _, w in plan.reads}
    text = " ".join(indexed(name, carried, read) for name, carried in zip(names, labels))
    if not plan.writes:
        return text
    written = {w.into: w for w in plan.writes}
    return f"{indexed(result_name, result_labels, written)} += {text}"


def _einsum(e, arrays, like=None):
    """The einsum an :class:`Elimination` leaves, of ``arrays`` (operands, then factors)."""
    if not arrays:
        return np.ones((), like=like)
    if len(arrays) == 1 and e.labels[0] == e.kept:
        return _array(arrays[0])
    return contract(e.spec, *arrays)


def _array(x):
    """``x`` as an array: NumPy's scalars (what ``-a`` gives for a 0-d ``a``) become 0-d arrays."""
    return x if hasattr(x, "__array_function__") else np.asarray(x)


def _check_operand(what, array, shape, derivative, side):
    if array.shape != tuple(shape):
        raise ValueError(
            f"{derivative.lhs()} has shape {derivative.shape} but the {what} has shape "
            f"{array.shape}; it must have the {side}'s shape {tuple(shape)}")


class SecondDerivative(Derivative):
    """The second derivative ``∂²out/∂x∂y`` as a sum of terms in index notation.

    A :class:`Derivative` whose input labels are those of ``x`` followed by
    those of ``y``: its dense form has shape ``out_shape + x_shape + y_shape``,
    ``H[a…, c…, e…] = ∂²out[a…]/∂x[c…]∂y[e…]``. For ``x`` and ``y`` the same
    argument it is the Hessian of each output entry, as a tensor.

    Attributes
    ----------
    by_second : str
        The name of ``y`` (``by`` is that of ``x``).
    split : int
        How many of the input labels are ``x``'s.

    Examples
    --------
    >>> d = SecondDerivative("U", "Z", "Z", "a", "c", "d", (3,), (3,), (3,),
    ...                      (term(Factor("f''(Z)", "a", np.ones(3)), Delta("a", "c"),
    ...                            Delta("a", "d")),))
    >>> print(d)
    ∂²U_a/∂Z_c∂Z_d = f''(Z)_a δ_ac δ_ad
    >>> d.materialise().shape
    (3, 3, 3)
    """

    __slots__ = ("by_second", "split")

    def __init__(self, of, by, by_second, out_labels, first_labels, second_labels, out_shape,
                 first_shape, second_shape, terms, like=None, check=True):
        self.by_second, self.split = by_second, len(first_labels)
        super().__init__(of, by, out_labels, first_labels + second_labels, out_shape,
                         tuple(first_shape) + tuple(second_shape), terms, like, check)

    def lhs(self):
        """The left-hand side, ``∂²H_ab/∂X_cd∂W_ef``."""
        out = f"{self.of}_{self.out_labels}" if self.out_labels else self.of
        first, second = self.in_labels[:self.split], self.in_labels[self.split:]
        x = f"{self.by}_{first}" if first else self.by
        y = f"{self.by_second}_{second}" if second else self.by_second
        return f"∂²{out}/∂{x}∂{y}"

    def _repr_latex_(self):
        sizes = self.sizes
        of, x, y = tex(self.of), tex(self.by), tex(self.by_second)
        first, second = self.in_labels[:self.split], self.in_labels[self.split:]
        out = f"{of}_{{{self.out_labels}}}" if self.out_labels else of
        x = f"{x}_{{{first}}}" if first else x
        y = f"{y}_{{{second}}}" if second else y
        rhs = tex(_join(self.terms, lambda t: t.tex(sizes)))
        return rf"$\frac{{\partial^2 {out}}}{{\partial {x}\,\partial {y}}} = {rhs}$"

    def vjp(self, g):
        raise TypeError("a second derivative has no VJP here: contract it with "
                        "jac.contract or materialise it")

    jvp = vjp

