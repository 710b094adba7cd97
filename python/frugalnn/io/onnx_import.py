"""Import an ONNX model as a frugalnn Graph (needs the optional ``onnx`` package).

    g = frugalnn.io.load_onnx("model.onnx")
    program = frugalnn.graph.compile(g)                    # float model
    program = frugalnn.graph.compile(g, precision="int8")  # model quantized by onnxruntime

Every ONNX node becomes frugalnn layers or folds into one (a bias ``Add`` into the
``MatMul`` / ``Conv`` before it, a ``Q``/``DQ`` pair into the ``QuantParams`` of the layer it
feeds). Whatever cannot be represented exactly raises ``NotImplementedError`` naming the op,
the node and what is supported; a model that is not valid ONNX raises ``ValueError``. The
importer never guesses: it refuses rather than answer differently from the model.

Conventions and limits:

* One batch dimension, the first of every graph input; all other dimensions static.
  Ops that would mix the batch with other axes (``Flatten(axis=0)``, a ``Reshape`` that
  changes the first dimension, ``Concat`` / ``Softmax`` over the batch) are refused.
* Graph inputs and outputs are float32; names are kept.
* Float initializers become float32: float16 / bfloat16 exactly, float64 rounded to the
  nearest float32.
* Quantized models (onnxruntime's QDQ and QOperator formats, ``quantize_dynamic`` output):
  activations uint8 (int8 ones are shifted by 128, which is exact), weights int8 symmetric
  per tensor or per output channel. A ``Conv`` / ``Gemm`` / ``MatMul`` fed by
  ``DequantizeLinear`` gets ``QuantParams`` with the model's own input scale / zero point and
  int8 weights, so ``compile(..., precision="int8")`` runs the real int8 kernels with the
  model's numbers. Weights with a zero point are accepted only when ``w - zero_point``
  fits int8 (then that is the exact symmetric form); otherwise ``NotImplementedError``.
  The saturation of each ``QuantizeLinear`` is kept as a ``Clip`` (fused into the layer
  before it by ``compile``); its rounding is not emulated between float layers, so float
  ops between Q/DQ pairs see unrounded values (int8 layers quantize exactly as the model).
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np

from ..graph import layers as L
from ..graph.graph import Graph, Tensor
from ..graph.layers import GraphError, QuantParams

OPSET_RANGE = (7, 28)  # default-domain opsets whose operator semantics this importer knows
_FLOAT_MAX = float(np.finfo(np.float32).max)
# Ops never evaluated at load time even with constant inputs: random ones would freeze
# one draw; DequantizeLinear keeps its integer form for int8 weights.
_NO_FOLD = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                      "Bernoulli", "Multinomial", "DequantizeLinear"})

ModelSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]


def load_onnx(model: ModelSource) -> Graph:
    """A frugalnn Graph computing the ONNX ``model``.

    Args:
        model: a path to a ``.onnx`` file (external data is read from beside it), the
            serialized bytes, or an ``onnx.ModelProto``.

    Returns:
        A Graph whose inputs and outputs carry the model's names; layers from quantized
        ops carry ``QuantParams`` (compile with ``precision="int8"`` to use them; a layer
        the model left in float, or one from dynamic quantization, has no input scale and
        needs ``calibration=`` or ``precision={layer name: ...}``).

    Raises:
        ImportError: the ``onnx`` package is not installed.
        NotImplementedError: an op, attribute value, dtype or shape frugalnn cannot run
            exactly (the message names the op type, the node and what is supported).
        ValueError: the model is not valid ONNX (undecodable bytes, undefined tensors,
            inconsistent shapes).
        TypeError: ``model`` is none of the accepted kinds.
    """
    onnx = require_onnx("load_onnx")
    # A model's weights may be NaN / inf: arithmetic on them must not warn, since the layers
    # reject non-finite parameters with a ValueError naming the node anyway.
    with np.errstate(all="ignore"):
        return _Importer(onnx, _read_model(onnx, model)).run()


def require_onnx(who: str) -> Any:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"{who} needs the onnx package: pip install onnx") from e
    return onnx


def _read_model(onnx: Any, model: ModelSource) -> Any:
    from google.protobuf.message import DecodeError

    if isinstance(model, onnx.ModelProto):
        return model
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            return onnx.load_from_string(bytes(model))
        if isinstance(model, (str, os.PathLike)):
            return onnx.load(os.fspath(model))
    except (DecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"load_onnx: not a valid ONNX model ({type(e).__name__}: {e})") from e
    raise TypeError(f"load_onnx: model must be a path, bytes or an onnx.ModelProto, got {type(model).__name__}")


# ---------------------------------------------------------------------------------------
# Values the importer tracks per ONNX tensor name


@dataclass(frozen=True)
class QInfo:
    """The u8 quantization of an activation: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int      # in the u8 domain
    signed: bool = False  # stored as int8 in the model (q_s8 = q_u8 - 128)

    def bounds(self) -> tuple[float, float]:
        """The real values q = 0 and q = 255 stand for (what QuantizeLinear saturates to)."""
        s = np.float32(self.scale)
        return float(s * np.float32(-self.zero_point)), float(s * np.float32(255 - self.zero_point))


@dataclass(eq=False)
class Data:
    """A tensor computed from the graph inputs: a frugalnn tensor and what is known of it."""

    tensor: Tensor
    q: Optional[QInfo] = None   # quantized (integer) or dequantized from a quantized tensor
    integer: bool = False       # the ONNX tensor is uint8 / int8: only quantized ops take it
    range: Optional[tuple[float, float]] = None  # known bounds of the values
    layer: Optional[L.Layer] = None  # the Dense / Conv2d whose own output this is (bias folding)
    names: list[str] = field(default_factory=list)  # ONNX names bound to this value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape


@dataclass(eq=False)
class QConst:
    """A constant integer tensor with its DequantizeLinear parameters (QDQ weights, biases)."""

    q: np.ndarray
    scale: np.ndarray       # float32, one value or one per slice along ``axis``
    zero_point: np.ndarray  # int64, the shape of ``scale``
    axis: int

    def _along(self, a: np.ndarray) -> np.ndarray:
        if a.size == 1:
            return a.reshape(())
        shape = [1] * self.q.ndim
        shape[self.axis] = a.size
        return a.reshape(shape)

    def dequantized(self) -> np.ndarray:
        """(q - zero_point) * scale in float32, as DequantizeLinear computes it."""
        d = (self.q.astype(np.int64) - self._along(self.zero_point)).astype(np.float32)
        return (d * self._along(self.scale)).astype(np.float32)

    def symmetric_int8(self, out_axis: int) -> tuple[np.ndarray, np.ndarray]:
        """(int8 weights with zero point 0, float32 scales per tensor or per ``out_axis``).

        Raises NotImplementedError (without node context: the caller adds it)."""
        if self.q.dtype not in (np.int8, np.uint8):
            raise NotImplementedError(f"{self.q.dtype} weights: only int8 (or uint8 convertible to int8)")
        if self.scale.size > 1 and self.axis != out_axis:
            raise NotImplementedError(f"weight scales along axis {self.axis}: only per tensor or per output "
                                      f"channel (axis {out_axis})")
        d = self.q.astype(np.int16) - self._along(self.zero_point).astype(np.int16)
        if d.size and (d.min() < -128 or d.max() > 127):
            zp = np.unique(self.zero_point)
            raise NotImplementedError(f"{self.q.dtype} weights with zero point {zp[:4].tolist()}: frugalnn "
                                      "runs symmetric int8 weights, and w - zero_point does not fit int8 here")
        return d.astype(np.int8), np.ascontiguousarray(self.scale.reshape(-1), dtype=np.float32)


Value = Union[Data, np.ndarray, QConst, Any]  # Any: symbolic values of onnx_quant

# ---------------------------------------------------------------------------------------
# Errors and attributes


def where(node: Any) -> str:
    name = node.name or f"<unnamed, output '{node.output[0] if node.output else '?'}'>"
    return f"{node.op_type} node '{name}'"


def unsupported(node: Any, what: str) -> NotImplementedError:
    return NotImplementedError(f"{where(node)}: {what}")


def malformed(node: Any, what: str) -> ValueError:
    return ValueError(f"{where(node)}: {what}")


_ATTR_TYPES = {"i": "INT", "f": "FLOAT", "s": "STRING", "t": "TENSOR", "ints": "INTS", "floats": "FLOATS",
               "strings": "STRINGS", "sparse": "SPARSE_TENSOR"}


def attributes(onnx: Any, node: Any, known: dict[str, str]) -> dict[str, Any]:
    """The node's attributes by name, checked against ``known`` ({name: type code}): an
    attribute this importer does not know is refused, so one changing an op's meaning is
    never silently ignored, and a mistyped one is a malformed model."""
    out = {}
    for a in node.attribute:
        if a.ref_attr_name:
            raise unsupported(node, "attribute references (function bodies) are not supported")
        if a.name not in known:
            raise unsupported(node, f"attribute '{a.name}' is not supported (known: {sorted(known) or 'none'})")
        want = getattr(onnx.AttributeProto, _ATTR_TYPES[known[a.name]])
        if a.type != want:
            raise malformed(node, f"attribute '{a.name}' must be {_ATTR_TYPES[known[a.name]]}")
        v = onnx.helper.get_attribute_value(a)
        try:
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        except UnicodeDecodeError as e:
            raise malformed(node, f"attribute '{a.name}' is not UTF-8") from e
    return out


def flag(node: Any, a: dict, name: str, default: bool = False) -> bool:
    """A 0 / 1 attribute."""
    v = a.get(name, int(default))
    if v not in (0, 1):
        raise malformed(node, f"{name} must be 0 or 1, got {v}")
    return bool(v)


def to_float32(node: Any, a: np.ndarray, what: str) -> np.ndarray:
    """A float constant as float32: float16 / bfloat16 exactly, float64 rounded."""
    if a.dtype == np.float32:
        return a
    if a.dtype in (np.float16, np.float64) or a.dtype.name == "bfloat16":
        return a.astype(np.float32)
    raise malformed(node, f"{what} must be a float tensor, got {a.dtype}")


# ---------------------------------------------------------------------------------------
# The importer

Handler = Callable[["_Importer", Any, dict], None]
_FLOAT_OPS: dict[tuple[str, str], tuple[Handler, dict[str, str]]] = {}
CONV_ATTRS = "auto_pad:s dilations:ints group:i kernel_shape:ints pads:ints strides:ints"


def op(name: str, attrs: str = "", domain: str = "",
       table: Optional[dict] = None) -> Callable[[Handler], Handler]:
    """Register ``fn(importer, node, attributes)`` for an op with the attributes it knows,
    given as "name:type" (types i, f, s, t, ints, floats, strings, sparse)."""

    def deco(fn: Handler) -> Handler:
        known = dict(a.split(":") for a in attrs.split())
        (_FLOAT_OPS if table is None else table)[(domain, name)] = (fn, known)
        return fn

    return deco


def _handlers() -> dict[tuple[str, str], tuple[Handler, dict[str, str]]]:
    from .onnx_quant import QUANT_OPS

    return {**_FLOAT_OPS, **QUANT_OPS}


class _Importer:
    def __init__(self, onnx: Any, model: Any) -> None:
        self.onnx = onnx
        self.model = model
        if not model.HasField("graph") or not model.graph.node:
            raise ValueError("load_onnx: the model has no graph (or an empty one)")
        self.proto = model.graph
        self.opset = self._default_opset()
        self.handlers = _handlers()
        self.g = Graph()
        self.values: dict[str, Value] = {}
        self.batch: Optional[int] = None  # the batch size when the inputs fix it
        self.outputs = [o.name for o in self.proto.output]
        self.uses = Counter(i for n in self.proto.node for i in n.input if i) + Counter(self.outputs)
        self.reserved = {v for n in self.proto.node for v in list(n.input) + list(n.output)}
        self.reserved |= {i.name for i in self.proto.input} | set(self.outputs)
        self.reserved |= {t.name for t in self.proto.initializer}

    def _default_opset(self) -> int:
        versions = [o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")]
        if not versions:
            raise ValueError("load_onnx: the model imports no default-domain (ai.onnx) opset")
        v = int(versions[0])
        if not OPSET_RANGE[0] <= v <= OPSET_RANGE[1]:
            raise NotImplementedError(f"load_onnx: opset {v}; supported opsets are "
                                      f"{OPSET_RANGE[0]} to {OPSET_RANGE[1]}")
        return v

    # -- building ----------------------------------------------------------------------

    def run(self) -> Graph:
        for t in self.proto.initializer:
            self.values[t.name] = self.tensor_array(t)
        if len(self.proto.sparse_initializer):
            raise NotImplementedError("load_onnx: sparse initializers are not supported")
        for vi in self.proto.input:
            if vi.name not in self.values:
                self._graph_input(vi)
        if not self.g.inputs:
            raise ValueError("load_onnx: the model has no (non-initializer) inputs")
        for node in self.proto.node:
            self._node(node)
        self._graph_outputs()
        return self.g

    def tensor_array(self, t: Any) -> np.ndarray:
        """A TensorProto's values (ValueError when they cannot be read)."""
        try:
            a = self.onnx.numpy_helper.to_array(t)
        except Exception as e:  # a truncated raw_data, unreadable external data, a bad type
            raise ValueError(f"load_onnx: initializer '{t.name}' cannot be read: {e}") from e
        return np.array(a)  # own, writeable copy (raw_data views are read-only)

    def _graph_input(self, vi: Any) -> None:
        name = vi.name
        tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
        if tt is None:
            raise NotImplementedError(f"graph input '{name}': only tensor inputs are supported")
        if tt.elem_type != self.onnx.TensorProto.FLOAT:
            dtype = self.onnx.TensorProto.DataType.Name(tt.elem_type)
            raise NotImplementedError(f"graph input '{name}' is {dtype}: frugalnn runs float32 inputs")
        if not tt.HasField("shape"):
            raise NotImplementedError(f"graph input '{name}' has no shape: the batch must be the first "
                                      "dimension and the others static")
        dims = list(tt.shape.dim)
        if len(dims) < 2:
            raise NotImplementedError(f"graph input '{name}' has rank {len(dims)}: frugalnn needs a batch "
                                      "dimension first and at least one more")
        for i, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value < 1:
                label = d.dim_param or "unknown"
                raise NotImplementedError(f"graph input '{name}': dimension {i} is dynamic ({label}); only "
                                          "the first (batch) dimension may be")
        if dims[0].HasField("dim_value"):
            b = int(dims[0].dim_value)
            if self.batch is not None and b != self.batch:
                raise NotImplementedError(f"graph input '{name}': batch {b} differs from {self.batch}: all "
                                          "inputs share one batch dimension")
            self.batch = b
        try:
            t = self.g.input(name, [d.dim_value for d in dims[1:]])
        except GraphError as e:
            raise ValueError(f"load_onnx: graph input '{name}': {e}") from e
        self.set(name, Data(t))

    def _node(self, node: Any) -> None:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        for i in node.input:
            if i and i not in self.values:
                raise malformed(node, f"input '{i}' is not defined before it (nodes must be topologically "
                                      "sorted and every tensor produced once)")
        for o in node.output:
            if o and o in self.values:
                raise malformed(node, f"output '{o}' is produced twice")
        entry = self.handlers.get((domain, node.op_type))
        if self._foldable(node, domain, entry is not None):
            self._fold(node)
            return
        if entry is None:
            raise unsupported(node, f"op {node.op_type}{f' (domain {domain})' if domain else ''} is not "
                                    f"supported; supported: {', '.join(sorted(n for _, n in self.handlers))}")
        fn, allowed = entry
        fn(self, node, attributes(self.onnx, node, allowed))

    def _foldable(self, node: Any, domain: str, handled: bool) -> bool:
        """Whether to evaluate ``node`` now: its inputs are all plain constants (and it is a
        standard op that is neither random nor DequantizeLinear, whose integer form matters)."""
        if domain or node.op_type in _NO_FOLD or node.op_type in ("Identity", "Constant"):
            return False
        inputs = [self.values[i] for i in node.input if i]
        return all(isinstance(v, np.ndarray) for v in inputs) and (bool(inputs) or not handled)

    def _fold(self, node: Any) -> None:
        """Evaluate a node whose inputs are all constants with onnx's reference evaluator."""
        from onnx.reference import ReferenceEvaluator

        helper = self.onnx.helper
        names = [i for i in node.input if i]
        outs = [o for o in node.output if o]
        try:
            g = helper.make_graph([node], "fold", [helper.make_empty_tensor_value_info(n) for n in names],
                                  [helper.make_empty_tensor_value_info(o) for o in outs])
            m = helper.make_model(g, opset_imports=list(self.model.opset_import))
            results = ReferenceEvaluator(m).run(None, {n: self.values[n] for n in names})
        except Exception as e:
            raise unsupported(node, f"its inputs are all constants but onnx's reference evaluator could not "
                                    f"compute it ({type(e).__name__}: {e})") from e
        for o, r in zip(outs, results):
            if not isinstance(r, np.ndarray) and not np.isscalar(r):
                raise unsupported(node, f"output '{o}' is not a tensor")
            self.values[o] = np.array(r)

    def _graph_outputs(self) -> None:
        for vi in self.proto.output:
            name = vi.name
            v = self.values.get(name)
            if v is None:
                raise ValueError(f"load_onnx: graph output '{name}' is not computed by any node")
            tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
            if tt is not None and tt.elem_type not in (0, self.onnx.TensorProto.FLOAT):
                dtype = self.onnx.TensorProto.DataType.Name(tt.elem_type)
                raise NotImplementedError(f"graph output '{name}' is {dtype}: frugalnn computes float32 outputs")
            if not isinstance(v, Data):
                what = "a constant" if isinstance(v, (np.ndarray, QConst)) else getattr(v, "what", type(v).__name__)
                raise NotImplementedError(f"graph output '{name}' is {what}: outputs must be float tensors "
                                          "computed from the inputs")
            if v.integer:
                raise NotImplementedError(f"graph output '{name}' is a quantized (8-bit) tensor: frugalnn "
                                          "computes float32 outputs (end the model with DequantizeLinear)")
            if tt is not None and tt.HasField("shape"):
                self._check_declared(name, v.shape, tt.shape)
            t = v.tensor
            if t.name in self.g.inputs or t.name in self.g.outputs:
                t = self.emit(None, L.Reshape(t.shape, name=name), [t])  # a copy under the output's name
            self.g.output(t, name)

    def _check_declared(self, name: str, shape: tuple[int, ...], declared: Any) -> None:
        dims = list(declared.dim)
        if len(dims) != len(shape) + 1:
            raise ValueError(f"load_onnx: graph output '{name}' is declared with rank {len(dims)}, the model "
                             f"computes rank {len(shape) + 1} (batch x {shape})")
        for i, (d, s) in enumerate(zip(dims[1:], shape), start=1):
            if d.HasField("dim_value") and d.dim_value != s:
                raise ValueError(f"load_onnx: graph output '{name}' is declared with dimension {i} = "
                                 f"{d.dim_value}, the model computes {s}")

    # -- helpers for op handlers -------------------------------------------------------

    def set(self, name: str, value: Value) -> None:
        if not name:
            return
        self.values[name] = value
        if isinstance(value, Data):
            value.names.append(name)

    def alias(self, node: Any, value: Value) -> None:
        """Bind the node's output to its input's value (the input's use is absorbed, so a bias
        Add after an Identity still counts as the layer's sole consumer)."""
        self.uses[node.input[0]] -= 1
        self.set(node.output[0], value)

    def value(self, node: Any, i: int) -> Optional[Value]:
        """Input ``i`` of ``node`` (None when the optional input is absent)."""
        if i >= len(node.input) or not node.input[i]:
            return None
        return self.values[node.input[i]]

    def data(self, node: Any, i: int, *, integer: bool = False) -> Data:
        """Input ``i`` as a data tensor (float unless ``integer``: then quantized 8-bit)."""
        v = self.value(node, i)
        if v is None:
            raise malformed(node, f"input {i} is required")
        if isinstance(v, Data):
            if v.integer and not integer:
                raise unsupported(node, f"input '{node.input[i]}' is a quantized (8-bit) tensor; this op takes "
                                        "float tensors (DequantizeLinear first)")
            if integer and not v.integer:
                raise malformed(node, f"input '{node.input[i]}' must be a quantized (8-bit) tensor, got float")
            return v
        if isinstance(v, (np.ndarray, QConst)):
            raise unsupported(node, f"input '{node.input[i]}' is a constant; this op needs it computed from "
                                    "the graph inputs")
        raise unsupported(node, f"input '{node.input[i]}' is {getattr(v, 'what', type(v).__name__)}")

    def any_data(self, node: Any, i: int) -> Data:
        """Input ``i`` as a data tensor, float or quantized (ops that only move values)."""
        v = self.value(node, i)
        return self.data(node, i, integer=isinstance(v, Data) and v.integer)

    def const(self, node: Any, i: int) -> Optional[np.ndarray]:
        """Input ``i`` as a constant array (dequantized when it comes from DequantizeLinear)."""
        v = self.value(node, i)
        if v is None or isinstance(v, np.ndarray):
            return v
        if isinstance(v, QConst):
            return v.dequantized()
        raise unsupported(node, f"input '{node.input[i]}' must be a constant (an initializer or computed "
                                "from constants only)")

    def const_float(self, node: Any, i: int, what: str) -> Optional[np.ndarray]:
        a = self.const(node, i)
        return None if a is None else to_float32(node, a, what)

    def fresh(self, base: str) -> str:
        """A tensor / layer name used nowhere in the model nor in the graph so far."""
        name, k = base, 1
        while name in self.reserved or name in self.g.shapes:
            k += 1
            name = f"{base}_{k}"
        self.reserved.add(name)
        return name

    def name_for(self, node: Any, role: Optional[str] = None) -> str:
        """The name of a layer made for ``node``: its output's name for the layer that computes
        that output (so tensor names match the model's), a derived one for helpers."""
        out = node.output[0] if node.output and node.output[0] else self.fresh(node.op_type)
        if role is None and out not in self.g.shapes:
            return out
        return self.fresh(f"{out}/{role or 'out'}")

    def emit(self, node: Any, layer: L.Layer, inputs: list[Tensor]) -> Tensor:
        try:
            return layer(*inputs)
        except GraphError as e:
            raise (malformed(node, str(e)) if node is not None else ValueError(str(e))) from e

    def layer(self, node: Any, make: Callable[[], L.Layer]) -> L.Layer:
        """Construct a layer, reporting a parameter error as the node's."""
        try:
            return make()
        except GraphError as e:
            raise malformed(node, str(e)) from e

    def sole_use(self, d: Data) -> bool:
        """Whether ``d`` feeds exactly one node input and no graph output."""
        return sum(self.uses[n] for n in d.names) == 1 and not any(n in self.outputs for n in d.names)

    def clip(self, node: Any, d: Data, lo: float, hi: float, name: str) -> Data:
        """``d`` clamped to [lo, hi]; no layer when its known range already lies inside."""
        if d.range is not None and lo <= d.range[0] and d.range[1] <= hi:
            return Data(d.tensor, range=d.range)
        layer = L.Clip(lo, hi, name=name)
        new = (lo, hi) if d.range is None else (min(max(d.range[0], lo), hi), max(min(d.range[1], hi), lo))
        return Data(self.emit(node, layer, [d.tensor]), range=new)

    def reshape(self, node: Any, d: Data, shape: tuple[int, ...], name: str) -> Data:
        """``d`` with a new per-sample shape (quantization and range carried over)."""
        if tuple(shape) == d.shape:
            return Data(d.tensor, q=d.q, integer=d.integer, range=d.range)
        t = self.emit(node, L.Reshape(shape, name=name), [d.tensor])
        return Data(t, q=d.q, integer=d.integer, range=d.range)

    def rank(self, d: Data) -> int:
        """The ONNX rank (batch included)."""
        return len(d.shape) + 1

    def axis(self, node: Any, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise malformed(node, f"axis {axis} is out of range for rank {rank}")
        return axis % rank


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
        total = (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size
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
    if min(v) < 1:
        raise malformed(node, f"{name} must be >= 1, got {v}")
    return v[0], v[1]


def conv_geometry(node: Any, a: dict, in_shape: tuple[int, ...], wshape: tuple[int, ...]) -> dict:
    """Conv2d keyword arguments (stride, padding, dilation, groups) for a Conv-like node."""
    if len(in_shape) != 3 or len(wshape) != 4:
        raise unsupported(node, f"only 2-D convolutions (NCHW input, OIHW weights) are supported, got input "
                                f"rank {len(in_shape) + 1} and weight rank {len(wshape)}")
    kernel = (int(wshape[2]), int(wshape[3]))
    if "kernel_shape" in a and tuple(int(k) for k in a["kernel_shape"]) != kernel:
        raise malformed(node, f"kernel_shape {list(a['kernel_shape'])} disagrees with the weights' {kernel}")
    stride = pair_attr(node, a, "strides", 1)
    dilation = pair_attr(node, a, "dilations", 1)
    groups = int(a.get("group", 1))
    pads = explicit_pads(node, a, in_shape[1:], kernel, stride, dilation)
    t, left, b, r = pads
    if t == b and left == r:
        padding: Union[str, tuple[int, int]] = (t, left)
    elif pads == same_pads(in_shape[1:], kernel, stride, dilation, upper=True):
        padding = "same"
    else:
        raise unsupported(node, f"asymmetric padding (top, left, bottom, right) = {(t, left, b, r)}: only "
                                "symmetric pads or SAME_UPPER are supported")
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
         quant: Optional[QuantParams], name: Optional[str] = None) -> Data:
    geo = conv_geometry(node, a, x.shape, w.shape)
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


@op("Sigmoid")
def _sigmoid(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    imp.set(node.output[0], Data(imp.emit(node, L.Sigmoid(name=imp.name_for(node)), [x.tensor]), range=(0.0, 1.0)))


def softmax(imp: _Importer, node: Any, x: Data, axis: int, coerced: bool, name: str) -> Data:
    """Softmax of ``x`` over ONNX ``axis`` (``coerced``: opset < 13, over all axes from ``axis``
    on); done per sample when the reduced axes hold the whole sample."""
    rank = imp.rank(x)
    axis = imp.axis(node, axis, rank)
    if axis == 0:
        raise unsupported(node, "softmax over the batch axis")
    if (not coerced and axis != rank - 1) or int(np.prod(x.shape[:axis - 1], dtype=np.int64)) != 1:
        raise unsupported(node, f"softmax over axis {axis} of shape (batch, {', '.join(map(str, x.shape))}): "
                                "only over all of a sample's values (e.g. the last axis of a 2-D tensor)")
    flat = x if len(x.shape) == 1 else Data(imp.emit(node, L.Flatten(name=imp.fresh(f"{name}/flatten")),
                                                     [x.tensor]))
    soft_name = name if len(x.shape) == 1 else imp.fresh(f"{name}/softmax")
    y = Data(imp.emit(node, L.Softmax(name=soft_name), [flat.tensor]), range=(0.0, 1.0))
    return y if len(x.shape) == 1 else imp.reshape(node, y, x.shape, name)


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
    imp.set(node.output[0], imp.reshape(node, x, reshape_target(imp, node, x, [int(t) for t in target],
                                                                flag(node, a, "allowzero")),
                                        imp.name_for(node)))


def reshape_target(imp: _Importer, node: Any, x: Data, t: list[int], allowzero: bool) -> tuple[int, ...]:
    """The per-sample shape a Reshape to ``t`` gives, refusing one that moves the batch."""
    full = [None] + list(x.shape)  # None: the batch
    n = int(np.prod(x.shape, dtype=np.int64))
    if not t:
        raise unsupported(node, "a reshape to a scalar drops the batch dimension")
    if any(v < -1 for v in t) or t.count(-1) > 1:
        raise malformed(node, f"bad target shape {t}")
    if 0 in t:
        if allowzero:
            raise unsupported(node, f"allowzero=1 with a 0 in the shape {t}: empty tensors are not supported")
        if any(v == 0 and i >= len(full) for i, v in enumerate(t)):
            raise malformed(node, f"shape {t} copies a dimension the input (rank {len(full)}) lacks")
        t = [full[i] if v == 0 else v for i, v in enumerate(t)]
    first, rest = t[0], t[1:]
    known = int(np.prod([v for v in rest if v != -1], dtype=np.int64))
    if first is None or (imp.batch is not None and first == imp.batch):
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
    if int(np.prod(rest, dtype=np.int64)) != n:
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
    if axis != 1:
        raise unsupported(node, f"concatenation along axis {axis}; only the channel axis (1) is supported")
    check_concat_rank(imp, node, parts[0])
    t = imp.emit(node, L.Concat(name=imp.name_for(node)), [p.tensor for p in parts])
    ranges = [p.range for p in parts]
    joint = None if None in ranges else (min(r[0] for r in ranges), max(r[1] for r in ranges))  # type: ignore
    imp.set(node.output[0], Data(t, range=joint))


def check_concat_rank(imp: _Importer, node: Any, x: Data) -> None:
    # The runtime's concat step handles (batch, C) and (batch, C, H, W) only; other ranks
    # would be laid out wrongly.
    if len(x.shape) not in (1, 3):
        raise unsupported(node, f"inputs of rank {imp.rank(x)}: only (batch, C) and (batch, C, H, W) are "
                                "supported")


@op("Add")
def _add(imp: _Importer, node: Any, a: dict) -> None:
    va, vb = imp.value(node, 0), imp.value(node, 1)
    if isinstance(va, Data) and isinstance(vb, Data):
        x, y = imp.data(node, 0), imp.data(node, 1)
        if x.shape != y.shape:
            raise unsupported(node, f"broadcasting between two computed tensors ({x.shape} and {y.shape}): only "
                                    "equal shapes are supported")
        imp.set(node.output[0], Data(imp.emit(node, L.Add(name=imp.name_for(node)), [x.tensor, y.tensor])))
        return
    i = 0 if isinstance(va, Data) else 1
    x, c = imp.data(node, i), imp.const_float(node, 1 - i, "the added constant")
    assert c is not None
    layer = x.layer
    if layer is None or not imp.sole_use(x):
        raise unsupported(node, "adding a constant is supported only as the bias of the MatMul / Gemm / Conv "
                                "whose sole consumer this Add is")
    channels = layer.weight.shape[0]
    b = bias_vector(c, imp.rank(x), channels)
    if b is None:
        raise unsupported(node, f"a constant of shape {c.shape} is not one value per output channel of "
                                f"(batch, {', '.join(map(str, x.shape))})")
    new = b if layer.bias is None else (layer.bias + b).astype(np.float32)
    if not np.all(np.isfinite(new)):
        raise malformed(node, "the bias contains NaN or infinity")
    layer.bias = np.ascontiguousarray(new)
    imp.uses[node.input[i]] -= 1  # absorbed: a further bias Add may fold as well
    imp.set(node.output[0], x)


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
    x = imp.data(node, 0)
    w, w8, ws = weights(node, imp.value(node, 1), 0, "W")
    bias = imp.const_float(node, 2, "B")
    q = quant_params(node, x.q if not x.integer else None, w8, ws)
    imp.set(node.output[0], conv(imp, node, a, x, w, bias, q))


def pool_geometry(imp: _Importer, node: Any, a: dict, x: Data) -> tuple[tuple[int, int], tuple[int, int],
                                                                      tuple[int, int]]:
    """(kernel, stride, symmetric padding) of a MaxPool / AveragePool node."""
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
    if flag(node, a, "ceil_mode"):
        for size, k, s, p in zip(hw, kernel, stride, (t, left)):
            floor_out = (size + 2 * p - k) // s + 1
            ceil_out = -(-(size + 2 * p - k) // s) + 1
            if (ceil_out - 1) * s >= size + p:  # ONNX drops a last window that starts in the padding
                ceil_out -= 1
            if ceil_out != floor_out:
                raise unsupported(node, "ceil_mode=1 adds a partial window for this input size; only floor "
                                        "mode is supported")
    return kernel, stride, (t, left)


@op("MaxPool", "auto_pad:s ceil_mode:i dilations:ints kernel_shape:ints pads:ints storage_order:i strides:ints")
def _maxpool(imp: _Importer, node: Any, a: dict) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise unsupported(node, "the Indices output is not supported")
    x = imp.any_data(node, 0)
    kernel, stride, pad = pool_geometry(imp, node, a, x)
    layer = imp.layer(node, lambda: L.MaxPool2d(kernel, stride, pad, name=imp.name_for(node)))
    # The max of quantized values is the quantized max: an 8-bit input keeps its parameters.
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor]), q=x.q, integer=x.integer, range=x.range))


POOL_ATTRS = "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:ints pads:ints strides:ints"


@op("AveragePool", POOL_ATTRS + " dilations:ints")
def _avgpool(imp: _Importer, node: Any, a: dict) -> None:
    imp.set(node.output[0], avgpool(imp, node, a, imp.data(node, 0), imp.name_for(node)))


def avgpool(imp: _Importer, node: Any, a: dict, x: Data, name: str) -> Data:
    kernel, stride, pad = pool_geometry(imp, node, a, x)
    if flag(node, a, "count_include_pad") and pad != (0, 0):
        raise unsupported(node, "count_include_pad=1 with padding: only count_include_pad=0 is supported")
    layer = imp.layer(node, lambda: L.AvgPool2d(kernel, stride, pad, name=name))
    return Data(imp.emit(node, layer, [x.tensor]), range=x.range)


@op("GlobalAveragePool")
def _global_avgpool(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    if len(x.shape) != 3:
        raise unsupported(node, f"only 2-D pooling (NCHW input) is supported, got rank {imp.rank(x)}")
    t = imp.emit(node, L.GlobalAvgPool(name=imp.name_for(node, "pool")), [x.tensor])
    imp.set(node.output[0], imp.reshape(node, Data(t, range=x.range), (x.shape[0], 1, 1), imp.name_for(node)))


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
