"""LogSoftmax: ``x - max - log(sum(exp(x - max)))`` over one axis (ONNX LogSoftmax), on the
same axes as Softmax (the innermost stored one), computed directly rather than as
log(softmax) so that tiny probabilities keep a finite log."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...io.onnx_export import register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data
from ...reference import register_forward
from ..layers import Softmax

__all__ = ["LogSoftmax"]


class LogSoftmax(Softmax):
    """Log of the softmax over ``axis`` (the last by default); lowered as Softmax is."""

    op = "log_softmax"


@register_forward("log_softmax")
def _forward(xs, layer, out_shape):
    axis = layer.axis_of(out_shape) + 1
    x = xs[0] - xs[0].max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


@register_exporter(LogSoftmax)
def _export(ex: Any, layer: LogSoftmax, x: list, y: str) -> None:
    ex.node("LogSoftmax", x, [y], axis=layer.axis_of(ex.shapes[y]) + 1)


@op("LogSoftmax", "axis:i")
def _import(imp: _Importer, node: Any, a: dict) -> None:
    from ...io.onnx_float_ops import softmax

    x = imp.data(node, 0)
    coerced = imp.opset < 13
    y = softmax(imp, node, x, int(a.get("axis", 1 if coerced else -1)), coerced, imp.name_for(node), LogSoftmax)
    imp.set(node.output[0], Data(y.tensor))
