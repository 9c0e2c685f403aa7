"""The memory of reverse mode: what the backward pass keeps, and checkpointing.

A forward pass that only wants the output frees each value as soon as the
last op that reads it has run: a deep chain holds two layers at a time. A
reverse sweep cannot: the VJP of an op reads forward values (``tanh`` its
output, ``g ⊙ (1 − U²)``; ``matmul`` its inputs, ``Xᵀ g`` and ``g Wᵀ``), and
the sweep runs them in reverse order, after the whole forward pass. Every
value some VJP reads is therefore kept from the moment it is made until the
backward pass has passed it: a chain of L layers holds all L of them at the
turn from forward to backward.

* :func:`vjp_reads` finds which values an op's hand VJP reads, by running
  the rule on arrays that have a shape and no values and seeing which of
  them it touches.
* :func:`memory_timeline` follows a traced function step by step, forward
  then backward, counting the bytes held (forward values kept, and live
  cotangents), beside the same forward pass run for inference alone.
  :func:`~jacobians.plot_timeline.plot_memory` draws it.
* :func:`checkpoint_schedule` keeps only every k-th layer's input of a chain
  and recomputes each segment during the backward pass;
  :func:`checkpoint_cost` counts what that holds and recomputes, and
  :func:`checkpointed_grad` runs it on a deep tanh chain. Both walk the same
  schedule, so what is counted is what runs.

Bytes are float64, 8 per entry. The function's inputs and constants are the
caller's, held anyway, and are not counted; every value an op makes is
counted as an array of its own (a reshape too, though NumPy may make a view).
"""
import math
from dataclasses import dataclass

import numpy as np

from .abstract import Shaped, Tally
from .arrays import as_float_array
from .cost import scalar_on_shapes
from .limits import format_bytes
from .ops.base import REGISTRY, Op, param_key, remember

# --- what a VJP reads ---------------------------------------------------------------

# Array functions that read an array's shape and never its values.
_SHAPE_ONLY = {np.zeros_like, np.ones_like, np.empty_like, np.full_like}

# What a Shaped array tells about itself without its values being read.
_METADATA = {"shape", "ndim", "size", "nbytes", "dtype", "tally", "flags", "base", "held",
             "read", "__class__"}


class _Watched(Shaped):
    """A Shaped array that notes whether its values were used.

    Any NumPy call or method on it counts as a read, except asking for its
    shape and making a new array like it (``np.zeros_like``). ``np.shape(a)``
    counts too: the einsum counter asks it of every operand it contracts.
    """

    __slots__ = ("read",)

    def __init__(self, shape, tally):
        super().__init__(shape, tally, held=False)
        self.read = False

    def __getattribute__(self, attribute):
        if attribute not in _METADATA:
            object.__setattr__(self, "read", True)
        return object.__getattribute__(self, attribute)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _mark(inputs + tuple(kwargs.get("out") or ()))
        return super().__array_ufunc__(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func not in _SHAPE_ONLY:
            _mark(args)
            _mark(tuple(kwargs.values()))
        return super().__array_function__(func, types, args, kwargs)


def _mark(items):
    """Note as read every watched array among ``items`` (lists and tuples opened)."""
    for item in items:
        if isinstance(item, _Watched):
            object.__setattr__(item, "read", True)
        elif isinstance(item, (list, tuple)):
            _mark(item)


_READS = {}  # by op, argument, shapes and parameters: what the rule was seen to read


def _reads(op, wrt, shapes, out_shape, params):
    """Which arguments (by position) and whether the output the VJP w.r.t. ``wrt`` reads."""
    key = (op.name, wrt, shapes, out_shape, param_key(params))
    if key not in _READS:
        tally = Tally()
        args = tuple(_Watched(s, tally) for s in shapes)
        out = _Watched(out_shape, tally)
        op.vjp_rule(wrt, tally.array(out_shape, held=False), args, out, **params)
        remember(_READS, key, (tuple(k for k, a in enumerate(args) if a.read), out.read))
    return _READS[key]


def vjp_reads(op, *args, wrt=0, **params):
    """The values an op's hand VJP reads: what reverse mode must keep for it.

    The VJP rule (the one :func:`jacobians.grad` runs) is run on arrays that
    have the shapes of the arguments and no values, and each one it uses is
    noted; asking for a shape is not a use. Only the shapes of ``args`` are
    read.

    Parameters
    ----------
    op : Op
        An operation, ``jac.tanh``.
    *args : array_like
        Its arguments.
    wrt : int
        The argument the VJP pulls back to.
    **params
        The op's parameters (``axis=0``).

    Returns
    -------
    tuple of str
        The names of the arguments and of the output the rule reads, as the
        op prints them (``jac.matmul`` calls its arguments ``X, W`` and its
        output ``H``); ``()`` when it needs no forward value at all.

    Notes
    -----
    For ``U = tanh(Z)`` the VJP is ``g ⊙ (1 − U²)``: it reads the output,
    not the input. For ``H = X W`` it is ``Xᵀ g`` w.r.t. ``W`` and
    ``g Wᵀ`` w.r.t. ``X``: each reads the *other* argument. For a sum it is
    ``g`` broadcast back to the input's shape: it reads nothing.

    Examples
    --------
    >>> import jacobians as jac
    >>> X, W = np.ones((4, 3)), np.ones((3, 2))
    >>> jac.vjp_reads(jac.tanh, X), jac.vjp_reads(jac.matmul, X, W, wrt=1)
    (('U',), ('X',))
    >>> jac.vjp_reads(jac.sum, X)
    ()
    """
    if not isinstance(op, Op):
        name = getattr(op, "__name__", op)
        hint = f"jac.{name}" if name in REGISTRY else "an op of jac.REGISTRY, e.g. jac.tanh"
        raise TypeError(f"vjp_reads takes one of the library's ops, whose VJP rule it runs: "
                        f"{hint}, not {op!r}")
    args, params = op.split(args, params)
    op.check_call(args, params)
    wrt = op._wrt(wrt, len(args))
    tally = Tally()
    shaped = tuple(tally.array(np.shape(a), held=False) for a in args)
    out = op.value_at(shaped, **params)
    positions, output = _reads(op, wrt, tuple(a.shape for a in shaped), out.shape, params)
    names = op.names(shaped, out)
    return tuple(names[k] for k in positions) + ((names[-1],) if output else ())


# --- the timeline of one reverse sweep ---------------------------------------------

@dataclass(frozen=True)
class MemoryStep:
    """The bytes held during one step of a sweep, at the step's height.

    A step's height is after it has made its result and before it frees
    what it no longer needs: its arguments and its result are held together.

    Attributes
    ----------
    phase : str
        ``"forward"``, ``"recompute"`` (a segment run again during the
        backward pass) or ``"backward"``.
    node : str
        The value made (forward), or the node whose cotangent is pulled back.
    values : int
        Bytes of forward values held.
    cotangents : int
        Bytes of cotangents held, the gradients being accumulated included.
    """

    phase: str
    node: str
    values: int
    cotangents: int

    @property
    def held(self):
        """Bytes held in all: ``values + cotangents``."""
        return self.values + self.cotangents


@dataclass(frozen=True)
class MemoryTimeline:
    """Bytes held step by step by a reverse sweep, and by the forward pass alone.

    Attributes
    ----------
    steps : tuple of MemoryStep
        The sweep: every forward step, then every backward step.
    inference : tuple of MemoryStep
        The same forward pass run for its output alone, each value freed
        once the last op that reads it has run.
    kept : tuple of (str, int)
        The forward values some VJP reads, with their bytes, in the order
        they are made: what the sweep keeps past their last forward use.
    """

    steps: tuple
    inference: tuple
    kept: tuple

    @property
    def peak(self):
        """The most bytes the sweep holds at once."""
        return max((s.held for s in self.steps), default=0)

    @property
    def peak_step(self):
        """The index in :attr:`steps` of the first step at the peak (None without steps)."""
        held = [s.held for s in self.steps]
        return held.index(self.peak) if held else None

    @property
    def inference_peak(self):
        """The most bytes the forward pass alone holds at once."""
        return max((s.held for s in self.inference), default=0)

    @property
    def kept_bytes(self):
        """Bytes of every forward value kept for the backward pass."""
        return sum(nbytes for _, nbytes in self.kept)

    def table(self):
        """Every step as one line: phase, node, values, cotangents and bytes held."""
        width = max([len(s.node) for s in self.steps] + [4])
        lines = [f"{'step':>4}  {'phase':9}  {'node':{width}}  {'values':>10}  "
                 f"{'cotangents':>10}  {'held':>10}"]
        for k, s in enumerate(self.steps):
            lines.append(f"{k:>4}  {s.phase:9}  {s.node:{width}}  {format_bytes(s.values):>10}  "
                         f"{format_bytes(s.cotangents):>10}  {format_bytes(s.held):>10}")
        return "\n".join(lines)

    def __str__(self):
        at = self.steps[self.peak_step] if self.steps else None
        where = f", at {at.phase} step {self.peak_step} ({at.node})" if at else ""
        ratio = (f" ({self.peak / self.inference_peak:.1f}× inference)"
                 if self.inference_peak else "")
        names = [name for name, _ in self.kept]
        if len(names) > 6:  # a deep chain: its first and last few
            names = names[:3] + ["…"] + names[-2:]
        names = ", ".join(names) or "nothing"
        return (f"reverse sweep: peak {format_bytes(self.peak)}{where}{ratio}\n"
                f"inference:     peak {format_bytes(self.inference_peak)}\n"
                f"kept for the backward pass: {format_bytes(self.kept_bytes)} in "
                f"{len(self.kept)} value(s): {names}")


def _nbytes(node):
    return node.size * 8


def _saved_readers(graph, active):
    """Each forward value some VJP reads, with the backward steps that read it.

    Returns
    -------
    dict of int to set of int
        By node index of an op's value, the indices of the nodes whose
        backward step reads it.
    """
    readers = {}
    for child in graph.nodes[:graph.output.index + 1]:
        if child.op is None or not active[child.index]:
            continue
        for k, parent in enumerate(child.parents):
            if not active[parent.index]:
                continue
            positions, output = _reads(child.op, k, tuple(p.shape for p in child.parents),
                                       child.shape, child.params)
            read = [child.parents[j] for j in positions] + ([child] if output else [])
            for node in read:
                if node.op is not None:  # inputs and constants are the caller's
                    readers.setdefault(node.index, set()).add(child.index)
    return readers


def _forward_steps(graph, keep):
    """The forward pass, holding each value until its last reader has run or, in ``keep``,
    to the end. The output is kept: it is the result."""
    last = {}
    ops = [n for n in graph.nodes[:graph.output.index + 1] if n.op is not None]
    for node in ops:
        for p in node.parents:
            last[p.index] = node.index
    held, steps = {}, []
    for node in ops:
        held[node.index] = _nbytes(node)
        steps.append(MemoryStep("forward", node.name, sum(held.values()), 0))
        done = [p.index for p in node.parents] + [node.index]
        for index in set(done):
            if index in held and index not in keep and index != graph.output.index \
                    and last.get(index, -1) <= node.index:
                del held[index]
    return steps, held


def _backward_steps(graph, active, readers, held):
    """The backward pass from the values ``held`` at the turn: one step per active op."""
    # A kept value is freed after the last backward step that reads it: the earliest node.
    free_after = {}
    for index, steps in readers.items():
        free_after.setdefault(min(steps), []).append(index)
    cotangent = {graph.output.index: _nbytes(graph.output)}
    steps = []
    for node in reversed(graph.nodes[:graph.output.index + 1]):
        if node.op is None or not active[node.index]:
            continue
        for p in node.parents:
            if active[p.index] and p.index not in cotangent:
                cotangent[p.index] = _nbytes(p)
        steps.append(MemoryStep("backward", node.name, sum(held.values()),
                                sum(cotangent.values())))
        del cotangent[node.index]  # pulled back: nothing reads it again
        for index in free_after.get(node.index, ()):
            if index != graph.output.index:
                held.pop(index, None)
    return steps


def memory_timeline(f, args, wrt=0):
    """Follow the reverse sweep of ``f`` step by step, counting the bytes it holds.

    ``f`` is traced on shapes alone (nothing is computed), then the forward
    pass and the backward pass of :func:`jacobians.grad` are walked one op
    at a time. A forward value is held from the step that makes it until
    the last step that reads it: its last reader in the forward pass, or,
    when a VJP reads it (:func:`vjp_reads`), the last backward step that
    does. A cotangent is held from the first backward step that pulls a
    share into it until its own node's step has pulled it back; a source's
    cotangent (the gradient) to the end. The same forward pass, run for its
    output alone, is counted beside it.

    Parameters
    ----------
    f : callable
        A function written with NumPy on traced values.
    args : sequence of array_like
        Its arguments; only their shapes are read.
    wrt : int or tuple of int
        The argument(s) differentiated.

    Returns
    -------
    MemoryTimeline

    Notes
    -----
    For a chain ``x_{l+1} = tanh(x_l W_l)`` of L layers, each of n×d
    entries, ``tanh`` keeps its output and ``matmul`` its inputs, so every
    ``x_l`` (l ≥ 1) is kept and ``Z_l = x_l W_l`` is not: at the turn the
    sweep holds L·8nd bytes, where inference held two layers, 16nd.

    Examples
    --------
    >>> import jacobians as jac
    >>> def f(x, W):
    ...     return np.sum(np.tanh(x @ W))
    >>> timeline = jac.memory_timeline(f, (np.ones((1, 3)), np.ones((3, 2))), wrt=1)
    >>> [(s.phase, s.node, s.values, s.cotangents) for s in timeline.steps]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('forward', 'matmul', 16, 0), ('forward', 'tanh', 32, 0), ('forward', 'sum', 24, 0),
     ('backward', 'sum', 24, 24), ('backward', 'tanh', 24, 32), ('backward', 'matmul', 8, 64)]
    >>> timeline.kept, timeline.peak, timeline.inference_peak
    ((('tanh', 16),), 72, 32)
    """
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"memory_timeline(f, args, wrt): args is the tuple of f's arguments, "
                        f"(x, W); got a {type(args).__name__}")
    graph, sources, _ = scalar_on_shapes(f, tuple(args), wrt, "memory_timeline follows "
                                                              "jac.grad, which needs a scalar "
                                                              "function")
    active = graph.active(sources)
    readers = _saved_readers(graph, active)
    inference, _ = _forward_steps(graph, keep=set())
    forward, held = _forward_steps(graph, keep=set(readers))
    backward = _backward_steps(graph, active, readers, held)
    kept = tuple((n.name, _nbytes(n)) for n in graph.nodes if n.index in readers)
    return MemoryTimeline(tuple(forward + backward), tuple(inference), kept)


# --- checkpointing a chain of layers -----------------------------------------------

def _check_layers(layers):
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"a chain needs a positive whole number of layers, got {layers!r}")
    return int(layers)


def _check_every(every, layers):
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) \
            or not 1 <= every <= layers:
        raise ValueError(f"every must be a whole number from 1 (keep every layer's input) to "
                         f"the number of layers, {layers} (keep only the first input); got "
                         f"{every!r}")
    return int(every)


def checkpoint_schedule(layers, every):
    """The order in which a checkpointed chain computes, frees and pulls back.

    The chain ``x_{l+1} = layer_l(x_l)``, l = 0 … L−1, ends in a loss of
    ``x_L``. The forward pass keeps ``x_l`` only when l is a multiple of
    ``every`` (the checkpoints) and the output ``x_L``. The backward pass
    then takes the segments ``[a, b)`` between checkpoints last to first:
    it recomputes ``x_{a+1} … x_{b−1}`` from the checkpoint ``x_a`` (``x_b``
    is held already), pulls the cotangent back through layers b−1 … a, and
    frees each ``x_{l+1}`` once layer l has been pulled back through. A
    layer's backward step reads its input and its output only, as the tanh
    layer's does (``tanh`` keeps its output, ``matmul`` its inputs).

    Parameters
    ----------
    layers : int
        L, the number of layers.
    every : int
        k, from 1 (every layer's input kept: nothing recomputed) to L (only
        ``x_0`` kept: all but the last layer recomputed).

    Returns
    -------
    tuple of (str, int)
        Steps in order: ``("forward", l)`` and ``("recompute", l)`` make
        ``x_{l+1}`` from ``x_l``; ``("backward", l)`` pulls the cotangent of
        ``x_{l+1}`` back through layer l; ``("free", j)`` drops ``x_j``.
        ``x_0`` is the caller's and never freed.

    Raises
    ------
    ValueError
        If ``layers`` < 1 or ``every`` is not in 1 … ``layers``.

    Examples
    --------
    >>> checkpoint_schedule(3, 2)  # doctest: +NORMALIZE_WHITESPACE
    (('forward', 0), ('forward', 1), ('free', 1), ('forward', 2), ('backward', 2),
     ('free', 3), ('recompute', 0), ('backward', 1), ('free', 2), ('backward', 0),
     ('free', 1))
    """
    L = _check_layers(layers)
    k = _check_every(every, L)
    steps = []
    for i in range(L):
        steps.append(("forward", i))
        if i % k:  # not a checkpoint: dropped once the next layer has read it
            steps.append(("free", i))
    for start in reversed(range(0, L, k)):
        stop = min(start + k, L)
        steps += [("recompute", i) for i in range(start, stop - 1)]
        for i in reversed(range(start, stop)):
            steps += [("backward", i), ("free", i + 1)]
    return tuple(steps)


@dataclass(frozen=True)
class CheckpointCost:
    """What a checkpointed chain holds and recomputes, counted on its schedule.

    Attributes
    ----------
    layers : int
        L.
    every : int
        k: every k-th layer's input is kept.
    checkpoints : int
        Layer inputs the forward pass keeps, ⌈L/k⌉ (``x_0`` among them).
    recomputed : int
        Layers run a second time in the backward pass, L − ⌈L/k⌉.
    peak_bytes : int
        The most bytes of layer values and their cotangents held at once.
    forward_flops : int
        The forward pass, L layers.
    extra_flops : int
        The recomputation.
    timeline : MemoryTimeline
        Step by step; its ``inference`` is the forward pass alone.
    layer_bytes : int
        Bytes of one layer's value; 1 when the counts are in layers.
    """

    layers: int
    every: int
    checkpoints: int
    recomputed: int
    peak_bytes: int
    forward_flops: int
    extra_flops: int
    timeline: MemoryTimeline
    layer_bytes: int = 1

    def __str__(self):
        peak = f"{self.peak_bytes} layer(s)" if self.layer_bytes == 1 else \
            f"{self.peak_bytes:,} B"
        return (f"L = {self.layers}, k = {self.every}: {self.checkpoints} checkpoint(s), "
                f"peak {peak}, {self.recomputed} layer(s) run twice "
                f"(+{self.extra_flops:,} FLOPs)")


def _schedule_timeline(layers, every, layer_bytes):
    """Walk the schedule counting layer-sized arrays: values, and cotangents."""
    L = layers
    values, cotangents, steps = set(), 0, []
    for action, i in checkpoint_schedule(L, every):
        if action == "free":
            values.discard(i)
            continue
        if action == "backward":
            # The loss ½‖x_L‖² has the cotangent x_L itself: the seed costs nothing.
            # Pulling back makes the cotangent of x_l (not needed for x_0).
            cotangents += i > 0
            steps.append(MemoryStep(action, f"x{i + 1}", len(values) * layer_bytes,
                                    cotangents * layer_bytes))
            cotangents -= i < L - 1  # the cotangent of x_{i+1}, pulled back, is dropped
            continue
        values.add(i + 1)
        steps.append(MemoryStep(action, f"x{i + 1}", len(values) * layer_bytes,
                                cotangents * layer_bytes))
    return steps


def checkpoint_cost(layers, every, layer_bytes=1, layer_flops=1):
    """Count the memory and the recomputation of a checkpointed chain of layers.

    Walks :func:`checkpoint_schedule` counting the layer values held
    (``x_0``, the caller's, left out) and the cotangents of layer values.
    The chain ends in the loss ``½‖x_L‖²``, whose cotangent is ``x_L``
    itself. The weights and their gradients are the same for every k and
    are not counted.

    Parameters
    ----------
    layers : int
        L.
    every : int
        k, from 1 to L.
    layer_bytes : int
        Bytes of one layer's value (8 per float64 entry); the counts are in
        layers with the default 1.
    layer_flops : int
        FLOPs of one layer's forward step.

    Returns
    -------
    CheckpointCost

    Raises
    ------
    ValueError
        If ``layers`` < 1 or ``every`` is not in 1 … ``layers``.

    Notes
    -----
    With k dividing L, the forward pass keeps L/k checkpoints, and the last
    segment, recomputed, adds k − 1 values besides ``x_L``; with the
    cotangent being pulled back that is a peak of L/k + k layers, least at
    k = √L: 2√L, against L + 1 for k = 1 (keep every layer) and for k = L
    (keep only ``x_0``, then recompute and hold the whole chain again). The
    price is L − L/k layers run twice: none for k = 1, L − √L for k = √L.

    Examples
    --------
    >>> [checkpoint_cost(16, k).peak_bytes for k in (1, 2, 4, 8, 16)]
    [17, 10, 8, 10, 17]
    >>> print(checkpoint_cost(16, 4, layer_bytes=800, layer_flops=100))
    L = 16, k = 4: 4 checkpoint(s), peak 6,400 B, 12 layer(s) run twice (+1,200 FLOPs)
    """
    L = _check_layers(layers)
    k = _check_every(every, L)
    for name, value in (("layer_bytes", layer_bytes), ("layer_flops", layer_flops)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a whole number ≥ 0, got {value!r}")
    steps = _schedule_timeline(L, k, layer_bytes)
    inference = [MemoryStep("forward", f"x{i + 1}", min(i + 1, 2) * layer_bytes, 0)
                 for i in range(L)]
    checkpoints = math.ceil(L / k)
    kept = tuple((f"x{i}", layer_bytes) for i in range(k, L, k)) + ((f"x{L}", layer_bytes),)
    timeline = MemoryTimeline(tuple(steps), tuple(inference), kept)
    recomputed = L - checkpoints
    return CheckpointCost(L, k, checkpoints, recomputed, timeline.peak, L * layer_flops,
                          recomputed * layer_flops, timeline, layer_bytes)


def tanh_chain(x, *weights):
    """The loss ``½‖x_L‖²`` of the chain ``x_{l+1} = tanh(x_l W_l)``: the model of
    :func:`checkpointed_grad`, written in NumPy so that :func:`jacobians.grad` traces it.

    Parameters
    ----------
    x : array_like, shape (n, d_0)
        A batch of n rows.
    *weights : array_like, shapes (d_l, d_{l+1})

    Returns
    -------
    float or traced value
    """
    for W in weights:
        x = np.tanh(x @ W)
    return 0.5 * np.sum(x * x)


def _check_chain(x, weights):
    if not weights:
        raise ValueError("a chain needs at least one weight matrix")
    if np.ndim(x) != 2:
        raise ValueError(f"x must be a batch of rows, shape (n, d); got shape {np.shape(x)} "
                         f"(one example is x of shape (1, d))")
    width = np.shape(x)[1]
    for i, W in enumerate(weights):
        if np.ndim(W) != 2 or np.shape(W)[0] != width:
            raise ValueError(f"layer {i}: W_{i} has shape {np.shape(W)}, but x_{i} has {width} "
                             f"column(s); x_{i} W_{i} needs shape ({width}, d)")
        width = np.shape(W)[1]


def _layer(W, x):
    return np.tanh(x @ W)


def _layer_backward(g, W, x, y, first):
    """Layer ``y = tanh(x W)`` pulled back: ``G = g ⊙ (1 − y²)``, then ``xᵀ G`` and ``G Wᵀ``.

    Reads its input x and its output y, never ``x W``. The first layer's
    input is the data: its cotangent is not made.
    """
    G = 1 - y * y
    G *= g
    return x.T @ G, None if first else G @ W.T


def checkpointed_grad(x, weights, every):
    """The gradient of :func:`tanh_chain` by weight, holding only checkpoints and one segment.

    Runs :func:`checkpoint_schedule`: the forward pass keeps every
    ``every``-th layer's input and the output; the backward pass recomputes
    each segment from its checkpoint, then pulls the cotangent back through
    it with each layer's hand VJP, freeing every value as soon as the
    schedule says. It runs as well on :class:`~jacobians.abstract.Shaped`
    arrays, whose tally then counts the bytes it holds.

    Parameters
    ----------
    x : array_like, shape (n, d_0)
        The input batch, one example per row.
    weights : sequence of array_like, shapes (d_l, d_{l+1})
        W_0 … W_{L−1}.
    every : int
        k, from 1 (nothing recomputed) to L (only x kept).

    Returns
    -------
    loss : float
        ``½‖x_L‖²``.
    grads : list of ndarray
        ``∂loss/∂W_l``, shaped like each ``W_l``: what ``jac.grad(tanh_chain,
        wrt=(1, …, L))(x, *weights)`` returns.

    Raises
    ------
    ValueError
        If the shapes do not chain, or ``every`` is not in 1 … L.

    Notes
    -----
    Layer l's backward step, with ``g`` the cotangent of ``x_{l+1}``:
    ``G = g ⊙ (1 − x_{l+1}²)``, ``∂loss/∂W_l = x_lᵀ G`` and the cotangent
    of ``x_l`` is ``G W_lᵀ``. It reads ``x_l`` and ``x_{l+1}``: both are
    layer inputs, so k = 1 keeps all it needs.

    Examples
    --------
    >>> import jacobians as jac
    >>> rng = np.random.default_rng(0)
    >>> x, weights = rng.standard_normal((2, 3)), list(rng.standard_normal((6, 3, 3)))
    >>> loss, grads = checkpointed_grad(x, weights, every=2)
    >>> expected = jac.grad(tanh_chain, wrt=tuple(range(1, 7)))(x, *weights)
    >>> all(np.allclose(a, b) for a, b in zip(grads, expected))
    True
    """
    def array(a, what):  # Shaped arrays are counted as they are
        return a if isinstance(a, Shaped) else as_float_array(a, f"checkpointed_grad: {what}")
    x = array(x, "x")
    weights = [array(W, f"W_{i}") for i, W in enumerate(weights)]
    _check_chain(x, weights)
    L = len(weights)
    schedule = checkpoint_schedule(L, every)
    values, grads, g = {0: x}, [None] * L, None
    for action, i in schedule:
        if action in ("forward", "recompute"):
            values[i + 1] = _layer(weights[i], values[i])
        elif action == "free":
            del values[i]
        else:
            if g is None:  # ∂(½‖x_L‖²)/∂x_L = x_L
                g = values[L]
                loss = 0.5 * np.sum(g * g)
            grads[i], g = _layer_backward(g, weights[i], values[i], values[i + 1], i == 0)
    return loss, grads
