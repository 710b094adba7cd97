"""Quantized ONNX ops for :func:`frugalnn.io.load_onnx`.

Three forms onnxruntime's quantizer writes, all mapped to Dense / Conv2d layers carrying
``QuantParams`` (u8 activations with the model's scale and zero point, int8 symmetric
weights with its scales), so that ``compile(..., precision="int8")`` runs int8 kernels:

* QDQ: ``QuantizeLinear`` -> ``DequantizeLinear`` around float ops. A quantized tensor is
  kept as the float tensor it approximates plus its (scale, zero point); Q's saturation is
  a ``Clip`` (elided when the values are known to lie inside already), its rounding is left
  to the int8 layer that consumes it. Constant ``DequantizeLinear`` (weights, biases) keeps
  the integer form for the layer's int8 weights.
* QOperator: ``QLinearConv``, ``QLinearMatMul`` and onnxruntime's ``com.microsoft`` ops
  ``QGemm``, ``QLinearSoftmax``, ``QLinearAdd``, ``QLinearMul``, ``QLinearConcat``,
  ``QLinearSigmoid``, ``QLinearLeakyRelu``, ``QLinearAveragePool``,
  ``QLinearGlobalAveragePool``, ``QLinearReduceMean`` (run as float ops between the
  dequantized inputs and the requantized output), plus uint8 ``MaxPool`` / ``Flatten`` /
  ``Reshape``. QLinearAdd / QLinearMul broadcast as numpy does (an SE block's (N, C, 1, 1)
  x (N, C, H, W)) between two computed tensors of equal rank, or with a constant uint8 /
  int8 operand (dequantized at import; it may not vary along the batch); their scales and
  zero points, like QLinearLeakyRelu's and QLinearReduceMean's, must be scalars.
  QLinearReduceMean is taken over the spatial axes (2, 3) of (N, C, H, W) only (onnxruntime
  itself has no CPU kernel for it: it is checked against its definition, DequantizeLinear
  -> ReduceMean -> QuantizeLinear). ``QLinearWhere`` is refused. Activations may be uint8
  or int8.
* Dynamic (``quantize_dynamic``): ``DynamicQuantizeLinear`` -> ``MatMulInteger`` /
  ``ConvInteger`` -> ``Cast`` -> ``Mul`` by (input scale x weight scale) becomes one layer
  with ``QuantParams(None, None, int8 weights, scales)``: frugalnn calibrates the input
  statically where onnxruntime measures each batch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from ..graph import layers as L
from .onnx_float_ops import avgpool, check_concat_axis, input_quant, mul_by_constant, softmax
from .onnx_import import _Importer, op
from .onnx_layers import CONV_ATTRS, POOL_ATTRS, bias_vector, conv, dense, quant_params, weights
from .onnx_values import Data, QConst, QInfo, flag, malformed, to_float32, unsupported

QUANT_OPS: dict = {}
_MS = "com.microsoft"


def _op(name: str, attrs: str = "", domain: str = "") -> Any:
    return op(name, attrs, domain, table=QUANT_OPS)


# ---------------------------------------------------------------------------------------
# Quantization parameters


def qinfo(node: Any, scale: Optional[np.ndarray], zero_point: Optional[np.ndarray], signed: bool) -> QInfo:
    """Per-tensor activation parameters in the u8 domain; ``signed`` types a missing zero point."""
    if scale is None:
        raise malformed(node, "the scale input is required")
    if scale.size != 1:
        raise unsupported(node, f"a scale of shape {scale.shape} on a computed tensor: only per-tensor "
                                "quantization of activations is supported")
    s = float(np.float32(scale.reshape(-1)[0]))
    if not (np.isfinite(s) and s > 0):
        raise malformed(node, f"scale must be positive and finite, got {s}")
    if zero_point is None:
        return QInfo(s, 128 if signed else 0, signed)
    if zero_point.size != 1:
        raise unsupported(node, f"a zero point of shape {zero_point.shape} on a computed tensor: only per-tensor")
    if zero_point.dtype == np.uint8:
        return QInfo(s, int(zero_point.reshape(-1)[0]), False)
    if zero_point.dtype == np.int8:  # q_u8 = q_s8 + 128 is exact for every value
        return QInfo(s, int(zero_point.reshape(-1)[0]) + 128, True)
    raise unsupported(node, f"{zero_point.dtype} quantization: only uint8 and int8 activations are supported")


def _activation_in(imp: _Importer, node: Any, i: int) -> Data:
    """Quantized data input ``i`` whose parameters (inputs i+1, i+2) must be the ones it was
    quantized with: the tensor is held as the real values those parameters stand for."""
    x = imp.data(node, i, integer=True)
    assert x.q is not None
    q = qinfo(node, imp.const_float(node, i + 1, "scale"), imp.const(node, i + 2), x.q.signed)
    if q != x.q:
        raise unsupported(node, f"input '{node.input[i]}' was quantized with scale {x.q.scale:g} / zero point "
                                f"{x.q.zero_point} and is read with {q.scale:g} / {q.zero_point}: re-reading "
                                "with other parameters is not supported")
    return x


def _requantized(imp: _Importer, node: Any, y: Data, q: QInfo) -> Data:
    """``y`` quantized with ``q``: rounded and saturated as QuantizeLinear does, in float (a
    quantize_dequantize step). compile drops that step where every reader is an int8 layer
    quantizing with the same parameters (it then reads the u8 values directly); it stays
    where a float op reads the tensor, which then sees exactly the values onnxruntime's
    DequantizeLinear gives it."""
    from ..graph.ops.unary import Unary

    layer = imp.layer(node, lambda: Unary("quantize_dequantize", q.scale, q.zero_point, name=imp.name_for(node)))
    return Data(imp.emit(node, layer, [y.tensor]), q=q, integer=True, range=q.bounds())


def _qconst(node: Any, w: Optional[np.ndarray], scale: Optional[np.ndarray],
            zero_point: Optional[np.ndarray], axis: int) -> QConst:
    """A constant integer tensor with its scale / zero point (per tensor or along ``axis``)."""
    if w is None or scale is None:
        raise malformed(node, "weights and their scale are required")
    scale = to_float32(node, scale, "weight scale").reshape(-1)
    zp = np.zeros(1, np.int64) if zero_point is None else zero_point.reshape(-1).astype(np.int64)
    if scale.size > 1 and (w.ndim <= axis or scale.size != w.shape[axis]):
        raise malformed(node, f"{scale.size} weight scales for weights of shape {w.shape}")
    if zp.size not in (1, scale.size):
        raise malformed(node, f"{zp.size} zero points for {scale.size} scales")
    return QConst(w, scale, np.broadcast_to(zp, scale.shape).copy() if zp.size == 1 else zp, axis)


def _int32_bias(imp: _Importer, node: Any, i: int, scale: np.ndarray) -> Optional[np.ndarray]:
    """An int32 bias as float32: bias * scale (the product of input and weight scales)."""
    b = imp.const(node, i)
    if b is None:
        return None
    if b.dtype != np.int32:
        raise malformed(node, f"the bias must be int32, got {b.dtype}")
    return (b.reshape(-1).astype(np.float32) * scale).astype(np.float32)


# ---------------------------------------------------------------------------------------
# QDQ


@_op("QuantizeLinear", "axis:i saturate:i block_size:i output_dtype:i precision:i")
def _quantize(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    tp = imp.onnx.TensorProto
    if int(a.get("block_size", 0)):
        raise unsupported(node, "blocked quantization is not supported")
    if int(a.get("precision", 0)) not in (0, tp.FLOAT):
        raise unsupported(node, "a division precision other than float32 is not supported")
    out_type = int(a.get("output_dtype", 0))
    if out_type not in (0, tp.UINT8, tp.INT8):
        raise unsupported(node, f"output_dtype {out_type}: only uint8 ({tp.UINT8}) and int8 ({tp.INT8}) "
                                "are supported")
    zp = imp.const(node, 2)
    if zp is not None and out_type and zp.dtype != {tp.UINT8: np.uint8, tp.INT8: np.int8}[out_type]:
        raise malformed(node, f"output_dtype disagrees with the zero point's type {zp.dtype}")
    q = qinfo(node, imp.const_float(node, 1, "scale"), zp, out_type == tp.INT8)
    if x.q == q:
        # Values dequantized with these very parameters, only moved since (Reshape, Transpose,
        # Slice, Concat, MaxPool): already on the grid, so quantizing them changes nothing.
        imp.set(node.output[0], Data(x.tensor, q=q, integer=True, range=x.range))
        return
    imp.set(node.output[0], _requantized(imp, node, x, q))


@_op("DequantizeLinear", "axis:i block_size:i output_dtype:i")
def _dequantize(imp: _Importer, node: Any, a: dict) -> None:
    if int(a.get("block_size", 0)):
        raise unsupported(node, "blocked quantization is not supported")
    if int(a.get("output_dtype", 0)) not in (0, imp.onnx.TensorProto.FLOAT):
        raise unsupported(node, "only float32 outputs are supported")
    v = imp.value(node, 0)
    scale = imp.const_float(node, 1, "scale")
    zp = imp.const(node, 2)
    if isinstance(v, np.ndarray):
        if v.dtype not in (np.int8, np.uint8, np.int16, np.uint16, np.int32):
            raise unsupported(node, f"{v.dtype} constants: only 8-, 16- and 32-bit integers are supported")
        if zp is not None and zp.dtype != v.dtype:
            raise malformed(node, f"the zero point is {zp.dtype}, the input {v.dtype}")
        axis = int(a.get("axis", 1))
        per_axis = scale is not None and scale.size > 1
        if per_axis and not -v.ndim <= axis < v.ndim:
            raise malformed(node, f"axis {axis} is out of range for rank {v.ndim}")
        imp.set(node.output[0], _qconst(node, v, scale, zp, axis % v.ndim if per_axis else 0))
        return
    x = imp.data(node, 0, integer=True)
    assert x.q is not None
    q = qinfo(node, scale, zp, x.q.signed)
    if q != x.q:
        raise unsupported(node, f"dequantizing with scale {q.scale:g} / zero point {q.zero_point} a tensor "
                                f"quantized with {x.q.scale:g} / {x.q.zero_point} is not supported")
    imp.set(node.output[0], Data(x.tensor, q=x.q, range=x.range))


# ---------------------------------------------------------------------------------------
# QOperator


@_op("QLinearConv", CONV_ATTRS)
def _qlinear_conv(imp: _Importer, node: Any, a: dict) -> None:
    x = _activation_in(imp, node, 0)
    wq = _qconst(node, imp.const(node, 3), imp.const(node, 4), imp.const(node, 5), 0)
    w, w8, ws = weights(node, wq, 0, "w")
    bias = _int32_bias(imp, node, 8, np.float32(x.q.scale) * ws)  # type: ignore[union-attr]
    y = conv(imp, node, a, x, w, bias, quant_params(node, x.q, w8, ws), imp.name_for(node, "conv"))
    q_out = qinfo(node, imp.const_float(node, 6, "y_scale"), imp.const(node, 7), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, y, q_out))


@_op("QLinearMatMul")
def _qlinear_matmul(imp: _Importer, node: Any, a: dict) -> None:
    x = _activation_in(imp, node, 0)
    wq = _qconst(node, imp.const(node, 3), imp.const(node, 4), imp.const(node, 5), 1)
    w, w8, ws = weights(node, wq, 1, "b")
    if w.ndim != 2:
        raise unsupported(node, f"b has shape {w.shape}: only a 2-D matrix is supported")
    y = dense(imp, node, x, w.T, None, quant_params(node, x.q, w8.T, ws), imp.name_for(node, "matmul"))
    q_out = qinfo(node, imp.const_float(node, 6, "y_scale"), imp.const(node, 7), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, y, q_out))


@_op("QGemm", "alpha:f transA:i transB:i", _MS)
def _qgemm(imp: _Importer, node: Any, a: dict) -> None:
    """onnxruntime's quantized Gemm: y = alpha * a_scale * b_scale * (int32 A.B + C)."""
    if flag(node, a, "transA"):
        raise unsupported(node, "transA=1 puts the batch on the second axis of A; only transA=0 is supported")
    x = _activation_in(imp, node, 0)
    trans_b = flag(node, a, "transB")
    alpha = float(a.get("alpha", 1.0))
    if not (alpha > 0 and np.isfinite(alpha)):
        raise unsupported(node, f"alpha={alpha}: only a positive finite alpha is supported")
    wq = _qconst(node, imp.const(node, 3), imp.const(node, 4), imp.const(node, 5), 0 if trans_b else 1)
    w, w8, ws = weights(node, wq, 0 if trans_b else 1, "B")
    if w.ndim != 2:
        raise malformed(node, f"B must be 2-D, got shape {w.shape}")
    if not trans_b:
        w, w8 = w.T, w8.T  # type: ignore[union-attr]
    ws = (ws * np.float32(alpha)).astype(np.float32)  # type: ignore[operator]
    w = (w * np.float32(alpha)).astype(np.float32)
    c = imp.const(node, 6)
    bias = None
    if c is not None:
        b = bias_vector(c, 2, w.shape[0])
        if b is None or c.dtype != np.int32:
            raise unsupported(node, f"C of type {c.dtype} and shape {c.shape}: only an int32 per-column bias")
        bias = (b * (np.float32(x.q.scale) * ws)).astype(np.float32)  # type: ignore[union-attr]
    has_y = len(node.input) > 7 and node.input[7]
    y = dense(imp, node, x, w, bias, quant_params(node, x.q, w8, ws), imp.name_for(node, "gemm" if has_y else None))
    if has_y:
        y = _requantized(imp, node, y, qinfo(node, imp.const_float(node, 7, "y_scale"), imp.const(node, 8),
                                              x.q.signed))  # type: ignore[union-attr]
    imp.set(node.output[0], y)


@_op("QLinearSoftmax", "axis:i opset:i", _MS)
def _qlinear_softmax(imp: _Importer, node: Any, a: dict) -> None:
    x = _activation_in(imp, node, 0)
    if "opset" not in a:
        raise malformed(node, "the opset attribute is required")
    coerced = int(a["opset"]) < 13
    y = softmax(imp, node, Data(x.tensor, range=x.range), int(a.get("axis", 1 if coerced else -1)), coerced,
                imp.name_for(node, "softmax"))
    q_out = qinfo(node, imp.const_float(node, 3, "y_scale"), imp.const(node, 4), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, y, q_out))


def _scalar_params(imp: _Importer, node: Any, indices: tuple[int, ...]) -> None:
    """The scale / zero point inputs at ``indices`` must be constants of one value each: the
    com.microsoft QLinear element-wise ops quantize per tensor only (onnxruntime refuses
    anything else), so another shape is a malformed node, not a missing feature."""
    for i in indices:
        c = imp.const(node, i)
        if c is not None and c.size != 1:
            raise malformed(node, f"input {i} ('{node.input[i]}') must be a scalar (a per-tensor scale or zero "
                                  f"point), got shape {c.shape}")


def _operand(imp: _Importer, node: Any, i: int) -> tuple[Optional[Data], Optional[np.ndarray], QInfo]:
    """Operand ``i`` of a QLinear binary op with its parameters (inputs i+1, i+2): (the
    computed tensor, None, its QInfo) or, for a constant uint8 / int8 operand, (None, its real
    values (q - zero point) * scale in float32, its QInfo)."""
    v = imp.value(node, i)
    if not isinstance(v, np.ndarray):
        x = _activation_in(imp, node, i)
        return x, None, x.q  # type: ignore[return-value]
    if v.dtype not in (np.uint8, np.int8):
        raise malformed(node, f"input {i} ('{node.input[i]}') must be uint8 or int8, got {v.dtype}")
    zp = imp.const(node, i + 2)
    if zp is not None and zp.dtype != v.dtype:
        raise malformed(node, f"input {i} is {v.dtype} and its zero point {zp.dtype}")
    q = qinfo(node, imp.const_float(node, i + 1, "scale"), zp, v.dtype == np.int8)
    u8 = v.astype(np.int32) + (128 if q.signed else 0)
    return None, ((u8 - q.zero_point).astype(np.float32) * np.float32(q.scale)).astype(np.float32), q


def _output_quant(imp: _Importer, node: Any, i: int, signed: bool) -> QInfo:
    """The output's parameters (inputs i, i+1), of the inputs' type (uint8 or int8)."""
    zp = imp.const(node, i + 1)
    if zp is not None and zp.dtype in (np.uint8, np.int8) and (zp.dtype == np.int8) != signed:
        raise malformed(node, f"the output's zero point is {zp.dtype}, the input {'int8' if signed else 'uint8'}")
    return qinfo(node, imp.const_float(node, i, "scale"), zp, signed)


def _qlinear_binary(imp: _Importer, node: Any, fn: str) -> None:
    """QLinearAdd / QLinearMul: A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale,
    C_zero_point. The float op (numpy broadcasting) between the dequantized operands, either
    of which may be a constant, then C's rounding."""
    from ..graph.ops.broadcast import Binary, per_sample_constant

    _scalar_params(imp, node, (1, 2, 4, 5, 6, 7))
    (x, cx, qx), (y, cy, qy) = _operand(imp, node, 0), _operand(imp, node, 3)
    if qx.signed != qy.signed:
        raise malformed(node, "A and B must have the same type (both uint8 or both int8)")
    q_out = _output_quant(imp, node, 6, qx.signed)
    name = imp.name_for(node, fn)
    if x is not None and y is not None:
        if len(x.shape) != len(y.shape):
            raise unsupported(node, f"operands of ranks {imp.rank(x)} and {imp.rank(y)}: broadcasting would align "
                                    "the batch axis of one with another axis of the other; only equal ranks")
        if fn == "add" and x.shape == y.shape:  # the Add layer (int8 on quantized inputs)
            t = imp.emit(node, L.Add(quant=input_quant(x, y), name=name), [x.tensor, y.tensor])
        else:
            t = imp.emit(node, imp.layer(node, lambda: Binary(fn, name=name)), [x.tensor, y.tensor])
    else:
        if x is None and y is None:
            raise unsupported(node, "both operands are constants: at least one must be computed from the inputs")
        data, c = (x, cy) if x is not None else (y, cx)
        assert data is not None and c is not None
        c = per_sample_constant(imp, node, c, imp.rank(data))
        layer = imp.layer(node, lambda: Binary(fn, c, constant_first=x is None, name=name))
        t = imp.emit(node, layer, [data.tensor])
    imp.set(node.output[0], _requantized(imp, node, Data(t), q_out))


@_op("QLinearAdd", "", _MS)
def _qlinear_add(imp: _Importer, node: Any, a: dict) -> None:
    _qlinear_binary(imp, node, "add")


@_op("QLinearMul", "", _MS)
def _qlinear_mul(imp: _Importer, node: Any, a: dict) -> None:
    _qlinear_binary(imp, node, "mul")


@_op("QLinearLeakyRelu", "alpha:f", _MS)
def _qlinear_leaky_relu(imp: _Importer, node: Any, a: dict) -> None:
    from ..graph.ops.unary import Unary

    _scalar_params(imp, node, (1, 2, 3, 4))
    x = _activation_in(imp, node, 0)
    alpha = float(a.get("alpha", 0.01))
    layer = imp.layer(node, lambda: Unary("leaky_relu", alpha, name=imp.name_for(node, "leaky_relu")))
    t = imp.emit(node, layer, [x.tensor])
    q_out = _output_quant(imp, node, 3, x.q.signed)  # type: ignore[union-attr]
    imp.set(node.output[0], _requantized(imp, node, Data(t), q_out))


@_op("QLinearReduceMean", "axes:ints keepdims:i", _MS)
def _qlinear_reduce_mean(imp: _Importer, node: Any, a: dict) -> None:
    _scalar_params(imp, node, (1, 2, 3, 4))
    x = _activation_in(imp, node, 0)
    rank = imp.rank(x)
    given = [int(i) for i in a.get("axes", range(rank))]
    axes = sorted({imp.axis(node, i, rank) for i in given})
    if len(axes) != len(given):
        raise malformed(node, f"axes {given} repeat an axis")
    keep = flag(node, a, "keepdims", True)
    if rank != 4 or axes != [2, 3]:
        raise unsupported(node, f"a mean over axes {axes} of a rank-{rank} tensor: only over the spatial axes "
                                "(2, 3) of (batch, C, H, W) is supported")
    t = imp.emit(node, L.GlobalAvgPool(quant=input_quant(x)[0], name=imp.name_for(node, "pool")),  # type: ignore
                 [x.tensor])
    pooled = Data(t, range=x.range)
    if keep:
        pooled = imp.reshape(node, pooled, (x.shape[0], 1, 1), imp.name_for(node, "reshape"))
    q_out = _output_quant(imp, node, 3, x.q.signed)  # type: ignore[union-attr]
    imp.set(node.output[0], _requantized(imp, node, pooled, q_out))


@_op("QLinearGlobalAveragePool", "channels_last:i", _MS)
def _qlinear_global_avgpool(imp: _Importer, node: Any, a: dict) -> None:
    if flag(node, a, "channels_last"):
        raise unsupported(node, "channels_last=1: only NCHW is supported")
    x = _activation_in(imp, node, 0)
    if len(x.shape) != 3:
        raise unsupported(node, f"only 2-D pooling (NCHW input) is supported, got rank {imp.rank(x)}")
    t = imp.emit(node, L.GlobalAvgPool(quant=input_quant(x)[0], name=imp.name_for(node, "pool")),  # type: ignore
                 [x.tensor])
    pooled = imp.reshape(node, Data(t, range=x.range), (x.shape[0], 1, 1), imp.name_for(node, "reshape"))
    q_out = qinfo(node, imp.const_float(node, 3, "y_scale"), imp.const(node, 4), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, pooled, q_out))


@_op("QLinearAveragePool", POOL_ATTRS + " channels_last:i", _MS)
def _qlinear_avgpool(imp: _Importer, node: Any, a: dict) -> None:
    if flag(node, a, "channels_last"):
        raise unsupported(node, "channels_last=1: only NCHW is supported")
    x = _activation_in(imp, node, 0)
    pooled = avgpool(imp, node, {k: v for k, v in a.items() if k != "channels_last"}, Data(x.tensor, range=x.range),
                     imp.name_for(node, "pool"))
    q_out = qinfo(node, imp.const_float(node, 3, "y_scale"), imp.const(node, 4), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, pooled, q_out))


@_op("QLinearSigmoid", "", _MS)
def _qlinear_sigmoid(imp: _Importer, node: Any, a: dict) -> None:
    x = _activation_in(imp, node, 0)
    t = imp.emit(node, L.Sigmoid(name=imp.name_for(node, "sigmoid")), [x.tensor])
    q_out = qinfo(node, imp.const_float(node, 3, "Y_scale"), imp.const(node, 4), x.q.signed)  # type: ignore
    imp.set(node.output[0], _requantized(imp, node, Data(t, range=(0.0, 1.0)), q_out))


@_op("QLinearConcat", "axis:i", _MS)
def _qlinear_concat(imp: _Importer, node: Any, a: dict) -> None:
    if (len(node.input) - 2) % 3 or len(node.input) < 5:
        raise malformed(node, "expects Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) triples")
    parts = [_activation_in(imp, node, i) for i in range(2, len(node.input), 3)]
    axis = imp.axis(node, int(a.get("axis", 1)), imp.rank(parts[0]))
    check_concat_axis(node, axis)
    q_out = qinfo(node, imp.const_float(node, 0, "Y_scale"), imp.const(node, 1), parts[0].q.signed)  # type: ignore
    if len(parts) == 1:
        cat = Data(parts[0].tensor, range=parts[0].range)
    else:
        cat = Data(imp.emit(node, L.Concat(axis - 1, name=imp.name_for(node, "concat")), [p.tensor for p in parts]))
    imp.set(node.output[0], _requantized(imp, node, cat, q_out))


# ---------------------------------------------------------------------------------------
# Dynamic quantization: DynamicQuantizeLinear -> MatMulInteger / ConvInteger -> Cast -> Mul


@dataclass(eq=False)
class _DynamicPart:
    """One output of DynamicQuantizeLinear(x): ``role`` is "q", "scale" or "zero point"."""

    x: Data
    role: str

    @property
    def what(self) -> str:
        return (f"the {self.role} output of DynamicQuantizeLinear (supported only in the "
                "MatMulInteger / ConvInteger -> Cast -> Mul pattern of onnxruntime's quantize_dynamic)")


@dataclass(eq=False)
class _IntegerProduct:
    """MatMulInteger / ConvInteger of a dynamically quantized ``x``: int32 until rescaled."""

    x: Data
    w8: np.ndarray          # int8, the layer's layout (out x in, or O x C x kh x kw)
    attrs: Optional[dict]   # Conv attributes; None for a matrix product
    cast: bool = False
    what: str = ("an int32 MatMulInteger / ConvInteger result (supported only when cast to float and "
                 "multiplied by the input scale x weight scale)")

    def on_cast(self, node: Any, a: dict) -> "_IntegerProduct":
        if int(a.get("to", 0)) != 1:  # TensorProto.FLOAT
            raise unsupported(node, "an integer product must be cast to float32")
        return replace(self, cast=True)


@dataclass(eq=False)
class _ProductScale:
    """DynamicQuantizeLinear's scale of ``x`` times constant weight scales."""

    x: Data
    scale: np.ndarray
    what: str = "a dynamic quantization scale (supported only as the multiplier of an integer product)"


@_op("DynamicQuantizeLinear")
def _dynamic_quantize(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    for name, role in zip(node.output, ("q", "scale", "zero point")):
        imp.set(name, _DynamicPart(x, role))


def _dynamic_input(imp: _Importer, node: Any) -> Data:
    v, zp = imp.value(node, 0), imp.value(node, 2)
    if not (isinstance(v, _DynamicPart) and v.role == "q"):
        raise unsupported(node, "only the pattern of onnxruntime's quantize_dynamic (the input comes from "
                                "DynamicQuantizeLinear) is supported")
    if not (isinstance(zp, _DynamicPart) and zp.role == "zero point" and zp.x is v.x):
        raise unsupported(node, "the input's zero point must be DynamicQuantizeLinear's, of the same tensor")
    return v.x


def _symmetric(node: Any, w: Optional[np.ndarray], zp: Optional[np.ndarray], axis: int) -> np.ndarray:
    """Integer weights with their zero point as int8 with zero point 0 (scales come later)."""
    ones = np.ones(1 if zp is None else zp.size, np.float32)  # placeholders: only zp matters here
    try:
        return _qconst(node, w, ones, zp, axis).symmetric_int8(axis)[0]
    except NotImplementedError as e:
        raise unsupported(node, f"weights: {e}") from e


@_op("MatMulInteger")
def _matmul_integer(imp: _Importer, node: Any, a: dict) -> None:
    x = _dynamic_input(imp, node)
    w8 = _symmetric(node, imp.const(node, 1), imp.const(node, 3), 1)
    if w8.ndim != 2:
        raise unsupported(node, f"B has shape {w8.shape}: only a 2-D matrix is supported")
    imp.set(node.output[0], _IntegerProduct(x, np.ascontiguousarray(w8.T), None))


@_op("ConvInteger", CONV_ATTRS)
def _conv_integer(imp: _Importer, node: Any, a: dict) -> None:
    x = _dynamic_input(imp, node)
    imp.set(node.output[0], _IntegerProduct(x, _symmetric(node, imp.const(node, 1), imp.const(node, 3), 0), a))


@_op("Mul")
def _mul(imp: _Importer, node: Any, a: dict) -> None:
    u, v = imp.value(node, 0), imp.value(node, 1)
    for p, c in ((u, v), (v, u)):
        if isinstance(p, _DynamicPart) and p.role == "scale" and isinstance(c, np.ndarray):
            imp.set(node.output[0], _ProductScale(p.x, to_float32(node, c, "weight scale")))
            return
    for p, s in ((u, v), (v, u)):
        if isinstance(p, _IntegerProduct) and isinstance(s, _ProductScale) and s.x is p.x and p.cast:
            imp.set(node.output[0], _rescaled_layer(imp, node, p, s.scale))
            return
    if mul_by_constant(imp, node):
        return
    raise unsupported(node, "Mul is supported between computed tensors and constants (with broadcasting), "
                            "and as the rescaling step of dynamic quantization (MatMulInteger / ConvInteger -> "
                            "Cast -> Mul by input scale x weight scale)")


def _rescaled_layer(imp: _Importer, node: Any, p: _IntegerProduct, scale: np.ndarray) -> Data:
    """The Dense / Conv2d an integer product times its scales computes (int8 weights kept)."""
    channels = p.w8.shape[0]
    if scale.size == 1:
        ws = scale.reshape(1)
    else:
        rank = 2 if p.attrs is None else 4
        vec = bias_vector(scale, rank, channels)
        if vec is None:
            raise unsupported(node, f"scales of shape {scale.shape}: only per tensor or per output channel")
        ws = vec
    if not (np.all(np.isfinite(ws)) and np.all(ws > 0)):
        raise malformed(node, "scales must be positive and finite")
    w = (p.w8.astype(np.float32) * ws.reshape((-1,) + (1,) * (p.w8.ndim - 1))).astype(np.float32)
    q = quant_params(node, None, p.w8, np.ascontiguousarray(ws, dtype=np.float32))
    if p.attrs is None:
        return dense(imp, node, p.x, w, None, q)
    return conv(imp, node, p.attrs, p.x, w, None, q)
