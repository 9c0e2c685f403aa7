"""Every operation, by family; ``REGISTRY`` maps each name to its op."""
from .base import REGISTRY, Op
from .elementwise import (add, divide, exp, log, multiply, negative, power, relu, sigmoid,
                          softplus, sqrt, square, subtract, tanh)
from .linear import matmul, mean, outer, reshape, sum, trace, transpose
from .softmax import cross_entropy, log_softmax, softmax, softmax_cross_entropy

__all__ = ["REGISTRY", "Op", *REGISTRY]
