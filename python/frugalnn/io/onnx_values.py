"""What load_onnx tracks per ONNX tensor name (computed data, constants, quantized
constants), its error constructors and attribute parsing."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from ..graph import layers as L
from ..graph.graph import Tensor

_FLOAT_MAX = float(np.finfo(np.float32).max)

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
