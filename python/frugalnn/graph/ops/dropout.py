"""Dropout: in training, zero each value with probability ``rate`` and scale the rest by
1 / (1 - rate); in inference the identity (compiled to no step at all: its output is its
input's buffer). The training mask is kept as bytes."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ... import _core
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
    """The mask is drawn natively from one 64-bit seed per step (taken from the trainer's
    seeded generator) and kept as bytes for the backward."""

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.saved = {"keep": BufferSpec(internal(out_shape), np.uint8)}
        self.scale = 1.0 / (1.0 - layer.rate)

    def forward(self, xs, y, bufs, training):
        keep = bufs.get("keep")
        if not training or self.layer.rate == 0.0:
            np.copyto(y, xs[0])
            if keep is not None:
                keep.fill(1)
            return
        _core.dropout_mask(keep, self.layer.rate, int(self.rng.integers(1 << 63)))
        _core.mask_scale(xs[0], keep, self.scale, y)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.mask_scale(dy, bufs["keep"], self.scale, dxs[0])
