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
PNG bytes every time, and ``fig.savefig("x.svg")`` an SVG for slides.

Every plot function of the library takes the same four keywords, each
with one meaning:

``names``
    What the figure calls what it draws. A Jacobian given as an array
    (:func:`plot_shape`, :func:`plot_sparsity`, :func:`plot_collapse`) has
    no names of its own: ``names`` is the pair ``(output, input)`` that
    names ``∂output/∂input``. A traced graph (:func:`plot_chain`, and
    ``plot_graph`` and ``plot_sweep``) names its nodes: ``names`` is a dict
    from a node's name to the name to show, and a name the graph lacks is
    refused.
``title``
    A first title line, above the figure's own title, which is kept.
``ax``
    The axes to draw into, e.g. one of a ``plt.subplots`` grid: the figure
    shrinks to fit the panel (the axes' cell of the grid), its text with
    it, and text too small to read is left out. A new figure when None.
``dpi``
    Dots per inch of a new figure, :data:`DPI` (150) by default: what
    ``savefig`` and a notebook use.

Index letters follow the formulas: ``a b`` for the output's axes, ``c d``
for the input's (``∂H_ab/∂W_cd = X_ac δ_bd``), and never a letter that is
also an array's name.

Values are shaded with the diverging map ``RdBu`` (zero is white, so
structural zeros stand out) and, where the cells are big enough, printed in
them: the numbers carry the sign in greyscale, where red and blue of equal
strength look alike. A sparsity plot draws every nonzero in one dark colour
on white, or, with ``values=True``, shades each by its value. In a chain, a
box's shade grows with the Jacobian's order, which is also written in the
box; the contractions are labelled in dark orange.
"""
import math

import matplotlib
import numpy as np
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Rectangle

from ._drawing import (DPI, FONT, INK, MIN_FONT, MONO, SMALL, SUM_INK, TITLE, Canvas,
                       lines_width, panel_box, new_figure, panel_scale, root, scaled_text, settle,
                       shown_names, text_width, titled, written)
from .arrays import as_float_array
from .chain import check_order, naive_plan
from .index import labels_for
from .structure import as_matrix, split_jacobian

_VALUES = matplotlib.colormaps["RdBu"].with_extremes(bad="white")   # masked zeros: white
_SPY = ListedColormap(["white", "#1d2e5c"])
_EDGE = "0.78"          # lines between cells
_BLOCK = "#c8a24a"      # lines between blocks in a spy plot: visible on white and navy
_VALUE_FONTS = (9, 8)   # numbers in cells at full size: the larger that fits the widest
_MAX_TICKS = 12


class _Panel:
    """Where a drawing made of cells goes, and at which scale.

    A new figure of ``size`` inches (constrained layout) draws at full
    size, a cell ``cell`` inches wide. In a given ``ax`` the decorations
    (title, ticks, axis labels, colour bar) shrink by :attr:`scale`, the
    panel's (:func:`jacobians._drawing.panel_scale`), and the cells by
    :attr:`drawn`, which is smaller where the panel, less the room the
    decorations take, holds the drawing (``units`` cells wide and high)
    in less room than that.
    """

    def __init__(self, ax, size, dpi, cell, units):
        self.cell, self.given, self.others = cell, ax is not None, []
        if ax is None:
            self.fig = new_figure(size, dpi, "constrained")
            self.ax, self.scale, self.drawn = self.fig.add_subplot(), 1.0, 1.0
            return
        self.fig, self.ax, self.panel = root(ax), ax, panel_box(ax)
        self.scale = panel_scale(ax, *size)
        room = [extent / self.fig.dpi - (whole - cells * cell) * self.scale
                for extent, whole, cells in zip((self.panel.width, self.panel.height), size,
                                                units)]
        self.drawn = min([self.scale] + [max(r, 0.0) / (cells * cell)
                                         for r, cells in zip(room, units)])

    def font(self, size):
        """A decoration's font size: ``size`` points at full size."""
        return size * self.scale

    @property
    def pitch(self):
        """How many points wide a cell will be drawn."""
        return 72 * self.cell * self.drawn

    def text(self, x, y, text, size, **kwargs):
        """Text in the drawing, ``size`` points at full size, shrinking with the cells."""
        return scaled_text(self.ax, x, y, text, size, self.cell, **kwargs)

    def fits(self, labels, vertical=False):
        """Whether tick labels one cell apart stay clear of each other."""
        if not labels:
            return True
        font = self.font(SMALL)
        need = 1.4 * font if vertical else \
            72 * max(text_width(t, font) for t in labels) + 0.3 * font
        return need <= self.pitch

    def colorbar(self, mesh):
        """A colour bar, for when the cells are too small to print their values."""
        bar = self.fig.colorbar(mesh, ax=self.ax, shrink=0.7)
        bar.set_label("value", fontsize=self.font(FONT))
        bar.ax.tick_params(labelsize=self.font(SMALL))
        self.others.append(bar.ax)

    def done(self):
        """The figure, its text kept inside the panel of a given ``ax``."""
        if self.given:
            settle(self.panel, self.ax, *self.others)
        return self.fig


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


def _draw_grid(panel, values, x, y, norm, font, blank_zeros=False):
    """Draw a 2-D array as shaded cells whose top-left corner is at ``(x, y)``.

    The y axis points down (matrix convention), so row 0 is on top. Values
    are printed in the cells at size ``font`` at full size, unless it is
    None. With ``blank_zeros`` a zero is a white, unlabelled cell, so that
    the nonzeros stand out; otherwise it is printed as a grey ``0``.
    """
    ax = panel.ax
    rows, cols = values.shape
    shown = np.ma.masked_equal(values, 0.0) if blank_zeros else values
    # Cell edges let a reader count entries; past ~50 per side they would be a grey wash.
    edges = _EDGE if max(rows, cols) <= 50 else "face"
    mesh = ax.pcolormesh(x + np.arange(cols + 1), y + np.arange(rows + 1), shown,
                         cmap=_VALUES, norm=norm, edgecolors=edges, linewidth=0.5)
    ax.add_patch(Rectangle((x, y), cols, rows, fill=False, edgecolor=INK, linewidth=1.0))
    if font:
        for (i, j), v in np.ndenumerate(values):
            if blank_zeros and v == 0:
                continue
            r, g, b, _ = _VALUES(norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            colour = "white" if dark else (INK if v != 0 else "0.55")
            panel.text(x + j + 0.5, y + i + 0.5, _number(v), font, droppable=True,
                       ha="center", va="center", color=colour)
    return mesh


def _value_font(panel, *arrays):
    """The full-size font at which every value of ``arrays`` fits a cell; None if none fits.

    None too where the cells are drawn so small that the values would be
    smaller than :data:`~jacobians._drawing.MIN_FONT`: a colour bar stands
    for them.
    """
    labels = {_number(v) for a in arrays for v in np.ravel(a)}
    widest = max([text_width(t, 1) for t in labels], default=0.0) * 72   # per point of size
    for size in _VALUE_FONTS:
        if widest * size + 3 <= 0.95 * 72 * panel.cell:
            return size if size * panel.drawn >= MIN_FONT else None
    return None


def _subsample(n, every=1):
    """Indices worth a tick label on an axis of length ``n``: at most 12, ``every`` apart."""
    return range(0, n, max(every, math.ceil(n / _MAX_TICKS))) if n else range(0)


def _cell_ticks(letter, n, repeats=1, step=0.0):
    """Tick positions and labels ``c=0, 1, 2`` at cell centres, once per block of ``repeats``."""
    shown = list(_subsample(n))
    positions = [m * step + k + 0.5 for m in range(repeats) for k in shown]
    labels = [f"{letter}={k}" if k == shown[0] else str(k) for _ in range(repeats)
              for k in shown]
    return positions, labels


def _block_ticks(panel, letter, count, step, offset, vertical=False):
    """``a=0``, ``a=1``, … at the centres of ``count`` blocks ``step`` cells apart.

    Every other one (or fewer) where neighbours would touch.
    """
    font = panel.font(SMALL)
    need = 1.4 * font if vertical else 72 * text_width(f"{letter}={count - 1}", font) + 0.5 * font
    shown = list(_subsample(count, math.ceil(need / max(panel.pitch * step, 1e-9))))
    return [k * step + offset for k in shown], [f"{letter}={k}" for k in shown]


def _outer_ticks(panel, positions, labels, inner_labels):
    """Block labels on the y axis, left of the cell labels ``inner_labels`` already there."""
    panel.ax.set_yticks(positions, labels)
    widest = max([text_width(t, panel.font(SMALL)) for t in inner_labels], default=0.0)
    panel.ax.tick_params(axis="y", which="major", pad=widest * 72 + panel.font(8))


def _heading(panel, heading):
    """The title, and the axes' tick labels at the panel's size."""
    panel.ax.set_title(heading, fontsize=panel.font(TITLE), pad=panel.font(10), color=INK)
    panel.ax.tick_params(which="both", length=0, labelsize=panel.font(SMALL))
    # A cell label may sit where a block label does (the middle of an odd block): keep both.
    panel.ax.xaxis.remove_overlapping_locs = panel.ax.yaxis.remove_overlapping_locs = False


def plot_shape(J, out_ndim, names=None, title=None, ax=None, dpi=DPI):
    """Draw a Jacobian of order 0 to 4 as what it is.

    Order 0 is one number in a box, order 1 a column (a vector output) or a
    row (a vector input, as in numerator layout), order 2 a grid, order 3 a
    row of grids (one matrix per entry of the first axis) and order 4 a
    grid of grids: a matrix whose every entry is a matrix. A Jacobian of
    higher order is refused with what to draw instead: a slice, or
    :func:`plot_sparsity` with ``values=True``, which takes any order.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
        The Jacobian, at most 4 axes.
    out_ndim : int
        How many leading axes belong to the output.
    names : tuple of str, optional
        ``(output, input)``, e.g. ``("H", "W")``; by default ``y``/``Y`` and
        ``x``/``X`` (upper case for matrices). A pair, not a dict: an array
        has no names of its own to rename.
    title : str, optional
        A first title line, e.g. the formula, above the figure's own.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the figure shrinks to fit its panel. A new figure
        when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Titled ``∂H/∂W: shape (3, 2, 4, 2), order 4``; every axis is named
        by its index letter (``a b`` output, ``c d`` input, other letters
        where a name is one of these), its array and its size, and its
        cells are numbered (``c=0, 1, 2``) where the numbers fit. Cells are
        shaded by value; values are printed in them when the cells are big
        enough, otherwise a colour bar is added.

    Raises
    ------
    ValueError
        For a Jacobian of order 5 or more, saying what to draw instead.

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
        fixed = order - 4
        raise ValueError(
            f"plot_shape draws Jacobians of order 0 to 4; J has shape {J.shape}, order {order}. "
            f"Draw all of it matricised, plot_sparsity(J, {out_ndim}, values=True), which "
            f"takes any order, or a slice of order 4 that fixes the first "
            f"{'index' if fixed == 1 else f'{fixed} indices'}: "
            f"plot_shape(J[{', '.join(['0'] * fixed)}], "
            f"{max(out_ndim - fixed, 0)})")
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
    gap = 0.7 if order >= 3 else 0.0
    width, height = C * c + (C - 1) * gap, R * r + (R - 1) * gap
    cell = min(0.5, 8.0 / max(width, 1), 6.0 / max(height, 1))
    heading = titled(title, f"∂{of}/∂{by}: shape {J.shape}, order {order}")
    # Room around the cells for the labels: the block labels on top take a line more.
    size = (max(4.8, width * cell + 2.8, lines_width(heading, TITLE) + 0.4),
            height * cell + (2.7 if order >= 3 else 2.4) + 0.25 * heading.count("\n"))
    panel = _Panel(ax, size, dpi, cell, (width + 0.4, height + 0.4))
    ax = panel.ax
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(height + 0.2, -0.2)
    ax.set_aspect("equal")

    norm = _symmetric_norm(J)
    font = _value_font(panel, J)
    for i in range(R):
        for j in range(C):
            mesh = _draw_grid(panel, blocks[i, j], j * (c + gap), i * (r + gap), norm, font)
    if not font:
        panel.colorbar(mesh)

    for side in ax.spines.values():
        side.set_visible(False)
    _heading(panel, heading)
    ax.set_xticks([])
    ax.set_yticks([])

    def label_top(positions, labels):
        # A second x axis on top, so the layout makes room for it under the title.
        top = ax.secondary_xaxis("top")
        top.set_xticks(positions, labels)
        top.tick_params(length=0, labelsize=panel.font(SMALL))
        for side in top.spines.values():
            side.set_visible(False)

    def cell_ticks(setter, letter, n, repeats=1, step=0.0, vertical=False, minor=False):
        """Number the cells along an axis where the numbers fit; the labels set, or []."""
        ticks = _cell_ticks(letter, n, repeats, step)
        if n * repeats > 40 or not panel.fits(ticks[1], vertical):
            return []
        setter(*ticks, minor=minor)
        return ticks[1]

    # A vector output uses a but not b: say why the input's letters start at c.
    pair = labels_for(2, 2, avoid=names)
    skipped = f"\n(indices: {' '.join(pair[0])}… out, {' '.join(pair[1])}… in)" \
        if out_ndim == 1 and in_ndim else ""
    label = dict(fontsize=panel.font(FONT))
    if order == 1 and out_ndim == 1:
        cell_ticks(ax.set_yticks, letters[0], r, vertical=True)
        ax.set_ylabel(describe(0), **label)
    elif order == 1:
        cell_ticks(ax.set_xticks, letters[0], c)
        ax.set_xlabel(describe(0) + skipped, **label)
    elif order == 2:
        cell_ticks(ax.set_yticks, letters[0], r, vertical=True)
        cell_ticks(ax.set_xticks, letters[1], c)
        ax.set_ylabel(describe(0), **label)
        ax.set_xlabel(describe(1) + skipped, **label)
    elif order == 3:
        cell_ticks(ax.set_yticks, letters[1], r, vertical=True)
        cell_ticks(ax.set_xticks, letters[2], c, C, c + gap)
        label_top(*_block_ticks(panel, letters[0], C, c + gap, c / 2))
        ax.set_ylabel(describe(1), **label)
        ax.set_xlabel(f"{describe(2)}\none grid per {describe(0)}{skipped}", **label)
    elif order == 4:
        inner = cell_ticks(ax.set_yticks, letters[2], r, R, r + gap, vertical=True, minor=True)
        cell_ticks(ax.set_xticks, letters[3], c, C, c + gap)
        _outer_ticks(panel, *_block_ticks(panel, letters[0], R, r + gap, r / 2, vertical=True),
                     inner)
        label_top(*_block_ticks(panel, letters[1], C, c + gap, c / 2))
        ax.set_xlabel(f"blocks: {describe_pair(0, 1)}\nin each: {describe_pair(2, 3)}", **label)
    return panel.done()


def _strides(shape, order):
    """How far apart consecutive entries of each axis lie once ``shape`` is flattened."""
    if order == "C":
        return [math.prod(shape[k + 1:]) for k in range(len(shape))]
    return [math.prod(shape[:k]) for k in range(len(shape))]


def _long_axes(shape):
    """The axes that make blocks: those longer than 1, or all of them if none is.

    An axis of length 1 (a batch of one example) has a single index, 0:
    it splits nothing, so it is neither labelled nor given the heavy line.
    """
    return [k for k, n in enumerate(shape) if n > 1] or list(range(len(shape)))


def _block_lines(ax, shape, order, vertical, colour):
    """Lines between the blocks of each axis of one side of a matricised tensor.

    In row-major order axis k repeats every ``prod(shape[k+1:])`` entries, in
    column-major order every ``prod(shape[:k])``; the slowest axis longer
    than 1 gets the heaviest line. The fastest axis (stride 1) would need a
    line between every pair of cells, so it gets none.
    """
    strides = _strides(shape, order)
    total = math.prod(shape)
    heavy = max((strides[k] for k in _long_axes(shape)), default=0)
    line = ax.axvline if vertical else ax.axhline
    for stride in sorted(set(strides), reverse=True):
        if 1 < stride < total:
            width = 2.4 if stride == heavy else 1.2
            for at in range(stride, total, stride):
                line(at, color=colour, linewidth=width)


def plot_sparsity(J, out_ndim, order="C", values=False, names=None, title=None, ax=None,
                  dpi=DPI):
    """Draw the matricised Jacobian ``∂vec(out)/∂vec(in)``, with its blocks marked.

    Parameters
    ----------
    J : array_like, shape ``(*out.shape, *in.shape)``
        A Jacobian of any order.
    out_ndim : int
        How many leading axes belong to the output.
    order : {"C", "F"}
        How ``vec`` flattens (see :func:`jacobians.structure.as_matrix`).
    values : bool
        Shade each nonzero by its value (``RdBu``, centred on 0; zeros
        white) and print it where the cells are big enough, instead of one
        dark colour for every nonzero.
    names : tuple of str, optional
        ``(output, input)``, e.g. ``("H", "W")``: named on the axes, and no
        index letter is one of them (``Z = H + b`` is indexed ``i j``, ``k``).
        A pair, not a dict: an array has no names of its own to rename.
    title : str, optional
        A first title line, e.g. the operation, above the figure's own,
        which gives the nonzero count and density.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the figure shrinks to fit its panel. A new figure
        when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Heavy lines separate the blocks of the slowest output axis (rows)
        and input axis (columns), lighter ones those of any axis between;
        so ``X ⊗ I_p`` shows its ``p × p`` blocks and an entry-by-entry
        Jacobian its diagonal. Each block is labelled by its slow index
        (``a=0``) and, where the numbers fit, each row and column within it
        by its fast index (``b=0, 1``); each axis label gives the
        flattening, e.g. ``row 2a + b``. An axis of length 1 (a batch of
        one) makes no blocks: it is left out of the labels and the
        flattening and said to be fixed, ``row 12b + c (a = 0)``, so that
        a convolution's blocks are its channels.

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
    count = int(np.count_nonzero(M))
    density = count / M.size if M.size else 0.0
    summary = f"{count} of {M.size} entries nonzero ({density:.1%})"
    if order == "F":
        summary += ", column-major vec"
    heading = titled(title, summary)
    cell = min(0.5, 7.0 / max(rows, cols, 1))
    size = (max(cols * cell + 3.0, lines_width(heading, TITLE) + 0.5),
            rows * cell + 2.6 + 0.25 * heading.count("\n"))
    panel = _Panel(ax, size, dpi, cell, (cols, rows))
    ax = panel.ax
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")

    if values:
        font = _value_font(panel, M[M != 0])
        mesh = _draw_grid(panel, M, 0, 0, _symmetric_norm(M), font, blank_zeros=True)
        if not font:
            panel.colorbar(mesh)
        block = INK
    else:
        edges = _EDGE if max(rows, cols) <= 50 else "face"
        ax.pcolormesh(np.arange(cols + 1), np.arange(rows + 1), M != 0, cmap=_SPY, vmin=0,
                      vmax=1, edgecolors=edges, linewidth=0.3)
        ax.add_patch(Rectangle((0, 0), cols, rows, fill=False, edgecolor=INK, linewidth=1.0))
        block = _BLOCK
    _block_lines(ax, out_shape, order, vertical=False, colour=block)
    _block_lines(ax, in_shape, order, vertical=True, colour=block)

    out_labels, in_labels = labels_for(len(out_shape), len(in_shape), avoid=names or ())
    of, by = names if names else ("", "")
    for side, shape, labels, name, n in (("output", out_shape, out_labels, of, rows),
                                         ("input", in_shape, in_labels, by, cols)):
        vertical_axis = side == "output"
        if not shape or not n:
            (ax.set_yticks if vertical_axis else ax.set_xticks)([])
            where = "a scalar: one row" if vertical_axis else "a scalar: one column"
        else:
            strides = _strides(shape, order)
            long = _long_axes(shape)
            where = ("row " if vertical_axis else "column ") + " + ".join(
                f"{strides[k]}{labels[k]}" if strides[k] > 1 else labels[k]
                for k in sorted(long, key=lambda k: (strides[k], labels[k]), reverse=True))
            fixed = [labels[k] for k in range(len(shape)) if k not in long]
            if fixed:
                where += f" ({' = '.join(fixed)} = 0)"
            slow = max(long, key=lambda k: strides[k])
            fast = next((k for k in long if strides[k] == 1 and k != slow), None)
            step = n // shape[slow]
            outer = _block_ticks(panel, labels[slow], shape[slow], step, step / 2,
                                 vertical_axis)
            inner = _cell_ticks(labels[fast], shape[fast], n // shape[fast], shape[fast]) \
                if fast is not None and n <= 24 else None
            if inner and not panel.fits(inner[1], vertical_axis):
                inner = None
            if vertical_axis:
                if inner:
                    ax.set_yticks(*inner, minor=True)
                _outer_ticks(panel, *outer, inner[1] if inner else [])
            else:
                if inner:
                    ax.set_xticks(*inner, minor=True)
                ax.set_xticks(*outer)
                ax.tick_params(axis="x", which="major",
                               pad=panel.font(SMALL * 1.6 if inner else 3.5))
        text = f"{side} {name}: {where}" if name else f"{side}: {where}"
        (ax.set_ylabel if vertical_axis else ax.set_xlabel)(
            f"{text}\nshape {shape}" if shape else text, fontsize=panel.font(FONT))
    _heading(panel, heading)
    return panel.done()


def plot_collapse(J, g, shortcut=None, names=None, title=None, ax=None, dpi=DPI):
    """Why a diagonal Jacobian turns the chain rule into a Hadamard product.

    Draws ``gᵀ J`` (a row vector times a diagonal matrix) and, under it, the
    Hadamard product ``g ⊙ diag(J)``, with the two results aligned. For a
    Jacobian that is *not* diagonal (softmax) the two differ, and the figure
    says so; a ``shortcut`` then shows the cheaper rule the library runs
    instead, beside the dense product.

    The products are computed here (one line each); everything else is
    drawn as given.

    Parameters
    ----------
    J : array_like, shape ``(*g.shape, *g.shape)``
        The Jacobian of an operation whose output has ``g``'s shape, e.g.
        ``jac.sigmoid.jacobian(z)``; it is flattened to an ``n × n`` matrix.
    g : array_like
        The cotangent (upstream gradient), ``n = g.size`` entries; one of
        more than one axis is flattened and drawn as ``vec(g)``.
    shortcut : tuple (str, array_like, str), optional
        ``(formula, values, cost)``: a rule for ``gᵀJ`` that never forms
        ``J``, its values and what it costs, e.g. ``("s ⊙ (g − ⟨g, s⟩)",
        jac.softmax.vjp(g, z), "2n = 10 multiplications")``; drawn as a
        third row and compared with ``gᵀJ``.
    names : tuple of str, optional
        ``(output, input)``: ``J`` is then captioned ``J = ∂u/∂z``. A pair,
        not a dict: an array has no names of its own to rename.
    title : str, optional
        A first title line, e.g. the operation, above the figure's own.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the figure shrinks to fit its panel. A new figure
        when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        When the values are printed in the cells, ``g``, the Jacobian and the
        products each have their own colour scale (the numbers are what to
        compare); otherwise one scale and a colour bar.

    Raises
    ------
    ValueError
        If ``J``'s shape is not ``g``'s twice, or ``shortcut``'s values do
        not have ``g``'s shape.

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
    G = "g" if g.ndim <= 1 else "vec(g)"
    M, g = J.reshape(n, n), g.reshape(n)
    through_J, hadamard = g @ M, g * np.diagonal(M)
    diagonal = not np.any(M[~np.eye(n, dtype=bool)])
    rows = [(hadamard, f"{G} ⊙ diag(J)")]
    if shortcut is not None:
        formula, rule, cost = shortcut
        rule = as_float_array(rule, "the shortcut's values")
        if rule.size != n or rule.shape not in ((n,), J.shape[:g.ndim]):
            raise ValueError(f"the shortcut's values have shape {rule.shape}; they must have "
                             f"g's shape")
        rows.append((rule.reshape(n), formula))
    if diagonal:
        own = f"A diagonal Jacobian: {G}ᵀJ = {G} ⊙ diag(J)"
    elif shortcut is not None:
        own = f"J is not diagonal: no Hadamard shortcut, but {G}ᵀJ = {formula}"
    else:
        own = f"J is not diagonal: no Hadamard shortcut for {G}ᵀJ"
    heading = titled(title, own)

    gap = 1.5
    top = (n - 1) / 2   # the row vectors of the first line sit level with J's middle
    lines = [n + 2.2 + 2.4 * k for k in range(len(rows))]   # the lower lines
    x_J, x_out = n + gap, 2 * n + 2 * gap
    width, height = 3 * n + 2 * gap + 2.4, lines[-1] + 1   # 2.4: room for "= gᵀJ"
    costs = [f"{G}ᵀJ takes n² = {n * n} multiplications, {G} ⊙ diag(J) takes n = {n}; "
             f"largest difference {_number(np.abs(through_J - hadamard).max(initial=0.0))}"]
    if shortcut is not None:
        costs.append(f"{formula} takes {cost}; largest difference "
                     f"{_number(np.abs(through_J - rows[1][0]).max(initial=0.0))}")
    bottom = height + 0.9 + 0.5 * len(costs)
    cell = min(0.55, 10.5 / width)
    size = (max((width + 0.6) * cell, lines_width(heading, TITLE)) + 0.4,
            (bottom + 1.2) * cell + 0.9 + 0.25 * heading.count("\n"))
    panel = _Panel(ax, size, dpi, cell, (width + 0.6, bottom + 1.2))
    ax = panel.ax
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(bottom, -1.2)
    ax.set_aspect("equal")
    ax.set_axis_off()

    results = [through_J] + [values for values, _ in rows]
    font = _value_font(panel, g, M, *results)
    if font:   # each kind of array on its own scale: their sizes differ by far
        norm_g, norm_J, norm_out = (_symmetric_norm(g), _symmetric_norm(M),
                                    _symmetric_norm(*results))
    else:
        norm_g = norm_J = norm_out = _symmetric_norm(g, M, *results)
    J_caption = f"J = ∂{names[0]}/∂{names[1]}" if names else "J"
    pieces = [(g[None], 0, top, f"{G}ᵀ", norm_g), (M, x_J, 0, J_caption, norm_J),
              (through_J[None], x_out, top, f"{G}ᵀJ", norm_out),
              (g[None], 0, lines[0], G, norm_g),
              (np.diagonal(M)[None], x_J, lines[0], "diag(J)", norm_J)]
    pieces += [(values[None], x_out, y, caption, norm_out)
               for (values, caption), y in zip(rows, lines)]
    for values, x, y, caption, norm in pieces:
        mesh = _draw_grid(panel, values, x, y, norm, font)
        panel.text(x + values.shape[1] / 2, y - 0.25, caption, FONT, ha="center", va="bottom")
    # The diagonal of J and the row diag(J) hold the same numbers: frame both.
    for k in range(n):
        for x, y in ((x_J + k, k), (x_J + k, lines[0])):
            ax.add_patch(Rectangle((x, y), 1, 1, fill=False, edgecolor=INK, linewidth=1.6))

    big = dict(ha="center", va="center")
    # A middle dot is a speck at the size of "=": it gets a larger, bold one.
    panel.text(n + gap / 2, top + 0.5, "·", FONT + 13, weight="bold", **big)
    panel.text(2 * n + 1.5 * gap, top + 0.5, "=", FONT + 5, **big)
    panel.text(n + gap / 2, lines[0] + 0.5, "⊙", FONT + 5, **big)
    panel.text(2 * n + 1.5 * gap, lines[0] + 0.5, "=", FONT + 5, **big)
    if shortcut is not None:
        panel.text(x_out - gap / 2, lines[1] + 0.5, "the library's rule, J never formed:  =",
                   FONT, ha="right", va="center")
    # Each lower result beside what it should equal: = or ≠ gᵀJ, upright.
    for values, y in zip([v for v, _ in rows], lines):
        same = np.allclose(values, through_J)
        panel.text(x_out + n + 0.7, y + 0.5, "=" if same else "≠", FONT + 5, **big)
        panel.text(x_out + n + 1.2, y + 0.5, f"{G}ᵀJ", FONT, ha="left", va="center")

    panel.text(width / 2, height + 0.6, "\n".join(costs), FONT, ha="center", va="top",
               linespacing=1.5)
    if not font:
        panel.colorbar(mesh)
    ax.set_title(heading, fontsize=panel.font(TITLE), color=INK)
    return panel.done()


# ----------------------------------------------------------------------------
# The chain rule as a picture
# ----------------------------------------------------------------------------
_LINE = 0.2             # inches from one line of a box to the next
_BOX_HEIGHT = 1.25      # inches: name, shape, order and the index form on two lines
_GAP = 0.6              # inches between boxes: room for "·"
_SUM_GAP = 0.5          # inches more before a result where several paths are summed
_ROW_SPACE = 0.62       # inches above each row for the two-line labels of its contractions
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"   # DejaVu Sans, matplotlib's font, stops at ⑩
_MAX_PATHS = 12
_MAX_LISTED = 4096      # paths listed before those sharing an upstream box are merged
_CHAIN_FILL = matplotlib.colormaps["Blues"]     # by order, light enough for black text


def _step_tag(k):
    """Step ``k`` (from 0) as a circled number, ① to ⑩, then as ``11.`` and on."""
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


def _equations(graph, shown, bare):
    """``H = X W``, one per node the output is computed from, in the order computed."""
    needed = [False] * len(graph.nodes)
    needed[graph.output.index] = True
    for n in reversed(graph.nodes):
        if needed[n.index]:
            for p in n.parents:
                needed[p.index] = True
    equations = []
    for n in graph.nodes:
        if not needed[n.index] or n.op is None or n.index in bare:
            continue
        text, _ = written(n, shown, bare)
        if text == shown[n.index] and n.op.name == "square":    # r² = r ⊙ r
            text = f"{shown[n.parents[0].index]} ⊙ {shown[n.parents[0].index]}"
        equations.append(f"{shown[n.index]} = {text}")
    return equations


def _wrap(items, width, size, first):
    """``items`` joined by wide spaces into lines no wider than ``width`` inches."""
    lines, line = [], first
    for item in items:
        joined = f"{line},   {item}" if line != first else f"{line}{item}"
        if line != first and text_width(joined, size) > width:
            lines.append(line + ",")
            line = "   " + item
        else:
            line = joined
    return lines + [line]


def _relabel(spec, operands, local, formula, taken):
    """An einsum of the plan in the formulas' letters: the local Jacobian's are its formula's.

    The other letters become the next free ones, none of them in ``taken``.
    """
    inputs, _ = spec.split("->")
    mapping = {}
    if local is not None:
        at = next(i for i, (of, by) in enumerate(operands)
                  if of is local.child and by is local.parent)
        mapping = dict(zip(inputs.split(",")[at], formula.out_labels + formula.in_labels))
    free = (x for x in "abcdefghijklmnopqrstuvwxyz" if x not in taken | set(mapping.values()))
    for letter in spec:
        if letter not in ",->" and letter not in mapping:
            mapping[letter] = next(free)
    return "".join(mapping.get(ch, ch) for ch in spec)


class _ChainLayout:
    """Where the boxes of a chain go: columns of boxes, rows of paths, in inches.

    ``columns`` holds the texts of the boxes in each column, the result's
    (column ``depth``) last; each column is as wide as its widest box.
    ``y0`` is where the chain starts, under the lines above it.
    """

    def __init__(self, columns, rows, depth, summed_paths):
        self.widths = [max([1.1] + [max(text_width(t[0], _NAME_FONT, "bold"),
                                        *(text_width(line, SMALL) for line in t[1:])) + 0.25
                                    for t in columns.get(k, [])]) for k in range(depth + 1)]
        self.rows, self.depth, self.summed_paths = rows, depth, summed_paths
        self.y0 = 0.0

    def left(self, column):
        extra = _SUM_GAP if self.summed_paths and column > self.depth - 1 else 0.0
        return sum(self.widths[:column]) + column * _GAP + extra

    def centre(self, column):
        return self.left(column) + self.widths[column] / 2

    def right(self, column):
        return self.left(column) + self.widths[column]

    def top(self, row):
        return self.y0 + _ROW_SPACE + row * (_BOX_HEIGHT + _ROW_SPACE)

    def middle(self, row):
        return self.top(row) + _BOX_HEIGHT / 2

    @property
    def size(self):
        """Width of the chain itself and the height down to its last row."""
        return self.right(self.depth), self.top(self.rows) - _ROW_SPACE


_NAME_FONT = FONT + 1   # a box's first line: the Jacobian's name


def _line(canvas, xs, ys, **style):
    """A line through ``(xs, ys)``, 1 point wide at full size."""
    canvas.ax.plot(xs, ys, color=INK, linewidth=canvas.line_width(1.0), **style)


def _draw_box(canvas, layout, column, y, text, style):
    """A Jacobian's box: name, shape, order and its index form, one line each."""
    fill = "white" if style != "local" else _CHAIN_FILL(0.06 + 0.1 * int(text[2].split()[1]))
    canvas.ax.add_patch(Rectangle((layout.left(column), y), layout.widths[column], _BOX_HEIGHT,
                                  facecolor=fill, edgecolor=INK,
                                  linewidth=canvas.line_width(2.0 if style == "result" else 1.0),
                                  linestyle="--" if style == "upstream" else "-"))
    for k, t in enumerate(text):
        bold = k == 0
        canvas.text(layout.centre(column), y + 0.22 + k * _LINE + (0.05 if not bold else 0), t,
                    _NAME_FONT if bold else SMALL, ha="center", va="center",
                    weight="bold" if bold else "normal")


def _draw_branch(canvas, layout, parent_row, row, column):
    """A path leaving a shared box: down from under it, then across into this row's box."""
    x_from = layout.centre(column - 1)
    y_from = layout.top(parent_row) + _BOX_HEIGHT
    middle = layout.middle(row)
    _line(canvas, [x_from, x_from, layout.left(column)], [y_from, middle, middle])


def _draw_junction(canvas, layout, x_gap, row, label):
    """The ``·`` between two boxes and, above it, what their contraction sums over."""
    canvas.text(x_gap, layout.middle(row), "·", FONT + 9, ha="center", va="center",
                weight="bold", bbox=dict(facecolor="white", edgecolor="none", pad=0))
    canvas.text(x_gap, layout.top(row) - 0.08, label, SMALL, ha="center", va="bottom",
                color=SUM_INK, weight="bold", linespacing=1.2)


def _draw_sum(canvas, layout, leaves, result_row):
    """The paths' ends meeting on a vertical line, summed with "+", then "=" the result."""
    x_result = layout.left(layout.depth)
    big = dict(size=FONT + 7, ha="center", va="center")
    if len(leaves) == 1:
        canvas.text(x_result - _GAP / 2, layout.middle(0), "=", **big)
        return
    bus = x_result - _GAP * 0.5 - _SUM_GAP
    for row, column in leaves:
        _line(canvas, [layout.right(column), bus], [layout.middle(row)] * 2,
              linestyle=":" if column + 1 < layout.depth else "-")
    _line(canvas, [bus, bus], [layout.middle(leaves[0][0]), layout.middle(leaves[-1][0])])
    _line(canvas, [bus, x_result], [layout.middle(result_row)] * 2)
    for (row, _), (next_row, _) in zip(leaves, leaves[1:]):
        canvas.text(bus, (layout.middle(row) + layout.middle(next_row)) / 2, "+", **big,
                    bbox=dict(facecolor="white", edgecolor="none", pad=1))
    canvas.text((bus + x_result) / 2 + 0.05, layout.middle(result_row), "=", **big,
                bbox=dict(facecolor="white", edgecolor="none", pad=1))
    canvas.text(layout.centre(layout.depth), layout.top(result_row) - 0.1,
                f"sum of {len(leaves)} paths", SMALL, ha="center", va="bottom", color=SUM_INK,
                weight="bold")


_CAPTIONS = {"reverse": "reverse order: from the output back, ∂out/∂node for each node",
             "forward": "forward order: from the input on, ∂node/∂input for each node",
             "optimal": "optimal order: each path in one einsum, in its cheapest order"}


def _draw_lines(canvas, x, y, lines, line_height, **style):
    """Lines of text of :data:`SMALL` size one under another, from ``(x, y)`` down."""
    for k, line in enumerate(lines):
        canvas.text(x, y + k * line_height, line, SMALL, ha="left", va="top", **style)


def plot_chain(graph, source=None, order="reverse", upstream=None, names=None, title=None,
               ax=None, dpi=DPI):
    """Draw the chain rule of a traced function as the product of its local Jacobians.

    The local Jacobians are drawn in chain order, from the output back to
    ``source``, as they are written: ``∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W``. Each box
    gives a Jacobian's name, shape, order and formula in index notation
    (``∂H_ab/∂W_cd = X_ac δ_bd``: ``a b`` the output's indices, ``c d`` the
    input's); above each ``·`` between two boxes, the variable their
    contraction sums over and how many terms each sum has. When ``source``
    is read more than once there is one path per use: the paths are drawn
    as a tree from the output (a part they share is drawn once) and summed
    at the end. Above the chain, the model's equations (``H = X W``) define
    every node it names.

    Nothing is materialised: names, shapes and einsums come from the graph
    and from the naive chain's plan (:func:`jacobians.chain.naive_plan`,
    run on shapes alone), whose steps are listed under the chain, in the
    formulas' letters, and numbered at the contractions they perform.

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
    names : dict of str to str, optional
        Names to print nodes by, from the traced name: ``{"xW": "z"}``
        replaces a name that reads as a product (``∂f/∂xW``). A node the
        model left unnamed (``square``, ``matmul2``) is printed as what it
        computes when that is short (``(X W)``, ``σ(y)``); every node is
        defined by the equations either way.
    title : str, optional
        A first title line, above the figure's own: the product (or the
        number of paths).
    ax : matplotlib.axes.Axes, optional
        Where to draw, e.g. one of a ``plt.subplots`` grid: the drawing and
        its text shrink to fit it. A new figure, sized so that the text fits
        at its own size, when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Titled with the product (``∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W``) or, for
        several paths, their number; the last box is the result, of shape
        ``(*output.shape, *source.shape)``.

    Raises
    ------
    ValueError
        If ``source`` or ``upstream`` is not a node of the graph, ``names``
        renames a node the graph lacks, the output does not depend on
        ``source``, a path misses ``upstream``, or there are more paths than
        fit in a figure.

    Examples
    --------
    >>> import jacobians as jac
    >>> from jacobians.examples import QUESTIONS
    >>> q = QUESTIONS["Q0"]
    >>> graph = jac.trace_graph(q.function, *q.args())
    >>> fig = plot_chain(graph, "W", upstream="ŷ")
    >>> print(fig.axes[0].get_title())
    ∂l/∂W = ∂l/∂ŷ · ∂ŷ/∂H · ∂H/∂W
    shapes (4,) · (4, 4, 2) · (4, 2, 3, 2) → (3, 2)
    """
    source = graph.inputs[0] if source is None else _graph_node(graph, source, "source")
    check_order(order)
    out = graph.output
    upstream = None if upstream is None else _graph_node(graph, upstream, "upstream")
    paths = _chain_paths(graph, source, order, upstream)
    plan = naive_plan(graph, source, order)
    shown, bare = shown_names(graph, names or {})
    edges = {(c.index, k): (c, k, p) for path in paths for c, k, p in path}
    boxes = _trie(paths)
    shift = 1 if upstream is not None else 0
    single = {name for name in shown.values() if len(name) == 1}

    # Each local Jacobian's formula, in the names shown (its letters avoid them).
    formulas = {}
    for key, (c, k, _) in edges.items():
        formulas[key] = c.op.derivative_at(
            k, tuple(p.value for p in c.parents), c.value,
            tuple(shown[p.index] for p in c.parents) + (shown[c.index],), **c.params)

    # The contractions drawn (not those inside the upstream box), numbered in the plan's
    # order. In reverse and forward order each takes one local Jacobian ∂c/∂p; the
    # contraction sits at its left in reverse order (∂out/∂c · ∂c/∂p) and at its right
    # in forward order (∂c/∂p · ∂p/∂source).
    steps = [s for s in plan.steps if s.spec is not None and
             all((local.child.index, local.position) in edges for local in s.locals)]
    number = {id(s): k for k, s in enumerate(steps)}
    step_of_edge = {} if plan.order == "optimal" else \
        {(s.locals[0].child.index, s.locals[0].position): s for s in steps}

    def whole(of, by):
        """Name, shape, order and index form of an accumulated ∂of/∂by: its box."""
        shape = of.shape + by.shape
        a, c = labels_for(of.ndim, by.ndim, avoid=(shown[of.index], shown[by.index]))
        head = f"∂{shown[of.index]}{'_' + a if a else ''}/∂{shown[by.index]}" \
               f"{'_' + c if c else ''}"
        return (f"∂{shown[of.index]}/∂{shown[by.index]}", str(shape), f"order {len(shape)}",
                head, "")

    lines = {}
    for prefix in boxes:
        c, k, p = edges[prefix[-1]]
        twice = sum(q is p for q in c.parents) > 1
        head, _, tail = str(formulas[prefix[-1]]).partition(" = ")
        tail = f"= {tail}" if len(tail) <= 26 else f"= {tail[:24]}…"
        lines[prefix] = (f"∂{shown[c.index]}/∂{shown[p.index]}" +
                         (f" (argument {k})" if twice else ""),
                         str(c.shape + p.shape), f"order {len(c.shape + p.shape)}", head, tail)
    head_box = None if upstream is None else whole(out, upstream)[:4] + ("(upstream gradient)",)
    result = whole(out, source)
    rows = 1 + max(row for row, _, _ in boxes.values())
    depth = max(len(path) for path in paths) + shift

    # The step list, each einsum in the letters of its local Jacobian's formula.
    listing = []
    for s in steps:
        of, by = s.target
        local = s.locals[0] if len(s.locals) == 1 else None
        spec = _relabel(s.spec, s.operands, local,
                        formulas[(local.child.index, local.position)] if local else None, single)
        tag = _step_tag(number[id(s)]) if plan.order != "optimal" else \
            f"path {number[id(s)] + 1}"
        listing.append((tag, " · ".join(f"∂{shown[a.index]}/∂{shown[b.index]}"
                                        for a, b in s.operands), f"einsum('{spec}')",
                        f"→ ∂{shown[of.index]}/∂{shown[by.index]} {of.shape + by.shape}"
                        f"{', added to the sum' if s.adds else ''}"))
    widths = [max([len(row[j]) for row in listing], default=0) for j in range(4)]
    listed = ["  ".join(cell.ljust(w) for cell, w in zip(row[1:], widths[1:])).rstrip()
              for row in listing]
    tags = [row[0] for row in listing]

    line_height = SMALL * 1.45 / 72
    indent = max([text_width(t, SMALL) for t in tags], default=0.0) + 0.12
    caption = f"The naive chain's steps — {_CAPTIONS[plan.order]}:"
    listing_width = max([indent + text_width(t, SMALL, family=MONO) for t in listed] +
                        [text_width(caption, SMALL, "bold")]) if listed else 0.0
    columns = {depth: [result]} | ({0: [head_box]} if head_box else {})
    for prefix, (_, column, _) in boxes.items():
        columns.setdefault(column + shift, []).append(lines[prefix])
    layout = _ChainLayout(columns, rows, depth, len(paths) > 1)
    chain_width = layout.size[0]
    model = _wrap(_equations(graph, shown, bare), max(chain_width, listing_width, 6.0), SMALL,
                  "the model:   ")
    layout.y0 = len(model) * line_height + 0.1
    chain_height = layout.size[1]
    below = 0.4         # between the chain and the step list
    total_width = max(chain_width, listing_width, max(text_width(m, SMALL) for m in model))
    total_height = chain_height + (below + (len(listed) + 1) * line_height if listed else 0.15)
    heading = titled(title, _chain_title(paths, lines, head_box, result, source, shown))
    canvas = Canvas(ax, total_width, total_height, heading, dpi)

    _draw_lines(canvas, 0, 0, model, line_height, style="italic")
    if upstream is not None:
        _draw_box(canvas, layout, 0, layout.top(0), head_box, "upstream")
    for prefix, (row, column, parent) in boxes.items():
        c, k, _ = edges[prefix[-1]]
        column += shift
        _draw_box(canvas, layout, column, layout.top(row), lines[prefix], "local")
        if column == 0:
            continue
        parent_row = boxes[parent][0] if parent else 0
        if parent_row != row:
            _draw_branch(canvas, layout, parent_row, row, column)
        step = step_of_edge.get(parent[-1] if plan.order == "forward" and parent else (c.index, k))
        tag = f"{_step_tag(number[id(step)])} " if step is not None else ""
        terms = f"{c.size} term{'s' if c.size != 1 else ''}"
        _draw_junction(canvas, layout, layout.left(column) - _GAP / 2, row,
                       f"{tag}Σ over {shown[c.index]}\n{terms}" if c.ndim else
                       f"{tag}{shown[c.index]} is a scalar:\nno sum")

    # The result: after the one path, or where the paths' ends are summed.
    leaves = sorted((row, column + shift) for prefix, (row, column, _) in boxes.items()
                    if not any(other[:-1] == prefix for other in boxes))
    result_row = (rows - 1) / 2
    _draw_box(canvas, layout, depth, layout.top(result_row), result, "result")
    _draw_sum(canvas, layout, leaves, result_row)
    if listed:
        y = chain_height + below
        _draw_lines(canvas, 0, y, [caption], line_height, weight="bold")
        _draw_lines(canvas, 0, y + line_height, tags, line_height, color=SUM_INK)
        _draw_lines(canvas, indent, y + line_height, listed, line_height, family=MONO)
    return canvas.done()


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


def _chain_title(paths, lines, head, result, source, shown):
    """The product of one path, or what the paths are and the shape of each product."""
    if len(paths) == 1:
        factors = ([head] if head else []) + list(lines.values())
        return (f"{result[0]} = {' · '.join(t[0] for t in factors)}\n"
                f"shapes {' · '.join(t[1] for t in factors)} → {result[1]}")
    readers = dict.fromkeys(shown[path[-1][0].index] for path in paths)
    return (f"{result[0]}: {shown[source.index]} is read by {', '.join(readers)}, so the chain "
            f"is a sum over {len(paths)} paths\nevery path's product has shape {result[1]}")
