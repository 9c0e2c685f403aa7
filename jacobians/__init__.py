"""jacobians: the tensors of backpropagation, made real.

Every operation returns its full Jacobian (shape ``out.shape + in.shape``),
its formula in index notation, and the vector–Jacobian product that
frameworks compute instead.
"""
from .check import (Agreement, check_answer, check_jacobian, check_jvp, check_vjp, compare,
                    finite_difference_jacobian, sample_inputs)
from .chain import ChainRule, chain_rule, compose, grad, jacobian, jvp, paths, vjp
from .cost import ModelCost, Sweep, cost_row, model_cost, sweep
from .derive import Program, derive
from .graph import Graph, name, trace_graph
from .index import Delta, Derivative, Factor, Term
from .limits import (JacobianTooLarge, get_memory_limit, memory_limit, set_memory_limit)
from .ops import REGISTRY, Op
from .ops import abs, broadcast_to, clip, maximum, minimum, where
from .ops import max, min, norm, var
from .ops import einsum
from .ops import concatenate, expand_dims, getitem, split, squeeze, stack
from .ops import (add, cross_entropy, divide, exp, log, log_softmax, matmul, mean, multiply,
                  negative, outer, power, relu, reshape, sigmoid, softmax,
                  softmax_cross_entropy, softplus, sqrt, square, subtract, sum, tanh, trace,
                  transpose)
from .structure import (KroneckerFactors, Structure, as_matrix, kronecker_factors,
                        nearest_kronecker, per_example, structure)
