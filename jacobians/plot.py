"""Figures of Jacobians: their shape, their sparsity, and why a diagonal one collapses.

Every function here draws arrays that were computed elsewhere (a Jacobian
from ``op.jacobian``, a cotangent ``g``) and returns the matplotlib
:class:`~matplotlib.figure.Figure`. Pass ``ax`` to draw into your own axes;
without it a new figure is made that pyplot does not track, so nothing needs
closing and nothing is shown until you display or save it (in a notebook,
once ``matplotlib.pyplot`` is imported, a returned figure displays itself).
No function calls ``plt.show()``, chooses a backend, or draws anything
random: ``fig.savefig(path, metadata={"Software": None})`` writes the same
PNG bytes every time.

Values are shaded with the diverging map ``RdBu`` (zero is white, so
structural zeros stand out) and, where the cells are big enough, printed in
them: the numbers carry the sign in greyscale, where red and blue of equal
strength look alike. Sparsity is drawn in one dark colour on white.
"""
import math

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .index import labels_for
from .structure import _real_array, _split, as_matrix

_VALUES = matplotlib.colormaps["RdBu"]
_SPY = ListedColormap(["white", "#1d2e5c"])
_INK = "0.15"           # frames and text
_EDGE = "0.78"          # lines between cells
_BLOCK = "#c8a24a"      # lines between blocks in a sparsity plot: visible on white and navy
_FONT = 9
_VALUE_FONT = 7
_MIN_LABELLED_CELL = 20     # points: a cell narrower than this cannot hold "−0.54"
_MAX_TICKS = 12


def _figure_and_axes(ax, size):
    """``ax`` and its root figure, or a new untracked figure of ``size`` inches."""
    if ax is None:
        fig = Figure(figsize=size, layout="constrained")
        return fig, fig.add_subplot()
    # ax.figure is a SubFigure when ax sits in one; .figure of either is the root.
    return ax.figure.figure, ax


def _symmetric_norm(*arrays):
    """A colour scale centred on zero (white) that fits every array."""
    vmax = max((float(np.abs(a).max(initial=0.0)) for a in arrays), default=0.0)
    vmax = vmax or 1.0
    return Normalize(-vmax, vmax)


def _number(v):
    """A value as a short cell label: two digits, a true minus, a short exponent."""
    if v == 0:
        return "0"
    text = f"{v:.0e}" if abs(v) < 0.01 else f"{v:.2g}"
    if "e" in text:  # 8e-04 → 8e-4 and 1.2e+02 → 1.2e2, to fit a cell
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "−")


def _draw_grid(ax, values, x, y, norm, labelled):
    """Draw a 2-D array as shaded cells whose top-left corner is at ``(x, y)``.

    The y axis points down (matrix convention), so row 0 is on top.
    """
    rows, cols = values.shape
    mesh = ax.pcolormesh(x + np.arange(cols + 1), y + np.arange(rows + 1), values,
                         cmap=_VALUES, norm=norm, edgecolors=_EDGE, linewidth=0.5)
    ax.add_patch(Rectangle((x, y), cols, rows, fill=False, edgecolor=_INK, linewidth=1.0))
    if labelled:
        for (i, j), v in np.ndenumerate(values):
            r, g, b, _ = _VALUES(norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            colour = "white" if dark else (_INK if v != 0 else "0.6")
            # Inside a cell, so the layout need not measure it (which is slow).
            ax.text(x + j + 0.5, y + i + 0.5, _number(v), ha="center", va="center",
                    fontsize=_VALUE_FONT, color=colour, in_layout=False)
    return mesh


def _fits_values(ax, width, height):
    """Whether cells are wide enough to print values in, for data ``width × height``.

    Measured on the axes as they are now, before the layout trims them a little.
    """
    box = ax.get_window_extent()
    points = 72 / ax.figure.figure.dpi * min(box.width / width, box.height / height)
    return points >= _MIN_LABELLED_CELL


def _colorbar(fig, mesh, ax):
    """A colour bar for when the cells are too small to print their values."""
    bar = fig.colorbar(mesh, ax=ax, shrink=0.7)
    bar.set_label("value", fontsize=_FONT)
    bar.ax.tick_params(labelsize=_VALUE_FONT + 1)


def _subsample(n):
    """Indices worth a tick label on an axis of length ``n``."""
    return range(0, n, math.ceil(n / _MAX_TICKS)) if n else range(0)


def plot_shape(J, out_ndim, names=None, ax=None):
    """Draw a Jacobian of order 0 to 4 as what it is.

    Order 0 is one number in a box, order 1 a column (a vector output) or a
    row (a vector input, as in numerator layout), order 2 a grid, order 3 a
    row of grids (one matrix per entry of the first axis) and order 4 a
    grid of grids: a matrix whose every entry is a matrix.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
        The Jacobian, at most 4 axes.
    out_ndim : int
        How many leading axes belong to the output.
    names : tuple of str, optional
        ``(output, input)``, e.g. ``("H", "W")``; by default ``y``/``Y`` and
        ``x``/``X`` (upper case for matrices).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure
        Titled ``∂H/∂W: shape (3, 2, 4, 2), order 4``; every axis is named
        by its index letter (``a b`` output, ``c d`` input), its array and
        its size. Cells are shaded by value; values are printed in them
        when the cells are big enough, otherwise a colour bar is added.

    Examples
    --------
    >>> import jacobians as jac
    >>> J = jac.matmul.jacobian(np.ones((3, 4)), np.ones((4, 2)), wrt=1)
    >>> fig = plot_shape(J, 2, names=("H", "W"))
    >>> fig.axes[0].get_title()
    '∂H/∂W: shape (3, 2, 4, 2), order 4'
    """
    J, _, _ = _split(J, out_ndim)
    order, in_ndim = J.ndim, J.ndim - out_ndim
    if order > 4:
        raise ValueError(f"plot_shape draws Jacobians of order 0 to 4; J has shape {J.shape}, "
                         f"order {order}")
    if names is None:
        names = ("y" if out_ndim <= 1 else "Y", "x" if in_ndim <= 1 else "X")
    of, by = names
    letters = "".join(labels_for(out_ndim, in_ndim))

    def source(k):
        return (of, k) if k < out_ndim else (by, k - out_ndim)

    def describe(k):
        name, axis = source(k)
        return f"{letters[k]}: axis {axis} of {name}, size {J.shape[k]}"

    def describe_pair(down, across):
        (name, i), (other, j) = source(down), source(across)
        where = f"axes {i}, {j} of {name}" if name == other else \
            f"axis {i} of {name}, axis {j} of {other}"
        return (f"{letters[down]} ↓, {letters[across]} →  ({where}: "
                f"{J.shape[down]} × {J.shape[across]})")

    # Every order is drawn as an R×C grid of r×c grids.
    if order == 0:
        grid = (1, 1, 1, 1)
    elif order == 1:
        grid = (1, 1, J.shape[0], 1) if out_ndim == 1 else (1, 1, 1, J.shape[0])
    elif order == 2:
        grid = (1, 1) + J.shape
    elif order == 3:
        grid = (1,) + J.shape
    else:
        grid = J.shape
    R, C, r, c = grid
    blocks = J.reshape(grid)
    gap = 1.0 if order >= 3 else 0.0
    width, height = C * c + (C - 1) * gap, R * r + (R - 1) * gap
    cell = min(0.4, 8.0 / max(width, 1), 6.0 / max(height, 1))
    fig, ax = _figure_and_axes(ax, (max(4.5, width * cell + 2.4), max(2.6, height * cell + 2.0)))

    norm = _symmetric_norm(J)
    labelled = _fits_values(ax, width + 0.4, height + 0.4)
    for i in range(R):
        for j in range(C):
            mesh = _draw_grid(ax, blocks[i, j], j * (c + gap), i * (r + gap), norm, labelled)
    if not labelled:
        _colorbar(fig, mesh, ax)

    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(height + 0.2, -0.2)
    ax.set_aspect("equal")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(f"∂{of}/∂{by}: shape {J.shape}, order {order}", fontsize=_FONT + 1)
    ax.tick_params(length=0, labelsize=_VALUE_FONT + 1)
    ax.set_xticks([])
    ax.set_yticks([])

    def index_ticks(n, repeats=1, step=0.0):
        """Cell indices 0…n−1 at cell centres, once per grid in a row of ``repeats``."""
        shown = list(_subsample(n))
        return ([m * step + k + 0.5 for m in range(repeats) for k in shown],
                [str(k) for _ in range(repeats) for k in shown])

    def block_ticks(axis, count, step):
        """``a=0``, ``a=1``, … at the centres of the blocks along ``axis``."""
        shown = list(_subsample(count))
        return ([k * step + (step - gap) / 2 for k in shown],
                [f"{letters[axis]}={k}" for k in shown])

    def label_top(positions, labels):
        # A second x axis on top, so the layout makes room for it under the title.
        top = ax.secondary_xaxis("top")
        top.set_xticks(positions, labels)
        top.tick_params(length=0, labelsize=_VALUE_FONT + 1)
        for side in top.spines.values():
            side.set_visible(False)

    if order == 1 and out_ndim == 1:
        ax.set_yticks(*index_ticks(r))
        ax.set_ylabel(describe(0), fontsize=_FONT)
    elif order == 1:
        ax.set_xticks(*index_ticks(c))
        ax.set_xlabel(describe(0), fontsize=_FONT)
    elif order == 2:
        ax.set_yticks(*index_ticks(r))
        ax.set_xticks(*index_ticks(c))
        ax.set_ylabel(describe(0), fontsize=_FONT)
        ax.set_xlabel(describe(1), fontsize=_FONT)
    elif order == 3:
        ax.set_yticks(*index_ticks(r))
        if C * c <= 40:
            ax.set_xticks(*index_ticks(c, C, c + gap))
        label_top(*block_ticks(0, C, c + gap))
        ax.set_ylabel(describe(1), fontsize=_FONT)
        ax.set_xlabel(f"{describe(2)}\none grid per {describe(0)}", fontsize=_FONT)
    elif order == 4:
        ax.set_yticks(*block_ticks(0, R, r + gap))
        label_top(*block_ticks(1, C, c + gap))
        ax.set_xlabel(f"blocks: {describe_pair(0, 1)}\nin each: {describe_pair(2, 3)}",
                      fontsize=_FONT)
    return fig


def _block_lines(ax, shape, order, vertical):
    """Lines between the blocks of each axis of one side of a matricised tensor.

    In row-major order axis k repeats every ``prod(shape[k+1:])`` entries, in
    column-major order every ``prod(shape[:k])``; the slowest axis gets the
    heaviest line. The fastest axis (stride 1) would need a line between
    every pair of cells, so it gets none.
    """
    strides = [math.prod(shape[k + 1:]) for k in range(len(shape))] if order == "C" else \
        [math.prod(shape[:k]) for k in range(len(shape))]
    total = math.prod(shape)
    line = ax.axvline if vertical else ax.axhline
    for stride in set(strides):
        if 1 < stride < total:
            width = 1.2 if stride == max(strides) else 0.6
            for at in range(stride, total, stride):
                line(at, color=_BLOCK, linewidth=width)


def plot_sparsity(J, out_ndim, order="C", ax=None, title=None):
    """Draw the matricised Jacobian as a spy plot, with its blocks marked.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
    out_ndim : int
        How many leading axes belong to the output.
    order : {"C", "F"}
        How ``vec`` flattens (see :func:`jacobians.structure.as_matrix`).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    title : str, optional
        A first title line, e.g. the operation; the second line always
        gives the nonzero count and density.

    Returns
    -------
    matplotlib.figure.Figure
        Nonzero entries dark, zeros white; thin lines separate the blocks of
        each output axis (rows) and input axis (columns), so ``X ⊗ I_p``
        shows its ``p × p`` blocks and an entry-by-entry Jacobian its
        diagonal.

    Examples
    --------
    >>> import jacobians as jac
    >>> fig = plot_sparsity(jac.sigmoid.jacobian(np.zeros((3, 2))), 2)
    >>> fig.axes[0].get_title()
    '6 of 36 entries nonzero (16.7%)'
    """
    J, out_shape, in_shape = _split(J, out_ndim)
    M = as_matrix(J, out_ndim, order=order)
    rows, cols = M.shape
    cell = min(0.45, 6.5 / max(rows, cols, 1))
    fig, ax = _figure_and_axes(ax, (max(4.4, cols * cell + 2.0), max(3.0, rows * cell + 1.8)))

    nonzero = M != 0
    # Cell edges let a reader count entries; past ~50 per side they would be a grey wash.
    edges = _EDGE if max(rows, cols) <= 50 else "face"
    ax.pcolormesh(np.arange(cols + 1), np.arange(rows + 1), nonzero, cmap=_SPY, vmin=0, vmax=1,
                  edgecolors=edges, linewidth=0.3)
    _block_lines(ax, out_shape, order, vertical=False)
    _block_lines(ax, in_shape, order, vertical=True)
    ax.add_patch(Rectangle((0, 0), cols, rows, fill=False, edgecolor=_INK, linewidth=1.0))

    out_labels, in_labels = labels_for(len(out_shape), len(in_shape))
    for side, shape, labels, n, set_ticks, set_label in (
            ("rows", out_shape, out_labels, rows, ax.set_yticks, ax.set_ylabel),
            ("columns", in_shape, in_labels, cols, ax.set_xticks, ax.set_xlabel)):
        # Ticks name the slowest axis of this side, one per block.
        slow = 0 if order == "C" else len(shape) - 1
        if not shape or not n:
            set_ticks([])
        else:
            step = n // shape[slow]
            shown = list(_subsample(shape[slow]))
            set_ticks([k * step + step / 2 for k in shown],
                      [f"{labels[slow]}={k}" for k in shown])
        what = "output" if side == "rows" else "input"
        axes = f"({', '.join(labels)})\nshape {shape}" if shape else "a scalar"
        set_label(f"{what} {axes}", fontsize=_FONT)
    ax.tick_params(length=0, labelsize=_VALUE_FONT + 1)
    count = int(nonzero.sum())
    density = count / M.size if M.size else 0.0
    summary = f"{count} of {M.size} entries nonzero ({density:.1%})"
    if order == "F":
        summary += ", column-major vec"
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize=_FONT + 1)
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    return fig


def plot_collapse(J, g, ax=None):
    """Why a diagonal Jacobian turns the chain rule into a Hadamard product.

    Draws ``gᵀ J`` (a row vector times a diagonal matrix) and, under it, the
    Hadamard product ``g ⊙ diag(J)``, with the two results aligned and in
    the same colours. For a Jacobian that is *not* diagonal (softmax) the
    two differ, and the figure says so.

    The two products are computed here (one line each); everything else
    is drawn as given.

    Parameters
    ----------
    J : array_like, shape ``(*g.shape, *g.shape)``
        The Jacobian of an entry-by-entry operation, e.g.
        ``jac.sigmoid.jacobian(z)``; it is flattened to an ``n × n`` matrix.
    g : array_like
        The cotangent (upstream gradient), ``n = g.size`` entries.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    ``(gᵀ J)_c = Σ_a g_a J_ac``; when ``J_ac = σ'_a δ_ac`` only ``a = c``
    survives, so ``(gᵀ J)_c = g_c σ'_c``: ``n²`` multiplications become ``n``.

    Examples
    --------
    >>> import jacobians as jac
    >>> z, g = np.array([-1.0, 0.0, 2.0]), np.array([1.0, -2.0, 0.5])
    >>> fig = plot_collapse(jac.sigmoid.jacobian(z), g)
    >>> print(fig.axes[0].get_title())
    A diagonal Jacobian: gᵀJ = g ⊙ diag(J)
    """
    J, g = _real_array(J, "J"), _real_array(g, "g")
    if J.shape != g.shape + g.shape:
        raise ValueError(f"J has shape {J.shape} and g has shape {g.shape}; J must have shape "
                         f"{g.shape + g.shape} (the output's shape twice: a Jacobian whose "
                         f"output and input have g's shape)")
    n = g.size
    M, g = J.reshape(n, n), g.reshape(n)
    through_J, hadamard = g @ M, g * np.diagonal(M)
    diagonal = not np.any(M[~np.eye(n, dtype=bool)])
    equal = np.allclose(through_J, hadamard)

    gap = 1.5
    top = (n - 1) / 2   # the row vectors of the first line sit level with J's middle
    second = n + 2.5    # the second line
    x_J, x_out = n + gap, 2 * n + 2 * gap
    width, height = 3 * n + 2 * gap, second + 1
    cell = min(0.45, 9.0 / width)
    fig, ax = _figure_and_axes(ax, (width * cell + 1.6, height * cell + 2.2))

    norm = _symmetric_norm(g, M, through_J, hadamard)
    labelled = _fits_values(ax, width + 0.6, height + 3.0)
    pieces = [(g[None], 0, top, "gᵀ"), (M, x_J, 0, "J"), (through_J[None], x_out, top, "gᵀJ"),
              (g[None], 0, second, "g"), (np.diagonal(M)[None], x_J, second, "diag(J)"),
              (hadamard[None], x_out, second, "g ⊙ diag(J)")]
    for values, x, y, caption in pieces:
        mesh = _draw_grid(ax, values, x, y, norm, labelled)
        ax.text(x + values.shape[1] / 2, y - 0.25, caption, ha="center", va="bottom",
                fontsize=_FONT)
    # The diagonal of J and the row diag(J) hold the same numbers: frame both.
    for k in range(n):
        for x, y in ((x_J + k, k), (x_J + k, second)):
            ax.add_patch(Rectangle((x, y), 1, 1, fill=False, edgecolor=_INK, linewidth=1.6))

    big = dict(ha="center", va="center", fontsize=_FONT + 5, color=_INK)
    for y, symbols in ((top + 0.5, ("·", "=")), (second + 0.5, ("⊙", "="))):
        ax.text(n + gap / 2, y, symbols[0], **big)
        ax.text(2 * n + 1.5 * gap, y, symbols[1], **big)
    # Between the two results: a vertical equals sign, or an upright ≠.
    middle = (top + 1 + second - 0.6) / 2
    ax.text(x_out + n / 2, middle, "=" if equal else "≠", rotation=90 if equal else 0,
            **{**big, "fontsize": _FONT + 9})
    ax.text(x_out + n / 2 + 0.8, middle, "the same\nnumbers" if equal else "different\nnumbers",
            ha="left", va="center", fontsize=_FONT, color=_INK)
    largest = float(np.abs(through_J - hadamard).max(initial=0.0))
    ax.text(width / 2, height + 0.8, f"gᵀJ takes n² = {n * n} multiplications, g ⊙ diag(J) "
            f"takes n = {n}; largest difference {largest:.1g}", ha="center", va="top",
            fontsize=_FONT)
    if not labelled:
        _colorbar(fig, mesh, ax)

    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 1.8, -1.2)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title("A diagonal Jacobian: gᵀJ = g ⊙ diag(J)" if diagonal else
                 "J is not diagonal: no Hadamard shortcut for gᵀJ", fontsize=_FONT + 1)
    return fig
