"""HardSwish: y = x * relu6(x + 3) / 6 (MobileNetV3's activation; ONNX HardSwish, opset 14)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...io.onnx_export import Exporter, register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data
from ...reference import register_forward
from ..compile import register_lowering
from ..layers import _Elementwise

__all__ = ["HardSwish"]


class HardSwish(_Elementwise):
    """``x * clamp(x / 6 + 1/2, 0, 1)``, element-wise (ONNX HardSwish)."""

    op = "hard_swish"


@register_lowering(HardSwish)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    compiler.core.add_step("hard_swish", layer.name, [x], compiler.writes(out_name))


@register_forward("hard_swish")
def _forward(xs, layer, out_shape):
    return xs[0] * np.clip(xs[0] / 6 + 0.5, 0, 1)


@op("HardSwish")
def _import(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    imp.set(node.output[0], Data(imp.emit(node, HardSwish(name=imp.name_for(node)), [x.tensor])))


@register_exporter(HardSwish)
def _export(ex: Exporter, layer: HardSwish, inputs: list, output: str) -> None:
    ex.node("HardSwish", inputs, [output])
