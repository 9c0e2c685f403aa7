"""Independent checks: central finite differences and comparisons.

Shipped with the library, not only with its tests, so that a notebook can
ask "is this gradient right?" of anything a student computed by hand.
"""
from dataclasses import dataclass

import numpy as np

from .limits import check_fits


def finite_difference_jacobian(f, *args, wrt=0, eps=1e-6):
    """The Jacobian of ``f`` w.r.t. ``args[wrt]`` by central differences.

    Parameters
    ----------
    f : callable
        Any function of arrays returning an array (an op, or a function built
        from ops).
    *args : array_like
        Where to differentiate; converted to float64 copies, never modified.
    wrt : int
        Which argument to perturb.
    eps : float
        Relative step: entry ``x_c`` moves by ``eps · max(1, |x_c|)``.

    Returns
    -------
    J : ndarray, shape ``(*f(*args).shape, *args[wrt].shape)``
        ``J[..., c] = (f(x + h e_c) − f(x − h e_c)) / 2h``, with error
        ``O(h²)``.

    Examples
    --------
    >>> J = finite_difference_jacobian(np.square, np.array([1.0, 2.0]))
    >>> np.round(J, 6)
    array([[2., 0.],
           [0., 4.]])
    """
    args = [np.array(a, dtype=np.float64) for a in args]
    x = args[wrt]
    out_shape = np.shape(f(*args))
    check_fits(out_shape + x.shape, "the finite-difference Jacobian",
               "check_vjp with a cotangent, on a smaller problem,")
    J = np.empty(out_shape + x.shape)
    for c in np.ndindex(x.shape):
        h = eps * max(1.0, abs(x[c]))
        saved = x[c]
        # Copies: f may return its argument itself, which the next step changes.
        x[c] = saved + h
        up = np.array(f(*args), dtype=np.float64)
        x[c] = saved - h
        down = np.array(f(*args), dtype=np.float64)
        x[c] = saved
        J[(...,) + c] = (up - down) / (2 * h)
    return J


@dataclass(frozen=True)
class Agreement:
    """How closely two arrays agree; true when they agree within tolerance."""

    ok: bool
    max_abs_error: float
    max_rel_error: float
    message: str

    def __bool__(self):
        return self.ok

    def __str__(self):
        return self.message


def compare(actual, expected, rtol=1e-5, atol=1e-7):
    """Compare two arrays entry by entry.

    Parameters
    ----------
    actual, expected : array_like
        Must have the same shape; a shape mismatch is a disagreement.
    rtol, atol : float
        Agreement means ``|actual − expected| ≤ atol · s + rtol |expected|``
        everywhere, where ``s = max(1, max |expected|)``: a finite-difference
        error scales with the size of the whole function, so a tiny entry
        beside huge ones is only as exact as the huge ones.

    Returns
    -------
    Agreement
        Truthy when they agree, with the largest errors and a sentence.

    Examples
    --------
    >>> print(compare(np.ones(3), np.ones(3) + 1e-12))
    agree: shape (3,), max abs error 1.0e-12, max rel error 1.0e-12
    """
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if actual.shape != expected.shape:
        return Agreement(False, np.inf, np.inf,
                         f"disagree: shape {actual.shape} where {expected.shape} was expected")
    error = np.abs(actual - expected)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    abs_err = float(error.max(initial=0.0))
    rel_err = float((error / np.maximum(np.abs(expected), atol)).max(initial=0.0))
    ok = bool(np.all(error <= atol * scale + rtol * np.abs(expected)))
    verdict = "agree" if ok else "disagree"
    return Agreement(ok, abs_err, rel_err, f"{verdict}: shape {actual.shape}, max abs error "
                     f"{abs_err:.1e}, max rel error {rel_err:.1e}")


def check_answer(answer, expected):
    """Mark an exercise: a sentence saying whether ``answer`` is right.

    For the lecture notebooks' exercises. It never raises, so a notebook
    still runs top to bottom before the student has answered (``answer``
    is ``None`` then).

    >>> print(check_answer(None, np.ones(2)))
    no answer yet: replace None with your expression
    >>> print(check_answer(np.ones((2, 1)), np.ones(2)))
    not yet: shape (2, 1) where (2,) was expected
    >>> print(check_answer(np.zeros(2), np.ones(2)))
    not yet: the shape (2,) is right, but entries differ by up to 1
    >>> print(check_answer(np.ones(2), np.ones(2)))
    correct
    >>> print(check_answer((3, 4), (4, 3)))
    not yet: (3, 4) is not the shape
    >>> print(check_answer(2, 3))
    not yet: 2 is not the number
    >>> print(check_answer("Forward", "forward"))
    correct
    """
    if answer is None:
        return "no answer yet: replace None with your expression"
    if isinstance(expected, str):  # a question answered in words
        right = isinstance(answer, str) and answer.strip().lower() == expected.lower()
        return "correct" if right else f"not yet: {answer!r} is not it"
    if isinstance(expected, tuple) and all(isinstance(n, int) for n in expected):
        # A question about a shape: the answer is a sequence of whole numbers.
        given = np.asarray(answer)
        right = given.shape == (len(expected),) and given.tolist() == list(expected)
        return "correct" if right else f"not yet: {answer!r} is not the shape"
    try:
        verdict = compare(answer, expected)
    except (TypeError, ValueError) as error:
        return f"not yet: the answer is not an array of numbers ({error})"
    if verdict:
        return "correct"
    if np.shape(answer) != np.shape(expected):
        return "not yet: " + verdict.message.removeprefix("disagree: ")
    if np.ndim(expected) == 0:
        return f"not yet: {float(answer):g} is not the number"
    return (f"not yet: the shape {np.shape(answer)} is right, but entries differ by up to "
            f"{verdict.max_abs_error:.2g}")


def check_jacobian(J, f, *args, wrt=0):
    """Compare a Jacobian ``J`` with the finite-difference Jacobian of ``f``."""
    return compare(J, finite_difference_jacobian(f, *args, wrt=wrt))


def check_vjp(v, g, f, *args, wrt=0):
    """Compare a VJP ``v`` with ``Σ_out g · J`` for the finite-difference ``J`` of ``f``."""
    J = finite_difference_jacobian(f, *args, wrt=wrt)
    g = np.asarray(g, dtype=float)
    return compare(v, np.tensordot(g, J, axes=g.ndim))


def check_jvp(u, t, f, *args, wrt=0):
    """Compare a JVP ``u`` with ``Σ_in J · t`` for the finite-difference ``J`` of ``f``."""
    J = finite_difference_jacobian(f, *args, wrt=wrt)
    t = np.asarray(t, dtype=float)
    return compare(u, np.tensordot(J, t, axes=t.ndim))


def sample_inputs(op, shapes, seed=0):
    """Random arguments for ``op`` of the given shapes, where it is smooth.

    Each argument is drawn as its op's ``sampling`` says, or else from its
    domain: ``"real"`` (standard normal), ``"positive"`` (uniform on
    [0.5, 2]) or ``"away_from_zero"`` (±uniform on [0.3, 2], so a ReLU's kink
    is never within a finite difference step, and a nonzero argument far
    from zero).
    """
    if not op.variadic and len(shapes) != len(op.arg_names):
        raise ValueError(f"{op.name} takes {len(op.arg_names)} argument(s) "
                         f"({', '.join(op.arg_names)}); got {len(shapes)} shape(s) {shapes!r}")
    rng = np.random.default_rng(seed)
    kinds = op.sampling or tuple(d.kind for d in op.domains or ()) or ("real",) * len(shapes)
    draw = {
        "real": lambda s: rng.standard_normal(s),
        "positive": lambda s: rng.uniform(0.5, 2.0, s),
        "away_from_zero": lambda s: rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s),
    }
    draw["nonzero"] = draw["away_from_zero"]
    return tuple(np.asarray(draw[k](s), dtype=np.float64) for k, s in zip(kinds, shapes))
