"""Import a LiteRT / TensorFlow Lite model (``.tflite``) as a frugalnn Graph.

    g = frugalnn.io.load_tflite("model.tflite")
    program = frugalnn.graph.compile(g)                    # float32 model
    program = frugalnn.graph.compile(g, precision="int8")  # full-integer int8 model
    y = Session(program).run(x_nhwc)                        # NHWC inputs, as LiteRT takes them

Each operator becomes frugalnn layers (op handlers: ``tflite_ops.py``); the file is read
by our own bounds-checked flatbuffer reader (``tflite_reader.py``, no dependency).
Supported: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, ADD,
MUL by a constant, MEAN over H and W, RESHAPE, SOFTMAX (beta 1), CONCATENATION, PAD (folded
into the convolution it feeds), QUANTIZE, DEQUANTIZE, HARD_SWISH, LOGISTIC, RELU, RELU6,
RELU_N1_TO_1, fused activations (NONE, RELU, RELU6, RELU_N1_TO_1), and SHAPE / STRIDED_SLICE
/ PACK when they only compute a RESHAPE's target shape (Keras' Flatten). Anything else
raises NotImplementedError naming the operator, its index and output tensor, and the
supported list; a file that is not a valid model raises ValueError.

Layout and batch:

* TFLite tensors are NHWC; frugalnn's per-sample shapes are (C, H, W). A 4-D input
  ``[1, H, W, C]`` is a Graph input of shape ``(H, W, C)``, fed the NHWC arrays LiteRT
  takes, followed by ``Transpose((2, 0, 1))``, which compile turns into no step at all (the
  runtime stores (C, H, W) channels-last, i.e. as given). Weights are
  rearranged at import: OHWI -> OIHW, depthwise 1HW(C*m) -> (C*m, 1, H, W) with groups C,
  and a FULLY_CONNECTED reading a flattened NHWC map gets its columns permuted from HWC to
  CHW order (a permutation: exact).
* Most files fix the batch to 1 (``[1, H, W, C]``). The first dimension is taken as the
  batch and the Graph's batch is free: a Session runs any batch up to its ``max_batch``.
  Shape arithmetic that reads the batch (Keras' Flatten: SHAPE -> STRIDED_SLICE -> PACK)
  is followed symbolically.

int8 models (full-integer quantization, float input and output): QUANTIZE / DEQUANTIZE
at the ends, int8 activations with a scale and zero point per tensor (u8 too; an s8 value
with zero point z is the u8 value + 128 with zero point z + 128, exactly), int8 weights
with a scale per output channel, int32 biases (scale = input scale x weight scale, imported
as float bias * that scale, which the runtime turns back into the same int32). Conv /
FC layers get ``QuantParams`` with the model's own numbers, ADD and MEAN too, so
``compile(g, precision="int8")`` runs the int8 kernels on them; each output's saturation
(and fused activation) is a ``Clip`` that compile fuses or drops.

How exact int8 is (measured by tests/io/test_tflite_import.py against LiteRT, whose default
CPU path is the XNNPACK delegate):

* Identical to LiteRT + XNNPACK, value for value: every int8 tensor of the int8 MobileNetV2
  peer model (convolutions, depthwise ones, residual ADDs, MEAN, the FC) and all 397 x 10
  outputs of the int8 seed CNN on digits28. Why: XNNPACK and frugalnn's int8 GEMM both
  requantize in float ("fp32" requantization): int32 (acc + bias) times the float32
  s_in * s_w / s_out, rounded half to even, plus the zero point. The int32 bias comes back
  exactly (bias * s_in * s_w as float, divided by the same product and rounded).
* Against LiteRT's builtin reference kernels (no delegate): each int8 tensor within one
  quantum (0.04% to 1.7% of the seed CNN's values differ), 99.7% of its outputs identical,
  at most 6 output quanta after SOFTMAX amplified a one-quantum logit, top-1 identical. Why:
  those kernels requantize with a fixed-point multiplier (the scale as a 31-bit mantissa
  and a shift, gemmlowp's rounding doubling high multiply and rounding right shift), which
  is not the float product: results within about 2^-22 of a half round the other way.
* Where the model rounds a tensor that frugalnn reads in float (an FC's logits read by
  SOFTMAX, SOFTMAX's output read by DEQUANTIZE), the importer makes the rounding explicit
  (``_Importer.rounded``: a quantize_dequantize step, i.e. quantize + dequantize
  in native steps), so the float op sees the model's integers. The float op itself is
  float: SOFTMAX (LiteRT: a lookup-table exp), LOGISTIC, HARD_SWISH and AVERAGE_POOL_2D
  (LiteRT rounds the mean half away from zero, frugalnn half to even) can then differ by
  a quantum from LiteRT's integer kernels. Float inputs are quantized as nearbyint(x /
  scale), XNNPACK multiplies by 1 / scale: they may differ at exact ties.

Hostile files: every offset and length is checked (tflite_reader), every dimension is
range-checked before shapes are computed (sizes up to 2^24, as Graph allows), a constant's
byte count must equal its shape's, operators must read only tensors computed before them
(no cycles), and a tensor is produced once. load_tflite returns a Graph or raises
ValueError / NotImplementedError; tests/io/test_tflite_import.py fuzzes it.
"""
from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Union

import numpy as np

from ..graph import layers as L
from ..graph.graph import Graph, Tensor
from ..graph.layers import GraphError
from ..graph.limits import MAX_DIM
from . import tflite_schema as S
from .onnx_values import QInfo
from .tflite_reader import ModelT, OperatorT, TensorT, read_model

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]
BACKSTOP_NOTE = "an unchecked case in frugalnn's TFLite importer: please report it"
_MAX_ELEMS = 1 << 40  # values per sample, as Graph allows


def load_tflite(model: ModelSource, *, raw_inputs: bool = False) -> Graph:
    """A frugalnn Graph computing the LiteRT / TFLite ``model``.

    Args:
        model: a path to a ``.tflite`` file, or its bytes.
        raw_inputs: take the model's quantized input data as is. An int8 / uint8 input
            tensor becomes an int8 / uint8 Graph input with its scale and zero point (without
            this flag such a model is refused); a float32 input read only by QUANTIZE (a
            full-integer model with a float interface) becomes an input of the QUANTIZE
            output's type and parameters, fed the integers QUANTIZE would make. ``False``
            (the default) keeps float32 inputs, as LiteRT's float interface takes them.

    Returns:
        A Graph with the model's input and output tensor names. A 4-D NHWC input
        ``[1, H, W, C]`` is declared ``(C, H, W)`` (feed NCHW arrays); the batch is free.
        Layers of an int8 model carry ``QuantParams``: compile with ``precision="int8"``.

    Raises:
        TypeError: ``model`` is not a path or bytes.
        OSError: the file cannot be read.
        ValueError: the bytes are not a valid TFLite model (bad offsets, truncation,
            inconsistent shapes or buffers, operators out of order).
        NotImplementedError: an operator, option, type or layout frugalnn cannot run
            exactly (the message names the operator and lists the supported ones).
    """
    data = _read_bytes(model)
    with np.errstate(all="ignore"), _boundary("the model"):
        return _Importer(read_model(data), raw_inputs=bool(raw_inputs)).run()


def _read_bytes(model: ModelSource) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        with open(os.fspath(model), "rb") as f:
            return f.read()
    raise TypeError(f"load_tflite: model must be a path or bytes, got {type(model).__name__}")


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    """Exceptions other than ValueError / NotImplementedError become a ValueError naming
    ``what``: only a backstop, the importer checks what it reads itself."""
    try:
        yield
    except (ValueError, NotImplementedError):
        raise
    except MemoryError as e:
        raise ValueError(f"load_tflite: {what}: ran out of memory importing it") from e
    except RecursionError as e:
        raise ValueError(f"load_tflite: {what}: nested too deeply to import") from e
    except Exception as e:
        raise ValueError(f"load_tflite: {what}: cannot be imported ({type(e).__name__}: {e}); "
                         f"{BACKSTOP_NOTE}") from e


# ---------------------------------------------------------------------------------------
# What the importer holds per TFLite tensor


@dataclass(eq=False)
class Act:
    """A tensor computed from the inputs: its frugalnn tensor and what TFLite sees.

    ``shape`` is TFLite's per-sample shape (batch dropped): (H, W, C) for a 4-D tensor,
    whose frugalnn tensor is (C, H, W); (N,) for a 2-D one. ``flat_from`` = (C, H, W) when
    the frugalnn tensor holds a flattened NHWC map in CHW order (TFLite's order is HWC).
    ``q``: the u8 quantization of an int8 / uint8 tensor (None for float tensors)."""

    tensor: Tensor
    shape: tuple[int, ...]
    q: Optional[QInfo] = None
    flat_from: Optional[tuple[int, int, int]] = None
    range: Optional[tuple[float, float]] = None


@dataclass(eq=False)
class Padded:
    """PAD's output: folded into the convolution reading it. pads = (top, left, bottom, right)."""

    x: Act
    pads: tuple[int, int, int, int]


@dataclass(eq=False)
class Sym:
    """A small integer vector (or scalar) of shape arithmetic; None stands for the batch."""

    values: tuple[Optional[int], ...]
    scalar: bool = False


Value = Union[Act, Padded, Sym, np.ndarray]


def spatial(chw: tuple[int, ...]) -> bool:
    """Whether CHW and HWC orders of a (C, H, W) map differ."""
    return len(chw) == 3 and chw[0] > 1 and chw[1] * chw[2] > 1


def to_chw(shape: tuple[int, ...]) -> tuple[int, ...]:
    """frugalnn's per-sample shape of a TFLite per-sample shape."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


class OpError:
    """Error constructors naming an operator (its builtin name, index and output)."""

    def __init__(self, imp: "_Importer", op: OperatorT) -> None:
        self.label = f"operator {op.index} ({op.name}"
        if op.outputs and 0 <= op.outputs[0] < len(imp.tensors):
            self.label += f", output '{imp.tensors[op.outputs[0]].name}'"
        self.label += ")"

    def unsupported(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"load_tflite: {self.label}: {what}")

    def malformed(self, what: str) -> ValueError:
        return ValueError(f"load_tflite: {self.label}: {what}")


Handler = Callable[["_Importer", OperatorT, OpError], None]
HANDLERS: dict[str, tuple[Handler, Optional[str], tuple[int, int]]] = {}


def handler(name: str, options: Optional[str] = None, inputs: tuple[int, int] = (1, 1)) -> Callable[[Handler], Handler]:
    """Register ``fn(importer, op, err)`` for builtin op ``name`` with its options table and
    (min, max) number of inputs."""
    def deco(fn: Handler) -> Handler:
        HANDLERS[name] = (fn, options, inputs)
        return fn
    return deco


def supported_ops() -> list[str]:
    importlib.import_module(".tflite_ops", __package__)  # registers the handlers (once)
    return sorted(HANDLERS)


# ---------------------------------------------------------------------------------------
# The importer


class _Importer:
    def __init__(self, model: ModelT, raw_inputs: bool = False) -> None:
        supported_ops()
        self.raw_inputs = raw_inputs
        self.model = model
        self.sg = model.subgraphs[0]
        self.tensors: list[TensorT] = self.sg.tensors
        self.g = Graph()
        self.values: dict[int, Value] = {}
        self.reserved = {t.name for t in self.tensors}
        self.rounded_cache: dict[str, Tensor] = {}  # quantized tensor -> its dequantized values

    def run(self) -> Graph:
        if not self.sg.inputs:
            raise ValueError("load_tflite: the model has no inputs")
        if not self.sg.outputs:
            raise ValueError("load_tflite: the model has no outputs")
        for i in self.sg.inputs:
            with _boundary(f"input tensor {i}"):
                self._graph_input(i)
        for op in self.sg.operators:
            with _boundary(f"operator {op.index} ({op.name})"):
                self._operator(op)
        with _boundary("the outputs"):
            for i in self.sg.outputs:
                self._graph_output(i)
        return self.g

    # -- tensors -----------------------------------------------------------------------

    def tensor(self, i: int, what: str) -> TensorT:
        if not 0 <= i < len(self.tensors):
            raise ValueError(f"load_tflite: {what} names tensor {i}, the subgraph has {len(self.tensors)}")
        return self.tensors[i]

    def per_sample(self, t: TensorT, what: str) -> tuple[int, ...]:
        """A computed tensor's shape without its batch dimension (the first, 1 in the file)."""
        shape = t.shape
        if not shape:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' is a scalar (rank 0): frugalnn tensors have "
                                      "a batch dimension first")
        if any(d < 1 or d > MAX_DIM for d in shape):
            raise ValueError(f"load_tflite: {what} '{t.name}' has shape {list(shape)}: sizes must be in [1, 2^24]")
        if shape[0] != 1:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' has batch {shape[0]} in shape {list(shape)}: "
                                      "only batch-1 (or dynamic-batch) models are supported")
        rest = tuple(shape[1:])
        if len(rest) not in (1, 3):
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' has shape {list(shape)}: only 2-D (batch, "
                                      "features) and 4-D NHWC tensors are supported")
        if int(np.prod(rest, dtype=object)) > _MAX_ELEMS:
            raise ValueError(f"load_tflite: {what} '{t.name}' has more than 2^40 values per sample")
        return rest

    def qinfo(self, t: TensorT, what: str) -> Optional[QInfo]:
        """The u8-domain quantization of a computed tensor (None for a float one)."""
        if t.type == 0:  # FLOAT32
            return None
        if t.type not in (3, 9):  # UINT8, INT8
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' is {t.type_name}: only float32, int8 and "
                                      "uint8 activations are supported")
        q = t.quant
        if q is None:
            raise ValueError(f"load_tflite: {what} '{t.name}' is {t.type_name} without quantization parameters")
        if q.scale.size != 1:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' has {q.scale.size} scales: only per-tensor "
                                      "quantization of activations is supported")
        s, zp = float(q.scale[0]), int(q.zero_point[0])
        if not (np.isfinite(s) and s > 0):
            raise ValueError(f"load_tflite: {what} '{t.name}' has scale {s}: must be positive and finite")
        signed = t.type == 9
        zp_u8 = zp + 128 if signed else zp  # q_u8 = q_s8 + 128, exact
        if not 0 <= zp_u8 <= 255:
            raise ValueError(f"load_tflite: {what} '{t.name}' has zero point {zp}, outside its {t.type_name} range")
        return QInfo(s, zp_u8, signed)

    def constant(self, t: TensorT, what: str) -> Optional[np.ndarray]:
        """The tensor's data when it has a buffer (None for a computed tensor)."""
        if t.sparse:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' is stored sparse; only dense tensors")
        if t.external:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' lives in an external buffer")
        data = self.model.buffer(t.buffer, f"{what} '{t.name}'")
        if data is None:
            return None
        dtype = S.TENSOR_TYPES.get(t.type, (None, None))[1]
        if dtype is None:
            raise NotImplementedError(f"load_tflite: {what} '{t.name}' is a constant of type {t.type_name}")
        if any(d < 0 or d > MAX_DIM for d in t.shape):
            raise ValueError(f"load_tflite: {what} '{t.name}' has shape {list(t.shape)}")
        n = int(np.prod(t.shape, dtype=object)) if t.shape else 1
        if n * dtype.itemsize != len(data):
            raise ValueError(f"load_tflite: {what} '{t.name}' of shape {list(t.shape)} and type {t.type_name} "
                             f"needs {n * dtype.itemsize} bytes, its buffer holds {len(data)}")
        return np.frombuffer(data, dtype, n).reshape(t.shape).copy()

    def fresh(self, base: str) -> str:
        """A layer name used by no TFLite tensor and no layer so far."""
        name = self.g.unused_name(base, self.reserved)
        self.reserved.add(name)
        return name

    def name_for(self, op: OperatorT, role: Optional[str] = None) -> str:
        """The name of a layer for ``op``: its output tensor's name for the layer computing it."""
        out = self.tensors[op.outputs[0]].name
        if role is None and out not in self.g.shapes:
            return out
        return self.fresh(f"{out}/{role or 'out'}")

    # -- graph inputs and outputs ------------------------------------------------------

    def _graph_input(self, i: int) -> None:
        t = self.tensor(i, "the subgraph's inputs")
        if i in self.values:
            raise ValueError(f"load_tflite: input tensor '{t.name}' is listed twice")
        if self.constant(t, "input") is not None:
            raise ValueError(f"load_tflite: input tensor '{t.name}' has constant data")
        if t.type != 0 and not self.raw_inputs:
            raise NotImplementedError(f"load_tflite: input '{t.name}' is {t.type_name}: frugalnn takes it with "
                                      "load_tflite(..., raw_inputs=True) (else float32 inputs only)")
        shape = self.per_sample(t, "input")
        q, qt = None, None
        if t.type != 0:
            q, qt = self.qinfo(t, "input"), t
        elif self.raw_inputs:
            readers = [op for op in self.sg.operators if i in op.inputs]
            outs = [self.tensor(op.outputs[0], "QUANTIZE's output") for op in readers
                    if op.name == "QUANTIZE" and len(op.outputs) == 1]
            if readers and len(outs) == len(readers) and i not in self.sg.outputs:
                qs = {self.qinfo(o, "output") for o in outs}
                if len(qs) == 1 and None not in qs:
                    q, qt = qs.pop(), outs[0]
        try:
            self.values[i] = _nhwc_input(self.g, t.name, shape, q, qt)
        except (GraphError, TypeError) as e:
            raise ValueError(f"load_tflite: input '{t.name}': {e}") from e

    def _graph_output(self, i: int) -> None:
        t = self.tensor(i, "the subgraph's outputs")
        v = self.values.get(i)
        if v is None:
            raise ValueError(f"load_tflite: output tensor '{t.name}' is computed by no operator")
        if not isinstance(v, Act):
            raise NotImplementedError(f"load_tflite: output '{t.name}' is not a tensor computed from the inputs")
        if v.q is not None:
            raise NotImplementedError(f"load_tflite: output '{t.name}' is {t.type_name}: frugalnn computes float32 "
                                      "outputs (end the model with DEQUANTIZE)")
        if v.flat_from is not None:
            raise NotImplementedError(f"load_tflite: output '{t.name}' is a flattened NHWC map; returning it in "
                                      "TFLite's order needs a transpose frugalnn does not have yet")
        tt = v.tensor
        name = t.name if t.name not in self.g.shapes or t.name == tt.name else self.fresh(t.name)
        if tt.name in self.g.inputs or tt.name in self.g.outputs:  # a copy under the output's name
            tt = self.emit(None, L.Reshape(tt.shape, name=name if name != tt.name else self.fresh(name)), [tt])
        self.g.output(tt, name if name not in self.g.shapes else None)

    # -- operators ---------------------------------------------------------------------

    def _operator(self, op: OperatorT) -> None:
        err = OpError(self, op)
        for k, i in enumerate(op.inputs):
            if i == -1:
                continue
            t = self.tensor(i, err.label)
            if i not in self.values:
                c = self.constant(t, "constant")
                if c is None:
                    raise err.malformed(f"input {k} ('{t.name}') is not computed before it (operators must be in "
                                        "execution order, without cycles)")
                self.values[i] = c
        if not op.outputs:
            raise err.malformed("it has no outputs")
        for i in op.outputs:
            t = self.tensor(i, err.label)
            if i in self.values or self.model.buffer(t.buffer, f"output '{t.name}'") is not None:
                raise err.malformed(f"output '{t.name}' is an input, a constant or computed twice")
        if op.opcode < 0:
            raise err.unsupported(f"custom operator '{op.custom}' is not supported; supported: "
                                  f"{', '.join(supported_ops())}")
        entry = HANDLERS.get(op.name)
        if entry is None:
            raise err.unsupported(f"{op.name} is not supported; supported: {', '.join(supported_ops())}")
        fn, options, (lo, hi) = entry
        if not lo <= len(op.inputs) <= hi:
            raise err.malformed(f"has {len(op.inputs)} inputs, {op.name} takes {lo}" + (f" to {hi}" if hi > lo else ""))
        if op.options is not None and op.options_type != (S.OPTIONS[options][0] if options else -1):
            raise err.malformed(f"its builtin options are of union type {op.options_type}, {op.name} takes "
                                f"{options or 'none'}")
        fn(self, op, err)
        for i in op.outputs:
            if i not in self.values:
                raise err.unsupported(f"output '{self.tensors[i].name}' (only the first output is supported)")

    def value(self, op: OperatorT, k: int) -> Optional[Value]:
        if k >= len(op.inputs) or op.inputs[k] == -1:
            return None
        return self.values[op.inputs[k]]

    def act(self, op: OperatorT, err: OpError, k: int) -> Act:
        v = self.value(op, k)
        if isinstance(v, Act):
            return v
        if isinstance(v, Padded):
            raise err.unsupported("PAD is supported only feeding CONV_2D / DEPTHWISE_CONV_2D (folded into their "
                                  "padding)")
        if v is None:
            raise err.malformed(f"input {k} is required")
        raise err.unsupported(f"input {k} must be computed from the model's inputs, got a constant")

    def const(self, op: OperatorT, err: OpError, k: int, what: str) -> Optional[np.ndarray]:
        v = self.value(op, k)
        if v is None or isinstance(v, np.ndarray):
            return v
        raise err.unsupported(f"{what} (input {k}) must be a constant")

    def out_tensor(self, op: OperatorT) -> TensorT:
        return self.tensors[op.outputs[0]]

    def set_out(self, op: OperatorT, err: OpError, v: Value) -> None:
        """Bind the op's first output, checking its declared shape against the computed one."""
        t = self.out_tensor(op)
        if isinstance(v, Act) and t.shape:
            declared = tuple(t.shape[1:])
            if tuple(t.shape[:1]) != (1,) or declared != v.shape:
                raise err.malformed(f"output '{t.name}' is declared {list(t.shape)}, the operator computes "
                                    f"[1, {', '.join(map(str, v.shape))}]")
        self.values[op.outputs[0]] = v

    def emit(self, err: Optional[OpError], layer: L.Layer, inputs: list[Tensor]) -> Tensor:
        try:
            return layer(*inputs)
        except GraphError as e:
            raise (err.malformed(str(e)) if err is not None else ValueError(f"load_tflite: {e}")) from e

    def layer(self, err: OpError, make: Callable[[], L.Layer]) -> L.Layer:
        try:
            return make()
        except GraphError as e:
            raise err.malformed(str(e)) from e

    def clip(self, err: OpError, x: Act, lo: float, hi: float, name: str) -> Act:
        """``x`` clamped to [lo, hi]; no layer when its known range lies inside already."""
        if x.range is not None and lo <= x.range[0] and x.range[1] <= hi:
            return x
        t = self.emit(err, self.layer(err, lambda: L.Clip(lo, hi, name=name)), [x.tensor])
        r = (lo, hi) if x.range is None else (min(max(x.range[0], lo), hi), max(min(x.range[1], hi), lo))
        return Act(t, x.shape, None, x.flat_from, r)

    def rounded(self, err: OpError, x: Act) -> Act:
        """``x`` as a float op of the model reads it: for a quantized tensor, the values its
        integers stand for. An int8 layer's output read only by float ops (SOFTMAX after an
        FC, DEQUANTIZE after SOFTMAX) would otherwise stay unrounded, since frugalnn rounds
        only where a u8 reader takes a tensor: a quantize_dequantize step rounds it as
        QUANTIZE would, in float."""
        from ..graph.ops.unary import Unary

        if x.q is None:
            return x
        key = x.tensor.name
        if key not in self.rounded_cache:
            layer = Unary("quantize_dequantize", x.q.scale, x.q.zero_point, name=self.fresh(f"{key}/dequantized"))
            self.rounded_cache[key] = self.emit(err, layer, [x.tensor])
        return Act(self.rounded_cache[key], x.shape, None, x.flat_from, x.range)

    def finish(self, op: OperatorT, err: OpError, y: Act, activation: Optional[str] = None) -> None:
        """Bind the op's output: ``y`` with the op's fused activation and, for a quantized
        output, its saturation (one Clip, which compile fuses into the layer before it or
        drops when the int8 reader's quantization saturates the same)."""
        lo, hi = {None: (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
                  "RELU_N1_TO_1": (-1.0, 1.0)}[activation]
        q = self.qinfo(self.out_tensor(op), "output")
        if q is not None:
            qlo, qhi = q.bounds()
            lo, hi = max(lo, qlo), min(hi, qhi)
            if lo > hi:
                raise err.malformed("the fused activation and the output's quantization leave no values")
        if (lo, hi) != (-np.inf, np.inf):
            y = self.clip(err, y, lo, hi, self.name_for(op))
        self.set_out(op, err, Act(y.tensor, y.shape, q, y.flat_from, y.range))


def _nhwc_input(g: Graph, name: str, shape: tuple[int, ...], q: Optional[QInfo] = None,
                qt: Optional[TensorT] = None) -> Act:
    """The Graph input for a TFLite input of per-sample ``shape`` ((H, W, C) or (N,)): an
    (H, W, C) input read through Transpose((2, 0, 1)), which compile runs as no step. With
    ``q`` (raw_inputs), an int8 / uint8 input of tensor ``qt``'s type and parameters."""
    from ..graph.ops.broadcast import Transpose

    if q is None:
        t = g.input(name, shape)
    else:
        assert qt is not None and qt.quant is not None
        dtype = "int8" if q.signed else "uint8"
        t = g.input(name, shape, dtype, scale=q.scale, zero_point=int(qt.quant.zero_point[0]))
    if len(shape) == 3:
        t = Transpose((2, 0, 1), name=g.unused_name(f"{name}/nchw"))(t)
    return Act(t, shape, q, range=None if q is None else q.bounds())
