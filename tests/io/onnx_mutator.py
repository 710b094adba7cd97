"""Structure-aware mutations of ONNX models, for tests/io/test_onnx_fuzz.py.

A mutant is a seed model with one to three field-level edits. Integers (attributes,
initializer dims and values, Constant values, graph input dims, opset versions) are set
to boundary values: 0, +-1, 2^24 +- 1, 2^31 - 1, 2^31, 2^62, 2^63 - 1, -2^63 and so on.
Structure is edited too: inputs or outputs removed, emptied, renamed or duplicated, ops
and domains swapped, nodes dropped, reordered or duplicated, attributes dropped, added or
retyped, initializer data truncated or retyped, values moved to external data (inside
and outside the model's folder, through symlinks, with bad offsets), and element types
changed. A few mutants are byte-level edits of the serialized model instead. Every edit
is applied to all graphs alike, so Loop bodies are mutated as well.

``mutant(seeds, seed, index)`` depends only on its arguments, so any case can be rebuilt
from the label the fuzzer prints.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

INT_BOUNDARY = [0, 1, -1, 2, 3, 7, 8, 255, 256, (1 << 24) - 1, 1 << 24, (1 << 24) + 1, (1 << 31) - 1, 1 << 31,
                -(1 << 31), 1 << 32, 1 << 40, 1 << 62, (1 << 63) - 1, -(1 << 63)]
FLOAT_BOUNDARY = [0.0, -0.0, 1.0, -1.0, 1e-45, 1e-30, 3.4e38, -3.4e38, 1e39, float("inf"), float("-inf"),
                  float("nan"), 0.5, 255.0]
OPS = ["Conv", "Relu", "Add", "Sub", "Mul", "Div", "MatMul", "Gemm", "MaxPool", "AveragePool", "GlobalAveragePool",
       "Flatten", "Reshape", "Concat", "Softmax", "Clip", "BatchNormalization", "Identity", "Sigmoid", "Dropout",
       "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConstantOfShape", "Loop", "Range",
       "Tile", "Expand", "Cast", "Shape", "Gather", "Transpose", "Unsqueeze", "Squeeze", "If", "Scan", "Pad",
       "Resize", "OneHot", "Einsum", "TopK", "NonZero", "Foo"]
DATA_TYPES = [TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32, TensorProto.INT8, TensorProto.UINT8,
              TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BOOL, TensorProto.STRING, TensorProto.BFLOAT16,
              0, 99]
EXTERNAL_FILE = "weights.bin"   # written beside the mutant, holding the tensor's bytes
OUTSIDE_FILE = "outside.bin"    # one folder up, holding the same bytes: must never be read
# Locations that escape the model's folder (link_out and link_dir are symlinks the fuzz
# worker creates inside the folder, pointing one level up).
ESCAPING = ["../" + OUTSIDE_FILE, "/etc/hostname", "sub/../../" + OUTSIDE_FILE, "link_out", "link_dir/" + OUTSIDE_FILE,
            "./../" + OUTSIDE_FILE]
OTHER_LOCATIONS = ["missing.bin", "", ".", "fifo", "sub", EXTERNAL_FILE + "\0x", "weights.bin/"]


@dataclass
class Mutant:
    data: bytes                       # the serialized model
    edits: list[str]                  # what was changed, for the failure message
    files: dict[str, bytes] = field(default_factory=dict)  # files beside the model
    outside: bytes = b""              # the contents of OUTSIDE_FILE (empty: not written)
    escapes: bool = False             # some external location leaves the folder


def _graphs(m: Any) -> list[Any]:
    out, stack = [], [m.graph]
    while stack:
        g = stack.pop()
        out.append(g)
        for n in g.node:
            for a in n.attribute:
                if a.type == AttributeProto.GRAPH:
                    stack.append(a.g)
                stack.extend(a.graphs)
    return out


def _nodes(m: Any) -> list[tuple[Any, Any]]:
    return [(g, n) for g in _graphs(m) for n in g.node]


def _int_value(rng: random.Random) -> int:
    return rng.choice(INT_BOUNDARY) if rng.random() < 0.8 else rng.randint(-3, 12)


def _pick(rng: random.Random, items: list) -> Any:
    return rng.choice(items) if items else None


class _Mutator:
    def __init__(self, rng: random.Random, model: Any) -> None:
        self.rng = rng
        self.m = model
        self.files: dict[str, bytes] = {}
        self.outside = b""
        self.escapes = False

    # -- attributes -------------------------------------------------------------------

    def attr_int(self) -> str:
        attrs = [(n, a) for _, n in _nodes(self.m) for a in n.attribute if a.type in (AttributeProto.INT,
                                                                                   AttributeProto.INTS)]
        if not attrs:
            return self.node_inputs()
        n, a = self.rng.choice(attrs)
        v = _int_value(self.rng)
        if a.type == AttributeProto.INT:
            a.i = v
        elif len(a.ints) and self.rng.random() < 0.8:
            a.ints[self.rng.randrange(len(a.ints))] = v
        else:
            op = self.rng.choice(["append", "pop", "clear"])
            if op == "append":
                a.ints.append(v)
            elif op == "pop" and len(a.ints):
                a.ints.pop()
            else:
                del a.ints[:]
        return f"{n.op_type} '{n.name}' attribute {a.name} -> {v}"

    def attr_float(self) -> str:
        attrs = [(n, a) for _, n in _nodes(self.m) for a in n.attribute if a.type == AttributeProto.FLOAT]
        if not attrs:
            return self.tensor_values()
        n, a = self.rng.choice(attrs)
        a.f = self.rng.choice(FLOAT_BOUNDARY)
        return f"{n.op_type} '{n.name}' attribute {a.name} -> {a.f}"

    def attr_shape(self) -> str:
        """Drop, add or retype an attribute."""
        _, n = self.rng.choice(_nodes(self.m))
        op = self.rng.choice(["drop", "add", "retype", "auto_pad"])
        if op == "drop" and len(n.attribute):
            k = self.rng.randrange(len(n.attribute))
            name = n.attribute[k].name
            del n.attribute[k]
            return f"{n.op_type} '{n.name}' attribute {name} dropped"
        if op == "retype" and len(n.attribute):
            a = n.attribute[self.rng.randrange(len(n.attribute))]
            new = self.rng.choice([AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING,
                                   AttributeProto.INTS, AttributeProto.TENSOR, AttributeProto.GRAPH, 0])
            a.type = new
            return f"{n.op_type} '{n.name}' attribute {a.name} retyped to {new}"
        if op == "auto_pad":
            mode = self.rng.choice([b"SAME_UPPER", b"SAME_LOWER", b"VALID", b"NOTSET", b"bogus", b"\xff"])
            n.attribute.append(onnx.helper.make_attribute("auto_pad", mode))
            return f"{n.op_type} '{n.name}' auto_pad {mode!r}"
        name = self.rng.choice(["group", "pads", "strides", "dilations", "kernel_shape", "axis", "ceil_mode",
                                "count_include_pad", "transA", "transB", "foo", "allowzero", "to", "epsilon"])
        value = self.rng.choice([_int_value(self.rng), [_int_value(self.rng)] * self.rng.choice([1, 2, 4]),
                                 self.rng.choice(FLOAT_BOUNDARY), "x"])
        n.attribute.append(onnx.helper.make_attribute(name, value))
        return f"{n.op_type} '{n.name}' attribute {name} = {value!r} added"

    # -- tensors ----------------------------------------------------------------------

    def _tensors(self) -> list[tuple[str, Any]]:
        """(where, TensorProto) of initializers and Constant values, all graphs."""
        out = []
        for g in _graphs(self.m):
            out += [(f"initializer '{t.name}'", t) for t in g.initializer]
            for n in g.node:
                out += [(f"{n.op_type} '{n.name}' value", a.t) for a in n.attribute if a.type == AttributeProto.TENSOR]
        return out

    def tensor_values(self) -> str:
        """Elements of an integer or float tensor set to boundary values (consistent bytes)."""
        where, t = _pick(self.rng, self._tensors()) or (None, None)
        if t is None:
            return self.node_inputs()
        try:
            a = numpy_helper.to_array(t).copy()
        except Exception:  # noqa: BLE001 - an already mutated tensor: edit something else
            return self.node_inputs()
        if a.size == 0:
            return self.node_inputs()
        flat = a.reshape(-1)
        i = self.rng.randrange(flat.size)
        if a.dtype.kind in "iu":
            info = np.iinfo(a.dtype)
            v = max(min(_int_value(self.rng), int(info.max)), int(info.min))
        elif a.dtype.kind == "f":
            v = self.rng.choice(FLOAT_BOUNDARY)
        else:
            v = not bool(flat[i])
        with np.errstate(all="ignore"):
            flat[i] = v
        t.CopyFrom(numpy_helper.from_array(a, t.name))
        return f"{where}[{i}] -> {v}"

    def tensor_layout(self) -> str:
        """Dims, data type or raw bytes changed without the rest following."""
        where, t = _pick(self.rng, self._tensors()) or (None, None)
        if t is None:
            return self.node_inputs()
        op = self.rng.choice(["dim", "add_dim", "drop_dim", "dtype", "truncate", "extend", "field"])
        if op == "dim" and len(t.dims):
            t.dims[self.rng.randrange(len(t.dims))] = _int_value(self.rng)
        elif op == "add_dim":
            t.dims.append(self.rng.choice([1, 2, 1 << 31, 1 << 62, 0]))
        elif op == "drop_dim" and len(t.dims):
            del t.dims[-1]
        elif op == "dtype":
            t.data_type = self.rng.choice(DATA_TYPES)
        elif op == "truncate" and t.raw_data:
            t.raw_data = t.raw_data[:self.rng.randrange(len(t.raw_data))]
        elif op == "extend":
            t.raw_data = t.raw_data + bytes(self.rng.choice([1, 3, 4, 8, 64]))
        else:  # values in a typed field as well as in raw_data
            t.float_data.extend([1.0, 2.0])
            t.int64_data.extend([1 << 62])
        return f"{where} {op}"

    def external(self) -> str:
        """A tensor's bytes moved to an external file: beside the model (valid or with bad
        offsets), outside its folder (directly, via .. or a symlink), or nowhere."""
        where, t = _pick(self.rng, [(w, t) for w, t in self._tensors() if t.raw_data]) or (None, None)
        if t is None:
            return self.node_inputs()
        raw = bytes(t.raw_data)
        kind = self.rng.choice(["inside", "inside", "escape", "escape", "other", "offsets", "keys"])
        location, entries = EXTERNAL_FILE, {}
        if kind == "escape":
            location = self.rng.choice(ESCAPING)
            self.escapes = True
        elif kind == "other":
            location = self.rng.choice(OTHER_LOCATIONS)
        elif kind == "offsets":
            entries = {"offset": str(self.rng.choice(INT_BOUNDARY + [len(raw)])),
                       "length": str(self.rng.choice(INT_BOUNDARY + [len(raw), len(raw) + 1]))}
        elif kind == "keys":
            entries = self.rng.choice([{"offset": "abc"}, {"length": "-5"}, {"bogus": "1"}, {"checksum": "0"},
                                       {"offset": "1e3"}])
        self.files[EXTERNAL_FILE] = b"\0" * 64 + raw if kind == "offsets" else raw
        self.outside = raw
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in {"location": location, **entries}.items():
            e = t.external_data.add()
            e.key, e.value = k, v
        return f"{where} external: {location!r} {entries}"

    # -- nodes ------------------------------------------------------------------------

    def _names(self) -> list[str]:
        names = {i for _, n in _nodes(self.m) for i in list(n.input) + list(n.output)}
        return sorted(names | {t.name for g in _graphs(self.m) for t in g.initializer}) or ["x"]

    def node_inputs(self) -> str:
        _, n = self.rng.choice(_nodes(self.m))
        op = self.rng.choice(["drop", "empty", "undefined", "duplicate", "swap", "other", "add"])
        if op == "drop" and len(n.input):
            del n.input[self.rng.randrange(len(n.input))]
        elif op == "empty" and len(n.input):
            n.input[self.rng.randrange(len(n.input))] = ""
        elif op == "undefined" and len(n.input):
            n.input[self.rng.randrange(len(n.input))] = "nowhere"
        elif op == "duplicate" and len(n.input):
            n.input.append(n.input[self.rng.randrange(len(n.input))])
        elif op == "swap" and len(n.input) > 1:
            i, j = self.rng.sample(range(len(n.input)), 2)
            n.input[i], n.input[j] = n.input[j], n.input[i]
        elif op == "other" and len(n.input):
            n.input[self.rng.randrange(len(n.input))] = self.rng.choice(self._names())
        else:
            n.input.append(self.rng.choice(self._names() + [""]))
        return f"{n.op_type} '{n.name}' inputs {op}: {list(n.input)}"

    def node_outputs(self) -> str:
        _, n = self.rng.choice(_nodes(self.m))
        op = self.rng.choice(["clear", "empty", "rename", "existing", "add"])
        if op == "clear":
            del n.output[:]
        elif op == "empty" and len(n.output):
            n.output[0] = ""
        elif op == "rename" and len(n.output):
            n.output[0] = n.output[0] + "_renamed"
        elif op == "existing" and len(n.output):
            n.output[0] = self.rng.choice(self._names())
        else:
            n.output.append(self.rng.choice(["extra", ""] + self._names()))
        return f"{n.op_type} '{n.name}' outputs {op}: {list(n.output)}"

    def node_kind(self) -> str:
        _, n = self.rng.choice(_nodes(self.m))
        old = n.op_type
        if self.rng.random() < 0.8:
            n.op_type = self.rng.choice(OPS)
            return f"{old} '{n.name}' -> op {n.op_type}"
        n.domain = self.rng.choice(["com.microsoft", "ai.onnx", "bogus", "ai.onnx.ml"])
        return f"{old} '{n.name}' -> domain {n.domain}"

    def node_order(self) -> str:
        g = self.rng.choice(_graphs(self.m))
        if not len(g.node):
            return self.node_inputs()
        op = self.rng.choice(["drop", "swap", "duplicate"])
        i = self.rng.randrange(len(g.node))
        if op == "drop":
            del g.node[i]
        elif op == "swap" and len(g.node) > 1:
            j = self.rng.randrange(len(g.node))
            a, b = onnx.NodeProto(), onnx.NodeProto()
            a.CopyFrom(g.node[i])
            b.CopyFrom(g.node[j])
            g.node[i].CopyFrom(b)
            g.node[j].CopyFrom(a)
        else:
            g.node.add().CopyFrom(g.node[i])
        return f"node {i} of graph '{g.name}' {op}"

    # -- graph I/O and opset ------------------------------------------------------------

    def graph_io(self) -> str:
        g = self.m.graph
        op = self.rng.choice(["in_dim", "in_dim", "batch_dim", "in_param", "in_type", "in_drop", "in_rank",
                              "out_type", "out_name", "out_drop", "out_dim", "out_extra"])
        vi = g.input[0] if len(g.input) else None
        if (op.startswith("in") or op == "batch_dim") and vi is None:
            return self.node_inputs()
        if op in ("in_dim", "batch_dim"):
            dims = vi.type.tensor_type.shape.dim
            if len(dims):
                k = 0 if op == "batch_dim" else self.rng.randrange(len(dims))
                dims[k].dim_value = _int_value(self.rng)
        elif op == "in_param":
            dims = vi.type.tensor_type.shape.dim
            if len(dims) > 1:
                dims[self.rng.randrange(1, len(dims))].dim_param = "D"
        elif op == "in_type":
            vi.type.tensor_type.elem_type = self.rng.choice(DATA_TYPES)
        elif op == "in_drop":
            del g.input[0]
        elif op == "in_rank":
            dims = vi.type.tensor_type.shape.dim
            if self.rng.random() < 0.5 and len(dims):
                del dims[-1]
            else:
                dims.add().dim_value = self.rng.choice([1, 2, 3])
        elif not len(g.output):
            return self.node_inputs()
        elif op == "out_type":
            g.output[0].type.tensor_type.elem_type = self.rng.choice(DATA_TYPES)
        elif op == "out_name":
            g.output[0].name = self.rng.choice(self._names() + ["nowhere", ""])
        elif op == "out_drop":
            del g.output[-1]
        elif op == "out_dim":
            shape = g.output[0].type.tensor_type.shape
            shape.dim.add().dim_value = _int_value(self.rng)
        else:
            g.output.add().CopyFrom(onnx.helper.make_tensor_value_info(self.rng.choice(self._names()),
                                                                       TensorProto.FLOAT, None))
        return f"graph {op}"

    def opset(self) -> str:
        o = self.m.opset_import[self.rng.randrange(len(self.m.opset_import))]
        o.version = self.rng.choice([0, 1, 6, 7, 10, 11, 12, 13, 14, 18, 21, 22, 28, 29, 1 << 31, (1 << 63) - 1])
        if self.rng.random() < 0.2:
            o.domain = self.rng.choice(["", "ai.onnx", "com.microsoft", "bogus"])
        return f"opset {o.domain!r} -> {o.version}"


_OPERATORS: list[tuple[Callable[[_Mutator], str], int]] = [
    (_Mutator.attr_int, 24), (_Mutator.attr_float, 4), (_Mutator.attr_shape, 8), (_Mutator.tensor_values, 14),
    (_Mutator.tensor_layout, 8), (_Mutator.external, 6), (_Mutator.node_inputs, 8), (_Mutator.node_outputs, 5),
    (_Mutator.node_kind, 6), (_Mutator.node_order, 4), (_Mutator.graph_io, 9), (_Mutator.opset, 3)]


def mutant(seeds: list[tuple[str, Any, bool]], seed: int, index: int) -> tuple[str, bool, Mutant]:
    """(seed model's name, whether it is quantized, mutant ``index`` of fuzz seed ``seed``)."""
    rng = random.Random(seed * 1_000_003 + index)
    name, model, quantized = seeds[index % len(seeds)]
    m = onnx.ModelProto()
    m.CopyFrom(model)
    mut = _Mutator(rng, m)
    edits = []
    if rng.random() < 0.05:  # byte level: the protobuf decoder's and the importer's business
        data = bytearray(m.SerializeToString())
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)):]
        return name, quantized, Mutant(bytes(data), ["byte edits"])
    ops, weights = zip(*_OPERATORS)
    for _ in range(rng.choices([1, 2, 3], weights=[60, 25, 15])[0]):
        edits.append(rng.choices(ops, weights=weights)[0](mut))
    return name, quantized, Mutant(m.SerializeToString(), edits, mut.files, mut.outside, mut.escapes)


def all_mutants(seeds: list, seed: int, count: int) -> Iterator[tuple[int, str, bool, Mutant]]:
    for i in range(count):
        yield (i, *mutant(seeds, seed, i))
