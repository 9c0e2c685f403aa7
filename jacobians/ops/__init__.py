"""Every operation, by family; ``REGISTRY`` maps each name to its op."""
from .arrange import concatenate, expand_dims, getitem, split, squeeze, stack
from .attention import attention
from .base import REGISTRY, Op
from .convolve import conv1d, conv2d
from .einsum import einsum
from .elementwise import abs, broadcast_to, clip, maximum, minimum, where
from .elementwise import (add, divide, exp, log, multiply, negative, power, relu, sigmoid,
                          softplus, sqrt, square, subtract, tanh)
from .linear import matmul, outer, reshape, trace, transpose
from .normalize import batch_norm, layer_norm
from .pool import avg_pool2d, max_pool2d
from .reduce import max, mean, min, norm, sum, var
from .softmax import cross_entropy, log_softmax, softmax, softmax_cross_entropy

__all__ = ["REGISTRY", "Op", "split", *REGISTRY]
