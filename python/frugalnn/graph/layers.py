"""Layers of a frugalnn graph: parameters, checks and per-sample shape inference.

Shapes at the API are NCHW as in ONNX and PyTorch, without the batch dimension: a layer's
``infer`` takes the per-sample input shapes and returns the per-sample output shape, raising
``GraphError`` that names the layer and the mismatch. Weights are float32 numpy arrays in
PyTorch's layouts (Dense: out x in; Conv2d: out x in/groups x kh x kw).

Every integer that sizes a layer is range-checked where it enters, with Python integers:
kernel sizes, strides, dilations, pads, groups and shape sizes in [1, 2^24] (pads from 0),
at most 2^40 values per sample, at most 32 axes (``limits.py``). These are the caps the
native program check applies, so a graph that builds always passes it.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Optional, Sequence, Union

import numpy as np

from .limits import MAX_DIM, MAX_RANK, check_int, check_shape, is_int

Shape = tuple[int, ...]
Pair = Union[int, tuple[int, int]]


class GraphError(ValueError):
    """A graph that cannot be built or compiled: the message names the layer."""


def _pair(name: str, v: Pair, layer: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each in [minimum, 2^24] (the native program's cap)."""
    t = (v, v) if is_int(v) else tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(t) != 2 or not all(is_int(a) and minimum <= a <= MAX_DIM for a in t):
        raise GraphError(f"{layer}: {name} must be an int in [{minimum}, 2^24] or a pair of them, got {v!r}")
    return (int(t[0]), int(t[1]))


def _weights(layer: str, name: str, a: object, ndim: int) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise GraphError(f"{layer}: {name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise GraphError(f"{layer}: {name} must be float32, got {a.dtype} (no implicit casts)")
    if a.ndim != ndim:
        raise GraphError(f"{layer}: {name} must be {ndim}-D, got shape {a.shape}")
    check_shape(layer, a.shape, f"{name} shape")  # no empty axis, none past 2^24
    if not np.all(np.isfinite(a)):
        raise GraphError(f"{layer}: {name} contains NaN or infinity")
    return np.ascontiguousarray(a)


class QuantParams:
    """int8 parameters a Dense / Conv2d brings from an already quantized model (an ONNX QDQ
    or QLinear graph): compiled as int8, the layer uses them instead of calibrating.

    input_scale, input_zero_point: the u8 quantization of the layer's input
        (real = scale * (q - zero_point)); None when only the weights are given (a model
        quantized dynamically): the input is then calibrated like any int8 layer's.
    weight, weight_scale: optionally the weights as int8 (the float weight's shape,
        symmetric: zero point 0) with one scale per output channel or one for the tensor;
        without them the float weights are quantized per output channel.
    """

    def __init__(self, input_scale: Optional[float], input_zero_point: Optional[int],
                 weight: Optional[np.ndarray] = None, weight_scale: Optional[np.ndarray] = None) -> None:
        if (input_scale is None) != (input_zero_point is None):
            raise GraphError("QuantParams: give input_scale and input_zero_point together")
        if input_scale is not None:
            scale = float(input_scale)
            if not (math.isfinite(scale) and scale > 0):
                raise GraphError(f"QuantParams: input_scale must be positive and finite, got {input_scale!r}")
            if not isinstance(input_zero_point, (int, np.integer)) or not 0 <= input_zero_point <= 255:
                raise GraphError(f"QuantParams: input_zero_point must be an int in [0, 255], got {input_zero_point!r}")
        if (weight is None) != (weight_scale is None):
            raise GraphError("QuantParams: give weight and weight_scale together")
        if input_scale is None and weight is None:
            raise GraphError("QuantParams: give the input's parameters, the int8 weights, or both")
        if weight is not None:
            if not isinstance(weight, np.ndarray) or weight.dtype != np.int8:
                raise GraphError("QuantParams: weight must be an int8 numpy array")
            ws = np.asarray(weight_scale)
            if ws.dtype != np.float32 or ws.ndim > 1 or ws.size not in (1, weight.shape[0]):
                raise GraphError(f"QuantParams: weight_scale must be float32 with 1 or {weight.shape[0]} "
                                 f"(output channels) values, got {ws.dtype} {ws.shape}")
            if not (np.all(np.isfinite(ws)) and np.all(ws > 0)):
                raise GraphError("QuantParams: weight_scale must be positive and finite")
            weight, weight_scale = np.ascontiguousarray(weight), np.ascontiguousarray(ws.reshape(-1))
        self.input_scale = None if input_scale is None else float(np.float32(input_scale))
        self.input_zero_point = None if input_zero_point is None else int(input_zero_point)
        self.weight = weight
        self.weight_scale = weight_scale

    def __repr__(self) -> str:
        a = "calibrated" if self.input_scale is None else f"{self.input_scale:g} / {self.input_zero_point}"
        w = "" if self.weight is None else f", int8 weight {self.weight.shape}"
        return f"QuantParams(input {a}{w})"


def _quant(layer: str, q: Optional[QuantParams], weight: np.ndarray) -> Optional[QuantParams]:
    if q is None:
        return None
    if not isinstance(q, QuantParams):
        raise GraphError(f"{layer}: quant must be a QuantParams, got {type(q).__name__}")
    if q.weight is not None and q.weight.shape != weight.shape:
        raise GraphError(f"{layer}: quant.weight has shape {q.weight.shape}, the weight {weight.shape}")
    return q


def _input_quant(layer: str, q: Any) -> QuantParams:
    """The u8 parameters an int8 element-wise layer reads one input with."""
    if not isinstance(q, QuantParams) or q.input_scale is None or q.weight is not None:
        raise GraphError(f"{layer}: quant takes QuantParams(input_scale, input_zero_point) per input "
                         f"(no weights), got {q!r}")
    return q


class Layer:
    """Base class: a named operation with fixed parameters."""

    op = ""
    arity = 1  # inputs it takes; -1 for any number >= 2
    _counter = 0

    def __init__(self, name: Optional[str] = None) -> None:
        if name is None:
            Layer._counter += 1
            name = f"{self.op}_{Layer._counter}"
        self.name = name

    def infer(self, shapes: Sequence[Shape]) -> Shape:
        raise NotImplementedError

    def __call__(self, *inputs):
        from .graph import Tensor

        if not inputs or not all(isinstance(t, Tensor) for t in inputs):
            raise GraphError(f"{self.name}: call the layer on graph tensors (Graph.input(...) or a layer's output)")
        return inputs[0].graph._add(self, list(inputs))

    def _label(self) -> str:
        return f"{type(self).__name__} '{self.name}'"

    def _need_rank(self, shape: Shape, ranks: Sequence[int]) -> None:
        if len(shape) not in ranks:
            want = " or ".join(f"{r}-D" for r in ranks)
            raise GraphError(f"{self._label()}: expects a {want} input per sample, got shape {shape}")


class Dense(Layer):
    """``y = x @ weight.T + bias`` with weight (out_features x in_features); ``quant``: int8
    parameters from an already quantized model (see QuantParams)."""

    op = "dense"

    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray] = None, *,
                 activation: Optional[str] = None, quant: Optional[QuantParams] = None,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        self.weight = _weights(self._label(), "weight", weight, 2)
        self.quant = _quant(self._label(), quant, self.weight)
        self.precision: Optional[str] = None  # compile's default for this layer (compress sets it)
        self.codebook: Optional[Any] = None  # compress.codebook's Codebook (precision "codebook")
        self.bias = None if bias is None else _weights(self._label(), "bias", bias, 1)
        if self.bias is not None and self.bias.shape[0] != self.weight.shape[0]:
            raise GraphError(f"{self._label()}: bias has {self.bias.shape[0]} values, weight has "
                             f"{self.weight.shape[0]} outputs")
        self.activation = _activation(self._label(), activation)

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (1,))
        if s[0] != self.weight.shape[1]:
            raise GraphError(f"{self._label()}: input has {s[0]} features, weight expects {self.weight.shape[1]}")
        return (self.weight.shape[0],)


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as PyTorch and ONNX): weight (out x in/groups x kh x kw).

    ``padding``: int, (ph, pw), (top, left, bottom, right), ``"valid"`` (0) or ``"same"``
    (output = ceil(input / stride); an odd total puts the extra row / column at the bottom /
    right, ONNX SAME_UPPER).
    """

    op = "conv2d"

    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray] = None, *, stride: Pair = 1,
                 padding: Union[Pair, str] = 0, dilation: Pair = 1, groups: int = 1,
                 activation: Optional[str] = None, quant: Optional[QuantParams] = None,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        self.weight = _weights(lab, "weight", weight, 4)
        self.quant = _quant(lab, quant, self.weight)
        self.precision: Optional[str] = None  # compile's default for this layer (compress sets it)
        self.codebook: Optional[Any] = None  # compress.codebook's Codebook (precision "codebook")
        self.bias = None if bias is None else _weights(lab, "bias", bias, 1)
        o = self.weight.shape[0]
        if self.bias is not None and self.bias.shape[0] != o:
            raise GraphError(f"{lab}: bias has {self.bias.shape[0]} values, weight has {o} output channels")
        self.stride = _pair("stride", stride, lab, 1)
        self.dilation = _pair("dilation", dilation, lab, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise GraphError(f"{lab}: padding must be 'same', 'valid', an int or a pair, got {padding!r}")
            self.padding: Union[str, tuple[int, int]] = padding if padding == "same" else (0, 0)
        elif isinstance(padding, (tuple, list)) and len(padding) == 4:
            four = tuple(check_int(lab, "padding", p, 0) for p in padding)
            self.padding = four[:2] if four[:2] == four[2:] else four  # type: ignore[assignment]
        else:
            self.padding = _pair("padding", padding, lab, 0)
        groups = check_int(lab, "groups", groups, 1)
        if o % groups:
            raise GraphError(f"{lab}: groups must divide the {o} output channels, got {groups!r}")
        self.groups = groups
        self.activation = _activation(lab, activation)

    def pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) for an h x w input."""
        if self.padding == "same":
            out = []
            for size, s, d, k in ((h, self.stride[0], self.dilation[0], self.weight.shape[2]),
                                  (w, self.stride[1], self.dilation[1], self.weight.shape[3])):
                total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)  # integer ceil
                out.append((total // 2, total - total // 2))
            return (out[0][0], out[1][0], out[0][1], out[1][1])
        if len(self.padding) == 4:
            return tuple(self.padding)  # type: ignore[return-value]
        ph, pw = self.padding  # type: ignore[misc]
        return (ph, pw, ph, pw)

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (3,))
        c, h, w = s
        o, cg, kh, kw = self.weight.shape
        if c != cg * self.groups:
            raise GraphError(f"{self._label()}: input has {c} channels, weight expects {cg} x groups "
                             f"{self.groups} = {cg * self.groups}")
        pads = self.pads(h, w)
        if max(pads) > MAX_DIM:  # "same" on a large dilation: the native program caps pads too
            raise GraphError(f"{self._label()}: padding {pads} (top, left, bottom, right) is past 2^24")
        t, l, b, r = pads
        # Python ints: no overflow, whatever the (already capped) geometry.
        oh = (h + t + b - (kh - 1) * self.dilation[0] - 1) // self.stride[0] + 1
        ow = (w + l + r - (kw - 1) * self.dilation[1] - 1) // self.stride[1] + 1
        if oh < 1 or ow < 1:
            raise GraphError(f"{self._label()}: a {kh}x{kw} kernel (dilation {self.dilation}) does not fit the "
                             f"padded {h}x{w} input")
        return (o, oh, ow)


class _Pool2d(Layer):
    """``ceil_mode``: the output size rounds up, adding a last window that runs past the input
    (clipped, as padding is); a window that would start in the padding is dropped (ONNX's and
    torch's rule)."""

    def __init__(self, kernel: Pair, stride: Optional[Pair] = None, padding: Pair = 0, *,
                 ceil_mode: bool = False, name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        self.kernel = _pair("kernel", kernel, lab, 1)
        self.stride = self.kernel if stride is None else _pair("stride", stride, lab, 1)
        self.padding = _pair("padding", padding, lab, 0)
        self.ceil_mode = bool(ceil_mode)
        if self.padding[0] * 2 > self.kernel[0] or self.padding[1] * 2 > self.kernel[1]:
            raise GraphError(f"{lab}: padding {self.padding} must be at most half the kernel {self.kernel}")

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """(oh, ow) for an h x w input (either may be < 1: the window does not fit)."""
        out = []
        for size, k, s, p in zip((h, w), self.kernel, self.stride, self.padding):
            span = size + 2 * p - k
            o = (-(-span // s) if self.ceil_mode else span // s) + 1
            if self.ceil_mode and span >= 0 and (o - 1) * s >= size + p:
                o -= 1
            out.append(o)
        return out[0], out[1]

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (3,))
        c, h, w = s
        oh, ow = self.output_size(h, w)
        if oh < 1 or ow < 1:
            raise GraphError(f"{self._label()}: a {self.kernel} window does not fit the {h}x{w} input")
        return (c, oh, ow)


class MaxPool2d(_Pool2d):
    """Max over windows (padding never wins: it counts as -inf)."""

    op = "maxpool2d"


class AvgPool2d(_Pool2d):
    """Mean over windows; padded positions are not counted (ONNX count_include_pad=0)."""

    op = "avgpool2d"


class GlobalAvgPool(Layer):
    """Mean over H and W: (C, H, W) -> (C,).

    ``quant``: QuantParams(input_scale, input_zero_point) of a quantized model (ONNX
    QLinearGlobalAveragePool, or DequantizeLinear -> GlobalAveragePool): compiled as int8,
    the pool reads the u8 input and writes u8 when its readers take it."""

    op = "global_avgpool"

    def __init__(self, *, quant: Optional[QuantParams] = None, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.quant = None if quant is None else _input_quant(self._label(), quant)

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (3,))
        return (s[0],)


class _Elementwise(Layer):
    def infer(self, shapes):
        (s,) = shapes
        return tuple(s)


class ReLU(_Elementwise):
    op = "relu"


class Clip(_Elementwise):
    """``min(max(x, lo), hi)``; ReLU6 is Clip(0, 6)."""

    op = "clip"

    def __init__(self, lo: float = -math.inf, hi: float = math.inf, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        if not (lo <= hi):
            raise GraphError(f"{self._label()}: need lo <= hi, got {lo}, {hi}")
        self.lo, self.hi = float(lo), float(hi)


def ReLU6(*, name: Optional[str] = None) -> Clip:
    return Clip(0.0, 6.0, name=name)


class Softmax(Layer):
    """Softmax over one per-sample axis (the last by default). compile runs it where that
    axis is the innermost one in storage: the last axis of a tensor stored row-major, or the
    channels (axis 0) of a (C, H, W) map, which the runtime stores channels-last."""

    op = "softmax"

    def __init__(self, axis: int = -1, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        if not is_int(axis) or not -MAX_RANK <= axis < MAX_RANK:
            raise GraphError(f"{self._label()}: axis must be an integer in [-{MAX_RANK}, {MAX_RANK}), got {axis!r}")
        self.axis = int(axis)

    def infer(self, shapes):
        (s,) = shapes
        if not -len(s) <= self.axis < len(s):
            raise GraphError(f"{self._label()}: axis {self.axis} of a rank-{len(s)} sample")
        return tuple(s)

    def axis_of(self, shape: Shape) -> int:
        """The axis, counted from 0, for a sample of ``shape``."""
        return self.axis % len(shape)


class Flatten(Layer):
    """(C, H, W) -> (C*H*W,) in NCHW order, as torch.flatten(x, 1)."""

    op = "flatten"

    def infer(self, shapes):
        (s,) = shapes
        return (math.prod(s),)


class Reshape(Layer):
    """Per-sample reshape (one -1 allowed)."""

    op = "reshape"

    def __init__(self, shape: Sequence[int], *, name: Optional[str] = None) -> None:
        super().__init__(name)
        shape = tuple(shape)
        if len(shape) > MAX_RANK:
            raise GraphError(f"{self._label()}: the target shape has {len(shape)} axes, more than {MAX_RANK}")
        if (not shape or not all(is_int(v) and (v == -1 or 1 <= v <= MAX_DIM) for v in shape)
                or sum(v == -1 for v in shape) > 1):
            raise GraphError(f"{self._label()}: bad target shape {shape}: sizes in [1, 2^24], at most one -1")
        self.shape = tuple(int(v) for v in shape)

    def infer(self, shapes):
        (s,) = shapes
        n = math.prod(s)
        known = math.prod(v for v in self.shape if v != -1)
        out = tuple(n // known if v == -1 else v for v in self.shape)
        if math.prod(out) != n:
            raise GraphError(f"{self._label()}: cannot reshape {s} ({n} values) to {self.shape}")
        return out


class Add(Layer):
    """Elementwise sum of two tensors of the same shape.

    ``quant``: a QuantParams(input_scale, input_zero_point) per input, from a quantized model
    (ONNX QLinearAdd, or DequantizeLinear on both inputs): compiled as int8, the add reads u8
    inputs and writes u8 when its readers take it (a residual block then stays u8)."""

    op = "add"
    arity = 2

    def __init__(self, *, activation: Optional[str] = None,
                 quant: Optional[Sequence[QuantParams]] = None, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.activation = _activation(self._label(), activation)
        if quant is not None:
            quant = tuple(quant)
            if len(quant) != 2:
                raise GraphError(f"{self._label()}: quant needs one QuantParams per input (2), got {len(quant)}")
            quant = tuple(_input_quant(self._label(), q) for q in quant)
        self.quant = quant

    def infer(self, shapes):
        if len(shapes) != 2 or tuple(shapes[0]) != tuple(shapes[1]):
            raise GraphError(f"{self._label()}: needs two inputs of the same shape, got {list(shapes)}")
        return tuple(shapes[0])


class Concat(Layer):
    """Concatenation along a per-sample axis (``axis=0``, the channels, by default; negative
    counts from the end). The other axes must agree."""

    op = "concat"
    arity = -1

    def __init__(self, axis: int = 0, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        self.axis = check_int(self._label(), "axis", axis, -MAX_DIM)

    def infer(self, shapes):
        if len(shapes) < 2:
            raise GraphError(f"{self._label()}: needs at least two inputs")
        if len({len(s) for s in shapes}) != 1:
            raise GraphError(f"{self._label()}: inputs differ in rank: {list(shapes)}")
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise GraphError(f"{self._label()}: axis {self.axis} is out of range for per-sample rank {rank}")
        a = self.axis % rank
        rest = {tuple(s[:a]) + tuple(s[a + 1:]) for s in shapes}
        if len(rest) != 1:
            raise GraphError(f"{self._label()}: inputs differ beyond axis {a}: {list(shapes)}")
        out = list(shapes[0])
        out[a] = sum(s[a] for s in shapes)
        return tuple(out)


class BatchNorm(Layer):
    """Inference batch normalization over channels; folded into the preceding conv / dense
    at compile time when it follows one, else run as a per-channel scale and shift."""

    op = "batchnorm"

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                 eps: float = 1e-5, *, name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        self.gamma, self.beta, self.mean, self.var = (
            _weights(lab, n, a, 1) for n, a in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var)))
        if len({a.shape[0] for a in (self.gamma, self.beta, self.mean, self.var)}) != 1:
            raise GraphError(f"{lab}: gamma, beta, mean and var must have the same length")
        if np.any(self.var < 0) or not eps > 0:
            raise GraphError(f"{lab}: var must be >= 0 and eps > 0")
        self.eps = float(eps)
        if not all(np.all(np.isfinite(a)) for a in self.scale_shift()):
            raise GraphError(f"{lab}: gamma / sqrt(var + eps) or beta - mean * scale overflows float32")

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, refused by __init__
            scale = (self.gamma / np.sqrt(self.var.astype(np.float64) + self.eps)).astype(np.float32)
            return scale, (self.beta - self.mean * scale).astype(np.float32)

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (1, 3))
        if s[0] != self.gamma.shape[0]:
            raise GraphError(f"{self._label()}: input has {s[0]} channels, parameters have {self.gamma.shape[0]}")
        return tuple(s)


class ScaleShift(Layer):
    """y = x * scale + shift: one scale / shift per channel (per-sample axis 0 of a (C,) or
    (C, H, W) tensor) or one for every value (length 1, any shape). Constant Mul / Add / Sub /
    Div of imported models (input normalization, rescaling) become these; compile folds one
    into the Conv2d / Dense before it, like a BatchNorm."""

    op = "scale_shift"

    def __init__(self, scale: Optional[np.ndarray] = None, shift: Optional[np.ndarray] = None, *,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        one = np.ones(1, np.float32)
        self.scale = one if scale is None else _weights(lab, "scale", np.atleast_1d(scale), 1)
        self.shift = 0 * one if shift is None else _weights(lab, "shift", np.atleast_1d(shift), 1)
        self.channels = 1

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """(scale, shift), each with one value per channel (or one value)."""
        c = self.channels
        return (np.ascontiguousarray(np.broadcast_to(self.scale, (c,)), np.float32),
                np.ascontiguousarray(np.broadcast_to(self.shift, (c,)), np.float32))

    def infer(self, shapes):
        (s,) = shapes
        n = {self.scale.shape[0], self.shift.shape[0]} - {1}
        if n:
            self._need_rank(s, (1, 3))
            if n != {s[0]}:
                raise GraphError(f"{self._label()}: input has {s[0]} channels, scale / shift have "
                                 f"{self.scale.shape[0]} / {self.shift.shape[0]} values")
            self.channels = s[0]
        return tuple(s)


_ACTIVATIONS = (None, "relu", "relu6")


def _activation(layer: str, activation: Optional[str]) -> Optional[str]:
    if activation not in _ACTIVATIONS:
        raise GraphError(f"{layer}: activation must be one of {_ACTIVATIONS}, got {activation!r}")
    return activation


def __getattr__(name: str) -> type:
    """Layers defined in an op module of their own (graph/ops/) are reachable here too, once
    frugalnn.graph has loaded them (looked up, never imported: layers.py is imported first)."""
    layers = getattr(sys.modules.get(f"{__package__}.ops"), "LAYERS", {})
    if name in layers:
        return layers[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
