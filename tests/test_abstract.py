"""Shaped arrays against NumPy: the same shapes, dtypes and errors, counts done by hand.

Every expression below is run twice, on a real ndarray and on a Shaped array
of its shape; NumPy's answer is the truth. What cannot be counted must raise,
never answer.
"""
import numpy as np
import pytest

from jacobians.abstract import Tally

A = np.arange(6.0).reshape(2, 3)
V = np.arange(3.0)

EXPRESSIONS = {
    "a[...]": lambda a, v: a[...],
    "a[..., None]": lambda a, v: a[..., None],
    "a[None, ...]": lambda a, v: a[None, ...],
    "a[..., 0]": lambda a, v: a[..., 0],
    "a[0, ...]": lambda a, v: a[0, ...],
    "a[:, 1:]": lambda a, v: a[:, 1:],
    "a[::-1, None, 0]": lambda a, v: a[::-1, None, 0],
    "a.T": lambda a, v: a.T,
    "transpose(a, (1, 0))": lambda a, v: np.transpose(a, (1, 0)),
    "a.reshape(-1)": lambda a, v: a.reshape(-1),
    "reshape(a, (3, 2))": lambda a, v: np.reshape(a, (3, 2)),
    "expand_dims(a, -1)": lambda a, v: np.expand_dims(a, -1),
    "broadcast_to(v, (4, 3))": lambda a, v: np.broadcast_to(v, (4, 3)),
    "a @ v": lambda a, v: a @ v,
    "v @ v": lambda a, v: v @ v,
    "a.T @ a": lambda a, v: a.T @ a,
    "a + v": lambda a, v: a + v,
    "2.0 ** a": lambda a, v: 2.0 ** a,
    "a > 0": lambda a, v: a > 0,
    "a == a": lambda a, v: a == a,
    "a != 0": lambda a, v: a != 0,
    "(a > 0) & (a < 4)": lambda a, v: np.logical_and(a > 0, a < 4),
    "a.astype(float32)": lambda a, v: a.astype(np.float32),
    "zeros(3, float32, like)": lambda a, v: np.zeros(3, dtype=np.float32, like=a),
    "a.sum(axis=0)": lambda a, v: a.sum(axis=0),
    "sum(a, 1, None, None, True)": lambda a, v: np.sum(a, 1, None, None, True),
    "max(a, axis=-1, keepdims=True)": lambda a, v: np.max(a, axis=-1, keepdims=True),
    "mean(a)": lambda a, v: np.mean(a),
    "multiply.outer(v, v)": lambda a, v: np.multiply.outer(v, v),
    "outer(a, v)": lambda a, v: np.outer(a, v),
    "trace(a, 1)": lambda a, v: np.trace(a, 1),
    "einsum('ab,b->a')": lambda a, v: np.einsum("ab,b->a", a, v),
    "tensordot(a, a.T, 1)": lambda a, v: np.tensordot(a, a.T, axes=1),
}


def _shaped(tally):
    return tally.array(A.shape), tally.array(V.shape)


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_shapes_and_dtypes_are_numpys(name):
    real = EXPRESSIONS[name](A, V)
    counted = EXPRESSIONS[name](*_shaped(Tally()))
    assert counted.shape == np.shape(real)
    assert counted.dtype == np.asarray(real).dtype


@pytest.mark.parametrize("name, call, error", [
    ("an axis out of range", lambda a, v: np.expand_dims(a, 7), np.exceptions.AxisError),
    ("transposed axes out of range", lambda a, v: a.transpose(3, 0), np.exceptions.AxisError),
    ("a sum over a missing axis", lambda a, v: a.sum(axis=2), np.exceptions.AxisError),
    ("too many indices", lambda a, v: a[0, 0, 0], IndexError),
    ("two ellipses", lambda a, v: a[..., ...], IndexError),
    ("an index out of range", lambda a, v: a[5], IndexError),
    ("a bad reshape", lambda a, v: a.reshape(4), ValueError),
    ("shapes that do not multiply", lambda a, v: v @ a, ValueError),
    ("writing into a broadcast",
     lambda a, v: np.add(v, 1.0, out=(np.broadcast_to(v, (2, 3)),)), ValueError),
])
def test_what_numpy_refuses_is_refused(name, call, error):
    with pytest.raises(error):
        call(A, V)
    with pytest.raises(error):
        call(*_shaped(Tally()))


@pytest.mark.parametrize("call", [
    lambda a, v: np.sort(a),                       # a function it cannot count
    lambda a, v: np.einsum("ab,b", a, v),          # an einsum without its output
    lambda a, v: a.sum(where=a > 0),               # an argument it cannot honour
    lambda a, v: np.trace(a, axis1=1, axis2=0),
    lambda a, v: bool(a > 0),                      # a value it does not have
    lambda a, v: np.asarray(a),
    lambda a, v: {a: 1},                           # == answers with an array, so no hash
    lambda a, v: a[a > 0],                         # a mask without values
])
def test_what_cannot_be_counted_raises(call):
    with pytest.raises((TypeError, ValueError)):
        call(*_shaped(Tally()))


def test_counts_by_hand():
    tally = Tally()
    X, W, g = tally.array((5, 3)), tally.array((3, 2)), tally.array((5, 2))
    held = tally.live
    assert held == 8 * (15 + 6 + 10)
    before = tally.flops
    H = X @ W
    assert tally.flops - before == 2 * 5 * 3 * 2 and tally.live == held + 8 * 10
    before = tally.flops
    np.tanh(H) * (1 - H ** 2)      # tanh, power, subtract, multiply: one FLOP an entry each
    assert tally.flops - before == 4 * 10
    before = tally.flops
    g.sum(axis=0)                  # a reduction: one FLOP per entry read
    assert tally.flops - before == 10
    before = tally.flops
    view = g.T[None]               # views: no FLOPs, no bytes
    assert tally.flops == before and tally.live == held + 8 * 10
    del H, view
    assert tally.live == held and tally.peak >= held + 8 * 10 + 8 * 10


def test_caller_arrays_are_not_counted_as_held():
    tally = Tally()
    x = tally.array((1000,), held=False)
    y = np.exp(x)
    assert tally.live == 8 * 1000 and y.shape == (1000,)
