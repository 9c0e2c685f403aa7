"""Random graphs nobody wrote by hand, over every op, differentiated every way the library knows.

Hypothesis draws small programs: two to eight steps over one to three inputs,
each step reading any earlier values (so variables are shared, read twice by
one step, broadcast against each other), ending in a scalar or an array of
any shape. Each step exercises one op of ``jac.REGISTRY`` — every op has
steps, and a test below holds that to be so — and is written two ways, drawn
at random: with the ``jac.`` op, or as plain NumPy on the traced value
(``np.tanh(x)``, ``x.sum(axis=0, keepdims=True)``, ``x[idx]``, ``x @ y``,
``np.where(x > 0, x, y)``, ``np.einsum``, ``np.concatenate``). An op is drawn
first, then one of its steps (a variant: an einsum spec, an index, an axis),
then operands of shapes on which both of the step's spellings run; values
have at most ``LARGEST_SIZE`` entries, and may have none (``x[None, 1:]`` of
a one-entry vector).

The truth is central finite differences of the program spelled all in NumPy
and run on plain arrays, so NumPy computes every value itself; the program as
drawn, traced or run on plain arrays, must give its values. Against it are
held the naive chain in all three orders, the reverse and forward sweeps with
each rule (hand, derived, dense), ``vjp``, ``jvp``, and for a scalar output
``grad`` and ``derive``; and the exact ways are held to each other, far more
tightly than to finite differences.

Where a step has no derivative (abs and relu at 0, ties of max, min, maximum
and minimum, clip at its bounds, ``np.where(x > 0, …)`` at 0, a norm at 0)
a finite difference across the kink would be wrong, not the library: a draw
whose operands come within ``KINK`` of one is discarded. So is one whose
values grow past ``LARGEST_VALUE``, where NumPy's ``exp`` in a softmax would
overflow and finite differences lose their digits. Tolerances are
:func:`~jacobians.check.compare`'s defaults.
"""
import functools
import inspect
import math

import numpy as np

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.graph import trace_graph
from jacobians.sweep import DENSE, DERIVED, HAND, forward, reverse

# The inputs' shapes: matrices M and S (square), vectors v and u, a scalar s, a batch B.
INPUTS = {"M": (2, 3), "S": (2, 2), "v": (3,), "u": (2,), "s": (), "B": (2, 2, 3)}
LARGEST_SIZE = 12     # entries of the largest value a step may make
LARGEST_VALUE = 50.0  # entries of no value may be larger
KINK = 1e-3           # how near a kink an operand may be (finite differences step 1e-6)
EXACT = {"rtol": 1e-8, "atol": 1e-10}  # how closely the exact ways agree with each other


def _positive(x):
    """``1 + x²`` with jac ops: what log, sqrt, a fractional power or cross entropy reads."""
    return jac.add(1.0, jac.square(x))


def _mask(*arrays):
    """A constant checkerboard mask of the arrays' broadcast shape."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    return np.indices(shape).sum(axis=0) % 2 == 0


def _dot(x, y):
    """``np.dot`` with jac ops, for vectors and matrices: there it is matmul (not for N-d)."""
    if max(np.ndim(x), np.ndim(y)) > 2:
        raise ValueError("np.dot of N-d arrays sums other axes than matmul does")
    return jac.matmul(x, y)


def _swapped(ndim):
    """The axes of ``np.swapaxes(x, -1, -2)``, for ``jac.transpose``."""
    return (*range(ndim - 2), ndim - 1, ndim - 2)


def _attention(q, k, v):
    """``softmax(q kᵀ/√d) v`` in NumPy: the scores of each query normalised over the keys."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))  # shifted: no overflow
    return (weights / weights.sum(axis=-1, keepdims=True)) @ v


def _windows(n, taps, stride=1, padding=0):
    """Where each window's taps read along an axis of ``n`` entries padded at both ends."""
    starts = stride * np.arange((n + 2 * padding - taps) // stride + 1) - padding
    return starts[:, None] + np.arange(taps) + padding


def _padded(x, padding, axis):
    """``x`` with ``padding`` zeros at both ends of ``axis``."""
    zeros = np.zeros(x.shape[:axis] + (padding,) + x.shape[axis + 1:])
    return np.concatenate([zeros, x, zeros], axis=axis)


def _conv1d(x, w, stride=1, padding=1):
    """A convolution in NumPy: pad, read every window, sum over channels and taps."""
    windows = _windows(x.shape[2], w.shape[2], stride, padding)
    return np.einsum("ncak,ock->noa", _padded(x, padding, 2)[:, :, windows], w)


def _image(x):
    """``x`` as one image of 2×3 pixels per channel: what the 2-d steps read."""
    return x.reshape(1, -1, 2, 3)


def _conv2d(x, w, stride=(1, 1), padding=(0, 1)):
    """A 2-d convolution in NumPy: pad both spatial axes, read every window, sum."""
    rows = _windows(x.shape[2], w.shape[2], stride[0], padding[0])
    columns = _windows(x.shape[3], w.shape[3], stride[1], padding[1])
    padded = _padded(_padded(x, padding[0], 2), padding[1], 3)
    patches = padded[:, :, rows[:, :, None, None], columns[None, None]]
    return np.einsum("ncahbl,ochl->noab", patches, w)


def _kernel(w, x, taps=(1, 3)):
    """``w`` as kernels of ``taps`` over the channels of ``_image(x)``."""
    return w.reshape(-1, x.size // 6, *taps)


def _pooled(x, reduce):
    """Windows of 2×2 moved by one over ``_image(x)``, each reduced to one number."""
    rows, columns = _windows(2, 2), _windows(3, 2)
    return reduce(_image(x)[:, :, rows[:, :, None, None], columns[None, None]], axis=(3, 5))


# label: (the op it exercises, its jac spelling, its NumPy spelling). A step's arity is
# its NumPy spelling's.
STEPS = {
    # elementwise, one argument
    "tanh": ("tanh", jac.tanh, np.tanh),
    "sigmoid": ("sigmoid", jac.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "softplus": ("softplus", jac.softplus, lambda x: np.log(1 + np.exp(x))),
    "negative": ("negative", jac.negative, lambda x: -x),
    "square": ("square", jac.square, lambda x: x ** 2),
    "exp(tanh)": ("exp", lambda x: jac.exp(jac.tanh(x)), lambda x: np.exp(np.tanh(x))),
    "log(1 + x²)": ("log", lambda x: jac.log(_positive(x)), lambda x: np.log(1 + np.square(x))),
    "sqrt(1 + x²)": ("sqrt", lambda x: jac.sqrt(_positive(x)), lambda x: np.sqrt(1 + x * x)),
    "x³": ("power", lambda x: jac.power(x, exponent=3), lambda x: x ** 3),
    "(1 + x²)^-1.5": ("power", lambda x: jac.power(_positive(x), exponent=-1.5),
                      lambda x: (1 + x * x) ** -1.5),
    "abs": ("abs", jac.abs, abs),
    "relu": ("relu", jac.relu, lambda x: np.maximum(x, 0.0)),
    "clip(-0.5, 0.5)": ("clip", lambda x: jac.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    "clip(min=-0.2)": ("clip", lambda x: jac.clip(x, a_min=-0.2), lambda x: x.clip(min=-0.2)),
    "2 - x": ("subtract", lambda x: jac.subtract(2.0, x), lambda x: 2.0 - x),
    # elementwise, two arguments, broadcast
    "add": ("add", jac.add, lambda x, y: x + y),
    "subtract": ("subtract", jac.subtract, lambda x, y: x - y),
    "multiply": ("multiply", jac.multiply, lambda x, y: x * y),
    "x / (1 + y²)": ("divide", lambda x, y: jac.divide(x, _positive(y)),
                     lambda x, y: x / (1 + y * y)),
    "maximum": ("maximum", jac.maximum, np.maximum),
    "minimum": ("minimum", jac.minimum, np.minimum),
    "where(mask, x, y)": ("where", lambda x, y: jac.where(_mask(x, y), x, y),
                          lambda x, y: np.where(_mask(x, y), x, y)),
    "where(x > 0, x, y)": ("where", lambda x, y: jac.where(x > 0, x, y),
                           lambda x, y: np.where(x > 0, x, y)),
    "broadcast_to (2, 3)": ("broadcast_to", lambda x: jac.broadcast_to(x, (2, 3)),
                            lambda x: np.broadcast_to(x, (2, 3))),
    "broadcast_to (2, 2, 3)": ("broadcast_to", lambda x: jac.broadcast_to(x, (2, 2, 3)),
                               lambda x: np.broadcast_to(x, (2, 2, 3))),
    # products
    "x @ y": ("matmul", jac.matmul, lambda x, y: x @ y),
    "np.dot": ("matmul", _dot, lambda x, y: np.dot(x, y)),
    "outer": ("outer", jac.outer, lambda x, y: np.outer(x, y)),
    "trace": ("trace", jac.trace, lambda x: x.trace()),
    "einsum ij,jk->ik": ("einsum", lambda x, y: jac.einsum("ij,jk->ik", x, y),
                         lambda x, y: np.einsum("ij,jk->ik", x, y)),
    "einsum ij,j->i": ("einsum", lambda x, y: jac.einsum("ij,j->i", x, y),
                       lambda x, y: np.einsum("ij,j->i", x, y)),
    "einsum ij,ij->": ("einsum", lambda x, y: jac.einsum("ij,ij->", x, y),
                       lambda x, y: np.einsum("ij,ij->", x, y)),
    "einsum i,j->ij": ("einsum", lambda x, y: jac.einsum("i,j->ij", x, y),
                       lambda x, y: np.einsum("i,j->ij", x, y)),
    "einsum bij,bkj->bik": ("einsum", lambda x, y: jac.einsum("bij,bkj->bik", x, y),
                            lambda x, y: np.einsum("bij,bkj->bik", x, y)),
    "einsum ii->i": ("einsum", lambda x: jac.einsum("ii->i", x), lambda x: np.einsum("ii->i", x)),
    "einsum iij->ij": ("einsum", lambda x: jac.einsum("iij->ij", x),
                       lambda x: np.einsum("iij->ij", x)),
    "einsum ij->ji": ("einsum", lambda x: jac.einsum("ij->ji", x),
                      lambda x: np.einsum("ij->ji", x)),
    "einsum ij,kj,k->ik": ("einsum", lambda x, y, z: jac.einsum("ij,kj,k->ik", x, y, z),
                           lambda x, y, z: np.einsum("ij,kj,k->ik", x, y, z)),
    "einsum ij,j,i->": ("einsum", lambda x, y, z: jac.einsum("ij,j,i->", x, y, z),
                        lambda x, y, z: np.einsum("ij,j,i->", x, y, z)),
    "np.tensordot(x, y, 1)": ("einsum", lambda x, y: jac.einsum("ij,jk->ik", x, y),
                              lambda x, y: np.tensordot(x, y, 1)),
    "np.inner": ("einsum", lambda x, y: jac.einsum("i,i->", x, y), lambda x, y: np.inner(x, y)),
    "np.multiply.outer": ("outer", jac.outer, lambda x, y: np.multiply.outer(x, y)),
    # attention: a product, a softmax over the keys and a product
    "attention": ("attention", jac.attention, _attention),
    # convolution and pooling: windows of an N-C-L signal, or of the channels of a 2×3 image
    "conv1d(padding=1)": ("conv1d", lambda x, w: jac.conv1d(x, w, padding=1), _conv1d),
    "conv1d(stride=2, padding=1)": ("conv1d", lambda x, w: jac.conv1d(x, w, stride=2, padding=1),
                                    lambda x, w: _conv1d(x, w, stride=2)),
    "conv2d(padding=(0, 1))": ("conv2d", lambda x, w: jac.conv2d(_image(x), _kernel(w, x),
                                                                 padding=(0, 1)),
                               lambda x, w: _conv2d(_image(x), _kernel(w, x))),
    "conv2d 2×2(stride=(2, 1), padding=(1, 0))": (
        "conv2d", lambda x, w: jac.conv2d(_image(x), _kernel(w, x, (2, 2)), stride=(2, 1),
                                          padding=(1, 0)),
        lambda x, w: _conv2d(_image(x), _kernel(w, x, (2, 2)), (2, 1), (1, 0))),
    "max_pool2d(2, stride=1)": ("max_pool2d", lambda x: jac.max_pool2d(_image(x), 2, stride=1),
                                lambda x: _pooled(x, np.max)),
    "avg_pool2d(2, stride=1)": ("avg_pool2d", lambda x: jac.avg_pool2d(_image(x), 2, stride=1),
                                lambda x: _pooled(x, np.mean)),
    # softmax, along the first axis and the last
    "softmax(axis=0)": ("softmax", lambda x: jac.softmax(x, axis=0),
                        lambda x: np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)),
    "softmax(axis=-1)": ("softmax", jac.softmax,
                         lambda x: np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)),
    "log_softmax(axis=0)": ("log_softmax", lambda x: jac.log_softmax(x, axis=0),
                            lambda x: x - np.log(np.exp(x).sum(axis=0, keepdims=True))),
    "log_softmax(axis=-1)": ("log_softmax", jac.log_softmax,
                             lambda x: x - np.log(np.sum(np.exp(x), axis=-1, keepdims=True))),
    "cross_entropy(1 + p², y)": ("cross_entropy", lambda p, y: jac.cross_entropy(_positive(p), y),
                                 lambda p, y: -np.sum(y * np.log(1 + p * p))),
    "softmax_cross_entropy": (
        "softmax_cross_entropy", jac.softmax_cross_entropy,
        lambda z, y: -np.sum(y * (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))))),
    # layer norm and batch norm over their default axes, and batch norm over another; with an
    # eps far above the default 1e-5, which near a constant slice scales rounding errors by up
    # to 1/√eps ≈ 300: more than finite differences resolve where the gradient is 0 (Σ x̂ = 0).
    "layer_norm(eps=0.01)": ("layer_norm", lambda x: jac.layer_norm(x, eps=0.01),
                             lambda x: (x - x.mean(axis=-1, keepdims=True))
                             / np.sqrt(x.var(axis=-1, keepdims=True) + 0.01)),
    "batch_norm(eps=0.01)": ("batch_norm", lambda x: jac.batch_norm(x, eps=0.01),
                             lambda x: (x - np.mean(x, axis=0, keepdims=True))
                             / np.sqrt(np.var(x, axis=0, keepdims=True) + 0.01)),
    "batch_norm(1, 0.1)": ("batch_norm", lambda x: jac.batch_norm(x, 1, 0.1),
                           lambda x: (x - x.mean(axis=1, keepdims=True))
                           / np.sqrt(np.var(x, axis=1, keepdims=True) + 0.1)),
    # arranging entries
    "x.T": ("transpose", jac.transpose, lambda x: x.T),
    "transpose (1, 0, 2)": ("transpose", lambda x: jac.transpose(x, axes=(1, 0, 2)),
                            lambda x: np.transpose(x, (1, 0, 2))),
    "swapaxes(-1, -2)": ("transpose", lambda x: jac.transpose(x, axes=_swapped(x.ndim)),
                         lambda x: np.swapaxes(x, -1, -2)),
    "moveaxis(0, -1)": ("transpose", lambda x: jac.transpose(x, axes=(*range(1, x.ndim), 0)),
                        lambda x: np.moveaxis(x, 0, -1)),
    "ravel": ("reshape", lambda x: jac.reshape(x, (-1,)), np.ravel),
    "x.flatten()": ("reshape", lambda x: jac.reshape(x, (-1,)), lambda x: x.flatten()),
    "reshape (3, -1)": ("reshape", lambda x: jac.reshape(x, (3, -1)), lambda x: x.reshape(3, -1)),
    "reshape (2, 1, -1)": ("reshape", lambda x: jac.reshape(x, shape=(2, 1, -1)),
                           lambda x: np.reshape(x, (2, 1, -1))),
    "expand_dims 0": ("expand_dims", lambda x: jac.expand_dims(x, 0),
                      lambda x: np.expand_dims(x, 0)),
    "expand_dims -1": ("expand_dims", lambda x: jac.expand_dims(x, axis=-1),
                       lambda x: np.expand_dims(x, -1)),
    "squeeze": ("squeeze", jac.squeeze, lambda x: x.squeeze()),
    "squeeze 1": ("squeeze", lambda x: jac.squeeze(x, axis=1), lambda x: np.squeeze(x, axis=1)),
    "concatenate 0": ("concatenate", lambda x, y: jac.concatenate([x, y], axis=0),
                      lambda x, y: np.concatenate([x, y], axis=0)),
    "concatenate -1 of three": ("concatenate", lambda x, y, z: jac.concatenate([x, y, z], -1),
                                lambda x, y, z: np.concatenate([x, y, z], axis=-1)),
    "stack 0": ("stack", lambda x, y: jac.stack([x, y]), lambda x, y: np.stack([x, y])),
    "stack -1": ("stack", lambda x, y: jac.stack([x, y], axis=-1),
                 lambda x, y: np.stack([x, y], axis=-1)),
}

# x[index]: slices, negative steps, None, ints, integer arrays with repeats, boolean masks.
INDICES = {
    "x[::-1]": np.s_[::-1],
    "x[..., ::-2]": np.s_[..., ::-2],
    "x[None, 1:]": np.s_[None, 1:],
    "x[-1]": np.s_[-1],
    "x[:, None, 0]": np.s_[:, None, 0],
    "x[[1, 0, 1, 1]]": np.s_[np.array([1, 0, 1, 1])],
    "x[..., [2, 0, 2]]": np.s_[..., np.array([2, 0, 2])],
    "x[[1, 0], [2, 2]]": np.s_[np.array([1, 0]), np.array([2, 2])],
    "x[:, [True, False, True]]": np.s_[:, np.array([True, False, True])],
}
STEPS.update({label: ("getitem", lambda x, i=index: jac.getitem(x, i), lambda x, i=index: x[i])
              for label, index in INDICES.items()})
STEPS["x[checkerboard]"] = ("getitem", lambda x: jac.getitem(x, _mask(x)), lambda x: x[_mask(x)])

# Reductions over every axis, the first, the last, or the first and last, keeping them or not;
# NumPy spelled as a function for some ops and as a method for others.
REDUCTIONS = {"sum": lambda x, **p: np.sum(x, **p), "mean": lambda x, **p: x.mean(**p),
              "var": lambda x, **p: np.var(x, **p), "max": lambda x, **p: x.max(**p),
              "min": lambda x, **p: np.min(x, **p),
              "norm": lambda x, **p: np.linalg.norm(x, **p)}
AXES = (None, 0, -1, (0, -1))
STEPS.update({f"{op}(axis={axis}, keepdims={keep})":
              (op, functools.partial(jac.REGISTRY[op], axis=axis, keepdims=keep),
               functools.partial(spelled, axis=axis, keepdims=keep))
              for op, spelled in REDUCTIONS.items() for axis in AXES for keep in (False, True)})
# ... and as a ufunc's reduce.
STEPS["np.add.reduce(axis=-1)"] = ("sum", lambda x: jac.sum(x, -1),
                                   lambda x: np.add.reduce(x, axis=-1))
STEPS["np.maximum.reduce(axis=0)"] = ("max", lambda x: jac.max(x, 0),
                                      lambda x: np.maximum.reduce(x, axis=0))


def _runner_up_gap(x, axis, largest):
    """How far the extreme entry of each reduced group is from the next one (∞ if alone)."""
    x = np.asarray(x)
    axes = tuple(range(x.ndim)) if axis is None else tuple(np.atleast_1d(axis) % x.ndim)
    groups = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    kept = groups.shape[:x.ndim - len(axes)]
    groups = np.sort(groups.reshape(kept + (math.prod(groups.shape[len(kept):]),)), axis=-1)
    if groups.shape[-1] < 2:
        return np.inf
    return groups[..., -1] - groups[..., -2] if largest else groups[..., 1] - groups[..., 0]


# Where a step has no derivative: how far its operands are from there.
KINKS = {
    "abs": lambda x: abs(x),
    "relu": lambda x: abs(x),
    "clip(-0.5, 0.5)": lambda x: np.minimum(abs(x + 0.5), abs(x - 0.5)),
    "clip(min=-0.2)": lambda x: abs(x + 0.2),
    "maximum": lambda x, y: abs(x - y),
    "minimum": lambda x, y: abs(x - y),
    "where(x > 0, x, y)": lambda x, y: abs(x),
    "np.maximum.reduce(axis=0)": lambda x: _runner_up_gap(x, 0, largest=True),
    "max_pool2d(2, stride=1)": lambda x: _pooled(x, functools.partial(_runner_up_gap,
                                                                      largest=True)),
}
KINKS.update({f"{op}(axis={axis}, keepdims={keep})":
              functools.partial(_runner_up_gap, axis=axis, largest=op == "max")
              for op in ("max", "min") for axis in AXES for keep in (False, True)})
KINKS.update({f"norm(axis={axis}, keepdims={keep})":
              functools.partial(np.linalg.norm, axis=axis)
              for axis in AXES for keep in (False, True)})


def _arity(f):
    if isinstance(f, np.ufunc):
        return f.nin
    return sum(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in inspect.signature(f).parameters.values())


ARITY = {label: _arity(numpy) for label, (_, _, numpy) in STEPS.items()}


@functools.cache
def _made(label, shapes):
    """The shape a step makes from operands of these shapes; None unless both spellings run
    on them, agree on it and make no more than ``LARGEST_SIZE`` entries."""
    _, spelled_jac, spelled_numpy = STEPS[label]
    operands = [np.linspace(0.5, 1.5, int(np.prod(s))).reshape(s) for s in shapes]
    try:
        made = [np.shape(f(*operands)) for f in (spelled_jac, spelled_numpy)]
    except (ValueError, TypeError, IndexError):
        return None
    return made[0] if made[0] == made[1] and np.prod(made[0]) <= LARGEST_SIZE else None


def _fits(shapes):
    """For each op, the steps exercising it, each with the operand shapes it takes."""
    distinct = sorted(set(shapes))
    fits = {}
    for label, (op, _, _) in STEPS.items():
        takes = [combo for combo in _combinations(distinct, ARITY[label])
                 if _made(label, combo) is not None]
        if takes:
            fits.setdefault(op, {})[label] = takes
    return fits


def _combinations(distinct, n):
    if n == 0:
        return [()]
    return [(s,) + rest for s in distinct for rest in _combinations(distinct, n - 1)]


@st.composite
def programs(draw):
    """A random program: its inputs' classes, steps reading earlier values, how it ends."""
    inputs = draw(st.lists(st.sampled_from(list(INPUTS)), min_size=1, max_size=3))
    shapes, steps = [INPUTS[c] for c in inputs], []
    for _ in range(draw(st.integers(2, 8))):
        fits = _fits(shapes)
        op = draw(st.sampled_from(list(fits)))
        label = draw(st.sampled_from(list(fits[op])))
        wanted = draw(st.sampled_from(fits[op][label]))
        operands = tuple(draw(st.sampled_from([k for k, s in enumerate(shapes) if s == w]))
                         for w in wanted)
        spelling = draw(st.sampled_from(("jac", "numpy")))
        shapes.append(_made(label, wanted))
        steps.append((label, operands, spelling))
    ending = draw(st.sampled_from(("array", "jac.sum", "np.sum")))
    seed = draw(st.integers(0, 2**16))
    return inputs, steps, ending, seed


def _values(steps, args, spellings=None):
    """Every value the program computes: its arguments, then one per step."""
    values = list(args)
    for label, operands, spelling in steps:
        _, spelled_jac, spelled_numpy = STEPS[label]
        spelling = spellings or spelling
        step = spelled_numpy if spelling == "numpy" else spelled_jac
        values.append(step(*(values[i] for i in operands)))
    return values


def _function(steps, ending, spellings=None):
    """The program as a function; ``spellings="numpy"`` writes every step in NumPy."""
    def f(*args):
        last = _values(steps, args, spellings)[-1]
        if ending == "array":
            return last
        return np.sum(last) if ending == "np.sum" or spellings == "numpy" else jac.sum(last)
    return f


def _arguments(inputs, seed):
    rng = np.random.default_rng(seed)
    return [0.7 * rng.standard_normal(INPUTS[c]) for c in inputs]


def _honest(steps, values):
    """Whether finite differences can be trusted: no kink near, no value too large."""
    for label, operands, _ in steps:
        distance = KINKS.get(label, lambda *operands: np.inf)(*(values[i] for i in operands))
        if np.min(distance, initial=np.inf) < KINK:
            event("discarded: near a kink")
            return False
    if not all(np.all(np.abs(v) <= LARGEST_VALUE) for v in values):
        event("discarded: a value too large")
        return False
    return True


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_every_way_to_differentiate_a_random_graph_agrees(program):
    inputs, steps, ending, seed = program
    for label, _, spelling in steps:
        event(f"op {STEPS[label][0]}, spelled {spelling}")
    args = _arguments(inputs, seed)
    assume(_honest(steps, _values(steps, args, "numpy")))
    numpy_f, f = _function(steps, ending, "numpy"), _function(steps, ending)
    value = np.asarray(numpy_f(*args))
    graph = trace_graph(f, *args)
    out = graph.output
    assert compare(f(*args), value) and compare(out.value, value)  # the values first
    truth = [finite_difference_jacobian(numpy_f, *args, wrt=i) for i in range(len(args))]
    rng = np.random.default_rng(seed + 1)
    g = rng.standard_normal(out.shape)
    tangents = [rng.standard_normal(a.shape) for a in args]

    # The naive chain, in every order: to finite differences and to each other.
    for i, want in enumerate(truth):
        chained = {order: jac.jacobian(f, wrt=i, order=order)(*args) for order in jac.chain.ORDERS}
        for order, got in chained.items():
            assert compare(got, want), (order, i, compare(got, want))
            assert compare(got, chained["reverse"], **EXACT), (order, i)

    # The sweeps with each rule, and vjp and jvp.
    pulled = [np.tensordot(g, J, axes=g.ndim) for J in truth]
    directional = sum(np.tensordot(J, t, axes=t.ndim) for J, t in zip(truth, tangents))
    by_hand = reverse(graph, g, HAND, graph.inputs)
    pushed_by_hand = forward(graph, dict(zip(graph.inputs, tangents)), HAND)
    for rule in (HAND, DERIVED, DENSE):
        cotangents = reverse(graph, g, rule, graph.inputs)
        for node, want in zip(graph.inputs, pulled):
            got = cotangents.get(node.index, np.zeros(node.shape))
            assert compare(got, want), (rule, node.name, compare(got, want))
            assert compare(got, by_hand.get(node.index, np.zeros(node.shape)), **EXACT), rule
        pushed = forward(graph, dict(zip(graph.inputs, tangents)), rule)
        assert compare(np.zeros(out.shape) if pushed is None else pushed, directional), rule
        assert (pushed is None) == (pushed_by_hand is None)
        assert pushed is None or compare(pushed, pushed_by_hand, **EXACT), rule
    _, pullback = jac.vjp(f, *args)
    for node, got, want in zip(graph.inputs, pullback(g), pulled):
        assert compare(got, want)
        assert compare(got, by_hand.get(node.index, np.zeros(node.shape)), **EXACT)
    _, got = jac.jvp(f, args, tangents)
    assert compare(got, directional)
    assert compare(got, np.zeros(out.shape) if pushed_by_hand is None else pushed_by_hand,
                   **EXACT)

    # A scalar: grad and derive, to finite differences, to each other and to vjp(1).
    if out.shape == ():
        wrt = tuple(range(len(args)))
        gradients = jac.grad(f, wrt=wrt)(*args)
        derived = jac.derive(f, wrt=wrt)(*args).gradient
        _, pullback = jac.vjp(f, *args)
        for want, *ways in zip(truth, gradients, derived, pullback(np.ones(()))):
            for got in ways:
                assert compare(got, want)
                assert compare(got, ways[0], **EXACT)


def test_every_op_has_steps_and_every_step_is_drawn():
    """Each op of the registry is exercised, and each step fits shapes a program reaches."""
    assert {op for op, _, _ in STEPS.values()} == set(jac.REGISTRY)
    assert set(KINKS) <= set(STEPS)
    inputs = sorted(set(INPUTS.values()))
    reached = sorted({_made(label, combo) for label in STEPS
                      for combo in _combinations(inputs, ARITY[label])} - {None} | set(inputs))
    for label in STEPS:
        candidates = inputs if ARITY[label] > 2 else reached
        assert any(_made(label, combo) is not None
                   for combo in _combinations(candidates, ARITY[label])), label
