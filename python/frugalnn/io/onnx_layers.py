"""Conv / pool geometry and Dense / Conv2d construction shared by the float and the
quantized ONNX op handlers."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from ..graph import layers as L
from ..graph.layers import GraphError, QuantParams
from ..graph.limits import MAX_DIM
from .onnx_values import Data, QConst, QInfo, Value, malformed, to_float32, unsupported

if TYPE_CHECKING:
    from .onnx_import import _Importer

CONV_ATTRS = "auto_pad:s dilations:ints group:i kernel_shape:ints pads:ints strides:ints"
POOL_ATTRS = "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:ints pads:ints strides:ints"

# ---------------------------------------------------------------------------------------
# Shared geometry and weighted-layer construction (also used by onnx_quant)


def explicit_pads(node: Any, a: dict, hw: tuple[int, int], kernel: tuple[int, int],
                  stride: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from ``pads`` / ``auto_pad``."""
    mode = a.get("auto_pad", "NOTSET")
    if mode == "NOTSET":
        pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
        if len(pads) != 4:
            raise malformed(node, f"pads must have 4 values for a 2-D window, got {pads}")
        if min(pads) < 0:
            raise unsupported(node, f"negative pads {pads}")
        if max(pads) > MAX_DIM:
            raise malformed(node, f"pads {pads} are past 2^24")
        return pads[0], pads[1], pads[2], pads[3]
    if mode == "VALID":
        return 0, 0, 0, 0
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise malformed(node, f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got {mode!r}")
    pads = same_pads(hw, kernel, stride, dilation, mode == "SAME_UPPER")
    if pads is None:
        # onnxruntime crops (negative pads) where onnx's reference pads nothing: refuse.
        raise unsupported(node, f"auto_pad={mode} with strides {list(stride)} larger than the window needs "
                                "negative padding, on which runtimes disagree")
    return pads


def same_pads(hw: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
              upper: bool) -> Optional[tuple[int, int, int, int]]:
    """(top, left, bottom, right) giving ceil(input / stride) outputs, the odd one at the end
    (SAME_UPPER) or the start; None when that would need negative padding."""
    begin, end = [], []
    for size, k, s, d in zip(hw, kernel, stride, dilation):
        total = (-(-size // s) - 1) * s + (k - 1) * d + 1 - size  # integers: exact at any size
        if total < 0:
            return None
        small, large = total // 2, total - total // 2
        begin.append(small if upper else large)
        end.append(large if upper else small)
    return begin[0], begin[1], end[0], end[1]


def pair_attr(node: Any, a: dict, name: str, default: int) -> tuple[int, int]:
    v = [int(x) for x in a.get(name, [default, default])]
    if len(v) != 2:
        raise malformed(node, f"{name} must have 2 values for a 2-D window, got {v}")
    if min(v) < 1 or max(v) > MAX_DIM:
        raise malformed(node, f"{name} must be in [1, 2^24], got {v}")
    return v[0], v[1]


def conv_geometry(node: Any, a: dict, in_shape: tuple[int, ...], wshape: tuple[int, ...],
                  extra_pads: tuple[int, int, int, int] = (0, 0, 0, 0)) -> dict:
    """Conv2d keyword arguments (stride, padding, dilation, groups) for a Conv-like node whose
    input was zero-padded by ``extra_pads`` (top, left, bottom, right) before it (a Pad folded
    in: ``in_shape`` is the unpadded input's)."""
    if len(in_shape) != 3 or len(wshape) != 4:
        raise unsupported(node, f"only 2-D convolutions (NCHW input, OIHW weights) are supported, got input "
                                f"rank {len(in_shape) + 1} and weight rank {len(wshape)}")
    kernel = (int(wshape[2]), int(wshape[3]))
    if "kernel_shape" in a and tuple(int(k) for k in a["kernel_shape"]) != kernel:
        raise malformed(node, f"kernel_shape {list(a['kernel_shape'])} disagrees with the weights' {kernel}")
    stride = pair_attr(node, a, "strides", 1)
    dilation = pair_attr(node, a, "dilations", 1)
    groups = int(a.get("group", 1))
    if not 1 <= groups <= MAX_DIM:
        raise malformed(node, f"group must be in [1, 2^24], got {groups}")
    padded = (in_shape[1] + extra_pads[0] + extra_pads[2], in_shape[2] + extra_pads[1] + extra_pads[3])
    pads = tuple(p + e for p, e in zip(explicit_pads(node, a, padded, kernel, stride, dilation), extra_pads))
    if max(pads) > MAX_DIM:
        raise malformed(node, f"pads {list(pads)} are past 2^24")
    padding: Union[str, tuple[int, ...]] = pads
    if extra_pads == (0, 0, 0, 0) and pads == same_pads(in_shape[1:], kernel, stride, dilation, upper=True):
        padding = "same"
    return dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def quant_params(node: Any, q_in: Optional[QInfo], w8: Optional[np.ndarray],
                 ws: Optional[np.ndarray]) -> Optional[QuantParams]:
    if q_in is None and w8 is None:
        return None
    try:
        return QuantParams(None if q_in is None else q_in.scale, None if q_in is None else q_in.zero_point,
                           w8, ws)
    except GraphError as e:
        raise malformed(node, str(e)) from e


def weights(node: Any, v: Value, out_axis: int, what: str) -> tuple[np.ndarray, Optional[np.ndarray],
                                                                    Optional[np.ndarray]]:
    """(float32 weights, int8 weights or None, scales or None) of a constant weight input,
    in the model's layout; int8 when it comes from DequantizeLinear."""
    if isinstance(v, QConst):
        try:
            w8, ws = v.symmetric_int8(out_axis)
        except NotImplementedError as e:
            raise unsupported(node, f"{what}: {e}") from e
        if not (np.all(np.isfinite(ws)) and np.all(ws > 0)):
            raise malformed(node, f"{what}: scales must be positive and finite")
        shape = [1] * w8.ndim
        if ws.size > 1:
            shape[out_axis] = ws.size
        return (w8.astype(np.float32) * ws.reshape(shape)).astype(np.float32), w8, ws
    if isinstance(v, np.ndarray):
        return to_float32(node, v, what), None, None
    if v is None:
        raise malformed(node, f"{what} is required")
    raise unsupported(node, f"{what} must be a constant (an initializer, or DequantizeLinear of one)")


def dense(imp: _Importer, node: Any, x: Data, w: np.ndarray, bias: Optional[np.ndarray],
          quant: Optional[QuantParams], name: Optional[str] = None) -> Data:
    """A Dense layer on ``x`` (weights out x in); the result may take a bias Add later."""
    if len(x.shape) != 1:
        raise unsupported(node, f"the data operand has shape (batch, {', '.join(map(str, x.shape))}): only 2-D "
                                "(batch x features) products map to a Dense layer")
    layer = imp.layer(node, lambda: L.Dense(np.ascontiguousarray(w), bias, quant=quant,
                                            name=name or imp.name_for(node)))
    return Data(imp.emit(node, layer, [x.tensor]), layer=layer)


def conv(imp: _Importer, node: Any, a: dict, x: Data, w: np.ndarray, bias: Optional[np.ndarray],
         quant: Optional[QuantParams], name: Optional[str] = None,
         extra_pads: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Data:
    geo = conv_geometry(node, a, x.shape, w.shape, extra_pads)
    layer = imp.layer(node, lambda: L.Conv2d(np.ascontiguousarray(w), bias, quant=quant,
                                             name=name or imp.name_for(node), **geo))
    return Data(imp.emit(node, layer, [x.tensor]), layer=layer)


def bias_vector(c: np.ndarray, rank: int, channels: int) -> Optional[np.ndarray]:
    """A constant that broadcasts onto a (batch, channels, ...) tensor of ``rank`` as one value
    per channel, as a float32 vector; None when it varies along another axis."""
    if c.ndim > rank:
        return None
    full = c.reshape((1,) * (rank - c.ndim) + c.shape)
    if full.shape[0] != 1 or any(s != 1 for s in full.shape[2:]) or full.shape[1] not in (1, channels):
        return None
    return np.ascontiguousarray(np.broadcast_to(full.reshape(-1), (channels,)), dtype=np.float32)
