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
from ..index import Delta, Factor, Window, read_windows, term
from .base import Op

_SPATIAL = ("(N, C, L)", "(N, C, H, W)")
# y from x read at the windows (n c, then window and tap per axis) and w; dw from g and it.
_SPECS = {1: {"y": "ncak,ock->noa", "w": "noa,ncak->ock"},
          2: {"y": "ncahbl,ochl->noab", "w": "noab,ncahbl->ochl"}}
_KERNEL = ("(O, C, K)", "(O, C, KH, KW)")


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


def _unlabelled(taps, strides, paddings):
    """The windows of every spatial axis for their arithmetic alone (reading, not printing)."""
    n = len(taps)
    return _windows("a" * n, "k" * n, "x" * n, taps, strides, paddings)


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


def _pad(a, axis, before, after):
    """``a`` with zeros added before and after along ``axis`` (or cropped, where negative)."""
    n = a.shape[axis]
    a = a[(slice(None),) * axis + (slice(max(-before, 0), n - max(-after, 0)),)]

    def zeros(count):
        return [np.zeros(a.shape[:axis] + (count,) + a.shape[axis + 1:], like=a)] if count > 0 \
            else []
    parts = zeros(before) + [a] + zeros(after)
    return np.concatenate(parts, axis=axis) if len(parts) > 1 else a


def _dilate(a, axis, stride):
    """``a`` with ``stride − 1`` zeros between neighbours along ``axis``."""
    if stride == 1:
        return a
    n = a.shape[axis]
    zeros = np.zeros(a.shape, like=a)
    spread = np.stack([a] + [zeros] * (stride - 1), axis=axis + 1)
    merged = spread.reshape(a.shape[:axis] + (n * stride,) + a.shape[axis + 1:])
    return merged[(slice(None),) * axis + (slice(0, (n - 1) * stride + 1),)]


def _back_to_positions(g, sizes, taps, strides, paddings):
    """``g`` dilated by the stride and padded so that a stride-1 correlation with a
    kernel of ``taps`` gives back one value per input position: the transposed convolution.

    Along an axis of ``n`` positions and ``A`` windows, ``g`` dilated has
    ``(A − 1)s + 1`` entries; ``K − 1 − p`` zeros before and ``n − 1 + p −
    (A − 1)s`` after make ``n + K − 1``, and window ``l`` of the flipped kernel
    then meets exactly the entries ``g_a`` with ``s·a + k − p = l``.
    """
    for d, (n, k, s, p) in enumerate(zip(sizes, taps, strides, paddings)):
        axis = 2 + d
        windows = g.shape[axis]
        g = _pad(_dilate(g, axis, s), axis, k - 1 - p, n - 1 + p - (windows - 1) * s)
    return g


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
      convolution**. The hand rule writes it as frameworks do, a stride-1
      correlation of ``g`` (dilated by ``s``, padded by ``K − 1 − p``) with
      the kernel flipped along its taps and its channels swapped.
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
        patches = _read(x, _unlabelled(taps, strides, paddings), counts)
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
            patches = _read(x, _unlabelled(taps, strides, paddings), counts)
            return contract(_SPECS[self.dims]["w"], g, patches)
        # A transposed convolution: the flipped kernel, channels swapped, over g spread back.
        flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * self.dims]
        spread = _back_to_positions(g, x.shape[2:], taps, strides, paddings)
        return self._value(spread, flipped.transpose((1, 0) + tuple(range(2, 2 + self.dims))))

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
