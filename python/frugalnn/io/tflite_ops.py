"""The operator handlers of :func:`frugalnn.io.load_tflite`: each maps one TFLite builtin
operator onto frugalnn layers (layout and quantization conventions: tflite_import.py)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..graph import layers as L
from ..graph.layers import QuantParams
from ..graph.limits import MAX_DIM
from ..graph.ops import LAYERS
from . import tflite_schema as S
from .onnx_layers import same_pads
from .onnx_values import QConst
from .tflite_import import Act, OpError, Padded, Sym, _Importer, handler, spatial, to_chw
from .tflite_reader import OperatorT

# ---------------------------------------------------------------------------------------
# Shared pieces


def activation(op: OperatorT, err: OpError, table: str) -> Optional[str]:
    code = int(op.option(table, "activation"))
    if code not in S.ACTIVATIONS:
        raise err.malformed(f"fused activation {code} is not an ActivationFunctionType")
    act = S.ACTIVATIONS[code]
    if act not in (None, "RELU", "RELU6", "RELU_N1_TO_1"):
        raise err.unsupported(f"fused activation {act}: supported are NONE, RELU, RELU6, RELU_N1_TO_1")
    return act


def _fused(act: Optional[str], quantized: bool) -> Optional[str]:
    """The activation a Conv2d / Dense / Add layer takes itself (float outputs only: a
    quantized output's activation joins its saturation Clip)."""
    return None if quantized else {"RELU": "relu", "RELU6": "relu6"}.get(act)  # type: ignore[arg-type]


def _left(act: Optional[str], quantized: bool) -> Optional[str]:
    """The activation left for ``finish`` after ``_fused``."""
    return act if quantized or act == "RELU_N1_TO_1" else None


def pair(op: OperatorT, err: OpError, table: str, h: str, w: str, minimum: int = 1) -> tuple[int, int]:
    v = (int(op.option(table, h)), int(op.option(table, w)))
    if min(v) < minimum or max(v) > MAX_DIM:
        raise err.malformed(f"{h} / {w} = {v} must be in [{minimum}, 2^24]")
    return v


def padding(op: OperatorT, err: OpError, table: str) -> str:
    code = int(op.option(table, "padding"))
    if code not in S.PADDING:
        raise err.malformed(f"padding {code} is neither SAME (0) nor VALID (1)")
    return S.PADDING[code]


def float_const(err: OpError, a: np.ndarray, what: str) -> np.ndarray:
    """A float constant as float32 (float16 exactly)."""
    if a.dtype in (np.float32, np.float16):
        return a.astype(np.float32)
    raise err.unsupported(f"{what} is {a.dtype}: expected float32 (or int8 with quantization)")


def weights(imp: _Importer, op: OperatorT, err: OpError, k: int, out_axis: int) -> tuple[
        np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """(float32 weights, int8 weights or None, scales or None) of constant input ``k``, in
    the model's layout; int8 weights must be symmetric (w - zero point fits int8) with one
    scale, or one per slice along ``out_axis``."""
    w = imp.const(op, err, k, "the weights")
    if w is None:
        raise err.malformed(f"the weights (input {k}) are required")
    t = imp.tensors[op.inputs[k]]
    if w.dtype not in (np.int8, np.uint8):
        return float_const(err, w, "the weights"), None, None
    q = t.quant
    if q is None:
        raise err.malformed(f"the {w.dtype} weights '{t.name}' have no quantization parameters")
    if q.scale.size > 1 and (q.axis != out_axis or q.scale.size != w.shape[out_axis]):
        raise err.unsupported(f"weight scales along axis {q.axis} ({q.scale.size} values): only per tensor or "
                              f"per output channel (axis {out_axis}, {w.shape[out_axis]} values)")
    try:
        w8, ws = QConst(w, q.scale, q.zero_point, q.axis if q.scale.size > 1 else 0).symmetric_int8(out_axis)
    except NotImplementedError as e:
        raise err.unsupported(f"weights '{t.name}': {e}") from e
    if not (np.all(np.isfinite(ws)) and np.all(ws > 0)):
        raise err.malformed(f"weights '{t.name}': scales must be positive and finite")
    shape = [1] * w8.ndim
    if ws.size > 1:
        shape[out_axis] = ws.size
    return (w8.astype(np.float32) * ws.reshape(shape)).astype(np.float32), w8, ws


def bias(imp: _Importer, op: OperatorT, err: OpError, k: int, channels: int, x: Act,
         ws: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Constant input ``k`` as a float32 bias; an int32 one is scaled by input x weight scale
    (the runtime's int8 kernels turn it back into the same int32)."""
    b = imp.const(op, err, k, "the bias")
    if b is None:
        return None
    if b.shape != (channels,):
        raise err.malformed(f"the bias has shape {list(b.shape)}, expected [{channels}]")
    if b.dtype == np.int32:
        if x.q is None or ws is None:
            raise err.unsupported("an int32 bias needs a quantized input and int8 weights")
        return (b.astype(np.float32) * (np.float32(x.q.scale) * ws)).astype(np.float32)
    return float_const(err, b, "the bias")


def quant(err: OpError, x: Act, w8: Optional[np.ndarray], ws: Optional[np.ndarray]) -> Optional[QuantParams]:
    """The layer's QuantParams: the input's u8 parameters and the int8 weights."""
    if x.q is not None and w8 is None:
        raise err.unsupported("float weights on a quantized input: only int8 weights are supported there")
    if x.q is None and w8 is None:
        return None
    try:
        return QuantParams(None if x.q is None else x.q.scale, None if x.q is None else x.q.zero_point, w8, ws)
    except ValueError as e:
        raise err.malformed(str(e)) from e


def quantized(imp: _Importer, op: OperatorT) -> bool:
    return imp.qinfo(imp.out_tensor(op), "output") is not None


def in_quant(*xs: Act) -> Optional[tuple[QuantParams, ...]]:
    """u8 parameters of inputs that are all quantized (an Add / GlobalAvgPool then runs int8)."""
    if not all(x.q is not None for x in xs):
        return None
    return tuple(QuantParams(x.q.scale, x.q.zero_point) for x in xs)  # type: ignore[union-attr]


def dequantized(imp: _Importer, op: OperatorT, err: OpError, k: int, what: str) -> np.ndarray:
    """A constant operand as float32 (dequantized when it is int8 / uint8 with parameters)."""
    c = imp.const(op, err, k, what)
    assert c is not None
    if c.dtype in (np.int8, np.uint8):
        q = imp.tensors[op.inputs[k]].quant
        if q is None or q.scale.size != 1:
            raise err.unsupported(f"{what}: a quantized constant needs one scale")
        return ((c.astype(np.float32) - np.float32(q.zero_point[0])) * q.scale[0]).astype(np.float32)
    return float_const(err, c, what)


def channel_vector(c: np.ndarray, x: Act) -> Optional[np.ndarray]:
    """A constant broadcasting onto ``x`` (TFLite order, batch first) as one value or one per
    channel (the last TFLite axis) as a float32 vector; None otherwise."""
    rank = len(x.shape) + 1
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if c.size == 1:
        return full.reshape(1).astype(np.float32)
    if any(s != 1 for s in full.shape[:-1]) or full.shape[-1] != x.shape[-1] or x.flat_from is not None:
        return None
    return np.ascontiguousarray(full.reshape(-1), dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Convolutions and fully connected


def _conv_padding(err: OpError, kind: str, hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int], extra: tuple[int, int, int, int]):
    """Conv2d's ``padding`` for TF padding ``kind`` after a folded PAD of ``extra`` (top, left,
    bottom, right) on an ``hw`` input."""
    if kind == "SAME":
        if any(extra):
            raise err.unsupported("PAD before a SAME convolution: only before VALID ones")
        return "same"
    t, left, b, r = extra
    if t == b and left == r:
        return (t, left)
    if extra == same_pads(hw, kernel, stride, dilation, upper=True):
        return "same"  # TF's SAME: the odd row / column at the bottom / right
    raise err.unsupported(f"asymmetric padding (top, left, bottom, right) = {extra}: only symmetric pads or TF's "
                          "SAME are supported")


def _conv_input(imp: _Importer, op: OperatorT, err: OpError) -> tuple[Act, tuple[int, int, int, int]]:
    v = imp.value(op, 0)
    if isinstance(v, Padded):
        return v.x, v.pads
    x = imp.act(op, err, 0)
    if len(x.shape) != 3:
        raise err.unsupported(f"the input has shape [1, {', '.join(map(str, x.shape))}]: only 4-D NHWC")
    return x, (0, 0, 0, 0)


def _conv_layer(imp: _Importer, op: OperatorT, err: OpError, table: str, x: Act, extra, w: np.ndarray,
                w8, ws, b, groups: int) -> None:
    """A Conv2d (OIHW weights) from a CONV_2D / DEPTHWISE_CONV_2D operator."""
    act = activation(op, err, table)
    stride = pair(op, err, table, "stride_h", "stride_w")
    dilation = pair(op, err, table, "dilation_h", "dilation_w")
    h, wd, c = x.shape
    pad = _conv_padding(err, padding(op, err, table), (h, wd), (w.shape[2], w.shape[3]), stride, dilation, extra)
    qout = quantized(imp, op)
    layer = imp.layer(err, lambda: L.Conv2d(np.ascontiguousarray(w), b, stride=stride, padding=pad,
                                            dilation=dilation, groups=groups, activation=_fused(act, qout),
                                            quant=quant(err, x, w8, ws), name=imp.name_for(op)))
    t = imp.emit(err, layer, [x.tensor])
    _, oh, ow = t.shape
    r = (0.0, np.inf) if _fused(act, qout) else None
    imp.finish(op, err, Act(t, (oh, ow, t.shape[0]), range=r), _left(act, qout))


@handler("CONV_2D", "Conv2DOptions", (2, 3))
def _conv2d(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x, extra = _conv_input(imp, op, err)
    w, w8, ws = weights(imp, op, err, 1, 0)
    if w.ndim != 4:
        raise err.malformed(f"the filter must be 4-D (O, KH, KW, I), got shape {list(w.shape)}")
    c, i = x.shape[2], w.shape[3]
    if i < 1 or c % i:
        raise err.malformed(f"the input has {c} channels, the filter {i} per group")
    to_oihw = (0, 3, 1, 2)
    b = bias(imp, op, err, 2, w.shape[0], x, ws)
    _conv_layer(imp, op, err, "Conv2DOptions", x, extra, w.transpose(to_oihw),
                None if w8 is None else w8.transpose(to_oihw), ws, b, c // i)


@handler("DEPTHWISE_CONV_2D", "DepthwiseConv2DOptions", (2, 3))
def _depthwise(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x, extra = _conv_input(imp, op, err)
    w, w8, ws = weights(imp, op, err, 1, 3)
    if w.ndim != 4 or w.shape[0] != 1:
        raise err.malformed(f"the filter must be (1, KH, KW, C * multiplier), got shape {list(w.shape)}")
    c, o = x.shape[2], w.shape[3]
    m = int(op.option("DepthwiseConv2DOptions", "depth_multiplier"))
    if o % c or (m and m * c != o):
        raise err.malformed(f"{o} filter channels for {c} input channels with depth multiplier {m}")
    # Output channel k reads input channel k // multiplier in both layouts.
    to_oihw = (3, 0, 1, 2)  # (1, KH, KW, O) -> (O, 1, KH, KW)
    b = bias(imp, op, err, 2, o, x, ws)
    _conv_layer(imp, op, err, "DepthwiseConv2DOptions", x, extra, w.transpose(to_oihw),
                None if w8 is None else w8.transpose(to_oihw), ws, b, c)


def hwc_to_chw_columns(w: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """Weights (out, H*W*C) whose columns follow an NHWC flatten, reordered to NCHW's."""
    c, h, wd = chw
    return np.ascontiguousarray(w.reshape(w.shape[0], h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1))


@handler("FULLY_CONNECTED", "FullyConnectedOptions", (2, 3))
def _fully_connected(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x = imp.act(op, err, 0)
    act = activation(op, err, "FullyConnectedOptions")
    if int(op.option("FullyConnectedOptions", "weights_format")) != 0:
        raise err.unsupported("shuffled weights (weights_format SHUFFLED4x16INT8): only DEFAULT")
    w, w8, ws = weights(imp, op, err, 1, 0)
    if w.ndim != 2:
        raise err.malformed(f"the weights must be 2-D (out, in), got shape {list(w.shape)}")
    n = int(np.prod(x.shape))
    if w.shape[1] != n:
        raise err.unsupported(f"the input has {n} values per sample, the weights take {w.shape[1]}: only a "
                              "product over all of a sample's values (no batch of rows per sample)")
    if op.option("FullyConnectedOptions", "keep_num_dims") and len(x.shape) != 1:
        raise err.unsupported("keep_num_dims on a 4-D input")
    chw = x.flat_from
    if len(x.shape) == 3:  # TFLite flattens the input itself
        t = imp.emit(err, L.Flatten(name=imp.name_for(op, "flatten")), [x.tensor])
        chw = to_chw(x.shape) if spatial(to_chw(x.shape)) else None  # type: ignore[assignment]
        x = Act(t, (n,), x.q, chw, x.range)
    if chw is not None:
        w = hwc_to_chw_columns(w, chw)
        w8 = None if w8 is None else hwc_to_chw_columns(w8, chw)
    qout = quantized(imp, op)
    b = bias(imp, op, err, 2, w.shape[0], x, ws)
    layer = imp.layer(err, lambda: L.Dense(np.ascontiguousarray(w), b, activation=_fused(act, qout),
                                           quant=quant(err, x, w8, ws), name=imp.name_for(op)))
    t = imp.emit(err, layer, [x.tensor])
    r = (0.0, np.inf) if _fused(act, qout) else None
    imp.finish(op, err, Act(t, t.shape, range=r), _left(act, qout))


# ---------------------------------------------------------------------------------------
# Pooling and reductions


def _pool(imp: _Importer, op: OperatorT, err: OpError, cls: type) -> None:
    x = imp.act(op, err, 0)
    if len(x.shape) != 3:
        raise err.unsupported("only 4-D NHWC inputs")
    kernel = pair(op, err, "Pool2DOptions", "filter_h", "filter_w")
    stride = pair(op, err, "Pool2DOptions", "stride_h", "stride_w")
    h, wd, c = x.shape
    pads = (0, 0)
    if padding(op, err, "Pool2DOptions") == "SAME":
        p = same_pads((h, wd), kernel, stride, (1, 1), upper=True)
        if p is None or p[0] != p[2] or p[1] != p[3]:
            raise err.unsupported(f"SAME padding is asymmetric here ({p}, top, left, bottom, right): frugalnn's "
                                  "pools pad symmetrically")
        pads = (p[0], p[1])
    if imp.out_tensor(op).type != imp.tensors[op.inputs[0]].type:
        raise err.malformed("the input and output types differ")
    layer = imp.layer(err, lambda: cls(kernel, stride, pads, name=imp.name_for(op)))
    # A max-pool commutes with rounding (monotone); an average reads the model's integers.
    t = imp.emit(err, layer, [(x if cls is L.MaxPool2d else imp.rounded(err, x)).tensor])
    _, oh, ow = t.shape
    imp.finish(op, err, Act(t, (oh, ow, c), range=x.range), activation(op, err, "Pool2DOptions"))


@handler("MAX_POOL_2D", "Pool2DOptions")
def _max_pool(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _pool(imp, op, err, L.MaxPool2d)


@handler("AVERAGE_POOL_2D", "Pool2DOptions")
def _avg_pool(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _pool(imp, op, err, L.AvgPool2d)


@handler("MEAN", "ReducerOptions", (2, 2))
def _mean(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x = imp.act(op, err, 0)
    axes = imp.const(op, err, 1, "the axes")
    if len(x.shape) != 3 or axes is None or axes.dtype not in (np.int32, np.int64) or axes.ndim > 1:
        raise err.unsupported("only the mean of a 4-D NHWC input over H and W (axes [1, 2])")
    if sorted({int(a) % 4 for a in axes.reshape(-1)}) != [1, 2] or not np.all((axes >= -4) & (axes < 4)):
        raise err.unsupported(f"axes {axes.reshape(-1).tolist()}: only the mean over H and W (axes [1, 2])")
    q = in_quant(x)
    layer = imp.layer(err, lambda: L.GlobalAvgPool(quant=None if q is None else q[0], name=imp.name_for(op)))
    t = imp.emit(err, layer, [x.tensor])
    c = x.shape[2]
    y = Act(t, (c,), range=x.range)
    if op.option("ReducerOptions", "keep_dims"):
        t = imp.emit(err, L.Reshape((c, 1, 1), name=imp.name_for(op, "keep_dims")), [t])
        y = Act(t, (1, 1, c), range=x.range)
    imp.finish(op, err, y)


# ---------------------------------------------------------------------------------------
# Element-wise


def _same_layout(err: OpError, x: Act, y: Act) -> None:
    if x.shape != y.shape or x.flat_from != y.flat_from:
        raise err.unsupported(f"inputs of shapes [1, {', '.join(map(str, x.shape))}] and "
                              f"[1, {', '.join(map(str, y.shape))}]: only equal shapes (no broadcasting)")


@handler("ADD", "AddOptions", (2, 2))
def _add(imp: _Importer, op: OperatorT, err: OpError) -> None:
    act = activation(op, err, "AddOptions")
    qout = quantized(imp, op)
    a, b = imp.value(op, 0), imp.value(op, 1)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        k = 0 if isinstance(a, np.ndarray) else 1
        _scale_shift(imp, op, err, 1 - k, None, dequantized(imp, op, err, k, "the constant addend"), act)
        return
    x, y = imp.act(op, err, 0), imp.act(op, err, 1)
    _same_layout(err, x, y)
    layer = imp.layer(err, lambda: L.Add(activation=_fused(act, qout), quant=in_quant(x, y), name=imp.name_for(op)))
    t = imp.emit(err, layer, [x.tensor, y.tensor])
    r = (0.0, np.inf) if _fused(act, qout) else None
    imp.finish(op, err, Act(t, x.shape, flat_from=x.flat_from, range=r), _left(act, qout))


@handler("MUL", "MulOptions", (2, 2))
def _mul(imp: _Importer, op: OperatorT, err: OpError) -> None:
    act = activation(op, err, "MulOptions")
    a, b = imp.value(op, 0), imp.value(op, 1)
    if not (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
        raise err.unsupported("MUL of two computed tensors is not supported yet; MUL by a constant (one value or "
                              "one per channel) is")
    k = 0 if isinstance(a, np.ndarray) else 1
    _scale_shift(imp, op, err, 1 - k, dequantized(imp, op, err, k, "the constant factor"), None, act)


def _scale_shift(imp: _Importer, op: OperatorT, err: OpError, k: int, scale: Optional[np.ndarray],
                 shift: Optional[np.ndarray], act: Optional[str]) -> None:
    x = imp.act(op, err, k)
    vecs = [None if c is None else channel_vector(c, x) for c in (scale, shift)]
    if any(c is not None and v is None for c, v in zip((scale, shift), vecs)):
        raise err.unsupported("a constant operand must be one value or one per channel (the last axis)")
    if any(v is not None and v.size > 1 for v in vecs) and len(x.shape) == 2:
        raise err.unsupported("per-channel constants on a rank-3 tensor")
    layer = imp.layer(err, lambda: L.ScaleShift(vecs[0], vecs[1], name=imp.name_for(op)))
    t = imp.emit(err, layer, [imp.rounded(err, x).tensor])
    imp.finish(op, err, Act(t, x.shape, flat_from=x.flat_from), act)


def _unary(imp: _Importer, op: OperatorT, err: OpError, make, r=None, act: Optional[str] = None) -> None:
    x = imp.act(op, err, 0)
    if make is None:  # the activation is the whole op: finish's Clip
        imp.finish(op, err, x, act)
        return
    x = imp.rounded(err, x)
    t = imp.emit(err, imp.layer(err, lambda: make(name=imp.name_for(op))), [x.tensor])
    imp.finish(op, err, Act(t, x.shape, flat_from=x.flat_from, range=r), act)


@handler("RELU")
def _relu(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x = imp.act(op, err, 0)
    if quantized(imp, op):
        _unary(imp, op, err, None, act="RELU")
    else:
        _unary(imp, op, err, L.ReLU, (0.0, np.inf) if x.range is None else (max(0.0, x.range[0]), max(0.0, x.range[1])))


@handler("RELU6")
def _relu6(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _unary(imp, op, err, None, act="RELU6")


@handler("RELU_N1_TO_1")
def _relu_n1_to_1(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _unary(imp, op, err, None, act="RELU_N1_TO_1")


@handler("LOGISTIC")
def _logistic(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _unary(imp, op, err, LAYERS["Sigmoid"], (0.0, 1.0))


@handler("HARD_SWISH")
def _hard_swish(imp: _Importer, op: OperatorT, err: OpError) -> None:
    _unary(imp, op, err, LAYERS["HardSwish"])


@handler("SOFTMAX", "SoftmaxOptions")
def _softmax(imp: _Importer, op: OperatorT, err: OpError) -> None:
    beta = float(op.option("SoftmaxOptions", "beta"))
    if beta != 1.0:
        raise err.unsupported(f"beta = {beta}: only beta 1")
    x = imp.act(op, err, 0)
    if len(x.shape) != 1 and x.shape[:2] != (1, 1):
        raise err.unsupported("softmax over the channels of a map with H or W > 1: only 2-D inputs (or 1x1 maps)")
    if x.flat_from is not None:
        raise err.unsupported("softmax over a flattened NHWC map")
    t = imp.rounded(err, x).tensor
    if len(x.shape) != 1:
        t = imp.emit(err, L.Reshape((x.shape[2],), name=imp.name_for(op, "flat")), [t])
    t = imp.emit(err, L.Softmax(name=imp.name_for(op)), [t])
    if len(x.shape) != 1:
        t = imp.emit(err, L.Reshape((x.shape[2], 1, 1), name=imp.name_for(op, "unflat")), [t])
    imp.finish(op, err, Act(t, x.shape, range=(0.0, 1.0)))


@handler("CONCATENATION", "ConcatenationOptions", (1, 1 << 16))
def _concat(imp: _Importer, op: OperatorT, err: OpError) -> None:
    xs = [imp.act(op, err, k) for k in range(len(op.inputs))]
    rank = len(xs[0].shape) + 1
    axis = int(op.option("ConcatenationOptions", "axis"))
    if not -rank <= axis < rank:
        raise err.malformed(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise err.unsupported("concatenation along the batch")
    if any(len(x.shape) != rank - 1 or x.flat_from is not None for x in xs):
        raise err.unsupported("inputs of different ranks, or flattened NHWC maps")
    fnn_axis = {1: 1, 2: 2, 3: 0}[axis] if rank == 4 else axis - 1
    if len(xs) == 1:
        y = xs[0]
    else:
        t = imp.emit(err, imp.layer(err, lambda: L.Concat(fnn_axis, name=imp.name_for(op))),
                     [imp.rounded(err, x).tensor for x in xs])
        shape = list(xs[0].shape)
        shape[axis - 1] = sum(x.shape[axis - 1] for x in xs)
        y = Act(t, tuple(shape))
    imp.finish(op, err, Act(y.tensor, y.shape), activation(op, err, "ConcatenationOptions"))


# ---------------------------------------------------------------------------------------
# Quantization


@handler("QUANTIZE", "QuantizeOptions")
def _quantize(imp: _Importer, op: OperatorT, err: OpError) -> None:
    """float -> int8 / uint8, or a requantization: the values are held as the real numbers
    the quantized ones stand for; the saturation is a Clip, the rounding is the int8 reader's."""
    x = imp.act(op, err, 0)
    if not quantized(imp, op):
        raise err.malformed("the output is not a quantized tensor")
    imp.finish(op, err, Act(x.tensor, x.shape, flat_from=x.flat_from, range=x.range))


@handler("DEQUANTIZE", "DequantizeOptions")
def _dequantize(imp: _Importer, op: OperatorT, err: OpError) -> None:
    if imp.out_tensor(op).type != 0:
        raise err.unsupported(f"dequantizing to {imp.out_tensor(op).type_name}: only to float32")
    v = imp.value(op, 0)
    if isinstance(v, np.ndarray):  # float16 / int8 weights stored compressed
        imp.values[op.outputs[0]] = dequantized(imp, op, err, 0, "the constant")
        return
    x = imp.act(op, err, 0)
    if x.q is None:
        raise err.malformed("the input is not quantized")
    imp.set_out(op, err, imp.rounded(err, x))


# ---------------------------------------------------------------------------------------
# Shapes: RESHAPE, PAD and the shape arithmetic feeding RESHAPE


def _int_vector(imp: _Importer, op: OperatorT, err: OpError, k: int, what: str) -> tuple[Optional[int], ...]:
    v = imp.value(op, k)
    if isinstance(v, Sym):
        return v.values
    if isinstance(v, np.ndarray) and v.dtype in (np.int32, np.int64) and v.ndim <= 1 and v.size <= 64:
        return tuple(int(a) for a in v.reshape(-1))
    raise err.unsupported(f"{what} (input {k}) must be a small constant integer vector or computed from SHAPE")


def _target_shape(err: OpError, x: Act, target: tuple[Optional[int], ...]) -> tuple[int, ...]:
    """RESHAPE's per-sample target: the first entry must be the batch (the batch itself,
    1, or -1 with the rest a whole sample)."""
    if not target:
        raise err.unsupported("a reshape to a scalar")
    n = int(np.prod(x.shape))
    head, rest = target[0], target[1:]
    if any(v is None for v in rest) or any(v < -1 or v == 0 or v > MAX_DIM for v in rest) \
            or sum(v == -1 for v in rest) + (head == -1) > 1:  # type: ignore[operator]
        raise err.unsupported(f"target shape {list(target)}: only the first entry may be the batch, sizes in "
                              "[1, 2^24], one -1")
    known = int(np.prod([v for v in rest if v != -1])) if rest else 1
    if head not in (None, 1, -1):
        raise err.unsupported(f"target shape {list(target)}: the first dimension must stay the batch")
    if -1 in rest:
        if n % known:
            raise err.malformed(f"cannot reshape {n} values to {list(target)}")
        rest = tuple(n // known if v == -1 else v for v in rest)
    if int(np.prod(rest)) != n:  # type: ignore[arg-type]
        raise err.unsupported(f"target shape {list(target)} moves values between batch entries (a sample has {n})")
    return rest  # type: ignore[return-value]


@handler("RESHAPE", "ReshapeOptions", (1, 2))
def _reshape(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x = imp.act(op, err, 0)
    if imp.value(op, 1) is not None:
        target = _int_vector(imp, op, err, 1, "the shape")
    else:
        opts = op.options
        new = None if opts is None else opts.array(S.RESHAPE_NEW_SHAPE, "<i4", "new_shape")
        if new is None or new.size > 64:
            raise err.malformed("the target shape is missing (neither a shape input nor new_shape)")
        target = tuple(int(v) for v in new)
    shape = _target_shape(err, x, target)
    if len(shape) not in (1, 3):
        raise err.unsupported(f"a reshape to rank {len(shape) + 1}: only to 2-D or 4-D NHWC")
    imp.finish(op, err, _relayout(imp, op, err, x, shape))


def _relayout(imp: _Importer, op: OperatorT, err: OpError, x: Act, shape: tuple[int, ...]) -> Act:
    """``x`` as TFLite per-sample ``shape``, moving no value out of place in TFLite's order."""
    if shape == x.shape:
        return x
    src = x.flat_from if x.flat_from is not None else to_chw(x.shape)
    if len(shape) == 1:  # a flatten: CHW order is kept, marked when it differs from HWC
        t = imp.emit(err, L.Flatten(name=imp.name_for(op)), [x.tensor])
        return Act(t, shape, x.q, src if spatial(src) else None, x.range)  # type: ignore[arg-type]
    chw = to_chw(shape)
    if x.flat_from is not None and x.flat_from != chw:
        raise err.unsupported("reshaping a flattened NHWC map to another map needs a transpose")
    if x.flat_from is None and (spatial(src) or spatial(chw)):
        raise err.unsupported(f"reshaping [1, {', '.join(map(str, x.shape))}] to [1, {', '.join(map(str, shape))}] "
                              "reorders NHWC values: needs a transpose frugalnn does not have yet")
    t = imp.emit(err, L.Reshape(chw, name=imp.name_for(op)), [x.tensor])
    return Act(t, shape, x.q, None, x.range)


@handler("PAD", "PadOptions", (2, 2))
def _pad(imp: _Importer, op: OperatorT, err: OpError) -> None:
    """Zero padding of H and W, folded into the convolution that reads it (a quantized
    tensor pads with its zero point: the real value 0 as well)."""
    x = imp.act(op, err, 0)
    p = imp.const(op, err, 1, "the paddings")
    if len(x.shape) != 3 or p is None or p.dtype not in (np.int32, np.int64) or p.shape != (4, 2):
        raise err.unsupported("only constant paddings of shape [4, 2] on a 4-D NHWC tensor")
    if p[0].any() or p[3].any():
        raise err.unsupported("padding the batch or the channels")
    if p.min() < 0 or p.max() > MAX_DIM:
        raise err.malformed(f"paddings {p.tolist()} must be in [0, 2^24]")
    if imp.qinfo(imp.out_tensor(op), "output") != x.q:
        raise err.unsupported("the output is quantized differently from the input")
    pads = (int(p[1, 0]), int(p[2, 0]), int(p[1, 1]), int(p[2, 1]))
    t = imp.out_tensor(op)
    shape = (x.shape[0] + pads[0] + pads[2], x.shape[1] + pads[1] + pads[3], x.shape[2])
    if t.shape and tuple(t.shape[1:]) != shape:
        raise err.malformed(f"output '{t.name}' is declared {list(t.shape)}, PAD computes [1, {shape}]")
    imp.values[op.outputs[0]] = Padded(x, pads)


@handler("SHAPE", "ShapeOptions")
def _shape(imp: _Importer, op: OperatorT, err: OpError) -> None:
    x = imp.act(op, err, 0)
    imp.values[op.outputs[0]] = Sym((None,) + x.shape)


@handler("STRIDED_SLICE", "StridedSliceOptions", (4, 4))
def _strided_slice(imp: _Importer, op: OperatorT, err: OpError) -> None:
    """Slices of a shape vector (1-D, positive strides)."""
    v = imp.value(op, 0)
    vec = v.values if isinstance(v, Sym) and not v.scalar else _int_vector(imp, op, err, 0, "the input")
    begin, end, strides = (_int_vector(imp, op, err, k, n) for k, n in ((1, "begin"), (2, "end"), (3, "strides")))
    opt = {k: int(op.option("StridedSliceOptions", k)) for k in
           ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask", "offset")}
    if len(begin) != 1 or len(end) != 1 or len(strides) != 1 or None in begin + end + strides:
        raise err.unsupported("only 1-D slices with constant begin / end / strides")
    if opt["ellipsis_mask"] & 1 or opt["new_axis_mask"] & 1 or strides[0] != 1:
        raise err.unsupported("ellipsis / new-axis masks or strides other than 1")
    b, e = begin[0], end[0]
    if opt["offset"]:
        e = b + e  # type: ignore[operator]
    out = vec[slice(None if opt["begin_mask"] & 1 else b, None if opt["end_mask"] & 1 else e)]
    if opt["shrink_axis_mask"] & 1:
        n = len(vec)
        i = b if b >= 0 else b + n  # type: ignore[operator]
        if not 0 <= i < n:  # type: ignore[operator]
            raise err.malformed(f"index {b} is out of range for {n} values")
        imp.values[op.outputs[0]] = Sym((vec[i],), scalar=True)  # type: ignore[index]
        return
    imp.values[op.outputs[0]] = Sym(tuple(out))


@handler("PACK", "PackOptions", (1, 64))
def _pack(imp: _Importer, op: OperatorT, err: OpError) -> None:
    """Scalars of shape arithmetic stacked into a vector."""
    if int(op.option("PackOptions", "axis")) != 0:
        raise err.unsupported("only packing scalars along axis 0")
    vals = []
    for k in range(len(op.inputs)):
        v = imp.value(op, k)
        if isinstance(v, Sym) and v.scalar:
            vals.append(v.values[0])
        elif isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype in (np.int32, np.int64):
            vals.append(int(v))
        else:
            raise err.unsupported("only integer scalars (shape arithmetic) can be packed")
    imp.values[op.outputs[0]] = Sym(tuple(vals))
