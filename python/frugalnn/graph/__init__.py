"""Build CNN / MLP graphs in Python (NCHW at the API, static shapes but the batch)."""
from .compile import PRECISIONS, Program, StepInfo, TensorSpec, compile
from .graph import Graph, InputQuant, Node, Sequential, Tensor
from .session import MemoryReport, Session
from .layers import (
    Add,
    AvgPool2d,
    BatchNorm,
    Clip,
    Concat,
    Conv2d,
    Dense,
    Flatten,
    GlobalAvgPool,
    GraphError,
    Layer,
    MaxPool2d,
    QuantParams,
    ReLU,
    ReLU6,
    Reshape,
    ScaleShift,
    Softmax,
)

__all__ = [
    "Add", "AvgPool2d", "BatchNorm", "Clip", "Concat", "Conv2d", "Dense", "Flatten",
    "GlobalAvgPool", "Graph", "GraphError", "InputQuant", "Layer", "MaxPool2d", "Node", "QuantParams", "ReLU", "ReLU6",
    "Reshape", "ScaleShift", "Sequential", "Softmax", "Tensor",
    "PRECISIONS", "Program", "StepInfo", "TensorSpec", "compile", "MemoryReport", "Session",
]

# Ops defined in a module of their own (graph/ops/): their layers join the names above.
from .ops import LAYERS as _OP_LAYERS  # noqa: E402  (after compile: the op modules register into it)

globals().update(_OP_LAYERS)
__all__ += sorted(_OP_LAYERS)
