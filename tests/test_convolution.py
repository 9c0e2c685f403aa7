"""Convolution and pooling against truths written without the library.

The registry-wide tests (``test_ops.py``) already check every op's examples
for finite differences and for VJP/JVP against its own dense Jacobian. This
file adds what they cannot know:

* values against plain Python loops over ``n, o, a, c, k`` (the definition
  ``y_noa = Σ_ck w_ock x_nc(s·a+k−p)``, zero outside ``x``), against
  ``np.correlate``/``np.convolve``, and conv1d against conv2d of a height-1
  image;
* the transposed convolution (col2im) and the kernel's correlation written
  with loops, and the hand, derived and dense rules against them on random
  shapes drawn with hypothesis;
* nonzero counts and structures against counts made independently;
* max pooling's routing and tie rule, average pooling as a convolution;
* the second derivatives' closed form;
* the messages of bad input, and that nothing is modified;
* the refusal of a 4 TiB Jacobian before anything is allocated.
"""
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.check import finite_difference_jacobian
from jacobians.structure import local_structure
from jacobians.index import Derivative, Window, term


# ----------------------------------------------------------------------------
# Plain-loop references: the definition, entry by entry
# ----------------------------------------------------------------------------
def windows(n, k, s, p):
    """How many windows of ``k`` taps fit ``n`` positions padded by ``p``, moving by ``s``."""
    count = 0
    while s * count + k <= n + 2 * p:
        count += 1
    return count


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def ref_conv1d(x, w, s=1, p=0):
    N, C, L = x.shape
    O, _, K = w.shape
    A = windows(L, K, s, p)
    y = np.zeros((N, O, A))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for c in range(C):
                    for k in range(K):
                        l = s * a + k - p
                        if 0 <= l < L:
                            y[n, o, a] += w[o, c, k] * x[n, c, l]
    return y


def ref_conv2d(x, w, s=1, p=0):
    (sh, sw), (ph, pw) = pair(s), pair(p)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    A, B = windows(H, KH, sh, ph), windows(W, KW, sw, pw)
    y = np.zeros((N, O, A, B))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for b in range(B):
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                i, j = sh * a + u - ph, sw * b + v - pw
                                if 0 <= i < H and 0 <= j < W:
                                    y[n, o, a, b] += w[o, c, u, v] * x[n, c, i, j]
    return y


def ref_col2im1d(g, w, L, s=1, p=0):
    """dx_nc(s·a+k−p) += Σ_o g_noa w_ock: the transposed convolution."""
    N, O, A = g.shape
    _, C, K = w.shape
    dx = np.zeros((N, C, L))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for c in range(C):
                    for k in range(K):
                        l = s * a + k - p
                        if 0 <= l < L:
                            dx[n, c, l] += g[n, o, a] * w[o, c, k]
    return dx


def ref_kernel_grad1d(g, x, K, s=1, p=0):
    """dw_ock = Σ_na g_noa x_nc(s·a+k−p)."""
    N, O, A = g.shape
    _, C, L = x.shape
    dw = np.zeros((O, C, K))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for c in range(C):
                    for k in range(K):
                        l = s * a + k - p
                        if 0 <= l < L:
                            dw[o, c, k] += g[n, o, a] * x[n, c, l]
    return dw


def ref_col2im2d(g, w, H, W, s=1, p=0):
    (sh, sw), (ph, pw) = pair(s), pair(p)
    N, O, A, B = g.shape
    _, C, KH, KW = w.shape
    dx = np.zeros((N, C, H, W))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for b in range(B):
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                i, j = sh * a + u - ph, sw * b + v - pw
                                if 0 <= i < H and 0 <= j < W:
                                    dx[n, c, i, j] += g[n, o, a, b] * w[o, c, u, v]
    return dx


def ref_kernel_grad2d(g, x, KH, KW, s=1, p=0):
    (sh, sw), (ph, pw) = pair(s), pair(p)
    N, O, A, B = g.shape
    _, C, H, W = x.shape
    dw = np.zeros((O, C, KH, KW))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for b in range(B):
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                i, j = sh * a + u - ph, sw * b + v - pw
                                if 0 <= i < H and 0 <= j < W:
                                    dw[o, c, u, v] += g[n, o, a, b] * x[n, c, i, j]
    return dw


def ref_jacobian1d(x, w, s, p, wrt):
    """The dense Jacobian entry by entry: J[n,o,a,n,c,l] = w[o,c,k], or J[n,o,a,o,c,k] = x[n,c,l]."""
    N, C, L = x.shape
    O, _, K = w.shape
    A = windows(L, K, s, p)
    J = np.zeros((N, O, A) + (x.shape if wrt == 0 else w.shape))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for c in range(C):
                    for k in range(K):
                        l = s * a + k - p
                        if 0 <= l < L:
                            if wrt == 0:
                                J[n, o, a, n, c, l] = w[o, c, k]
                            else:
                                J[n, o, a, o, c, k] = x[n, c, l]
    return J


def ref_jacobian2d(x, w, s, p, wrt):
    (sh, sw), (ph, pw) = pair(s), pair(p)
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    A, B = windows(H, KH, sh, ph), windows(W, KW, sw, pw)
    J = np.zeros((N, O, A, B) + (x.shape if wrt == 0 else w.shape))
    for n, o, a, b, c, u, v in np.ndindex(N, O, A, B, C, KH, KW):
        i, j = sh * a + u - ph, sw * b + v - pw
        if 0 <= i < H and 0 <= j < W:
            if wrt == 0:
                J[n, o, a, b, n, c, i, j] = w[o, c, u, v]
            else:
                J[n, o, a, b, o, c, u, v] = x[n, c, i, j]
    return J


def ref_pool(x, size, stride=None, how="max"):
    """Pooling by loops; max picks the first largest in row-major window order (strict >)."""
    KH, KW = pair(size)
    SH, SW = pair(stride) if stride is not None else (KH, KW)
    N, C, H, W = x.shape
    A, B = windows(H, KH, SH, 0), windows(W, KW, SW, 0)
    y = np.zeros((N, C, A, B))
    where = np.zeros((N, C, A, B, 2), dtype=int)
    for n in range(N):
        for c in range(C):
            for a in range(A):
                for b in range(B):
                    best, at, total = None, None, 0.0
                    for u in range(KH):
                        for v in range(KW):
                            value = x[n, c, SH * a + u, SW * b + v]
                            total += value
                            if best is None or value > best:
                                best, at = value, (SH * a + u, SW * b + v)
                    y[n, c, a, b] = best if how == "max" else total / (KH * KW)
                    where[n, c, a, b] = at
    return y, where


def ref_maxpool_vjp(g, x, size, stride=None):
    _, where = ref_pool(x, size, stride)
    dx = np.zeros_like(x)
    for index in np.ndindex(g.shape):
        n, c = index[:2]
        i, j = where[index]
        dx[n, c, i, j] += g[index]
    return dx


def close(a, b, tol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def rand(rng, *shape):
    return rng.standard_normal(shape)


# ----------------------------------------------------------------------------
# 1. Values
# ----------------------------------------------------------------------------
# (N, C, L, O, K, stride, padding): strides 1–3, paddings 0–3, padding ≥ K, and
# lengths where L + 2p − K is not a multiple of the stride (the last positions unread).
CASES_1D = [
    (2, 3, 7, 2, 3, 1, 0),
    (1, 2, 8, 3, 3, 2, 0),   # 8 − 3 = 5, odd: one position unread
    (2, 1, 9, 1, 4, 3, 0),   # 9 − 4 = 5, not a multiple of 3
    (1, 2, 7, 2, 3, 2, 1),
    (2, 2, 6, 3, 2, 3, 2),   # 6 + 4 − 2 = 8, not a multiple of 3
    (1, 1, 5, 2, 2, 1, 3),   # padding 3 > K − 1: windows entirely in the padding
    (1, 2, 4, 1, 1, 2, 2),   # a 1-tap kernel, padding 2
    (2, 1, 3, 2, 5, 1, 1),   # the kernel longer than x, shorter than the padded x
    (1, 1, 1, 1, 3, 1, 1),   # one position, one window
    (1, 3, 10, 2, 4, 3, 3),
]

CASES_2D = [
    ((2, 2, 5, 6), (3, 2, 3, 2), 1, 0),          # a non-square kernel
    ((1, 1, 6, 5), (2, 1, 2, 3), (2, 1), (1, 0)),  # per-axis stride and padding
    ((1, 2, 7, 4), (1, 2, 3, 1), (3, 2), (0, 2)),  # (7 − 3) not a multiple of 3
    ((2, 1, 4, 4), (2, 1, 2, 2), 2, 3),            # padding 3 > K − 1
    ((1, 3, 5, 5), (2, 3, 4, 2), (1, 3), (2, 1)),
    ((1, 1, 3, 8), (1, 1, 1, 4), (1, 2), 0),
]


@pytest.mark.parametrize("N, C, L, O, K, s, p", CASES_1D)
def test_conv1d_values_against_loops(N, C, L, O, K, s, p):
    rng = np.random.default_rng(1)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    y = jac.conv1d(x, w, stride=s, padding=p)
    assert y.shape == (N, O, windows(L, K, s, p))
    close(y, ref_conv1d(x, w, s, p))


@pytest.mark.parametrize("xs, ws, s, p", CASES_2D)
def test_conv2d_values_against_loops(xs, ws, s, p):
    rng = np.random.default_rng(2)
    x, w = rand(rng, *xs), rand(rng, *ws)
    y = jac.conv2d(x, w, stride=s, padding=p)
    close(y, ref_conv2d(x, w, s, p))


@pytest.mark.parametrize("L, K, s, p", [(9, 3, 1, 0), (9, 3, 2, 1), (8, 4, 3, 2), (5, 2, 1, 3),
                                         (6, 6, 1, 0), (4, 7, 2, 2)])
def test_conv1d_single_channel_is_np_correlate(L, K, s, p):
    rng = np.random.default_rng(3)
    x, w = rand(rng, L), rand(rng, K)
    padded = np.concatenate([np.zeros(p), x, np.zeros(p)])
    want = np.correlate(padded, w, mode="valid")[::s]
    close(jac.conv1d(x[None, None], w[None, None], stride=s, padding=p)[0, 0], want)


@pytest.mark.parametrize("N, C, L, O, K, s, p", CASES_1D)
def test_conv1d_is_conv2d_of_a_height_one_image(N, C, L, O, K, s, p):
    rng = np.random.default_rng(4)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    want = jac.conv1d(x, w, stride=s, padding=p)
    # Any stride along the height of 1 gives one window; no padding there.
    got = jac.conv2d(x[:, :, None, :], w[:, :, None, :], stride=(3, s), padding=(0, p))
    close(got[:, :, 0, :], want)
    # The same kernel along the height instead: a width-1 image, transposed axes.
    got = jac.conv2d(x[:, :, :, None], w[:, :, :, None], stride=(s, 2), padding=(p, 0))
    close(got[:, :, :, 0], want)


def test_int_and_equal_tuple_mean_the_same():
    rng = np.random.default_rng(5)
    x, w = rand(rng, 1, 2, 6, 6), rand(rng, 2, 2, 3, 3)
    close(jac.conv2d(x, w, stride=2, padding=1), jac.conv2d(x, w, stride=(2, 2), padding=[1, 1]))


def test_stride_and_padding_are_per_axis_not_swapped():
    # Different height and width settings on a non-square image: a swap changes the shape.
    rng = np.random.default_rng(6)
    x, w = rand(rng, 1, 1, 7, 4), rand(rng, 1, 1, 2, 3)
    y = jac.conv2d(x, w, stride=(3, 1), padding=(0, 2))
    assert y.shape == (1, 1, windows(7, 2, 3, 0), windows(4, 3, 1, 2)) == (1, 1, 2, 6)
    close(y, ref_conv2d(x, w, (3, 1), (0, 2)))


# ----------------------------------------------------------------------------
# 2. The transposed convolution and the kernel's correlation
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("N, C, L, O, K, s, p", CASES_1D)
def test_derived_vjp_wrt_x_is_col2im(N, C, L, O, K, s, p):
    rng = np.random.default_rng(7)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    g = rand(rng, N, O, windows(L, K, s, p))
    want = ref_col2im1d(g, w, L, s, p)
    close(jac.conv1d.derivative(x, w, wrt=0, stride=s, padding=p).vjp(g), want)
    close(jac.conv1d.vjp(g, x, w, wrt=0, stride=s, padding=p), want)


@pytest.mark.parametrize("N, C, L, O, K, s, p", CASES_1D)
def test_derived_vjp_wrt_w_is_the_correlation_of_x_with_g(N, C, L, O, K, s, p):
    rng = np.random.default_rng(8)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    g = rand(rng, N, O, windows(L, K, s, p))
    want = ref_kernel_grad1d(g, x, K, s, p)
    close(jac.conv1d.derivative(x, w, wrt=1, stride=s, padding=p).vjp(g), want)
    close(jac.conv1d.vjp(g, x, w, wrt=1, stride=s, padding=p), want)


@pytest.mark.parametrize("L, K, p", [(9, 3, 0), (9, 3, 1), (6, 4, 2), (5, 2, 3), (3, 5, 1),
                                     (7, 7, 0)])
def test_vjp_of_one_channel_is_np_convolve_with_the_kernel_cropped(L, K, p):
    # dx_l = Σ_a g_a w_(l+p−a): the full convolution of g with w (the flipped kernel
    # slid over g), of length A + K − 1 = L + 2p, cropped by p at each end.
    rng = np.random.default_rng(9)
    x, w = rand(rng, L), rand(rng, K)
    g = rand(rng, windows(L, K, 1, p))
    full = np.convolve(g, w, mode="full")
    assert full.shape == (L + 2 * p,)
    want = full[p:p + L]
    d = jac.conv1d.derivative(x[None, None], w[None, None], wrt=0, padding=p)
    close(d.vjp(g[None, None])[0, 0], want)
    close(jac.conv1d.vjp(g[None, None], x[None, None], w[None, None], padding=p)[0, 0], want)


@pytest.mark.parametrize("L, K, s, p", [(9, 3, 1, 0), (9, 3, 2, 1), (8, 3, 3, 2), (5, 2, 1, 3),
                                         (4, 6, 2, 1)])
def test_kernel_vjp_of_one_channel_is_np_correlate_of_x_with_g(L, K, s, p):
    rng = np.random.default_rng(10)
    x, w = rand(rng, L), rand(rng, K)
    A = windows(L, K, s, p)
    g = rand(rng, A)
    padded = np.concatenate([np.zeros(p), x, np.zeros(p)])
    dilated = np.zeros((A - 1) * s + 1)
    dilated[::s] = g  # g spread out by the stride: tap k meets x at s·a + k
    want = np.correlate(padded, dilated, mode="valid")[:K]
    close(jac.conv1d.derivative(x[None, None], w[None, None], wrt=1, stride=s,
                                padding=p).vjp(g[None, None])[0, 0], want)
    close(jac.conv1d.vjp(g[None, None], x[None, None], w[None, None], wrt=1, stride=s,
                         padding=p)[0, 0], want)


@pytest.mark.parametrize("xs, ws, s, p", CASES_2D)
def test_conv2d_vjps_against_loops(xs, ws, s, p):
    rng = np.random.default_rng(11)
    x, w = rand(rng, *xs), rand(rng, *ws)
    g = rand(rng, *ref_conv2d(x, w, s, p).shape)
    dx, dw = ref_col2im2d(g, w, *xs[2:], s, p), ref_kernel_grad2d(g, x, *ws[2:], s, p)
    close(jac.conv2d.derivative(x, w, wrt=0, stride=s, padding=p).vjp(g), dx)
    close(jac.conv2d.vjp(g, x, w, wrt=0, stride=s, padding=p), dx)
    close(jac.conv2d.derivative(x, w, wrt=1, stride=s, padding=p).vjp(g), dw)
    close(jac.conv2d.vjp(g, x, w, wrt=1, stride=s, padding=p), dw)


def test_printed_formula_and_steps_name_the_window_and_col2im_im2col():
    x, w = np.ones((1, 2, 7)), np.ones((3, 2, 3))
    d0 = jac.conv1d.derivative(x, w, wrt=0, stride=2, padding=1)
    d1 = jac.conv1d.derivative(x, w, wrt=1, stride=2, padding=1)
    assert "δ(2c+k−1, f)" in str(d0), str(d0)
    assert str(d0).startswith("∂Y_abc/∂X_def = ")
    assert "col2im" in d0.vjp_steps() and "im2col" not in d0.vjp_steps(), d0.vjp_steps()
    assert "im2col" in d1.vjp_steps() and "col2im" not in d1.vjp_steps(), d1.vjp_steps()
    # stride 1 and no padding print neither the 1 nor the shift
    assert "δ(c+k, f)" in str(jac.conv1d.derivative(x, w, wrt=0))
    d2 = jac.conv2d.derivative(np.ones((1, 2, 5, 5)), np.ones((3, 2, 3, 2)), stride=(2, 1),
                               padding=(1, 0))
    assert "δ(2c+k−1, g)" in str(d2) and "δ(d+l, h)" in str(d2), str(d2)


# ----------------------------------------------------------------------------
# 3. Hand rule, derived rule, dense Jacobian and loops on random shapes
# ----------------------------------------------------------------------------
@st.composite
def conv1d_cases(draw):
    N, C, O = (draw(st.integers(1, 2)) for _ in range(3))
    L = draw(st.integers(1, 9))
    p = draw(st.integers(0, 2))
    s = draw(st.integers(1, 3))
    K = draw(st.integers(1, L + 2 * p))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    return N, C, O, L, K, s, p, seed


@settings(max_examples=200, deadline=None)
@given(conv1d_cases())
def test_hand_derived_dense_and_loops_agree_on_random_shapes(case):
    N, C, O, L, K, s, p, seed = case
    rng = np.random.default_rng(seed)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    A = windows(L, K, s, p)
    g, tx, tw = rand(rng, N, O, A), rand(rng, N, C, L), rand(rng, O, C, K)
    kw = {"stride": s, "padding": p}
    close(jac.conv1d(x, w, **kw), ref_conv1d(x, w, s, p))
    want_vjp = (ref_col2im1d(g, w, L, s, p), ref_kernel_grad1d(g, x, K, s, p))
    # The JVPs are convolutions of the tangent (y is bilinear), by the loop reference.
    want_jvp = (ref_conv1d(tx, w, s, p), ref_conv1d(x, tw, s, p))
    for wrt, t in ((0, tx), (1, tw)):
        d = jac.conv1d.derivative(x, w, wrt=wrt, **kw)
        J = d.materialise()
        close(J, ref_jacobian1d(x, w, s, p, wrt))
        close(jac.conv1d.jacobian(x, w, wrt=wrt, **kw), J)
        for vjp in (jac.conv1d.vjp(g, x, w, wrt=wrt, **kw), d.vjp(g),
                    np.einsum("noa,noa...->...", g, J)):
            close(vjp, want_vjp[wrt])
        for jvp in (jac.conv1d.jvp(t, x, w, wrt=wrt, **kw), d.jvp(t),
                    np.tensordot(J, t, axes=t.ndim)):
            close(jvp, want_jvp[wrt])
        # the dot-product test: <J t, g> = <t, Jᵀ g>, for the hand and the derived rules
        assert np.isclose(np.vdot(jac.conv1d.jvp(t, x, w, wrt=wrt, **kw), g),
                          np.vdot(t, jac.conv1d.vjp(g, x, w, wrt=wrt, **kw)))
        assert np.isclose(np.vdot(d.jvp(t), g), np.vdot(t, d.vjp(g)))


@st.composite
def conv2d_cases(draw):
    N, C, O = (draw(st.integers(1, 2)) for _ in range(3))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    KH, KW = draw(st.integers(1, H + 2 * ph)), draw(st.integers(1, W + 2 * pw))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    return (N, C, H, W), (O, C, KH, KW), (sh, sw), (ph, pw), seed


@settings(max_examples=100, deadline=None)
@given(conv2d_cases())
def test_conv2d_on_random_shapes_against_loops(case):
    xs, ws, s, p, seed = case
    rng = np.random.default_rng(seed)
    x, w = rand(rng, *xs), rand(rng, *ws)
    y = ref_conv2d(x, w, s, p)
    g = rand(rng, *y.shape)
    close(jac.conv2d(x, w, stride=s, padding=p), y)
    dx, dw = ref_col2im2d(g, w, *xs[2:], s, p), ref_kernel_grad2d(g, x, *ws[2:], s, p)
    close(jac.conv2d.vjp(g, x, w, wrt=0, stride=s, padding=p), dx)
    close(jac.conv2d.derivative(x, w, wrt=0, stride=s, padding=p).vjp(g), dx)
    close(jac.conv2d.vjp(g, x, w, wrt=1, stride=s, padding=p), dw)
    close(jac.conv2d.derivative(x, w, wrt=1, stride=s, padding=p).vjp(g), dw)
    t = rand(rng, *xs)
    close(jac.conv2d.jvp(t, x, w, wrt=0, stride=s, padding=p), ref_conv2d(t, w, s, p))
    close(jac.conv2d.derivative(x, w, wrt=0, stride=s, padding=p).jvp(t), ref_conv2d(t, w, s, p))


@pytest.mark.parametrize("N, C, L, O, K, s, p", [CASES_1D[1], CASES_1D[4], CASES_1D[5]])
@pytest.mark.parametrize("wrt", [0, 1])
def test_loop_jacobian_matches_finite_differences_of_the_op(N, C, L, O, K, s, p, wrt):
    rng = np.random.default_rng(12)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    fd = finite_difference_jacobian(lambda a, b: jac.conv1d(a, b, stride=s, padding=p), x, w,
                                    wrt=wrt)
    close(fd, ref_jacobian1d(x, w, s, p, wrt), tol=1e-7)


def test_conv2d_jacobian_matches_finite_differences():
    rng = np.random.default_rng(13)
    x, w = rand(rng, 1, 2, 5, 4), rand(rng, 2, 2, 3, 2)
    kw = {"stride": (2, 1), "padding": (1, 2)}
    for wrt in (0, 1):
        fd = finite_difference_jacobian(lambda a, b: ref_conv2d(a, b, (2, 1), (1, 2)), x, w,
                                        wrt=wrt)
        close(jac.conv2d.jacobian(x, w, wrt=wrt, **kw), fd, tol=1e-7)


# ----------------------------------------------------------------------------
# 4. Counting nonzeros, and the structure
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("N, C, L, O, K, s, p", CASES_1D)
def test_nnz_without_materialising_counts_the_dense_nonzeros(N, C, L, O, K, s, p):
    rng = np.random.default_rng(14)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    w.reshape(-1)[::3] = 0.0   # zero taps: they put no entry in ∂y/∂x
    x.reshape(-1)[1::4] = 0.0  # zero inputs: they put no entry in ∂y/∂w
    for wrt in (0, 1):
        dense = ref_jacobian1d(x, w, s, p, wrt)
        d = jac.conv1d.derivative(x, w, wrt=wrt, stride=s, padding=p)
        assert d.nnz() == np.count_nonzero(dense), (wrt, d.nnz(), np.count_nonzero(dense))


@pytest.mark.parametrize("xs, ws, s, p", CASES_2D)
def test_conv2d_nnz_with_zero_taps(xs, ws, s, p):
    rng = np.random.default_rng(15)
    x, w = rand(rng, *xs), rand(rng, *ws)
    w.reshape(-1)[::2] = 0.0
    x.reshape(-1)[::3] = 0.0
    for wrt in (0, 1):
        d = jac.conv2d.derivative(x, w, wrt=wrt, stride=s, padding=p)
        dense = ref_jacobian2d(x, w, s, p, wrt)
        assert d.nnz() == np.count_nonzero(dense)
        close(d.materialise(), dense, tol=0)


def test_pool_nnz():
    rng = np.random.default_rng(16)
    x = rand(rng, 2, 3, 5, 6)
    d = jac.max_pool2d.derivative(x, (2, 3), stride=(1, 2))
    assert d.nnz() == np.count_nonzero(d.materialise()) == 2 * 3 * 4 * 2  # one per output
    d = jac.avg_pool2d.derivative(x, (2, 3), stride=(1, 2))
    assert d.nnz() == 2 * 3 * 4 * 2 * 6  # each output reads its 2×3 window
    assert d.nnz() == np.count_nonzero(d.materialise())


@pytest.mark.parametrize("N, C, L, O, K, s, p", [(1, 1, 9, 1, 3, 1, 0), (2, 2, 9, 3, 3, 2, 1),
                                                  (1, 2, 10, 2, 4, 3, 2), (2, 1, 6, 2, 2, 1, 3)])
def test_conv1d_jacobian_wrt_x_is_banded_toeplitz(N, C, L, O, K, s, p):
    rng = np.random.default_rng(17)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    d = jac.conv1d.derivative(x, w, wrt=0, stride=s, padding=p)
    J = ref_jacobian1d(x, w, s, p, 0)
    found = jac.structure(J, 3)
    assert found.kind == "banded Toeplitz", str(found)
    assert found.band == ((K, s),)
    assert found.nnz == d.nnz()
    assert local_structure(d)[0] == "banded Toeplitz"
    # Toeplitz, checked directly: J[n,o,a,n,c,l] depends on l − s·a only (= k − p)
    A = J.shape[2]
    for a in range(A):
        for l in range(L):
            k = l - s * a + p
            want = w[:, :, k] if 0 <= k < K else np.zeros((O, C))
            for n in range(N):
                close(J[n, :, a, n, :, l], want)


def test_conv2d_jacobian_wrt_x_is_banded_toeplitz():
    rng = np.random.default_rng(18)
    x, w = rand(rng, 1, 2, 6, 7), rand(rng, 2, 2, 3, 2)
    d = jac.conv2d.derivative(x, w, wrt=0, stride=(2, 1), padding=(1, 0))
    found = jac.structure(d.materialise(), 4)
    assert found.kind == "banded Toeplitz", str(found)
    assert found.band == ((3, 2), (2, 1))
    assert local_structure(d)[0] == "banded Toeplitz"


def test_max_pool_of_one_image_is_a_selection_unless_an_entry_wins_twice():
    rng = np.random.default_rng(19)
    for shape, size, stride in (((1, 1, 4, 4), 2, None), ((1, 3, 5, 6), (2, 3), (1, 2)),
                                ((1, 2, 5, 5), 3, 1)):
        x = rand(rng, *shape)
        d = jac.max_pool2d.derivative(x, size, stride=stride)
        J = d.materialise()
        rows = J.reshape(int(np.prod(J.shape[:4])), -1)
        # every row holds a single 1
        assert np.all((rows == 1).sum(axis=1) == 1) and np.all((rows != 0).sum(axis=1) == 1)
        # overlapping windows may choose one entry twice: then its column holds two 1s
        twice = (rows != 0).sum(axis=0).max() > 1
        kind = jac.structure(J, 4).kind
        assert (kind == "selection") == (not twice), (kind, twice)
        assert local_structure(d)[0] == ("sparse" if twice else "selection")
    # non-overlapping windows never choose an entry twice
    assert jac.structure(jac.max_pool2d.jacobian(rand(rng, 1, 2, 6, 6), 3), 4).kind == "selection"


# ----------------------------------------------------------------------------
# 5. Pooling
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, size, stride", [((2, 3, 4, 4), 2, None), ((1, 2, 5, 5), 3, 1),
                                                 ((1, 1, 5, 6), (2, 3), (2, 1)),
                                                 ((2, 1, 7, 7), 2, 3),  # gaps between windows
                                                 ((1, 2, 6, 5), (3, 2), (2, 1))])
def test_max_pool_values_and_routing_against_loops(shape, size, stride):
    rng = np.random.default_rng(20)
    x = rand(rng, *shape)
    y, where = ref_pool(x, size, stride)
    close(jac.max_pool2d(x, size, stride=stride), y, tol=0)
    g, t = rand(rng, *y.shape), rand(rng, *shape)
    want = ref_maxpool_vjp(g, x, size, stride)
    close(jac.max_pool2d.vjp(g, x, size, stride=stride), want)
    d = jac.max_pool2d.derivative(x, size, stride=stride)
    close(d.vjp(g), want)
    close(np.einsum("abcd,abcd...->...", g, d.materialise()), want)
    # the JVP reads the tangent at the chosen entries
    read = np.array([t[i[0], i[1], where[i][0], where[i][1]]
                     for i in np.ndindex(y.shape)]).reshape(y.shape)
    close(jac.max_pool2d.jvp(t, x, size, stride=stride), read, tol=0)
    close(d.jvp(t), read, tol=0)
    # g lands on chosen entries only
    chosen = np.zeros(shape, dtype=bool)
    for i in np.ndindex(y.shape):
        chosen[i[0], i[1], where[i][0], where[i][1]] = True
    assert np.all(jac.max_pool2d.vjp(g, x, size, stride=stride)[~chosen] == 0)


def test_overlapping_windows_that_choose_one_entry_add_their_g():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0   # the centre is the largest of all nine 3×3 windows
    g = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    want = np.zeros_like(x)
    want[0, 0, 2, 2] = g.sum()  # 45
    for dx in (jac.max_pool2d.vjp(g, x, 3, stride=1),
               jac.max_pool2d.derivative(x, 3, stride=1).vjp(g),
               np.einsum("abcd,abcd...->...", g, jac.max_pool2d.jacobian(x, 3, stride=1))):
        close(dx, want, tol=0)
    # two windows of a 2×3 window, stride 1 across: the 9 sits in both
    x = np.array([[[[0.0, 1.0, 9.0, 2.0], [3.0, 0.0, 1.0, 0.0]]]])
    g = np.array([[[[2.0, 5.0]]]])
    want = np.zeros_like(x)
    want[0, 0, 0, 2] = 7.0
    close(jac.max_pool2d.vjp(g, x, (2, 3), stride=1), want, tol=0)
    close(jac.max_pool2d.derivative(x, (2, 3), stride=1).vjp(g), want, tol=0)


def test_ties_go_to_the_first_entry_in_row_major_window_order():
    # In window [[1, 5], [5, 1]] row-major order meets (0, 1) first; column-major (1, 0).
    x = np.array([[[[1.0, 5.0], [5.0, 1.0]]]])
    g = np.array([[[[3.0]]]])
    want = np.array([[[[0.0, 3.0], [0.0, 0.0]]]])
    close(jac.max_pool2d.vjp(g, x, 2), want, tol=0)
    close(jac.max_pool2d.derivative(x, 2).vjp(g), want, tol=0)
    t = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    assert jac.max_pool2d.jvp(t, x, 2)[0, 0, 0, 0] == 20.0
    # a constant image: every window chooses its top-left entry
    x = np.full((1, 2, 4, 6), 7.0)
    g = np.random.default_rng(21).standard_normal((1, 2, 2, 3))
    want = np.zeros_like(x)
    want[:, :, ::2, ::2] = g
    close(jac.max_pool2d.vjp(g, x, 2), want, tol=0)
    close(jac.max_pool2d.derivative(x, 2).vjp(g), want, tol=0)
    # overlapping windows over ties, against the loop reference (strict >, row-major)
    x = np.round(np.random.default_rng(22).standard_normal((2, 2, 5, 6)))  # many ties
    g = np.random.default_rng(23).standard_normal((2, 2, 4, 4))
    want = ref_maxpool_vjp(g, x, (2, 3), (1, 1))
    close(jac.max_pool2d.vjp(g, x, (2, 3), stride=1), want)
    close(jac.max_pool2d.derivative(x, (2, 3), stride=1).vjp(g), want)


@pytest.mark.parametrize("shape, size, stride", [((2, 3, 4, 4), 2, None), ((1, 2, 5, 5), 3, 1),
                                                 ((2, 1, 5, 7), (2, 3), (2, 1)),
                                                 ((1, 2, 7, 7), 2, 3)])
def test_avg_pool_is_conv2d_with_a_constant_kernel_per_channel(shape, size, stride):
    rng = np.random.default_rng(24)
    x = rand(rng, *shape)
    N, C, H, W = shape
    KH, KW = pair(size)
    s = stride if stride is not None else (KH, KW)
    box = np.full((1, 1, KH, KW), 1.0 / (KH * KW))
    y = jac.conv2d(x.reshape(N * C, 1, H, W), box, stride=s)
    want = y.reshape(N, C, *y.shape[2:])
    close(jac.avg_pool2d(x, size, stride=stride), want)
    close(jac.avg_pool2d(x, size, stride=stride), ref_pool(x, size, stride, "mean")[0])
    g = rand(rng, *want.shape)
    dx = ref_col2im2d(g.reshape(N * C, 1, *g.shape[2:]), box, H, W, s).reshape(shape)
    close(jac.avg_pool2d.vjp(g, x, size, stride=stride), dx)
    close(jac.avg_pool2d.derivative(x, size, stride=stride).vjp(g), dx)
    t = rand(rng, *shape)
    close(jac.avg_pool2d.jvp(t, x, size, stride=stride), ref_pool(t, size, stride, "mean")[0])


# ----------------------------------------------------------------------------
# 6. Second derivatives
# ----------------------------------------------------------------------------
def ref_mixed1d(x, w, s, p):
    """∂²y_noa/∂x_mcl∂w_qdk = δ_nm δ_oq δ_cd [l = s·a + k − p]."""
    N, C, L = x.shape
    O, _, K = w.shape
    A = windows(L, K, s, p)
    H = np.zeros((N, O, A, N, C, L, O, C, K))
    for n in range(N):
        for o in range(O):
            for a in range(A):
                for c in range(C):
                    for k in range(K):
                        l = s * a + k - p
                        if 0 <= l < L:
                            H[n, o, a, n, c, l, o, c, k] = 1.0
    return H


@pytest.mark.parametrize("N, C, L, O, K, s, p", [CASES_1D[0], CASES_1D[3], CASES_1D[5],
                                                  CASES_1D[4]])
def test_mixed_second_derivative_of_conv1d(N, C, L, O, K, s, p):
    rng = np.random.default_rng(25)
    x, w = rand(rng, N, C, L), rand(rng, O, C, K)
    kw = {"stride": s, "padding": p}
    H = jac.conv1d.second_derivative(x, w, wrt=(0, 1), **kw).materialise()
    close(H, ref_mixed1d(x, w, s, p), tol=0)
    close(jac.conv1d.hessian(x, w, wrt=(0, 1), **kw), H, tol=0)
    # finite differences of ∂y/∂x in w: exact, since ∂y/∂x is linear in w
    h, fd = 0.5, np.zeros_like(H)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        plus = jac.conv1d.jacobian(x, w + e, wrt=0, **kw)
        minus = jac.conv1d.jacobian(x, w - e, wrt=0, **kw)
        fd[(Ellipsis,) + idx] = (plus - minus) / (2 * h)
    close(H, fd, tol=1e-12)
    # the other order is the same tensor with the two inputs' axes swapped
    H10 = jac.conv1d.second_derivative(x, w, wrt=(1, 0), **kw).materialise()
    close(H10, np.moveaxis(H, (6, 7, 8), (3, 4, 5)), tol=0)
    for wrt in (0, 1):  # y is linear in x and in w
        zero = jac.conv1d.hessian(x, w, wrt=wrt, **kw)
        assert zero.shape == H.shape[:3] + 2 * (x.shape if wrt == 0 else w.shape)
        assert not zero.any()


def test_mixed_second_derivative_of_conv2d_against_finite_differences():
    rng = np.random.default_rng(26)
    x, w = rand(rng, 1, 2, 4, 5), rand(rng, 2, 2, 2, 3)
    kw = {"stride": (2, 1), "padding": (1, 2)}
    H = jac.conv2d.second_derivative(x, w, wrt=(0, 1), **kw).materialise()
    h, fd = 0.5, np.zeros_like(H)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        fd[(Ellipsis,) + idx] = (jac.conv2d.jacobian(x, w + e, wrt=0, **kw) -
                                 jac.conv2d.jacobian(x, w - e, wrt=0, **kw)) / (2 * h)
    close(H, fd, tol=1e-12)
    assert set(np.unique(H)) == {0.0, 1.0}
    assert not jac.conv2d.hessian(x, w, wrt=0, **kw).any()


def test_pool_second_derivatives_are_zero():
    x = np.random.default_rng(27).standard_normal((1, 2, 4, 4))
    for op in (jac.max_pool2d, jac.avg_pool2d):
        H = op.hessian(x, 2)
        assert H.shape == (1, 2, 2, 2) + 2 * x.shape and not H.any()


# ----------------------------------------------------------------------------
# 7. Bad input
# ----------------------------------------------------------------------------
def _raises(call, *words):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    return message


def test_channel_mismatch_names_both_shapes_and_axis_1():
    x, w = np.ones((2, 3, 6)), np.ones((4, 2, 3))
    keep = (x.copy(), w.copy())
    for call in (lambda: jac.conv1d(x, w), lambda: jac.conv1d.vjp(np.ones((2, 4, 4)), x, w),
                 lambda: jac.conv1d.jacobian(x, w), lambda: jac.conv1d.derivative(x, w, wrt=1)):
        _raises(call, "conv1d", "(2, 3, 6)", "(4, 2, 3)", "axis 1")
    _raises(lambda: jac.conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 1, 2, 2))),
            "conv2d", "(1, 3, 4, 4)", "(2, 1, 2, 2)", "axis 1")
    close(x, keep[0], tol=0)
    close(w, keep[1], tol=0)


def test_kernel_larger_than_the_padded_input():
    msg = _raises(lambda: jac.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 7)), padding=1),
                  "(1, 1, 7)", "(1, 1, 4)", "axis 2")
    assert "6" in msg  # 4 positions padded by 1 at each end
    # 7 taps fit 4 + 2·2 positions: no error
    assert jac.conv1d(np.ones((1, 1, 4)), np.ones((1, 1, 7)), padding=2).shape == (1, 1, 2)
    _raises(lambda: jac.conv2d(np.ones((1, 1, 5, 3)), np.ones((1, 1, 2, 4))), "axis 3")


@pytest.mark.parametrize("params, words", [
    ({"stride": 0}, ("stride", "0")),
    ({"stride": -2}, ("stride", "-2")),
    ({"padding": -1}, ("padding", "-1")),
    ({"stride": (1, 2, 1)}, ("stride", "(1, 2, 1)")),
    ({"padding": (1,)}, ("padding", "(1,)")),
    ({"stride": 1.5}, ("stride",)),
    ({"stride": True}, ("stride",)),
])
def test_bad_stride_and_padding(params, words):
    x, w = np.ones((1, 1, 5, 5)), np.ones((1, 1, 2, 2))
    _raises(lambda: jac.conv2d(x, w, **params), "conv2d", *words)
    _raises(lambda: jac.conv2d.vjp(np.ones((1, 1, 4, 4)), x, w, **params), "conv2d", *words)


def test_wrong_order_of_x_or_w():
    _raises(lambda: jac.conv2d(np.ones((1, 2, 5)), np.ones((1, 2, 2, 2))),
            "conv2d", "(N, C, H, W)", "(1, 2, 5)")
    _raises(lambda: jac.conv1d(np.ones((1, 2, 5, 5)), np.ones((1, 2, 2))),
            "conv1d", "(N, C, L)", "(1, 2, 5, 5)")
    _raises(lambda: jac.conv1d(np.ones((1, 2, 5)), np.ones((2, 2))), "conv1d", "(O, C, K)")
    _raises(lambda: jac.max_pool2d(np.ones((2, 4, 4)), 2), "max_pool2d", "(2, 4, 4)")
    _raises(lambda: jac.avg_pool2d(np.ones((1, 1, 2, 4, 4)), 2), "avg_pool2d")


@pytest.mark.parametrize("op", [jac.max_pool2d, jac.avg_pool2d], ids=lambda op: op.name)
def test_pooling_window_larger_than_the_image(op):
    _raises(lambda: op(np.ones((1, 1, 3, 5)), 4), op.name, "(1, 1, 3, 5)", "axis 2")
    _raises(lambda: op(np.ones((1, 1, 5, 3)), (2, 4)), op.name, "axis 3")
    _raises(lambda: op(np.ones((1, 1, 4, 4)), 2, stride=0), op.name, "stride")
    _raises(lambda: op(np.ones((1, 1, 4, 4)), (2, 2, 2)), op.name, "size")


def test_a_wrong_cotangent_or_tangent_is_refused():
    x, w = np.ones((1, 2, 6)), np.ones((3, 2, 3))
    _raises(lambda: jac.conv1d.vjp(np.ones((1, 3, 5)), x, w), "(1, 3, 4)", "(1, 3, 5)")
    _raises(lambda: jac.conv1d.jvp(np.ones((1, 2, 5)), x, w), "(1, 2, 6)", "(1, 2, 5)")
    _raises(lambda: jac.conv1d.derivative(x, w).vjp(np.ones((1, 3, 5))), "(1, 3, 5)")


def test_inputs_are_never_modified_and_results_are_fresh():
    rng = np.random.default_rng(28)
    x, w = rand(rng, 2, 2, 5, 6), rand(rng, 3, 2, 2, 3)
    kw = {"stride": (2, 1), "padding": (1, 1)}
    y = jac.conv2d(x, w, **kw)
    g, tx, tw = rand(rng, *y.shape), rand(rng, *x.shape), rand(rng, *w.shape)
    arrays = (x, w, g, tx, tw)
    copies = [a.copy() for a in arrays]
    results = [jac.conv2d(x, w, **kw)]
    for wrt, t in ((0, tx), (1, tw)):
        results += [jac.conv2d.vjp(g, x, w, wrt=wrt, **kw), jac.conv2d.jvp(t, x, w, wrt=wrt, **kw),
                    jac.conv2d.jacobian(x, w, wrt=wrt, **kw)]
        d = jac.conv2d.derivative(x, w, wrt=wrt, **kw)
        results += [d.vjp(g), d.jvp(t), d.materialise()]
        d.nnz()
    results.append(jac.conv2d.hessian(x, w, wrt=(0, 1), **kw))
    gp = rand(rng, 2, 2, 4, 5)
    for op in (jac.max_pool2d, jac.avg_pool2d):
        results += [op(x, 2, stride=1), op.vjp(gp, x, 2, stride=1), op.jvp(tx, x, 2, stride=1),
                    op.derivative(x, 2, stride=1).vjp(gp)]
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a, c)
    for r in results:
        for a in arrays:
            assert not np.shares_memory(r, a)
    # a 1-tap kernel with nothing to pad: the value must still be a new array
    x1 = rand(rng, 1, 1, 3, 3)
    y1 = jac.avg_pool2d(x1, 1)
    np.testing.assert_array_equal(y1, x1)
    assert not np.shares_memory(y1, x1)
    y1[...] = 0
    assert x1.any()


def test_failed_calls_change_nothing():
    x, w = np.arange(12.0).reshape(1, 2, 6), np.arange(12.0).reshape(2, 2, 3)
    keep = (x.copy(), w.copy())
    for params in ({"stride": 0}, {"padding": -1}, {"stride": (1, 1)}):
        with pytest.raises(ValueError):
            jac.conv1d.vjp(np.ones((1, 2, 4)), x, w, **params)
    with pytest.raises(ValueError):
        jac.conv1d(x, w[:, :1])
    np.testing.assert_array_equal(x, keep[0])
    np.testing.assert_array_equal(w, keep[1])


# ----------------------------------------------------------------------------
# 8. A layer of a real size: refused as dense, counted and pulled back without it
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_layer():
    rng = np.random.default_rng(29)
    return rand(rng, 8, 16, 64, 64), rand(rng, 32, 16, 3, 3)


def test_dense_jacobian_of_a_real_layer_is_refused_before_allocation(big_layer):
    x, w = big_layer
    entries = (8 * 32 * 64 * 64) * (8 * 16 * 64 * 64)
    tracemalloc.start()
    try:
        with pytest.raises(jac.JacobianTooLarge) as info:
            jac.conv2d.jacobian(x, w, wrt=0, padding=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The forward pass (and its im2col, 38 MB) is all that is allocated: far from 4 TiB.
    assert peak < 256 * 2 ** 20, peak
    message = str(info.value)
    assert str(8 * entries) in message and "4.0 TiB" in message, message
    assert "(8, 32, 64, 64, 8, 16, 64, 64)" in message
    assert "vjp" in message


def test_nnz_of_a_real_layer_is_the_closed_form_count(big_layer):
    x, w = big_layer
    N, C, H, W = x.shape
    O, _, KH, KW = w.shape
    # Per output position, the taps that land inside the image; every tap of w is nonzero.
    inside_h = sum(sum(0 <= a + u - 1 < H for u in range(KH)) for a in range(H))
    inside_w = sum(sum(0 <= b + v - 1 < W for v in range(KW)) for b in range(W))
    assert inside_h == inside_w == 64 * 3 - 2
    want = N * O * C * inside_h * inside_w
    assert want == 147_865_600
    assert jac.conv2d.derivative(x, w, wrt=0, padding=1).nnz() == want
    # with a zero tap in every kernel the count drops by exactly what that tap reached
    w0 = w.copy()
    w0[:, :, 0, 0] = 0.0  # the top-left tap lands inside for (H − 1)(W − 1) outputs
    assert jac.conv2d.derivative(x, w0, wrt=0, padding=1).nnz() == want - N * O * C * 63 * 63


def test_vjp_of_a_real_layer_runs_and_agrees(big_layer):
    x, w = big_layer
    g = np.random.default_rng(30).standard_normal((8, 32, 64, 64))
    hand = jac.conv2d.vjp(g, x, w, wrt=0, padding=1)
    derived = jac.conv2d.derivative(x, w, wrt=0, padding=1).vjp(g)
    close(hand, derived, tol=1e-9)
    # an independent col2im, one tap at a time on a padded canvas
    canvas = np.zeros((8, 16, 66, 66))
    for u in range(3):
        for v in range(3):
            canvas[:, :, u:u + 64, v:v + 64] += np.einsum("noab,oc->ncab", g, w[:, :, u, v])
    close(hand, canvas[:, :, 1:65, 1:65], tol=1e-9)


# ----------------------------------------------------------------------------
# Edges: no band the dense Jacobian lacks, trivial windows, empty arrays
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("xs, ws, kw", [((1, 2, 6), (3, 2, 1), {}),          # W ⊗ I: Kronecker
                                        ((1, 2, 6), (3, 2, 6), {}),          # one window: dense
                                        ((1, 2, 6), (3, 2, 3), {"stride": 5}),  # one window
                                        ((1, 1, 1), (1, 1, 3), {"padding": 1}),
                                        ((1, 1, 4), (1, 1, 2), {"stride": 4, "padding": 1}),
                                        ((1, 2, 6), (3, 2, 3), {"zero taps": 1})])
def test_local_structure_claims_no_band_the_dense_jacobian_lacks(xs, ws, kw):
    rng = np.random.default_rng(31)
    x, w = rand(rng, *xs), rand(rng, *ws)
    if kw.pop("zero taps", 0):  # a kernel zero at its end taps: a band one tap wide
        w[:, :, 1:] = 0.0
    d = jac.conv1d.derivative(x, w, wrt=0, **kw)
    dense = jac.structure(ref_jacobian1d(x, w, kw.get("stride", 1), kw.get("padding", 0), 0), 3)
    assert dense.kind != "banded Toeplitz"
    # local_structure may say less than the dense check, never something else
    assert local_structure(d)[0] in (dense.kind, "sparse", "dense"), (local_structure(d), dense)


def test_local_structure_of_a_size_one_average_pool():
    x = np.random.default_rng(32).standard_normal((1, 1, 4, 4))
    d = jac.avg_pool2d.derivative(x, 1)
    assert jac.structure(d.materialise(), 4).kind == "identity"
    assert local_structure(d)[0] == "identity"


def test_derived_rules_on_an_input_of_length_zero():
    x, w = np.ones((1, 2, 0)), np.ones((3, 2, 1))
    g = np.ones((1, 3, 2))
    assert jac.conv1d(x, w, padding=1).shape == (1, 3, 2)
    assert jac.conv1d.vjp(g, x, w, padding=1).shape == (1, 2, 0)  # the hand rule works
    assert jac.conv1d.derivative(x, w, padding=1).vjp(g).shape == (1, 2, 0)
    assert jac.conv1d.jacobian(x, w, padding=1).shape == (1, 3, 2, 1, 2, 0)


def test_max_pool_of_an_empty_batch():
    x, g = np.ones((0, 2, 4, 4)), np.ones((0, 2, 2, 2))
    assert jac.max_pool2d(x, 2).shape == (0, 2, 2, 2)
    assert jac.avg_pool2d.vjp(g, x, 2).shape == x.shape  # average pooling copes
    assert jac.max_pool2d.vjp(g, x, 2).shape == x.shape
    assert jac.max_pool2d.jacobian(x, 2).shape == (0, 2, 2, 2) + x.shape


def test_a_single_window_along_an_axis_shows_no_stride():
    rng = np.random.default_rng(33)
    x, w = rand(rng, 1, 1, 4, 6), rand(rng, 1, 1, 3, 2)
    s = jac.structure(jac.conv2d.jacobian(x, w, stride=(3, 1)), 4)
    assert (s.kind, s.band) == ("banded Toeplitz", ((3, None), (2, 1)))
    assert "a band 3×2 wide, strides —, 1 along axes 2, 3" in str(s)


def test_a_window_summed_over_with_nothing_to_read_is_refused():
    rng = np.random.default_rng(34)
    d = jac.conv1d.derivative(rand(rng, 1, 1, 5), rand(rng, 1, 1, 3), padding=2)
    with pytest.raises(ValueError, match="summed over but no array carries it"):
        d.contract([], d.out_labels + d.in_labels[:2], d.out_shape + d.in_shape[:2])


def test_a_window_must_have_as_many_taps_as_its_label():
    with pytest.raises(ValueError, match="2 taps but its tap label 'k' has size 3"):
        Derivative("Y", "X", "a", "lk", (4,), (6, 3), (term(Window("a", "k", "l", 2)),))


def test_derive_prints_im2col_and_col2im_and_runs_as_grad():
    from jacobians.examples import QUESTIONS
    q = QUESTIONS["CNN"]
    args = q.args()
    program = jac.derive(q.function, wrt=(0, 1))(*args)
    text = str(program)
    assert "g_x =" not in text  # x is data: the sweep does not reach it
    assert "col2im" not in text and "einsum('aecd,afcgdh->efgh', g_Z, im2col(x))" in text
    for got, want in zip(program.gradient, q.closed_form(*args)):
        close(got, want, tol=1e-12)
    program = jac.derive(lambda x, w: jac.conv2d(x, w, padding=1).sum(), wrt=0)(*args[2::-2])
    assert "col2im(einsum('ebcd,bfkl->efckdl', g_conv2d, w), (2, 1, 8, 8))" in str(program)
    assert r"\operatorname{col2im}" in program._repr_latex_()
    pooled = jac.derive(lambda x: jac.avg_pool2d(x, 2).sum())(args[2])
    assert "on every tap, (2, 1, 8, 8))" in str(pooled)
    close(pooled.gradient, np.full(args[2].shape, 0.25), tol=1e-15)
