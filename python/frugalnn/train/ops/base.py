"""What a layer provides for training: a TrainOp with its forward (training or inference
mode), its backward, the buffers both need, and its trainable parameters.

Tensors are batched numpy views into the trainer's planned arena. Rank-3 per-sample tensors
((C, H, W) at the API) are held NHWC, (N, H, W, C), as the native conv and pool kernels want
them; other ranks keep their API order. ``in_shapes`` / ``out_shape`` are API per-sample
shapes; ``internal(shape)`` gives the held one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ..._registry import registrar

Shape = tuple[int, ...]


def internal(shape: Sequence[int]) -> Shape:
    """The per-sample shape a tensor is held in: (C, H, W) -> (H, W, C); others unchanged."""
    shape = tuple(shape)
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape


@dataclass
class Param:
    """A trainable tensor: ``value`` is updated in place by the optimizer; ``grad`` is a view
    into the arena set by the trainer for the op's backward; ``mask`` (uint8, 0 = pruned)
    keeps pruned values at exactly zero."""

    name: str
    value: np.ndarray
    mask: Optional[np.ndarray] = None
    grad: Optional[np.ndarray] = None
    state: dict = field(default_factory=dict)  # optimizer state, persistent

    @property
    def nbytes(self) -> int:
        return int(self.value.nbytes)

    def write_back(self) -> None:
        """Make the graph's layer hold ``value`` (a no-op when it is the layer's own array)."""

    def load(self) -> None:
        """Copy the layer's current values into ``value``."""


@dataclass(frozen=True)
class BufferSpec:
    """A buffer an op asks for: ``shape`` per sample (batched: (N,) + shape) or fixed."""

    shape: Shape
    dtype: Any = np.float32
    batched: bool = True

    def nbytes(self, batch: int) -> int:
        n = math.prod(self.shape) * np.dtype(self.dtype).itemsize
        return n * batch if self.batched else n


class TrainOp:
    """One graph node (with a fused activation, if any) during training.

    Subclasses set which forward values their backward reads (``saves_inputs`` /
    ``saves_output``: the trainer keeps those tensors alive until the backward runs) and may
    ask for more buffers: ``saved`` ones live from the forward to the backward, ``scratch``
    ones only during the backward, ``forward_scratch`` only during the forward.
    """

    saves_inputs = False
    saves_output = False
    fuses_activation = False  # a following ReLU / Clip can run inside this op

    def __init__(self, layer: Any, in_shapes: Sequence[Shape], out_shape: Shape) -> None:
        self.layer = layer
        self.name: str = layer.name
        self.in_shapes = [tuple(s) for s in in_shapes]
        self.out_shape = tuple(out_shape)
        act = getattr(layer, "activation", None)
        self.lo, self.hi = {None: (-math.inf, math.inf), "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}[act]
        self.params: list[Param] = []
        self.saved: dict[str, BufferSpec] = {}
        self.scratch: dict[str, BufferSpec] = {}
        self.forward_scratch: dict[str, BufferSpec] = {}
        self.rng: Optional[np.random.Generator] = None  # set by the trainer (Dropout)
        self.clamp_downstream = False  # the sole consumer does this op's clamp backward

    @property
    def clamps_in_backward(self) -> bool:
        """This op's backward starts with its clamp's backward (none, or done downstream)."""
        return self.activated and not self.clamp_downstream

    @property
    def activated(self) -> bool:
        return self.lo != -math.inf or self.hi != math.inf

    def fuse(self, lo: float, hi: float) -> None:
        """Take a following clamp into this op (its backward then needs the output)."""
        self.lo, self.hi = lo, hi

    def forward(self, xs: list[np.ndarray], y: np.ndarray, bufs: dict[str, np.ndarray], training: bool) -> None:
        raise NotImplementedError

    def backward(self, xs: list[np.ndarray], y: np.ndarray, dy: np.ndarray,
                 dxs: list[Optional[np.ndarray]], bufs: dict[str, np.ndarray]) -> None:
        """Input gradients into ``dxs`` (None where not needed) and parameter gradients into
        each ``param.grad``. ``dy`` may be overwritten (nothing reads it afterwards)."""
        raise NotImplementedError

    def write_back(self) -> None:
        """Make the graph's layer hold the trained values (in its own layout)."""
        for p in self.params:
            p.write_back()

    def load(self) -> None:
        """Copy the layer's current values into the training copies (restoring a checkpoint)."""
        for p in self.params:
            p.load()


_TRAINABLE: dict[str, Callable[..., TrainOp]] = {}

register_trainable = registrar(
    _TRAINABLE, """Decorator: the TrainOp class of layers with these ``op`` names.""")


def trainop_for(layer: Any, in_shapes: Sequence[Shape], out_shape: Shape) -> TrainOp:
    cls = _TRAINABLE.get(layer.op)
    if cls is None:
        from ...graph.layers import GraphError

        raise GraphError(f"{layer._label()}: training has no backward pass for {type(layer).__name__}")
    return cls(layer, in_shapes, out_shape)


def clamp(y: np.ndarray, lo: float, hi: float) -> None:
    """y = min(max(y, lo), hi) in place (skipping the bounds that are infinite)."""
    if lo != -math.inf and hi != math.inf:
        np.clip(y, lo, hi, out=y)
    elif lo != -math.inf:
        np.maximum(y, lo, out=y)
    elif hi != math.inf:
        np.minimum(y, hi, out=y)


def flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1)
