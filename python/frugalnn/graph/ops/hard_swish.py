"""HardSwish: y = x * relu6(x + 3) / 6 (MobileNetV3's activation; ONNX HardSwish, opset 14)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...io.onnx_export import export_as, register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data
from ...reference import register_forward
from ...train.ops.base import BufferSpec, TrainOp, internal, register_trainable
from ..compile import lower_to, register_epilogue, register_lowering
from ..layers import _Elementwise

__all__ = ["HardSwish"]


class HardSwish(_Elementwise):
    """``x * clamp(x / 6 + 1/2, 0, 1)``, element-wise (ONNX HardSwish)."""

    op = "hard_swish"


register_lowering(HardSwish)(lower_to("hard_swish"))
register_epilogue(HardSwish)(lambda layer: (19, 0.0, 0.0))  # UnaryOp::kHardSwish
register_exporter(HardSwish)(export_as("HardSwish"))


@register_forward("hard_swish")
def _forward(xs, layer, out_shape):
    return xs[0] * np.clip(xs[0] / 6 + 0.5, 0, 1)


@op("HardSwish")
def _import(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    imp.set(node.output[0], Data(imp.emit(node, HardSwish(name=imp.name_for(node)), [x.tensor])))


@register_trainable("hard_swish")
class HardSwishTrain(TrainOp):
    """dy/dx = 0 below -3, x / 3 + 1/2 between, 1 above 3 (torch's)."""

    saves_inputs = True

    def __init__(self, layer, in_shapes, out_shape) -> None:
        super().__init__(layer, in_shapes, out_shape)
        self.scratch = {"where": BufferSpec(internal(out_shape), np.bool_)}
        self.forward_scratch = dict(self.scratch)

    def forward(self, xs, y, bufs, training):
        x = xs[0]
        np.multiply(x, np.float32(1 / 6), out=y)
        np.add(y, np.float32(0.5), out=y)
        np.clip(y, np.float32(0), np.float32(1), out=y)
        np.multiply(y, x, out=y)

    def backward(self, xs, y, dy, dxs, bufs):
        x, dx, w = xs[0], dxs[0], bufs["where"]
        np.multiply(x, np.float32(1 / 3), out=dx)
        np.add(dx, np.float32(0.5), out=dx)
        np.less(x, np.float32(-3), out=w)
        np.copyto(dx, np.float32(0), where=w)
        np.greater(x, np.float32(3), out=w)
        np.copyto(dx, np.float32(1), where=w)
        np.multiply(dx, dy, out=dx)
