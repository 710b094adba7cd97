"""ONNX QDQ export of the int8 layers of a graph (those carrying ``QuantParams``): the inverse
of the QDQ import in ``onnx_quant``, so ``load_onnx(to_onnx(q))`` gives back the same parameters.

A quantized layer is written the way onnxruntime's ``quantize_static(quant_format=QDQ)``
writes one: each quantized input through ``QuantizeLinear`` (uint8, the layer's scale / zero
point) -> ``DequantizeLinear``; the int8 weights through ``DequantizeLinear`` (one scale per
output channel on axis 0, or one for the tensor, zero points 0); then the float op.

The bias is written as frugalnn uses it. A layer whose output the compiled program stores as
u8 (every reader int8 with the same parameters: the requantizing GEMM epilogue) adds its bias
in accumulator units, rint(bias / (input scale x weight scale)): written as that int32 through
``DequantizeLinear`` (quantize_static's form), onnxruntime adds the same value, fused into a
QLinearConv / QGemm or not. A layer with a float output adds the float32 bias: written as is.
Imported back, the int32 bias becomes the float bias that rounds to the same int32.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..gemm import quantize_weights
from ..graph import layers as L
from ..graph.compile import compile
from ..graph.graph import Graph
from ..graph.layers import QuantParams

MIN_OPSET = 13  # DequantizeLinear's axis attribute (per-channel weight scales) is opset 13


def is_quantized(layer: Any) -> bool:
    """Whether ``layer`` carries int8 parameters the export writes as QDQ."""
    return isinstance(layer, (L.Dense, L.Conv2d, L.Add, L.GlobalAvgPool)) and layer.quant is not None


def check_exportable(graph: Graph, opset: int) -> None:
    """Raise ValueError for quantized layers QDQ cannot express as frugalnn runs them."""
    quantized = [n for n in graph.nodes if is_quantized(n.layer)]
    if quantized and opset < MIN_OPSET:
        raise ValueError(f"to_onnx: the graph has int8 layers ({quantized[0].layer.name!r}, ...), whose per-channel "
                         f"DequantizeLinear needs opset >= {MIN_OPSET}, got opset={opset}")
    readers: dict[str, list] = {}
    for n in graph.nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n)
    for n in quantized:
        layer = n.layer
        if not isinstance(layer, (L.Dense, L.Conv2d)) or layer.activation is not None:
            continue
        nxt = readers.get(n.output, [])
        # compile folds a BatchNorm / ScaleShift that is the sole reader into the layer and then
        # re-quantizes the folded float weights: the model's int8 weights are not what runs.
        if len(nxt) == 1 and n.output not in graph.outputs and isinstance(nxt[0].layer, (L.BatchNorm, L.ScaleShift)):
            raise ValueError(f"to_onnx: int8 layer {layer.name!r} is followed by {type(nxt[0].layer).__name__} "
                             f"{nxt[0].layer.name!r}, which compile folds into it and re-quantizes, so its int8 "
                             "weights are not what runs: quantize() the float graph (it folds BatchNorm first)")


class QDQWriter:
    """The QuantizeLinear / DequantizeLinear nodes of one export (``ex``: its Exporter)."""

    def __init__(self, ex: Any) -> None:
        self.ex = ex
        self.dequantized: dict[tuple[str, float, int], str] = {}  # one Q -> DQ per tensor and parameters
        self.taken: set[str] = set(ex.graph.shapes)
        self.u8_out = u8_outputs(ex.graph)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def activation(self, x: str, q: QuantParams) -> str:
        """``x`` through QuantizeLinear -> DequantizeLinear with q's u8 scale / zero point."""
        assert q.input_scale is not None and q.input_zero_point is not None
        key = (x, q.input_scale, q.input_zero_point)
        if key not in self.dequantized:
            ex = self.ex
            s = ex.const(self.fresh(f"{x}::scale"), np.float32(q.input_scale), scalar=True)
            z = ex.const(self.fresh(f"{x}::zero_point"), np.uint8(q.input_zero_point), scalar=True)
            xq = self.fresh(f"{x}::u8")
            xd = self.fresh(f"{x}::dq")
            ex.node("QuantizeLinear", [x, s, z], [xq])
            ex.node("DequantizeLinear", [xq, s, z], [xd])
            ex.shapes[xd] = ex.shapes[x]
            self.dequantized[key] = xd
        return self.dequantized[key]

    def inputs(self, layer: Any, inputs: list[str]) -> list[str]:
        """The names a layer reads: its quantized inputs dequantized, the others as they are."""
        if not is_quantized(layer):
            return inputs
        if isinstance(layer, L.Add):
            return [self.activation(x, q) for x, q in zip(inputs, layer.quant)]
        if layer.quant.input_scale is None:  # weights-only (dynamic) parameters: the input stays float
            return inputs
        return [self.activation(inputs[0], layer.quant)] + inputs[1:]

    def weight(self, y: str, layer: Any) -> str:
        """A Dense / Conv2d weight: DequantizeLinear of its int8 values when it has them."""
        q: Optional[QuantParams] = layer.quant
        if q is None:
            return self.ex.const(f"{y}_W", layer.weight)
        w8, ws = int8_weights(layer)
        ex = self.ex
        per_channel = ws.size > 1
        w = ex.const(self.fresh(f"{y}_W::s8"), w8)
        s = ex.const(self.fresh(f"{y}_W::scale"), ws, scalar=not per_channel)
        z = ex.const(self.fresh(f"{y}_W::zero_point"), np.zeros(ws.shape, np.int8), scalar=not per_channel)
        wd = self.fresh(f"{y}_W::dq")
        if per_channel:
            ex.node("DequantizeLinear", [w, s, z], [wd], axis=0)
        else:
            ex.node("DequantizeLinear", [w, s, z], [wd])
        return wd

    def bias(self, y: str, layer: Any) -> str:
        """A Dense / Conv2d bias: int32 through DequantizeLinear when frugalnn adds it in
        accumulator units (a u8 output), else float32."""
        if layer.name not in self.u8_out or layer.bias is None:
            return self.ex.const(f"{y}_B", layer.bias)
        _, ws = int8_weights(layer)
        s = (np.float32(layer.quant.input_scale) * ws).astype(np.float32)
        if not np.all(s > 0):  # a product underflowing to 0: the runtime adds no bias there either
            return self.ex.const(f"{y}_B", layer.bias)
        s = np.broadcast_to(s, layer.bias.shape).copy()
        # the runtime's nearbyint(bias / s) in float32, saturated to the int32 range
        i32 = np.clip(np.rint(layer.bias / s), -2.0 ** 31, 2.0 ** 31 - 128).astype(np.int32)
        ex = self.ex
        b = ex.const(self.fresh(f"{y}_B::s32"), i32)
        sc = ex.const(self.fresh(f"{y}_B::scale"), s)
        z = ex.const(self.fresh(f"{y}_B::zero_point"), np.zeros_like(i32))
        bd = self.fresh(f"{y}_B::dq")
        ex.node("DequantizeLinear", [b, sc, z], [bd], axis=0)
        return bd


def u8_outputs(graph: Graph) -> set[str]:
    """Names of the int8 layers whose output the compiled program stores as u8 (requantized
    for int8 readers), every layer with input QuantParams compiled int8. Asked of compile
    itself, so the export follows the runtime's rule rather than a copy of it."""
    prec = {n.layer.name: "int8" for n in graph.nodes if is_quantized(n.layer) and _has_input_params(n.layer)}
    if not prec:
        return set()
    core = compile(graph, precision=prec)._core
    out = set()
    for i in range(core.num_steps):
        name, _, _, _, t = core.step_info(i)
        if core.tensor_info(t)[1] == "uint8":
            out.add(name)
    return out


def _has_input_params(layer: Any) -> bool:
    qs = layer.quant if isinstance(layer.quant, tuple) else (layer.quant,)
    return all(q.input_scale is not None for q in qs)


def int8_weights(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 scales) an int8 Dense / Conv2d runs with: its QuantParams' own,
    or else the float weights quantized as compile does (symmetric, per output channel)."""
    q = layer.quant
    if q.weight is not None:
        return q.weight, q.weight_scale
    w = layer.weight
    w8, ws = quantize_weights(np.ascontiguousarray(w.reshape(w.shape[0], -1).T))
    return np.ascontiguousarray(w8.T.reshape(w.shape)), ws
