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
* Graph inputs and outputs are float32; names are kept. A uint8 / int8 graph input (a
  camera frame) is taken when every reader is a ``DequantizeLinear`` with the same
  per-tensor scale / zero point initializers, or a ``Cast`` to float (scale 1, zero point
  0): it becomes a uint8 / int8 frugalnn input with those parameters (``Graph.input``).
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

Hostile files: every integer read from the model (dims, pads, strides, dilations, groups,
axes, shapes) is range-checked before any geometry is computed (sizes at most 2^24, as
the native program check allows). Node arity is checked against onnx's schemas.
External data is read only from regular files inside the model's folder. Constant
folding runs under a budget of values, work and time (``onnx_fold``). Whatever the file
holds, load_onnx returns a Graph or raises ValueError / NotImplementedError. It must not
crash, hang or exhaust memory, and tests/io/test_onnx_fuzz.py fuzzes it for that.
"""
from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Union

import numpy as np

from ..graph import layers as L
from ..graph.graph import Graph, Tensor
from ..graph.layers import GraphError
from .onnx_arity import check_arity
from .onnx_external import load_external_data
from .onnx_fold import FoldBudget, FoldRefused, evaluate
from .onnx_values import Data, QConst, QInfo, Value, attributes, malformed, to_float32, unsupported, where

OPSET_RANGE = (7, 28)  # default-domain opsets whose operator semantics this importer knows
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
            inconsistent shapes, sizes past 2^24, missing inputs or outputs, external data
            outside the model's folder), or a constant subgraph exceeds the folding budget.
            Errors about a node name it.
        TypeError: ``model`` is none of the accepted kinds.
        OSError: the file at ``model`` cannot be read.
    """
    onnx = require_onnx("load_onnx")
    proto, base_dir = _read_model(onnx, model)
    # A model's weights may be NaN / inf: arithmetic on them must not warn, since the layers
    # reject non-finite parameters with a ValueError naming the node anyway.
    with np.errstate(all="ignore"):
        return _Importer(onnx, proto, base_dir).run()


def require_onnx(who: str) -> Any:
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"{who} needs the onnx package: pip install 'frugalnn[onnx]' (or onnx)") from e
    return onnx


def _read_model(onnx: Any, model: ModelSource) -> tuple[Any, Optional[str]]:
    """(the ModelProto, the folder its external data may come from: None unless a path)."""
    from google.protobuf.message import DecodeError

    if isinstance(model, onnx.ModelProto):
        return model, None
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            return onnx.load_from_string(bytes(model)), None
        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
            # External data is read by onnx_external (inside the model's folder only), not
            # by onnx.load, whose checker raises its own exception type on bad paths.
            return onnx.load(path, load_external_data=False), os.path.dirname(os.path.abspath(path))
    except (DecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"load_onnx: not a valid ONNX model ({type(e).__name__}: {e})") from e
    raise TypeError(f"load_onnx: model must be a path, bytes or an onnx.ModelProto, got {type(model).__name__}")


# ---------------------------------------------------------------------------------------
# The importer

Handler = Callable[["_Importer", Any, dict], None]
_FLOAT_OPS: dict[tuple[str, str], tuple[Handler, dict[str, str]]] = {}


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
    from . import onnx_float_ops  # noqa: F401  (registers the float ops)
    from .onnx_quant import QUANT_OPS

    return {**_FLOAT_OPS, **QUANT_OPS}


# What a message of the load_onnx backstop says: an exception type the importer should
# have prevented reached its boundary. The fuzzers look for these words.
BACKSTOP_NOTE = "an unchecked case in frugalnn's ONNX importer: please report it"


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    """Any exception other than ValueError / NotImplementedError leaving the import of
    ``what`` (a node, an initializer, a graph input or output) becomes a ValueError that
    names it. That is only a backstop: the importer checks what it reads and raises
    the documented types itself."""
    try:
        yield
    except GraphError as e:  # a layer's refusal that no handler tied to its node yet
        raise ValueError(f"load_onnx: {what}: {e}") from e
    except (ValueError, NotImplementedError):
        raise
    except MemoryError as e:
        raise ValueError(f"load_onnx: {what}: ran out of memory importing it") from e
    except RecursionError as e:
        raise ValueError(f"load_onnx: {what}: nested too deeply to import") from e
    except Exception as e:
        raise ValueError(f"load_onnx: {what}: cannot be imported ({type(e).__name__}: {e}); "
                         f"{BACKSTOP_NOTE}") from e


class _Importer:
    def __init__(self, onnx: Any, model: Any, base_dir: Optional[str] = None) -> None:
        self.onnx = onnx
        self.model = model
        self.base_dir = base_dir
        self.fold_budget = FoldBudget()
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

    def _check_text(self) -> None:
        """Names and op types the importer reads must be text. protobuf hands a string
        field that is not valid UTF-8 over as bytes, which no lookup would expect."""
        def bad(v: Any) -> bool:
            return not isinstance(v, str)

        if any(bad(o.domain) for o in self.model.opset_import):
            raise ValueError("load_onnx: an opset domain is not valid UTF-8")
        for what, items in (("graph input", self.proto.input), ("graph output", self.proto.output),
                            ("initializer", self.proto.initializer)):
            for v in items:
                if bad(v.name):
                    raise ValueError(f"load_onnx: the name of a {what} ({v.name!r}) is not valid UTF-8")
        for node in self.proto.node:
            fields = [node.op_type, node.domain, node.name, *node.input, *node.output,
                      *(a.name for a in node.attribute)]
            if any(bad(v) for v in fields):
                raise malformed(node, "its op type, domain, name, an input, output or attribute name is not "
                                      "valid UTF-8")

    def run(self) -> Graph:
        self._check_text()
        with _boundary("external data"):
            load_external_data(self.onnx, self.model, self.base_dir)
        for t in self.proto.initializer:
            with _boundary(f"initializer '{t.name}'"):
                self.values[t.name] = self.tensor_array(t)
        if len(self.proto.sparse_initializer):
            raise NotImplementedError("load_onnx: sparse initializers are not supported")
        for vi in self.proto.input:
            if vi.name not in self.values:
                with _boundary(f"graph input '{vi.name}'"):
                    self._graph_input(vi)
        if not self.g.inputs:
            raise ValueError("load_onnx: the model has no (non-initializer) inputs")
        for node in self.proto.node:
            with _boundary(where(node)):
                self._node(node)
        with _boundary("the graph outputs"):
            self._graph_outputs()
        return self.g

    def tensor_array(self, t: Any) -> np.ndarray:
        """A TensorProto's values (ValueError when they cannot be read)."""
        if t.data_location == self.onnx.TensorProto.EXTERNAL:  # load_external_data read them all
            raise ValueError(f"load_onnx: tensor '{t.name}' has external data that was not read")
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
        tp = self.onnx.TensorProto
        if tt.elem_type not in (tp.FLOAT, tp.UINT8, tp.INT8):
            dtype = tp.DataType.Name(tt.elem_type)
            raise NotImplementedError(f"graph input '{name}' is {dtype}: frugalnn runs float32 inputs, and "
                                      "uint8 / int8 ones read by DequantizeLinear or Cast to float")
        quant = None if tt.elem_type == tp.FLOAT else self._input_quantization(name, tt.elem_type)
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
        if dims[0].HasField("dim_value") and dims[0].dim_value >= 1:  # 0 / -1: old exporters' "any"
            b = int(dims[0].dim_value)
            if self.batch is not None and b != self.batch:
                raise NotImplementedError(f"graph input '{name}': batch {b} differs from {self.batch}: all "
                                          "inputs share one batch dimension")
            self.batch = b
        try:
            if quant is None:
                t = self.g.input(name, [d.dim_value for d in dims[1:]])
            else:
                dt, scale, zp, _ = quant
                t = self.g.input(name, [d.dim_value for d in dims[1:]], dt, scale=scale, zero_point=zp)
        except (GraphError, TypeError) as e:
            raise ValueError(f"load_onnx: graph input '{name}': {e}") from e
        if quant is None:
            self.set(name, Data(t))
        elif quant[3]:  # read by Cast: the values themselves
            self.set(name, Data(t, range=(0.0, 255.0) if quant[0] == "uint8" else (-128.0, 127.0)))
        else:  # read by DequantizeLinear, which checks its parameters against these
            signed = quant[0] == "int8"
            q = QInfo(quant[1], quant[2] + (128 if signed else 0), signed)
            self.set(name, Data(t, q=q, integer=True, range=q.bounds()))

    def _input_quantization(self, name: str, elem_type: int) -> tuple[str, float, int, bool]:
        """(dtype, scale, zero point, read by Cast) of a uint8 / int8 graph input: every reader
        is a DequantizeLinear with the same per-tensor scale / zero point initializers, or a
        Cast to float (scale 1, zero point 0)."""
        tp = self.onnx.TensorProto
        dt = "uint8" if elem_type == tp.UINT8 else "int8"
        readers = [n for n in self.proto.node if name in n.input]
        found = set()
        for n in readers:
            domain_ok = n.domain in ("", "ai.onnx")
            if domain_ok and n.op_type == "DequantizeLinear" and list(n.input).count(name) == 1 and n.input[0] == name:
                scale = self.values.get(n.input[1]) if len(n.input) > 1 and n.input[1] else None
                zp = self.values.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
                if not (isinstance(scale, np.ndarray) and scale.size == 1 and
                        (zp is None or (isinstance(zp, np.ndarray) and zp.size == 1))):
                    raise NotImplementedError(f"graph input '{name}' ({dt}): its DequantizeLinear must take a "
                                              "per-tensor scale and zero point from initializers")
                if zp is not None and zp.dtype != np.dtype(dt):
                    raise ValueError(f"load_onnx: graph input '{name}' is {dt}, the zero point of its "
                                     f"DequantizeLinear {zp.dtype}")
                with np.errstate(over="ignore"):
                    s32 = float(np.float32(scale.reshape(-1)[0]))
                found.add((s32, 0 if zp is None else int(zp.reshape(-1)[0]), False))
            elif domain_ok and n.op_type == "Cast" and any(a.name == "to" and a.i == tp.FLOAT for a in n.attribute):
                found.add((1.0, 0, True))
            else:
                raise NotImplementedError(f"graph input '{name}' is {dt}: frugalnn takes it when read by "
                                          f"DequantizeLinear or Cast to float only, not by {n.op_type}")
        if name in self.outputs or len(found) != 1:
            raise NotImplementedError(f"graph input '{name}' is {dt}: it must be read, by DequantizeLinear with "
                                      "one scale / zero point or by Cast to float, and not be a graph output")
        scale, zp, cast = found.pop()
        return dt, scale, zp, cast

    def _node(self, node: Any) -> None:
        check_arity(self.onnx, node, self.opset)
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
        """Evaluate a node whose inputs are all constants with onnx's reference evaluator,
        under the model's folding budget."""
        outs = [o for o in node.output if o]
        try:
            results = evaluate(self.onnx, node, self.model.opset_import,
                               {i: self.values[i] for i in node.input if i}, self.fold_budget)
        except FoldRefused as e:
            raise malformed(node, f"its inputs are all constants, but {e}") from e
        except MemoryError as e:
            raise malformed(node, "its inputs are all constants, but evaluating it ran out of memory") from e
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
        name = self.g.unused_name(base, self.reserved)
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
        t = self.emit(node, self.layer(node, lambda: L.Reshape(shape, name=name)), [d.tensor])
        return Data(t, q=d.q, integer=d.integer, range=d.range)

    def rank(self, d: Data) -> int:
        """The ONNX rank (batch included)."""
        return len(d.shape) + 1

    def axis(self, node: Any, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise malformed(node, f"axis {axis} is out of range for rank {rank}")
        return axis % rank
