"""Gradients of gradients: the backward sweep traced as a graph of the library's ops.

When ``jac.grad`` runs inside another trace (``jac.jacobian(jac.grad(f))``,
``jac.grad`` of a function that calls ``jac.grad``), its pullbacks run on
traced values and are recorded as ops. Every op's hand VJP must trace so: the
Jacobian of the gradient of ``Σ w ⊙ op(args)`` is held, for every op and pair
of arguments, to central finite differences of the (plain) gradient.
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
                yield pytest.param(op, shapes, params, i, id=f"{name}-{k}-wrt{i}")


def _weighted(op, params, out_shape):
    weights = np.random.default_rng(7).standard_normal(out_shape)

    def loss(*args):
        return np.sum(weights * op(*args, **params))
    return loss


@pytest.mark.parametrize("op, shapes, params, i", list(_cases()))
def test_the_jacobian_of_a_gradient_matches_finite_differences(op, shapes, params, i):
    args = sample_inputs(op, shapes)
    loss = _weighted(op, params, np.shape(op(*args, **params)))
    gradient = jac.grad(loss, wrt=i)
    for j in range(len(args)):
        fd = finite_difference_jacobian(gradient, *args, wrt=j)
        nested = jac.jacobian(gradient, wrt=j)(*args)
        assert compare(nested, fd), (j, compare(nested, fd))


def test_grad_of_grad_and_derive_of_a_gradient():
    x = np.array([0.5, -1.0, 2.0])

    def f(x):
        return np.sum(np.tanh(x) ** 2)

    def slope_sum(x):
        return jac.grad(f)(x).sum()
    # d/dx Σ_c 2 tanh(x_c)(1 − tanh²(x_c)) = 2(1 − tanh²)(1 − 3 tanh²)
    t = np.tanh(x)
    closed = 2 * (1 - t**2) * (1 - 3 * t**2)
    np.testing.assert_allclose(jac.grad(slope_sum)(x), closed, rtol=1e-12)
    program = jac.derive(slope_sum)(x)
    np.testing.assert_allclose(program.gradient, closed, rtol=1e-12)
    assert "tanh²" in str(program)


def test_a_closure_over_an_enclosing_trace_is_a_constant_inside():
    # d/dy [d/dx x·y]_(x=1) = d/dy y = 1: y is a constant of the inner trace.
    def outer(y):
        return jac.grad(lambda x: np.sum(x * y))(np.ones(2)).sum()
    np.testing.assert_allclose(jac.grad(outer)(np.array([3.0, 4.0])), [1.0, 1.0])


def test_a_value_of_a_finished_trace_is_refused():
    kept = []
    jac.trace_graph(lambda x: kept.append(x) or x.sum(), np.ones(2))
    with pytest.raises(ValueError, match="used inside another"):
        jac.grad(lambda y: np.sum(y * kept[0]))(np.ones(2))
