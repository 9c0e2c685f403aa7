"""What a Jacobian looks like as a matrix: layouts, Kronecker factors, structure.

A Jacobian of shape ``out.shape + in.shape`` becomes an ordinary matrix once
both index groups are flattened. How they are flattened is a *convention*,
not a second kind of Jacobian:

* numerator layout (rows are outputs) or denominator layout (its transpose);
* row-major ``vec`` (NumPy's ``reshape``, order ``"C"``) or column-major
  ``vec`` (order ``"F"``, as in the matrix-calculus literature).

The two ``vec`` conventions swap the factors of a Kronecker product: for
``H = X W``, column-major ``∂vec(H)/∂vec(W) = I_p ⊗ X`` and row-major
``∂vec(H)/∂vec(W) = X ⊗ I_p``. Both are the one statement
``∂H_ab/∂W_cd = X_ac δ_bd`` flattened two ways.

This module flattens (:func:`as_matrix`), looks for Kronecker factors
(:func:`nearest_kronecker`, :func:`kronecker_factors`), names the structure
of a Jacobian (:func:`structure`) or reads it off a local Jacobian's
index notation without building it (:func:`local_structure`, what the
figures print), and splits a batched Jacobian into its per-example blocks
(:func:`per_example`).
"""
import math
from dataclasses import dataclass

import numpy as np

from .algebra import is_compound
from .arrays import as_float_array
from .index import labels_for

_ORDERS = ("C", "F")
_LAYOUTS = ("numerator", "denominator")


def split_jacobian(J, out_ndim):
    """Check ``out_ndim`` against ``J`` and return ``(J, out_shape, in_shape)``."""
    J = as_float_array(J, "J")
    if isinstance(out_ndim, bool) or not isinstance(out_ndim, (int, np.integer)) \
            or not 0 <= out_ndim <= J.ndim:
        raise ValueError(f"out_ndim must be an int from 0 to {J.ndim} (the number of axes of "
                         f"J, shape {J.shape}), got {out_ndim!r}")
    return J, J.shape[:out_ndim], J.shape[out_ndim:]


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def as_matrix(J, out_ndim, order="C", layout="numerator"):
    """Flatten a Jacobian to a matrix: ``∂vec(out)/∂vec(in)``.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
        A Jacobian, ``J[a…, c…] = ∂out[a…]/∂in[c…]``.
    out_ndim : int
        How many leading axes of ``J`` belong to the output.
    order : {"C", "F"}
        How ``vec`` flattens: ``"C"`` row-major (NumPy's ``reshape``, the
        last index varies fastest), ``"F"`` column-major (the first index
        varies fastest, as in Magnus & Neudecker).
    layout : {"numerator", "denominator"}
        Numerator layout puts outputs along the rows; denominator layout
        is its transpose.

    Returns
    -------
    ndarray, shape ``(out.size, in.size)`` or ``(in.size, out.size)``
        A new array (never a view of ``J``); the second shape for
        denominator layout.

    Notes
    -----
    Entry ``(i, j)`` of the numerator-layout matrix is
    ``∂vec(out)_i/∂vec(in)_j``. Column-major ``vec`` of an array is the
    row-major ``vec`` of the array with its axes reversed, so order ``"F"``
    reverses the output axes and the input axes before reshaping.

    Examples
    --------
    >>> import jacobians as jac
    >>> X, W = np.arange(6.0).reshape(3, 2), np.ones((2, 2))
    >>> J = jac.matmul.jacobian(X, W, wrt=1)          # shape (3, 2, 2, 2)
    >>> bool(np.array_equal(as_matrix(J, 2, order="F"), np.kron(np.eye(2), X)))
    True
    >>> as_matrix(J, 2, layout="denominator").shape
    (4, 6)
    """
    J, out_shape, in_shape = split_jacobian(J, out_ndim)
    _check_choice("order", order, _ORDERS)
    _check_choice("layout", layout, _LAYOUTS)
    if order == "F":
        k, n = len(out_shape), J.ndim
        J = J.transpose(tuple(range(k - 1, -1, -1)) + tuple(range(n - 1, k - 1, -1)))
    M = J.reshape(_size(out_shape), _size(in_shape))
    return (M.T if layout == "denominator" else M).copy()


# ----------------------------------------------------------------------------
# Kronecker products
# ----------------------------------------------------------------------------
def _is_scaled_identity(M):
    """Whether the matrix ``M`` is ``c I`` for some nonzero ``c``, up to rounding."""
    if M.shape[0] != M.shape[1] or M[0, 0] == 0:
        return False
    return bool(np.allclose(M, M[0, 0] * np.eye(M.shape[0]), rtol=0, atol=1e-12 * abs(M[0, 0])))


def _fix_scale(A, B):
    """Choose the free scale c in ``(cA) ⊗ (B/c)`` so the factors read well.

    A factor that is a multiple of the identity becomes the identity (B is
    tried first), so ``X ⊗ I`` comes back as ``X`` and ``I``. Otherwise the
    two factors keep equal norms and the largest entry of B is positive.
    """
    if _is_scaled_identity(B):
        c = B[0, 0]
    elif _is_scaled_identity(A):
        c = 1 / A[0, 0]
    else:
        c = np.sign(B.flat[np.argmax(np.abs(B))])
    return A * c, B / c


def _shape2(shape, name):
    shape = tuple(shape)
    if len(shape) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
        raise ValueError(f"{name} must be a pair of positive ints (rows, columns), got {shape!r}")
    return tuple(int(n) for n in shape)


def nearest_kronecker(M, shape_a, shape_b):
    """The Kronecker product ``A ⊗ B`` nearest to ``M`` in Frobenius norm.

    Parameters
    ----------
    M : array_like, shape ``(m1 * m2, n1 * n2)``
        The matrix to factor.
    shape_a : tuple of int
        ``(m1, n1)``, the shape of ``A``.
    shape_b : tuple of int
        ``(m2, n2)``, the shape of ``B``.

    Returns
    -------
    A : ndarray, shape ``(m1, n1)``
    B : ndarray, shape ``(m2, n2)``
    relative_error : float
        ``‖M − A ⊗ B‖_F / ‖M‖_F`` (0 for a zero ``M``); about 1e-16 when
        ``M`` is exactly a Kronecker product.

    Notes
    -----
    Van Loan and Pitsianis (1993), "Approximation with Kronecker products":
    ``(A ⊗ B)[(i, k), (j, l)] = A_ij B_kl``, so rearranging ``M`` into the
    ``(m1 n1) × (m2 n2)`` matrix ``R[(i, j), (k, l)] = M[(i, k), (j, l)]``
    turns ``A ⊗ B`` into the rank-one matrix ``vec(A) vec(B)ᵀ``. The nearest
    rank-one matrix is the leading singular triple ``σ₁ u₁ v₁ᵀ`` (Eckart–Young),
    and the error left over is ``√(σ₂² + σ₃² + …)``, relative to
    ``‖M‖_F = √(Σ σ²)``.

    A Kronecker product fixes its factors only up to a scale,
    ``A ⊗ B = (cA) ⊗ (B/c)``. The scale is chosen so that a factor that is a
    multiple of the identity *is* the identity (``B`` first); otherwise ``A``
    and ``B`` have equal norms and the largest entry of ``B`` is positive.

    Examples
    --------
    >>> X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> A, B, err = nearest_kronecker(np.kron(X, np.eye(2)), (3, 2), (2, 2))
    >>> bool(np.allclose(A, X) and np.allclose(B, np.eye(2)) and err < 1e-12)
    True
    """
    M = as_float_array(M, "M")
    (m1, n1), (m2, n2) = _shape2(shape_a, "shape_a"), _shape2(shape_b, "shape_b")
    if M.shape != (m1 * m2, n1 * n2):
        raise ValueError(f"M has shape {M.shape}, but A {(m1, n1)} ⊗ B {(m2, n2)} has shape "
                         f"{(m1 * m2, n1 * n2)}")
    R = M.reshape(m1, m2, n1, n2).transpose(0, 2, 1, 3).reshape(m1 * n1, m2 * n2)
    U, s, Vt = np.linalg.svd(R, full_matrices=False)
    total = np.sqrt(np.sum(s**2))
    if total == 0:
        return np.zeros((m1, n1)), np.zeros((m2, n2)), 0.0
    root = np.sqrt(s[0])
    A, B = _fix_scale((root * U[:, 0]).reshape(m1, n1), (root * Vt[0]).reshape(m2, n2))
    return A, B, float(np.sqrt(np.sum(s[1:]**2)) / total)


def _factor_name(F):
    """``I_3`` for an identity, ``1_4`` for a column of ones, else its shape ``3×4``."""
    if F.shape[0] == F.shape[1] and np.allclose(F, np.eye(F.shape[0]), rtol=0, atol=1e-12):
        return f"I_{F.shape[0]}"
    if 1 in F.shape and np.allclose(F, 1, rtol=0, atol=1e-12):
        return f"1_{max(F.shape)}" + ("ᵀ" if F.shape[0] == 1 else "")
    return f"{F.shape[0]}×{F.shape[1]}"


@dataclass(frozen=True)
class KroneckerFactors:
    """A Jacobian (flattened) as a Kronecker product ``A ⊗ B``, or the nearest one.

    Attributes
    ----------
    A, B : ndarray
        The factors, 2-D; ``as_matrix(J, out_ndim, order) ≈ np.kron(A, B)``.
    a_labels, b_labels : str
        The index labels each factor carries, e.g. ``"ac"`` and ``"bd"`` for
        ``∂H_ab/∂W_cd = A_ac B_bd``.
    relative_error : float
        ``‖M − A ⊗ B‖_F / ‖M‖_F`` for the flattened Jacobian ``M``.
    exact : bool
        Whether ``relative_error ≤ tol``.
    order : str
        The ``vec`` order the factors belong to; ``"F"`` swaps them.
    """

    A: np.ndarray
    B: np.ndarray
    a_labels: str
    b_labels: str
    relative_error: float
    exact: bool
    order: str

    def __str__(self):
        verdict = "exact" if self.exact else "not exact"
        return (f"A ⊗ B in {self.order} order with A_{self.a_labels}: {_factor_name(self.A)}, "
                f"B_{self.b_labels}: {_factor_name(self.B)}; {verdict}, relative error "
                f"{self.relative_error:.1e}")


def _kronecker_splits(out_shape, in_shape, out_labels, in_labels):
    """Every way to give leading axes to A and the rest to B that is a real factoring.

    In row-major order the leading (slow) axes of each group index A's rows
    and columns, the trailing (fast) ones B's. Left out: a scalar factor
    (``1 ⊗ M`` is any M) and a row with a column (their Kronecker product is
    their outer product, so that would find every rank-one matrix). An axis
    of size 1 could go to either factor; the first split kept gives it to A.
    """
    seen = set()
    for s in range(len(out_shape), -1, -1):
        for t in range(len(in_shape), -1, -1):
            a = (_size(out_shape[:s]), _size(in_shape[:t]))
            b = (_size(out_shape[s:]), _size(in_shape[t:]))
            scalar = a == (1, 1) or b == (1, 1)
            outer = (a[0] == 1 and b[1] == 1) or (a[1] == 1 and b[0] == 1)
            if scalar or outer or (a, b) in seen:
                continue
            seen.add((a, b))
            yield a, b, out_labels[:s] + in_labels[:t], out_labels[s:] + in_labels[t:]


def _best_kronecker(J, out_ndim, order, tol):
    """The best-fitting :class:`KroneckerFactors`, or None if no split exists."""
    J, out_shape, in_shape = split_jacobian(J, out_ndim)
    M = as_matrix(J, out_ndim, order=order)
    out_labels, in_labels = labels_for(len(out_shape), len(in_shape))
    if order == "F":
        # Column-major vec is row-major vec of the reversed axes: the last
        # axes are the slow ones, and they go to A.
        out_shape, in_shape = out_shape[::-1], in_shape[::-1]
        out_labels, in_labels = out_labels[::-1], in_labels[::-1]
    best = None
    for a, b, a_labels, b_labels in _kronecker_splits(out_shape, in_shape, out_labels, in_labels):
        A, B, error = nearest_kronecker(M, a, b)
        if best is None or error < best.relative_error:
            best = KroneckerFactors(A, B, "".join(sorted(a_labels)), "".join(sorted(b_labels)),
                                    error, error <= tol, order)
    return best


def kronecker_factors(J, out_ndim, order="C", tol=1e-10):
    """Whether a Jacobian is a Kronecker product of factors its axes imply.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
    out_ndim : int
        How many leading axes of ``J`` belong to the output.
    order : {"C", "F"}
        The ``vec`` convention of :func:`as_matrix`; ``"F"`` swaps the factors.
    tol : float
        Largest relative error that counts as exact (rounding is ~1e-16).

    Returns
    -------
    KroneckerFactors
        The split of the axes whose nearest Kronecker product fits best.

    Raises
    ------
    ValueError
        If the axes allow no split (a Jacobian with a single output or
        input entry, for instance).

    Notes
    -----
    The candidate factors come from the axes: in row-major order the
    leading ``s`` output axes and leading ``t`` input axes index ``A``, the
    rest index ``B``, for every ``s`` and ``t`` that leave neither factor a
    scalar and do not pair a row with a column (that product is only an
    outer product, so any rank-one matrix would pass). For
    ``∂H_ab/∂W_cd = X_ac δ_bd`` (out ``(n, p)``, in ``(m, p)``) the split
    ``A_ac`` (n×m), ``B_bd`` (p×p) is exact: ``X ⊗ I_p``.

    Examples
    --------
    >>> import jacobians as jac
    >>> X, W = np.arange(6.0).reshape(3, 2), np.ones((2, 4))
    >>> print(kronecker_factors(jac.matmul.jacobian(X, W, wrt=1), 2))  # doctest: +ELLIPSIS
    A ⊗ B in C order with A_ac: 3×2, B_bd: I_4; exact, relative error ...
    >>> kf = kronecker_factors(jac.matmul.jacobian(X, W, wrt=1), 2, order="F")
    >>> bool(np.allclose(kf.A, np.eye(4)) and np.allclose(kf.B, X))
    True
    """
    best = _best_kronecker(J, out_ndim, order, tol)
    if best is None:
        shape = np.shape(J)
        raise ValueError(f"a Jacobian of shape {shape} with out_ndim={out_ndim} has no split of "
                         f"its axes into two Kronecker factors, neither a scalar nor a row "
                         f"paired with a column")
    return best


# ----------------------------------------------------------------------------
# Structure
# ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Structure:
    """What a Jacobian is, as a matrix: its kind and how many entries are free.

    Attributes
    ----------
    kind : str
        One of ``"zero"``, ``"identity"``, ``"diagonal"``, ``"permutation"``,
        ``"selection"``, ``"banded Toeplitz"``, ``"block-diagonal"``,
        ``"Kronecker"``, ``"batch-coupled"``, ``"sparse"``, ``"dense"`` (see
        :func:`structure`).
    shape : tuple of int
        The Jacobian's shape, ``out.shape + in.shape``.
    out_ndim : int
        How many leading axes belong to the output.
    nnz : int
        Entries with ``|J| > tol``.
    blocks : int or None
        For ``"block-diagonal"`` and ``"batch-coupled"``: the number of
        diagonal blocks.
    factors : KroneckerFactors or None
        For ``"Kronecker"``: the factors, in row-major order.
    axes : tuple of int or None
        For ``"block-diagonal"`` and ``"batch-coupled"``: the axes, numbered
        alike in the output and the input, whose indices pick the block,
        ``(0,)`` for a block-diagonal batch and ``(1,)`` for batch norm's
        features. A block holds the entries whose output and input agree on
        these axes.
    band : tuple of (int, int) or None
        For ``"banded Toeplitz"``: for each spatial axis (2, 3, …) the
        band's width (the kernel's taps that are not zero) and the stride
        (None along an axis of one window, where no stride shows).
    """

    kind: str
    shape: tuple
    out_ndim: int
    nnz: int
    blocks: int = None
    factors: KroneckerFactors = None
    axes: tuple = None
    band: tuple = None

    @property
    def order(self):
        """The tensor's order: its number of axes."""
        return len(self.shape)

    @property
    def size(self):
        """Number of entries."""
        return _size(self.shape)

    @property
    def density(self):
        """Nonzero entries as a fraction of all entries (0 for an empty array)."""
        return self.nnz / self.size if self.size else 0.0

    @property
    def detail(self):
        """What :meth:`__str__` says after the kind, ``""`` if nothing.

        The blocks' number and size (``", 4 blocks of 3×3"``), the axes of
        a batch-coupled Jacobian (``", block-diagonal over axis 1 but not
        axis 0, 3 blocks of 4×4"``), or the Kronecker factors
        (``" 4×3 ⊗ I_2"``): ``kind + detail`` names the structure.
        """
        if self.kind in ("block-diagonal", "batch-coupled"):
            out, inp = self.shape[:self.out_ndim], self.shape[self.out_ndim:]
            blocks = f"{self.blocks} blocks of {_size(out) // self.blocks}×" \
                     f"{_size(inp) // self.blocks}"
            if self.kind == "block-diagonal":
                return f", {blocks}"
            *rest, last = map(str, self.axes)
            over = f"axes {', '.join(rest)} and {last}" if rest else f"axis {last}"
            return f", block-diagonal over {over} but not axis 0, {blocks}"
        if self.kind == "Kronecker":
            return f" {_factor_name(self.factors.A)} ⊗ {_factor_name(self.factors.B)}"
        if self.kind == "banded Toeplitz":
            widths = "×".join(str(w) for w, _ in self.band)
            strides = ", ".join("—" if s is None else str(s) for _, s in self.band)
            axes = ", ".join(str(2 + k) for k in range(len(self.band)))
            many = len(self.band) > 1
            return (f", a band {widths} wide, stride{'s' * many} {strides} along "
                    f"ax{'es' if many else 'is'} {axes}")
        return ""

    def __str__(self):
        return (f"{self.kind}{self.detail}: {self.nnz} of {self.size} entries nonzero "
                f"({self.density:.1%})")


def _cross_blocks(J, out_ndim, axis=0):
    """``(B, B)`` array: largest ``|J[…, b, …, b', …]|`` per pair, 0 on the diagonal.

    ``b`` indexes the output's ``axis`` and ``b'`` the input's, both of size B.
    """
    B = J.shape[axis]
    paired = np.moveaxis(np.abs(J), (axis, out_ndim + axis), (0, 1))
    paired = paired.reshape(B, B, J.size // (B * B) if B else 0)
    largest = paired.max(axis=2, initial=0.0)
    np.fill_diagonal(largest, 0.0)
    return largest


def _band(J, out_ndim, tol):
    """Each spatial axis pair's band width and stride, if ``J`` is banded Toeplitz; else None.

    ``J`` of shape ``(N, O, A…, N', C, L…)``, a convolution's: along each
    pair of spatial axes (output axis ``k ≥ 2`` against input axis ``k``),
    moving the output one window on and the input ``s`` positions on
    gives the same entries, ``J[…, a+1, …, l+s, …] = J[…, a, …, l, …]``, so
    every entry depends on ``l − s·a`` alone. It is banded when the
    nonzeros lie on at least 2 such diagonals and on fewer than the input
    has positions.
    """
    out_shape, in_shape = J.shape[:out_ndim], J.shape[out_ndim:]
    if out_ndim != len(in_shape) or out_ndim < 3:
        return None
    band, wide = [], False
    for k in range(2, out_ndim):
        a, l = k, out_ndim + k
        A, L = J.shape[a], J.shape[l]
        # One window shows no stride: its band is the span of the positions it reads.
        stride = None if A < 2 else next((s for s in range(1, L) if np.all(np.abs(
            J[_cut(J.ndim, a, 1, None, l, s, None)] -
            J[_cut(J.ndim, a, 0, -1, l, 0, L - s)]) <= tol)), 0)
        if stride == 0:
            return None
        placed = (np.abs(np.moveaxis(J, (a, l), (0, 1))) > tol).reshape(A, L, -1).any(axis=2)
        rows, columns = np.nonzero(placed)
        diagonals = columns - (stride or 0) * rows
        width = int(diagonals.max() - diagonals.min()) + 1 if diagonals.size else 0
        band.append((width, stride))
        wide = wide or (stride is not None and 2 <= width < L)
    return tuple(band) if wide else None


def _cut(ndim, a, a_start, a_stop, l, l_start, l_stop):
    """The index ``[…, a_start:a_stop, …, l_start:l_stop, …]`` along axes ``a`` and ``l``."""
    index = [slice(None)] * ndim
    index[a], index[l] = slice(a_start, a_stop), slice(l_start, l_stop)
    return tuple(index)


def structure(J, out_ndim, tol=0.0, kron_tol=1e-10):
    """Name the structure of a Jacobian.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
    out_ndim : int
        How many leading axes of ``J`` belong to the output.
    tol : float
        Entries with ``|J| ≤ tol`` count as zero, and entries within ``tol``
        of 1 as one (identity, permutation).
    kron_tol : float
        Largest relative error of a Kronecker fit that counts as exact.

    Returns
    -------
    Structure
        The first kind in this list that holds, with the nonzero count;
        ``M`` is the row-major matricised Jacobian ``as_matrix(J, out_ndim)``:

        1. ``"zero"``: no nonzero entry.
        2. ``"identity"``: ``M = I``.
        3. ``"diagonal"``: ``M`` is square, at least 2×2, and zero off its
           diagonal (an entry-by-entry operation).
        4. ``"permutation"``: ``M`` is a permutation matrix (a transpose).
        5. ``"banded Toeplitz"``: shaped like a convolution's,
           ``(N, O, A…, N', C, L…)``, and along every spatial axis the
           entries depend on ``l − s·a`` only, nonzero on a band of at least
           2 and fewer than ``L`` diagonals (see :attr:`Structure.band`).
        6. ``"block-diagonal"``: the leading output and input axes have
           the same size B ≥ 2 and are tied: ``J[b, …, b', …] = 0`` for
           ``b ≠ b'`` (each row of a batch depends on its own row only).
        7. ``"selection"``: every row of ``M`` holds one 1, and every column
           at most one: each output entry is one input entry, read by no
           other (indexing without repeats, max-pooling of windows that do
           not overlap). Broadcasting reads an entry many times: not here.
        8. ``"Kronecker"``: ``M = A ⊗ B`` exactly, for factors indexed by
           the axes (see :func:`kronecker_factors`), neither a scalar.
           A bias row (``1_n ⊗ I_p``) and ``∂H/∂W`` (``X ⊗ I_p``) are here.
        9. ``"batch-coupled"``: the leading output and input axes have the
           same size B ≥ 2 but are not tied (an output example depends on
           another example's input), while some later axis ``k``, of one
           size ≥ 2 in the output and the input, is:
           ``J[…, i, …, i', …] = 0`` for ``i ≠ i'`` on axis ``k`` of each.
           Batch norm of a ``(B, F)`` batch: one ``B × B`` block per
           feature, mixing every example. :attr:`Structure.axes` lists
           every such axis.
        10. ``"sparse"``: none of the above, with some zero entries.
        11. ``"dense"``: none of the above, every entry nonzero.

    Notes
    -----
    The list goes from the most to the least specific: an identity is also
    diagonal, a diagonal Jacobian of a batch is also block-diagonal, and
    ``I_B ⊗ B`` is both block-diagonal and Kronecker (block-diagonal is
    reported, since it is the per-example fact that matters for a batch).
    A convolution of a batch is block-diagonal too, and banded Toeplitz is
    reported: it says what each block is. A selection of a batch (a row's
    maximum, max-pooling) is reported block-diagonal.
    ``A ⊗ I_F`` (``Y = A X`` mixing the rows of ``X``) is both Kronecker
    and batch-coupled, and Kronecker is reported: it says more.
    Identity and diagonal are judged on the row-major matrix, so a
    ``reshape`` (same entries, new shape) is the identity. A batch-coupled
    Jacobian's blocks lie along the diagonal only once the tied axes are
    flattened first: for a ``(B, F)`` batch, in the column-major matrix
    ``as_matrix(J, 2, order="F")``. In the row-major one, each of batch
    norm's nonzeros sits on the diagonal of an ``F × F`` block, one such
    block for every pair of examples.

    Examples
    --------
    >>> import jacobians as jac
    >>> Z = np.linspace(-1.0, 1.0, 6).reshape(3, 2)
    >>> print(structure(jac.sigmoid.jacobian(Z), 2))
    diagonal: 6 of 36 entries nonzero (16.7%)
    >>> print(structure(jac.softmax.jacobian(Z), 2))
    block-diagonal, 3 blocks of 2×2: 12 of 36 entries nonzero (33.3%)
    >>> X = np.array([[1.0, 0.0], [2.0, 4.0], [4.0, 1.0]])   # 3 examples, 2 features
    >>> print(structure(jac.batch_norm.jacobian(X), 2))  # doctest: +NORMALIZE_WHITESPACE
    batch-coupled, block-diagonal over axis 1 but not axis 0, 2 blocks of 3×3:
    18 of 36 entries nonzero (50.0%)
    """
    J, out_shape, in_shape = split_jacobian(J, out_ndim)
    M = as_matrix(J, out_ndim)
    nonzero = np.abs(M) > tol
    nnz = int(nonzero.sum())

    def result(kind, **detail):
        return Structure(kind, J.shape, out_ndim, nnz, **detail)

    if nnz == 0:
        return result("zero")
    square = M.shape[0] == M.shape[1]
    if square and np.all(np.abs(M - np.eye(M.shape[0])) <= tol):
        return result("identity")
    off_diagonal = nonzero & ~np.eye(*M.shape, dtype=bool)
    if square and M.shape[0] >= 2 and not off_diagonal.any():
        return result("diagonal")
    if square and np.all(nonzero.sum(axis=0) == 1) and np.all(nonzero.sum(axis=1) == 1) \
            and np.all(np.abs(M[nonzero] - 1) <= tol):
        return result("permutation")
    band = _band(J, out_ndim, tol)
    if band is not None:
        return result("banded Toeplitz", band=band)
    batch = bool(out_shape and in_shape) and out_shape[0] == in_shape[0] >= 2
    if batch and not (_cross_blocks(J, out_ndim) > tol).any():
        return result("block-diagonal", blocks=out_shape[0], axes=(0,))
    if np.all(nonzero.sum(axis=1) == 1) and np.all(nonzero.sum(axis=0) <= 1) and \
            np.all(np.abs(M[nonzero] - 1) <= tol):
        return result("selection")
    factors = _best_kronecker(J, out_ndim, "C", kron_tol)
    if factors is not None and factors.exact:
        return result("Kronecker", factors=factors)
    if batch:
        tied = tuple(k for k in range(1, min(len(out_shape), len(in_shape)))
                     if out_shape[k] == in_shape[k] >= 2
                     and not (_cross_blocks(J, out_ndim, k) > tol).any())
        if tied:
            return result("batch-coupled", blocks=math.prod(out_shape[k] for k in tied),
                          axes=tied)
    return result("dense" if nnz == M.size else "sparse")


def per_example(J, out_ndim, tol=0.0):
    """Split a batched Jacobian into the Jacobians of its examples.

    Parameters
    ----------
    J : array_like, shape ``(B, *out, B, *in)``
        The Jacobian of a batch: the first output axis and the first input
        axis both run over the ``B`` examples.
    out_ndim : int
        How many leading axes of ``J`` belong to the output, the batch axis
        included (so ``J.shape[out_ndim]`` is the input's batch axis).
    tol : float
        Cross-example entries with ``|J| ≤ tol`` count as zero.

    Returns
    -------
    result : ndarray, shape ``(B, *out, *in)``
        ``result[b] = J[b, …, b, …]``: the Jacobian of example ``b``'s
        output by its own input.

    Raises
    ------
    ValueError
        If the two batch axes differ in size, or an example's output
        depends on another example's input: the message names the first
        such pair ``(b, b')`` and the largest cross-example entry.

    Notes
    -----
    ``J[b, …, b', …] = 0`` for ``b ≠ b'`` is the delta ``δ_bb'`` that an
    operation applied row by row carries (σ, softmax, a layer ``x W``), and
    it is why a batch can be differentiated one example at a time. The
    result is the diagonal of ``J`` over the two batch axes.

    Examples
    --------
    >>> import jacobians as jac
    >>> Z = np.zeros((4, 3))
    >>> per_example(jac.softmax.jacobian(Z), 2).shape
    (4, 3, 3)
    """
    J, out_shape, in_shape = split_jacobian(J, out_ndim)
    if not out_shape or not in_shape:
        raise ValueError(f"J has shape {J.shape} with out_ndim={out_ndim}: both the output and "
                         f"the input need a leading batch axis")
    if out_shape[0] != in_shape[0]:
        raise ValueError(f"J has shape {J.shape}: the output's batch axis (axis 0) has size "
                         f"{out_shape[0]} but the input's (axis {out_ndim}) has size "
                         f"{in_shape[0]}; they must be equal")
    cross = _cross_blocks(J, out_ndim)
    offending = np.argwhere(cross > tol)
    if len(offending):
        b, b2 = offending[0]
        w, w2 = np.unravel_index(np.argmax(cross), cross.shape)
        raise ValueError(
            f"J is not per-example: output example {b} depends on input example {b2} "
            f"(max |J[{b}, …, {b2}, …]| = {cross[b, b2]:.3g}); the largest cross-example entry "
            f"is {cross[w, w2]:.3g}, at examples ({w}, {w2})")
    batch = np.arange(out_shape[0])
    return np.moveaxis(J, out_ndim, 1)[batch, batch]


# ----------------------------------------------------------------------------
# The structure of a local Jacobian, read off its index-notation term
# ----------------------------------------------------------------------------
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def identity_name(n):
    """The n × n identity as a figure names a Kronecker factor: ``I₂``."""
    return f"I{str(n).translate(_SUBSCRIPTS)}"


def ones_name(n, row=False):
    """A column (or ``row``) of n ones as a figure names a Kronecker factor: ``1₃``, ``1₃ᵀ``."""
    return f"1{str(n).translate(_SUBSCRIPTS)}" + ("ᵀ" if row else "")


def _tied(delta, out_labels, in_labels):
    """``(output label, input label)`` for a delta tying one of each, else None."""
    i, j = delta
    if delta.grouped:
        return None
    if i in in_labels and j in out_labels:
        i, j = j, i
    return (i, j) if i in out_labels and j in in_labels else None


def _aligned(deltas, out_labels, in_labels):
    """Whether ``deltas`` tie output axis k to input axis k for every k.

    One delta between all the output axes and all the input axes, read as
    flat indices, counts too (a reshape): either way the flattened Jacobian
    is nonzero on its diagonal only.
    """
    if len(deltas) == 1 and {deltas[0].i, deltas[0].j} == {out_labels, in_labels}:
        return True
    pairs = [_tied(d, out_labels, in_labels) for d in deltas]
    return len(pairs) == len(out_labels) == len(in_labels) and \
        set(pairs) == set(zip(out_labels, in_labels))


def _gather_kind(derivative, gather):
    """What a selection ``δ(flat(in), p_out)`` is, as a matrix; None if nothing particular."""
    p = np.asarray(gather.index)
    out_shape, in_shape = derivative.out_shape, derivative.in_shape
    in_size = math.prod(in_shape)
    if p.size == in_size:
        flat = p.reshape(-1)
        if np.array_equal(flat, np.arange(in_size)):
            return "identity"
        if np.array_equal(np.sort(flat), np.arange(in_size)):
            return "permutation"
    if out_shape and in_shape and out_shape[0] == in_shape[0] >= 2:
        rows = np.arange(out_shape[0]).reshape((-1,) + (1,) * (len(out_shape) - 1))
        if np.all((p < 0) | (p // (in_size // in_shape[0]) == rows)):
            return "block-diagonal"
    if np.all(p >= 0) and not gather.repeats:  # one input entry each, none read twice
        return "selection"
    return None


def _tap_span(term, window):
    """How many taps a window's band spans, from the first to the last that is not zero.

    A factor carrying the tap (the kernel) may be zero at its ends; a window
    whose taps no factor carries (average pooling) spans them all.
    """
    nonzero = np.ones(window.taps, dtype=bool)
    for f in term.factors:
        if window.tap in f.labels:
            k = f.labels.index(window.tap)
            nonzero &= np.moveaxis(np.asarray(f.value) != 0, k, 0).reshape(window.taps, -1).any(1)
    taps = np.flatnonzero(nonzero)
    return int(taps[-1] - taps[0]) + 1 if taps.size else 0


def _part_name(term, out_part, in_part, sizes):
    """A Kronecker factor by name: ``I₂``, ``1₃ᵀ``, ``X`` or ``Xᵀ``; None if it has none."""
    labels = set(out_part + in_part)
    factors = [f for f in term.factors if f.labels and set(f.labels) <= labels]
    deltas = [d for d in term.deltas if set(d.i + d.j) <= labels]
    rows, cols = (math.prod(sizes[x] for x in part) for part in (out_part, in_part))
    if not factors and deltas and _aligned(deltas, out_part, in_part):
        return identity_name(rows)
    if not factors and not deltas and bool(out_part) != bool(in_part):
        return ones_name(rows * cols, row=bool(in_part))
    if len(factors) == 1 and not deltas:
        label, name = factors[0].labels, factors[0].name
        name = f"({name})" if is_compound(name) else name
        if label == out_part + in_part and out_part:
            return name
        if label == in_part + out_part:
            return f"{name}ᵀ"
    return None


def _kronecker(derivative, term):
    """The factors of a term that is a Kronecker product: ``"X ⊗ I₂"``, ``""`` or None.

    The axes split as :func:`jacobians.structure.kronecker_factors` splits
    them, leading ones to the first factor and trailing ones to the second,
    and the same splits are skipped (a scalar factor, a row beside a
    column). A term is a product, so it is a Kronecker product when each of
    its factors and deltas lies on one side of a split. The factors are
    named when each is an identity, a ones vector or one coefficient array
    (``""`` otherwise); None when no split separates the term.
    """
    out_labels, in_labels, sizes = derivative.out_labels, derivative.in_labels, derivative.sizes
    items = [set(f.labels) for f in term.factors if f.labels] + \
        [set(d.i + d.j) for d in term.deltas] + \
        [set(w.out + w.tap + w.into) for w in term.windows]
    scalars = [f.name for f in term.factors if not f.labels]
    for s in range(len(out_labels), -1, -1):
        for t in range(len(in_labels), -1, -1):
            parts = ((out_labels[:s], in_labels[:t]), (out_labels[s:], in_labels[t:]))
            (m1, n1), (m2, n2) = [[math.prod(sizes[x] for x in side) for side in part]
                                  for part in parts]
            if (m1, n1) == (1, 1) or (m2, n2) == (1, 1) or (m1 == 1 and n2 == 1) or \
                    (n1 == 1 and m2 == 1):
                continue
            a = set(parts[0][0] + parts[0][1])
            if not all(item <= a or not item & a for item in items):
                continue
            names = [_part_name(term, *part, sizes) for part in parts]
            if None in names:
                return ""
            sign = "−" if term.sign < 0 else ""
            scale = " ".join(scalars) + " " if scalars else ""
            return f"{sign}{scale}{names[0]} ⊗ {names[1]}"
    return None


def local_structure(derivative):
    """Name the structure of a local Jacobian from its index-notation term.

    The kinds are those of :func:`structure`, judged the same way
    (on the Jacobian flattened row-major) but read off the term's deltas and
    factors instead of the dense array, so nothing is materialised: a
    delta tying output axis k to input axis k for every k makes a diagonal,
    a delta between the first output and input axes a block-diagonal, a
    term whose parts split between leading and trailing axes a Kronecker
    product, a window delta into the input a banded Toeplitz (a
    convolution's), a gather that reads one entry per output a selection,
    and a delta between a later pair of axes, where the first pair
    has none, a batch-coupled Jacobian (batch norm's). A kind is given only
    where the terms prove it (for batch-coupled, that the first pair is
    untied is read off the terms, not the values); otherwise the
    answer is ``"sparse"`` or ``"dense"`` by :meth:`~jacobians.Derivative.nnz`
    (a dense check could still find, say, a Kronecker product in the values).

    Parameters
    ----------
    derivative : jacobians.Derivative
        From ``op.derivative(...)`` or ``node.derivative(position)``.

    Returns
    -------
    kind : str
        ``"scalar"`` for order 0, else one of ``"zero"``, ``"identity"``,
        ``"diagonal"``, ``"permutation"``, ``"selection"``, ``"banded Toeplitz"``,
        ``"block-diagonal"``,
        ``"Kronecker"``, ``"batch-coupled"``, ``"sparse"``, ``"dense"``.
    factors : str
        For a Kronecker product whose factors have names, ``"X ⊗ I₂"``;
        otherwise ``""``.

    Examples
    --------
    >>> import jacobians as jac
    >>> X, W = np.ones((3, 4)), np.ones((4, 2))
    >>> local_structure(jac.matmul.derivative(X, W, wrt=1))
    ('Kronecker', 'X ⊗ I₂')
    >>> local_structure(jac.sigmoid.derivative(X))
    ('diagonal', '')
    """
    if not derivative.order:
        return "scalar", ""
    nnz = derivative.nnz()
    if nnz == 0:
        return "zero", ""
    out_labels, in_labels, terms = derivative.out_labels, derivative.in_labels, derivative.terms
    generic = "dense" if nnz == derivative.size else "sparse"
    first = terms[0]
    if first.gather is not None:
        return _gather_kind(derivative, first.gather) or generic, ""
    sizes = derivative.sizes
    if len(terms) == 1 and any(w.into in in_labels and 2 <= sizes[w.out] and
                               w.stride < sizes[w.into] and
                               2 <= _tap_span(first, w) < sizes[w.into] for w in first.windows):
        return "banded Toeplitz", ""  # as the dense check: ≥ 2 windows, a band ≥ 2 and < L
    square = math.prod(derivative.out_shape) >= 2
    if all(_aligned(t.deltas, out_labels, in_labels) for t in terms):
        if len(terms) == 1 and not first.factors and first.sign > 0:
            return "identity", ""
        if square:
            return "diagonal", ""
    ties = [_tied(d, out_labels, in_labels) for d in first.deltas]
    if len(terms) == 1 and not first.factors and first.sign > 0 and None not in ties and \
            len(ties) == len(out_labels) == len(in_labels):
        return "permutation", ""
    tied_by_term = [{_tied(d, out_labels, in_labels) for d in t.deltas} for t in terms]

    def tied(k):  # whether every term ties output axis k to input axis k, of size ≥ 2
        pair = (out_labels[k], in_labels[k])
        return sizes[pair[0]] == sizes[pair[1]] >= 2 and all(pair in t for t in tied_by_term)

    batch = bool(out_labels and in_labels) and sizes[out_labels[0]] == sizes[in_labels[0]] >= 2
    if batch and tied(0):
        return "block-diagonal", ""
    if len(terms) == 1:
        factors = _kronecker(derivative, first)
        if factors is not None:
            return "Kronecker", factors
    if batch and any(tied(k) for k in range(1, min(len(out_labels), len(in_labels)))):
        return "batch-coupled", ""
    return generic, ""
