"""Figures of Jacobians: their shape, their sparsity, why a diagonal one collapses, and the chain.

Every function here draws what was computed elsewhere (a Jacobian from
``op.jacobian``, a cotangent ``g``, a traced graph and its naive plan for
:func:`plot_chain`, which materialises nothing) and returns the matplotlib
:class:`~matplotlib.figure.Figure`. Pass ``ax`` to draw into your own axes;
without it a new figure is made that pyplot does not track, so nothing needs
closing and nothing is shown until you display or save it (in a notebook,
run ``%matplotlib inline`` once, and a returned figure displays itself).
No function calls ``plt.show()``, chooses a backend, or draws anything
random: ``fig.savefig(path, metadata={"Software": None})`` writes the same
PNG bytes every time.

Values are shaded with the diverging map ``RdBu`` (zero is white, so
structural zeros stand out) and, where the cells are big enough, printed in
them: the numbers carry the sign in greyscale, where red and blue of equal
strength look alike. Sparsity is drawn in one dark colour on white. In a
chain, a box's shade grows with the Jacobian's order, which is also
written in the box; the indices a contraction sums over are dark orange.
"""
import math

import matplotlib
import numpy as np
import opt_einsum
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.textpath import TextToPath

from .arrays import as_float_array
from .chain import check_order, naive_plan
from .index import labels_for
from .structure import as_matrix, split_jacobian

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
    J, _, _ = split_jacobian(J, out_ndim)
    order, in_ndim = J.ndim, J.ndim - out_ndim
    if order > 4:
        raise ValueError(f"plot_shape draws Jacobians of order 0 to 4; J has shape {J.shape}, "
                         f"order {order}")
    if names is None:
        names = ("y" if out_ndim <= 1 else "Y", "x" if in_ndim <= 1 else "X")
    of, by = names
    letters = "".join(labels_for(out_ndim, in_ndim, avoid=names))

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
    J, out_shape, in_shape = split_jacobian(J, out_ndim)
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
    J, g = as_float_array(J, "J"), as_float_array(g, "g")
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
        # A middle dot is a speck at the size of "=": it gets a larger, bold one.
        dot = {"fontsize": _FONT + 13, "weight": "bold"} if symbols[0] == "·" else {}
        ax.text(n + gap / 2, y, symbols[0], **{**big, **dot})
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


# ----------------------------------------------------------------------------
# The chain rule as a picture
# ----------------------------------------------------------------------------
_CHAIN_FONT = 11
_SMALL = 9
_BOX_HEIGHT = 1.1       # inches: name, shape, order and indices, one line each
_GAP = 0.85             # inches between boxes: room for "·" and the summed indices
_SUM_GAP = 0.5          # inches more before a result where several paths are summed
_ROW_SPACE = 0.7        # inches above each row for the labels of its contractions
_SUM_INK = "#a6470c"    # summed indices: dark orange, apart from the blue fills in any palette
_MONO = "DejaVu Sans Mono"
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_MAX_PATHS = 12
_MAX_LISTED = 4096      # paths listed before those sharing an upstream box are merged
_CHAIN_FILL = matplotlib.colormaps["Blues"]     # by order, light enough for black text
_PAD = 0.1              # inches the axes reach beyond the drawing, so no line is clipped
_MARGIN = 0.15          # inches around the axes
_TITLE_BAND = 0.6       # inches above them for a two-line title


def _figure_and_axes_inches(ax, width, height):
    """``ax`` and its root figure, or a new figure where one data unit is one inch.

    Text is set in points, so a drawing laid out in inches fits its text
    only at that scale; a given ``ax`` is used as it is.
    """
    if ax is not None:
        return ax.figure.figure, ax
    inner = (width + 2 * _PAD, height + 2 * _PAD)
    size = (inner[0] + 2 * _MARGIN, inner[1] + 2 * _MARGIN + _TITLE_BAND)
    fig = Figure(figsize=size)
    ax = fig.add_axes([_MARGIN / size[0], _MARGIN / size[1], inner[0] / size[0],
                       inner[1] / size[1]])
    return fig, ax


def _step_tag(k):
    """Step ``k`` (from 0) as a circled number, ① to ⑳, then as ``21.`` and on."""
    return _CIRCLED[k] if k < len(_CIRCLED) else f"{k + 1}."


def _graph_node(graph, node, what):
    """``node`` as a node of ``graph``; a str is looked up by name."""
    if isinstance(node, str):
        for n in graph.nodes:
            if n.name == node:
                return n
        raise ValueError(f"{what} {node!r} is not a node of the graph; its nodes are "
                         f"{', '.join(n.name for n in graph.nodes)}")
    if not any(n is node for n in graph.nodes):
        raise ValueError(f"{what} {node!r} is not a node of this graph")
    return node


def _chain_paths(graph, source, order, upstream):
    """The paths to draw, output first, each cut at ``upstream`` when it is given."""
    out = graph.output
    if source is out:
        raise ValueError(f"{source.name} is the output itself: there is no chain to draw")
    count = graph.count_paths(source)
    if not count:
        raise ValueError(f"{out.name} does not depend on {source.name}: no path joins them")
    if count > _MAX_LISTED:
        raise ValueError(f"{count:,} paths lead from {source.name} to {out.name}; at most "
                         f"{_MAX_PATHS} fit in a figure")
    paths = graph.paths(source)
    if upstream is not None:
        if order != "reverse":
            raise ValueError(f"upstream={upstream.name!r} needs order='reverse': only reverse "
                             f"order forms ∂{out.name}/∂{upstream.name} before going on")
        if upstream is out or upstream is source:
            raise ValueError(f"upstream must lie strictly between {source.name} and "
                             f"{out.name}, got {upstream.name}")
        cut = []
        for path in paths:
            starts = [i for i, (c, _, _) in enumerate(path) if c is upstream]
            if not starts:
                product = " · ".join(f"∂{c.name}/∂{p.name}" for c, _, p in path)
                raise ValueError(f"the path {product} does not pass through {upstream.name}, so "
                                 f"∂{out.name}/∂{upstream.name} cannot stand for the part of "
                                 f"the chain before it")
            # Routes from the output to the upstream node are summed inside its box.
            if path[starts[0]:] not in cut:
                cut.append(path[starts[0]:])
        paths = cut
    if len(paths) > _MAX_PATHS:
        raise ValueError(f"{len(paths)} paths lead from {source.name} to {out.name}; at most "
                         f"{_MAX_PATHS} fit in a figure (pass upstream= to draw fewer)")
    return paths


def _plan_letters(graph, plan):
    """Each node's einsum letters, read off the plan's specs; new letters for the rest.

    Every operand of a step is a Jacobian ``∂of/∂by`` whose subscript is
    ``of``'s letters followed by ``by``'s.
    """
    letters = {}
    for step in plan.steps:
        if step.spec is None:
            continue
        for (of, by), subscript in zip(step.operands, step.spec.split("->")[0].split(",")):
            letters[of.index] = subscript[:of.ndim]
            letters[by.index] = subscript[of.ndim:]
    # Only a chain of one local Jacobian has no einsum; its nodes get fresh letters,
    # the output's first as in the plans.
    used, k = set("".join(letters.values())), 0
    for n in reversed(graph.nodes):
        if n.index not in letters:
            fresh = ""
            while len(fresh) < n.ndim:
                symbol = opt_einsum.get_symbol(k)
                k += 1
                if symbol not in used:
                    fresh += symbol
            letters[n.index] = fresh
    return letters


def _trie(paths):
    """Lay the paths out as a tree from the output: shared beginnings drawn once.

    Returns ``{prefix: (row, column, parent prefix)}``, where a prefix is a
    tuple of edge keys. A path's first new box continues its parent's row
    if the parent has no box after it yet, and opens the next row otherwise,
    so every row ends in exactly one path's last box.
    """
    boxes, continued, rows = {}, set(), 0
    for path in paths:
        keys = tuple((c.index, k) for c, k, _ in path)
        for depth in range(len(path)):
            prefix, parent = keys[:depth + 1], keys[:depth]
            if prefix in boxes:
                continue
            if parent in continued or (not parent and boxes):
                row, rows = rows, rows + 1
            else:
                row = boxes[parent][0] if parent else 0
                rows = max(rows, row + 1)
            continued.add(parent)
            boxes[prefix] = (row, depth, parent)
    return boxes


def _text_width(text, size, weight="normal", family=None):
    """Width in inches of ``text`` set in the given font."""
    font = FontProperties(size=size, weight=weight, family=family)
    return TextToPath().get_text_width_height_descent(text, font, ismath=False)[0] / 72


class _ChainLayout:
    """Where the boxes of a chain go: columns of boxes, rows of paths, in inches."""

    def __init__(self, texts, rows, depth, summed_paths):
        self.width = max([1.2] + [max(_text_width(t[0], _CHAIN_FONT, "bold"),
                                      _text_width(t[1], _CHAIN_FONT - 1),
                                      _text_width(t[3], _SMALL)) + 0.3 for t in texts])
        self.rows, self.depth, self.summed_paths = rows, depth, summed_paths

    def left(self, column):
        extra = _SUM_GAP if self.summed_paths and column > self.depth - 1 else 0.0
        return column * (self.width + _GAP) + extra

    def top(self, row):
        return _ROW_SPACE + row * (_BOX_HEIGHT + _ROW_SPACE)

    def middle(self, row):
        return self.top(row) + _BOX_HEIGHT / 2

    @property
    def size(self):
        """Width and height of the chain itself, without the step list."""
        return self.left(self.depth + 1) - _GAP, self.top(self.rows) - _ROW_SPACE


def _draw_box(ax, layout, x, y, text, style):
    """A Jacobian's box: name, shape, order and index notation, one line each."""
    fill = "white" if style != "local" else _CHAIN_FILL(0.06 + 0.1 * int(text[2].split()[1]))
    ax.add_patch(Rectangle((x, y), layout.width, _BOX_HEIGHT, facecolor=fill, edgecolor=_INK,
                           linewidth=2.0 if style == "result" else 1.0,
                           linestyle="--" if style == "upstream" else "-"))
    centre = x + layout.width / 2
    for dy, t, size, weight in ((0.22, text[0], _CHAIN_FONT, "bold"),
                                (0.47, text[1], _CHAIN_FONT - 1, "normal"),
                                (0.69, text[2], _SMALL, "normal"),
                                (0.9, text[3], _SMALL, "normal")):
        ax.text(centre, y + dy, t, ha="center", va="center", fontsize=size, weight=weight,
                color=_INK)


def _draw_branch(ax, layout, parent_row, row, column, below_caption):
    """A path leaving a shared box: down from under it, then across into this row's box."""
    x_from = layout.left(column - 1) + layout.width / 2
    y_from = layout.top(parent_row) + _BOX_HEIGHT + (0.3 if below_caption and column == 1 else 0)
    middle = layout.middle(row)
    ax.plot([x_from, x_from, layout.left(column)], [y_from, middle, middle], color=_INK,
            linewidth=1.0)


def _draw_junction(ax, layout, x_gap, row, summed, label_prefix):
    """The ``·`` between two boxes and, above it, what their contraction sums over."""
    ax.text(x_gap, layout.middle(row), "·", ha="center", va="center", fontsize=_CHAIN_FONT + 8,
            weight="bold", color=_INK, bbox=dict(facecolor="white", edgecolor="none", pad=0))
    ax.text(x_gap, layout.top(row) - 0.12, f"{label_prefix}{summed}", ha="center",
            va="bottom", fontsize=_CHAIN_FONT - 1, color=_SUM_INK, weight="bold")


def _draw_sum(ax, layout, leaves, result_row, x_result):
    """The paths' ends meeting on a vertical line, summed with "+", then "=" the result."""
    big = dict(ha="center", va="center", fontsize=_CHAIN_FONT + 6, color=_INK)
    if len(leaves) == 1:
        ax.text(x_result - _GAP / 2, layout.middle(0), "=", **big)
        return
    bus = x_result - _GAP * 0.5 - _SUM_GAP
    for row, column in leaves:
        ax.plot([layout.left(column) + layout.width, bus], [layout.middle(row)] * 2, color=_INK,
                linewidth=1.0, linestyle=":" if column + 1 < layout.depth else "-")
    ax.plot([bus, bus], [layout.middle(leaves[0][0]), layout.middle(leaves[-1][0])], color=_INK,
            linewidth=1.0)
    ax.plot([bus, x_result], [layout.middle(result_row)] * 2, color=_INK, linewidth=1.0)
    for (row, _), (next_row, _) in zip(leaves, leaves[1:]):
        ax.text(bus, (layout.middle(row) + layout.middle(next_row)) / 2, "+", **big,
                bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax.text((bus + x_result) / 2 + 0.05, layout.middle(result_row), "=", **big,
            bbox=dict(facecolor="white", edgecolor="none", pad=1))
    ax.text(x_result + layout.width / 2, layout.top(result_row) - 0.12,
            f"sum of {len(leaves)} paths", ha="center", va="bottom", fontsize=_CHAIN_FONT - 1,
            color=_SUM_INK, weight="bold")


_CAPTIONS = {"reverse": "reverse order: from the output back, ∂out/∂node for each node",
             "forward": "forward order: from the input on, ∂node/∂input for each node",
             "optimal": "optimal order: each path in one einsum, in its cheapest order"}


def _step_listing(steps, order, number):
    """The step list under the chain: each step's tag, then its text in columns."""
    rows = []
    for s in steps:
        of, by = s.target
        added = ", added to the sum" if s.adds else ""
        tag = _step_tag(number[id(s)]) if order != "optimal" else f"path {number[id(s)] + 1}"
        rows.append((tag, s.what, f"einsum('{s.spec}')",
                     f"→ ∂{of.name}/∂{by.name} {of.shape + by.shape}{added}"))
    tags = [row[0] for row in rows]
    widths = [max([len(row[j]) for row in rows], default=0) for j in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[1:], widths[1:])).rstrip()
             for row in rows]
    return tags, lines


def _draw_listing(ax, y, order, tags, lines, indent, line_height):
    ax.text(0, y, f"The naive chain's steps — {_CAPTIONS[order]}:", ha="left", va="top",
            fontsize=_SMALL, color=_INK, weight="bold")
    for k, (tag, text) in enumerate(zip(tags, lines), start=1):
        ax.text(0, y + k * line_height, tag, ha="left", va="top", fontsize=_SMALL, color=_SUM_INK)
        ax.text(indent, y + k * line_height, text, ha="left", va="top", fontsize=_SMALL,
                family=_MONO, color=_INK)


def plot_chain(graph, source=None, order="reverse", upstream=None, ax=None):
    """Draw the chain rule of a traced function as the product of its local Jacobians.

    The local Jacobians are drawn in chain order, from the output back to
    ``source``, as they are written: ``∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W``. Each box
    gives a Jacobian's name, shape, order and indices; between two boxes,
    the indices their contraction sums over — the axes of the variable they
    share — are printed above the ``·``. When ``source`` is read more than
    once there is one path per use: the paths are drawn as a tree from
    the output (a part they share is drawn once) and summed at the end.

    Nothing is materialised: names, shapes and einsum letters come from
    the graph and from the naive chain's plan (:func:`jacobians.chain.naive_plan`,
    run on shapes alone), whose steps are listed under the chain and
    numbered at the contractions they perform.

    Parameters
    ----------
    graph : jacobians.graph.Graph
        A traced function (:func:`jacobians.trace_graph`).
    source : Node or str, optional
        The input to differentiate with respect to, as a node or its name;
        the first input when None.
    order : {"reverse", "forward", "optimal"}
        The plan whose steps are listed. Reverse and forward order number
        each contraction; optimal order contracts each path in one einsum.
    upstream : Node or str, optional
        A node every path passes through, e.g. ``"ŷ"``. The chain from the
        output back to it is drawn as one box, the upstream gradient
        ``∂l/∂ŷ`` that reverse order has already contracted; needs
        ``order="reverse"``, the only order that forms it.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure, sized so that the text fits, when None.

    Returns
    -------
    matplotlib.figure.Figure
        Titled with the product (``∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W``) or, for
        several paths, their number; the last box is the result, of shape
        ``(*output.shape, *source.shape)``.

    Raises
    ------
    ValueError
        If ``source`` or ``upstream`` is not a node of the graph, the output
        does not depend on ``source``, a path misses ``upstream``, or there
        are more paths than fit in a figure.

    Examples
    --------
    >>> import jacobians as jac
    >>> from jacobians.examples import QUESTIONS
    >>> q = QUESTIONS["Q0"]
    >>> graph = jac.trace_graph(q.function, *q.args(n=3, m=4, p=2))
    >>> fig = plot_chain(graph, "W", upstream="ŷ")
    >>> print(fig.axes[0].get_title())
    ∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W
    shapes (3,) · (3, 3, 2) · (3, 2, 4, 2) → (4, 2)
    """
    source = graph.inputs[0] if source is None else _graph_node(graph, source, "source")
    check_order(order)
    out = graph.output
    upstream = None if upstream is None else _graph_node(graph, upstream, "upstream")
    paths = _chain_paths(graph, source, order, upstream)
    plan = naive_plan(graph, source, order)
    letters = _plan_letters(graph, plan)
    edges = {(c.index, k): (c, k, p) for path in paths for c, k, p in path}
    boxes = _trie(paths)
    shift = 1 if upstream is not None else 0

    # The contractions drawn (not those inside the upstream box), numbered in the plan's
    # order. In reverse and forward order each takes one local Jacobian ∂c/∂p; the
    # contraction sits at its left in reverse order (∂out/∂c · ∂c/∂p) and at its right
    # in forward order (∂c/∂p · ∂p/∂source).
    steps = [s for s in plan.steps if s.spec is not None and
             all((local.child.index, local.position) in edges for local in s.locals)]
    number = {id(s): k for k, s in enumerate(steps)}
    step_of_edge = {} if plan.order == "optimal" else \
        {(s.locals[0].child.index, s.locals[0].position): s for s in steps}

    def indexed(node):
        return f"{node.name}_{letters[node.index]}" if letters[node.index] else node.name

    def describe(of, by, name=None):
        """Name, shape, order and index notation of ∂of/∂by: the four lines of a box."""
        shape = of.shape + by.shape
        return (name or f"∂{of.name}/∂{by.name}", str(shape), f"order {len(shape)}",
                f"∂{indexed(of)}/∂{indexed(by)}")

    lines = {}
    for prefix in boxes:
        c, k, p = edges[prefix[-1]]
        twice = sum(q is p for q in c.parents) > 1
        lines[prefix] = describe(c, p, f"∂{c.name}/∂{p.name}" +
                                 (f" (argument {k})" if twice else ""))
    head = describe(out, upstream) if upstream is not None else None
    result = describe(out, source)
    rows = 1 + max(row for row, _, _ in boxes.values())
    depth = max(len(path) for path in paths) + shift
    layout = _ChainLayout(list(lines.values()) + [result] + ([head] if head else []), rows,
                          depth, len(paths) > 1)

    tags, listing = _step_listing(steps, plan.order, number)
    line_height = _SMALL * 1.45 / 72
    indent = max([_text_width(t, _SMALL) for t in tags], default=0.0) + 0.12
    chain_width, chain_height = layout.size
    below = 0.45        # between the chain and the step list
    text_width = max([indent + _text_width(t, _SMALL, family=_MONO) for t in listing] +
                     [_text_width(_CAPTIONS[plan.order], _SMALL, "bold")]) if listing else 0.0
    total_width = max(chain_width, text_width)
    total_height = chain_height + (below + (len(listing) + 1) * line_height if listing else 0.15)
    fig, ax = _figure_and_axes_inches(ax, total_width, total_height)

    if upstream is not None:
        _draw_box(ax, layout, 0, layout.top(0), head, "upstream")
        ax.text(layout.width / 2, layout.top(0) + _BOX_HEIGHT + 0.05, "upstream gradient",
                ha="center", va="top", fontsize=_SMALL, style="italic", color=_INK)
    for prefix, (row, column, parent) in boxes.items():
        c, k, _ = edges[prefix[-1]]
        column += shift
        _draw_box(ax, layout, layout.left(column), layout.top(row), lines[prefix], "local")
        if column == 0:
            continue
        parent_row = boxes[parent][0] if parent else 0
        if parent_row != row:
            _draw_branch(ax, layout, parent_row, row, column, upstream is not None)
        step = step_of_edge.get(parent[-1] if plan.order == "forward" and parent else (c.index, k))
        summed = letters[c.index]
        _draw_junction(ax, layout, layout.left(column) - _GAP / 2, row,
                       f"Σ {','.join(summed)}" if summed else f"{c.name}: scalar",
                       f"{_step_tag(number[id(step)])} " if step is not None else "")

    # The result: after the one path, or where the paths' ends are summed.
    x_result = layout.left(depth)
    leaves = sorted((row, column + shift) for prefix, (row, column, _) in boxes.items()
                    if not any(other[:-1] == prefix for other in boxes))
    result_row = (rows - 1) / 2
    _draw_box(ax, layout, x_result, layout.top(result_row), result, "result")
    _draw_sum(ax, layout, leaves, result_row, x_result)
    if listing:
        _draw_listing(ax, chain_height + below, plan.order, tags, listing, indent, line_height)

    ax.set_xlim(-_PAD, total_width + _PAD)
    ax.set_ylim(total_height + _PAD, -_PAD)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(_chain_title(paths, lines, head, result, source), fontsize=_CHAIN_FONT + 1,
                 color=_INK)
    return fig


def _chain_title(paths, lines, head, result, source):
    if len(paths) == 1:
        factors = ([head] if head else []) + list(lines.values())
        return (f"{result[0]} = {' · '.join(t[0] for t in factors)}\n"
                f"shapes {' · '.join(t[1] for t in factors)} → {result[1]}")
    readers = dict.fromkeys(path[-1][0].name for path in paths)
    return (f"{result[0]}: {source.name} is read by {', '.join(readers)}, so the chain "
            f"is a sum over {len(paths)} paths\nevery path's product has shape {result[1]}")
