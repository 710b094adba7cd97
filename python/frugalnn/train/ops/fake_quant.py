"""Quantization-aware training ops: a Dense / Conv2d that carries int8 ``QuantParams`` trains
on the arithmetic the int8 runtime will run, with float gradients (the straight-through
estimator, STE).

Forward: the input is fake-quantized with the layer's own u8 scale / zero point (the
calibrated ones the runtime uses: they stay fixed), the weights to s8 symmetric with scales
recomputed from the current float weights each step (per output channel, or per tensor when
the layer was quantized so) -- the rule ``compress.quantize`` applies to the trained weights
afterwards, so what training sees is what the int8 graph runs. Then the float kernels run on
the fake-quantized values.

Backward (STE): rounding counts as identity. The weight gradient, taken against the
fake-quantized input, goes to the float weights unchanged (max|w| sets the scale, so no weight
is ever clipped); the input gradient, taken through the fake-quantized weights, passes where
the input was inside the u8 range and is zero where the clamp cut it.

``write_back`` (the end of ``fit``) also makes the layer's QuantParams again from the trained
weights.

Memory: the fake-quantized weights live in the arena from the forward to the backward; the
fake-quantized input is scratch, recomputed in the backward from the kept input (as the conv
recomputes its im2col tiles) together with the clip mask, instead of being kept.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from ... import _core
from .base import BufferSpec, Shape, TrainOp, clamp, internal
from .conv2d import Conv2dTrain
from .dense import DenseTrain


class FakeQuantOp:
    """The fake-quant part shared by the Dense and Conv2d ops (a mixin before their class)."""

    def _setup_fake_quant(self, weight_shape: Shape) -> None:
        q = self.layer.quant
        self.in_scale, self.in_zero_point = float(q.input_scale), int(q.input_zero_point)
        self.per_channel = q.weight_scale is None or q.weight_scale.size > 1
        x_shape = internal(self.in_shapes[0])
        self.saved = dict(self.saved, wq=BufferSpec(weight_shape, batched=False))
        self.forward_scratch = dict(self.forward_scratch, xq=BufferSpec(x_shape))
        self.scratch = dict(self.scratch, xq=BufferSpec(x_shape), keep=BufferSpec(x_shape, "uint8"))

    def _quantize(self, x, bufs, keep):
        """The fake-quantized weights into bufs["wq"], the input into bufs["xq"] (and the clip
        mask into ``keep`` when given); returns (xq, wq)."""
        _core.fake_quant_u8(x, bufs["xq"], keep, self.in_scale, self.in_zero_point)
        return bufs["xq"], bufs["wq"]

    def _pass_in_range(self, dx, keep) -> None:
        """STE: the input gradient stops where the input was clipped."""
        _core.mask_scale(dx, keep, 1.0, dx)

    def write_back(self) -> None:
        """The trained float weights into the layer, and its QuantParams made again from them
        (s8 as compress.quantize makes them; the input's parameters kept), so the graph
        compiles to the int8 program training simulated."""
        from ...compress.quantize import _weight_params
        from ...graph.layers import QuantParams

        super().write_back()
        q = self.layer.quant
        wq, ws = _weight_params(self.layer.weight, self.per_channel)
        self.layer.quant = QuantParams(q.input_scale, q.input_zero_point, weight=wq, weight_scale=ws)


class DenseFakeQuant(FakeQuantOp, DenseTrain):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self._setup_fake_quant(self.w.value.shape)

    def forward(self, xs, y, bufs, training):
        _core.fake_quant_s8(self.w.value, bufs["wq"], self.per_channel)
        xq, wq = self._quantize(xs[0], bufs, None)
        _core.sgemm(xq, wq, y, trans="nt", bias=None if self.b is None else self.b.value)
        clamp(y, self.lo, self.hi)

    def backward(self, xs, y, dy, dxs, bufs):
        if self.clamps_in_backward:
            _core.clip_backward(y, dy, dy, self.lo, self.hi)
        keep = bufs["keep"] if dxs[0] is not None else None
        xq, wq = self._quantize(xs[0], bufs, keep)
        _core.sgemm(dy, xq, self.w.grad, trans="tn")
        if self.b is not None:
            _core.bias_backward(dy, self.b.grad)
        if dxs[0] is not None:
            _core.sgemm(dy, wq, dxs[0])
            self._pass_in_range(dxs[0], keep)


class Conv2dFakeQuant(FakeQuantOp, Conv2dTrain):
    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self._setup_fake_quant(self.w.value.shape)

    def forward(self, xs, y, bufs, training):
        _core.fake_quant_s8(self.w.value, bufs["wq"], self.per_channel)
        xq, wq = self._quantize(xs[0], bufs, None)
        _core.conv2d_train_forward(xq, wq, None if self.b is None else self.b.value, y, self.geometry)

    def backward(self, xs, y, dy, dxs, bufs):
        if self.clamps_in_backward:
            _core.clip_backward(y, dy, dy, self.lo, self.hi)
        keep = bufs["keep"] if dxs[0] is not None else None
        xq, wq = self._quantize(xs[0], bufs, keep)
        _core.conv2d_backward(xq, wq, dy, dxs[0], self.w.grad, self.geometry)
        if self.b is not None:
            _core.bias_backward(dy, self.b.grad)
        if dxs[0] is not None:
            self._pass_in_range(dxs[0], keep)


_FAKE_QUANT = {"dense": DenseFakeQuant, "conv2d": Conv2dFakeQuant}


def fake_quant_trainop(layer: Any, in_shapes: Sequence[Shape], out_shape: Shape) -> Optional[TrainOp]:
    """The quantization-aware TrainOp of a Dense / Conv2d whose ``quant`` gives its input's u8
    parameters; None for any other layer (it trains as usual)."""
    cls = _FAKE_QUANT.get(getattr(layer, "op", None))
    q = getattr(layer, "quant", None)
    if cls is None or q is None or getattr(q, "input_scale", None) is None:
        return None
    return cls(layer, in_shapes, out_shape)
