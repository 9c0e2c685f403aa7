"""Every op's second derivative, stated in index notation, against finite differences.

For each op, example and pair of arguments ``(i, j)``, the materialised
``∂²out/∂args[i]∂args[j]`` must equal central finite differences of the op's
own (tested) Jacobian w.r.t. ``args[i]``, taken in ``args[j]``; and swapping
``i`` and ``j`` must swap the two groups of input axes (the symmetry of
second derivatives).
"""
import numpy as np
import pytest

import jacobians as jac
from jacobians.check import compare, finite_difference_jacobian, sample_inputs
from test_ops import EXTRA


def _cases():
    for name, op in sorted(jac.REGISTRY.items()):
        examples = list(op.examples) + [(shapes, {}) for shapes in EXTRA.get(name, [])]
        for k, (shapes, params) in enumerate(examples):
            for i in range(len(shapes)):
                for j in range(len(shapes)):
                    yield pytest.param(op, shapes, params, i, j, id=f"{name}-{k}-d{i}d{j}")


@pytest.mark.parametrize("op, shapes, params, i, j", list(_cases()))
def test_second_derivative_matches_finite_differences_of_the_jacobian(op, shapes, params, i, j):
    args = sample_inputs(op, shapes)
    H = op.hessian(*args, wrt=(i, j), **params)
    out = op(*args, **params)
    assert H.shape == out.shape + args[i].shape + args[j].shape
    fd = finite_difference_jacobian(lambda *a: op.jacobian(*a, wrt=i, **params), *args, wrt=j)
    assert compare(H, fd), compare(H, fd)
    # ∂²/∂x_i∂x_j is ∂²/∂x_j∂x_i with the two groups of input axes swapped.
    swapped = op.hessian(*args, wrt=(j, i), **params)
    o, a, b = out.ndim, args[i].ndim, args[j].ndim
    axes = list(range(o)) + list(range(o + a, o + a + b)) + list(range(o, o + a))
    np.testing.assert_allclose(np.transpose(H, axes), swapped, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op, shapes, params, i, j", list(_cases()))
def test_second_derivative_prints_and_counts(op, shapes, params, i, j):
    args = sample_inputs(op, shapes)
    d = op.second_derivative(*args, wrt=(i, j), **params)
    assert str(d).startswith("∂²")
    assert d._repr_latex_().startswith(r"$\frac{\partial^2")
    H = d.materialise()
    assert d.nnz() >= np.count_nonzero(H)


def test_tanh_second_derivative_formula():
    d = jac.tanh.second_derivative(np.ones((2, 3)))
    assert str(d) == "∂²U_ab/∂Z_cd∂Z_ef = (−2tanh(Z)(1 − tanh²(Z)))_ab δ_ac δ_bd δ_ae δ_bf"
    z = np.array([0.3, -1.2])
    t = np.tanh(z)
    np.testing.assert_allclose(jac.tanh.hessian(z), np.einsum("a,ac,ad->acd", -2 * t * (1 - t**2),
                                                               np.eye(2), np.eye(2)))


def test_matmul_second_derivative_is_deltas_across_its_arguments():
    X, W = np.ones((3, 4)), np.ones((4, 2))
    assert str(jac.matmul.second_derivative(X, W, wrt=(0, 1))) == \
        "∂²H_ab/∂X_cd∂W_ef = δ_ac δ_de δ_bf"
    assert not jac.matmul.hessian(X, W, wrt=0).any()


def test_a_second_derivative_too_large_is_refused_before_allocating():
    with jac.memory_limit(1 << 20):
        with pytest.raises(jac.JacobianTooLarge, match="jac.hvp"):
            jac.tanh.hessian(np.ones((30, 30)))
