"""The memory of reverse mode drawn: bytes held, step by step.

Draws what :mod:`jacobians.memory` counted — a :class:`~jacobians.memory.MemoryTimeline`
of a reverse sweep, or of a checkpointed one — and computes nothing itself.
"""
import math

import numpy as np
from matplotlib.ticker import FuncFormatter, MultipleLocator

from ._drawing import (BLUE, DPI, FONT, INK, ORANGE, SMALL, new_figure, panel_box, panel_scale,
                       root, settle, titled)
from .limits import format_bytes
from .memory import MemoryTimeline


def _draw_timeline(ax, timeline, title, scale, top, legend=True, grey_key=False):
    steps = timeline.steps
    x = np.arange(len(steps))
    values = np.array([s.values for s in steps])
    held = np.array([s.held for s in steps])
    for k, s in enumerate(steps):
        if s.phase == "recompute":
            ax.axvspan(k - 0.5, k + 0.5, color="0.9", linewidth=0, zorder=0)
    ax.fill_between(x, 0, values, step="mid", color=BLUE, alpha=0.75, linewidth=0,
                    label="forward values held", zorder=2)
    ax.fill_between(x, values, held, step="mid", color=ORANGE, alpha=0.85, linewidth=0,
                    label="cotangents held", zorder=2)
    if grey_key or any(s.phase == "recompute" for s in steps):
        ax.fill_between([], [], color="0.9", label="segment recomputed")
    inference = [s.held for s in timeline.inference]
    ax.step(np.arange(len(inference)), inference, where="mid", color=INK, linestyle="--",
            linewidth=1.4, label="inference (forward only)", zorder=3)
    turn = sum(1 for s in steps if s.phase == "forward") - 0.5
    ax.axvline(turn, color="0.4", linewidth=0.8, zorder=1)
    ax.set_ylim(0, top * 1.5)
    ax.set_xlim(-0.5, len(steps) - 0.5)
    for text, side in (("forward →", "right"), ("← backward", "left")):
        ax.annotate(text, (turn, top * 1.15), xytext=(-4 if side == "right" else 4, 0),
                    textcoords="offset points", ha=side, va="center",
                    fontsize=SMALL * scale, color="0.3")
    ax.axhline(timeline.peak, color=BLUE, linestyle=":", linewidth=1.0, zorder=1)
    ax.annotate(f"peak {_short_bytes(timeline.peak)}", (0, timeline.peak),
                xytext=(2, 2), textcoords="offset points", ha="left", va="bottom",
                fontsize=(SMALL - 1) * scale, color=INK)
    ax.yaxis.set_major_locator(MultipleLocator(_byte_step(top * 1.5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short_bytes(v)))
    ax.set_xlabel("step", fontsize=SMALL * scale)
    ax.set_ylabel("bytes held", fontsize=SMALL * scale)
    ax.set_title(title, fontsize=FONT * scale)
    ax.tick_params(labelsize=(SMALL - 1) * scale)
    if legend:
        ax.legend(loc="upper right", fontsize=(SMALL - 1) * scale, framealpha=0.9)


def _byte_step(span):
    """A tick step of 1, 2 or 5 × 10ⁿ of a binary unit (B, KiB, MiB…), about six ticks."""
    unit = 1024 ** max(0, int(math.log(max(span, 1), 1024)))
    rough = span / unit / 6
    decade = 10 ** math.floor(math.log10(rough)) if rough > 0 else 1
    step = next(m * decade for m in (1, 2, 5, 10) if m * decade >= rough)
    return step * unit


def _top(timeline):
    return max(timeline.peak, timeline.inference_peak, 1)


def _short_bytes(n):
    return format_bytes(n).replace(".0 ", " ")


def plot_memory(timelines, title=None, ax=None, dpi=None):
    """Draw the bytes held over the steps of a sweep, forward then backward.

    Forward values held are blue, cotangents stacked on them orange, and
    the forward pass run for inference alone a dashed line; a grey band
    marks each step that recomputes a segment, and a vertical line the turn
    from forward to backward.

    Parameters
    ----------
    timelines : MemoryTimeline, or dict of str to MemoryTimeline
        One timeline, or several by name, each drawn in its own panel side
        by side on a shared scale (``checkpoint_cost(L, k).timeline`` for
        several k).
    title : str, optional
        A first title line, above the figure's own (above the panel's own,
        in a given ``ax``).
    ax : matplotlib.axes.Axes, optional
        Where to draw one timeline; a new figure when None.
    dpi : float, optional
        Dots per inch of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For several timelines and one ``ax``, or none at all.

    Examples
    --------
    >>> from jacobians.memory import checkpoint_cost
    >>> fig = plot_memory({f"k = {k}": checkpoint_cost(16, k).timeline for k in (1, 4)})
    >>> [a.get_title() for a in fig.axes]
    ['k = 1', 'k = 4']
    """
    named = dict(timelines) if isinstance(timelines, dict) else {"": timelines}
    if not named:
        raise ValueError("no timeline to draw")
    for name, timeline in named.items():
        if not isinstance(timeline, MemoryTimeline):
            raise ValueError(f"plot_memory draws MemoryTimeline objects (from "
                             f"jac.memory_timeline or checkpoint_cost(...).timeline); "
                             f"{name or 'it'} is a {type(timeline).__name__}")
    own = "bytes held, step by step: reverse sweep against inference"
    if ax is not None:
        if len(named) > 1:
            raise ValueError(f"{len(named)} timelines need a panel each; give ax=None for a "
                             f"new figure, or draw them one by one")
        (name, timeline), = named.items()
        panel = panel_box(ax)
        _draw_timeline(ax, timeline, titled(title, name or own), panel_scale(ax, 7.0, 4.0),
                       _top(timeline))
        settle(panel, ax)
        return root(ax)
    fig = new_figure((min(7.0 * len(named), 16.0), 4.4), dpi or DPI, "constrained")
    axes = fig.subplots(1, len(named), sharey=True, squeeze=False)[0]
    top = max(_top(t) for t in named.values())
    grey = any(s.phase == "recompute" for t in named.values() for s in t.steps)
    for a, (name, timeline) in zip(axes, named.items()):
        _draw_timeline(a, timeline, name or "", 1.0, top, legend=False, grey_key=grey)
    # One key for every panel, below them: inside a narrow panel it would hide the labels.
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
               ncol=4, fontsize=SMALL - 1, frameon=False)
    fig.suptitle(titled(title, own), fontsize=FONT + 1)
    return fig
