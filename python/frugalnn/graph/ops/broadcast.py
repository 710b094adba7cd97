"""Binary element-wise ops with numpy broadcasting, and Transpose: one native step kind,
``broadcast``, that reads each operand through strides over the output's stored dims.

* ``Binary("mul")`` of two computed tensors, e.g. a squeeze-and-excitation gate (C, 1, 1)
  times its (C, H, W) map, or SiLU's ``x * sigmoid(x)``; ONNX Add / Sub / Mul / Div / Max /
  Min / Pow / PRelu where the operands' shapes differ or both are computed.
* ``Binary("sub", constant)`` with a constant of any broadcastable shape, e.g. a (1, 1, 3)
  normalization of an NHWC image (one value, or one per channel, folds into a ScaleShift
  instead: see io/onnx_float_ops.py).
* ``Transpose(perm)`` over a sample's axes (the batch stays first): a strided copy.

A (C, H, W) tensor is stored channels-last (compile.py); the lowering turns every operand's
logical axes into strides over the output's stored order, drops size-1 dims and merges
dims that every operand walks contiguously, so an SE gate runs as HW rows of a C-long
vector product and a same-shape product as one flat loop.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from ... import _core
from ...io.onnx_export import register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data, malformed, to_float32, unsupported
from ...reference import register_forward
from ..compile import _spatial, register_lowering
from ..layers import GraphError, Layer
from ..limits import MAX_RANK

__all__ = ["Binary", "Transpose"]

# The step's op codes (csrc/runtime/steps/broadcast.h, BroadcastOp): stored in .fnn files.
OPS = {"copy": 0, "add": 1, "sub": 2, "mul": 3, "div": 4, "max": 5, "min": 6, "pow": 7, "prelu": 8}
_NUMPY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "max": np.maximum,
    "min": np.minimum, "pow": np.power, "prelu": lambda a, b: np.where(a < 0, a * b, a),
}
_ONNX = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min", "pow": "Pow",
         "prelu": "PRelu"}
_MAX_STEP_RANK = 6  # dims of the native step after merging


class Binary(Layer):
    """``y = a <fn> b`` with numpy broadcasting of the per-sample shapes.

    Args:
        fn: "add", "sub", "mul", "div", "max", "min", "pow" or "prelu" (``a < 0 ? a * b : a``).
        constant: b as a per-sample constant (float32, any shape that broadcasts against a);
            None: b is the layer's second input.
        constant_first: the constant is the first operand (``c - x``, ``c / x``).
    """

    op = "binary"

    def __init__(self, fn: str, constant: Optional[np.ndarray] = None, *, constant_first: bool = False,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        if fn not in _NUMPY:
            raise GraphError(f"{self._label()}: fn must be one of {sorted(_NUMPY)}, got {fn!r}")
        self.fn = fn
        self.constant = None
        if constant is not None:
            c = np.asarray(constant)
            if c.dtype.kind not in "fiu" or c.ndim > MAX_RANK:
                raise GraphError(f"{self._label()}: the constant must be a numeric array of rank <= {MAX_RANK}")
            c = np.ascontiguousarray(c, np.float32)
            if c.size == 0:
                raise GraphError(f"{self._label()}: the constant is empty")
            self.constant = c
        elif constant_first:
            raise GraphError(f"{self._label()}: constant_first needs a constant")
        self.constant_first = bool(constant_first)
        self.arity = 1 if self.constant is not None else 2

    def infer(self, shapes):
        ins = list(shapes) + ([self.constant.shape] if self.constant is not None else [])
        if len(ins) != 2:
            raise GraphError(f"{self._label()}: takes {1 if self.constant is not None else 2} input(s), "
                             f"got {len(shapes)}")
        try:
            out = np.broadcast_shapes(*ins)
        except ValueError:
            raise GraphError(f"{self._label()}: shapes {ins[0]} and {ins[1]} do not broadcast") from None
        if len(out) == 0:
            raise GraphError(f"{self._label()}: a sample must keep at least one axis")
        return tuple(out)

    def operands(self, xs: list) -> tuple:
        """(a, b) from the inputs (the constant in its place)."""
        if self.constant is None:
            return xs[0], xs[1]
        return (self.constant, xs[0]) if self.constant_first else (xs[0], self.constant)


class Transpose(Layer):
    """Permute a sample's axes: output axis i is input axis ``perm[i]`` (ONNX Transpose
    without the batch: its perm[1:] - 1)."""

    op = "transpose"

    def __init__(self, perm: Sequence[int], *, name: Optional[str] = None) -> None:
        super().__init__(name)
        p = tuple(int(v) for v in perm)
        if sorted(p) != list(range(len(p))) or not p:
            raise GraphError(f"{self._label()}: perm must be a permutation of 0..rank-1, got {list(perm)}")
        self.perm = p

    def infer(self, shapes):
        (s,) = shapes
        if len(s) != len(self.perm):
            raise GraphError(f"{self._label()}: perm {list(self.perm)} for a rank-{len(s)} sample")
        return tuple(s[p] for p in self.perm)


# ---------------------------------------------------------------------------------------
# Lowering: strides over the output's stored order


def stored_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """Element strides of each logical axis of a sample as compile stores it (a spatial
    (C, H, W) channels-last, anything else row-major)."""
    if _spatial(shape):
        c, h, w = shape
        return (1, w * c, c)
    return _row_major(shape)


def _broadcast_strides(shape, strides, out_shape) -> list[int]:
    """Strides of an operand along each output axis (right-aligned; 0 where it broadcasts)."""
    r = len(out_shape) - len(shape)
    return [0 if i < r or shape[i - r] == 1 else strides[i - r] for i in range(len(out_shape))]


def step_dims(out_shape, operands: list[list[int]], label: str) -> tuple[list[int], list[list[int]]]:
    """(dims, per-operand strides) in the output's stored order, size-1 dims dropped and
    dims every operand walks contiguously merged."""
    order = (1, 2, 0) if _spatial(out_shape) else tuple(range(len(out_shape)))
    dims = [out_shape[o] for o in order]
    strides = [[s[o] for o in order] for s in operands]
    keep = [i for i, d in enumerate(dims) if d != 1]
    dims, strides = [dims[i] for i in keep], [[s[i] for i in keep] for s in strides]
    merged_dims: list[int] = []
    merged: list[list[int]] = [[] for _ in strides]
    for i, d in enumerate(dims):
        if merged_dims and all(m[-1] == s[i] * d for m, s in zip(merged, strides)):
            merged_dims[-1] *= d
            for m, s in zip(merged, strides):
                m[-1] = s[i]
            continue
        merged_dims.append(d)
        for m, s in zip(merged, strides):
            m.append(s[i])
    if not merged_dims:
        return [1], [[0] for _ in strides]
    if len(merged_dims) > _MAX_STEP_RANK:
        raise GraphError(f"{label}: needs {len(merged_dims)} strided dims; the runtime handles up to "
                         f"{_MAX_STEP_RANK}")
    return merged_dims, merged


@register_lowering(Binary)
def _lower_binary(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    g = compiler.g
    out_shape = g.shapes[node.output]
    # The step's operand a is its first input; b its second, or the constant (stored row-major,
    # as given). A constant first operand swaps them (the step then computes fn(b, a)).
    ops = [(compiler.tid[i], g.shapes[i], stored_strides(g.shapes[i])) for i in node.inputs]
    if layer.constant is not None:
        ops.append((None, layer.constant.shape, _row_major(layer.constant.shape)))
    strides = [_broadcast_strides(s, st, out_shape) for _, s, st in ops]
    dims, (sa, sb) = step_dims(out_shape, strides, layer.name)
    params = _core.BroadcastParams(
        op=OPS[layer.fn], dims=dims, a_strides=sa, b_strides=sb, a_sample=math.prod(ops[0][1]),
        b_sample=0 if ops[1][0] is None else math.prod(ops[1][1]), swap=layer.constant_first,
        constant=None if layer.constant is None else layer.constant.reshape(-1))
    inputs = [t for t, _, _ in ops if t is not None]
    compiler.core.add_step("broadcast", layer.name, inputs, compiler.writes(out_name), params, lo=lo, hi=hi)


def _row_major(shape) -> tuple[int, ...]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


@register_lowering(Transpose)
def _lower_transpose(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    out_shape = compiler.g.shapes[node.output]
    if node.inputs[0] in compiler.row_major and layer.perm == (2, 0, 1):
        # An (H, W, C) input given row-major is the (C, H, W) output's channels-last bytes
        # (or, with C or H x W = 1, its row-major ones): the same buffer, no copy.
        compiler.tid[out_name] = compiler.core.add_tensor(compiler.elems(out_name), False, x)
        return
    st = stored_strides(in_shape) if compiler.stored_nhwc(node.inputs[0]) else _row_major(in_shape)
    dims, (sa, sb) = step_dims(out_shape, [[st[p] for p in layer.perm], [0] * len(out_shape)], layer.name)
    params = _core.BroadcastParams(op=OPS["copy"], dims=dims, a_strides=sa, b_strides=sb,
                                   a_sample=math.prod(in_shape), b_sample=0)
    compiler.core.add_step("broadcast", layer.name, [x], compiler.writes(out_name), params)


# ---------------------------------------------------------------------------------------
# Reference forward and ONNX export


@register_forward("binary")
def _forward_binary(xs, layer, out_shape):
    a, b = layer.operands(list(xs))
    with np.errstate(all="ignore"):  # x / 0, 0 ** -1, overflow: IEEE results, as the runtime's
        return _NUMPY[layer.fn](np.asarray(a, np.float64), np.asarray(b, np.float64))


@register_forward("transpose")
def _forward_transpose(xs, layer, out_shape):
    return np.transpose(xs[0], (0,) + tuple(p + 1 for p in layer.perm))


@register_exporter(Binary)
def _export_binary(ex: Any, layer: Binary, x: list, y: str) -> None:
    ins = list(x)
    if layer.constant is not None:
        c = ex.const(f"{y}_constant", layer.constant)
        ins = [c] + ins if layer.constant_first else ins + [c]
    ex.node(_ONNX[layer.fn], ins, [y])


@register_exporter(Transpose)
def _export_transpose(ex: Any, layer: Transpose, x: list, y: str) -> None:
    ex.node("Transpose", x, [y], perm=[0] + [p + 1 for p in layer.perm])


# ---------------------------------------------------------------------------------------
# ONNX import (Add / Sub / Mul / Div of computed tensors or odd constants come here from
# io/onnx_float_ops.py; a scalar or per-channel constant stays a ScaleShift there)


def per_sample_constant(imp: _Importer, node: Any, c: np.ndarray, rank: int) -> np.ndarray:
    """A constant operand of a computed tensor of ONNX rank ``rank`` (batch included) as a
    per-sample array: its leading batch axis (size 1) dropped."""
    c = to_float32(node, np.asarray(c), "the constant operand")
    if c.ndim > rank:  # the result gains axes in front of the batch axis: not a per-sample op
        raise unsupported(node, f"a constant of shape {c.shape} has more axes than the rank-{rank} tensor it "
                                "meets: the result would put new axes before the batch axis")
    if c.ndim == rank:
        if c.shape[0] != 1:
            raise unsupported(node, f"a constant of shape {c.shape} varies along the batch axis of a rank-{rank} "
                                    "tensor: only constants the same for every sample are supported")
        c = c.reshape(c.shape[1:])
    return c


def import_binary(imp: _Importer, node: Any, fn: str, i: int = 0, j: int = 1) -> Data:
    """A Binary layer for ``input i <fn> input j`` (computed tensors or one constant)."""
    u, v = imp.value(node, i), imp.value(node, j)
    name = imp.name_for(node)
    if isinstance(u, Data) and isinstance(v, Data):
        a, b = imp.data(node, i), imp.data(node, j)
        if imp.rank(a) != imp.rank(b):
            # ONNX aligns trailing axes: the lower-rank tensor's batch axis would meet one of
            # the other's per-sample axes, a result that changes with the batch size.
            raise unsupported(node, f"operands of rank {imp.rank(a)} and {imp.rank(b)}: broadcasting two computed "
                                    "tensors of different ranks lines one's batch axis up with the other's data")
        return Data(imp.emit(node, imp.layer(node, lambda: Binary(fn, name=name)), [a.tensor, b.tensor]))
    k = i if isinstance(u, Data) else j
    x = imp.data(node, k)
    c = imp.const_float(node, j if k == i else i, "the constant operand")
    if c is None:
        raise malformed(node, "both operands are required")
    c = per_sample_constant(imp, node, c, imp.rank(x))
    layer = imp.layer(node, lambda: Binary(fn, c, constant_first=k != i, name=name))
    return Data(imp.emit(node, layer, [x.tensor]))


def import_mul(imp: _Importer, node: Any) -> None:
    """Mul of two computed tensors: ``x * sigmoid(x)`` (SiLU, as exporters write it) becomes
    one Unary("silu") when the sigmoid feeds nothing else, and a QDQ model's
    ``x * DQ(Q(sigmoid(x)))`` one Unary("silu_quantized_gate") with the gate's parameters;
    any other pair a Binary."""
    from .sigmoid import Sigmoid
    from .unary import Unary

    a, b = imp.data(node, 0), imp.data(node, 1)
    for x, s in ((a, b), (b, a)):
        if not imp.sole_use(s) or s.tensor.name in imp.g.outputs:
            continue
        producer = _producer(imp, s.tensor.name)
        if producer is not None and isinstance(producer.layer, Sigmoid) and producer.inputs[0] == x.tensor.name:
            _drop(imp, producer)  # the sigmoid is folded into the SiLU: nothing else reads it
            imp.set(node.output[0], Data(imp.emit(node, Unary("silu", name=imp.name_for(node)), [x.tensor])))
            return
        if producer is not None and getattr(producer.layer, "fn", None) == "quantize_dequantize":
            sigmoid = _producer(imp, producer.inputs[0])
            if (sigmoid is not None and isinstance(sigmoid.layer, Sigmoid) and sigmoid.inputs[0] == x.tensor.name
                    and _read_only_by(imp, sigmoid.output, producer)):
                gate = producer.layer
                _drop(imp, producer)
                _drop(imp, sigmoid)
                layer = Unary("silu_quantized_gate", gate.alpha, gate.beta, name=imp.name_for(node))
                imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor])))
                return
    imp.set(node.output[0], import_binary(imp, node, "mul"))


def _drop(imp: _Importer, node) -> None:
    """Remove a node whose output nothing else reads (folded into the node being imported)."""
    imp.g.nodes.remove(node)
    del imp.g.shapes[node.output]


def _read_only_by(imp: _Importer, name: str, reader) -> bool:
    return name not in imp.g.outputs and all(n is reader for n in imp.g.nodes if name in n.inputs)


def _producer(imp: _Importer, name: str):
    for n in reversed(imp.g.nodes):
        if n.output == name:
            return n
    return None


@op("Max")
def _max(imp: _Importer, node: Any, a: dict) -> None:
    _variadic(imp, node, "max")


@op("Min")
def _min(imp: _Importer, node: Any, a: dict) -> None:
    _variadic(imp, node, "min")


def _variadic(imp: _Importer, node: Any, fn: str) -> None:
    """Max / Min of any number of inputs, as a chain of Binary layers."""
    idx = [i for i, n in enumerate(node.input) if n]
    if not idx:
        raise malformed(node, "needs at least one input")
    if len(idx) == 1:
        imp.alias(node, imp.data(node, idx[0]))
        return
    if len(idx) > 2:
        raise unsupported(node, f"{node.op_type} of {len(idx)} inputs: only one or two are supported")
    imp.set(node.output[0], import_binary(imp, node, fn, idx[0], idx[1]))


@op("Pow")
def _pow(imp: _Importer, node: Any, a: dict) -> None:
    from .unary import import_pow

    if not isinstance(imp.value(node, 0), Data):
        raise unsupported(node, "a constant base: only a computed base is supported")
    e = imp.value(node, 1)
    if not isinstance(e, Data):
        e = imp.const_float(node, 1, "the exponent")
        if e is not None and import_pow(imp, node, imp.data(node, 0), e):
            return
    imp.set(node.output[0], import_binary(imp, node, "pow"))


@op("PRelu")
def _prelu(imp: _Importer, node: Any, a: dict) -> None:
    imp.set(node.output[0], import_binary(imp, node, "prelu"))


@op("Transpose", "perm:ints")
def _transpose(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    rank = imp.rank(x)
    perm = [int(p) for p in a.get("perm", range(rank - 1, -1, -1))]
    if sorted(perm) != list(range(rank)):
        raise malformed(node, f"perm {perm[:8]} is not a permutation of the {rank} axes")
    if perm[0] != 0:
        raise unsupported(node, f"perm {perm} moves the batch axis; only permutations keeping axis 0 first")
    inner = [p - 1 for p in perm[1:]]
    if inner == sorted(inner):
        imp.alias(node, x)
        return
    layer = imp.layer(node, lambda: Transpose(inner, name=imp.name_for(node)))
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor]), q=x.q, range=x.range))  # values moved
