"""What the plot modules share: sizes, colours, names, and text that scales with its panel.

Imported by :mod:`jacobians.plot`, :mod:`jacobians.plot_backprop` and
:mod:`jacobians.plot_cost` only, so that ``import jacobians`` does not
import matplotlib.

Every figure is designed at its full size, the size a new figure is made
(text in points, drawings in inches or in cells of a fixed size). Drawn
into a smaller ``ax`` it shrinks as a whole, so that it keeps the look it
was designed with:

* :func:`panel_scale` tells how much, from the *panel* the axes own: their
  cell of the ``plt.subplots`` grid, margins and gaps included. The
  decorations outside the axes (title, tick labels, axis labels, colour
  bar) are set at that scale when the function is called; in a figure
  without a layout engine, :func:`settle` then measures them and fits the
  axes inside the panel, as a layout engine would.
* :class:`ScaledText` is text inside the axes that measures the drawing
  every time the figure is drawn, so that it shrinks with the drawing
  even when a layout engine (``layout="constrained"``) shrinks the axes
  after the call.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.text import Text
from matplotlib.textpath import TextToPath
from matplotlib.transforms import Bbox

from .ops import REGISTRY
from .spelling import known_names

DPI = 150               # dots per inch of a new figure: sharp on a projector
INK = "0.15"            # frames and text
FONT = 11               # axis labels, captions, a box's first line
SMALL = 10              # tick labels and the lines under a first line
TITLE = 12              # titles
MONO = "DejaVu Sans Mono"
PAD = 0.1               # inches the axes of a drawing reach past it, so that no line is clipped
MARGIN = 0.15           # inches around the axes of a drawing in a new figure
# Okabe–Ito colours, apart for colour-blind readers: the VJP sweep blue, the naive chain
# vermillion, wherever they are compared.
BLUE, VERMILLION, ORANGE, PURPLE = "#0072B2", "#D55E00", "#E69F00", "#CC79A7"
SUM_INK = "#a6470c"     # what a contraction sums, an edge's structure: dark orange
MIN_FONT = 6            # points: text that would be smaller is left out


def text_width(text, size, weight="normal", family=None):
    """Width in inches of one line of ``text`` set in ``size`` points."""
    font = FontProperties(size=size, weight=weight, family=family)
    return TextToPath().get_text_width_height_descent(text, font, ismath=False)[0] / 72


def lines_width(text, size, weight="normal", family=None):
    """Width in inches of the widest line of ``text``."""
    return max(text_width(line, size, weight, family) for line in text.split("\n"))


def panel_box(ax):
    """The panel ``ax`` owns, in display units (pixels).

    The panel of an axes made in a grid (``plt.subplots``, ``fig.add_subplot``,
    in a figure or a subfigure) is its cell of the grid, margins and gaps
    included, so that a figure's text and decorations can use all of it;
    that of any other axes (``fig.add_axes``) is its own box. A grid nested
    in a cell of another counts as that cell.
    """
    parent = ax.figure          # the figure, or the subfigure ax sits in
    spec = ax.get_subplotspec()
    if spec is None:
        return ax.get_position().transformed(parent.transSubfigure)
    spec = spec.get_topmost_subplotspec()
    grid = spec.get_gridspec()
    rows, columns = grid.get_geometry()
    across = np.cumsum([0] + list(grid.get_width_ratios() or [1] * columns))
    down = np.cumsum([0] + list(grid.get_height_ratios() or [1] * rows))
    x0, x1 = across[spec.colspan.start] / across[-1], across[spec.colspan.stop] / across[-1]
    y0, y1 = 1 - down[spec.rowspan.stop] / down[-1], 1 - down[spec.rowspan.start] / down[-1]
    return Bbox([[x0, y0], [x1, y1]]).transformed(parent.transSubfigure)


def panel_scale(ax, width, height):
    """How much a figure of ``width × height`` inches must shrink to fit the panel of ``ax``.

    At most 1: in a panel larger than the figure, text keeps its full size.
    """
    box, dpi = panel_box(ax), root(ax).dpi
    return min(1.0, box.width / dpi / width, box.height / dpi / height)


def _shrink(axes, factor):
    """Shrink the text round ``axes`` by ``factor``: titles, labels, ticks, legends.

    :class:`ScaledText` is left alone: it follows its drawing.
    """
    for a in axes:
        texts = [a.title, a.xaxis.label, a.yaxis.label] + \
            [t for t in a.texts if not isinstance(t, ScaledText)] + \
            (a.get_legend().get_texts() if a.get_legend() else [])
        for text in texts:
            text.set_fontsize(text.get_fontsize() * factor)
        for axis in (a.xaxis, a.yaxis):
            for which, ticks in (("major", axis.get_major_ticks()),
                                 ("minor", axis.get_minor_ticks())):
                if ticks:
                    axis.set_tick_params(which=which, pad=ticks[0].get_pad() * factor,
                                         labelsize=ticks[0].label1.get_fontsize() * factor)


def settle(panel, ax, *others):
    """Keep the text round ``ax`` inside ``panel`` (pixels), where no layout engine will.

    ``others`` are axes drawn with it (a colour bar). A layout engine
    (``layout="constrained"``) makes room for titles and labels itself.
    Without one, the text outside the axes is measured and the axes are
    moved and resized inside the panel until it fits, as a layout engine
    would; where that would leave the axes too small, the text shrinks.
    """
    fig = root(ax)
    if fig.get_layout_engine() is not None:
        return
    drawn = [ax, *others]
    every = drawn + ax.child_axes
    to_parent = ax.figure.transSubfigure.inverted()
    gap = 0.01 * min(panel.width, panel.height)
    for _ in range(12):
        for a in drawn:
            a.apply_aspect()
        tight = Bbox.union([a.get_tightbbox() for a in every])
        if panel.x0 - 1 <= tight.x0 and tight.x1 <= panel.x1 + 1 and \
                panel.y0 - 1 <= tight.y0 and tight.y1 <= panel.y1 + 1:
            return
        # A title or label wider than the panel fits in no place: it shrinks.
        widest = max(t.get_window_extent().width for a in every
                     for t in (a.title, a.xaxis.label))
        if widest > panel.width - 2 * gap:
            _shrink(every, 0.98 * (panel.width - 2 * gap) / widest)
            continue
        # The room the text takes on each side (a title counts for its height alone, as a
        # layout engine counts it), and what is left of the panel inside it.
        text = Bbox.union([a.get_tightbbox(for_layout_only=True) for a in every])
        inner = Bbox.union([a.get_window_extent() for a in drawn])
        room = Bbox.from_extents(panel.x0 + inner.x0 - text.x0 + gap,
                                 panel.y0 + inner.y0 - text.y0 + gap,
                                 panel.x1 - text.x1 + inner.x1 - gap,
                                 panel.y1 - text.y1 + inner.y1 - gap)
        old = Bbox.union([a.get_position(original=True).transformed(ax.figure.transSubfigure)
                          for a in drawn])
        # Too little room left, or the axes are where the room is and text still sticks
        # out (a title wider than its axes, past an edge of the panel): the text shrinks.
        if room.width < 0.3 * panel.width or room.height < 0.3 * panel.height or \
                np.allclose(room.extents, old.extents, atol=1.0):
            _shrink(every, 0.8 if room.width < 0.3 * panel.width else 0.95)
            continue
        # Every axes moved as one: a colour bar keeps its place beside the drawing.
        for a in drawn:
            box = a.get_position(original=True).transformed(ax.figure.transSubfigure)
            x = [room.x0 + (v - old.x0) / old.width * room.width for v in (box.x0, box.x1)]
            y = [room.y0 + (v - old.y0) / old.height * room.height for v in (box.y0, box.y1)]
            a.set_position(Bbox([[x[0], y[0]], [x[1], y[1]]]).transformed(to_parent))


def new_figure(size, dpi, layout=None):
    """A figure of ``size`` inches that pyplot does not track: nothing to close or show."""
    return Figure(figsize=size, dpi=dpi, layout=layout)


def root(ax):
    """The figure ``ax`` belongs to: ``ax.figure`` is a SubFigure when ax sits in one."""
    return ax.figure.figure


def titled(title, own):
    """The caller's ``title`` as a first line above the figure's ``own`` title."""
    return f"{title}\n{own}" if title else own


class ScaledText(Text):
    """Text inside a drawing that shrinks with the drawing.

    ``size`` is its size in points where one data unit of the axes spans
    ``unit`` inches, as in a new figure. Each time the figure is drawn (or
    the text measured) the axes are measured again and the size set in
    proportion, never above ``size``; text that would be smaller than
    :data:`MIN_FONT` is left out, where ``droppable``.
    """

    def __init__(self, x, y, text, size, unit, droppable=False, **kwargs):
        super().__init__(x, y, text, fontsize=size, **kwargs)
        self.full_size, self.unit, self.droppable = size, unit, droppable
        font = self.get_fontproperties()
        self.designed = lines_width(text, size, font.get_weight(), font.get_family()[0])
        self.shown = True

    def follow(self, renderer=None):
        """Set the size from the axes as they are now."""
        fig = root(self.axes)
        (x0, _), (x1, _) = self.axes.transData.transform([(0.0, 0.0), (1.0, 0.0)])
        scale = min(1.0, abs(x1 - x0) / (self.unit * fig.dpi))
        # Set on the font itself: a size set while drawing must not mark the figure stale.
        font = self.get_fontproperties()
        font.set_size(self.full_size * scale)
        # Glyphs are set at whole pixel sizes, which can make a line a few per cent wider
        # than designed: shrink it back, so that it keeps to the room it was given.
        wide = super().get_window_extent(renderer, fig.dpi).width
        room = self.designed * scale * fig.dpi
        if wide > room > 0:
            font.set_size(font.get_size() * room / wide)
        self.shown = not (self.droppable and font.get_size() < MIN_FONT)

    def get_visible(self):
        return super().get_visible() and self.shown

    def draw(self, renderer):
        self.follow(renderer)
        super().draw(renderer)

    def get_window_extent(self, renderer=None, dpi=None):
        self.follow(renderer)
        return super().get_window_extent(renderer, dpi)


def scaled_text(ax, x, y, text, size, unit, droppable=False, **kwargs):
    """Add a :class:`ScaledText` to ``ax`` (its limits and aspect already set) and return it."""
    kwargs.setdefault("color", INK)
    artist = ScaledText(x, y, text, size, unit, droppable, clip_on=False, in_layout=False,
                        **kwargs)
    ax.add_artist(artist)
    artist.follow()
    return artist


class Canvas:
    """Axes whose data units are inches of a drawing at full size; the y axis points down.

    A new figure is made at full size, with a band above the axes for the
    ``title`` (widened for a long one). A given ``ax`` keeps its size:
    the drawing shrinks to fit, its text with it (:class:`ScaledText`) and
    its lines and title by :attr:`scale`, the scale its panel predicts.
    """

    def __init__(self, ax, width, height, title, dpi):
        width, height = width + 2 * PAD, height + 2 * PAD
        band = title.count("\n") * TITLE * 1.25 / 72 + 0.45     # inches for the title
        self.given = ax is not None
        if ax is None:
            wide = max(width, lines_width(title, TITLE) + 0.1)
            size = (wide + 2 * MARGIN, height + 2 * MARGIN + band)
            self.fig = new_figure(size, dpi)
            self.ax = self.fig.add_axes([MARGIN / size[0], MARGIN / size[1], wide / size[0],
                                         height / size[1]])
            extra = (wide - width) / 2
            self.scale = 1.0
        else:
            self.fig, self.ax, extra, self.panel = root(ax), ax, 0.0, panel_box(ax)
            self.scale = panel_scale(ax, width + 2 * MARGIN, height + 2 * MARGIN + band)
        self.ax.set_xlim(-extra - PAD, width + extra - PAD)
        self.ax.set_ylim(height - PAD, -PAD)
        self.ax.set_aspect("equal")
        self.ax.set_axis_off()
        self.ax.set_title(title, fontsize=TITLE * self.scale, color=INK)

    def text(self, x, y, text, size, **kwargs):
        """Text of ``size`` points at full size, at ``(x, y)`` inches."""
        return scaled_text(self.ax, x, y, text, size, 1.0, **kwargs)

    def line_width(self, points):
        """A line width of ``points`` at full size."""
        return points * self.scale

    def done(self):
        """The figure, the title kept inside the panel of a given ``ax``."""
        if self.given:
            settle(self.panel, self.ax)
        return self.fig


# ----------------------------------------------------------------------------
# How the nodes of a traced graph are named in a figure
# ----------------------------------------------------------------------------
LONGEST_NAME = 10       # characters: an unnamed node written as what it computes, up to this

# How an op's value is written from its arguments, and whether the result reads as one
# symbol (else it is put in parentheses to stand for an unnamed node). An argument inside
# a call, σ(…), needs no parentheses of its own.
_WRITTEN = {"matmul": ("{0} {1}", False), "add": ("{0} + {1}", False),
            "subtract": ("{0} − {1}", False), "multiply": ("{0} ⊙ {1}", False),
            "divide": ("{0} / {1}", False), "negative": ("−{0}", False),
            "square": ("{0}²", True), "transpose": ("{0}ᵀ", True),
            "outer": ("{0} {1}ᵀ", False)}
_CALLED = {"sigmoid": "σ"}


def parameters(node):
    """An op's parameters that change what it computes, as ``axis=1``."""
    return [f"{k}={v}" for k, v in node.params.items()
            if isinstance(v, (int, float, str, tuple)) and not isinstance(v, bool)]


def written(node, shown, bare):
    """How ``node``'s value is computed from its arguments, by their shown names.

    ``bare`` holds the unparenthesised text of the nodes shown as what they
    compute, for use inside a call. Returns the text and whether it reads as
    one symbol (``σ(y)``, ``r²``) rather than an expression (``X W``).
    """
    args = [shown[p.index] for p in node.parents]
    op = node.op.name
    if op == "multiply" and any(p.ndim == 0 for p in node.parents):
        return " ".join(args), False           # 0.5 s
    if op == "sum" and node.params.get("axis") is None:
        return f"Σ {args[0]}", False
    if op in _WRITTEN:
        template, symbol = _WRITTEN[op]
        return template.format(*args), symbol
    inner = [bare.get(p.index, shown[p.index]) for p in node.parents]
    return f"{_CALLED.get(op, op)}({', '.join(inner + parameters(node))})", True


def shown_names(graph, names):
    """Each node's name in a figure, by index, and the nodes named after what they compute.

    ``names`` renames nodes (``{"xW": "z"}``); a name the graph lacks is
    refused. A node the model left unnamed, which the trace named after its
    call (``square``, ``matmul2``), is written as what it computes when
    that is short: ``(X W)``, ``σ(y)``.

    Raises
    ------
    ValueError
        If ``names`` renames a node the graph does not have, naming those it has.
    """
    unknown = sorted(set(names) - {n.name for n in graph.nodes})
    if unknown:
        raise ValueError(f"names renames {', '.join(unknown)}, which the graph does not have; "
                         f"its nodes are {', '.join(n.name for n in graph.nodes)}")
    calls = set(REGISTRY) | {spelled.rsplit(".", 1)[-1] for spelled in known_names()}
    shown, bare = {}, {}
    for n in graph.nodes:
        shown[n.index] = names.get(n.name, n.name)
        if n.name not in names and n.op is not None and n.name.rstrip("0123456789") in calls:
            text, symbol = written(n, shown, bare)
            if len(text if symbol else f"({text})") <= LONGEST_NAME:
                shown[n.index], bare[n.index] = (text if symbol else f"({text})"), text
    return shown, bare

