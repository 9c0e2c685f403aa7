"""jacobians: the tensors of backpropagation, made real.

Every operation returns its full Jacobian (shape ``out.shape + in.shape``),
its formula in index notation, and the vector–Jacobian product that
frameworks compute instead.

The plot functions are public names too (``jac.plot_shape``…), but their
modules, and matplotlib with them, are imported only when one is first used:
``import jacobians`` stays light for code that never draws.
"""
from importlib import import_module as _import_module

from .check import (Agreement, check_answer, check_jacobian, check_jvp, check_vjp, compare,
                    finite_difference_jacobian, sample_inputs)
from .chain import ChainRule, chain_rule, compose, grad, jacobian, jvp, paths, vjp
from .cost import ModelCost, Sweep, cost_row, model_cost, sweep
from .derive import Program, derive
from .second import (HessianCost, ModeCost, check_hessian, check_hvp, check_symmetric,
                     gauss_newton, hessian, hessian_cost, hvp, jacfwd, jacrev, mode_cost)
from .graph import Graph, name, trace_graph
from .index import Delta, Derivative, Factor, Term, Window
from .abstract import Tally
from .limits import (JacobianTooLarge, format_bytes, get_memory_limit, memory_limit,
                     set_memory_limit)
from .memory import (CheckpointCost, MemoryTimeline, checkpoint_cost, checkpoint_schedule,
                     checkpointed_grad, memory_timeline, vjp_reads)
from .ops import REGISTRY, Op
from .ops import abs, broadcast_to, clip, maximum, minimum, where
from .ops import max, min, norm, var
from .ops import attention
from .ops import avg_pool2d, conv1d, conv2d, max_pool2d
from .ops import einsum
from .ops import batch_norm, layer_norm
from .ops import concatenate, expand_dims, getitem, split, squeeze, stack
from .ops import (add, cross_entropy, divide, exp, log, log_softmax, matmul, mean, multiply,
                  negative, outer, power, relu, reshape, sigmoid, softmax,
                  softmax_cross_entropy, softplus, sqrt, square, subtract, sum, tanh, trace,
                  transpose)
from .structure import (KroneckerFactors, Structure, as_matrix, kronecker_factors,
                        nearest_kronecker, per_example, structure)
from .timing import measure_peak

# The one place the version is written: setup.cfg reads it from here.
__version__ = "0.1.0"

# Each plot function and the module that defines it, imported on first use.
_PLOTS = {
    "plot_shape": "plot",
    "plot_sparsity": "plot",
    "plot_collapse": "plot",
    "plot_chain": "plot",
    "plot_cost_growth": "plot_cost",
    "plot_graph": "plot_backprop",
    "plot_sweep": "plot_backprop",
    "plot_cost_bars": "plot_backprop",
    "plot_memory": "plot_timeline",
}


def __getattr__(attribute):
    """Import a plot function's module the first time one of its functions is asked for."""
    if attribute not in _PLOTS:
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    home = _PLOTS[attribute]
    module = _import_module(f".{home}", __name__)
    for function in [f for f, defined_in in _PLOTS.items() if defined_in == home]:
        globals()[function] = getattr(module, function)
    return globals()[attribute]


def __dir__():
    """The module's names, the plot functions not yet imported among them."""
    return sorted(set(globals()) | set(_PLOTS))
