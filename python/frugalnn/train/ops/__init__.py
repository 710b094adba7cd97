"""Per-layer training ops (forward, backward, buffers, parameters), one module per layer
family; layers defined in an op module of their own (frugalnn/graph/ops/) register theirs
there, next to their forward."""
from . import conv2d, dense, eltwise, merge, normalization, pool, shape, softmax  # noqa: F401  (importing registers them)
from .base import BufferSpec, Param, TrainOp, internal, register_trainable, trainop_for

__all__ = ["BufferSpec", "Param", "TrainOp", "internal", "register_trainable", "trainop_for"]
