"""frugalnn: a memory-frugal inference runtime for small neural networks.

Every buffer lives in a pool or a statically planned arena, so peak memory is known before the
first run; kernels are hand-vectorized (AVX2 / AVX-512 / VNNI, scalar fallback) and chosen at
load time from the CPU's features.
"""
from __future__ import annotations

from . import compress, data, graph, io, models, ops, reference, sparse, train
from ._runtime import (
    active_isa,
    available_isas,
    get_num_threads,
    runtime_info,
    set_feature_kernels,
    set_isa,
    set_num_threads,
    use_isa,
)
from .io import FormatError, load, save
from .memory import (
    EMA,
    DemandPredictor,
    MemoryPlan,
    Pool,
    PoolStats,
    PoolStep,
    default_pool,
    empty,
    plan_memory,
    scratch_stats,
    trim_scratch,
    zeros,
)

__version__: str = ops._core.__version__

__all__ = [
    "DemandPredictor",
    "EMA",
    "FormatError",
    "MemoryPlan",
    "Pool",
    "PoolStats",
    "PoolStep",
    "__version__",
    "active_isa",
    "compress",
    "available_isas",
    "data",
    "default_pool",
    "empty",
    "get_num_threads",
    "graph",
    "io",
    "load",
    "models",
    "ops",
    "plan_memory",
    "reference",
    "runtime_info",
    "save",
    "scratch_stats",
    "set_feature_kernels",
    "set_isa",
    "set_num_threads",
    "sparse",
    "train",
    "trim_scratch",
    "use_isa",
    "zeros",
]
