"""Sigmoid: y = 1 / (1 + exp(-x)) (ONNX Sigmoid; its quantized form, QLinearSigmoid, is
imported by io/onnx_quant.py onto this layer)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...io.onnx_export import export_as, register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data
from ...reference import register_forward
from ... import _core
from ...train.ops.base import TrainOp, register_trainable
from ..compile import lower_to, register_epilogue, register_lowering
from ..layers import _Elementwise

__all__ = ["Sigmoid"]


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, element-wise."""

    op = "sigmoid"


register_lowering(Sigmoid)(lower_to("sigmoid"))
register_epilogue(Sigmoid)(lambda layer: (18, 0.0, 0.0))  # UnaryOp::kSigmoid
register_exporter(Sigmoid)(export_as("Sigmoid"))


@register_forward("sigmoid")
def _forward(xs, layer, out_shape):
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -709: y is then 0, as it should
        return 1 / (1 + np.exp(-xs[0]))


@op("Sigmoid")
def _import(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    # The range lets a following Relu be dropped (nothing below zero).
    imp.set(node.output[0], Data(imp.emit(node, Sigmoid(name=imp.name_for(node)), [x.tensor]), range=(0.0, 1.0)))


@register_trainable("sigmoid")
class SigmoidTrain(TrainOp):
    saves_output = True

    def forward(self, xs, y, bufs, training):
        np.negative(xs[0], out=y)
        with np.errstate(over="ignore"):
            np.exp(y, out=y)
        np.add(y, np.float32(1), out=y)
        np.reciprocal(y, out=y)

    def backward(self, xs, y, dy, dxs, bufs):
        _core.sigmoid_backward(y, dy, dxs[0])
