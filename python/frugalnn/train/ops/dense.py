"""Dense: y = x @ W.T + b (+ clamp). Forward, input and weight gradients all run on the
library's f32 GEMM (sgemm packs the transposed operand as its micro-kernels want it)."""
from __future__ import annotations

from ... import _core
from .base import TrainOp, clamp, register_trainable
from .params import own_param


@register_trainable("dense")
class DenseTrain(TrainOp):
    saves_inputs = True
    fuses_activation = True

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.w = own_param(layer, "weight")
        self.b = None if layer.bias is None else own_param(layer, "bias")
        self.params = [p for p in (self.w, self.b) if p is not None]

    def forward(self, xs, y, bufs, training):
        _core.sgemm(xs[0], self.w.value, y, trans="nt", bias=None if self.b is None else self.b.value)
        clamp(y, self.lo, self.hi)

    def backward(self, xs, y, dy, dxs, bufs):
        if self.clamps_in_backward:
            _core.clip_backward(y, dy, dy, self.lo, self.hi)
        _core.sgemm(dy, xs[0], self.w.grad, trans="tn")
        if self.b is not None:
            _core.bias_backward(dy, self.b.grad)
        if dxs[0] is not None:
            _core.sgemm(dy, self.w.value, dxs[0])
