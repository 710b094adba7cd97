"""Export a frugalnn Graph to ONNX (needs the optional ``onnx`` package).

The same weights then run in onnxruntime or any ONNX consumer: the benchmarks compare
frugalnn against onnxruntime this way, and tests check outputs against it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._registry import registrar
from ..graph import layers as L
from ..graph.graph import Graph
from .onnx_qdq_export import QDQWriter, check_exportable


class Exporter:
    """What an op's exporter (register_exporter) writes through: ONNX nodes and initializers."""

    def __init__(self, helper: Any, numpy_helper: Any, graph: Graph) -> None:
        self._helper, self._numpy_helper = helper, numpy_helper
        self.graph = graph
        self.shapes = dict(graph.shapes)  # per-sample shapes by name: the graph's, and dequantized copies
        self.nodes: list = []
        self.inits: list = []
        self.qdq = QDQWriter(self)  # int8 layers (QuantParams): QuantizeLinear / DequantizeLinear

    def node(self, op_type: str, inputs: list, outputs: list, **attrs: Any) -> None:
        self.nodes.append(self._helper.make_node(op_type, inputs, outputs, **attrs))

    def const(self, name: str, a: np.ndarray, *, scalar: bool = False) -> str:
        """An initializer: at least 1-D, or (``scalar``) a 0-d tensor, as QDQ's per-tensor
        scale / zero point are."""
        a = np.asarray(a).reshape(()) if scalar else np.ascontiguousarray(a)
        self.inits.append(self._numpy_helper.from_array(a, name))
        return name

    def weight(self, y: str, layer: Any) -> str:
        """A Dense / Conv2d weight: float32, or int8 through DequantizeLinear for an int8 layer."""
        return self.qdq.weight(y, layer)

    def bias(self, y: str, layer: Any) -> str:
        """A Dense / Conv2d bias: float32, or int32 through DequantizeLinear where frugalnn adds
        it in accumulator units (an int8 layer with a u8 output)."""
        return self.qdq.bias(y, layer)


# Layer type -> fn(exporter, layer, inputs, output): the ONNX nodes of one layer (the nearest
# registered base class serves a subclass). Op modules (frugalnn/graph/ops/) add theirs.
_EXPORTERS: dict = {}


register_exporter = registrar(
    _EXPORTERS, """Decorator: ``fn(exporter, layer, inputs, output)`` writes these layers' ONNX nodes.""")


def export_as(op_type: str):
    """The exporter of a layer that is one ONNX node of ``op_type`` on the same inputs, without
    attributes: ``register_exporter(Sigmoid)(export_as("Sigmoid"))``."""
    def export(ex: Exporter, layer: Any, inputs: list, output: str) -> None:
        ex.node(op_type, inputs, [output])
    return export


def to_onnx(graph: Graph, *, opset: int = 17, batch: Any = "N") -> Any:
    """An ``onnx.ModelProto`` computing ``graph`` (batch dimension symbolic by default).

    Layers carrying int8 ``QuantParams`` (from ``compress.quantize`` or a quantized model) are
    written in QDQ form (onnx_qdq_export), so onnxruntime runs the same int8 model; that needs
    ``opset >= 13``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("to_onnx needs the onnx package: pip install 'frugalnn[onnx]'") from e

    graph.check()
    check_exportable(graph, opset)
    ex = Exporter(helper, numpy_helper, graph)
    nodes, inits, const = ex.nodes, ex.inits, ex.const

    def act(out: str, activation, name: str) -> str:
        if activation is None:
            return out
        lo, hi = (0.0, None) if activation == "relu" else (0.0, 6.0)
        if hi is None:
            nodes.append(helper.make_node("Relu", [out], [name]))
        else:
            nodes.append(helper.make_node("Clip", [out, const(f"{name}_lo", np.float32(lo)),
                                                   const(f"{name}_hi", np.float32(hi))], [name]))
        return name

    for node in graph.nodes:
        layer, x, y = node.layer, node.inputs, node.output
        pre = y + "_pre" if getattr(layer, "activation", None) else y
        export = next((_EXPORTERS[t] for t in type(layer).__mro__ if t in _EXPORTERS), None)
        if export is None:
            raise NotImplementedError(f"to_onnx: {type(layer).__name__}")
        export(ex, layer, ex.qdq.inputs(layer, list(x)), pre)
        if pre != y:
            act(pre, layer.activation, y)

    def vi(name: str, shape) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch] + list(shape))

    g = helper.make_graph(nodes, "frugalnn", [vi(n, s) for n, s in graph.inputs.items()],
                          [vi(n, graph.shapes[n]) for n in graph.outputs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="frugalnn")
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    return model


# The layers of graph/layers.py (op modules register their own beside their layers). Each
# writes its output under `output`; a fused activation is appended by to_onnx.


@register_exporter(L.Dense)
def _dense(ex: Exporter, layer: L.Dense, x: list, y: str) -> None:
    ins = [x[0], ex.weight(y, layer)]
    if layer.bias is not None:
        ins.append(ex.bias(y, layer))
    ex.node("Gemm", ins, [y], transB=1)


@register_exporter(L.Conv2d)
def _conv(ex: Exporter, layer: L.Conv2d, x: list, y: str) -> None:
    c, h, w = ex.shapes[x[0]]
    t, left, b, r = layer.pads(h, w)
    ins = [x[0], ex.weight(y, layer)]
    if layer.bias is not None:
        ins.append(ex.bias(y, layer))
    ex.node("Conv", ins, [y], kernel_shape=list(layer.weight.shape[2:]), strides=list(layer.stride),
            dilations=list(layer.dilation), pads=[t, left, b, r], group=layer.groups)


@register_exporter(L.MaxPool2d, L.AvgPool2d)
def _pool(ex: Exporter, layer: L._Pool2d, x: list, y: str) -> None:
    ph, pw = layer.padding
    ex.node("MaxPool" if isinstance(layer, L.MaxPool2d) else "AveragePool", x, [y],
            kernel_shape=list(layer.kernel), strides=list(layer.stride), pads=[ph, pw, ph, pw],
            **({"ceil_mode": 1} if layer.ceil_mode else {}))


@register_exporter(L.GlobalAvgPool)
def _global_avgpool(ex: Exporter, layer: L.GlobalAvgPool, x: list, y: str) -> None:
    ex.node("GlobalAveragePool", x, [y + "_4d"])
    ex.node("Flatten", [y + "_4d"], [y], axis=1)


@register_exporter(L.ReLU)
def _relu(ex: Exporter, layer: L.ReLU, x: list, y: str) -> None:
    ex.node("Relu", x, [y])


@register_exporter(L.Clip)
def _clip(ex: Exporter, layer: L.Clip, x: list, y: str) -> None:
    ex.node("Clip", [x[0], ex.const(f"{y}_lo", np.float32(max(layer.lo, -3.4e38))),
                     ex.const(f"{y}_hi", np.float32(min(layer.hi, 3.4e38)))], [y])


@register_exporter(L.Softmax)
def _softmax(ex: Exporter, layer: L.Softmax, x: list, y: str) -> None:
    ex.node("Softmax", x, [y], axis=layer.axis_of(ex.shapes[y]) + 1)


@register_exporter(L.Flatten)
def _flatten(ex: Exporter, layer: L.Flatten, x: list, y: str) -> None:
    ex.node("Flatten", x, [y], axis=1)


@register_exporter(L.Reshape)
def _reshape(ex: Exporter, layer: L.Reshape, x: list, y: str) -> None:
    shape = np.array((0,) + tuple(ex.graph.shapes[y]), np.int64)
    ex.node("Reshape", [x[0], ex.const(f"{y}_shape", shape)], [y])


@register_exporter(L.Add)
def _add(ex: Exporter, layer: L.Add, x: list, y: str) -> None:
    ex.node("Add", x, [y])


@register_exporter(L.Concat)
def _concat(ex: Exporter, layer: L.Concat, x: list, y: str) -> None:
    ex.node("Concat", x, [y], axis=1 + layer.axis % len(ex.graph.shapes[y]))


@register_exporter(L.ScaleShift)
def _scale_shift(ex: Exporter, layer: L.ScaleShift, x: list, y: str) -> None:
    scale, shift = layer.scale_shift()
    shape = (-1,) + (1,) * (len(ex.graph.shapes[y]) - 1) if scale.size > 1 else ()
    ex.node("Mul", [x[0], ex.const(f"{y}_scale", scale.reshape(shape))], [f"{y}_scaled"])
    ex.node("Add", [f"{y}_scaled", ex.const(f"{y}_shift", shift.reshape(shape))], [y])


@register_exporter(L.BatchNorm)
def _batch_norm(ex: Exporter, layer: L.BatchNorm, x: list, y: str) -> None:
    ins = [x[0]] + [ex.const(f"{y}_{n}", a) for n, a in
                    (("scale", layer.gamma), ("bias", layer.beta), ("mean", layer.mean), ("var", layer.var))]
    ex.node("BatchNormalization", ins, [y], epsilon=layer.eps)
