"""Models written as ordinary NumPy, traced: every spelling against the library's ops.

Each case is one NumPy spelling and the same function written with ``jac.``
ops. Both are held to central finite differences of the NumPy function run
on plain arrays (NumPy computing its own values: an independent truth), for
the naive chain in all three orders, ``vjp``, ``jvp``, ``grad`` and
``derive``. Then NumPy's whole namespace is walked: every callable that
reaches a traced value either traces or raises.
"""
import warnings

import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian
from jacobians.graph import trace_graph
from jacobians.spelling import FUNCTIONS, known_names

IDX = np.array([2, 0, 2, 1])
MASK = np.array([[True, False, True], [False, True, True]])
WEIGHTS = np.array([0.5, 1.0, 2.0])

# id: (NumPy spelling, the same with jac ops, argument shapes, positive inputs?)
CASES = {
    # ufuncs and operators
    "np.exp": (np.exp, jac.exp, [(2, 3)], False),
    "np.log": (np.log, jac.log, [(2, 3)], True),
    "np.tanh": (np.tanh, jac.tanh, [(3,)], False),
    "np.sqrt": (np.sqrt, jac.sqrt, [(3,)], True),
    "np.square": (np.square, jac.square, [(2, 2)], False),
    "np.abs": (np.abs, jac.abs, [(2, 3)], False),
    "abs()": (lambda x: abs(x), jac.abs, [(3,)], False),
    "-x": (lambda x: -x, jac.negative, [(3,)], False),
    "+x": (lambda x: +x, lambda x: x, [(3,)], False),
    "x + b row": (lambda X, b: X + b, jac.add, [(4, 3), (3,)], False),
    "x - y": (lambda x, y: x - y, jac.subtract, [(2, 3), (2, 3)], False),
    "2.0 - x": (lambda x: 2.0 - x, lambda x: jac.subtract(2.0, x), [(3,)], False),
    "x * y": (lambda x, y: x * y, jac.multiply, [(2, 3), (2, 1)], False),
    "x / y": (lambda x, y: x / y, jac.divide, [(3,), (3,)], True),
    "1 / x": (lambda x: 1 / x, lambda x: jac.divide(1.0, x), [(3,)], True),
    "np.add": (np.add, jac.add, [(2, 3), (3,)], False),
    "np.subtract": (np.subtract, jac.subtract, [(3,), (2, 3)], False),
    "np.divide": (np.divide, jac.divide, [(3,), (3,)], True),
    "np.negative": (np.negative, jac.negative, [(3,)], False),
    "np.multiply": (np.multiply, jac.multiply, [(2, 3), ()], False),
    "ndarray + x": (lambda x: np.ones((2, 3)) + x, lambda x: jac.add(np.ones((2, 3)), x),
                    [(3,)], False),
    "np.maximum": (np.maximum, jac.maximum, [(2, 3), (3,)], False),
    "np.minimum": (np.minimum, jac.minimum, [(2, 3), (2, 3)], False),
    "x @ W": (lambda X, W: X @ W, jac.matmul, [(4, 3), (3, 2)], False),
    "batched @": (lambda A, B: A @ B, jac.matmul, [(2, 3, 4), (2, 4, 2)], False),
    "np.matmul": (np.matmul, jac.matmul, [(2, 3, 4), (4, 2)], False),
    "x ** 3": (lambda x: x ** 3, lambda x: jac.power(x, exponent=3), [(3,)], False),
    "x ** 2": (lambda x: x ** 2, jac.square, [(3,)], False),
    "np.power": (lambda x: np.power(x, 0.5), lambda x: jac.power(x, exponent=0.5), [(3,)],
                 True),
    "2 ** x": (lambda x: 2 ** x, lambda x: jac.exp(jac.multiply(x, np.log(2.0))), [(3,)],
               False),
    "x ** y": (lambda x, y: x ** y, lambda x, y: jac.exp(jac.multiply(y, jac.log(x))),
               [(3,), (3,)], True),
    # reductions, as functions and as methods
    "np.sum": (np.sum, jac.sum, [(2, 3)], False),
    "np.sum axis keepdims": (lambda x: np.sum(x, axis=0, keepdims=True),
                             lambda x: jac.sum(x, axis=0, keepdims=True), [(2, 3)], False),
    "x.sum(axes)": (lambda x: x.sum(axis=(0, 2)), lambda x: jac.sum(x, axis=(0, 2)),
                    [(2, 3, 2)], False),
    "np.mean": (lambda x: np.mean(x, 1), lambda x: jac.mean(x, axis=1), [(2, 3)], False),
    "x.mean()": (lambda x: x.mean(), jac.mean, [(2, 3)], False),
    "np.var": (lambda x: np.var(x, axis=0, ddof=1), lambda x: jac.var(x, axis=0, ddof=1),
               [(4, 3)], False),
    "x.var()": (lambda x: x.var(), jac.var, [(4,)], False),
    "np.std": (np.std, lambda x: jac.sqrt(jac.var(x)), [(5,)], False),
    "np.max": (lambda x: np.max(x, axis=1), lambda x: jac.max(x, axis=1), [(2, 3)], False),
    "x.max()": (lambda x: x.max(), jac.max, [(2, 3)], False),
    "np.amin": (lambda x: np.amin(x, axis=0), lambda x: jac.min(x, axis=0), [(2, 3)], False),
    "x.min(keepdims)": (lambda x: x.min(axis=1, keepdims=True),
                        lambda x: jac.min(x, axis=1, keepdims=True), [(2, 3)], False),
    "np.add.reduce": (lambda x: np.add.reduce(x, axis=1), lambda x: jac.sum(x, axis=1),
                      [(2, 3)], False),
    "np.linalg.norm": (np.linalg.norm, jac.norm, [(2, 3)], False),
    "np.linalg.norm axis": (lambda x: np.linalg.norm(x, axis=1),
                            lambda x: jac.norm(x, axis=1), [(2, 3)], False),
    "np.average": (np.average, jac.mean, [(2, 3)], False),
    "np.average weights": (lambda x: np.average(x, axis=1, weights=WEIGHTS),
                           lambda x: jac.divide(jac.sum(jac.multiply(x, WEIGHTS), axis=1),
                                                WEIGHTS.sum()), [(2, 3)], False),
    # products
    "np.dot vectors": (np.dot, lambda x, y: jac.einsum("i,i->", x, y), [(3,), (3,)], False),
    "np.dot(x, x)": (lambda x: np.dot(x, x), lambda x: jac.sum(jac.square(x)), [(3,)], False),
    "x.dot(W)": (lambda X, W: X.dot(W), jac.matmul, [(4, 3), (3, 2)], False),
    "np.dot 3-D": (np.dot, lambda A, B: jac.einsum("abc,dce->abde", A, B),
                   [(2, 2, 3), (2, 3, 2)], False),
    "np.inner": (np.inner, lambda A, B: jac.einsum("ij,kj->ik", A, B), [(2, 3), (4, 3)],
                 False),
    "np.tensordot": (lambda A, B: np.tensordot(A, B, axes=([1, 2], [0, 1])),
                     lambda A, B: jac.einsum("abc,bcd->ad", A, B), [(2, 3, 2), (3, 2, 4)],
                     False),
    "np.einsum": (lambda A, B, C: np.einsum("ij,jk,kl->il", A, B, C),
                  lambda A, B, C: jac.matmul(jac.matmul(A, B), C),
                  [(2, 3), (3, 4), (4, 2)], False),
    "np.einsum implicit": (lambda A: np.einsum("ii", A), jac.trace, [(3, 3)], False),
    "np.outer": (np.outer, jac.outer, [(3,), (2,)], False),
    "np.multiply.outer": (np.multiply.outer, jac.outer, [(3,), (2,)], False),
    "np.trace": (np.trace, jac.trace, [(3, 3)], False),
    # rearranging
    "x.T": (lambda x: x.T, jac.transpose, [(2, 3)], False),
    "np.transpose axes": (lambda x: np.transpose(x, (2, 0, 1)),
                          lambda x: jac.transpose(x, axes=(2, 0, 1)), [(2, 3, 2)], False),
    "x.transpose(1, 0)": (lambda x: x.transpose(1, 0), jac.transpose, [(2, 3)], False),
    "np.swapaxes": (lambda x: np.swapaxes(x, 0, 2), lambda x: jac.transpose(x, axes=(2, 1, 0)),
                    [(2, 3, 2)], False),
    "np.moveaxis": (lambda x: np.moveaxis(x, 0, -1), lambda x: jac.transpose(x, axes=(1, 2, 0)),
                    [(2, 3, 4)], False),
    "x.reshape": (lambda x: x.reshape(3, 2), lambda x: jac.reshape(x, (3, 2)), [(2, 3)], False),
    "np.reshape -1": (lambda x: np.reshape(x, (-1,)), lambda x: jac.reshape(x, (6,)),
                      [(2, 3)], False),
    "x.ravel()": (lambda x: x.ravel(), lambda x: jac.reshape(x, (6,)), [(2, 3)], False),
    "x.flatten()": (lambda x: x.flatten(), lambda x: jac.reshape(x, (6,)), [(3, 2)], False),
    "np.expand_dims": (lambda x: np.expand_dims(x, 0), lambda x: jac.expand_dims(x, 0),
                       [(3,)], False),
    "x.squeeze()": (lambda x: x.squeeze(), jac.squeeze, [(2, 1, 3)], False),
    "np.broadcast_to": (lambda b: np.broadcast_to(b, (4, 3)),
                        lambda b: jac.broadcast_to(b, (4, 3)), [(3,)], False),
    "np.concatenate": (lambda a, b: np.concatenate([a, b], axis=1),
                       lambda a, b: jac.concatenate(a, b, axis=1), [(2, 3), (2, 1)], False),
    "np.stack": (lambda a, b: np.stack((a, b)), jac.stack, [(3,), (3,)], False),
    "np.split": (lambda x: np.split(x, 3)[1] * np.split(x, 3)[2],
                 lambda x: jac.multiply(jac.getitem(x, slice(2, 4)),
                                        jac.getitem(x, slice(4, 6))), [(6,)], False),
    # indexing
    "x[:, 0]": (lambda x: x[:, 0], lambda x: jac.getitem(x, (slice(None), 0)), [(4, 3)], False),
    "x[1]": (lambda x: x[1], lambda x: jac.getitem(x, 1), [(4, 3)], False),
    "x[::-1]": (lambda x: x[::-1], lambda x: jac.getitem(x, slice(None, None, -1)), [(5,)],
                False),
    "x[-1]": (lambda x: x[-1], lambda x: jac.getitem(x, -1), [(5,)], False),
    "b[None, :]": (lambda b: b[None, :], lambda b: jac.expand_dims(b, 0), [(3,)], False),
    "x[np.newaxis]": (lambda b: b[np.newaxis], lambda b: jac.expand_dims(b, 0), [(3,)], False),
    "x[..., -1]": (lambda x: x[..., -1], lambda x: jac.getitem(x, (Ellipsis, -1)), [(2, 3)],
                   False),
    "E[idx] repeats": (lambda E: E[IDX], lambda E: jac.getitem(E, IDX), [(3, 2)], False),
    "x[mask]": (lambda x: x[MASK], lambda x: jac.getitem(x, MASK), [(2, 3)], False),
    "rows by iteration": (lambda X: sum(row * k for k, row in enumerate(X)),
                          lambda X: jac.einsum("ij,i->j", X, np.arange(4.0)), [(4, 3)], False),
    "len(x)": (lambda x: x / len(x), lambda x: jac.divide(x, 3.0), [(3,)], False),
    # masks, choices and clipping
    "np.where(x > 0)": (lambda x: np.where(x > 0, x, 0.1 * x),
                        lambda x: jac.where(x > 0, x, jac.multiply(0.1, x)), [(2, 3)], False),
    "(x > 0) * x": (lambda x: (x > 0) * x, jac.relu, [(2, 3)], False),
    "np.greater": (lambda x: np.greater(x, 0) * x, jac.relu, [(2, 3)], False),
    "np.clip": (lambda x: np.clip(x, -0.5, 0.5), lambda x: jac.clip(x, -0.5, 0.5), [(2, 3)],
                False),
    "x.clip(min)": (lambda x: x.clip(0.0), lambda x: jac.clip(x, 0.0, None), [(4,)], False),
    "np.maximum(z, 0)": (lambda z: np.maximum(z, 0), jac.relu, [(2, 3)], False),
    "np.zeros_like": (lambda x: x + np.zeros_like(x), lambda x: x, [(3,)], False),
    "new arrays like= x": (lambda x: (x + np.zeros(3, like=x) + np.empty(0, like=x).size)
                           @ np.eye(3, like=x) * np.ones(3, like=x) * np.full(3, 2.0, like=x),
                           lambda x: jac.multiply(x, 2.0), [(3,)], False),
    "np.bincount": (lambda x: np.bincount(np.array([0, 2, 2]), weights=x, minlength=4),
                    lambda x: jac.matmul(np.array([[1.0, 0, 0], [0, 0, 0], [0, 1, 1], [0, 0, 0]]),
                                         x), [(3,)], False),
    "np.copy, x.copy()": (lambda x: np.copy(x) * x.copy(), jac.square, [(3,)], False),
    "x.std(), x.mT": (lambda x: x.std() * x.mT, lambda x: jac.multiply(
        jac.sqrt(jac.var(x)), jac.transpose(x)), [(2, 3)], False),
    "np.transpose negative": (lambda x: np.transpose(x, (-1, 0, 1)),
                              lambda x: jac.transpose(x, axes=(2, 0, 1)), [(2, 3, 2)], False),
    "x[range], x[np.True_]": (lambda x: x[range(2)] * x[np.True_][0, :2],
                              lambda x: jac.multiply(jac.getitem(x, slice(0, 2)),
                                                     jac.getitem(x, slice(0, 2))), [(3,)],
                              False),
    "np.ones_like": (lambda x: x * np.ones_like(x), lambda x: x, [(3,)], False),
    "np.empty_like": (lambda x: x + np.zeros(np.empty_like(x).shape), lambda x: x, [(3,)], False),
    "np.full_like": (lambda x: x * np.full_like(x, 2.0), lambda x: jac.multiply(x, 2.0), [(3,)],
                     False),
    "np.positive": (np.positive, lambda x: x, [(3,)], False),
    # asked about itself: a shape, a count
    "np.shape, np.ndim, np.size": (lambda x: x * (np.shape(x)[0] + np.ndim(x) + np.size(x)),
                                   lambda x: jac.multiply(x, 2.0 + 2 + 6), [(2, 3)], False),
    "x.shape, .ndim, .size": (lambda x: x * (x.shape[1] + x.ndim + x.size),
                              lambda x: jac.multiply(x, 3.0 + 2 + 6), [(2, 3)], False),
    "np.amax": (lambda x: np.amax(x), jac.max, [(2, 3)], False),
    "np.maximum.reduce": (lambda x: np.maximum.reduce(x, axis=0), lambda x: jac.max(x, axis=0),
                          [(2, 3)], False),
    "np.minimum.reduce": (lambda x: np.minimum.reduce(x), lambda x: jac.min(x, axis=0),
                          [(2, 3)], False),
}

ORDERS = ("reverse", "forward", "optimal")


def _inputs(shapes, positive, seed=0):
    rng = np.random.default_rng(seed)
    if positive:
        return [rng.uniform(0.5, 2.0, s) for s in shapes]
    # Away from 0 and from each other, so no kink (abs, max, clip, where) is within a step.
    return [rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s) for s in shapes]


@pytest.mark.parametrize("case", sorted(CASES))
def test_numpy_spelling_traces_like_the_ops_and_finite_differences(case):
    spelled, with_ops, shapes, positive = CASES[case]
    args = _inputs(shapes, positive)
    value = np.asarray(spelled(*args), dtype=float)  # NumPy on plain arrays
    for k in range(len(args)):
        fd = finite_difference_jacobian(spelled, *args, wrt=k)
        for order in ORDERS:
            J = jac.jacobian(spelled, wrt=k, order=order)(*args)
            assert compare(J, fd), (case, k, order, compare(J, fd))
        assert compare(jac.jacobian(with_ops, wrt=k)(*args), fd), (case, k)
    fds = [finite_difference_jacobian(spelled, *args, wrt=k) for k in range(len(args))]
    out, pullback = jac.vjp(spelled, *args)
    assert compare(out, value)
    g = np.random.default_rng(1).standard_normal(value.shape)
    for k, pulled in enumerate(pullback(g)):
        assert compare(pulled, np.tensordot(g, fds[k], axes=g.ndim)), (case, k)
    tangents = [np.random.default_rng(2 + k).standard_normal(a.shape) for k, a in enumerate(args)]
    _, pushed = jac.jvp(spelled, args, tangents)
    assert compare(pushed, sum(np.tensordot(fd, t, axes=t.ndim) for fd, t in zip(fds, tangents)))
    # A scalar loss of the function: grad and derive against finite differences.
    weights = np.random.default_rng(3).standard_normal(value.shape)

    def loss(*a):
        return np.sum(spelled(*a) * weights)
    for k in range(len(args)):
        fd = finite_difference_jacobian(loss, *args, wrt=k)
        assert compare(jac.grad(loss, wrt=k)(*args), fd), (case, k)
        assert compare(jac.derive(loss, wrt=k)(*args).gradient, fd), (case, k)


# --- NumPy's whole namespace: every call on a traced value traces or raises --------------
def _numpy_callables():
    """Every public ufunc, ufunc method and array function of NumPy and np.linalg."""
    for module, prefix in ((np, "np."), (np.linalg, "np.linalg.")):
        for name in sorted(dir(module)):
            f = getattr(module, name)
            if name.startswith("_"):
                continue
            if isinstance(f, np.ufunc):
                yield prefix + name, f
                for method in ("reduce", "accumulate", "reduceat", "outer", "at"):
                    yield f"{prefix}{name}.{method}", getattr(f, method)
            elif callable(f) and hasattr(f, "_implementation"):  # dispatched to __array_function__
                yield prefix + name, f


def _traced_spellings():
    from jacobians.spelling import _BINARY, _CONSTANT, _REDUCE, _UNARY
    return ({u for u in (*_UNARY, *_BINARY, *_CONSTANT)} | set(FUNCTIONS) |
            {u.reduce for u in _REDUCE} | {np.multiply.outer})


def _holds_numbers(result):
    """Whether ``result`` carries real numbers: what an untraced call would answer wrongly with."""
    if isinstance(result, (list, tuple)):
        return any(_holds_numbers(r) for r in result)
    return isinstance(result, (np.ndarray, np.generic, float)) and \
        np.asarray(result).dtype.kind in "fc"


def test_every_numpy_call_on_a_traced_value_traces_or_raises():
    """No NumPy call answers with numbers that depend on a traced value it did not trace.

    Each public ufunc, ufunc method and array function is called on a traced
    value in several ways. A call that returns numbers must be a traced
    spelling, or give the same numbers for two different values (a constant,
    as NumPy's ``empty_like(a, dtype=x)`` is of ``x``).
    """
    traced_spellings = _traced_spellings()
    answered = []
    calls = [lambda f, x: f(x), lambda f, x: f(x, x), lambda f, x: f(x, 1),
             lambda f, x: f(x, 0, 1), lambda f, x: f(np.ones((2, 3)), x)]
    values = [np.arange(1.0, 7.0).reshape(2, 3), np.linspace(-2.0, 0.5, 6).reshape(2, 3)]
    for spelled, f in _numpy_callables():
        if f in traced_spellings:
            continue
        for call in calls:
            results = []

            def probe(x):
                results.append(call(f, x))
                return np.sum(x)
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for v in values:
                        trace_graph(probe, v)
            except Exception:
                continue
            first, second = results
            if _holds_numbers(first) and not _same(first, second):
                answered.append(spelled)
    assert not answered, f"answered without tracing: {sorted(set(answered))}"


def _same(a, b):
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def test_the_namespace_walk_meets_the_calls_it_must():
    names = dict(_numpy_callables())
    for must in ("np.sum", "np.einsum", "np.linalg.norm", "np.sort", "np.cumsum",
                 "np.linalg.inv", "np.tanh", "np.sin", "np.add.accumulate"):
        assert must in names, must
    assert len(names) > 400


@pytest.mark.parametrize("call, message", [
    (lambda x: np.sort(x), "np.sort cannot be traced"),
    (lambda x: np.cumsum(x), r"np.cumsum cannot be traced.*np.tril"),
    (lambda x: np.linalg.inv(x), "np.linalg.inv cannot be traced"),
    (lambda x: np.sin(x), "np.sin cannot be traced"),
    (lambda x: np.add.accumulate(x), "np.add.accumulate cannot be traced"),
    (lambda x: np.median(x), "np.median cannot be traced: the library has no rule for it"),
    (lambda x: np.flip(x), r"Instead: x\[::-1\]"),
    (lambda x: np.add(x, 1, out=np.zeros((2, 2))), "cannot be written into"),
    (lambda x: np.sum(x, where=x > 0), "does not take where"),
    (lambda x: np.asarray(x), "would drop its derivative"),
    (lambda x: float(x[0, 0]), "would drop its derivative"),
    (lambda x: x.value, "would be a constant"),
    (lambda x: x.sum() if x else x, "has no truth value"),
    (lambda x: np.where(x, x, 0), "condition must be a constant boolean array"),
    (lambda x: x[x.sum() > 0:], "slice indices must be integers"),
    (lambda x: x.astype(int), "lose its derivative"),
    (lambda x: np.linalg.norm(x, ord=1), "ord=1 over 2 axes is not traced"),
    (lambda x: np.linalg.norm(x, axis=(0, 1, 0)), "names 3 axes"),
    (lambda x: np.tensordot(x, x, axes=([0, 1], [0])), "2 axes of a are paired with 1 of b"),
    (lambda x: np.tensordot(x, x, axes=3), "axes=3 sums that many axes"),
    (lambda x: np.tensordot(x, x, axes=([0, 0], [0, 1])), "an axis is named twice"),
    (lambda x: np.tensordot(x, x, axes=([0], [2])), "axis 2 is out of range for b"),
    (lambda x: np.moveaxis(x, 3, 0), "axis 3 is out of range"),
    (lambda x: np.swapaxes(x, 0, 5), "axis 5 is out of range"),
    (lambda x: np.dot(x, np.ones(3)), "axis 1 of a has size 2 but axis 0 of b has size 3"),
    (lambda x: np.einsum(x, [0, 1], [1, 0]), "subscripts as one string"),
    (lambda x: np.average(x, axis=(0, 1), weights=np.ones(2)), "need one axis"),
    (lambda x: np.split(x, 2, axis=5), "axis 5 is out of range"),
    (lambda x: x ** True, "takes a number as exponent"),
    (lambda x: x.item(), "would drop its derivative"),
    (lambda x: np.reshape(x, (4,), order="F"), "row-major"),
])
def test_what_cannot_be_traced_says_so(call, message):
    with pytest.raises((TypeError, AttributeError, ValueError), match=message):
        trace_graph(call, np.ones((2, 2)))


def test_model_cost_prices_numpy_models_or_says_why_not():
    W = np.random.default_rng(0).standard_normal((4, 3))
    cost = jac.model_cost(lambda W: np.sum(np.clip(W, np.zeros_like(W), None)), (W,))
    assert cost.vjp_flops > 0
    cost = jac.model_cost(lambda W: np.average(W, weights=(W > 0) + 1.0), (W,))
    assert cost.vjp_flops > 0
    with pytest.raises(TypeError, match="only the values know"):
        jac.model_cost(lambda W: np.sum(W[W > 0]), (W,))


def test_writing_into_a_traced_value_raises():
    def f(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match="cannot be written into"):
        trace_graph(f, np.ones(3))


def test_a_tuple_output_is_refused_with_what_to_do():
    with pytest.raises(TypeError, match="one array output at a time"):
        jac.jacobian(lambda x: (np.tanh(x), x.sum()))(np.ones(3))


def test_numpy_on_plain_arrays_inside_a_traced_function_stays_constant():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((3, 3))

    def f(x):
        scale = np.linalg.norm(C) * np.linalg.inv(C + 3 * np.eye(3))  # constants: untraced
        return np.tanh(scale @ x).sum()
    x = rng.standard_normal(3)
    assert compare(jac.grad(f)(x), finite_difference_jacobian(f, x))


def test_known_names_list_every_traced_spelling():
    names = known_names()
    for spelled in ("np.tanh", "np.einsum", "np.linalg.norm", "np.where", "np.maximum"):
        assert spelled in names
    assert "np.sort" not in names


def test_every_traced_spelling_is_held_to_finite_differences_above(monkeypatch):
    """Each entry of the spelling tables is called by some case of the first test."""
    import jacobians.spelling as spelling
    met = set()
    apply_ufunc, apply_function = spelling.apply_ufunc, spelling.apply_function

    def ufunc(u, method, inputs, kwargs):
        met.add(u if method == "__call__" else getattr(u, method))
        return apply_ufunc(u, method, inputs, kwargs)

    def function(func, args, kwargs):
        met.add(func)
        return apply_function(func, args, kwargs)
    monkeypatch.setattr(spelling, "apply_ufunc", ufunc)
    monkeypatch.setattr(spelling, "apply_function", function)
    for spelled, _, shapes, positive in CASES.values():
        trace_graph(spelled, *_inputs(shapes, positive))
    # Piecewise-constant ufuncs give constants; one of them (>) is met above.
    from jacobians.spelling import _CONSTANT
    missing = _traced_spellings() - met - (_CONSTANT - {np.greater})
    assert not missing, sorted(getattr(m, "__name__", str(m)) for m in missing)


@pytest.mark.parametrize("case", sorted(CASES))
def test_traced_on_shapes_the_graph_is_the_same(case):
    """model_cost traces on Shaped arrays: no NumPy call may then slip out of the graph."""
    from jacobians.abstract import Tally
    spelled, _, shapes, positive = CASES[case]
    on_values = trace_graph(spelled, *_inputs(shapes, positive))
    tally = Tally()
    on_shapes = trace_graph(spelled, *(tally.array(s, held=False) for s in shapes))
    assert [(n.op, n.shape) for n in on_shapes.nodes] == \
        [(n.op, n.shape) for n in on_values.nodes]
