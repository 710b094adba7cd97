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


class Exporter:
    """What an op's exporter (register_exporter) writes through: ONNX nodes and initializers."""

    def __init__(self, helper: Any, numpy_helper: Any, graph: Graph) -> None:
        self._helper, self._numpy_helper = helper, numpy_helper
        self.graph = graph
        self.nodes: list = []
        self.inits: list = []

    def node(self, op_type: str, inputs: list, outputs: list, **attrs: Any) -> None:
        self.nodes.append(self._helper.make_node(op_type, inputs, outputs, **attrs))

    def const(self, name: str, a: np.ndarray) -> str:
        self.inits.append(self._numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name


# Layer type -> fn(exporter, layer, inputs, output): the ONNX nodes of one layer. Op modules
# (frugalnn/graph/ops/) add theirs; the layers below the registry are exported inline.
_EXPORTERS: dict = {}


register_exporter = registrar(
    _EXPORTERS, """Decorator: ``fn(exporter, layer, inputs, output)`` writes these layers' ONNX nodes.""")


def to_onnx(graph: Graph, *, opset: int = 17, batch: Any = "N") -> Any:
    """An ``onnx.ModelProto`` computing ``graph`` (batch dimension symbolic by default)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("to_onnx needs the onnx package: pip install 'frugalnn[onnx]'") from e

    graph.check()
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
        if export is not None:
            export(ex, layer, list(x), pre)
        elif isinstance(layer, L.Dense):
            ins = [x[0], const(f"{y}_W", layer.weight)]
            if layer.bias is not None:
                ins.append(const(f"{y}_B", layer.bias))
            nodes.append(helper.make_node("Gemm", ins, [pre], transB=1))
        elif isinstance(layer, L.Conv2d):
            c, h, w = graph.shapes[x[0]]
            t, left, b, r = layer.pads(h, w)
            ins = [x[0], const(f"{y}_W", layer.weight)]
            if layer.bias is not None:
                ins.append(const(f"{y}_B", layer.bias))
            nodes.append(helper.make_node("Conv", ins, [pre], kernel_shape=list(layer.weight.shape[2:]),
                                          strides=list(layer.stride), dilations=list(layer.dilation),
                                          pads=[t, left, b, r], group=layer.groups))
        elif isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
            op = "MaxPool" if isinstance(layer, L.MaxPool2d) else "AveragePool"
            ph, pw = layer.padding
            nodes.append(helper.make_node(op, x, [y], kernel_shape=list(layer.kernel),
                                          strides=list(layer.stride), pads=[ph, pw, ph, pw]))
        elif isinstance(layer, L.GlobalAvgPool):
            nodes.append(helper.make_node("GlobalAveragePool", x, [y + "_4d"]))
            nodes.append(helper.make_node("Flatten", [y + "_4d"], [y], axis=1))
        elif isinstance(layer, L.ReLU):
            nodes.append(helper.make_node("Relu", x, [y]))
        elif isinstance(layer, L.Clip):
            ins = [x[0], const(f"{y}_lo", np.float32(max(layer.lo, -3.4e38))),
                   const(f"{y}_hi", np.float32(min(layer.hi, 3.4e38)))]
            nodes.append(helper.make_node("Clip", ins, [y]))
        elif isinstance(layer, L.Sigmoid):
            nodes.append(helper.make_node("Sigmoid", x, [y]))
        elif isinstance(layer, L.Softmax):
            nodes.append(helper.make_node("Softmax", x, [y], axis=-1))
        elif isinstance(layer, L.Flatten):
            nodes.append(helper.make_node("Flatten", x, [y], axis=1))
        elif isinstance(layer, L.Reshape):
            shape = np.array((0,) + graph.shapes[y], np.int64)
            nodes.append(helper.make_node("Reshape", [x[0], const(f"{y}_shape", shape)], [y]))
        elif isinstance(layer, L.Add):
            nodes.append(helper.make_node("Add", x, [pre]))
        elif isinstance(layer, L.Concat):
            nodes.append(helper.make_node("Concat", x, [y], axis=1 + layer.axis % len(graph.shapes[y])))
        elif isinstance(layer, L.ScaleShift):
            scale, shift = layer.scale_shift()
            shape = (-1,) + (1,) * (len(graph.shapes[y]) - 1) if scale.size > 1 else ()
            mul = f"{y}_scaled"
            nodes.append(helper.make_node("Mul", [x[0], const(f"{y}_scale", scale.reshape(shape))], [mul]))
            nodes.append(helper.make_node("Add", [mul, const(f"{y}_shift", shift.reshape(shape))], [y]))
        elif isinstance(layer, L.BatchNorm):
            ins = [x[0]] + [const(f"{y}_{n}", a) for n, a in
                            (("scale", layer.gamma), ("bias", layer.beta), ("mean", layer.mean), ("var", layer.var))]
            nodes.append(helper.make_node("BatchNormalization", ins, [y], epsilon=layer.eps))
        else:
            raise NotImplementedError(f"to_onnx: {type(layer).__name__}")
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
