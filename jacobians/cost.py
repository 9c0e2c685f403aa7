"""What backprop costs: the naive chain against the VJP sweep, counted and measured.

Two ways to get the gradient of a scalar loss, priced side by side:

* **naive** — materialise every local Jacobian (3rd- and 4th-order tensors
  included) and contract the chain, in forward, reverse or optimal order:
  what :func:`jacobians.jacobian` runs;
* **VJP** — pull one cotangent back through each op's hand rule without
  forming any Jacobian: what :func:`jacobians.grad` runs.

The *model* counts FLOPs and bytes by running those very programs on
:class:`~jacobians.abstract.Shaped` arrays — shapes alone, nothing allocated
— so it prices sizes far too large to run, and what it counts is what the
*measurement* times (interleaved, median and IQR) and traces (peak memory).
A :func:`sweep` over problem sizes fits log-log slopes: for Q0 with
n = m = p the naive chain holds n⁴ bytes where the VJP sweep holds n².
"""
import math
import sys
from dataclasses import dataclass

import numpy as np

from .abstract import Tally
from .chain import ORDERS, check_order, grad, gradient_sweep, jacobian, naive_plans, wrt_indices
from .examples import QUESTIONS
from .graph import trace_graph
from .limits import format_bytes, get_memory_limit
from .sweep import shaped_values
from .timing import interleaved, measure_peak

# How one integer N scales each question: the sizes it sets and how to say so.
_SCALES = {
    "Q0": ("n = m = p", lambda N: {"n": N, "m": N, "p": N}),
    "Q1": ("m = k", lambda N: {"m": N, "k": N}),
    "Q2": ("K", lambda N: {"K": N}),
    "Q3": ("every layer width", lambda N: {"widths": (N,) * 4}),
    "Q4": ("m = hidden = k", lambda N: {"m": N, "hidden": N, "k": N}),
    "CNN": ("image side", lambda N: {"side": N}),
}


def _question(key):
    if key not in QUESTIONS:
        raise ValueError(f"unknown question {key!r}; the questions are {', '.join(QUESTIONS)}")
    return QUESTIONS[key]


def _check_size(size, what="size"):
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{what} must be a positive integer, got {size!r}")
    return int(size)


def scaled_sizes(key, size):
    """The sizes of question ``key`` with every dimension set to ``size``.

    Parameters
    ----------
    key : str
        ``"Q0"`` … ``"Q4"``.
    size : int
        The one dimension N that all of the model's dimensions take.

    Returns
    -------
    dict
        Keyword arguments for ``QUESTIONS[key].args``.

    Examples
    --------
    >>> scaled_sizes("Q0", 8)
    {'n': 8, 'm': 8, 'p': 8}
    """
    _question(key)
    return _SCALES[key][1](_check_size(size))


@dataclass(frozen=True)
class VJPStep:
    """One edge of the VJP sweep and what its hand rule cost, counted as it ran.

    Attributes
    ----------
    what : str
        The edge, ``"g_H → g_W"``.
    flops : int
        What the rule did (``Xᵀ g_H``: 2·n·m·p).
    adds : int
        Entries added into a cotangent already held (another path's share).
    """

    what: str
    flops: int
    adds: int

    def __str__(self):
        return f"{self.what:20} {self.flops + self.adds:>12,} FLOPs"


def scalar_on_shapes(f, args, wrt, needs):
    """``f`` traced on the shapes of ``args`` (nothing computed), and the inputs for ``wrt``.

    Parameters
    ----------
    needs : str
        What the caller does, for the message if ``f`` is not scalar:
        ``"model_cost prices the gradient of a scalar function"``.

    Returns
    -------
    graph : Graph
        Its values are :class:`~jacobians.abstract.Shaped` arrays of ``tally``.
    sources : list of Node
        The inputs ``wrt`` names.
    tally : Tally
        What tracing counted: the forward pass's FLOPs and bytes.
    """
    indices, _ = wrt_indices(wrt, len(args))
    tally = Tally()
    graph = trace_graph(f, *(tally.array(np.shape(a), held=False) for a in args))
    if graph.output.ndim != 0:
        raise ValueError(f"{needs}, but f returns shape {graph.output.shape}")
    return graph, [graph.inputs[i] for i in indices], tally


@dataclass(frozen=True)
class ModelCost:
    """FLOPs and bytes of the naive chain and of the VJP sweep, counted on shapes.

    Bytes are float64 (8 per entry), and "held" means the most held at once
    besides the inputs the caller holds anyway, forward values included.
    FLOPs follow :mod:`jacobians.abstract`: one per entry of an elementwise
    operation or a reduction's input, two per term of a summed product
    (``X @ W`` with X n×m and W m×p costs 2·n·m·p).

    Attributes
    ----------
    forward_flops : int
        The forward pass, which both ways run first.
    naive_local_bytes : int
        Every distinct local Jacobian the naive chain materialises.
    naive_peak_bytes : int
        What the naive chain in reverse order holds at its peak: what
        :func:`jacobians.jacobian` checks against the memory limit.
    naive_forward_flops, naive_reverse_flops, naive_optimal_flops : int
        The naive chain in each order, as :func:`jacobians.jacobian` runs it
        (in reverse order one sweep serves every argument; in the others
        each argument has its own chain, and their counts are summed).
    vjp_flops : int
        The whole VJP sweep: its steps' FLOPs and additions.
    vjp_bytes : int
        What the VJP sweep holds at its peak.
    vjp_steps : tuple of VJPStep
        The sweep, edge by edge.
    """

    forward_flops: int
    naive_local_bytes: int
    naive_peak_bytes: int
    naive_forward_flops: int
    naive_reverse_flops: int
    naive_optimal_flops: int
    vjp_flops: int
    vjp_bytes: int
    vjp_steps: tuple = ()

    @property
    def naive_bytes(self):
        """What the naive chain holds at its peak (``naive_peak_bytes``)."""
        return self.naive_peak_bytes

    def naive_flops(self, order="reverse"):
        """The naive chain's FLOPs in ``order`` (one of ``ORDERS``)."""
        return getattr(self, f"naive_{check_order(order)}_flops")

    @property
    def flop_ratio(self):
        """Naive FLOPs in reverse order over VJP FLOPs: the predicted speed-up.

        Infinite when the VJP sweep does no arithmetic at all (a sum of a
        sum: its rules only pass gradients on or broadcast them) and the naive
        chain does some.
        """
        if not self.vjp_flops:
            return math.inf if self.naive_reverse_flops else 1.0
        return self.naive_reverse_flops / self.vjp_flops

    def __str__(self):
        fewer = (f"{self.flop_ratio:.1f}× fewer than naive reverse" if self.vjp_flops else
                 "no arithmetic: its rules only pass gradients on")
        return (f"naive: {format_bytes(self.naive_bytes)} held, FLOPs forward "
                f"{self.naive_forward_flops:,} / reverse {self.naive_reverse_flops:,} / "
                f"optimal {self.naive_optimal_flops:,}\n"
                f"VJP:   {format_bytes(self.vjp_bytes)} held, {self.vjp_flops:,} FLOPs ({fewer})")


def model_cost(f, args, wrt=0):
    """Count what the naive chain and the VJP sweep of scalar ``f`` cost.

    ``f`` is traced on shapes alone, then :func:`jacobians.jacobian`'s naive
    chains and :func:`jacobians.grad`'s sweep are run on shapes: nothing is
    computed or allocated, so any size can be priced.

    Parameters
    ----------
    f : callable
        A scalar function built from the library's ops.
    args : sequence of array_like
        Its arguments; only their shapes are read.
    wrt : int or tuple of int
        The argument(s) differentiated.

    Returns
    -------
    ModelCost

    Notes
    -----
    For ``H = X W`` with X n×m and W m×p, the local Jacobian
    ``∂H_ab/∂W_cd = X_ac δ_bd`` has n·p·m·p entries; the VJP step that
    replaces it, ``Xᵀ g``, reads n·p + n·m entries and costs 2·n·m·p FLOPs.
    Pulling a cotangent back costs about what the forward op did;
    contracting a materialised Jacobian costs its size.

    >>> import jacobians as jac
    >>> f = lambda W, X: jac.sum(X @ W)
    >>> cost = model_cost(f, (np.ones((3, 2)), np.ones((4, 3))))
    >>> cost.naive_local_bytes == 8 * (4 * 2 + 4 * 2 * 3 * 2)   # ∂sum/∂H, ∂H/∂W
    True
    """
    graph, sources, tally = scalar_on_shapes(f, args, wrt, "model_cost prices the gradient "
                                                           "of a scalar function")
    # Each distinct plan once: in reverse order every source shares one.
    plans = {order: {id(p): p for p in naive_plans(graph, sources, order)}.values()
             for order in ORDERS}
    flops = {order: sum(p.flops for p in plans[order]) for order in ORDERS}
    (reverse_plan,) = plans["reverse"]
    vjp_tally, record = Tally(), []
    gradient_sweep(graph, sources, shaped_values(graph, vjp_tally), record)
    steps = tuple(VJPStep(f"g_{e.child.name} → g_{e.parent.name}", e.flops, e.adds)
                  for e in record)
    return ModelCost(tally.flops, sum(local.nbytes for local in reverse_plan.locals),
                     reverse_plan.held_bytes, flops["forward"], flops["reverse"],
                     flops["optimal"], sum(s.flops + s.adds for s in steps), vjp_tally.peak,
                     steps)


@dataclass(frozen=True)
class Measurement:
    """Wall time and peak memory of the naive chain and of the VJP sweep.

    Attributes
    ----------
    naive, vjp : Timing or None
        Median and IQR over interleaved runs; ``naive`` is None when it was
        not run because it would not fit in memory.
    naive_peak, vjp_peak : int or None
        Peak bytes traced (``tracemalloc``) during one separate run of each.
    """

    naive: object
    vjp: object
    naive_peak: int = None
    vjp_peak: int = None

    @property
    def time_ratio(self):
        """Naive median time over VJP median time: the measured speed-up."""
        return None if self.naive is None else self.naive.median / self.vjp.median

    def __str__(self):
        naive = (f"naive {self.naive}, peak {format_bytes(self.naive_peak)}; "
                 if self.naive else "naive not run; ")
        ratio = f"; {self.time_ratio:.1f}× slower" if self.naive else ""
        return f"{naive}VJP {self.vjp}, peak {format_bytes(self.vjp_peak)}{ratio}"


def measure(f, args, wrt=0, repeat=15, naive=True):
    """Time the naive chain (reverse order) against ``jac.grad``, and their peaks.

    Both include tracing ``f``: each is what a user would call. The two are
    timed interleaved in one process; each peak comes from one further run
    under ``tracemalloc``, apart from the timing (tracing slows the runs).

    Parameters
    ----------
    f, args, wrt
        As in :func:`model_cost`.
    repeat : int
        Timed rounds.
    naive : bool
        Whether to run the naive chain at all; check that it fits first.

    Returns
    -------
    Measurement
    """
    repeat = _check_size(repeat, "repeat")
    args = tuple(args)
    runs = {"vjp": lambda: grad(f, wrt)(*args)}
    if naive:
        runs["naive"] = lambda: jacobian(f, wrt, order="reverse")(*args)
    times = interleaved(runs, repeat=repeat)
    peaks = {name: measure_peak(run)[1] for name, run in runs.items()}
    return Measurement(times.get("naive"), times["vjp"], peaks.get("naive"), peaks["vjp"])


@dataclass(frozen=True)
class CostRow:
    """One model at one size: its counted costs, measured costs and a note.

    Attributes
    ----------
    key : str
        The question, ``"Q0"``.
    sizes : tuple of (str, object)
        The sizes its arguments were made with.
    model : ModelCost
    measured : Measurement or None
        None when nothing was measured.
    note : str
        Why something was not measured, or ``""``.
    """

    key: str
    sizes: tuple
    model: ModelCost
    measured: Measurement = None
    note: str = ""

    @property
    def label(self):
        """The sizes in words: ``"n=4 m=3 p=2"``."""
        return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
                        for k, v in self.sizes if v is not None)

    def __str__(self):
        lines = [f"{self.key} ({self.label})", str(self.model)]
        if self.measured is not None:
            lines.append(f"measured: {self.measured}")
        if self.note:
            lines.append(f"note: {self.note}")
        return "\n".join(lines)


def cost_row(key, size=None, measure_time=True, repeat=15):
    """Count, and measure where memory allows, one question's two gradients.

    Parameters
    ----------
    key : str
        ``"Q0"`` … ``"Q4"``.
    size : int, optional
        Scale every dimension to this (see :func:`scaled_sizes`); by default
        the question's own sizes.
    measure_time : bool
        Whether to time and trace the runs; without it only the model is filled.
    repeat : int
        Timed rounds.

    Returns
    -------
    CostRow
        The naive run is skipped, with a note, when its arrays would exceed
        :func:`jacobians.get_memory_limit`; its counts are still there.

    Examples
    --------
    >>> print(cost_row("Q0", measure_time=False).model.naive_reverse_flops)
    232
    """
    q = _question(key)
    sizes = q.sizes if size is None else {**q.sizes, **scaled_sizes(key, size)}
    args = q.args(**sizes)
    model = model_cost(q.function, args, q.wrt)
    if not measure_time:
        return CostRow(key, tuple(sizes.items()), model)
    limit = get_memory_limit()
    fits = model.naive_peak_bytes <= limit  # the very test jac.jacobian applies
    note = "" if fits else (f"naive not run: it would hold {format_bytes(model.naive_peak_bytes)}"
                            f", over the memory limit of {format_bytes(limit)}")
    measured = measure(q.function, args, q.wrt, repeat, naive=fits)
    return CostRow(key, tuple(sizes.items()), model, measured, note)


def _measured(attribute, median=False):
    """Read one measured quantity off a row: None where nothing was measured."""
    def value(row):
        got = None if row.measured is None else getattr(row.measured, attribute)
        return got.median if median and got is not None else got
    return value


# Every quantity a sweep tracks, by name, read off one row (None when absent).
SERIES = {
    "naive bytes": lambda row: row.model.naive_bytes,
    "naive FLOPs, forward": lambda row: row.model.naive_forward_flops,
    "naive FLOPs, reverse": lambda row: row.model.naive_reverse_flops,
    "naive FLOPs, optimal": lambda row: row.model.naive_optimal_flops,
    "VJP FLOPs": lambda row: row.model.vjp_flops,
    "VJP bytes": lambda row: row.model.vjp_bytes,
    # An infinite ratio (a sweep without arithmetic) has no place on a log scale.
    "FLOP ratio": lambda row: row.model.flop_ratio if row.model.vjp_flops else None,
    "naive time": _measured("naive", median=True),
    "VJP time": _measured("vjp", median=True),
    "time ratio": _measured("time_ratio"),
    "naive peak": _measured("naive_peak"),
    "VJP peak": _measured("vjp_peak"),
}


# Growth rates are fitted on each series' three largest sizes, where fixed costs
# no longer bend the lines: the slope at large N is the one the theory predicts.
FIT_LARGEST = 3


def log_log_slope(sizes, values):
    """The exponent k of the power law ``value ∝ sizeᵏ`` that fits best.

    Parameters
    ----------
    sizes, values : sequence of positive float
        At least two points with distinct sizes.

    Returns
    -------
    float
        The slope of the least-squares line through ``(log size, log value)``.

    Examples
    --------
    >>> round(log_log_slope([1, 2, 4], [3, 48, 768]), 6)
    4.0
    """
    x, y = np.asarray(sizes, dtype=float), np.asarray(values, dtype=float)
    if x.shape != y.shape or len(np.unique(x)) < 2:
        raise ValueError(f"a slope needs at least two distinct sizes, each with one value; "
                         f"got sizes {list(sizes)} and values {list(values)}")
    if (x <= 0).any() or (y <= 0).any():
        raise ValueError("log-log slopes need positive sizes and values")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@dataclass(frozen=True)
class Sweep:
    """One question's costs over growing sizes, with fitted growth rates.

    Attributes
    ----------
    key : str
    scale : str
        Which dimensions the size sets, ``"n = m = p"``.
    sizes : tuple of int
        Increasing.
    rows : tuple of CostRow
        One per size.
    """

    key: str
    scale: str
    sizes: tuple
    rows: tuple

    def series(self, name):
        """The sizes and values of one quantity of :data:`SERIES`, where it was obtained.

        Returns
        -------
        sizes, values : ndarray, shape ``(k,)``
        """
        if name not in SERIES:
            raise ValueError(f"unknown series {name!r}; the series are {', '.join(SERIES)}")
        points = [(s, SERIES[name](r)) for s, r in zip(self.sizes, self.rows)]
        points = [(s, v) for s, v in points if v is not None]
        return np.array([s for s, _ in points], dtype=float), np.array([v for _, v in points],
                                                                        dtype=float)

    def slopes(self, start=None, largest=None):
        """The fitted log-log slope of every series with at least two points.

        Parameters
        ----------
        start : int, optional
            Fit only sizes from this one on: fixed overheads bend the
            measured lines at small N, and the growth rate is the slope at
            large N.
        largest : int, optional
            Fit only each series' ``largest`` largest sizes (at least 2),
            of those ``start`` keeps: a measured series may stop early
            where the naive chain would not fit in memory.

        Returns
        -------
        dict of str to float

        Examples
        --------
        >>> s = sweep("Q0", [8, 16, 256, 512], measure_time=False)
        >>> round(s.slopes()["VJP bytes"], 2), round(s.slopes(largest=2)["VJP bytes"], 2)
        (1.97, 2.0)
        """
        if largest is not None and (isinstance(largest, bool) or not isinstance(largest, int)
                                    or largest < 2):
            raise ValueError(f"largest must be an integer of at least 2, got {largest!r}")
        fitted = {}
        for name in SERIES:
            x, y = self.series(name)
            keep = x >= (start or 0)
            x, y = x[keep][-(largest or 0):], y[keep][-(largest or 0):]
            if len(x) >= 2:
                fitted[name] = log_log_slope(x, y)
        return fitted

    def __str__(self):
        return cost_table(self.rows, labels=[f"{self.key} N={s}" for s in self.sizes],
                          slopes=self.slopes(largest=FIT_LARGEST))


def sweep(key, sizes, measure_time=True, repeat=7, progress=None):
    """Cost one question at each size, measuring where memory allows.

    Parameters
    ----------
    key : str
        ``"Q0"`` … ``"Q4"``.
    sizes : sequence of int
        At least two distinct sizes; see :func:`scaled_sizes`.
    measure_time : bool
        Whether to time and trace the runs, or only count.
    repeat : int
        Timed rounds per size.
    progress : bool, optional
        Show a progress bar; by default only when standard error is a terminal.

    Returns
    -------
    Sweep
        One row per size, increasing. A size whose naive chain would exceed
        the memory limit is counted, and only its VJP sweep is run; the
        row's note says so.

    Examples
    --------
    >>> s = sweep("Q0", [32, 64, 128], measure_time=False)
    >>> round(s.slopes()["naive bytes"], 1), round(s.slopes()["VJP bytes"], 1)
    (4.0, 2.0)
    """
    _question(key)
    chosen = sorted({_check_size(s, "every size") for s in sizes})
    if len(chosen) < 2:
        raise ValueError(f"a sweep needs at least two distinct sizes, got {list(sizes)}")
    show = sys.stderr.isatty() if progress is None else bool(progress)
    from tqdm import tqdm  # here: importing jacobians does not import tqdm
    rows = tuple(cost_row(key, s, measure_time, repeat)
                 for s in tqdm(chosen, desc=f"{key} sweep", unit="size", disable=not show,
                               leave=False))
    return Sweep(key, _SCALES[key][0], tuple(chosen), rows)


def _count(n):
    """A FLOP count short enough for a table cell: exact below 100,000."""
    if n < 100_000:
        return f"{n:,}"
    for unit, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"


def _seconds(t):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def _ratio(r):
    return f"{r:.3g}×"


# Each column: its header, the series it shows, and how to write one value.
_COLUMNS = (
    ("naive bytes", ("naive bytes",), format_bytes),
    ("naive FLOPs fwd / rev / opt",
     ("naive FLOPs, forward", "naive FLOPs, reverse", "naive FLOPs, optimal"), _count),
    ("VJP FLOPs", ("VJP FLOPs",), _count),
    ("VJP bytes", ("VJP bytes",), format_bytes),
    ("FLOP ratio", ("FLOP ratio",), _ratio),
    ("naive time", ("naive time",), _seconds),
    ("VJP time", ("VJP time",), _seconds),
    ("time ratio", ("time ratio",), _ratio),
    ("naive peak", ("naive peak",), format_bytes),
    ("VJP peak", ("VJP peak",), format_bytes),
)


def _cell(values, write):
    return " / ".join("—" if v is None else write(v) for v in values)


def cost_table(rows, labels=None, slopes=None):
    """The rows as one aligned text table, notes below it.

    Parameters
    ----------
    rows : sequence of CostRow
    labels : sequence of str, optional
        The first column; by default each row's question and sizes.
    slopes : dict, optional
        Fitted slopes by series name (:meth:`Sweep.slopes`), printed as a
        last row under the columns they belong to.

    Returns
    -------
    str
    """
    rows = list(rows)
    labels = [f"{r.key} {r.label}" for r in rows] if labels is None else list(labels)
    # A column no row has a value for (nothing measured) is left out.
    columns = [c for c in _COLUMNS if any(SERIES[s](r) is not None for r in rows for s in c[1])]
    table = [["model"] + [header for header, _, _ in columns]]
    table += [[label] + [_cell([SERIES[s](r) for s in series], write)
                         for _, series, write in columns] for label, r in zip(labels, rows)]
    if slopes is not None:
        table.append(["log-log slope"] + [_cell([slopes.get(s) for s in series], "{:.2f}".format)
                                          for _, series, _ in columns])
    widths = [max(len(line[k]) for line in table) for k in range(len(table[0]))]
    text = ["  ".join([line[0].ljust(widths[0])] + [c.rjust(w) for c, w in
                                                    zip(line[1:], widths[1:])]).rstrip()
            for line in table]
    text.insert(1, "-" * len(text[0]))
    notes = [f"{label}: {r.note}" for label, r in zip(labels, rows) if r.note]
    return "\n".join(text + notes)
