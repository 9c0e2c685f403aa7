"""The five learner questions, and a small convolutional network, as ready-made models.

Each :class:`Question` holds a function built from the library's ops, a
helper that makes sample inputs of given sizes, and the closed form from
the literature that the chain rule must reproduce. The mathematics is in
the project's QUESTIONS notes; each model names its intermediate values so
graphs and derived programs speak of ``H`` and ``ŷ``. ``QUESTIONS`` holds
them all, the five questions first and then ``"CNN"``, whose closed form is
backprop through a convolution written out by hand.
"""
from dataclasses import dataclass, field

import numpy as np

from . import ops
from .graph import name


@dataclass(frozen=True)
class Question:
    """A learner question as a model.

    Attributes
    ----------
    key : str
        ``"Q0"`` … ``"Q4"``, or ``"CNN"``.
    title : str
    function : callable
        The model: ``function(*args)`` is a scalar.
    sample : callable
        ``sample(seed=0, **sizes)`` returns the arguments as a tuple.
    closed_form : callable
        ``closed_form(*args)`` returns the gradient(s) w.r.t. ``wrt``.
    wrt : int or tuple of int
        The arguments the question asks about.
    sizes : dict
        Default sizes for ``sample``.
    """

    key: str
    title: str
    function: object
    sample: object
    closed_form: object
    wrt: object
    sizes: dict = field(default_factory=dict)

    def args(self, seed=0, **sizes):
        """Sample inputs at the default sizes, overridden by ``sizes``."""
        return self.sample(seed=seed, **{**self.sizes, **sizes})


def _normal(seed, *shapes):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(s) for s in shapes)


def _one_hot(seed, rows, classes):
    labels = np.random.default_rng(seed + 1).integers(classes, size=rows)
    return np.eye(classes)[labels]


# --- Q0: a vector differentiated by a matrix ----------------------------------
def q0_loss(W, X, v, y):
    """``l = ½‖X W v − y‖²``: H = X W, ŷ = H v."""
    H = name(ops.matmul(X, W), "H")
    y_hat = name(ops.matmul(H, v), "ŷ")
    r = name(ops.subtract(y_hat, y), "r")
    return name(ops.multiply(0.5, name(ops.sum(name(ops.square(r), "r²")), "s")), "l")


def q0_sample(n=4, m=3, p=2, seed=0):
    return _normal(seed, (m, p), (n, m), (p,), (n,))


def q0_closed_form(W, X, v, y):
    """``∂l/∂W = Xᵀ (ŷ − y) vᵀ``."""
    return X.T @ np.outer(X @ W @ v - y, v)


# --- Q1: why the gradient has the "wrong" shape -------------------------------
def q1_loss(W, x, b, y):
    """``L = f · y`` with ``f = x W + b`` (x: m, W: m×k, b and y: k)."""
    f = name(ops.add(name(ops.matmul(x, W), "xW"), b), "f")
    return name(ops.matmul(f, y), "L")


def q1_sample(m=3, k=10, seed=0):
    return _normal(seed, (m, k), (m,), (k,), (k,))


def q1_closed_form(W, x, b, y):
    """``dL = x dW y``: the gradient is ``xᵀ yᵀ`` (m×k, W's shape: denominator layout).

    Numerator layout holds its transpose, ``y x`` (k×m) —
    see :func:`q1_numerator_layout`.
    """
    return np.outer(x, y)


def q1_numerator_layout(W, x, b, y):
    """The numerator-layout derivative ``∂L/∂W = y x``, shape (k, m)."""
    return np.outer(y, x)


# --- Q2: a parameter used three times -----------------------------------------
def q2_loss(A, B, x):
    """``y = A x, u = σ(y), v = B x, z = A (u ⊙ v), w = A z, L = ‖w‖²``.

    ``A`` is read three times; the product ``u ⊙ v`` is named ``s``.
    """
    y = name(ops.matmul(A, x), "y")
    u = name(ops.sigmoid(y), "u")
    v = name(ops.matmul(B, x), "v")
    z = name(ops.matmul(A, name(ops.multiply(u, v), "s")), "z")
    w = name(ops.matmul(A, z), "w")
    return name(ops.sum(name(ops.square(w), "w²")), "L")


def q2_sample(K=4, seed=0):
    return _normal(seed, (K, K), (K, K), (K,))


def q2_closed_form(A, B, x):
    """``(∂L/∂A, ∂L/∂B, ∂L/∂x)`` by differentials and the Frobenius product.

    With ``U = Diag(u)``, ``V = Diag(v)``, ``P = w zᵀ + Aᵀ w uᵀ V``,
    ``q = V AᵀAᵀ w`` and ``r = U AᵀAᵀ w``::

        ∂L/∂A = 2P + 2(U − U²) q xᵀ
        ∂L/∂B = 2 r xᵀ
        ∂L/∂x = 2Bᵀ r + 2Aᵀ (U − U²) q
    """
    y = A @ x
    u = 1 / (1 + np.exp(-y))
    v = B @ x
    z = A @ (u * v)
    w = A @ z
    U, V = np.diag(u), np.diag(v)
    P = np.outer(w, z) + np.outer(A.T @ w, u) @ V
    q = V @ A.T @ A.T @ w
    r = U @ A.T @ A.T @ w
    return (2 * P + 2 * np.outer((U - U @ U) @ q, x),
            2 * np.outer(r, x),
            2 * B.T @ r + 2 * A.T @ (U - U @ U) @ q)


# --- Q3: the δ recursion ------------------------------------------------------
def q3_loss(W1, b1, W2, b2, W3, b3, x, y):
    """Three sigmoid layers ``a^l = σ(W^l a^{l−1} + b^l)`` and ``C = ½‖a³ − y‖²``."""
    a = x
    for level, (W, b) in enumerate(((W1, b1), (W2, b2), (W3, b3)), start=1):
        Wa = name(ops.matmul(W, a), f"W{level}{'x' if level == 1 else f'a{level - 1}'}")
        z = name(ops.add(Wa, b), f"z{level}")
        a = name(ops.sigmoid(z), f"a{level}")
    r = name(ops.subtract(a, y), "r")
    return name(ops.multiply(0.5, name(ops.sum(name(ops.square(r), "r²")), "s")), "C")


def q3_sample(widths=(4, 5, 3, 2), seed=0):
    shapes = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        shapes += [(n_out, n_in), (n_out,)]
    return _normal(seed, *shapes, (widths[0],), (widths[-1],))


def q3_closed_form(W1, b1, W2, b2, W3, b3, x, y):
    """The textbook recursion, for ``(∂C/∂W¹, ∂C/∂b¹, …, ∂C/∂b³)``.

    ``δ³ = (a³ − y) ⊙ σ'(z³)``, ``δˡ = ((Wˡ⁺¹)ᵀ δˡ⁺¹) ⊙ σ'(zˡ)``;
    ``∂C/∂Wˡ = δˡ (aˡ⁻¹)ᵀ`` and ``∂C/∂bˡ = δˡ``.
    """
    layers = ((W1, b1), (W2, b2), (W3, b3))
    activations, derivatives = [x], []
    for W, b in layers:
        s = 1 / (1 + np.exp(-(W @ activations[-1] + b)))
        activations.append(s)
        derivatives.append(s * (1 - s))  # σ'(z) = σ(z)(1 − σ(z))
    delta = (activations[-1] - y) * derivatives[-1]
    grads = []
    for level in (2, 1, 0):
        grads = [np.outer(delta, activations[level]), delta] + grads
        if level:
            delta = (layers[level][0].T @ delta) * derivatives[level - 1]
    return tuple(grads)


# --- Q4: which product goes where ---------------------------------------------
def q4_loss(x, W1, b1, W2, b2, y):
    """``r = x W₁ + b₁, h = σ(r), θ = h W₂ + b₂, ŷ = softmax(θ), J = −Σ y log ŷ``.

    ``x`` is one example (a vector) or a minibatch (one example per row).
    """
    r = name(ops.add(name(ops.matmul(x, W1), "xW1"), b1), "r")
    h = name(ops.sigmoid(r), "h")
    theta = name(ops.add(name(ops.matmul(h, W2), "hW2"), b2), "θ")
    y_hat = name(ops.softmax(theta), "ŷ")
    return name(ops.cross_entropy(y_hat, y), "J")


def q4_sample(n=None, m=4, hidden=5, k=3, seed=0):
    """A single example when ``n`` is None, else a minibatch of ``n`` rows."""
    rows = () if n is None else (n,)
    # The weights are drawn first, so a batch and a single example share them.
    W1, b1, W2, b2, x = _normal(seed, (m, hidden), (hidden,), (hidden, k), (k,), rows + (m,))
    y = _one_hot(seed, 1 if n is None else n, k)
    return x, W1, b1, W2, b2, (y[0] if n is None else y)


def q4_closed_form(x, W1, b1, W2, b2, y):
    """``∂J/∂x = (((ŷ − y) W₂ᵀ) ⊙ h(1 − h)) W₁ᵀ``."""
    h = 1 / (1 + np.exp(-(x @ W1 + b1)))
    theta = h @ W2 + b2
    e = np.exp(theta - theta.max(axis=-1, keepdims=True))
    y_hat = e / e.sum(axis=-1, keepdims=True)
    return (((y_hat - y) @ W2.T) * h * (1 - h)) @ W1.T


# --- a small convolutional network ----------------------------------------------
def cnn_loss(w, V, x, y):
    """``Z = x ⋆ w`` (padded to keep the size), ``A = relu(Z)``, ``P`` = 2×2 max-pool,
    ``θ = flat(P) V``, ``J = −Σ y log softmax(θ)``.

    ``x`` is a batch of images ``(N, C, side, side)``; the loss sums over it. The
    kernels are square with an odd number of taps, padded by half of them.
    """
    Z = name(ops.conv2d(x, w, padding=w.shape[2] // 2), "Z")
    A = name(ops.relu(Z), "A")
    P = name(ops.max_pool2d(A, 2), "P")
    F = name(ops.reshape(P, (x.shape[0], -1)), "F")
    theta = name(ops.matmul(F, V), "θ")
    return name(ops.softmax_cross_entropy(theta, y), "J")


def cnn_sample(n=2, channels=1, kernels=4, side=8, classes=3, seed=0):
    """Images, 3×3 kernels and a read-out ``V`` from the pooled features to the classes."""
    pooled = kernels * (side // 2) ** 2
    w, V, x = _normal(seed, (kernels, channels, 3, 3), (pooled, classes),
                      (n, channels, side, side))
    return w, V / np.sqrt(pooled), x, _one_hot(seed, n, classes)


def cnn_closed_form(w, V, x, y):
    """``(∂J/∂w, ∂J/∂V)`` by the textbook backprop of a convolutional layer.

    ``δθ = softmax(θ) − y``; ``∂J/∂V = Fᵀ δθ``; ``δP = δθ Vᵀ`` routed to
    each window's largest entry; ``δZ = δA ⊙ [Z > 0]``; and for every tap
    ``(i, j)``, ``∂J/∂w_ocij = Σ_nuv δZ_nouv x̄_nc(u+i)(v+j)`` with ``x̄``
    the zero-padded images: the correlation of the input with ``δZ``.
    """
    n, _, height, width = x.shape
    taps = w.shape[2]
    half = taps // 2  # the padding that keeps the size, as cnn_loss pads
    padded = np.pad(x, ((0, 0), (0, 0), (half, half), (half, half)))
    shifted = [[padded[:, :, i:i + height, j:j + width] for j in range(taps)]
               for i in range(taps)]
    Z = sum(np.einsum("nchw,oc->nohw", shifted[i][j], w[:, :, i, j])
            for i in range(taps) for j in range(taps))
    A = np.maximum(Z, 0)
    rows, cols = height // 2, width // 2
    windows = A[:, :, :2 * rows, :2 * cols].reshape(n, -1, rows, 2, cols, 2)
    P = windows.max(axis=(3, 5))
    F = P.reshape(n, -1)
    theta = F @ V
    e = np.exp(theta - theta.max(axis=-1, keepdims=True))
    g_theta = e / e.sum(axis=-1, keepdims=True) * y.sum(axis=-1, keepdims=True) - y
    g_P = (g_theta @ V.T).reshape(P.shape)
    # Each window sends its gradient to its largest entry. A window that relu made all
    # zero is a tie; it sends it to every zero, and the mask [Z > 0] below drops it again.
    winners = windows == P[:, :, :, None, :, None]
    g_A = np.zeros_like(A)
    g_A[:, :, :2 * rows, :2 * cols] = (winners * g_P[:, :, :, None, :, None]).reshape(
        n, -1, 2 * rows, 2 * cols)
    g_Z = g_A * (Z > 0)
    g_w = np.stack([np.stack([np.einsum("nohw,nchw->oc", g_Z, shifted[i][j])
                              for j in range(taps)], axis=-1) for i in range(taps)], axis=-2)
    return g_w, F.T @ g_theta


QUESTIONS = {
    q.key: q for q in (
        Question("Q0", "What is a vector differentiated by a matrix?",
                 q0_loss, q0_sample, q0_closed_form, 0, {"n": 4, "m": 3, "p": 2}),
        Question("Q1", "Why does my gradient have the wrong shape?",
                 q1_loss, q1_sample, q1_closed_form, 0, {"m": 3, "k": 10}),
        Question("Q2", "A parameter is used three times: which rule applies?",
                 q2_loss, q2_sample, q2_closed_form, (0, 1, 2), {"K": 4}),
        Question("Q3", "Why the transpose, and why the Hadamard product?",
                 q3_loss, q3_sample, q3_closed_form, (0, 1, 2, 3, 4, 5),
                 {"widths": (4, 5, 3, 2)}),
        Question("Q4", "Which operator goes where: element-wise or matrix product?",
                 q4_loss, q4_sample, q4_closed_form, 0, {"n": None, "m": 4, "hidden": 5, "k": 3}),
        Question("CNN", "What does a small convolutional network's gradient cost?",
                 cnn_loss, cnn_sample, cnn_closed_form, (0, 1),
                 {"n": 2, "channels": 1, "kernels": 4, "side": 8, "classes": 3}),
    )
}

# The five learner questions, without the models that follow them.
FIVE = ("Q0", "Q1", "Q2", "Q3", "Q4")
