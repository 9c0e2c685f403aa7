"""Pictures of a whole computation: its graph, its backward sweep, and what a gradient costs.

* :func:`plot_graph` draws a traced function as a DAG, inputs at the top and
  the output at the bottom. Every edge ``parent → child`` is a local
  Jacobian ``∂child/∂parent``, labelled with its order and its structure
  (``diagonal``, ``X ⊗ I₂``, ``block-diagonal``, ``dense``…), read off the
  index-notation term of the op — no Jacobian is materialised, so any size
  can be drawn. A value read by several ops has one out-edge per read.
* :func:`plot_sweep` sets the naive chain's local Jacobians beside the
  cotangents the VJP sweep carries instead, edge by edge, with their shapes
  and sizes.
* :func:`plot_cost_bars` draws, for the learner questions, the bytes and
  FLOPs of the naive chain against those of the VJP sweep, counted on
  shapes by :func:`jacobians.model_cost`.

Like :mod:`jacobians.plot`, every function draws into ``ax`` when given one
and otherwise into a new figure that pyplot does not track (nothing to
close, nothing shown); each returns the :class:`~matplotlib.figure.Figure`.
Nothing is timed or drawn at random, so saving with
``metadata={"Software": None}`` writes the same PNG bytes on every run.

Every function takes the keywords of every plot function of the library,
``names``, ``title``, ``ax`` and ``dpi``, with the meanings
:mod:`jacobians.plot` gives them: ``names`` is a dict from a traced node's
name (a question's key, for the bars) to the name to show, ``title`` a
first title line above the figure's own, and a new figure is drawn at 150
dpi. The graph and the sweep are laid out in inches, with text in points,
so their text fits at the size a new figure is made; drawn into a smaller
``ax``, every font shrinks by the same factor as the drawing.
"""
import math

import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle
from matplotlib.path import Path

from ._drawing import (BLUE, DPI, FONT, INK, SMALL, SUM_INK, TITLE, VERMILLION, Canvas,
                       lines_width, new_figure, panel_box, panel_scale, parameters, root,
                       scaled_text, settle, shown_names, text_width, titled)
from .chain import Local, wrt_indices
from .cost import _count as _flops, model_cost, scaled_sizes
from .derive import Program
from .examples import FIVE, QUESTIONS
from .graph import Graph, trace_graph
from .limits import format_bytes
from .structure import local_structure

__all__ = ["plot_graph", "plot_sweep", "plot_cost_bars"]

_FAINT = "0.62"                 # what needs no derivative
_SOURCE_FILL = "#cfe2f3"        # the inputs differentiated
_INPUT_FILL = "0.92"            # the other inputs
_OUTPUT_FILL = "#fbe0c8"
_NODE_FONT = FONT + 3           # a node's name


def _structure_tag(derivative):
    """What an edge says of its Jacobian's structure: the factors when named, else the kind."""
    kind, factors = local_structure(derivative)
    return factors or kind


# ----------------------------------------------------------------------------
# The graph as a layered DAG
# ----------------------------------------------------------------------------
_NODE_HEIGHT = 0.66          # inches: name and shape, then the op
_LAYER_GAP = 0.95           # inches between layers: room for staggered edge labels
_NODE_GAP = 0.6             # inches between neighbours in a layer
_CROWDED_GAP = 0.3          # inches more for each label past two that ends in a layer
_DUMMY_WIDTH = 0.3          # a long edge's bend, as wide as it needs in a layer
_SWEEPS = 8                 # ordering and placing passes, down and up in turn


class _Edge:
    """One drawn edge: parent → child (the child's argument ``position``) and its bends."""

    def __init__(self, parent, child, position, active):
        self.parent, self.child, self.position, self.active = parent, child, position, active
        self.keys = []      # layout keys from parent to child, bends included


def _shown(graph):
    """The nodes drawn: all but 0-d constants (the 0.5 of 0.5·s is named in its child)."""
    return [n for n in graph.nodes if not (n.kind == "constant" and n.ndim == 0)]


def _node_layers(graph, nodes):
    """Layer of each drawn node: inputs 0, an op one below its last argument, the output last.

    A constant array sits just above its first reader (an op always reads a
    traced value too, so it is never in layer 0).
    """
    drawn = {n.index for n in nodes}
    layer = {}
    for n in nodes:
        if n.kind == "input":
            layer[n.index] = 0
        elif n.op is not None:
            layer[n.index] = 1 + max(layer[p.index] for p in n.parents
                                     if p.index in drawn and p.kind != "constant")
    for n in nodes:
        if n.kind == "constant":
            readers = [layer[c.index] for c in nodes if c.op is not None and n in c.parents]
            layer[n.index] = max(0, min(readers, default=1) - 1)
    if graph.output.index in layer:
        layer[graph.output.index] = max(layer.values())
    return layer


def _mean(values, empty):
    """The mean of ``values``, or ``empty`` when there are none."""
    return sum(values) / len(values) if values else empty


def _isotonic_place(desired, widths):
    """x of items in order, as near ``desired`` as they can be without overlapping.

    Minimises the sum of squared moves subject to each pair of neighbours
    keeping its gap: with ``x_k = y_k + offset_k`` the constraints become
    ``y`` non-decreasing, an isotonic regression solved by pooling adjacent
    violators.
    """
    offsets = [0.0]
    for left, right in zip(widths, widths[1:]):
        offsets.append(offsets[-1] + (left + right) / 2 + _NODE_GAP)
    blocks = []     # [mean, count] of pooled targets
    for target in (d - o for d, o in zip(desired, offsets)):
        blocks.append([target, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            total = blocks[-1][1] + count
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * count) / total, total]
    pooled = [mean for mean, count in blocks for _ in range(count)]
    return [y + o for y, o in zip(pooled, offsets)]


class _GraphLayout:
    """Where every node, bend and edge of a graph goes, in inches.

    Layers are ordered by barycentres, then neighbours are swapped wherever
    that removes crossings; each layer's items are then pulled towards
    their neighbours without overlapping. A gap between layers grows with
    the edge labels it holds.
    """

    def __init__(self, nodes, edges, layer_of, widths):
        self.widths = dict(widths)
        depth = max(layer_of.values()) + 1
        self.layers = [[] for _ in range(depth)]
        self.layer = {}
        for n in nodes:
            self.layers[layer_of[n.index]].append(n.index)
            self.layer[n.index] = layer_of[n.index]
        self.up, self.down = {}, {}     # neighbours of each key in the layers above and below
        labels = [0] * depth            # labelled edges ending in each layer
        for number, e in enumerate(edges):
            top, bottom = layer_of[e.parent.index], layer_of[e.child.index]
            e.keys = [e.parent.index] + [("bend", number, k) for k in range(top + 1, bottom)] + \
                [e.child.index]
            labels[bottom] += e.active
            for k, key in enumerate(e.keys[1:-1], start=top + 1):
                self.layers[k].append(key)
                self.layer[key] = k
                self.widths[key] = _DUMMY_WIDTH
            for a, b in zip(e.keys, e.keys[1:]):
                self.down.setdefault(a, []).append(b)
                self.up.setdefault(b, []).append(a)
        self.tops = [0.0]
        for crowd in labels[1:]:
            self.tops.append(self.tops[-1] + _NODE_HEIGHT + _LAYER_GAP +
                             _CROWDED_GAP * max(0, crowd - 2))
        self.x = {}
        self._order()
        self._untangle()
        self._place()
        left = min(self.x[k] - self.widths[k] / 2 for k in self.x)
        for k in self.x:
            self.x[k] -= left
        self.width = max(self.x[k] + self.widths[k] / 2 for k in self.x)
        self.height = self.tops[-1] + _NODE_HEIGHT

    def y(self, key):
        """The top of the key's layer."""
        return self.tops[self.layer[key]]

    def _order(self):
        """Barycentre ordering: each layer sorted by the mean position of its neighbours."""
        position = {key: k for layer in self.layers for k, key in enumerate(layer)}
        for sweep in range(_SWEEPS):
            downward = sweep % 2 == 0
            indices = range(1, len(self.layers)) if downward else \
                range(len(self.layers) - 2, -1, -1)
            near = self.up if downward else self.down
            for k in indices:
                self.layers[k].sort(key=lambda key: (_mean([position[a] for a in near.get(key, [])],
                                                           position[key]), position[key]))
                position.update({key: j for j, key in enumerate(self.layers[k])})

    def _crossings(self, left, right, position):
        """Crossings between the edges of two items of a layer, ``left`` before ``right``."""
        return sum(position[a] > position[b] for near in (self.up, self.down)
                   for a in near.get(left, []) for b in near.get(right, []))

    def _untangle(self):
        """Swap neighbours in a layer while that crosses fewer edges (the transpose step)."""
        position = {key: k for layer in self.layers for k, key in enumerate(layer)}
        for _ in range(_SWEEPS):
            swapped = False
            for layer in self.layers:
                for k in range(len(layer) - 1):
                    a, b = layer[k], layer[k + 1]
                    if self._crossings(b, a, position) < self._crossings(a, b, position):
                        layer[k], layer[k + 1] = b, a
                        position[a], position[b] = k + 1, k
                        swapped = True
            if not swapped:
                break

    def _place(self):
        """x of every key: each layer pulled towards its neighbours' mean, never overlapping."""
        for layer in self.layers:
            widths = [self.widths[k] for k in layer]
            self.x.update(zip(layer, _isotonic_place([0.0] * len(layer), widths)))
        for sweep in range(_SWEEPS):
            downward = sweep % 2 == 0
            order = self.layers if downward else self.layers[::-1]
            # The last pass looks both ways, so that no layer is left pulled to one side.
            last = sweep == _SWEEPS - 1
            for layer in order:
                wanted = [_mean([self.x[a] for a in
                                 (self.up.get(key, []) + self.down.get(key, []) if last else
                                  (self.up if downward else self.down).get(key, []))],
                                self.x[key]) for key in layer]
                self.x.update(zip(layer, _isotonic_place(wanted, [self.widths[k] for k in layer])))


def _bezier(points):
    """A smooth path through ``points`` that leaves and enters every one vertically."""
    vertices, codes = [points[0]], [Path.MOVETO]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        bend = (y1 - y0) / 2
        vertices += [(x0, y0 + bend), (x1, y1 - bend), (x1, y1)]
        codes += [Path.CURVE4] * 3
    return Path(vertices, codes)


def _on_curve(p0, p1, t):
    """The point at parameter ``t`` of the segment of :func:`_bezier` from ``p0`` to ``p1``."""
    (x0, y0), (x1, y1) = p0, p1
    bend = (y1 - y0) / 2
    xs, ys = (x0, x0, x1, x1), (y0, y0 + bend, y1 - bend, y1)
    weights = ((1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t ** 2 * (1 - t), t ** 3)
    return (sum(w * v for w, v in zip(weights, xs)), sum(w * v for w, v in zip(weights, ys)))


def _overlaps(box, boxes):
    """Area ``box`` shares with each of ``boxes``, all ``(left, top, right, bottom)``."""
    if not len(boxes):
        return 0.0
    width = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    height = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    return float(np.sum(np.clip(width, 0.0, None) * np.clip(height, 0.0, None)))


# Where a label may sit on its edge's last bend: along it (t), and on the curve (0) or
# beside it, to its right (1) or left (−1). Each place is scored by what it covers:
# other labels and nodes weigh most, then other edges' lines (per sampled point); a
# label beside its edge, where it could be read as another's, costs as much as covering
# ten points, and one off the middle a little.
_LABEL_SPOTS = tuple((t, side) for side in (0, 1, -1) for t in (0.5, 0.35, 0.65, 0.25, 0.75))
_COVERED, _POINT, _BESIDE, _OFF_MIDDLE = 10.0, 0.01, 0.1, 0.01
_SAMPLES = 24           # points per bend, to keep labels off other edges


class _Label:
    """An edge's label: ``∂child/∂parent  order k`` over its structure."""

    def __init__(self, head, tag):
        self.head, self.tag = head, tag
        self.width = max(text_width(head, SMALL), text_width(tag, SMALL, "bold")) + 0.12
        self.height = 2 * SMALL * 1.3 / 72 + 0.04

    def box(self, x, y, side):
        """The label's box with its centre (side 0), left edge (1) or right edge (−1) at x."""
        left = x - self.width / 2 + side * (self.width / 2 + 0.06)
        return (left, y - self.height / 2, left + self.width, y + self.height / 2)


def _draw_labels(canvas, edges, routes, boxes, display):
    """Label each active edge where it covers the least (see :data:`_LABEL_SPOTS`)."""
    owner, points = [], []
    for k, route in enumerate(routes):
        for p0, p1 in zip(route, route[1:]):
            points += [_on_curve(p0, p1, t / _SAMPLES) for t in range(_SAMPLES + 1)]
            owner += [k] * (_SAMPLES + 1)
    owner, (xs, ys) = np.array(owner), np.array(points, dtype=float).reshape(-1, 2).T
    covered = np.array(boxes, dtype=float).reshape(-1, 4)
    for k, (e, route) in enumerate(zip(edges, routes)):
        if not e.active:
            continue
        d = e.child.op.derivative_at(
            e.position, tuple(p.value for p in e.child.parents), e.child.value,
            tuple(display(p) for p in e.child.parents) + (display(e.child),), **e.child.params)
        twice = sum(p is e.parent for p in e.child.parents) > 1
        label = _Label(f"∂{display(e.child)}/∂{display(e.parent)}"
                       f"{f' (argument {e.position})' if twice else ''}  order {d.order}",
                       _structure_tag(d))
        scores = []
        for t, side in _LABEL_SPOTS:
            box = label.box(*_on_curve(route[-2], route[-1], t), side)
            crossed = np.count_nonzero((owner != k) & (xs >= box[0]) & (xs <= box[2]) &
                                       (ys >= box[1]) & (ys <= box[3]))
            scores.append((_COVERED * _overlaps(box, covered) + _POINT * crossed +
                           _BESIDE * abs(side) + _OFF_MIDDLE * abs(t - 0.5), len(scores), box))
        box = min(scores)[2]
        covered = np.vstack([covered, box])
        canvas.ax.add_patch(Rectangle(box[:2], label.width, label.height, facecolor="white",
                                      edgecolor="none", alpha=0.9))
        middle = (box[0] + box[2]) / 2
        canvas.text(middle, box[1] + label.height * 0.27, label.head, SMALL, ha="center",
                    va="center")
        canvas.text(middle, box[1] + label.height * 0.73, label.tag, SMALL, ha="center",
                    va="center", color=SUM_INK, weight="bold")


def _node_text(node, shown, bare):
    """A node's name, its shape, and the op that made it, with the parameters that matter."""
    if node.op is None:
        what = "input" if node.kind == "input" else "constant"
    else:
        args = [bare.get(p.index, shown[p.index]) for p in node.parents] + parameters(node)
        what = f"{node.op.name}({', '.join(args)})"
    return shown[node.index], str(node.shape), what


def _node_width(text):
    name, shape, what = text
    return max(text_width(name, _NODE_FONT, "bold") + text_width(f"  {shape}", FONT),
               text_width(what, SMALL)) + 0.3


def _draw_node(canvas, node, text, x, y, width, fill, bold):
    """A rounded box: the name in bold and the shape on one line, the op under them."""
    faint = node.kind == "constant"
    canvas.ax.add_patch(FancyBboxPatch(
        (x - width / 2, y), width, _NODE_HEIGHT, boxstyle="round,pad=0,rounding_size=0.08",
        facecolor=fill, edgecolor=_FAINT if faint else INK,
        linewidth=canvas.line_width(2.2 if bold else 1.1), linestyle="--" if faint else "-",
        gid=f"node {text[0]}"))
    name, shape, what = text
    colour = _FAINT if faint else INK
    name_width = text_width(name, _NODE_FONT, "bold")
    start = x - (name_width + text_width(f"  {shape}", FONT)) / 2
    canvas.text(start, y + 0.24, name, _NODE_FONT, ha="left", va="center", weight="bold",
                color=colour)
    canvas.text(start + name_width, y + 0.24, f"  {shape}", FONT,
                ha="left", va="center", color=colour)
    canvas.text(x, y + 0.5, what, SMALL, ha="center", va="center", color=colour)


_KEY = (("input differentiated", _SOURCE_FILL), ("other input", _INPUT_FILL),
        ("output", _OUTPUT_FILL))
_KEY_HEIGHT = 0.5       # inches under the graph for the key


def _key_entries(other_inputs, dashed):
    """The key's entries: a swatch for each kind of box drawn, and the dashed edge if any."""
    entries = [(label, fill) for label, fill in _KEY if other_inputs or fill != _INPUT_FILL]
    return entries + ([("no derivative needed", None)] if dashed else [])


def _key_width(entries):
    return sum(0.4 + text_width(label, SMALL) + 0.3 for label, _ in entries) - 0.3


def _draw_key(canvas, entries, x, y):
    """One row: a swatch (or a dashed arrow) and what it means, for each entry."""
    for label, fill in entries:
        if fill is None:
            canvas.ax.plot([x, x + 0.3], [y, y], color=_FAINT, linestyle=(0, (4, 3)),
                           linewidth=canvas.line_width(1.0))
        else:
            canvas.ax.add_patch(FancyBboxPatch(
                (x + 0.04, y - 0.11), 0.22, 0.22, boxstyle="round,pad=0,rounding_size=0.04",
                facecolor=fill, edgecolor=INK, linewidth=canvas.line_width(1.0)))
        canvas.text(x + 0.4, y, label, SMALL, ha="left", va="center")
        x += 0.4 + text_width(label, SMALL) + 0.3


def plot_graph(f, *args, wrt=None, names=None, title=None, ax=None, dpi=DPI):
    """Draw a traced function as a DAG whose edges are its local Jacobians.

    Inputs are at the top and the output at the bottom, each op one layer
    below its lowest argument; an edge that skips layers bends round the
    nodes between. Each node shows its name, shape and the op that made it;
    each edge ``parent → child`` shows ``∂child/∂parent``, its order and its
    structure (:func:`local_structure`: ``diagonal``, ``X ⊗ I₂``,
    ``block-diagonal``, ``dense``…), read off the op's index-notation term,
    so no Jacobian is built. A value read by several ops has one out-edge
    per read. Scalar constants (the 0.5 in ``0.5 * s``) are not drawn: the
    op that reads one names it. Nodes are named as in
    :func:`jacobians.plot.plot_chain`: a node the model left unnamed
    (``matmul2``) by what it computes when that is short (``(A X)``).

    Parameters
    ----------
    f : callable or Graph
        The function to trace, or a graph already traced
        (:func:`jacobians.trace_graph`), in which case no ``args`` are given.
    *args : array_like
        The arguments to trace ``f`` with.
    wrt : int or tuple of int, optional
        The arguments differentiated; every input when None. Inputs
        differentiated are blue; edges that carry no derivative from them to
        the output (to a target ``y``, say) are grey and dashed, without a
        label: the chain never needs their Jacobians.
    names : dict of str to str, optional
        Names to show instead of the traced ones, e.g. ``{"matmul": "H"}``.
    title : str, optional
        A first title line, above the figure's own, which names the output
        and says what the edges show.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the drawing and its text shrink to fit its panel. A
        new figure, sized so that the text fits, when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If a graph is given together with arguments.
    ValueError
        If ``names`` renames a node the graph does not have.

    Examples
    --------
    >>> import jacobians as jac
    >>> from jacobians.examples import QUESTIONS
    >>> q = QUESTIONS["Q0"]
    >>> fig = plot_graph(q.function, *q.args(), wrt=0)
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("∂H/")]
    ['∂H/∂W  order 4']
    """
    if isinstance(f, Graph):
        if args:
            raise TypeError("plot_graph takes either a traced graph or a function with its "
                            "arguments, not a graph with arguments")
        graph = f
    else:
        graph = trace_graph(f, *args)
    chosen = range(len(graph.inputs)) if wrt is None else wrt_indices(wrt, len(graph.inputs))[0]
    sources = [graph.inputs[i] for i in chosen]
    shown, bare = shown_names(graph, names or {})

    def display(node):
        return shown[node.index]

    nodes = _shown(graph)
    drawn = {n.index for n in nodes}
    active = graph.active(sources)
    edges = [_Edge(p, c, k, active[c.index] and active[p.index])
             for c in nodes if c.op is not None for k, p in enumerate(c.parents)
             if p.index in drawn]
    texts = {n.index: _node_text(n, shown, bare) for n in nodes}
    widths = {i: _node_width(text) for i, text in texts.items()}
    layout = _GraphLayout(nodes, edges, _node_layers(graph, nodes), widths)
    legend = _key_entries(len({s.index for s in sources}) < len(graph.inputs),
                          any(not e.active for e in edges))
    width = max(layout.width, _key_width(legend))
    shift = (width - layout.width) / 2
    own = (f"The computation graph of {display(graph.output)}: each edge a local Jacobian "
           f"∂child/∂parent, its order and structure")
    canvas = Canvas(ax, width, layout.height + _KEY_HEIGHT, titled(title, own), dpi)

    boxes = []
    for n in nodes:
        x, y = layout.x[n.index] + shift, layout.y(n.index)
        boxes.append((x - widths[n.index] / 2 - 0.05, y - 0.05, x + widths[n.index] / 2 + 0.05,
                      y + _NODE_HEIGHT + 0.05))
        if n is graph.output:
            fill = _OUTPUT_FILL
        elif n.kind == "input":
            fill = _SOURCE_FILL if any(n is s for s in sources) else _INPUT_FILL
        else:
            fill = "white"
        _draw_node(canvas, n, texts[n.index], x, y, widths[n.index], fill, n is graph.output)
    _draw_key(canvas, legend, 0.0, layout.height + _KEY_HEIGHT - 0.2)

    # Where edges leave and enter a box: spread along it, in the order of where they go.
    ports = {}
    for node_key in drawn:
        for side, ends in ((0, layout.down.get(node_key, [])), (1, layout.up.get(node_key, []))):
            spread = min(0.7 * widths[node_key], 0.4 * (len(ends) - 1))
            for rank, k in enumerate(sorted(range(len(ends)), key=lambda k: layout.x[ends[k]])):
                offset = spread * (rank / (len(ends) - 1) - 0.5) if len(ends) > 1 else 0.0
                ports.setdefault((node_key, side, ends[k]), []).append(offset)

    routes = []
    for e in edges:
        points = []
        for k, at in enumerate(e.keys):
            top, x = layout.y(at), layout.x[at] + shift
            if k == 0:
                points.append((x + ports[(at, 0, e.keys[1])].pop(0), top + _NODE_HEIGHT))
            elif k == len(e.keys) - 1:
                points.append((x + ports[(at, 1, e.keys[-2])].pop(0), top))
            else:
                points.append((x, top + _NODE_HEIGHT / 2))
        routes.append(points)
        style = {"color": INK, "linewidth": canvas.line_width(1.3)} if e.active else \
            {"color": _FAINT, "linewidth": canvas.line_width(1.0), "linestyle": (0, (4, 3))}
        canvas.ax.add_patch(FancyArrowPatch(
            path=_bezier(points), arrowstyle="-|>", mutation_scale=14 * canvas.scale,
            shrinkA=0, shrinkB=0, gid=f"edge {display(e.parent)}→{display(e.child)} {e.position}",
            **style))
    _draw_labels(canvas, edges, routes, boxes, display)
    return canvas.done()


# ----------------------------------------------------------------------------
# The backward sweep beside the naive chain
# ----------------------------------------------------------------------------
_ROW_HEIGHT = 0.86          # inches: a box of three lines
_ROW_GAP = 0.16
_COLUMN_GAP = 0.7           # inches between the two columns: room for an arrow
_HEAD_HEIGHT = 0.75         # inches above the rows for the column headings and the seed
_FOOT_HEIGHT = 0.75         # inches under them for the totals
_NAIVE_FILL, _VJP_FILL = "#f7d5c0", _SOURCE_FILL   # light vermillion and light blue


def _sizes(shape):
    """``"48 entries, 384 B"`` for a float64 array of ``shape``."""
    entries = math.prod(shape)
    return f"{entries:,} {'entry' if entries == 1 else 'entries'}, {format_bytes(8 * entries)}"


class _SweepRow:
    """One edge of the sweep: the local Jacobian on the left, the cotangent on the right."""

    def __init__(self, local, derivative, rule):
        self.name, self.shape = local.name, str(local.shape)
        self.entries = math.prod(local.shape)
        self.sizes = (f"order {len(local.shape)}, {_structure_tag(derivative)}: "
                      f"{_sizes(local.shape)}")
        self.formula, self.rule = str(derivative), rule
        self.g_entries = math.prod(local.parent.shape)
        self.g_sizes = f"{local.parent.shape}, {_sizes(local.parent.shape)}"

    @property
    def left_width(self):
        return max(text_width(self.name, FONT + 1, "bold") +
                   text_width(f"  {self.shape}", FONT),
                   text_width(self.sizes, SMALL), text_width(self.formula, SMALL))

    @property
    def right_width(self):
        return max(text_width(self.rule, FONT + 1, "bold"), text_width(self.g_sizes, SMALL))

    def draw(self, canvas, x_right, top):
        """The row's text; its boxes are drawn by the caller."""
        canvas.text(0.15, top + 0.2, self.name, FONT + 1, ha="left", va="center",
                    weight="bold")
        canvas.text(0.15 + text_width(self.name, FONT + 1, "bold"), top + 0.2,
                    f"  {self.shape}", FONT, ha="left", va="center")
        canvas.text(0.15, top + 0.45, self.sizes, SMALL, ha="left", va="center")
        canvas.text(0.15, top + 0.68, self.formula, SMALL, ha="left", va="center",
                    color=SUM_INK)
        canvas.text(x_right + 0.15, top + 0.28, self.rule, FONT + 1, ha="left", va="center",
                    weight="bold")
        canvas.text(x_right + 0.15, top + 0.58, self.g_sizes, SMALL, ha="left", va="center")


def plot_sweep(f, *args, wrt=0, names=None, title=None, ax=None, dpi=DPI):
    """Set the naive chain's local Jacobians beside the cotangents of the VJP sweep.

    One row per edge the reverse sweep takes, from the output back to the
    input(s) ``wrt``. On the left, the local Jacobian ``∂child/∂parent``
    that the naive chain (:func:`jacobians.jacobian`) builds: its shape,
    order, entries and bytes, and its index-notation statement. On the
    right, the cotangent ``g_parent = ∂out/∂parent`` that the VJP sweep
    (:func:`jacobians.grad`) carries instead, computed by the rule
    :func:`jacobians.derive` reads off that statement (``g_W = Xᵀ g_H``),
    with its shape and size. Each box is shaded from the left in proportion
    to its entries, all boxes to one scale, so the contrast shows at a
    glance. Under the columns: their totals, and the FLOPs of each way
    counted on shapes by :func:`jacobians.model_cost`. Nodes are named as
    in :func:`jacobians.plot.plot_chain` and :func:`plot_graph`.

    Parameters
    ----------
    f : callable
        A scalar function of its arguments.
    *args : array_like
        The arguments.
    wrt : int or tuple of int
        The argument(s) differentiated.
    names : dict of str to str, optional
        Names to show instead of the traced ones, e.g. ``{"matmul": "H"}``.
    title : str, optional
        A first title line, above the figure's own, which names the
        derivative and says what the columns hold.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the drawing and its text shrink to fit its panel. A
        new figure, sized so that the text fits, when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``f`` is not scalar, ``names`` renames a node the graph lacks, or
        there is nothing to sweep: ``f`` returns an argument ``wrt`` or does
        not depend on the arguments ``wrt``.

    Notes
    -----
    Index labels follow the library's convention: output ``a b``, input
    ``c d`` (``∂H_ab/∂W_cd = X_ac δ_bd``), and never the name of an array
    of the statement: where an array is named like one of them, the letters
    move on (for ``sum(H + b)``, ``∂add_ij/∂b_k = δ_jk``). For a scalar
    output the naive chain in reverse order carries ``∂out/∂node``, shaped
    like ``g_node``: what it pays for is building the local Jacobians on
    the left.

    Examples
    --------
    >>> from jacobians.examples import QUESTIONS
    >>> q = QUESTIONS["Q0"]
    >>> fig = plot_sweep(q.function, *q.args())
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("g_W")]
    ['g_W = Xᵀ g_H']
    """
    cost = model_cost(f, args, wrt)     # refuses a function that is not scalar
    chosen, many = wrt_indices(wrt, len(args))
    graph = trace_graph(f, *args)
    out, sources = graph.output, [graph.inputs[i] for i in chosen]
    wanted = ", ".join(s.name for s in sources)
    if any(s is out for s in sources):
        raise ValueError(f"{out.name} is the output itself: there is no sweep to draw")
    # The graph is this call's own: its nodes take the names the figure shows.
    shown, _ = shown_names(graph, names or {})
    for n in graph.nodes:
        n.name = shown[n.index]
    program = Program(graph, sources, many)
    program.run()
    if not program.instructions:
        raise ValueError(f"{out.name} does not depend on {wanted}: the sweep has no edge to draw")
    rows, seen = [], {out.index}
    for ins in program.instructions:
        sign = "+=" if ins.parent.index in seen else "="
        seen.add(ins.parent.index)
        rows.append(_SweepRow(Local(ins.child, ins.position, ins.parent), ins.derivative,
                              f"g_{ins.parent.name} {sign} {ins.formula()}"))

    naive_head = "naive chain (jac.jacobian) builds"
    vjp_head = "VJP sweep (jac.grad) carries"
    left_width = max([text_width(naive_head, FONT + 1, "bold") - 0.2] +
                     [r.left_width for r in rows]) + 0.3
    right_width = max([text_width(vjp_head, FONT + 1, "bold") - 0.2] +
                      [r.right_width for r in rows]) + 0.3
    width = left_width + _COLUMN_GAP + right_width
    height = _HEAD_HEIGHT + len(rows) * (_ROW_HEIGHT + _ROW_GAP) - _ROW_GAP + _FOOT_HEIGHT
    own = (f"∂{out.name}/∂{wanted} edge by edge, from the output back: what the naive chain "
           f"builds,\nand what the VJP sweep carries instead (shading: entries, every box to one "
           f"scale)")
    canvas = Canvas(ax, width, height, titled(title, own), dpi)

    largest = max(r.entries for r in rows)
    x_right = left_width + _COLUMN_GAP
    canvas.text(left_width / 2, 0.2, naive_head, FONT + 1, ha="center", va="center",
                weight="bold", color=VERMILLION)
    canvas.text(x_right + right_width / 2, 0.2, vjp_head, FONT + 1, ha="center", va="center",
                weight="bold", color=BLUE)
    canvas.text(x_right + right_width / 2, 0.52, f"seed: g_{out.name} = 1, shape {out.shape}",
                SMALL, ha="center", va="center")
    for k, row in enumerate(rows):
        top = _HEAD_HEIGHT + k * (_ROW_HEIGHT + _ROW_GAP)
        for x, w, entries, fill in ((0.0, left_width, row.entries, _NAIVE_FILL),
                                    (x_right, right_width, row.g_entries, _VJP_FILL)):
            canvas.ax.add_patch(Rectangle((x, top), w * entries / largest, _ROW_HEIGHT,
                                          facecolor=fill, edgecolor="none"))
            canvas.ax.add_patch(Rectangle((x, top), w, _ROW_HEIGHT, facecolor="none",
                                          edgecolor=INK, linewidth=canvas.line_width(1.0)))
        row.draw(canvas, x_right, top)
        canvas.ax.add_patch(FancyArrowPatch(
            (left_width + 0.1, top + _ROW_HEIGHT / 2), (x_right - 0.1, top + _ROW_HEIGHT / 2),
            arrowstyle="-|>", mutation_scale=14 * canvas.scale, color=INK,
            linewidth=canvas.line_width(1.0)))

    foot = height - _FOOT_HEIGHT + 0.25
    naive_entries = sum(r.entries for r in rows)
    vjp_entries = sum(r.g_entries for r in rows)
    canvas.text(0.0, foot, f"built in all: {naive_entries:,} entries, "
                f"{format_bytes(8 * naive_entries)}", FONT, ha="left", va="center")
    canvas.text(0.0, foot + 0.3, f"{cost.naive_reverse_flops:,} FLOPs (reverse order)", FONT,
                ha="left", va="center")
    canvas.text(x_right, foot, f"computed in all: {vjp_entries:,} entries, "
                f"{format_bytes(8 * vjp_entries)}", FONT, ha="left", va="center")
    canvas.text(x_right, foot + 0.3, f"{cost.vjp_flops:,} FLOPs", FONT, ha="left",
                va="center")
    return canvas.done()


# ----------------------------------------------------------------------------
# What a gradient costs, question by question
# ----------------------------------------------------------------------------
# Each bar of a question: what it counts, whose, how to read it off a ModelCost, its colour.
_BARS = (("bytes", "naive", lambda cost: cost.naive_bytes, VERMILLION),
         ("bytes", "VJP", lambda cost: cost.vjp_bytes, BLUE),
         ("FLOPs", "naive", lambda cost: cost.naive_reverse_flops, VERMILLION),
         ("FLOPs", "VJP", lambda cost: cost.vjp_flops, BLUE))
_BAR_AT = (-1.6, -0.55, 0.55, 1.6)      # each bar's place in its question's group
_GROUP = 4.8                            # from one question's group to the next


def _sizes_label(sizes):
    """``"n=4 m=3 p=2"``: a question's sizes, those that are None left out."""
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                    for k, v in sizes.items() if v is not None)


def plot_cost_bars(questions=None, size=None, names=None, title=None, ax=None, dpi=DPI):
    """Bars of the bytes and FLOPs of the naive chain against the VJP sweep, per question.

    For each question, four bars on a log scale: the bytes the naive chain
    (:func:`jacobians.jacobian`, reverse order) holds at its peak against
    those of the VJP sweep (:func:`jacobians.grad`), then the FLOPs of each.
    Every number is :func:`jacobians.model_cost`'s, counted by running both
    on shapes alone: nothing is timed, so the figure is the same on every
    run. Each bar is labelled with its value.

    Parameters
    ----------
    questions : sequence of str, optional
        Keys of :data:`jacobians.examples.QUESTIONS`; all five when None.
    size : int, optional
        Set every dimension of every question to this
        (:func:`jacobians.cost.scaled_sizes`); each question's own sizes
        when None.
    names : dict of str to str, optional
        Names to show instead of the questions' keys, e.g. ``{"Q0": "MLP"}``.
    title : str, optional
        A first title line, above the figure's own, which says what is
        counted and at which sizes.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the figure and its text shrink to fit its panel. A
        new figure when None.
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If a key is not a question, ``names`` renames a question not drawn,
        or ``size`` is not a positive integer.

    Examples
    --------
    >>> fig = plot_cost_bars(["Q0"])
    >>> sorted(p.get_gid() for p in fig.axes[0].patches)
    ['Q0 VJP FLOPs', 'Q0 VJP bytes', 'Q0 naive FLOPs', 'Q0 naive bytes']
    """
    keys = list(FIVE) if questions is None else list(questions)
    unknown = [k for k in keys if k not in QUESTIONS]
    if unknown or not keys:
        raise ValueError(f"questions must be keys of QUESTIONS ({', '.join(QUESTIONS)}), got "
                         f"{keys!r}")
    names = dict(names or {})
    unnamed = sorted(set(names) - set(keys))
    if unnamed:
        raise ValueError(f"names renames {', '.join(unnamed)}, which is not drawn; the "
                         f"questions drawn are {', '.join(keys)}")
    counted = []
    for key in keys:
        q = QUESTIONS[key]
        sizes = dict(q.sizes) if size is None else {**q.sizes, **scaled_sizes(key, size)}
        counted.append((key, sizes, model_cost(q.function, q.args(**sizes), q.wrt)))
    at = "each question at its own sizes" if size is None else f"every dimension N = {size}"
    heading = titled(title, f"What a gradient costs, counted on shapes by jac.model_cost\n({at})")
    width = max(6.4, 2.3 * len(keys) + 1.4, lines_width(heading, TITLE) + 0.3)
    height = 5.6 + 0.25 * heading.count("\n")
    given = ax is not None
    if not given:
        fig = new_figure((width, height), dpi, "constrained")
        ax, scale = fig.add_subplot(), 1.0
    else:
        fig, panel, scale = root(ax), panel_box(ax), panel_scale(ax, width, height)
    span = _GROUP * len(keys)
    ax.set_xlim(-_GROUP / 2, span - _GROUP / 2)

    values = [value(cost) for _, _, cost in counted for _, _, value, _ in _BARS]
    # A decade or so under the smallest bar, so that even it stands clear of the axis.
    floor = 10.0 ** math.floor(math.log10(max(min(v for v in values if v > 0) / 3, 1)))
    ax.set_yscale("log")
    ax.set_ylim(floor, max(values) * 8)
    for k, (key, _, cost) in enumerate(counted):
        for (what, way, value, colour), dx in zip(_BARS, _BAR_AT):
            v = value(cost)
            ax.bar(_GROUP * k + dx, v, width=1.0, color=colour, gid=f"{key} {way} {what}")
            text = format_bytes(v) if what == "bytes" else _flops(v)
            # As wide as its bar at full size (the axes about an inch narrower than the
            # figure): the label shrinks with the bars, so neighbours never touch.
            scaled_text(ax, _GROUP * k + dx, max(v, floor) * 1.12, text, SMALL,
                        (width - 1.0) / span, ha="center", va="bottom")
    ax.set_xticks([_GROUP * k + (_BAR_AT[a] + _BAR_AT[a + 1]) / 2 for k in range(len(keys))
                   for a in (0, 2)], ["bytes", "FLOPs"] * len(keys))
    ax.tick_params(axis="x", length=0, labelsize=FONT * scale)
    ax.tick_params(axis="y", labelsize=SMALL * scale)
    below = ax.secondary_xaxis("bottom")
    below.set_xticks([_GROUP * k for k in range(len(keys))],
                     [f"{names.get(key, key)}\n{_sizes_label(sizes)}"
                      for key, sizes, _ in counted])
    below.tick_params(length=0, pad=(FONT + 10) * scale, labelsize=FONT * scale)
    below.spines["bottom"].set_visible(False)
    ax.set_ylabel("bytes held at the peak, FLOPs (log scale)", fontsize=FONT * scale)
    ax.grid(True, axis="y", which="major", color="0.88", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(handles=[Patch(color=VERMILLION, label="naive chain (jac.jacobian, reverse order)"),
                       Patch(color=BLUE, label="VJP sweep (jac.grad)")],
              loc="upper left", fontsize=SMALL * scale, frameon=False, ncols=2)
    ax.set_title(heading, fontsize=TITLE * scale, color=INK)
    if given:
        settle(panel, ax)
    return fig
