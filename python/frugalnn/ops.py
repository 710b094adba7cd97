"""Kernels callable on numpy arrays."""
from __future__ import annotations

import numpy as np

from . import _core
from .gemm import (
    PackedWeights,
    matmul,
    pack_codebook,
    pack_weights,
    qmatmul,
    qmatmul_dynamic,
    quantize_weights,
)
from .sparse import CSRMatrix, linear as sparse_linear, spmm

from . import gemm as _gemm

# The GEMM API as frugalnn.gemm has it, the reduction, and the sparse kernels.
__all__ = [*_gemm.__all__, "reduce_sum", "CSRMatrix", "sparse_linear", "spmm"]


def reduce_sum(x: np.ndarray) -> int | float:
    """Sum of all elements of a C-contiguous ``uint8`` or ``float32`` array.

    ``uint8`` sums are exact (a Python ``int``); ``float32`` sums accumulate in f32 lanes, so
    they match ``x.sum(dtype=np.float64)`` to f32 rounding, not bit for bit. Runs the kernel
    of the active ISA level (``frugalnn.active_isa()``).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype != np.uint8 and x.dtype != np.float32:
        raise TypeError(f"x must be uint8 or float32, got {x.dtype} (no implicit casts)")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous; pass np.ascontiguousarray(x)")
    return _core.reduce_sum(x)
