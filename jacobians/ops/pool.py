"""Pooling: each channel's windows summarised by their largest entry or their mean.

Both slide the windows of a convolution (:mod:`.convolve`) over an
``(N, C, H, W)`` batch, each channel on its own, with no padding. Average
pooling is a convolution with the kernel ``1/(KH·KW)`` per channel, so its
Jacobian is the same window delta. Max pooling reads one entry per window,
so its Jacobian is a selection, ``δ(flat index of x, p_abcd)`` with ``p`` the
position of each window's largest entry, and its VJP routes each ``g`` to
that one entry, adding where overlapping windows chose the same one.
"""
import math

import numpy as np

from ..abstract import Shaped
from ..index import Delta, Factor, Gather, term
from .base import Op
from .convolve import _added_back, _free_letters, _per_axis, _read, _spatial_windows, _windows


class _Pool(Op):
    """Windows of ``size`` moved by ``stride`` over the last two axes of ``(N, C, H, W)``."""

    arg_names = ("x",)
    params = ("size", "stride")
    required = ("size",)
    trailing = ("size", "stride")  # jac.max_pool2d(x, 2), as PyTorch's kernel_size
    out_name = "y"

    def _settings(self, x, size, stride=None):
        """The window's size and stride per spatial axis, and the window counts."""
        sizes = _per_axis(self.name, "size", size, 2, 1)
        strides = sizes if stride is None else _per_axis(self.name, "stride", stride, 2, 1)
        counts = tuple((n - k) // s + 1 for n, k, s in zip(x.shape[2:], sizes, strides))
        return sizes, strides, counts

    def _check(self, x, size=None, stride=None):
        if x.ndim != 4:
            raise ValueError(f"{self.name}: x must have shape (N, C, H, W), got shape {x.shape}")
        sizes, _, _ = self._settings(x, size, stride)
        for d, (n, k) in enumerate(zip(x.shape[2:], sizes)):
            if k > n:
                raise ValueError(f"{self.name}: a window of size {sizes} does not fit x of "
                                 f"shape {x.shape}: it spans {k} along axis {2 + d}, which has "
                                 f"{n} entr{'y' if n == 1 else 'ies'}")

    def _windows_of(self, x, size, stride):
        sizes, strides, counts = self._settings(x, size, stride)
        return _spatial_windows(sizes, strides, (0, 0)), counts

    def _patches(self, x, size, stride):
        """``x`` read at the windows: ``(N, C, A, KH, B, KW)``."""
        return _read(x, *self._windows_of(x, size, stride))


class MaxPool2d(_Pool):
    """``y = max_pool2d(x, size, stride)``: each window's largest entry, per channel.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    size : int or (int, int)
        The window's height and width.
    stride : int or (int, int), optional
        How far the window moves; the window's size by default (windows that
        tile the image without overlapping).

    Returns
    -------
    y : ndarray, shape ``(N, C, A, B)``
        ``A = (H − KH) // s + 1`` windows down, ``B`` across.

    Notes
    -----
    Each output entry *is* one input entry — the largest of its window — so
    the Jacobian is a selection: ``∂y_abcd/∂x_efgh = δ(flat(efgh), p_abcd)``,
    where ``p_abcd`` is the flat index of window ``(c, d)``'s largest entry
    of channel ``b`` in example ``a``. Its VJP adds each ``g_abcd`` into
    that entry (twice, where overlapping windows chose the same entry) and
    is zero elsewhere; its JVP reads the tangent at ``p``. Where a window's
    largest value is shared, the **first in row-major order** is chosen, as
    PyTorch's ``max_pool2d`` does (``jac.max`` instead splits the gradient
    among ties). The second derivative is zero almost everywhere: the choice
    is locally constant.

    >>> import jacobians as jac
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> jac.max_pool2d(x, size=2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> jac.max_pool2d.vjp(np.ones((1, 1, 2, 2)), x, size=2)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]])
    """

    name = "max_pool2d"
    examples = ((((1, 2, 4, 4),), {"size": 2}),
                (((2, 1, 5, 5),), {"size": 3, "stride": 1}),
                (((1, 1, 5, 6),), {"size": (2, 3), "stride": (2, 1)}))

    def _value(self, x, size=None, stride=None):
        return self._patches(x, size, stride).max(axis=(3, 5))

    def chosen(self, x, out, size, stride=None):
        """``p``: the flat index in ``x`` of every window's largest entry, shaped like ``out``.

        The first largest in row-major order within its window; on a Shaped
        ``x`` (counting, without values) each window's first entry stands in.
        """
        windows, counts = self._windows_of(x, size, stride)
        flat = np.arange(math.prod(x.shape), dtype=np.float64).reshape(x.shape)
        where = _read(flat, windows, counts).transpose(0, 1, 2, 4, 3, 5)
        taps = windows[0].taps * windows[1].taps  # named, not -1: a batch may be empty
        where = where.reshape(out.shape + (taps,)).astype(np.int64)
        # Comparisons give plain masks, on values and on traced values alike.
        largest = self._patches(x, size, stride) == np.expand_dims(out, (3, 5))
        if isinstance(x, Shaped):  # the comparison is counted; which entry won is unknown
            return where[..., 0]
        largest = np.asarray(largest)  # which entry won is a constant, whatever the arrays
        tap = np.argmax(largest.transpose(0, 1, 2, 4, 3, 5).reshape(where.shape), axis=-1)
        return np.take_along_axis(where, tap[..., None], axis=-1)[..., 0]

    def _terms(self, wrt, args, out, labels, names, size=None, stride=None):
        (x,) = args
        return [term(Gather(*labels, self.chosen(x, out, size, stride)))]

    def _second_terms(self, i, j, args, out, labels, names, size=None, stride=None):
        return []  # the choice is locally constant: zero almost everywhere

    def vjp_rule(self, wrt, g, args, out, size=None, stride=None):
        (x,) = args
        p = self.chosen(x, out, size, stride)
        added = np.bincount(p.reshape(-1), weights=g.reshape(-1), minlength=math.prod(x.shape))
        return added.reshape(x.shape)

    def jvp_rule(self, wrt, t, args, out, size=None, stride=None):
        (x,) = args
        return t.reshape(-1)[self.chosen(x, out, size, stride)]


class AvgPool2d(_Pool):
    """``y = avg_pool2d(x, size, stride)``: each window's mean, per channel.

    Parameters
    ----------
    x : array_like, shape ``(N, C, H, W)``
    size : int or (int, int)
        The window's height and width, ``KH × KW``.
    stride : int or (int, int), optional
        How far the window moves; the window's size by default.

    Returns
    -------
    y : ndarray, shape ``(N, C, A, B)``

    Notes
    -----
    A convolution of each channel with the kernel ``1/(KH·KW)``, so
    ``∂y_abcd/∂x_efgh = (1/(KH·KW)) δ_ae δ_bf Σ_uv δ(s·c + u, g) δ(s·d + v, h)``:
    a window delta whose taps no factor carries. Its VJP spreads each
    ``g_abcd/(KH·KW)`` evenly over the window (a transposed convolution with
    the constant kernel, which needs no flip); its JVP is the pool of the
    tangent. It is linear: second derivatives are zero.

    >>> import jacobians as jac
    >>> print(jac.avg_pool2d.formula(np.ones((1, 1, 4, 4)), size=2))
    ∂Y_abcd/∂X_efgh = 1/4 δ_ae δ_bf δ(2c+k, g) δ(2d+l, h)
    """

    name = "avg_pool2d"
    linear = True
    examples = ((((1, 2, 4, 4),), {"size": 2}),
                (((2, 1, 5, 5),), {"size": 3, "stride": 1}),
                (((1, 1, 5, 6),), {"size": (2, 3), "stride": (2, 1)}))

    def _value(self, x, size=None, stride=None):
        return self._patches(x, size, stride).mean(axis=(3, 5))

    def _terms(self, wrt, args, out, labels, names, size=None, stride=None):
        (x,) = args
        sizes, strides, _ = self._settings(x, size, stride)
        O, I = labels
        n = math.prod(sizes)
        taps = _free_letters(2, O + I)
        # A window of one entry moved by one is no window: output pixel c is input pixel c.
        along = [Delta(o, i) if (k, s) == (1, 1) else w for o, i, k, s, w in zip(
            O[2:], I[2:], sizes, strides, _windows(O[2:], taps, I[2:], sizes, strides, (0, 0)))]
        scale = [Factor(f"1/{n}", "", np.array(1 / n), rf"\frac{{1}}{{{n}}}")] if n > 1 else []
        return [term(*scale, Delta(O[0], I[0]), Delta(O[1], I[1]), *along)]

    def vjp_rule(self, wrt, g, args, out, size=None, stride=None):
        (x,) = args
        sizes, strides, _ = self._settings(x, size, stride)
        # Each window's g/(KH·KW) on every one of its taps, added back where it was read.
        columns = np.broadcast_to(np.expand_dims(g / math.prod(sizes), (3, 5)),
                                  g.shape[:3] + (sizes[0],) + g.shape[3:] + (sizes[1],))
        return _added_back(columns, x.shape, _spatial_windows(sizes, strides, (0, 0)))

    def jvp_rule(self, wrt, t, args, out, size=None, stride=None):
        return self._value(t, size, stride)


max_pool2d = MaxPool2d()
avg_pool2d = AvgPool2d()
