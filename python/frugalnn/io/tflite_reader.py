"""A small, bounds-checked reader of LiteRT / TensorFlow Lite flatbuffers (``.tflite``).

Why our own reader rather than the ``flatbuffers`` package or LiteRT's generated schema
module: frugalnn's only run-time dependency is numpy, and neither of those checks what
it reads. A flatbuffer is a web of 32-bit offsets; generated accessors follow them
blindly, so a hostile or truncated file makes them read past the end (IndexError /
struct.error at best), or take a length field of 2^32 at its word and allocate that.
Here every offset and length is range-checked against the buffer before it is followed,
and any violation is a ValueError naming what was being read. Vectors are numpy views of
the file's bytes (no copy, no allocation sized by a length field that was not checked).
The schema traversal is fixed (Model -> SubGraph -> Tensor / Operator -> options), never
recursive, so offsets that point back at themselves cannot loop.

Format, in brief (https://flatbuffers.dev/internals/): little-endian. The file starts with
the uoffset (u32) of the root table, then the 4-byte identifier ("TFL3"). A table starts
with an soffset (i32): its vtable lies at ``table - soffset``. A vtable is u16 words: its
own byte size, the table's inline byte size, then one slot per field id (0 = absent,
else the field's byte offset inside the table). A reference field (table, vector, string)
holds a uoffset relative to its own position. A vector is a u32 count then the elements;
a string is a vector of bytes (UTF-8 here). A union is two fields: a u8 type, then the
reference to the table.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from . import tflite_schema as S

_U8, _I8, _U16 = struct.Struct("<B"), struct.Struct("<b"), struct.Struct("<H")
_I32, _U32, _U64, _F32 = struct.Struct("<i"), struct.Struct("<I"), struct.Struct("<Q"), struct.Struct("<f")
_FORMATS = {"b": _I8, "B": _U8, "i": _I32, "I": _U32, "f": _F32, "Q": _U64}


def malformed(what: str) -> ValueError:
    return ValueError(f"load_tflite: not a valid TFLite model: {what}")


class Buf:
    """The file's bytes with checked little-endian reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = len(data)

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            raise malformed(f"{what} lies outside the file (bytes {pos}..{pos + size} of {self.n})")

    def read(self, fmt: struct.Struct, pos: int, what: str) -> Any:
        self.need(pos, fmt.size, what)
        return fmt.unpack_from(self.data, pos)[0]


class Table:
    """One flatbuffer table: its position and its (checked) vtable."""

    __slots__ = ("buf", "pos", "vt", "vt_size", "size", "what")

    def __init__(self, buf: Buf, pos: int, what: str) -> None:
        self.buf, self.pos, self.what = buf, pos, what
        vt = pos - buf.read(_I32, pos, what)
        vt_size = buf.read(_U16, vt, f"the vtable of {what}")
        size = buf.read(_U16, vt + 2, f"the vtable of {what}")
        if vt_size < 4 or vt_size % 2:
            raise malformed(f"the vtable of {what} has size {vt_size} (must be even and >= 4)")
        if size < 4:
            raise malformed(f"{what} has inline size {size} (must be >= 4)")
        buf.need(vt, vt_size, f"the vtable of {what}")
        buf.need(pos, size, what)
        self.vt, self.vt_size, self.size = vt, vt_size, size

    def _slot(self, fid: int, width: int, name: str) -> Optional[int]:
        """The absolute position of field ``fid`` (None when absent), checked to lie inside the table."""
        off = 4 + 2 * fid
        if off + 2 > self.vt_size:
            return None
        o = self.buf.read(_U16, self.vt + off, f"the vtable of {self.what}")
        if o == 0:
            return None
        if o + width > self.size:
            raise malformed(f"field {name} of {self.what} lies outside the table")
        return self.pos + o

    def scalar(self, fid: int, fmt: str, default: Union[int, float], name: str) -> Union[int, float]:
        f = _FORMATS[fmt]
        p = self._slot(fid, f.size, name)
        return default if p is None else self.buf.read(f, p, f"field {name} of {self.what}")

    def _ref(self, fid: int, name: str) -> Optional[int]:
        p = self._slot(fid, 4, name)
        if p is None:
            return None
        return p + self.buf.read(_U32, p, f"field {name} of {self.what}")

    def table(self, fid: int, name: str) -> Optional["Table"]:
        p = self._ref(fid, name)
        return None if p is None else Table(self.buf, p, f"{name} of {self.what}")

    def vector(self, fid: int, elem_size: int, name: str) -> Optional[tuple[int, int]]:
        """(position of the first element, count), checked to lie inside the file."""
        p = self._ref(fid, name)
        if p is None:
            return None
        n = self.buf.read(_U32, p, f"the length of {name} of {self.what}")
        self.buf.need(p + 4, n * elem_size, f"{name} of {self.what} ({n} elements)")
        return p + 4, n

    def array(self, fid: int, dtype: str, name: str) -> Optional[np.ndarray]:
        """A vector of scalars as a read-only numpy view of the file."""
        dt = np.dtype(dtype)
        v = self.vector(fid, dt.itemsize, name)
        if v is None:
            return None
        return np.frombuffer(self.buf.data, dt, v[1], v[0])

    def tables(self, fid: int, name: str) -> list["Table"]:
        """A vector of tables (empty when absent)."""
        v = self.vector(fid, 4, name)
        if v is None:
            return []
        start, n = v
        out = []
        for i in range(n):
            p = start + 4 * i
            out.append(Table(self.buf, p + self.buf.read(_U32, p, name), f"{name}[{i}] of {self.what}"))
        return out

    def string(self, fid: int, name: str) -> Optional[str]:
        v = self.vector(fid, 1, name)
        if v is None:
            return None
        try:
            return bytes(self.buf.data[v[0]:v[0] + v[1]]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise malformed(f"{name} of {self.what} is not UTF-8") from e

    def has(self, fid: int) -> bool:
        off = 4 + 2 * fid
        return off + 2 <= self.vt_size and self.buf.read(_U16, self.vt + off, self.what) != 0


# ---------------------------------------------------------------------------------------
# The schema's tables, as plain Python objects


@dataclass
class QuantT:
    scale: np.ndarray        # float32, 1 value (per tensor) or one per slice along ``axis``
    zero_point: np.ndarray   # int64, as many as scale
    axis: int


@dataclass
class TensorT:
    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    buffer: int
    quant: Optional[QuantT]
    shape_signature: Optional[tuple[int, ...]]
    sparse: bool
    external: bool
    is_variable: bool

    @property
    def type_name(self) -> str:
        return S.TENSOR_TYPES.get(self.type, (f"type {self.type}", None))[0]


@dataclass
class OperatorT:
    index: int
    opcode: int               # the builtin code; -1 for a custom op
    custom: Optional[str]     # the custom op's name
    inputs: tuple[int, ...]   # tensor indices; -1: an optional input left out
    outputs: tuple[int, ...]
    options_type: int
    options: Optional[Table]
    has_custom_options: bool
    name: str = field(default="")  # the op's name, filled by read_model

    def option(self, table: str, key: str) -> Union[int, float]:
        """One field of the operator's builtin options (the schema's default when absent)."""
        fid, fmt, default = S.OPTIONS[table][1][key]
        if self.options is None:
            return default
        return self.options.scalar(fid, fmt, default, key)


@dataclass
class SubGraphT:
    name: str
    tensors: list[TensorT]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: list[OperatorT]


@dataclass
class ModelT:
    version: int
    subgraphs: list[SubGraphT]
    buf: Buf
    buffers: list[Table]

    def buffer(self, index: int, what: str) -> Optional[memoryview]:
        """The bytes of buffer ``index`` (None when empty: a computed tensor's)."""
        if not 0 <= index < len(self.buffers):
            raise malformed(f"{what} names buffer {index}, the model has {len(self.buffers)}")
        b = self.buffers[index]
        v = b.vector(S.Buffer.DATA, 1, "data")
        if v is not None and v[1]:
            return memoryview(self.buf.data)[v[0]:v[0] + v[1]]
        # Large models (> 2 GiB) keep data after the flatbuffer: offset (from the file's
        # start) and size instead of a vector.
        offset = int(b.scalar(S.Buffer.OFFSET, "Q", 0, "offset"))
        size = int(b.scalar(S.Buffer.SIZE, "Q", 0, "size"))
        if offset <= 1:  # 0: no data; 1: the converter's placeholder for "data follows"
            return None
        self.buf.need(offset, size, f"the data of buffer {index}")
        return memoryview(self.buf.data)[offset:offset + size]


def _ints(t: Table, fid: int, name: str) -> tuple[int, ...]:
    a = t.array(fid, "<i4", name)
    return () if a is None else tuple(int(v) for v in a)


def _quant(t: Table, what: str) -> Optional[QuantT]:
    q = t.table(S.Tensor.QUANTIZATION, "quantization")
    if q is None:
        return None
    scale = q.array(S.Quantization.SCALE, "<f4", "scale")
    zp = q.array(S.Quantization.ZERO_POINT, "<i8", "zero_point")
    if q.has(S.Quantization.DETAILS_TYPE) and q.scalar(S.Quantization.DETAILS_TYPE, "B", 0, "details_type"):
        raise NotImplementedError(f"load_tflite: {what} uses custom quantization details; only affine "
                                  "(scale / zero point) quantization is supported")
    if scale is None or scale.size == 0:
        return None  # min / max only (a float tensor's recorded range): not quantized
    zp = np.zeros(scale.size, np.int64) if zp is None or zp.size == 0 else zp.astype(np.int64)
    if zp.size != scale.size:
        raise malformed(f"{what} has {scale.size} scales but {zp.size} zero points")
    axis = int(q.scalar(S.Quantization.QUANTIZED_DIMENSION, "i", 0, "quantized_dimension"))
    return QuantT(scale.astype(np.float32), zp, axis)


def _tensor(t: Table, index: int) -> TensorT:
    what = f"tensor {index}"
    name = t.string(S.Tensor.NAME, "name") or f"tensor_{index}"
    sig = t.array(S.Tensor.SHAPE_SIGNATURE, "<i4", "shape_signature")
    return TensorT(
        index=index, name=name, shape=_ints(t, S.Tensor.SHAPE, "shape"),
        type=int(t.scalar(S.Tensor.TYPE, "b", 0, "type")),
        buffer=int(t.scalar(S.Tensor.BUFFER, "I", 0, "buffer")),
        quant=_quant(t, f"{what} ('{name}')"),
        shape_signature=None if sig is None else tuple(int(v) for v in sig),
        sparse=t.has(S.Tensor.SPARSITY), external=bool(t.scalar(S.Tensor.EXTERNAL_BUFFER, "I", 0, "external_buffer")),
        is_variable=bool(t.scalar(S.Tensor.IS_VARIABLE, "B", 0, "is_variable")))


def _operator(t: Table, index: int, codes: list[tuple[int, Optional[str]]]) -> OperatorT:
    k = int(t.scalar(S.Operator.OPCODE_INDEX, "I", 0, "opcode_index"))
    if not 0 <= k < len(codes):
        raise malformed(f"operator {index} has opcode_index {k}, the model has {len(codes)} operator codes")
    code, custom = codes[k]
    opt_type = int(t.scalar(S.Operator.BUILTIN_OPTIONS_TYPE, "B", 0, "builtin_options_type"))
    return OperatorT(
        index=index, opcode=code, custom=custom,
        inputs=_ints(t, S.Operator.INPUTS, "inputs"), outputs=_ints(t, S.Operator.OUTPUTS, "outputs"),
        options_type=opt_type, options=t.table(S.Operator.BUILTIN_OPTIONS, "builtin_options") if opt_type else None,
        has_custom_options=t.has(S.Operator.CUSTOM_OPTIONS) or t.has(S.Operator.LARGE_CUSTOM_OPTIONS_OFFSET))


def _operator_code(t: Table) -> tuple[int, Optional[str]]:
    """(builtin code, custom name). Old files carry the code only in the deprecated byte;
    files since schema 3a carry it in builtin_code, with the byte saturated at 127."""
    deprecated = int(t.scalar(S.OperatorCode.DEPRECATED_BUILTIN_CODE, "b", 0, "deprecated_builtin_code"))
    code = int(t.scalar(S.OperatorCode.BUILTIN_CODE, "i", 0, "builtin_code"))
    code = max(deprecated, code)  # what LiteRT's GetBuiltinCode does
    if code == S.BUILTIN_OPS.index("CUSTOM"):
        return -1, t.string(S.OperatorCode.CUSTOM_CODE, "custom_code") or "?"
    return code, None


def read_model(data: bytes) -> ModelT:
    """Parse a .tflite flatbuffer (every offset checked; ValueError when malformed)."""
    buf = Buf(data)
    if buf.n < 8:
        raise malformed(f"{buf.n} bytes is too short for a flatbuffer")
    ident = bytes(data[4:8])
    if ident != S.FILE_IDENTIFIER:
        raise malformed(f"the file identifier is {ident!r}, expected {S.FILE_IDENTIFIER!r} (a LiteRT / TFLite "
                        "flatbuffer)")
    root = Table(buf, buf.read(_U32, 0, "the root offset"), "the model")
    version = int(root.scalar(S.Model.VERSION, "I", 0, "version"))
    if version != S.SCHEMA_VERSION:
        raise NotImplementedError(f"load_tflite: schema version {version}; supported: {S.SCHEMA_VERSION}")
    for fid, name in ((S.Model.EXTERNAL_BUFFER_GROUPS, "external buffer groups"),
                      (S.Model.EXTERNAL_BUFFERS, "external buffers")):
        if root.has(fid):
            raise NotImplementedError(f"load_tflite: the model uses {name}; only weights inside the file "
                                      "are supported")
    codes = [_operator_code(t) for t in root.tables(S.Model.OPERATOR_CODES, "operator_codes")]
    subgraphs = []
    for gi, g in enumerate(root.tables(S.Model.SUBGRAPHS, "subgraphs")):
        tensors = [_tensor(t, i) for i, t in enumerate(g.tables(S.SubGraph.TENSORS, "tensors"))]
        ops = [_operator(t, i, codes) for i, t in enumerate(g.tables(S.SubGraph.OPERATORS, "operators"))]
        for o in ops:
            o.name = o.custom if o.opcode < 0 else S.op_name(o.opcode)
        subgraphs.append(SubGraphT(g.string(S.SubGraph.NAME, "name") or f"subgraph {gi}", tensors,
                                   _ints(g, S.SubGraph.INPUTS, "inputs"), _ints(g, S.SubGraph.OUTPUTS, "outputs"),
                                   ops))
    if not subgraphs:
        raise malformed("the model has no subgraph")
    return ModelT(version, subgraphs, buf, root.tables(S.Model.BUFFERS, "buffers"))
