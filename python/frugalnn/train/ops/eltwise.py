"""ReLU, Clip (ReLU6), ScaleShift and Dropout's element-wise cousins: each reads only what it
must (the clamps their output, whose sign / range is the mask)."""
from __future__ import annotations

import numpy as np

from ... import _core
from .base import TrainOp, clamp, register_trainable


@register_trainable("relu", "clip")
class ClampTrain(TrainOp):
    saves_output = True

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.lo, self.hi = (0.0, np.inf) if layer.op == "relu" else (layer.lo, layer.hi)

    def forward(self, xs, y, bufs, training):
        np.copyto(y, xs[0])
        clamp(y, self.lo, self.hi)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.clip_backward(y, dy, dxs[0], self.lo, self.hi)


@register_trainable("scale_shift")
class ScaleShiftTrain(TrainOp):
    """Constants (an imported model's input normalization): gradients pass through, the
    scale and shift themselves are not trained. The channel axis is the last one held."""

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.scale, self.shift = layer.scale_shift()

    def forward(self, xs, y, bufs, training):
        np.multiply(xs[0], self.scale, out=y)
        np.add(y, self.shift, out=y)

    def backward(self, xs, y, dy, dxs, bufs):
        np.multiply(dy, self.scale, out=dxs[0])
