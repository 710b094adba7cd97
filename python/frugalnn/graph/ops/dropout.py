"""Dropout: in training, zero each value with probability ``rate`` and scale the rest by
1 / (1 - rate); in inference the identity (compiled to no step at all: its output is its
input's buffer). The training mask is kept as bytes."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...io.onnx_export import export_as, register_exporter
from ...reference import register_forward
from ...train.ops.base import BufferSpec, TrainOp, internal, register_trainable
from ..compile import register_lowering
from ..layers import GraphError, _Elementwise

__all__ = ["Dropout"]


class Dropout(_Elementwise):
    """Randomly zeroes values while training (inverted dropout); the identity otherwise."""

    op = "dropout"

    def __init__(self, rate: float = 0.5, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0.0 <= rate < 1.0):
            raise GraphError(f"{self._label()}: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)


@register_lowering(Dropout)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    compiler.tid[out_name] = x  # the output (if a graph output) is copied out by compile
    src = node.inputs[0]
    if src in compiler.chw_perm:
        compiler.chw_perm[out_name] = compiler.chw_perm[src]


register_exporter(Dropout)(export_as("Identity"))


@register_forward("dropout")
def _forward(xs, layer, out_shape):
    return xs[0]


@register_trainable("dropout")
class DropoutTrain(TrainOp):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        shape = internal(out_shape)
        self.saved = {"keep": BufferSpec(shape, np.bool_)}
        self.forward_scratch = {"u": BufferSpec(shape)}
        self.scale = np.float32(1.0 / (1.0 - layer.rate))

    def forward(self, xs, y, bufs, training):
        if not training or self.layer.rate == 0.0:
            np.copyto(y, xs[0])
            if "keep" in bufs:
                bufs["keep"].fill(True)
            return
        u, keep = bufs["u"], bufs["keep"]
        self.rng.random(out=u.reshape(-1), dtype=np.float32)
        np.greater_equal(u, np.float32(self.layer.rate), out=keep)
        y.fill(0.0)
        np.multiply(xs[0], self.scale, out=y, where=keep)

    def backward(self, xs, y, dy, dxs, bufs):
        dxs[0].fill(0.0)
        np.multiply(dy, self.scale, out=dxs[0], where=bufs["keep"])
