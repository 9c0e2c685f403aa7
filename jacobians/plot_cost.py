"""The cost-growth figure: how memory, FLOPs and time grow with the problem size.

:func:`plot_cost_growth` draws a :class:`jacobians.cost.Sweep` on log-log
axes, where a cost growing as Nᵏ is a straight line of slope k; the slopes,
fitted where the sizes are largest, are written in the legend, and thin grey
lines of exact slope k run under the counted series to hold them against.
It only draws what the sweep holds, makes a figure pyplot does not track
(nothing to close, nothing shown), and draws the same pixels for the same
sweep: a sweep that only counted gives the same file on every run.

The naive chain is drawn in warm colours with square and triangle markers,
the VJP sweep in blue with circles; counted values have solid lines and
measured ones dashed lines with hollow markers, so the series stay apart in
greyscale and for colour-blind readers (Okabe–Ito colours). The optimal
order is a dotted line of small diamonds over the reverse order's large
squares, so it shows where the two coincide.
"""
import numpy as np
from matplotlib.ticker import NullFormatter, ScalarFormatter

from ._drawing import (BLUE, DPI, FONT, ORANGE, PURPLE, SMALL, VERMILLION, new_figure,
                       panel_box, panel_scale, root, settle, titled)
from .cost import FIT_LARGEST

_PANEL = 5.0            # inches: each panel of a new figure is square
_TICK = SMALL - 1       # ticks, legends and the guides' labels

# Each series: its legend label, colour, line style, marker and its size, and whether it
# was measured. The optimal order's small diamonds sit inside the reverse order's large
# squares: for a scalar loss the two are the same numbers, and both must stay visible.
_STYLE = {
    "naive bytes": ("naive: held at its peak", VERMILLION, "-", "s", 6, False),
    "naive peak": ("naive: measured peak", VERMILLION, "--", "s", 6, True),
    "VJP bytes": ("VJP: held at its peak", BLUE, "-", "o", 6, False),
    "VJP peak": ("VJP: measured peak", BLUE, "--", "o", 6, True),
    "naive FLOPs, forward": ("naive, forward order", ORANGE, "-.", "^", 6, False),
    "naive FLOPs, reverse": ("naive, reverse order", VERMILLION, "-", "s", 9, False),
    "naive FLOPs, optimal": ("naive, optimal order", PURPLE, (0, (1, 1.2)), "D", 4, False),
    "VJP FLOPs": ("VJP sweep", BLUE, "-", "o", 6, False),
    "naive time": ("naive (jac.jacobian)", VERMILLION, "--", "s", 6, True),
    "VJP time": ("VJP (jac.grad)", BLUE, "--", "o", 6, True),
}

# A series that may coincide with another, and the words the legend then adds.
_SAME_AS = {"naive FLOPs, optimal": ("naive FLOPs, reverse", " (= reverse)")}

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

# Each panel: title, y label, and the series it draws.
PANELS = {
    "bytes": ("memory held", "bytes (float64)",
              ("naive bytes", "naive peak", "VJP bytes", "VJP peak")),
    "flops": ("arithmetic, counted", "FLOPs (counted on shapes)",
              ("naive FLOPs, forward", "naive FLOPs, reverse", "naive FLOPs, optimal",
               "VJP FLOPs")),
    "time": ("wall time, measured", "seconds (median; bars: quartiles)",
             ("naive time", "VJP time")),
}


def _draw_guides(ax, sweep, series, slopes, scale):
    """A thin grey line of exact slope k under the counted series that grow as Nᵏ.

    Each power the counted series' slopes round to gets one line, a third
    below the lowest of them at the largest size and labelled there: a
    series parallel to it grows as Nᵏ, and where it bends away at small N
    lower-order terms still count.
    """
    ends = {}
    for name in series:
        if name in slopes and not _STYLE[name][-1]:
            x, y = sweep.series(name)
            k = round(slopes[name])
            if k >= 1 and x[-1] == sweep.sizes[-1]:
                ends[k] = min(ends.get(k, y[-1]), y[-1])
    x = np.array(sweep.sizes, dtype=float)
    for k, end in sorted(ends.items()):
        y = end / 3 * (x / x[-1]) ** k
        ax.plot(x, y, color="0.55", linewidth=0.9, zorder=1)
        ax.annotate(f"N{str(k).translate(_SUPERSCRIPT)}", (x[-1], y[-1]), xytext=(3, 0),
                    textcoords="offset points", ha="left", va="center", fontsize=_TICK * scale,
                    color="0.35")


def _draw_panel(ax, sweep, quantity, slopes, title, scale):
    """One panel at ``scale`` times its full size, titled ``title`` (its own, by default)."""
    own, ylabel, series = PANELS[quantity]
    for name in series:
        x, y = sweep.series(name)
        if len(x) == 0:
            continue
        label, colour, line, marker, size, measured = _STYLE[name]
        if name in _SAME_AS:
            other, words = _SAME_AS[name]
            if np.array_equal(y, sweep.series(other)[1]):
                label += words
        if name in slopes:
            label += f" — slope {slopes[name]:.2f}"
        style = dict(color=colour, linestyle=line, marker=marker, markersize=size,
                     linewidth=2.0 if name in _SAME_AS else 1.6, label=label,
                     markerfacecolor="white" if measured else colour, markeredgewidth=1.4)
        if quantity == "time":
            attribute = "naive" if name == "naive time" else "vjp"
            timings = [getattr(r.measured, attribute) for r in sweep.rows
                       if r.measured is not None and getattr(r.measured, attribute) is not None]
            spread = [[t.median - t.q1 for t in timings], [t.q3 - t.median for t in timings]]
            ax.errorbar(x, y, yerr=spread, capsize=3, **style)
        else:
            ax.plot(x, y, **style)
    _draw_guides(ax, sweep, series, slopes, scale)
    skipped = [s for s, r in zip(sweep.sizes, sweep.rows) if r.note]
    if quantity == "time" and skipped:
        ax.text(0.98, 0.03, f"naive not run at N = {', '.join(map(str, skipped))}:\n"
                f"over the memory limit", transform=ax.transAxes, ha="right", va="bottom",
                fontsize=_TICK * scale, color="0.3")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sweep.sizes)
    # Room on the right for the guides' labels.
    ax.set_xlim(sweep.sizes[0] / 1.3, sweep.sizes[-1] * 1.6)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"N  ({sweep.scale} = N)", fontsize=SMALL * scale)
    ax.set_ylabel(ylabel, fontsize=SMALL * scale)
    ax.set_title(titled(title, own), fontsize=FONT * scale)
    ax.tick_params(labelsize=_TICK * scale)
    ax.grid(True, which="major", color="0.88", linewidth=0.6)
    ax.legend(loc="upper left", fontsize=_TICK * scale, frameon=True, framealpha=0.9)


def plot_cost_growth(sweep, ax=None, quantity=None, largest=FIT_LARGEST, names=None, title=None,
                     dpi=DPI):
    """Draw a sweep's costs against the size N on log-log axes.

    Parameters
    ----------
    sweep : jacobians.cost.Sweep
        From :func:`jacobians.cost.sweep`.
    ax : matplotlib.axes.Axes, optional
        Where to draw one panel (then ``quantity`` says which); its text
        shrinks to fit the panel. A new figure with every panel side by
        side when None.
    quantity : {"bytes", "flops", "time"}, optional
        The one panel to draw. By default all of them, the measured time
        only when the sweep measured something.
    largest : int or None
        Fit each slope on this many of the series' largest sizes (3 by
        default); None fits every size.
    names : dict of str to str, optional
        A name to show instead of the question's key in the figure's title,
        e.g. ``{"Q0": "MLP"}`` (a panel drawn into ``ax`` names no question).
    title : str, optional
        A first title line, above the figure's own (above the panel's own,
        in a given ``ax``).
    dpi : float
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If ``quantity`` is not a panel, none is named for a given ``ax``, or
        ``names`` renames a question other than the sweep's.

    Notes
    -----
    A cost ``c ≈ a Nᵏ`` has ``log c = log a + k log N``: a line of slope k.
    The legend gives k fitted by least squares
    (:meth:`jacobians.cost.Sweep.slopes`) where N is largest: at small N
    fixed overheads (tracing, Python calls) and lower-order terms bend the
    lines. A grey line of exact slope k runs under the counted series
    whose slopes round to k.

    >>> from jacobians.cost import sweep
    >>> fig = plot_cost_growth(sweep("Q0", [4, 8], measure_time=False))
    >>> [ax.get_title() for ax in fig.axes]
    ['memory held', 'arithmetic, counted']
    """
    if quantity is not None and quantity not in PANELS:
        raise ValueError(f"quantity must be one of {', '.join(PANELS)} or None, "
                         f"got {quantity!r}")
    if ax is not None and quantity is None:
        raise ValueError("to draw into ax, say which panel with quantity= "
                         f"(one of {', '.join(PANELS)})")
    names = dict(names or {})
    if set(names) - {sweep.key}:
        raise ValueError(f"names renames {', '.join(sorted(set(names) - {sweep.key}))}, which "
                         f"is not drawn; the question drawn is {sweep.key}")
    key = names.get(sweep.key, sweep.key)
    slopes = sweep.slopes(largest=largest)
    if ax is not None:
        panel, scale = panel_box(ax), panel_scale(ax, _PANEL, _PANEL)
        _draw_panel(ax, sweep, quantity, slopes, title, scale)
        settle(panel, ax)
        return root(ax)
    measured = any(r.measured is not None for r in sweep.rows)
    quantities = [quantity] if quantity else [q for q in PANELS if q != "time" or measured]
    fig = new_figure((_PANEL * len(quantities), _PANEL), dpi, "constrained")
    for k, q in enumerate(quantities):
        _draw_panel(fig.add_subplot(1, len(quantities), k + 1), sweep, q, slopes, None, 1.0)
    fitted = "every size" if largest is None else f"each series' {largest} largest sizes"
    fig.suptitle(titled(title, f"{key}: the naive chain against the VJP sweep as N grows\n"
                               f"slopes fitted on {fitted}; grey: exactly Nᵏ"),
                 fontsize=FONT + 1)
    return fig
