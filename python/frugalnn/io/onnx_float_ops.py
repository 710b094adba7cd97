"""Float ONNX ops for :func:`frugalnn.io.load_onnx` (the quantized ones are in
``onnx_quant``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..graph import layers as L
from ..graph.layers import QuantParams
from ..graph.limits import MAX_DIM, MAX_RANK
from .onnx_import import _Importer, op
from .onnx_layers import (
    CONV_ATTRS, POOL_ATTRS, bias_vector, conv, dense, explicit_pads, pair_attr, quant_params, weights,
)
from .onnx_values import _FLOAT_MAX, Data, flag, malformed, to_float32, unsupported

# ---------------------------------------------------------------------------------------
# Float ops


@op("Identity")
def _identity(imp: _Importer, node: Any, a: dict) -> None:
    v = imp.value(node, 0)
    if v is None:
        raise malformed(node, "input 0 is required")
    imp.alias(node, v)


@op("Constant", "value:t value_float:f value_floats:floats value_int:i value_ints:ints sparse_value:sparse "
                "value_string:s value_strings:strings")
def _constant(imp: _Importer, node: Any, a: dict) -> None:
    if len(a) != 1:
        raise malformed(node, f"needs exactly one value attribute, got {sorted(a)}")
    (key, v), = a.items()
    if key == "value":
        arr = imp.tensor_array(v)
    elif key in ("value_float", "value_floats"):
        arr = np.array(v, np.float32)
    elif key in ("value_int", "value_ints"):
        arr = np.array(v, np.int64)
    else:
        raise unsupported(node, f"{key} constants are not supported")
    imp.set(node.output[0], arr)


@op("Dropout", "ratio:f seed:i")
def _dropout(imp: _Importer, node: Any, a: dict) -> None:
    if len(node.output) > 1 and node.output[1] and (imp.uses[node.output[1]] or node.output[1] in imp.outputs):
        raise unsupported(node, "the mask output is not supported (inference Dropout is the identity)")
    r = imp.const(node, 1) if imp.opset >= 12 else a.get("ratio")
    ratio = 0.5 if r is None else float(np.asarray(r).reshape(-1)[0])
    if not 0 <= ratio < 1:
        raise malformed(node, f"ratio must be in [0, 1), got {ratio}")
    training = imp.const(node, 2)
    if training is not None and bool(np.asarray(training).reshape(-1)[0]) and ratio != 0:
        raise unsupported(node, "training_mode=True drops random values; only inference (or ratio 0) is supported")
    imp.alias(node, imp.any_data(node, 0))


@op("Relu")
def _relu(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    if x.range is not None and x.range[0] >= 0:  # nothing below zero: ReLU is the identity
        imp.set(node.output[0], Data(x.tensor, range=x.range))
        return
    t = imp.emit(node, L.ReLU(name=imp.name_for(node)), [x.tensor])
    imp.set(node.output[0], Data(t, range=(0.0, math.inf if x.range is None else max(x.range[1], 0.0))))


@op("Clip", "min:f max:f")
def _clip(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    if imp.opset < 11:
        lo, hi = float(a.get("min", -_FLOAT_MAX)), float(a.get("max", _FLOAT_MAX))
    else:
        if a:
            raise malformed(node, "min / max are inputs since opset 11, not attributes")
        bounds = []
        for i, default in ((1, -_FLOAT_MAX), (2, _FLOAT_MAX)):  # onnxruntime's defaults
            c = imp.const_float(node, i, "min / max")
            if c is not None and c.size != 1:
                raise malformed(node, f"input {i} must be a scalar, got shape {c.shape}")
            bounds.append(default if c is None else float(c.reshape(-1)[0]))
        lo, hi = bounds
    if math.isnan(lo) or math.isnan(hi):
        raise unsupported(node, "NaN bounds")
    if lo > hi:  # ONNX (like numpy.clip) then sets every value to max
        lo = hi
    imp.set(node.output[0], imp.clip(node, x, lo, hi, imp.name_for(node)))


def softmax(imp: _Importer, node: Any, x: Data, axis: int, coerced: bool, name: str,
            kind: type = L.Softmax) -> Data:
    """Softmax (or ``kind``, LogSoftmax) of ``x`` over ONNX ``axis`` (``coerced``: opset < 13,
    over all axes from ``axis`` on). Over all of a sample's values it runs on the flattened
    sample; over one axis where that axis is the innermost in storage: the last axis, or
    the channels of a (batch, C, H, W) map (stored channels-last)."""
    from ..graph.compile import _spatial

    rank = imp.rank(x)
    axis = imp.axis(node, axis, rank)
    if axis == 0:
        raise unsupported(node, "softmax over the batch axis")
    out_range = (0.0, 1.0) if kind is L.Softmax else None
    k = axis - 1  # the first reduced axis of a sample
    reduced = math.prod(x.shape[k:]) if coerced else x.shape[k]
    if reduced == math.prod(x.shape):  # every value of a sample
        flat = x if len(x.shape) == 1 else Data(imp.emit(node, L.Flatten(name=imp.fresh(f"{name}/flatten")),
                                                         [x.tensor]))
        soft_name = name if len(x.shape) == 1 else imp.fresh(f"{name}/softmax")
        y = Data(imp.emit(node, kind(name=soft_name), [flat.tensor]), range=out_range)
        return y if len(x.shape) == 1 else imp.reshape(node, y, x.shape, name)
    one_axis = not coerced or all(d == 1 for d in x.shape[k + 1:])
    if one_axis and k == (0 if _spatial(x.shape) else len(x.shape) - 1):
        layer = imp.layer(node, lambda: kind(k, name=name))
        return Data(imp.emit(node, layer, [x.tensor]), range=out_range)
    raise unsupported(node, f"{node.op_type} over axis {axis}{' on' if coerced else ''} of shape (batch, "
                            f"{', '.join(map(str, x.shape))}): only over all of a sample's values, the last "
                            "axis, or the channels (axis 1) of (batch, C, H, W)")


@op("Softmax", "axis:i")
def _softmax(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    coerced = imp.opset < 13
    axis = int(a.get("axis", 1 if coerced else -1))
    imp.set(node.output[0], softmax(imp, node, x, axis, coerced, imp.name_for(node)))


@op("Flatten", "axis:i")
def _flatten(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.any_data(node, 0)
    rank = imp.rank(x)
    axis = int(a.get("axis", 1))
    if not -rank <= axis <= rank:
        raise malformed(node, f"axis {axis} is out of range for rank {rank}")
    axis %= rank + 1 if axis >= 0 else rank
    if axis != 1:
        raise unsupported(node, f"axis {a.get('axis')} folds the batch into another dimension; only axis 1 "
                                "(batch x features) is supported")
    if len(x.shape) == 1:
        imp.set(node.output[0], x)
        return
    t = imp.emit(node, L.Flatten(name=imp.name_for(node)), [x.tensor])
    imp.set(node.output[0], Data(t, q=x.q, integer=x.integer, range=x.range))


@op("Reshape", "allowzero:i")
def _reshape(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.any_data(node, 0)
    target = imp.const(node, 1)
    if target is None:
        raise malformed(node, "the shape input is required")
    if target.dtype != np.int64 or target.ndim != 1:
        raise malformed(node, f"shape must be a 1-D int64 tensor, got {target.dtype} {target.shape}")
    if target.size > MAX_RANK + 1:  # + the batch
        raise malformed(node, f"the shape has {target.size} values: at most {MAX_RANK + 1} axes are supported")
    imp.set(node.output[0], imp.reshape(node, x, reshape_target(imp, node, x, [int(t) for t in target],
                                                                flag(node, a, "allowzero")),
                                        imp.name_for(node)))


# What Shape gives for a dynamic batch (a prime past MAX_DIM that fits int32 casts).
BATCH_SENTINEL = 2**31 - 1


def reshape_target(imp: _Importer, node: Any, x: Data, t: list[int], allowzero: bool) -> tuple[int, ...]:
    """The per-sample shape a Reshape to ``t`` gives, refusing one that moves the batch."""
    full = [None] + list(x.shape)  # None: the batch
    n = math.prod(x.shape)  # Python ints throughout: a crafted shape cannot wrap around
    if not t:
        raise unsupported(node, "a reshape to a scalar drops the batch dimension")
    if any(v < -1 or v > MAX_DIM for v in t[t[0] == BATCH_SENTINEL:]) or t.count(-1) > 1:
        raise malformed(node, f"bad target shape {t[:8]}{'...' if len(t) > 8 else ''}: sizes must be -1, 0 or "
                              "in [1, 2^24], with at most one -1")
    if 0 in t:
        if allowzero:
            raise unsupported(node, f"allowzero=1 with a 0 in the shape {t}: empty tensors are not supported")
        if any(v == 0 and i >= len(full) for i, v in enumerate(t)):
            raise malformed(node, f"shape {t} copies a dimension the input (rank {len(full)}) lacks")
        t = [full[i] if v == 0 else v for i, v in enumerate(t)]
    first, rest = t[0], t[1:]
    known = math.prod(v for v in rest if v != -1)
    if first is None or first == BATCH_SENTINEL or (imp.batch is not None and first == imp.batch):
        if -1 in rest:
            if known == 0 or n % known:
                raise malformed(node, f"cannot reshape (batch, {x.shape}) to {t}")
            rest = [n // known if v == -1 else v for v in rest]
    elif first == -1 and -1 not in rest and known == n:
        pass  # -1 stands for the batch
    else:
        raise unsupported(node, f"reshape of (batch, {', '.join(map(str, x.shape))}) to {t} changes the batch "
                                "dimension; the first dimension must stay the batch (0, or -1 with the others "
                                "fixed)")
    if math.prod(rest) != n:
        raise malformed(node, f"cannot reshape (batch, {', '.join(map(str, x.shape))}) to {t}")
    if not rest:
        raise unsupported(node, "a reshape to (batch,) leaves no per-sample dimension")
    return tuple(int(v) for v in rest)


@op("Concat", "axis:i")
def _concat(imp: _Importer, node: Any, a: dict) -> None:
    parts = [imp.data(node, i) for i in range(len(node.input)) if node.input[i]]
    if not parts:
        raise malformed(node, "needs at least one input")
    if "axis" not in a:
        raise malformed(node, "the axis attribute is required")
    axis = imp.axis(node, int(a["axis"]), imp.rank(parts[0]))
    if len(parts) == 1:
        imp.set(node.output[0], parts[0])
        return
    check_concat_axis(node, axis)
    t = imp.emit(node, L.Concat(axis - 1, name=imp.name_for(node)), [p.tensor for p in parts])
    ranges = [p.range for p in parts]
    joint = None if None in ranges else (min(r[0] for r in ranges), max(r[1] for r in ranges))  # type: ignore
    same_q = parts[0].q if all(p.q == parts[0].q for p in parts) else None  # still on that grid
    imp.set(node.output[0], Data(t, q=same_q, range=joint))


def check_concat_axis(node: Any, axis: int) -> None:
    if axis == 0:
        raise unsupported(node, "concatenation along the batch axis (0); any other axis is supported")


@op("Add")
def _add(imp: _Importer, node: Any, a: dict) -> None:
    va, vb = imp.value(node, 0), imp.value(node, 1)
    if isinstance(va, Data) and isinstance(vb, Data):
        x, y = imp.data(node, 0), imp.data(node, 1)
        if x.shape != y.shape:  # broadcasting: the general element-wise step
            imp.set(node.output[0], _binary(imp, node, "add"))
            return
        add = L.Add(quant=input_quant(x, y), name=imp.name_for(node))
        imp.set(node.output[0], Data(imp.emit(node, add, [x.tensor, y.tensor])))
        return
    i = 0 if isinstance(va, Data) else 1
    x, c = imp.data(node, i), imp.const_float(node, 1 - i, "the added constant")
    if c is None:  # check_arity requires both inputs: kept for direct callers
        raise malformed(node, f"input {1 - i} is required")
    if not channelwise(imp, x, c):
        imp.set(node.output[0], _binary(imp, node, "add"))
        return
    layer = x.layer
    b = None if layer is None or not imp.sole_use(x) else bias_vector(c, imp.rank(x), layer.weight.shape[0])
    if b is None:  # not the bias of the layer before: a shift of its own
        scale_shift(imp, node, x, None, c)
        return
    new = b if layer.bias is None else (layer.bias + b).astype(np.float32)
    if not np.all(np.isfinite(new)):
        raise malformed(node, "the bias contains NaN or infinity")
    layer.bias = np.ascontiguousarray(new)
    imp.uses[node.input[i]] -= 1  # absorbed: a further bias Add may fold as well
    imp.set(node.output[0], x)


def channelwise(imp: _Importer, x: Data, c: np.ndarray) -> bool:
    """Whether constant ``c`` is one value, or one per channel of a (batch, C) / (batch, C, H, W)
    tensor ``x``: then it folds into a ScaleShift (and that into the layer before)."""
    c = np.asarray(c)
    if c.size == 1 and c.ndim <= imp.rank(x):
        return True
    return len(x.shape) in (1, 3) and bias_vector(c, imp.rank(x), x.shape[0]) is not None


def _binary(imp: _Importer, node: Any, fn: str) -> Data:
    from ..graph.ops.broadcast import import_binary

    return import_binary(imp, node, fn)


def scale_shift(imp: _Importer, node: Any, x: Data, scale: Optional[np.ndarray],
                shift: Optional[np.ndarray]) -> None:
    """node's output = x * scale + shift for constants that are one value, or one per channel
    of a (batch, C) / (batch, C, H, W) tensor: a ScaleShift layer (folded into a Conv2d /
    Dense before it by compile)."""
    def per_channel(c: Optional[np.ndarray], what: str) -> Optional[np.ndarray]:
        if c is None:
            return None
        c = to_float32(node, np.asarray(c), what)
        if c.size == 1 and c.ndim <= imp.rank(x):
            return c.reshape(1)
        v = bias_vector(c, imp.rank(x), x.shape[0]) if len(x.shape) in (1, 3) else None
        if v is None:
            raise unsupported(node, f"{what} of shape {c.shape} on (batch, {', '.join(map(str, x.shape))}): only "
                                    "one value, or one per channel of (batch, C) or (batch, C, H, W), is supported")
        return v

    sc, sh = per_channel(scale, "the constant factor"), per_channel(shift, "the constant term")
    if not all(v is None or np.all(np.isfinite(v)) for v in (sc, sh)):
        raise malformed(node, "the constant contains NaN or infinity")
    layer = imp.layer(node, lambda: L.ScaleShift(sc, sh, name=imp.name_for(node)))
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor])))


def _data_and_constant(imp: _Importer, node: Any) -> Optional[tuple[int, Data, np.ndarray]]:
    """(index of the data input, it, the other input as a constant) of a binary op whose
    constant folds into a ScaleShift; None when it does not (two computed tensors, or a
    constant of another shape): the op is then a broadcasting Binary layer."""
    if isinstance(imp.value(node, 0), Data) and isinstance(imp.value(node, 1), Data):
        return None
    i = 0 if isinstance(imp.value(node, 0), Data) else 1
    c = imp.const_float(node, 1 - i, "the constant operand")
    if c is None:
        raise malformed(node, f"input {1 - i} is required")
    x = imp.data(node, i)
    return (i, x, c) if channelwise(imp, x, c) else None


@op("Sub")
def _sub(imp: _Importer, node: Any, a: dict) -> None:
    found = _data_and_constant(imp, node)
    if found is None:
        imp.set(node.output[0], _binary(imp, node, "sub"))
        return
    i, x, c = found
    if i == 0:  # x - c
        scale_shift(imp, node, x, None, -c)
    else:  # c - x
        scale_shift(imp, node, x, -np.ones(1, np.float32), c)


@op("Div")
def _div(imp: _Importer, node: Any, a: dict) -> None:
    found = _data_and_constant(imp, node)
    if found is None or found[0] != 0:  # two tensors, an odd constant, or c / x
        imp.set(node.output[0], _binary(imp, node, "div"))
        return
    _, x, c = found
    # x * (1 / c): within an ulp of x / c, as ONNX runtimes that fold divisions compute it.
    scale_shift(imp, node, x, (np.float32(1) / to_float32(node, c, "the divisor")).astype(np.float32), None)


def mul_by_constant(imp: _Importer, node: Any) -> bool:
    """Mul of a computed tensor by a constant (a ScaleShift, or a Binary for a constant of
    another shape) or by another computed tensor (a Binary, or SiLU); False when an operand
    is neither (onnx_quant's symbolic values)."""
    u, v = imp.value(node, 0), imp.value(node, 1)
    if isinstance(u, Data) and isinstance(v, Data):
        from ..graph.ops.broadcast import import_mul

        import_mul(imp, node)
        return True
    if not (isinstance(u, Data) != isinstance(v, Data) and isinstance(u if isinstance(v, Data) else v, np.ndarray)):
        return False
    found = _data_and_constant(imp, node)
    if found is None:
        imp.set(node.output[0], _binary(imp, node, "mul"))
        return True
    i, x, c = found
    scale_shift(imp, node, x, c, None)
    return True


@op("Gemm", "alpha:f beta:f transA:i transB:i")
def _gemm(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    if flag(node, a, "transA"):
        raise unsupported(node, "transA=1 puts the batch on the second axis of A; only transA=0 is supported")
    trans_b = flag(node, a, "transB")
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise malformed(node, f"alpha and beta must be finite, got {alpha}, {beta}")
    bv = imp.value(node, 1)
    w, w8, ws = weights(node, bv, 0 if trans_b else 1, "B")
    if w.ndim != 2:
        raise malformed(node, f"B must be 2-D, got shape {w.shape}")
    if not trans_b:
        w, w8 = w.T, None if w8 is None else w8.T
    if alpha != 1.0:
        if w8 is not None and alpha <= 0:
            raise unsupported(node, f"alpha={alpha} with int8 weights: only a positive alpha is supported")
        w = (w * np.float32(alpha)).astype(np.float32)
        ws = None if ws is None else (ws * np.float32(alpha)).astype(np.float32)
    bias = gemm_bias(imp, node, imp.const_float(node, 2, "C"), w.shape[0], beta)
    q = quant_params(node, x.q if not x.integer else None, w8, ws)
    imp.set(node.output[0], dense(imp, node, x, w, bias, q))


def gemm_bias(imp: _Importer, node: Any, c: Optional[np.ndarray], n: int, beta: float) -> Optional[np.ndarray]:
    """beta * C as one value per output column, refusing a C that varies along the batch."""
    if c is None:
        return None
    if c.ndim == 2 and c.shape[0] != 1:
        if not np.all(c == c[:1]):
            raise unsupported(node, f"C of shape {c.shape} varies along the batch axis: only a per-column "
                                    "bias is supported")
        c = c[:1]
    b = bias_vector(c, 2, n)
    if b is None:
        raise malformed(node, f"C of shape {c.shape} does not broadcast to (batch, {n})")
    if beta == 0.0:
        return None
    return (b * np.float32(beta)).astype(np.float32) if beta != 1.0 else b


@op("MatMul")
def _matmul(imp: _Importer, node: Any, a: dict) -> None:
    if not isinstance(imp.value(node, 0), Data) and isinstance(imp.value(node, 1), Data):
        raise unsupported(node, "the data must be the first operand (constant second operand only)")
    x = imp.data(node, 0)
    w, w8, ws = weights(node, imp.value(node, 1), 1, "the second operand")
    if w.ndim != 2:
        raise unsupported(node, f"the constant operand has shape {w.shape}: only a 2-D matrix is supported")
    q = quant_params(node, x.q if not x.integer else None, None if w8 is None else w8.T, ws)
    imp.set(node.output[0], dense(imp, node, x, w.T, None, q))


@op("Conv", CONV_ATTRS)
def _conv(imp: _Importer, node: Any, a: dict) -> None:
    v = imp.value(node, 0)
    x, extra = (v.data, v.pads) if isinstance(v, Padded) else (imp.data(node, 0), (0, 0, 0, 0))
    w, w8, ws = weights(node, imp.value(node, 1), 0, "W")
    bias = imp.const_float(node, 2, "B")
    q = quant_params(node, x.q if not x.integer else None, w8, ws)
    imp.set(node.output[0], conv(imp, node, a, x, w, bias, q, extra_pads=extra))


@dataclass(eq=False)
class Padded:
    """A (batch, C, H, W) tensor zero-padded on its spatial axes by a Pad node: folded into the
    Conv that reads it (TF's asymmetric 'same' padding arrives this way from tf2onnx)."""

    data: Data
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    what: str = "a zero-padded tensor (Pad), which frugalnn folds into a following Conv only"


@op("Pad", "mode:s pads:ints value:f")
def _pad(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    rank = imp.rank(x)
    mode = a.get("mode", "constant")
    if imp.opset < 11:
        pads, value, axes = a.get("pads"), a.get("value", 0.0), None
    else:
        pads, value, axes = imp.const(node, 1), imp.const(node, 2), imp.const(node, 3)
    if mode != "constant":
        raise unsupported(node, f"mode={mode!r}: only constant (zero) padding is supported")
    if value is not None and np.any(np.asarray(value) != 0):
        raise unsupported(node, "a nonzero pad value: only zero padding (folded into a Conv) is supported")
    if pads is None:
        raise malformed(node, "pads are required")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank)) if axes is None else [imp.axis(node, int(i), rank) for i in np.asarray(axes).reshape(-1)]
    if len(pads) != 2 * len(axes) or len(set(axes)) != len(axes):
        raise malformed(node, f"{len(pads)} pads for axes {axes}")
    begin, end = dict(zip(axes, pads[:len(axes)])), dict(zip(axes, pads[len(axes):]))
    if any(p < 0 for p in pads):
        raise unsupported(node, f"negative pads {pads} (cropping)")
    if any(begin[i] or end[i] for i in axes if i not in (2, 3)) or (rank != 4 and any(pads)):
        raise unsupported(node, f"pads {pads}: only the spatial axes (2, 3) of (batch, C, H, W) may be padded")
    four = (begin.get(2, 0), begin.get(3, 0), end.get(2, 0), end.get(3, 0))
    if max(four) > MAX_DIM:
        raise malformed(node, f"pads {pads} are past 2^24")
    imp.set(node.output[0], x if four == (0, 0, 0, 0) else Padded(x, four))


def pool_geometry(imp: _Importer, node: Any, a: dict, x: Data) -> tuple[tuple[int, int], tuple[int, int],
                                                                      tuple[int, int]]:
    """(kernel, stride, symmetric padding) of a MaxPool / AveragePool node (ceil_mode is the
    layer's own flag)."""
    if len(x.shape) != 3:
        raise unsupported(node, f"only 2-D pooling (NCHW input) is supported, got rank {imp.rank(x)}")
    if "kernel_shape" not in a:
        raise malformed(node, "kernel_shape is required")
    kernel = pair_attr(node, a, "kernel_shape", 1)
    stride = pair_attr(node, a, "strides", 1)
    dilation = pair_attr(node, a, "dilations", 1)
    if dilation != (1, 1):
        raise unsupported(node, f"dilations {list(dilation)}: only 1 is supported")
    hw = x.shape[1:]
    t, left, b, r = explicit_pads(node, a, hw, kernel, stride, dilation)
    if t != b or left != r:
        raise unsupported(node, f"asymmetric padding (top, left, bottom, right) = {(t, left, b, r)}: only "
                                "symmetric pads are supported for pooling")
    if 2 * t > kernel[0] or 2 * left > kernel[1]:
        raise unsupported(node, f"padding {(t, left)} is more than half the {kernel} window")
    return kernel, stride, (t, left)


@op("MaxPool", "auto_pad:s ceil_mode:i dilations:ints kernel_shape:ints pads:ints storage_order:i strides:ints")
def _maxpool(imp: _Importer, node: Any, a: dict) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise unsupported(node, "the Indices output is not supported")
    x = imp.any_data(node, 0)
    kernel, stride, pad = pool_geometry(imp, node, a, x)
    layer = imp.layer(node, lambda: L.MaxPool2d(kernel, stride, pad, ceil_mode=flag(node, a, "ceil_mode"),
                                                name=imp.name_for(node)))
    # The max of quantized values is the quantized max: an 8-bit input keeps its parameters.
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor]), q=x.q, integer=x.integer, range=x.range))


@op("AveragePool", POOL_ATTRS + " dilations:ints")
def _avgpool(imp: _Importer, node: Any, a: dict) -> None:
    imp.set(node.output[0], avgpool(imp, node, a, imp.data(node, 0), imp.name_for(node)))


def avgpool(imp: _Importer, node: Any, a: dict, x: Data, name: str) -> Data:
    kernel, stride, pad = pool_geometry(imp, node, a, x)
    ceil = flag(node, a, "ceil_mode")
    layer = imp.layer(node, lambda: L.AvgPool2d(kernel, stride, pad, ceil_mode=ceil, name=name))
    if flag(node, a, "count_include_pad"):
        # Counting padding differs from frugalnn's real-value count only where a window
        # overlaps padding or (ceil mode) runs past the input.
        floor = L.AvgPool2d(kernel, stride, pad).output_size(*x.shape[1:])
        if pad != (0, 0) or (ceil and layer.output_size(*x.shape[1:]) != floor):
            raise unsupported(node, "count_include_pad=1 with padding or a partial ceil-mode window: only "
                                    "count_include_pad=0 is supported there")
    return Data(imp.emit(node, layer, [x.tensor]), range=x.range)


@op("GlobalAveragePool")
def _global_avgpool(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    if len(x.shape) != 3:
        raise unsupported(node, f"only 2-D pooling (NCHW input) is supported, got rank {imp.rank(x)}")
    q = input_quant(x)
    t = imp.emit(node, L.GlobalAvgPool(quant=q and q[0], name=imp.name_for(node, "pool")), [x.tensor])
    imp.set(node.output[0], imp.reshape(node, Data(t, range=x.range), (x.shape[0], 1, 1), imp.name_for(node)))


def input_quant(*xs: Data) -> Optional[tuple[QuantParams, ...]]:
    """The u8 parameters of inputs that all come from quantized tensors (dequantized in a QDQ
    model, or QOperator inputs): an Add / GlobalAvgPool then runs int8 on them."""
    if not all(x.q is not None for x in xs):
        return None
    return tuple(QuantParams(x.q.scale, x.q.zero_point) for x in xs)  # type: ignore[union-attr]


@op("BatchNormalization", "epsilon:f momentum:f spatial:i training_mode:i")
def _batchnorm(imp: _Importer, node: Any, a: dict) -> None:
    if flag(node, a, "training_mode") or any(o for o in node.output[1:]):
        raise unsupported(node, "training mode (batch statistics, running-mean outputs): only inference")
    if not flag(node, a, "spatial", True):
        raise unsupported(node, "spatial=0 (per-activation statistics) is not supported")
    x = imp.data(node, 0)
    if len(x.shape) not in (1, 3):
        raise unsupported(node, f"input of rank {imp.rank(x)}: only (batch, C) and (batch, C, H, W) are supported")
    params = [imp.const_float(node, i, n) for i, n in ((1, "scale"), (2, "B"), (3, "mean"), (4, "var"))]
    if any(p is None for p in params):
        raise malformed(node, "scale, B, mean and var are required constants")
    eps = float(a.get("epsilon", 1e-5))
    if not eps > 0:
        raise unsupported(node, f"epsilon={eps}: only a positive epsilon is supported")
    gamma, beta, mean, var = (np.ascontiguousarray(p.reshape(-1)) for p in params)  # type: ignore[union-attr]
    layer = imp.layer(node, lambda: L.BatchNorm(gamma, beta, mean, var, eps, name=imp.name_for(node)))
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor])))


@op("Cast", "to:i saturate:i round_mode:s")
def _cast(imp: _Importer, node: Any, a: dict) -> None:
    v = imp.value(node, 0)
    if getattr(v, "on_cast", None) is not None:  # a symbolic value of onnx_quant
        imp.set(node.output[0], v.on_cast(node, a))
        return
    x = imp.data(node, 0)
    if int(a.get("to", 0)) != imp.onnx.TensorProto.FLOAT:
        raise unsupported(node, "casting a computed tensor to another type than float32")
    imp.set(node.output[0], x)


# ---------------------------------------------------------------------------------------
# Shapes: Shape gives a constant (the per-sample shape is static; the batch is known when
# the model fixes it), so the Gather / Unsqueeze / Concat arithmetic exporters build on it
# folds at import. Squeeze / Unsqueeze of data are reshapes.


@op("Shape", "start:i end:i")
def _shape(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.any_data(node, 0)
    full = [imp.batch] + list(x.shape)
    rank = len(full)
    start, end = int(a.get("start", 0)), int(a.get("end", rank))
    lo, hi, _ = slice(start, end).indices(rank)
    # A dynamic batch folds as a sentinel: moved around (Gather, Slice, Concat, Cast) it
    # reaches a Reshape, which reads it as "the batch"; any arithmetic on it gives a value no
    # Reshape accepts (it is past the 2^24 cap on every other dimension).
    full[0] = BATCH_SENTINEL if imp.batch is None else imp.batch
    imp.set(node.output[0], np.array(full[lo:hi], np.int64))


def _axes(imp: _Importer, node: Any, a: dict, rank: int) -> Optional[list[int]]:
    """The axes of a Squeeze / Unsqueeze (an attribute before opset 13, an input since)."""
    v = a.get("axes") if imp.opset < 13 else imp.const(node, 1)
    if v is None:
        return None
    axes = [int(i) for i in np.asarray(v).reshape(-1)]
    if len(axes) > MAX_RANK:
        raise malformed(node, f"{len(axes)} axes")
    out = [imp.axis(node, i, rank) for i in axes]
    if len(set(out)) != len(out):
        raise malformed(node, f"axes {axes} repeat an axis")
    if 0 in out:
        raise unsupported(node, "squeezing or unsqueezing the batch axis: only the other axes")
    return out


@op("Squeeze", "axes:ints")
def _squeeze(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.any_data(node, 0)
    axes = _axes(imp, node, a, imp.rank(x))
    if axes is None:
        axes = [i + 1 for i, d in enumerate(x.shape) if d == 1]
    if any(x.shape[i - 1] != 1 for i in axes):
        raise malformed(node, f"axes {axes} of shape (batch, {x.shape}) are not all 1")
    shape = tuple(d for i, d in enumerate(x.shape, start=1) if i not in axes)
    if not shape:
        raise unsupported(node, "squeezing every axis but the batch leaves no per-sample dimension")
    imp.set(node.output[0], imp.reshape(node, x, shape, imp.name_for(node)))


@op("Unsqueeze", "axes:ints")
def _unsqueeze(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.any_data(node, 0)
    v = a.get("axes") if imp.opset < 13 else imp.const(node, 1)
    if v is None:
        raise malformed(node, "axes are required")
    rank = imp.rank(x) + np.asarray(v).size
    axes = _axes(imp, node, a, rank) or []
    rest = iter(x.shape)
    shape = tuple(1 if i in axes else next(rest) for i in range(1, rank))
    imp.set(node.output[0], imp.reshape(node, x, shape, imp.name_for(node)))


# ---------------------------------------------------------------------------------------
# Reductions over the spatial axes of (batch, C, H, W): what exporters write for global
# pooling (torch's default exporter: ReduceMean over (2, 3) for adaptive_avg_pool2d(1)).


def _reduce(imp: _Importer, node: Any, a: dict, kind: str) -> None:
    x = imp.data(node, 0)
    rank = imp.rank(x)
    uses_input = imp.opset >= (13 if kind == "sum" else 18)
    v = imp.const(node, 1) if uses_input else a.get("axes")
    if v is None or np.asarray(v).size == 0:
        if flag(node, a, "noop_with_empty_axes"):
            imp.alias(node, x)
            return
        axes = list(range(rank))
    else:
        axes = sorted({imp.axis(node, int(i), rank) for i in np.asarray(v).reshape(-1)})
    keep = flag(node, a, "keepdims", True)
    if rank != 4 or axes != [2, 3]:
        raise unsupported(node, f"Reduce over axes {axes} of a rank-{rank} tensor: only over the spatial axes "
                                "(2, 3) of (batch, C, H, W) is supported")
    c, h, w = x.shape
    if kind == "max":
        t = imp.emit(node, L.MaxPool2d((h, w), name=imp.name_for(node, "pool")), [x.tensor])
        y = Data(t, range=x.range)
        imp.set(node.output[0], y if keep else imp.reshape(node, y, (c,), imp.name_for(node)))
        return
    name = imp.name_for(node, "pool" if keep or kind == "sum" else None)
    pooled = Data(imp.emit(node, L.GlobalAvgPool(name=name), [x.tensor]), range=x.range)
    if kind == "sum":
        s_name = imp.name_for(node, "scale") if keep else imp.name_for(node)
        layer = L.ScaleShift(np.array([h * w], np.float32), None, name=s_name)
        pooled = Data(imp.emit(node, layer, [pooled.tensor]))
    imp.set(node.output[0], imp.reshape(node, pooled, (c, 1, 1), imp.name_for(node)) if keep else pooled)


@op("ReduceMean", "axes:ints keepdims:i noop_with_empty_axes:i")
def _reduce_mean(imp: _Importer, node: Any, a: dict) -> None:
    _reduce(imp, node, a, "mean")


@op("ReduceMax", "axes:ints keepdims:i noop_with_empty_axes:i")
def _reduce_max(imp: _Importer, node: Any, a: dict) -> None:
    _reduce(imp, node, a, "max")


@op("ReduceSum", "axes:ints keepdims:i noop_with_empty_axes:i")
def _reduce_sum(imp: _Importer, node: Any, a: dict) -> None:
    _reduce(imp, node, a, "sum")
