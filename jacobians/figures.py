"""Every figure the project teaches with, written by one command.

:func:`regenerate` draws each figure in :data:`FIGURES` from the learner
questions' own models and sample inputs, at sizes small enough to read every
cell (Q0 at its own sizes, those of ``q.args()``: ``n, m, p = 4, 3, 2``, four
rows of a minibatch, three features, two hidden units — all different, so no
axis can be mistaken for another), with inputs chosen to make each figure's
point, and writes it as a PNG (or an SVG, for slides). Inputs come from fixed
seeds and the files carry no timestamp or software version, so a second run
writes the same bytes and a changed figure shows up in ``git diff`` only when
the picture changed.

The cost-growth figure here holds counts alone (FLOPs and bytes counted on
shapes, exact numbers), so it too is the same file on every run; the figures
with measured times change from run to run, and ``python -m jacobians cost``
writes those outside the checkout.
"""
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from . import ops
from ._drawing import FONT, SMALL, TITLE
from .chain import grad
from .cost import sweep
from .examples import QUESTIONS, q1_numerator_layout
from .graph import trace_graph
from .plot import plot_chain, plot_collapse, plot_shape, plot_sparsity
from .plot_cost import plot_cost_growth
from .plot_backprop import plot_cost_bars, plot_graph, plot_sweep
from .structure import identity_name, kronecker_factors, ones_name, structure

DPI = 150
SEED = 0
SIZES = QUESTIONS["Q0"].sizes     # n, m, p = 4, 3, 2, as q.args() and the lectures have them
Q1_SIZES = {"m": 3, "k": 4}     # x: m, W: m×k; k is 10 in the question, 4 fits a figure
PNG = {"dpi": DPI, "metadata": {"Software": None}}
# No date or version in an SVG either; its element ids are hashed with a fixed salt.
SVG = {"metadata": {"Date": None, "Creator": None}}
SVG_SALT = "jacobians"
# Q0's cost is counted on shapes up to sizes no machine could run (8 TiB at N = 1024).
COST_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
COST_BARS_SIZE = 32     # every question's every dimension, for the bars side by side


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file name, what it teaches, and how to draw it.

    Attributes
    ----------
    name : str
        The file name, ``q0_dH_dW_shape.png``.
    teaches : str
        One line for a reader choosing a figure.
    draw : callable
        ``draw()`` returns the :class:`~matplotlib.figure.Figure`.
    """

    name: str
    teaches: str
    draw: object


def _q0():
    """Q0's sample inputs at the small sizes and its traced graph."""
    q = QUESTIONS["Q0"]
    args = q.args(seed=SEED, **SIZES)
    return args, trace_graph(q.function, *args)


def _q0_local(child, position):
    """A local Jacobian of Q0's graph, by the name of its child node: the statement and array."""
    _, graph = _q0()
    node = next(n for n in graph.nodes if n.name == child)
    derivative = node.derivative(position)
    return derivative, derivative.materialise()


def _dyhat_dH_shape():
    derivative, J = _q0_local("ŷ", 0)
    return plot_shape(J, 1, names=("ŷ", "H"), title=str(derivative))


def _dyhat_dH_sparsity():
    derivative, J = _q0_local("ŷ", 0)
    return plot_sparsity(J, 1, values=True, names=("ŷ", "H"),
                         title=f"∂ŷ/∂H as a matrix: {derivative}\nrow a holds v in block c = a")


def _dH_dW_shape():
    derivative, J = _q0_local("H", 1)
    return plot_shape(J, 2, names=("H", "W"), title=str(derivative))


def _factor_label(F, known):
    """A Kronecker factor by name: one of ``known``, an identity ``I₂`` or a ones column ``1₄``.

    Spelled as :func:`jacobians.structure.local_structure` spells them in the graph and sweep.
    """
    for name, M in known.items():
        if F.shape == M.shape and np.allclose(F, M):
            return name
    if F.shape[0] == F.shape[1] and np.allclose(F, np.eye(len(F))):
        return identity_name(len(F))
    if F.shape[1] == 1 and np.allclose(F, 1):
        return ones_name(len(F))
    raise RuntimeError(f"a Kronecker factor is none of {', '.join(known)}, an identity or "
                       f"ones:\n{F}")


def _kronecker_product(J, order, known=None):
    """``"X ⊗ I₂"``: the exact Kronecker factors of a Jacobian with two output axes, named.

    Captions are read off :func:`kronecker_factors`, so they cannot drift from the picture.
    """
    factors = kronecker_factors(J, 2, order=order)
    if not factors.exact:
        raise RuntimeError(f"the Jacobian is not a Kronecker product in {order} order: {factors}")
    return " ⊗ ".join(_factor_label(F, known or {}) for F in (factors.A, factors.B))


def _dH_dW_sparsity(order):
    (_, X, _, _), _ = _q0()
    _, J = _q0_local("H", 1)
    product = _kronecker_product(J, order, {"X": X})
    # plot_sparsity itself says "column-major vec" for order F.
    how = ", row-major vec (NumPy's reshape)" if order == "C" else ", as in textbooks"
    return plot_sparsity(J, 2, order=order, values=True, names=("H", "W"),
                         title=f"∂vec(H)/∂vec(W) = {product}{how}")


def _q0_chain(order, upstream):
    _, graph = _q0()
    return plot_chain(graph, "W", order=order, upstream=upstream)


def _q1():
    q = QUESTIONS["Q1"]
    return q, q.args(seed=SEED, **Q1_SIZES)


def _df_dW_shape():
    _, (W, x, _, _) = _q1()
    # f = xW + b and b does not depend on W, so ∂f/∂W is the matmul's local Jacobian.
    derivative = ops.matmul.derivative(x, W, wrt=1, names=("x", "W", "f"))
    return plot_shape(derivative.materialise(), 1, names=("f", "W"),
                      title=f"{derivative}: grid a holds x in its column a")


def _index_axes(ax, down, across):
    """Name the rows and columns of a gradient drawn by plot_shape by W's own index letters.

    ``down`` and ``across`` are ``(letter, axis of W, size)``: the numerator layout is
    indexed ``[d, c]``, so both panels call each axis of W by one letter.
    """
    for (letter, axis, size), set_ticks, set_label in ((down, ax.set_yticks, ax.set_ylabel),
                                                       (across, ax.set_xticks, ax.set_xlabel)):
        set_ticks([k + 0.5 for k in range(size)],
                  [f"{letter}={k}" if k == 0 else str(k) for k in range(size)])
        set_label(f"{letter}: axis {axis} of W, size {size}", fontsize=FONT)
    # Both panels' numbers at one size: plot_shape scales each to its own panel.
    ax.tick_params(labelsize=SMALL)


def _q1_layouts():
    q, args = _q1()
    W = args[0]
    denominator = grad(q.function, wrt=0)(*args)
    numerator = q1_numerator_layout(*args)
    if not np.allclose(numerator, denominator.T):
        raise RuntimeError("Q1's numerator layout is not the transpose of the gradient")
    # Tall enough that the width sets the cell size in both panels, so their cells match.
    fig = Figure(figsize=(9.0, 6.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(W.shape[1], W.shape[0]))
    plot_shape(denominator, 0, names=("L", "W"), ax=left)
    plot_shape(numerator, 0, names=("L", "Wᵀ"), ax=right)
    c, d = ("c", 0, W.shape[0]), ("d", 1, W.shape[1])
    _index_axes(left, c, d)
    _index_axes(right, d, c)
    left.set_title(f"denominator layout: xᵀyᵀ, shape {denominator.shape}\nW's shape: what "
                   f"jac.grad, JAX and PyTorch return", fontsize=TITLE)
    right.set_title(f"numerator layout: y x, shape {numerator.shape}\nthe transpose: "
                    f"the learner's y times x", fontsize=TITLE)
    fig.suptitle("Q1: one gradient, two layouts (dL = x dW y); entry (c, d) of one is "
                 "entry (d, c) of the other", fontsize=TITLE + 1)
    return fig


def _q1_chain():
    q, args = _q1()
    # The node the model calls xW would read as x times W in ∂f/∂xW: it is z here.
    return plot_chain(trace_graph(q.function, *args), "W", names={"xW": "z"})


def _q2_chain():
    q = QUESTIONS["Q2"]
    # Past w the paths part: ∂L/∂w, formed first in reverse order, stands for the rest.
    return plot_chain(trace_graph(q.function, *q.args(seed=SEED)), "A", upstream="w")


# Inputs spread over σ's bend, so that σ′ runs from 0.05 to 0.25 rather than ≈ ¼ everywhere.
SIGMOID_Z = np.array([[-3.0, 0.5], [1.5, -1.0], [0.0, 2.5]])
SIGMOID_z = np.array([-3.0, -1.5, 0.0, 1.0, 2.5])
SOFTMAX_z = np.array([1.5, -0.5, 0.3, 2.0, -1.0])      # far from uniform: no entry ≈ 1/n
COTANGENT = np.array([0.9, -1.2, 0.5, 1.1, -0.7])


def _sigmoid_matrix():
    derivative = ops.sigmoid.derivative(SIGMOID_Z)
    return derivative, derivative.materialise()


def _sigmoid_shape():
    derivative, J = _sigmoid_matrix()
    return plot_shape(J, 2, names=("U", "Z"), title=f"U = σ(Z): {derivative}")


def _sigmoid_sparsity():
    derivative, J = _sigmoid_matrix()
    return plot_sparsity(J, 2, names=("U", "Z"),
                         title=f"U = σ(Z) entry by entry: diagonal\n{derivative}")


def _sigmoid_collapse():
    return plot_collapse(ops.sigmoid.jacobian(SIGMOID_z), COTANGENT, names=("u", "z"),
                         title="u = σ(z) entry by entry, so J = ∂u/∂z = diag(σ′(z))")


def _softmax_shape():
    derivative = ops.softmax.derivative(SOFTMAX_z)
    return plot_shape(derivative.materialise(), 1, names=("s", "z"),
                      title=f"s = softmax(z): {derivative}\nevery entry nonzero")


def _softmax_collapse():
    n = SOFTMAX_z.size
    rule = ("s ⊙ (g − ⟨g, s⟩)", ops.softmax.vjp(COTANGENT, SOFTMAX_z),
            f"2n = {2 * n} multiplications")
    return plot_collapse(ops.softmax.jacobian(SOFTMAX_z), COTANGENT, shortcut=rule,
                         names=("s", "z"), title="s = softmax(z): every s_a depends on every z_c")


def _bias():
    rng = np.random.default_rng(SEED)
    H, b = rng.standard_normal((SIZES["n"], SIZES["p"])), rng.standard_normal(SIZES["p"])
    derivative = ops.add.derivative(H, b, wrt=1, names=("H", "b", "Z"))
    return derivative, derivative.materialise()


def _bias_shape():
    derivative, J = _bias()
    return plot_shape(J, 2, names=("Z", "b"),
                      title=f"Z = H + b, b added to every row: {derivative}")


def _bias_sparsity():
    _, J = _bias()
    product = _kronecker_product(J, "C")
    return plot_sparsity(J, 2, names=("Z", "b"),
                         title=f"Z = H + b: ∂vec(Z)/∂b = {product}\none identity per row of H")


# Layers: a batch of 4 examples with 3 features, normalised two ways, and one attention head.
NORM_SHAPE = (4, 3)
ATTENTION_SIZES = {"q": 3, "k": 4, "d": 2, "e": 2}


def _named_structure(J, out_ndim):
    """``"block-diagonal, 4 blocks of 3×3"``: what :func:`structure` calls ``J``, counts apart."""
    s = structure(J, out_ndim)
    return f"{s.kind}{s.detail}"


def _norm_coupling():
    X = np.random.default_rng(SEED).standard_normal(NORM_SHAPE)
    layer, batch = ops.layer_norm.jacobian(X), ops.batch_norm.jacobian(X)
    n, f = NORM_SHAPE
    fig = Figure(figsize=(21.0, 7.6), layout="constrained")
    left, middle, right = fig.subplots(1, 3)
    names = ("X̂", "X")
    plot_sparsity(layer, 2, values=True, names=names, ax=left,
                  title=f"layer_norm: each example over its {f} features\n"
                        f"{_named_structure(layer, 2)}")
    plot_sparsity(batch, 2, values=True, names=names, ax=middle,
                  title=f"batch_norm: each feature over the {n} examples\n"
                        f"{_named_structure(batch, 2)}")
    plot_sparsity(batch, 2, order="F", values=True, names=names, ax=right,
                  title=f"batch_norm again, features first:\n"
                        f"{f} blocks of {n}×{n}, one per feature")
    fig.suptitle(f"X̂ = (X − μ)/σ̃ on one batch X of shape {NORM_SHAPE}: {n} examples (a, c: "
                 f"axis 0) of {f} features (b, d: axis 1)", fontsize=TITLE + 1)
    return fig


def _attention_dQ():
    rng = np.random.default_rng(SEED)
    q, k, d, e = (ATTENTION_SIZES[x] for x in "qkde")
    Q, K, V = rng.standard_normal((q, d)), rng.standard_normal((k, d)), rng.standard_normal((k, e))
    derivative = ops.attention.derivative(Q, K, V, wrt=0)
    J = derivative.materialise()
    # Wider than plot_sparsity's own figure, which fits the title to the figure and not to
    # the axes, whose labels push it right.
    fig = Figure(figsize=(9.0, 8.0), layout="constrained")
    plot_sparsity(J, 2, values=True, names=("O", "Q"), ax=fig.add_subplot(),
                  title=f"O = softmax(Q Kᵀ/√d) V, one head: q, k, d, e = {q}, {k}, {d}, {e}\n"
                        f"{derivative}\n"
                        f"where S = softmax(Q Kᵀ/√d), A_abd = Σₖ S_ak V_kb K_kd, M = S K\n"
                        f"{_named_structure(J, 2)}: row a of O depends on row a of Q alone")
    return fig


# Convolutions: a batch of one (N = 1, so a = e = 0 below) and kernels of small integers, the
# taps of each kernel all different, so that every diagonal of a Toeplitz block says which
# tap it is. 5×5 images (not 6×6) keep one pair of channels 25 cells wide: room to print them.
CONV1D_L = 12
CONV1D_W = np.array([[[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]],
                     [[7.0, -8.0, 9.0], [-3.0, 2.0, -1.0]]])          # (O, C, K) = (2, 2, 3)
CONV2D_HW = (5, 5)
CONV2D_KERNEL = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0], [7.0, -8.0, 9.0]])
# Pooled by 2×2 windows that tile it, whose largest entries 3, 4, 5, 6 lie in different places.
POOL_X = np.array([[3.0, 1.0, 0.0, 2.0],
                   [2.0, 0.0, 4.0, 1.0],
                   [1.0, 5.0, 2.0, 2.0],
                   [0.0, 3.0, 1.0, 6.0]])


def _conv2d_kernels():
    """``(O, C, 3, 3) = (2, 2, 3, 3)``: CONV2D_KERNEL for channels (0, 0), the rest seeded."""
    rng = np.random.default_rng(SEED)
    taps = np.concatenate([np.arange(-9.0, 0.0), np.arange(1.0, 10.0)])
    W = rng.choice(taps, size=(2, 2, 3, 3))
    W[0, 0] = CONV2D_KERNEL
    return W


def _matrix_text(M):
    """``[[1, −2, 3], [−4, 5, −6]]``: a small matrix of integers, as a title can hold it."""
    return "[" + ", ".join("[" + ", ".join(f"{v:g}".replace("-", "−") for v in row) + "]"
                           for row in M) + "]"


def _conv_panel(op, x, w, ax, title, **params):
    """One convolution's ∂Y/∂X drawn matricised into ``ax``, titled with its formula and band."""
    derivative = op.derivative(x, w, wrt=0, **params)
    J = derivative.materialise()
    plot_sparsity(J, x.ndim, values=True, names=("Y", "X"), ax=ax,
                  title=f"{title}\n{derivative}\n{_named_structure(J, x.ndim)}")
    return derivative, J


def _conv1d_dx():
    C, L = CONV1D_W.shape[1], CONV1D_L
    x = np.zeros((1, C, L))         # ∂Y/∂X does not depend on X: Y is linear in X
    fig = Figure(figsize=(20.0, 11.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _conv_panel(ops.conv1d, x, CONV1D_W, left, "stride 1, padding 1: 12 outputs per channel",
                stride=1, padding=1)
    _conv_panel(ops.conv1d, x, CONV1D_W, right, "stride 2, padding 1: 6 outputs per channel;\n"
                "the band steps 2 columns per row", stride=2, padding=1)
    fig.suptitle(f"Y = conv1d(X, W) for one example: X of shape {x.shape} ({C} channels of "
                 f"{L}), W of shape {CONV1D_W.shape}. Row (b, c): output channel b, position "
                 f"c; column (e, f): input channel e, position f.\nBanded Toeplitz: one block "
                 f"per pair of channels (b, e), its diagonal f − s·c = k − 1 holding tap W_bek "
                 f"(s the stride), so row c reads W[b, e] left to right", fontsize=TITLE + 1)
    return fig


def _conv2d_dx():
    x1, x2 = np.zeros((1, 1) + CONV2D_HW), np.zeros((1, 2) + CONV2D_HW)
    W = _conv2d_kernels()
    h, w = CONV2D_HW
    fig = Figure(figsize=(22.0, 12.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _conv_panel(ops.conv2d, x1, W[:1, :1], left,
                f"one channel in and out, W[0, 0] = {_matrix_text(CONV2D_KERNEL)}:\n"
                f"block (c, g) is kernel row k = g − c + 1 as a banded Toeplitz {w}×{w}",
                padding=1)
    _conv_panel(ops.conv2d, x2, W, right, "two channels in and out: one such matrix per pair "
                "(b, f);\nthe top left one is the left panel", padding=1)
    fig.suptitle(f"Y = conv2d(X, W) for one example: {h}×{w} images, 3×3 kernels, padding 1, "
                 f"each image flattened row-major. Row (b, c, d): output channel b, pixel "
                 f"(c, d); column (f, g, h): input channel f, pixel (g, h).\nDoubly banded: "
                 f"per pair of channels a block-Toeplitz matrix of banded Toeplitz blocks, "
                 f"nonzero only where |g − c| ≤ 1 and |h − d| ≤ 1", fontsize=TITLE + 1)
    return fig


def _pool_dx():
    x = POOL_X[None, None]
    fig = Figure(figsize=(12.0, 9.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    for op, ax, what in ((ops.max_pool2d, top,
                          "max_pool2d: one 1 per row, at its window's largest entry\n"
                          "(p_abcd: where that entry lies in X, flattened)"),
                         (ops.avg_pool2d, bottom,
                          "avg_pool2d: ¼ on each of its window's 4 entries,\na convolution "
                          "with the 2×2 kernel of ¼s, channel by channel")):
        derivative = op.derivative(x, 2, stride=2)
        J = derivative.materialise()
        plot_sparsity(J, 4, values=True, names=("Y", "X"), ax=ax,
                      title=f"{what}\n{derivative}\n{_named_structure(J, 4)}")
    fig.suptitle(f"2×2 windows, stride 2, over one 4×4 image X[0, 0] = "
                 f"{_matrix_text(POOL_X)}\nRow (c, d): window (c, d); column (g, h): pixel "
                 f"(g, h). The windows' largest entries are 3, 4, 5, 6", fontsize=TITLE + 1)
    return fig


def _cost_growth():
    return plot_cost_growth(sweep("Q0", COST_SIZES, measure_time=False, progress=False))


def _q0_graph():
    _, graph = _q0()
    return plot_graph(graph, wrt=0, title="Q0: H = X W,  ŷ = H v,  r = ŷ − y,  l = ½ Σ r²")


def _q2_graph():
    q = QUESTIONS["Q2"]
    return plot_graph(q.function, *q.args(seed=SEED), wrt=q.wrt,
                      title="Q2: y = A x,  u = σ(y),  v = B x,  s = u ⊙ v,  z = A s,  w = A z,  "
                            "L = ‖w‖²\nA is read three times: three edges leave it, and ∂L/∂A "
                            "sums over them")


def _q0_sweep():
    q = QUESTIONS["Q0"]
    return plot_sweep(q.function, *q.args(seed=SEED, **SIZES), wrt=q.wrt)


def _cost_bars():
    return plot_cost_bars(size=COST_BARS_SIZE)


FIGURES = (
    FigureSpec("q0_dyhat_dH_shape.png",
               "Q0: ∂ŷ/∂H, a vector by a matrix, is 3rd order (n, n, p)", _dyhat_dH_shape),
    FigureSpec("q0_dyhat_dH_sparsity.png",
               "Q0: ∂ŷ/∂H = δ_ac v_d as a matrix: v in each row's own block", _dyhat_dH_sparsity),
    FigureSpec("q0_dH_dW_shape.png",
               "Q0: ∂H/∂W, a matrix by a matrix, is 4th order: a matrix of matrices",
               _dH_dW_shape),
    FigureSpec("q0_dH_dW_sparsity_rowmajor.png",
               "Q0: ∂H/∂W flattened row-major is X ⊗ I_p", lambda: _dH_dW_sparsity("C")),
    FigureSpec("q0_dH_dW_sparsity_colmajor.png",
               "Q0: the same Jacobian flattened column-major is I_p ⊗ X: the factors swap",
               lambda: _dH_dW_sparsity("F")),
    FigureSpec("q0_chain.png",
               "Q0: ∂l/∂ŷ (n,) · ∂ŷ/∂H (n, n, p) · ∂H/∂W (n, p, m, p) → (m, p), and what "
               "each step sums", lambda: _q0_chain("reverse", "ŷ")),
    FigureSpec("q0_chain_forward.png",
               "Q0: the whole chain in forward order, carrying ∂·/∂W (order 3) through "
               "every step", lambda: _q0_chain("forward", None)),
    FigureSpec("q1_df_dW_shape.png",
               "Q1: ∂f/∂W is not x but a 3rd-order tensor", _df_dW_shape),
    FigureSpec("q1_layouts.png",
               "Q1: the gradient in denominator layout (W's shape) and numerator layout "
               "(its transpose)", _q1_layouts),
    FigureSpec("q1_chain.png",
               "Q1: ∂L/∂f · ∂f/∂z · ∂z/∂W (z = x W) contracts to W's shape", _q1_chain),
    FigureSpec("q2_chain.png",
               "Q2: A is read three times, so ∂L/∂A sums three paths", _q2_chain),
    FigureSpec("sigmoid_shape.png",
               "σ on a matrix: a 4th-order Jacobian with one entry per block", _sigmoid_shape),
    FigureSpec("sigmoid_sparsity.png",
               "σ entry by entry: as a matrix, its Jacobian is diagonal", _sigmoid_sparsity),
    FigureSpec("sigmoid_collapse.png",
               "Q3: a diagonal Jacobian makes gᵀJ the Hadamard product g ⊙ σ'",
               _sigmoid_collapse),
    FigureSpec("softmax_shape.png",
               "Q4: the softmax Jacobian diag(s) − s sᵀ is dense", _softmax_shape),
    FigureSpec("softmax_collapse.png",
               "Q4: for softmax, gᵀJ ≠ g ⊙ diag(J), yet its VJP s ⊙ (g − ⟨g, s⟩) costs O(n)",
               _softmax_collapse),
    FigureSpec("bias_add_shape.png",
               "a bias row b added to every row of H: ∂Z/∂b has shape (n, p, p)", _bias_shape),
    FigureSpec("bias_add_sparsity.png",
               "the bias Jacobian as a matrix: 1_n ⊗ I_p, one identity per row", _bias_sparsity),
    FigureSpec("norm_coupling.png",
               "layer norm's Jacobian is block-diagonal over the batch; batch norm's couples "
               "the examples, block-diagonal over the features instead", _norm_coupling),
    FigureSpec("attention_dQ.png",
               "attention's ∂O/∂Q: each query's output depends on its own query alone, "
               "through every key and value", _attention_dQ),
    FigureSpec("conv1d_dx_sparsity.png",
               "conv1d's ∂Y/∂X: one banded Toeplitz block per pair of channels, each diagonal "
               "one kernel tap; at stride 2 the band steps 2 columns per row", _conv1d_dx),
    FigureSpec("conv2d_dx_sparsity.png",
               "conv2d's ∂Y/∂X: doubly banded, a block-Toeplitz matrix of Toeplitz blocks per "
               "pair of channels", _conv2d_dx),
    FigureSpec("pool_dx_sparsity.png",
               "max pooling's ∂Y/∂X selects one entry per window; average pooling's spreads ¼ "
               "over it", _pool_dx),
    FigureSpec("cost_growth_Q0.png",
               "Q0 as N grows: the naive chain's N⁴ bytes and FLOPs against the VJP sweep's "
               "N² and N³, counted", _cost_growth),
    FigureSpec("q0_graph.png",
               "Q0 as a graph: every edge a local Jacobian, with its order and structure "
               "(∂H/∂W is X ⊗ I_p)", _q0_graph),
    FigureSpec("q2_graph.png",
               "Q2 as a graph: A has three out-edges, one per read", _q2_graph),
    FigureSpec("q0_sweep.png",
               "Q0: the local Jacobians the naive chain builds beside the cotangents the VJP "
               "sweep carries", _q0_sweep),
    FigureSpec("naive_vs_vjp_bars.png",
               "the five questions at N = 32: bytes and FLOPs of the naive chain against the "
               "VJP sweep, counted", _cost_bars),
)


def regenerate(out="figures", names=None, fmt="png"):
    """Write the project's figures as PNG files, or as SVG files for slides.

    Parameters
    ----------
    out : str or path
        The folder; made if missing. Files of the same names are replaced,
        other files are left alone.
    names : iterable of str, optional
        Only the figures with these file names (see :data:`FIGURES`); all
        of them when None.
    fmt : {"png", "svg"}
        The format: PNG at :data:`DPI`, or SVG with its text drawn as paths
        (it looks the same without the fonts), ``q0_chain.svg`` for
        ``q0_chain.png``. Either is the same file on every run.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`FIGURES`.

    Raises
    ------
    ValueError
        If ``names`` holds a name that is not a figure, or ``fmt`` is
        neither format.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [p.name for p in regenerate(folder, ["sigmoid_collapse.png"])]
    ['sigmoid_collapse.png']
    """
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt must be 'png' or 'svg', got {fmt!r}")
    known = {spec.name for spec in FIGURES}
    wanted = known if names is None else set(names)
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"no figure named {', '.join(unknown)}; the figures are "
                         f"{', '.join(spec.name for spec in FIGURES)}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in FIGURES:
        if spec.name in wanted:
            path = (folder / spec.name).with_suffix(f".{fmt}")
            with matplotlib.rc_context({"svg.hashsalt": SVG_SALT, "svg.fonttype": "path"}):
                spec.draw().savefig(path, format=fmt, **(PNG if fmt == "png" else SVG))
            written.append(path)
    return written
