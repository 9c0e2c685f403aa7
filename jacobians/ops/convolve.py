"""Convolution and pooling: a window slid along the spatial axes.

In PyTorch's layout — ``x`` of shape ``(N, C, L)`` or ``(N, C, H, W)``, a
kernel ``w`` of shape ``(O, C, K)`` or ``(O, C, KH, KW)`` — a convolution
with stride ``s`` and zero padding ``p`` is the cross-correlation::

    y_noa = Σ_ck w_ock x_nc(s·a + k − p)          (x is 0 in the padding)

Its Jacobians need one new kind of delta, a :class:`~jacobians.index.Window`
``δ(s·a + k − p, l)`` tying the input position ``l`` to window ``a`` and tap
``k``::

    ∂y_noa/∂x_mcl = Σ_k w_ock δ_nm δ(s·a + k − p, l)
    ∂y_noa/∂w_qck = Σ_l x_ncl δ_oq δ(s·a + k − p, l) = δ_oq x_nc(s·a+k−p)

Eliminating the window gives the two rules frameworks run: w.r.t. the
input, ``g`` contracted with ``w`` and added back at the windows (col2im), a
*transposed convolution* — the same as correlating the dilated, padded ``g``
with the kernel flipped and its channels swapped; w.r.t. the kernel, the
input read at the windows (im2col) and contracted with ``g``, a
*correlation of the input with g*. The Jacobian w.r.t. ``x`` is banded
Toeplitz: constant along each diagonal ``l − s·a``, zero off the band of
width ``K``.

Pooling slides the same windows over each channel on its own: average
pooling is a convolution with the kernel ``1/(KH·KW)`` per channel, and max
pooling reads one entry per window, the window's largest, so its Jacobian is
a selection and its VJP sends ``g`` to those entries.
"""
import numpy as np

from ..contract import contract
from ..index import Delta, Factor, Window, add_at_windows, read_windows, term
from .base import Op

_SPATIAL = ("(N, C, L)", "(N, C, H, W)")
_KERNEL = ("(O, C, K)", "(O, C, KH, KW)")
# With x read at the windows (n c, then window and tap per axis): y from it and w, dw from g
# and it, and the columns g·w that col2im adds back into dx.
_SPECS = {1: {"y": "ncak,ock->noa", "w": "noa,ncak->ock", "x": "noa,ock->ncak"},
          2: {"y": "ncakbl,ockl->noab", "w": "noab,ncakbl->ockl", "x": "noab,ockl->ncakbl"}}


def _per_axis(op, name, value, dims, least):
    """``value`` (an int, or one int per spatial axis) as a tuple of ``dims`` ints ≥ ``least``."""
    values = value if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims or any(isinstance(v, (bool, np.bool_)) or
                                  not isinstance(v, (int, np.integer)) or v < least
                                  for v in values):
        raise ValueError(f"{op}: {name} must be an int ≥ {least} or {dims} of them (one per "
                         f"spatial axis), got {value!r}")
    return tuple(int(v) for v in values)


def _windows(labels, taps, into, sizes, strides, paddings):
    """One :class:`Window` per spatial axis: output label, tap label, input label."""
    return tuple(Window(o, k, x, n, s, p)
                 for o, k, x, n, s, p in zip(labels, taps, into, sizes, strides, paddings))


def _spatial_windows(taps, strides, paddings):
    """The windows of every spatial axis, labelled as the patches' axes are.

    Output window ``a`` (and ``b``), tap ``k`` (and ``l``), input position
    ``x`` (and ``y``): patches ``(N, C, A, K)`` are labelled ``ncak`` and
    ``(N, C, A, KH, B, KW)`` ``ncakbl``, the signal ``ncx`` or ``ncxy``.
    """
    n = len(taps)
    return _windows("ab"[:n], "kl"[:n], "xy"[:n], taps, strides, paddings)


def _added_back(columns, shape, windows):
    """col2im: every window's taps ``(N, C, A, K…)`` added back where they were read.

    The adjoint of :func:`_read`: ``result[n, c, s·a + k − p] += columns[n, c, a, k]``,
    dropping what lands in the padding; a transposed convolution when the
    columns are ``g`` times the kernel.
    """
    core = "nc" + "".join(w.out + w.tap for w in windows)
    result = "nc" + "".join(w.into for w in windows)
    sizes = dict(zip(core, columns.shape)) | dict(zip(result, shape))
    return add_at_windows(columns, core, result, tuple(shape), windows, sizes)


def _free_letters(n, used, letters="klmn"):
    """``n`` labels for the sums of a term, none of them a label of the Jacobian.

    Taps are ``k l`` and input positions ``u v`` where those are free.
    """
    return "".join([x for x in letters + "pqrstuvwxyz" if x not in used][:n])


def _read(x, windows, counts):
    """``x`` read at the windows of every spatial axis (im2col).

    ``(N, C, L) → (N, C, A, K)`` and ``(N, C, H, W) → (N, C, A, KH, B, KW)``:
    each spatial axis becomes its window and tap axes, zero in the padding.
    """
    for d, (w, n) in enumerate(zip(windows, counts)):
        x = read_windows(x, 2 + 2 * d, w, n)
    return x


class Convolution(Op):
    """``y = x ⋆ w``: a strided, zero-padded cross-correlation, as PyTorch's ``conv1d``/``conv2d``.

    Parameters
    ----------
    x : array_like, shape ``(N, C, L)`` or ``(N, C, H, W)``
        A batch of ``N`` signals or images of ``C`` channels.
    w : array_like, shape ``(O, C, K)`` or ``(O, C, KH, KW)``
        ``O`` kernels, each across all ``C`` channels.
    stride : int or tuple of int, optional
        How far the window moves per output position (1 by default), one
        per spatial axis or the same for all.
    padding : int or tuple of int, optional
        How many zeros pad each end of every spatial axis (0 by default).

    Returns
    -------
    y : ndarray, shape ``(N, O, A)`` or ``(N, O, A, B)``
        ``A = (L + 2p − K) // s + 1`` windows along each spatial axis;
        ``y_noa = Σ_ck w_ock x_nc(s·a + k − p)``, with ``x`` zero in the padding.

    Notes
    -----
    In index notation, with the window delta ``δ(s·a + k − p, l)`` (and one
    per spatial axis for ``conv2d``):

    * ``∂y_noa/∂x_mcl = Σ_k w_ock δ_nm δ(s·a + k − p, l)`` — banded
      Toeplitz: for each pair of channels, ``l − s·a`` picks the kernel's
      tap. Its derived VJP is ``g`` contracted with ``w`` and added back at
      the windows, ``dx_nc(s·a+k−p) += Σ_o g_noa w_ock``: a **transposed
      convolution**. The hand rule runs it as CPU frameworks do, the columns
      ``g·w`` of every tap, then col2im. Written as a correlation, the same
      sum reads ``g`` (dilated by ``s``, padded by ``K − 1 − p``) against
      the kernel flipped along its taps and its channels swapped: hence "a
      convolution with the flipped kernel".
    * ``∂y_noa/∂w_qck = δ_oq x_nc(s·a + k − p)`` — ``x`` read at the windows
      (im2col). Its VJP ``dw_ock = Σ_na g_noa x_nc(s·a+k−p)`` is a
      **correlation of the input with g**.

    ``y`` is bilinear: its second derivative within ``x`` or within ``w`` is
    zero, and across them ``∂²y_noa/∂x_mcl∂w_qdk = δ_nm δ_oq δ_cd
    δ(s·a + k − p, l)``.
    """

    arg_names = ("x", "w")
    params = ("stride", "padding")
    out_name = "y"
    dims = None

    def _settings(self, x, w, stride=1, padding=0):
        """Stride and padding per spatial axis, the kernel's taps and the window counts."""
        strides = _per_axis(self.name, "stride", stride, self.dims, 1)
        paddings = _per_axis(self.name, "padding", padding, self.dims, 0)
        taps = w.shape[2:]
        counts = tuple((n + 2 * p - k) // s + 1
                       for n, k, s, p in zip(x.shape[2:], taps, strides, paddings))
        return strides, paddings, taps, counts

    def _check(self, x, w, stride=1, padding=0):
        for name, a, layout in (("x", x, _SPATIAL), ("w", w, _KERNEL)):
            if a.ndim != 2 + self.dims:
                raise ValueError(f"{self.name}: {name} must have shape {layout[self.dims - 1]}, "
                                 f"got shape {a.shape}")
        if x.shape[1] != w.shape[1]:
            raise ValueError(f"{self.name}: x has shape {x.shape} and w has shape {w.shape}: "
                             f"axis 1 of x has {x.shape[1]} channels but axis 1 of w expects "
                             f"{w.shape[1]}; they must be equal")
        _, paddings, taps, _ = self._settings(x, w, stride, padding)
        for d, (n, k, p) in enumerate(zip(x.shape[2:], taps, paddings)):
            if k > n + 2 * p:
                raise ValueError(f"{self.name}: the kernel (w of shape {w.shape}) has {k} taps "
                                 f"along axis {2 + d}, more than the {n + 2 * p} positions of x "
                                 f"(shape {x.shape}) padded by {p} at each end")
            if k == 0:
                raise ValueError(f"{self.name}: w (shape {w.shape}) has no taps along axis "
                                 f"{2 + d}")

    def _value(self, x, w, stride=1, padding=0):
        strides, paddings, taps, counts = self._settings(x, w, stride, padding)
        patches = _read(x, _spatial_windows(taps, strides, paddings), counts)
        return contract(_SPECS[self.dims]["y"], patches, w)

    def _terms(self, wrt, args, out, labels, names, stride=1, padding=0):
        x, w = args
        strides, paddings, taps, _ = self._settings(x, w, stride, padding)
        O, I = labels
        batch, kernels, at = O[0], O[1], O[2:]
        if wrt == 0:  # Σ_k w_ock δ_nm δ(s·a + k − p, l)
            k = _free_letters(self.dims, O + I)
            return [term(Factor(names[1], kernels + I[1] + k, w), Delta(batch, I[0]),
                         *_windows(at, k, I[2:], taps, strides, paddings))]
        # Σ_l x_ncl δ_oq δ(s·a + k − p, l): x read at the windows
        positions = _free_letters(self.dims, O + I, "uvw")
        return [term(Factor(names[0], batch + I[1] + positions, x), Delta(kernels, I[0]),
                     *_windows(at, I[2:], positions, taps, strides, paddings))]

    def _second_terms(self, i, j, args, out, labels, names, stride=1, padding=0):
        if i == j:
            return []  # linear in x and in w
        x, w = args
        strides, paddings, taps, _ = self._settings(x, w, stride, padding)
        O, first, second = labels
        X, W = (first, second) if i == 0 else (second, first)
        return [term(Delta(O[0], X[0]), Delta(O[1], W[0]), Delta(X[1], W[1]),
                     *_windows(O[2:], W[2:], X[2:], taps, strides, paddings))]

    def vjp_rule(self, wrt, g, args, out, stride=1, padding=0):
        x, w = args
        strides, paddings, taps, counts = self._settings(x, w, stride, padding)
        if wrt == 1:  # a correlation of x with g: Σ over the batch and the windows
            patches = _read(x, _spatial_windows(taps, strides, paddings), counts)
            return contract(_SPECS[self.dims]["w"], g, patches)
        # A transposed convolution: g times the kernel at every tap, added back (col2im).
        columns = contract(_SPECS[self.dims]["x"], g, w)
        return _added_back(columns, x.shape, _spatial_windows(taps, strides, paddings))

    def jvp_rule(self, wrt, t, args, out, stride=1, padding=0):
        x, w = args
        return self._value(t, w, stride, padding) if wrt == 0 else \
            self._value(x, t, stride, padding)


class Conv1d(Convolution):
    __doc__ = Convolution.__doc__ + """
    >>> import jacobians as jac
    >>> print(jac.conv1d.formula(np.ones((1, 2, 5)), np.ones((3, 2, 3)), padding=1))
    ∂Y_abc/∂X_def = W_bek δ_ad δ(c+k−1, f)
    """
    name = "conv1d"
    dims = 1
    examples = ((((2, 2, 6), (3, 2, 3)), {}),
                (((1, 2, 7), (2, 2, 3)), {"stride": 2, "padding": 1}),
                (((2, 1, 5), (1, 1, 2)), {"padding": 2}),
                (((1, 3, 8), (2, 3, 4)), {"stride": 3}))


class Conv2d(Convolution):
    __doc__ = Convolution.__doc__ + """
    >>> import jacobians as jac
    >>> print(jac.conv2d.formula(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 3)), stride=2))
    ∂Y_abcd/∂X_efgh = W_bfkl δ_ae δ(2c+k, g) δ(2d+l, h)
    """
    name = "conv2d"
    dims = 2
    examples = ((((1, 2, 4, 4), (2, 2, 2, 2)), {}),
                (((2, 1, 5, 4), (2, 1, 3, 2)), {"stride": 2, "padding": 1}),
                (((1, 2, 5, 5), (1, 2, 3, 3)), {"stride": (2, 1), "padding": (0, 1)}))


conv1d = Conv1d()
conv2d = Conv2d()
