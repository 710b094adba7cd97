"""HardSwish: y = x * relu6(x + 3) / 6 (MobileNetV3's activation; ONNX HardSwish, opset 14)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...io.onnx_export import export_as, register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data
from ...reference import register_forward
from ..compile import lower_to, register_lowering
from ..layers import _Elementwise

__all__ = ["HardSwish"]


class HardSwish(_Elementwise):
    """``x * clamp(x / 6 + 1/2, 0, 1)``, element-wise (ONNX HardSwish)."""

    op = "hard_swish"


register_lowering(HardSwish)(lower_to("hard_swish"))
register_exporter(HardSwish)(export_as("HardSwish"))


@register_forward("hard_swish")
def _forward(xs, layer, out_shape):
    return xs[0] * np.clip(xs[0] / 6 + 0.5, 0, 1)


@op("HardSwish")
def _import(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    imp.set(node.output[0], Data(imp.emit(node, HardSwish(name=imp.name_for(node)), [x.tensor])))
