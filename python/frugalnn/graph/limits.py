"""Range checks for every integer that sizes a graph: shapes, kernel geometry, counts.

The native program check (csrc/runtime/program_check.cc) caps every extent, kernel size,
stride, dilation, pad and group count at ``MAX_DIM`` and the values of one sample of one
tensor at ``MAX_ELEMS``. Those caps keep every index product of the kernels far from
64-bit overflow. The graph applies the same caps earlier, when a layer is built or its
output shape is inferred. The error then names the layer (or the ONNX node) instead of a
compiled step. Products use Python integers, which cannot overflow, never numpy's int64,
which wraps silently.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

MAX_DIM = 1 << 24     # == kMaxDim of program_check.cc
MAX_ELEMS = 1 << 40   # == kMaxElems of program_check.cc: values per sample of one tensor
# Axes of a per-sample shape (numpy's own limit is 32 or 64). Bounding the rank also
# bounds every product of sizes, which in Python integers never overflows but can grow
# without end: the product of a 16-million-long shape of 2s is a 16-million-bit integer.
MAX_RANK = 32


def is_int(v: Any) -> bool:
    """A Python or numpy integer (not a bool: True is no stride)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_int(label: str, name: str, v: Any, lo: int, hi: int = MAX_DIM) -> int:
    """``v`` as an int, or GraphError naming ``label`` when it is not an integer in [lo, hi]."""
    from .layers import GraphError

    if not is_int(v) or not lo <= int(v) <= hi:
        raise GraphError(f"{label}: {name} must be an int in [{lo}, {_pow2(hi)}], got {v!r}")
    return int(v)


def check_shape(label: str, shape: Iterable[Any], what: str = "shape") -> tuple[int, ...]:
    """A per-sample shape of at most MAX_RANK sizes, ints in [1, MAX_DIM], with at most
    MAX_ELEMS values."""
    from .layers import GraphError

    dims = tuple(shape)
    if len(dims) > MAX_RANK:
        raise GraphError(f"{label}: {what} has {len(dims)} axes, more than {MAX_RANK}")
    if not dims or not all(is_int(d) and 1 <= int(d) <= MAX_DIM for d in dims):
        raise GraphError(f"{label}: {what} must be non-empty with sizes in [1, 2^24], got {dims}")
    dims = tuple(int(d) for d in dims)
    if math.prod(dims) > MAX_ELEMS:
        raise GraphError(f"{label}: {what} {dims} holds {math.prod(dims)} values per sample, more than 2^40")
    return dims


def _pow2(v: int) -> str:
    """2^k for the caps, so that messages say what the limit is rather than its digits."""
    return f"2^{v.bit_length() - 1}" if v > 1024 and v & (v - 1) == 0 else str(v)
