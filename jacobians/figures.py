"""Every figure the project teaches with, written by one command.

:func:`regenerate` draws each figure in :data:`FIGURES` from the learner
questions' own models and sample inputs, at sizes small enough to read every
cell (``n, m, p = 3, 4, 2``: three rows of a minibatch, four features, two
hidden units — all different, so no axis can be mistaken for another), and
writes it as a PNG. Inputs come from fixed seeds and the files carry no
timestamp or software version, so a second run writes the same bytes and a
changed figure shows up in ``git diff`` only when the picture changed.

The cost-growth figures are not here: ``python -m jacobians cost`` measures
and writes those.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from . import ops
from .chain import grad
from .examples import QUESTIONS, q1_numerator_layout
from .graph import trace_graph
from .plot import plot_chain, plot_collapse, plot_shape, plot_sparsity
from .structure import kronecker_factors

DPI = 100
SEED = 0
SIZES = {"n": 3, "m": 4, "p": 2}
Q1_SIZES = {"m": 3, "k": 4}     # x: m, W: m×k; k is 10 in the question, 4 fits a figure
PNG = {"dpi": DPI, "metadata": {"Software": None}}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file name, what it teaches, and how to draw it.

    Attributes
    ----------
    name : str
        The file name, ``q0_dH_dW_shape.png``.
    teaches : str
        One line for a reader choosing a figure.
    draw : callable
        ``draw()`` returns the :class:`~matplotlib.figure.Figure`.
    """

    name: str
    teaches: str
    draw: object


def _with_formula(fig, derivative):
    """Add the index-notation statement under a figure's title."""
    ax = fig.axes[0]
    ax.set_title(f"{ax.get_title()}\n{derivative}", fontsize=10)
    return fig


def _q0():
    """Q0's sample inputs at the small sizes and its traced graph."""
    q = QUESTIONS["Q0"]
    args = q.args(seed=SEED, **SIZES)
    return args, trace_graph(q.function, *args)


def _q0_local(child, position):
    """A local Jacobian of Q0's graph, by the name of its child node: the statement and array."""
    _, graph = _q0()
    node = next(n for n in graph.nodes if n.name == child)
    derivative = node.derivative(position)
    return derivative, derivative.materialise()


def _dyhat_dH_shape():
    derivative, J = _q0_local("ŷ", 0)
    return _with_formula(plot_shape(J, 1, names=("ŷ", "H")), derivative)


def _dyhat_dH_sparsity():
    derivative, J = _q0_local("ŷ", 0)
    return plot_sparsity(J, 1, title=f"∂ŷ/∂H as a matrix: {derivative}")


def _dH_dW_shape():
    derivative, J = _q0_local("H", 1)
    return _with_formula(plot_shape(J, 2, names=("H", "W")), derivative)


def _factor_label(F, known):
    """A Kronecker factor by name: one of ``known``, an identity ``I_p`` or a ones column ``1_n``."""
    for name, M in known.items():
        if F.shape == M.shape and np.allclose(F, M):
            return name
    if F.shape[0] == F.shape[1] and np.allclose(F, np.eye(len(F))):
        return f"I_{len(F)}"
    if F.shape[1] == 1 and np.allclose(F, 1):
        return f"1_{len(F)}"
    raise RuntimeError(f"a Kronecker factor is none of {', '.join(known)}, an identity or "
                       f"ones:\n{F}")


def _kronecker_product(J, order, known=None):
    """``"X ⊗ I_2"``: the exact Kronecker factors of a Jacobian with two output axes, named.

    Captions are read off :func:`kronecker_factors`, so they cannot drift from the picture.
    """
    factors = kronecker_factors(J, 2, order=order)
    if not factors.exact:
        raise RuntimeError(f"the Jacobian is not a Kronecker product in {order} order: {factors}")
    return " ⊗ ".join(_factor_label(F, known or {}) for F in (factors.A, factors.B))


def _dH_dW_sparsity(order):
    (_, X, _, _), _ = _q0()
    _, J = _q0_local("H", 1)
    product = _kronecker_product(J, order, {"X": X})
    # plot_sparsity itself says "column-major vec" for order F.
    how = ", row-major vec (NumPy's reshape)" if order == "C" else ", as in textbooks"
    return plot_sparsity(J, 2, order=order, title=f"∂vec(H)/∂vec(W) = {product}{how}")


def _q0_chain(order, upstream):
    _, graph = _q0()
    return plot_chain(graph, "W", order=order, upstream=upstream)


def _q1():
    q = QUESTIONS["Q1"]
    return q, q.args(seed=SEED, **Q1_SIZES)


def _df_dW_shape():
    _, (W, x, _, _) = _q1()
    # f = xW + b and b does not depend on W, so ∂f/∂W is the matmul's local Jacobian.
    derivative = ops.matmul.derivative(x, W, wrt=1, names=("x", "W", "f"))
    fig = plot_shape(derivative.materialise(), 1, names=("f", "W"))
    return _with_formula(fig, f"{derivative}: grid a holds x in its column a")


def _q1_layouts():
    q, args = _q1()
    W = args[0]
    denominator = grad(q.function, wrt=0)(*args)
    numerator = q1_numerator_layout(*args)
    if not np.allclose(numerator, denominator.T):
        raise RuntimeError("Q1's numerator layout is not the transpose of the gradient")
    # Tall enough that the width sets the cell size in both panels, so their cells match.
    fig = Figure(figsize=(8.0, 5.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(W.shape[1], W.shape[0]))
    plot_shape(denominator, 0, names=("L", "W"), ax=left)
    plot_shape(numerator, 0, names=("L", "Wᵀ"), ax=right)
    left.set_title(f"denominator layout: xᵀyᵀ, shape {denominator.shape}\nW's shape: what "
                   f"jac.grad, JAX and PyTorch return", fontsize=10)
    right.set_title(f"numerator layout: y x, shape {numerator.shape}\nthe transpose: "
                    f"the learner's y times x", fontsize=10)
    fig.suptitle("Q1: one gradient, two layouts (dL = x dW y)", fontsize=11)
    return fig


def _q1_chain():
    q, args = _q1()
    return plot_chain(trace_graph(q.function, *args), "W")


def _q2_chain():
    q = QUESTIONS["Q2"]
    return plot_chain(trace_graph(q.function, *q.args(seed=SEED, K=3)), "A")


def _rng():
    return np.random.default_rng(SEED)


def _sigmoid_matrix():
    Z = _rng().standard_normal((SIZES["n"], SIZES["p"]))
    derivative = ops.sigmoid.derivative(Z)
    return derivative, derivative.materialise()


def _sigmoid_shape():
    derivative, J = _sigmoid_matrix()
    return _with_formula(plot_shape(J, 2, names=("U", "Z")), derivative)


def _sigmoid_sparsity():
    derivative, J = _sigmoid_matrix()
    return plot_sparsity(J, 2, title=f"U = σ(Z) entry by entry: diagonal\n{derivative}")


def _vector_and_cotangent(n):
    """An input ``z`` and an upstream gradient ``g``, ``n`` entries each."""
    return _rng().standard_normal((2, n))


def _sigmoid_collapse():
    z, g = _vector_and_cotangent(5)
    return plot_collapse(ops.sigmoid.jacobian(z), g)


def _softmax_shape():
    z, _ = _vector_and_cotangent(4)
    derivative = ops.softmax.derivative(z)
    fig = plot_shape(derivative.materialise(), 1, names=("s", "z"))
    return _with_formula(fig, f"{derivative}: every entry nonzero")


def _softmax_collapse():
    z, g = _vector_and_cotangent(4)
    return plot_collapse(ops.softmax.jacobian(z), g)


def _bias():
    rng = _rng()
    H, b = rng.standard_normal((SIZES["n"], SIZES["p"])), rng.standard_normal(SIZES["p"])
    derivative = ops.add.derivative(H, b, wrt=1, names=("H", "b", "Z"))
    return derivative, derivative.materialise()


def _bias_shape():
    derivative, J = _bias()
    fig = plot_shape(J, 2, names=("Z", "b"))
    return _with_formula(fig, f"Z = H + b, b added to every row: {derivative}")


def _bias_sparsity():
    _, J = _bias()
    product = _kronecker_product(J, "C")
    return plot_sparsity(J, 2, title=f"Z = H + b: ∂vec(Z)/∂b = {product}, one identity per row")


FIGURES = (
    FigureSpec("q0_dyhat_dH_shape.png",
               "Q0: ∂ŷ/∂H, a vector by a matrix, is 3rd order (n, n, p)", _dyhat_dH_shape),
    FigureSpec("q0_dyhat_dH_sparsity.png",
               "Q0: ∂ŷ/∂H = δ_ac v_d as a matrix: v in each row's own block", _dyhat_dH_sparsity),
    FigureSpec("q0_dH_dW_shape.png",
               "Q0: ∂H/∂W, a matrix by a matrix, is 4th order: a matrix of matrices",
               _dH_dW_shape),
    FigureSpec("q0_dH_dW_sparsity_rowmajor.png",
               "Q0: ∂H/∂W flattened row-major is X ⊗ I_p", lambda: _dH_dW_sparsity("C")),
    FigureSpec("q0_dH_dW_sparsity_colmajor.png",
               "Q0: the same Jacobian flattened column-major is I_p ⊗ X: the factors swap",
               lambda: _dH_dW_sparsity("F")),
    FigureSpec("q0_chain.png",
               "Q0: ∂l/∂ŷ (n,) · ∂ŷ/∂H (n, n, p) · ∂H/∂W (n, p, m, p) → (m, p), and what "
               "each step sums", lambda: _q0_chain("reverse", "ŷ")),
    FigureSpec("q0_chain_forward.png",
               "Q0: the whole chain in forward order, carrying ∂·/∂W (order 3) through "
               "every step", lambda: _q0_chain("forward", None)),
    FigureSpec("q1_df_dW_shape.png",
               "Q1: ∂f/∂W is not x but a 3rd-order tensor", _df_dW_shape),
    FigureSpec("q1_layouts.png",
               "Q1: the gradient in denominator layout (W's shape) and numerator layout "
               "(its transpose)", _q1_layouts),
    FigureSpec("q1_chain.png",
               "Q1: ∂L/∂f · ∂f/∂xW · ∂xW/∂W contracts to W's shape", _q1_chain),
    FigureSpec("q2_chain.png",
               "Q2: A is read three times, so ∂L/∂A sums three paths", _q2_chain),
    FigureSpec("sigmoid_shape.png",
               "σ on a matrix: a 4th-order Jacobian with one entry per block", _sigmoid_shape),
    FigureSpec("sigmoid_sparsity.png",
               "σ entry by entry: as a matrix, its Jacobian is diagonal", _sigmoid_sparsity),
    FigureSpec("sigmoid_collapse.png",
               "Q3: a diagonal Jacobian makes gᵀJ the Hadamard product g ⊙ σ'",
               _sigmoid_collapse),
    FigureSpec("softmax_shape.png",
               "Q4: the softmax Jacobian diag(s) − s sᵀ is dense", _softmax_shape),
    FigureSpec("softmax_collapse.png",
               "Q4: for softmax, gᵀJ ≠ g ⊙ diag(J): no Hadamard shortcut", _softmax_collapse),
    FigureSpec("bias_add_shape.png",
               "a bias row b added to every row of H: ∂Z/∂b has shape (n, p, p)", _bias_shape),
    FigureSpec("bias_add_sparsity.png",
               "the bias Jacobian as a matrix: 1_n ⊗ I_p, one identity per row", _bias_sparsity),
)


def regenerate(out="figures", names=None):
    """Write the project's figures as PNG files.

    Parameters
    ----------
    out : str or path
        The folder; made if missing. Files of the same names are replaced,
        other files are left alone.
    names : iterable of str, optional
        Only the figures with these file names (see :data:`FIGURES`); all
        of them when None.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of :data:`FIGURES`.

    Raises
    ------
    ValueError
        If ``names`` holds a name that is not a figure.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [p.name for p in regenerate(folder, ["sigmoid_collapse.png"])]
    ['sigmoid_collapse.png']
    """
    known = {spec.name for spec in FIGURES}
    wanted = known if names is None else set(names)
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"no figure named {', '.join(unknown)}; the figures are "
                         f"{', '.join(spec.name for spec in FIGURES)}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in FIGURES:
        if spec.name in wanted:
            path = folder / spec.name
            spec.draw().savefig(path, **PNG)
            written.append(path)
    return written
