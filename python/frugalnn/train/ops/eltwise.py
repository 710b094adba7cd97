"""ReLU, Clip (ReLU6), ScaleShift and Dropout's element-wise cousins: each reads only what it
must (the clamps their output, whose sign / range is the mask)."""
from __future__ import annotations

import numpy as np

from ... import _core
from .base import TrainOp, clamp, internal, register_trainable


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
        c = internal(out_shape)[-1]  # one value, or one per channel: either way per last held axis
        scale, shift = layer.scale_shift()
        self.scale, self.shift = (np.ascontiguousarray(np.broadcast_to(a, (c,)), np.float32) for a in (scale, shift))
        self.zero = np.zeros(c, np.float32)

    def forward(self, xs, y, bufs, training):
        _core.channel_scale_shift(xs[0], self.scale, self.shift, y)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.channel_scale_shift(dy, self.scale, self.zero, dxs[0])
