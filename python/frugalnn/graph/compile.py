"""compile(graph) -> Program: BatchNorm folding, activation fusion, NHWC layout, weight
packing per layer precision, and the native step list the Session runs.

Layout: 3-D tensors run channels-last (NHWC) inside; a graph input with channels and
spatial extent is converted once by a first step, an output converted back by a last one.
Flatten of an NHWC map feeding only Dense layers moves no data: the Dense weights' columns
are permuted at compile time instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

import numpy as np

from .. import _core
from .._registry import registrar
from ..gemm import pack_codebook, pack_weights, quantize_weights
from ..sparse import CSRMatrix
from . import layers as L
from .graph import Graph
from .layers import GraphError

PRECISIONS = ("f32", "f16", "bf16", "int8", "sparse", "sparse_f16", "sparse_int8", "codebook")
_SPARSE_VALUES = {"sparse": "f32", "sparse_f16": "f16", "sparse_int8": "int8"}
_CALIBRATION_CHUNK = 8  # samples per reference forward while calibrating
_INF = math.inf


@dataclass
class TensorSpec:
    """A graph input or output: name, shape with ``None`` for the batch, dtype. A uint8 /
    int8 input has its ``scale`` and ``zero_point`` (real = scale * (q - zero_point));
    float32 tensors have None."""

    name: str
    shape: tuple
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float32))
    scale: Optional[float] = None
    zero_point: Optional[int] = None


@dataclass
class StepInfo:
    name: str
    kind: str
    precision: str


class Program:
    """A compiled graph: packed weights and the step list (create Sessions to run it)."""

    def __init__(self, core, inputs: list[TensorSpec], outputs: list[TensorSpec],
                 quantization: dict[str, tuple[float, int]], graph: Optional[Graph]) -> None:
        self._core = core
        self.inputs = inputs
        self.outputs = outputs
        self.quantization = quantization  # layer name -> (activation scale, zero point)
        self.graph = graph  # None for a program loaded from a .fnn file (it holds steps, not layers)
        self.has_int8 = bool(quantization)

    @property
    def weight_bytes(self) -> int:
        """Bytes of packed weights (shared by every session)."""
        return self._core.weight_bytes

    @property
    def steps(self) -> list[StepInfo]:
        out = []
        for i in range(self._core.num_steps):
            name, kind, precision, _, _ = self._core.step_info(i)
            out.append(StepInfo(name, kind, precision))
        return out

    def __repr__(self) -> str:
        return (f"Program({len(self.steps)} steps, inputs={[i.name for i in self.inputs]}, "
                f"outputs={[o.name for o in self.outputs]}, weights={self.weight_bytes} bytes)")


def _spatial(shape) -> bool:
    """Whether NCHW and NHWC orders differ for this per-sample shape."""
    return len(shape) == 3 and shape[0] > 1 and shape[1] * shape[2] > 1


def _calibrate(graph: Graph, data, layers: set[str]) -> dict[str, tuple[float, int]]:
    """(scale, zero point) of each int8 layer's input from a calibration batch (u8, covering
    min(x, 0) .. max(x, 0) as ONNX's MinMax calibrator does)."""
    from .. import reference

    ranges: dict[str, list[float]] = {}
    if not isinstance(data, Mapping):
        if len(graph.inputs) != 1:
            raise GraphError("the graph has several inputs: pass calibration as a dict {name: array}")
        data = {next(iter(graph.inputs)): data}
    data = {k: np.asarray(v) for k, v in data.items()}
    n = min(len(v) for v in data.values())
    if n == 0:
        raise GraphError("the calibration batch is empty")
    if not all(np.isfinite(v).all() for v in data.values()):
        raise GraphError("the calibration batch contains NaN or infinity")
    # The reference forward keeps every float64 tensor of the batch: a few samples at a time
    # bound the memory calibration takes (the whole 64-image batch at once peaked at ~80 MiB
    # for the MNIST CNN).
    for start in range(0, n, _CALIBRATION_CHUNK):
        # The float64 forward may overflow on a model's extreme weights: the inf / NaN it
        # then holds are refused below, by layer, rather than warned about on the way.
        with np.errstate(all="ignore"):
            recorded = reference.forward_all(graph, {k: v[start:start + _CALIBRATION_CHUNK]
                                                     for k, v in data.items()})
        for node in graph.nodes:
            if node.layer.name in layers:
                x = recorded[node.inputs[0]]
                if not np.all(np.isfinite(x)):
                    raise GraphError(f"layer '{node.layer.name}': its input holds inf or NaN on the calibration "
                                     "batch, so no int8 scale can cover it")
                lo, hi = float(np.min(x)), float(np.max(x))
                r = ranges.setdefault(node.layer.name, [lo, hi])
                r[0], r[1] = min(r[0], lo), max(r[1], hi)
        del recorded
    params = {}
    for name, (lo, hi) in ranges.items():
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = (hi - lo) / 255.0 if hi > lo else 1.0
        if not np.isfinite(np.float32(scale)):
            raise GraphError(f"layer '{name}': its input ranges over [{lo:g}, {hi:g}] on the calibration batch, "
                             "too wide for an int8 scale in float32")
        if np.float32(scale) == 0:  # a range narrower than float32 resolves: every value quantizes to 0
            scale = 1.0
        zp = int(np.clip(round(-lo / scale), 0, 255))
        params[name] = (float(np.float32(scale)), zp)
    return params


def compile(graph: Graph, *, precision: Union[None, str, Mapping[str, str]] = None,
            calibration: Optional[Union[np.ndarray, Mapping[str, np.ndarray]]] = None,
            fuse_pool: bool = True, fuse_activations: bool = True) -> Program:
    """Compile ``graph`` for the runtime.

    Args:
        precision: for every Dense / Conv2d layer (``"f32"``, ``"f16"``, ``"bf16"``,
            ``"int8"``, ``"sparse"``), or a dict ``{layer name: precision}``. A layer not
            named runs at its own ``precision`` (set by ``frugalnn.compress``: ``quantize``,
            ``half``, ``prune``), or f32.
            int8 quantizes weights symmetric per output channel and activations with a
            scale / zero point calibrated on ``calibration`` — or takes both from the
            layer's ``quant`` (QuantParams of an already quantized model); ``"sparse"`` stores a Dense
            layer's weights as CSR (or 1x4 blocks when that stores few extra zeros) — prune
            them first (``frugalnn.sparse.CSRMatrix.prune``); ``"sparse_f16"`` /
            ``"sparse_int8"`` store its values 16-bit / int8 with a scale per row (weights
            only: activations stay f32); ``"codebook"`` runs a layer given k-means codebook
            weights (``frugalnn.compress.codebook``) on its packed indices. Depthwise convolutions run a
            direct kernel (int8 or f32; f16 / bf16 / sparse run it in f32); ``"sparse"`` on
            a Conv2d runs dense f32.
        calibration: a representative input batch, needed when any layer is int8.
        fuse_pool: run a Conv2d followed (after its activation) by a MaxPool2d whose stride
            equals its window as one step that pools each tile of conv output as it is made,
            so the pre-pool feature map is never stored (``False`` keeps two steps).
        fuse_activations: run an element-wise function that follows a Conv2d or Dense
            (Sigmoid, HardSwish, and the Unary functions: SiLU, GELU, Tanh, LeakyRelu, ...)
            in its epilogue, on each output tile while it is in cache: one step, and the
            pre-activation tensor is never stored (``False`` keeps two steps). The values are
            the same either way: both run the same kernel.
    """
    graph.check()
    weighted = [n.layer for n in graph.nodes if isinstance(n.layer, (L.Dense, L.Conv2d))]
    # Add / GlobalAvgPool layers with QuantParams (from quantized models) may run int8 too.
    quantized_eltwise = [n.layer for n in graph.nodes
                         if isinstance(n.layer, (L.Add, L.GlobalAvgPool)) and n.layer.quant is not None]
    own = {layer.name: getattr(layer, "precision", None) or "f32" for layer in weighted + quantized_eltwise}
    if isinstance(precision, str):
        prec = {layer.name: precision for layer in weighted + quantized_eltwise}
    elif precision is None:
        prec = own
    else:
        names = {layer.name for layer in weighted + quantized_eltwise}
        unknown = set(precision) - names
        if unknown:
            raise GraphError("precision names layers that are not Dense / Conv2d layers (or quantized Add / "
                             f"GlobalAvgPool layers) of the graph: {sorted(unknown)}")
        prec = {name: precision.get(name, p) for name, p in own.items()}
    for name, p in prec.items():
        if p not in PRECISIONS:
            raise GraphError(f"layer '{name}': precision must be one of {PRECISIONS}, got {p!r}")
    for layer in quantized_eltwise:  # f16 / bf16 / sparse mean nothing to them: float
        if prec[layer.name] != "int8":
            prec[layer.name] = "f32"
    # int8 layers from an already quantized model bring their parameters; the others calibrate.
    qparams: dict[str, tuple[float, int]] = {
        layer.name: (layer.quant.input_scale, layer.quant.input_zero_point)
        for layer in weighted
        if prec[layer.name] == "int8" and layer.quant is not None and layer.quant.input_scale is not None}
    # An int8 layer reading a uint8 input as stored takes its parameters: no conversion at all.
    for name, p in _fed_by_quantized_input(graph).items():
        if prec[name] == "int8" and name not in qparams:
            qparams[name] = p
    to_calibrate = {layer.name for layer in weighted if prec[layer.name] == "int8" and layer.name not in qparams}
    if to_calibrate:
        if calibration is None:
            dynamic = sorted(layer.name for layer in weighted if layer.name in to_calibrate and layer.quant is not None)
            if dynamic:
                raise GraphError(
                    f"layers {dynamic} were quantized dynamically (onnxruntime's quantize_dynamic: activation "
                    "scales computed per batch at run time); frugalnn's int8 kernels take static activation "
                    "scales. Either calibrate them: compile(g, precision='int8', calibration=x) with a few "
                    "typical input batches, or run these layers in float with the model's dequantized weights: "
                    "compile(g) / precision='f32'")
            raise GraphError(f"int8 layers {sorted(to_calibrate)} need a calibration batch: compile(..., calibration=x)")
        qparams.update(_calibrate(graph, calibration, to_calibrate))
    return _Compiler(graph, prec, qparams, fuse_pool, fuse_activations).run()


def _fed_by_quantized_input(graph: Graph) -> dict[str, tuple[float, int]]:
    """Dense / Conv2d layers reading a uint8 / int8 graph input as stored (directly, or
    through reshapes or an (H, W, C) -> (C, H, W) Transpose): the u8 parameters of its values,
    which an int8 layer takes instead of calibrating (exact: the input holds nothing else).
    An int8 input's values are u8 ones with zero point + 128."""
    source: dict[str, tuple[float, int]] = {}
    for name, q in graph.input_quant.items():
        source[name] = (q.scale, q.zero_point + (128 if q.dtype == "int8" else 0))
    out = {}
    for node in graph.nodes:
        src = source.get(node.inputs[0])
        if src is None:
            continue
        layer = node.layer
        if isinstance(layer, (L.Dense, L.Conv2d)):
            out[layer.name] = src
        elif isinstance(layer, (L.Reshape, L.Flatten)) or getattr(layer, "perm", None) == (2, 0, 1):
            source[node.output] = src
    return out


class _Compiler:
    def __init__(self, graph: Graph, prec: dict[str, str], qparams: dict, fuse_pool: bool,
                 fuse_activations: bool = True) -> None:
        self.g = graph
        self.fuse_pool = fuse_pool
        self.fuse_activations = fuse_activations
        self.prec = prec
        self.q = qparams
        self.core = _core.Program()
        self.tid: dict[str, int] = {}          # graph tensor -> program tensor (internal layout)
        self.chw_perm: dict[str, tuple] = {}    # flattened NHWC tensors: the (C, H, W) they came from
        self.consumers: dict[str, list] = {}
        for node in graph.nodes:
            for i in node.inputs:
                self.consumers.setdefault(i, []).append(node)
        self.outputs = set(graph.outputs)
        self.external: set[int] = set()
        # Spatial graph inputs kept as the caller gives them, (H, W, C) row-major: read only by
        # Transpose((2, 0, 1)) (an NHWC image to the runtime's NHWC: no copy) or by reshapes.
        self.row_major: set[str] = set()
        self.redundant: set[int] = set()  # node indices of clips that run as aliases (run() fills it)
        self.index = {id(node): i for i, node in enumerate(graph.nodes)}
        self.post: Optional[list] = None  # the activations fused into the layer being lowered

    def elems(self, name: str) -> int:
        return math.prod(self.g.shapes[name])

    def new(self, name: str, external: bool = False) -> int:
        t = self.core.add_tensor(self.elems(name), external, -1)
        self.tid[name] = t
        return t

    def run(self) -> Program:
        g = self.g
        ext_in = []
        for name, shape in g.inputs.items():
            if _spatial(shape) and self._kept_as_given(name):
                self.row_major.add(name)
            if _spatial(shape) and name not in self.row_major:
                e = self.add_input(name)
                t = self.new(name)
                self.core.add_step("to_nhwc", f"{name}:to_nhwc", [e], t, _layout(shape))
                ext_in.append(e)
            else:
                ext_in.append(self.add_input(name))
                self.tid[name] = ext_in[-1]
        self.external.update(ext_in)
        skip: set[int] = set()
        nodes = g.nodes
        redundant = self.redundant = self._redundant_clips()
        for idx, node in enumerate(nodes):
            if idx in skip:
                continue
            layer = node.layer
            if idx in redundant:
                self.alias(node.output, node.inputs[0])
                continue
            if isinstance(layer, L.Reshape) and self._channel_permutation(idx, node, skip):
                continue
            # Fold a following BatchNorm, then fuse a following activation.
            act = getattr(layer, "activation", None)
            lo, hi = {None: (-_INF, _INF), "relu": (0.0, _INF), "relu6": (0.0, 6.0)}[act]
            out_name = node.output
            scale_shift = None
            if isinstance(layer, (L.Conv2d, L.Dense)) and act is None:
                nxt = self._sole_consumer(out_name, idx)
                if nxt is not None and isinstance(nxt[1].layer, (L.BatchNorm, L.ScaleShift)):
                    scale_shift = nxt[1].layer.scale_shift()
                    skip.add(nxt[0])
                    out_name = nxt[1].output
            if isinstance(layer, (L.Conv2d, L.Dense, L.Add, L.BatchNorm, L.ScaleShift)) and (lo, hi) == (-_INF, _INF):
                nxt = self._sole_consumer(out_name, idx)
                if nxt is not None and isinstance(nxt[1].layer, (L.ReLU, L.Clip)) and nxt[0] not in redundant:
                    a = nxt[1].layer
                    lo, hi = (0.0, _INF) if isinstance(a, L.ReLU) else (a.lo, a.hi)
                    skip.add(nxt[0])
                    out_name = nxt[1].output
            # Activations the conv / dense epilogue runs on each tile it writes, in order (a
            # QDQ model's conv -> quantize_dequantize -> SiLU -> quantize_dequantize).
            self.post = None
            if (self.fuse_activations and isinstance(layer, (L.Conv2d, L.Dense))
                    and self.prec.get(layer.name) not in _SPARSE_VALUES):
                chain = []
                while len(chain) < _MAX_FUSED:
                    nxt = self._sole_consumer(out_name, idx)
                    fused = None if nxt is None or nxt[0] in redundant else _epilogue_of(nxt[1].layer)
                    if fused is None:
                        break
                    chain.append((*fused, -_INF, _INF))
                    skip.add(nxt[0])
                    out_name = nxt[1].output
                self.post = chain or None
            pool = None
            if isinstance(layer, L.Conv2d) and self.fuse_pool and not _is_depthwise(layer, g.shapes[node.inputs[0]]):
                nxt, through = self._sole_consumer(out_name, idx), []
                while nxt is not None and nxt[0] in redundant:  # an alias of the conv's output
                    through.append(nxt[0])
                    nxt = self._sole_consumer(nxt[1].output, nxt[0])
                if nxt is not None and _fusible_pool(nxt[1].layer):
                    pool = nxt[1].layer
                    skip.update(through + [nxt[0]])
                    out_name = nxt[1].output
            self.emit(node, layer, out_name, lo, hi, scale_shift, pool)
        ext_out = []
        for name in g.outputs:
            t = self.tid[name]
            shape = g.shapes[name]
            if _spatial(shape):
                e = self.core.add_tensor(self.elems(name), True, -1)
                self.core.add_step("to_nchw", f"{name}:to_nchw", [t], e, _layout(shape))
                t = e
            elif t not in self.external or t in ext_in or t in ext_out:
                e = self.core.add_tensor(self.elems(name), True, -1)
                self.core.add_step("clamp", f"{name}:copy", [t], e)
                t = e
            ext_out.append(t)
        self.core.set_io(ext_in, ext_out)
        specs_in = [input_spec(n, s, g.input_quant.get(n)) for n, s in g.inputs.items()]
        specs_out = [TensorSpec(n, (None,) + tuple(g.shapes[n])) for n in g.outputs]
        return Program(self.core, specs_in, specs_out, dict(self.q), g)

    def _channel_permutation(self, idx: int, node, skip: set) -> bool:
        """Reshape (C, H, W) -> (c1, ..., ck, H, W), a Transpose of the c axes, and a Reshape
        back to (C, H, W) — ShuffleNet's channel shuffle — permute the channels of each pixel:
        on the channels-last map that is one strided copy (rather than a layout change to
        NCHW, the transpose, and one back). Emits it and returns True, or False if the nodes
        do not form that pattern."""
        g = self.g
        src = node.inputs[0]
        shape, mid = tuple(g.shapes[src]), tuple(g.shapes[node.output])
        if not (_spatial(shape) and self.stored_nhwc(src) and len(mid) >= 4 and mid[-2:] == shape[1:]
                and math.prod(mid[:-2]) == shape[0]):
            return False
        k = len(mid) - 2
        t = self._sole_consumer(node.output, idx)
        perm = None if t is None else getattr(t[1].layer, "perm", None)
        if perm is None or tuple(perm[k:]) != (k, k + 1):
            return False
        r = self._sole_consumer(t[1].output, t[0])
        if r is None or not isinstance(r[1].layer, L.Reshape) or tuple(g.shapes[r[1].output]) != shape:
            return False
        from .ops.broadcast import OPS  # the op modules import this one

        c, h, w = shape
        factor_strides = [math.prod(mid[a + 1:k]) for a in range(k)]  # of channel factor a
        dims = [h * w] + [mid[perm[m]] for m in range(k)]
        strides = [c] + [factor_strides[perm[m]] for m in range(k)]
        params = _core.BroadcastParams(op=OPS["copy"], dims=dims, a_strides=strides, b_strides=[0] * len(dims),
                                       a_sample=c * h * w, b_sample=0)
        self.core.add_step("broadcast", t[1].layer.name, [self.tid[src]], self.writes(r[1].output), params)
        skip.update((t[0], r[0]))
        return True

    def add_input(self, name: str) -> int:
        """The external program tensor of graph input ``name``: float32, or uint8 / int8 with
        its scale and zero point (the runtime dequantizes it where a reader takes float)."""
        q = self.g.input_quant.get(name)
        if q is None:
            return self.core.add_tensor(self.elems(name), True, -1)
        return self.core.add_input_tensor(self.elems(name), q.dtype, q.scale, q.zero_point)

    def _kept_as_given(self, name: str) -> bool:
        """Whether graph input ``name`` needs no layout change: every reader takes its values
        in row-major order (a Transpose to channels-first, which the runtime stores
        channels-last, i.e. as given; or a reshape)."""
        readers = self.consumers.get(name, [])
        return bool(readers) and name not in self.outputs and all(
            isinstance(n.layer, (L.Reshape, L.Flatten)) or getattr(n.layer, "perm", None) == (2, 0, 1)
            for n in readers)

    def stored_nhwc(self, name: str) -> bool:
        """Whether graph tensor ``name`` is stored channels-last (a spatial (C, H, W) tensor
        that is not an input kept as given)."""
        return _spatial(self.g.shapes[name]) and name not in self.row_major

    def _redundant_clips(self) -> set[int]:
        """Indices of the Clip and quantize_dequantize nodes whose every reader is an int8 layer
        that quantizes its input so that they change no u8 value: a Clip to a range inside the
        clip's, a quantize_dequantize with its very scale and zero point. Left in place they
        would make the producer write float32 instead of the reader's u8. An imported QDQ
        model has one per QuantizeLinear, e.g. between two int8 convolutions."""
        found = set()
        for idx, node in enumerate(self.g.nodes):
            layer = node.layer
            if node.output in self.outputs:
                continue
            readers = self.consumers.get(node.output, [])
            if isinstance(layer, L.Clip):
                if readers and all(self._quantizes_within(r, node.output, layer.lo, layer.hi) for r in readers):
                    found.add(idx)
            elif getattr(layer, "fn", None) == "quantize_dequantize" and readers:
                if all(all(p is not None and np.float32(p[0]) == np.float32(layer.alpha) and p[1] == layer.beta
                           for p in self._reader_quant(r, node.output)) for r in readers):
                    found.add(idx)
        return found

    def _reader_quant(self, reader, name: str) -> list:
        """The (scale, zero point) ``reader`` quantizes each of its inputs ``name`` with, None
        where it reads it as float."""
        layer = reader.layer
        if isinstance(layer, (L.Dense, L.Conv2d)):
            return [self.q.get(layer.name)]
        if isinstance(layer, L.MaxPool2d) and reader.output not in self.outputs:
            # Max-pooling commutes with quantization: the pool passes u8 values on to readers
            # that quantize as these do (Program::assign_activation_dtypes).
            readers = self.consumers.get(reader.output, [])
            return [q for r in readers for q in self._reader_quant(r, reader.output)] if readers else [None]
        if isinstance(layer, (L.Add, L.GlobalAvgPool)):
            qs = self.in_quant(layer)
            return [qs[i] if qs else None for i, n in enumerate(reader.inputs) if n == name]
        return [None]

    def _quantizes_within(self, reader, name: str, lo: float, hi: float) -> bool:
        """Whether ``reader`` runs int8 and quantizes every input ``name`` to u8 with parameters
        mapping ``lo`` to 0 and ``hi`` to 255 (the runtime's rounding: nearbyint(v / scale) + zp)."""
        for p in self._reader_quant(reader, name):
            if p is None:
                return False
            scale, zp = np.float32(p[0]), p[1]
            with np.errstate(over="ignore"):  # a bound near float32's max over a small scale: inf
                q_lo = np.rint(np.float32(lo) / scale) + zp
                q_hi = np.rint(np.float32(hi) / scale) + zp
            if not (q_lo <= 0 and q_hi >= 255):
                return False
        return True

    def _readers(self, name: str) -> list:
        """The nodes reading ``name``, looking through the redundant clips (aliases of it)."""
        out = []
        for n in self.consumers.get(name, []):
            out += self._readers(n.output) if self.index[id(n)] in self.redundant else [n]
        return out

    def alias(self, name: str, src: str) -> None:
        """Graph tensor ``name`` holds the same values as ``src``: no step, the same bytes."""
        self.tid[name] = self.core.add_tensor(self.elems(name), False, self.tid[src])
        if src in self.chw_perm:
            self.chw_perm[name] = self.chw_perm[src]

    def _sole_consumer(self, name: str, idx: int):
        """(index, node) of the only consumer of `name` when it is not a graph output."""
        cons = self.consumers.get(name, [])
        if len(cons) != 1 or name in self.outputs:
            return None
        node = cons[0]
        return self.g.nodes.index(node), node

    def writes(self, name: str) -> int:
        """The tensor a step producing graph tensor `name` writes: the caller's buffer when it
        is a graph output whose layout needs no conversion, else a planned one."""
        external = name in self.outputs and not _spatial(self.g.shapes[name])
        t = self.new(name, external=external)
        if external:
            self.external.add(t)
        return t

    def emit(self, node, layer, out_name: str, lo: float, hi: float, scale_shift, pool=None) -> None:
        """The native step(s) of one layer: its lowering from _LOWERING, by layer type."""
        # The nearest registered class: a layer subclass (ReLU6 is a Clip) lowers as its base.
        lower = next((_LOWERING[t] for t in type(layer).__mro__ if t in _LOWERING), None)
        if lower is None:
            raise GraphError(f"{layer.name}: no runtime step for {type(layer).__name__}")
        lower(self, node, layer, out_name, lo, hi, scale_shift, pool, self.tid[node.inputs[0]],
              self.g.shapes[node.inputs[0]])

    def _emit_dense(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        perm = self.chw_perm.get(node.inputs[0])

        def arrange(a: np.ndarray) -> np.ndarray:
            if perm is not None:  # the input is an NHWC map flattened without moving data
                c, h, wd = perm
                a = a.reshape(a.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(a.shape[0], -1)
            return a

        w, b = _fold(arrange(layer.weight), layer.bias, scale_shift, layer, node)
        y = self.writes(out_name)
        p = self.prec[layer.name]
        if p in _SPARSE_VALUES:
            m = _sparse_of(w, _SPARSE_VALUES[p])
            core.add_step("sparse_dense", layer.name, [x], y, _core.SparseDenseParams(matrix=m._core, bias=b),
                          lo=lo, hi=hi)
        else:
            wq = _given_int8(layer, p, scale_shift)
            if p == "codebook":
                idx, tables, bits = _codebook_of(layer, scale_shift)
                pw = pack_codebook(np.ascontiguousarray(arrange(idx).T), tables, bits, bias=b)
            elif wq is not None:
                pw = pack_weights(np.ascontiguousarray(arrange(wq[0]).T), "int8", bias=b, scales=wq[1])
            else:
                pw = pack_weights(np.ascontiguousarray(w.T), p, bias=b)
            params = _core.DenseParams(weights=pw._core, input_quant=self.q.get(layer.name), post=self.post)
            core.add_step("dense", layer.name, [x], y, params, lo=lo, hi=hi)

    def _emit_conv2d(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        g, core = self.g, self.core
        c, h, wd = in_shape
        o, cg, kh, kw = layer.weight.shape
        _, oh, ow = g.shapes[node.output]
        t, left, _, _ = layer.pads(h, wd)
        w, b = _fold(layer.weight, layer.bias, scale_shift, layer, node)
        y = self.writes(out_name)
        (sh, sw), (dh, dw) = layer.stride, layer.dilation
        geo = _core.Conv2dGeometry(h=h, w=wd, c=c, oh=oh, ow=ow, oc=o, kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw,
                                   pad_top=t, pad_left=left, groups=layer.groups)
        if _is_depthwise(layer, in_shape):
            self.emit_depthwise(layer, x, y, lo, hi, geo, w, b, scale_shift)
            return
        p = self.prec[layer.name]
        kind = p if p in ("f16", "bf16", "int8") else "f32"
        og = o // layer.groups
        wq = _given_int8(layer, p, scale_shift)
        packed = []
        cb = _codebook_of(layer, scale_shift) if p == "codebook" else None
        for gi in range(layer.groups):
            rows = slice(gi * og, (gi + 1) * og)
            bg = None if b is None else np.ascontiguousarray(b[rows])
            if cb is not None:  # each group its own indices, and its channels' tables
                idx, tables, bits = cb
                ig = idx[rows].transpose(2, 3, 1, 0).reshape(kh * kw * cg, og)
                tg = tables if tables.shape[0] == 1 else tables[rows]
                packed.append(pack_codebook(np.ascontiguousarray(ig), np.ascontiguousarray(tg), bits, bias=bg)._core)
                continue
            if wq is not None:
                wg = wq[0][rows].transpose(2, 3, 1, 0).reshape(kh * kw * cg, og)
                sg = wq[1] if wq[1].size == 1 else np.ascontiguousarray(wq[1][rows])
                packed.append(pack_weights(np.ascontiguousarray(wg), "int8", bias=bg, scales=sg)._core)
                continue
            wg = w[rows].transpose(2, 3, 1, 0).reshape(kh * kw * cg, og)
            packed.append(pack_weights(np.ascontiguousarray(wg), kind, bias=bg)._core)
        pool_geo = None
        if pool is not None:  # max-pooled tile by tile: the conv's own output is never stored
            _, ph, pw = g.shapes[out_name]
            (pkh, pkw), (psh, psw) = pool.kernel, pool.stride
            pool_geo = _core.Pool2dGeometry(h=oh, w=ow, c=o, oh=ph, ow=pw, kh=pkh, kw=pkw, sh=psh, sw=psw)
        params = _core.Conv2dParams(geometry=geo, weights=packed, input_quant=self.q.get(layer.name), pool=pool_geo,
                                    post=self.post)
        core.add_step("conv2d", layer.name, [x], y, params, lo=lo, hi=hi)

    def _emit_pool(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        g, core = self.g, self.core
        c, h, wd = in_shape
        _, oh, ow = g.shapes[node.output]
        (kh, kw), (sh, sw), (pt, pl) = layer.kernel, layer.stride, layer.padding
        geo = _core.Pool2dGeometry(h=h, w=wd, c=c, oh=oh, ow=ow, kh=kh, kw=kw, sh=sh, sw=sw, pad_top=pt, pad_left=pl)
        core.add_step(layer.op, layer.name, [x], self.writes(out_name), _core.Pool2dParams(geometry=geo))

    def _emit_global_avgpool(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        c, h, wd = in_shape
        params = _core.GlobalAvgPoolParams(c=c, hw=h * wd, inputs_u8=self.in_quant(layer))
        core.add_step("global_avgpool", layer.name, [x], self.writes(out_name), params)

    def _emit_reshape(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        self.emit_reshape(node, layer, out_name, in_shape)

    def _emit_add(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        core.add_step("add", layer.name, [x, self.tid[node.inputs[1]]], self.writes(out_name),
                      _core.AddParams(inputs_u8=self.in_quant(layer)), lo=lo, hi=hi)

    def _emit_concat(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        g, core = self.g, self.core
        parts = _concat_parts([g.shapes[i] for i in node.inputs], layer.axis, g.shapes[node.output])
        core.add_step("concat", layer.name, [self.tid[i] for i in node.inputs], self.writes(out_name),
                      _core.ConcatParams(parts=parts))

    def _emit_relu(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        core.add_step("clamp", layer.name, [x], self.writes(out_name), lo=0.0)

    def _emit_clip(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        core.add_step("clamp", layer.name, [x], self.writes(out_name), lo=layer.lo, hi=layer.hi)

    def _emit_softmax(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        axis = layer.axis_of(in_shape)
        nhwc = self.stored_nhwc(node.inputs[0])
        if axis != (0 if nhwc else len(in_shape) - 1):
            raise GraphError(f"{layer.name}: softmax over axis {axis} of a {tuple(in_shape)} sample stored "
                             f"{'channels-last' if nhwc else 'row-major'}: only over the innermost stored axis "
                             f"({'the channels' if nhwc else 'the last'})")
        self.core.add_step(layer.op, layer.name, [x], self.writes(out_name),
                           _core.SoftmaxParams(cols=in_shape[axis]))

    def _emit_scale_shift(self, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        core = self.core
        scale, shift = layer.scale_shift()  # per channel, or one value for any layout
        core.add_step("scale_shift", layer.name, [x], self.writes(out_name),
                      _core.ScaleShiftParams(scale=scale, shift=shift), lo=lo, hi=hi)

    def in_quant(self, layer) -> list[tuple[float, int]]:
        """u8 input parameters of an int8 Add / GlobalAvgPool (empty: it runs in float)."""
        if layer.quant is None or self.prec.get(layer.name) != "int8":
            return []
        qs = layer.quant if isinstance(layer.quant, tuple) else (layer.quant,)
        return [(q.input_scale, q.input_zero_point) for q in qs]

    def emit_depthwise(self, layer, x: int, y: int, lo: float, hi: float, geo, w: np.ndarray,
                       b: Optional[np.ndarray], scale_shift) -> None:
        """A direct depthwise conv step: weights [kh][kw][c], f32 or (int8 precision) s8 with
        a scale per channel, reading the u8 input the int8 layers before it write."""
        def hwc(a: np.ndarray) -> np.ndarray:  # (c, 1, kh, kw) -> [kh][kw][c], flat
            return np.ascontiguousarray(a[:, 0].transpose(1, 2, 0)).reshape(-1)

        p = self.prec[layer.name]
        if p != "int8":
            params = _core.DepthwiseConv2dParams(geometry=geo, weights=hwc(w), bias=b, post=self.post)
            self.core.add_step("depthwise_conv2d", layer.name, [x], y, params, lo=lo, hi=hi)
            return
        given = _given_int8(layer, p, scale_shift)
        if given is not None:
            w8, ws = given
            ws = np.broadcast_to(ws, (w8.shape[0],))
        else:
            q, ws = quantize_weights(np.ascontiguousarray(w.reshape(w.shape[0], -1).T))
            w8 = q.T.reshape(w.shape)
        params = _core.DepthwiseConv2dParams(geometry=geo, weights_s8=hwc(w8), bias=b,
                                             weight_scale=np.ascontiguousarray(ws, np.float32),
                                             input_quant=self.q[layer.name], post=self.post)
        self.core.add_step("depthwise_conv2d", layer.name, [x], y, params, lo=lo, hi=hi)

    def emit_reshape(self, node, layer, out_name: str, in_shape) -> None:
        src = node.inputs[0]
        out_shape = self.g.shapes[node.output]
        x = self.tid[src]
        in_nhwc = self.stored_nhwc(src)
        if out_name in self.outputs or _spatial(out_shape):
            needs_data = True
        elif in_nhwc:
            cons = self._readers(node.output)
            needs_data = not cons or not all(isinstance(n.layer, L.Dense) for n in cons)
        else:
            needs_data = False
        if not needs_data:
            # Same bytes, new name: an alias (Dense consumers of an NHWC map permute weights).
            self.tid[out_name] = self.core.add_tensor(self.elems(out_name), False, x)
            if in_nhwc:
                self.chw_perm[out_name] = tuple(in_shape)
            elif src in self.chw_perm:
                self.chw_perm[out_name] = self.chw_perm[src]
            return
        if in_nhwc:
            flat = self.core.add_tensor(self.elems(out_name), False, -1)
            self.core.add_step("to_nchw", f"{layer.name}:to_nchw", [x], flat, _layout(in_shape))
            x = flat
        if _spatial(out_shape):
            y = self.new(out_name)
            self.core.add_step("to_nhwc", f"{layer.name}:to_nhwc", [x], y, _layout(out_shape))
        elif out_name in self.outputs:
            y = self.writes(out_name)
            self.core.add_step("clamp", f"{layer.name}:copy", [x], y)
        else:
            self.tid[out_name] = x


def input_spec(name: str, shape, quant) -> TensorSpec:
    """The TensorSpec of a graph input of per-sample ``shape`` (``quant``: its InputQuant, or
    None for float32)."""
    if quant is None:
        return TensorSpec(name, (None,) + tuple(shape))
    return TensorSpec(name, (None,) + tuple(shape), np.dtype(quant.dtype), quant.scale, quant.zero_point)


def _layout(shape) -> "_core.LayoutParams":
    """The parameters of a layout change of a (C, H, W) tensor."""
    return _core.LayoutParams(c=shape[0], hw=shape[1] * shape[2])


def _concat_parts(shapes, axis: int, out_shape) -> list[int]:
    """Per input, the contiguous run of values it contributes between two runs of the
    others, in the stored layout. The runtime's concat step copies run after run; the
    number of runs (values outside the concatenated axis and the ones inside it) is
    implied by the output size. A spatial 3-D tensor is stored (H, W, C); every other one
    in its logical order, which NHWC equals whenever the output is not spatial."""
    rank = len(out_shape)
    axis %= rank
    order = (1, 2, 0) if _spatial(out_shape) else tuple(range(rank))
    inner_axes = order[order.index(axis) + 1:]
    return [int(s[axis]) * math.prod(int(s[a]) for a in inner_axes) for s in shapes]


def _given_int8(layer, precision: str, scale_shift):
    """(int8 weight, scales) a quantized model gave this layer, when compiled as int8 and no
    BatchNorm was folded into it (a fold changes the weights: they are re-quantized then)."""
    q = layer.quant
    if precision != "int8" or q is None or q.weight is None or scale_shift is not None:
        return None
    return q.weight, q.weight_scale


def _codebook_of(layer, scale_shift) -> tuple[np.ndarray, np.ndarray, int]:
    """(indices, tables, bits) of a layer compiled at precision "codebook": its Codebook's,
    the tables scaled per output channel when a BatchNorm / ScaleShift folds into it (a scaled
    codebook value is the scaled weight, bit for bit, as _fold computes it)."""
    cb = getattr(layer, "codebook", None)
    if cb is None:
        raise GraphError(f"{layer.name}: precision 'codebook' needs a codebook: run frugalnn.compress.codebook "
                         "on the graph first")
    if cb.indices.shape != layer.weight.shape or not np.array_equal(cb.decode(), layer.weight):
        raise GraphError(f"{layer.name}: the weight no longer matches its codebook (changed after "
                         "compress.codebook?): run compress.codebook again or compile it at another precision")
    tables = cb.centroids
    if scale_shift is not None:
        scale = scale_shift[0].reshape(-1, 1)
        with np.errstate(over="ignore", invalid="ignore"):
            tables = (np.broadcast_to(tables, (layer.weight.shape[0], tables.shape[1])) * scale).astype(np.float32)
    return cb.indices, tables, cb.bits


def _is_depthwise(layer, in_shape) -> bool:
    """A depthwise Conv2d with channel multiplier 1 (runs as a direct convolution)."""
    return layer.groups == in_shape[0] == layer.weight.shape[0]


def _fusible_pool(layer) -> bool:
    """A max-pool whose windows tile its input exactly (stride == window, no padding)."""
    return isinstance(layer, L.MaxPool2d) and layer.stride == layer.kernel and layer.padding == (0, 0)


def _fold(w: np.ndarray, b: Optional[np.ndarray], scale_shift, layer, node):
    """Weights and bias with a following per-channel scale / shift folded in. Refused when
    that overflows float32: the folded layer would compute inf where the two layers apart
    may not, a silently different answer."""
    if scale_shift is None:
        return w, b
    scale, shift = scale_shift
    with np.errstate(over="ignore", invalid="ignore"):
        w = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        b0 = np.zeros(w.shape[0], np.float32) if b is None else b
        b = (b0 * scale + shift).astype(np.float32)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
        raise GraphError(f"{layer.name}: folding the BatchNorm / ScaleShift after it into its weights overflows "
                         "float32")
    return w, b


def sparse_pays(w: np.ndarray) -> bool:
    """The cost model of a pruned Dense weight (out x in): stored sparse when that takes at
    most half the bytes of dense f32. The sparse kernels' time is about proportional to the
    stored values and at 90% sparsity matches the dense GEMM (bench_compress.py), so below
    half the bytes sparse wins memory without losing speed."""
    return _sparse_of(w).nbytes <= w.nbytes // 2


def _sparse_of(w: np.ndarray, values: str = "f32") -> CSRMatrix:
    """CSR, or 1x4 blocks when they store at most 25% more values than CSR."""
    nnz = int(np.count_nonzero(w))
    blocks = CSRMatrix(w, block=(1, 4), values=values)
    return blocks if blocks.nnz <= 1.25 * nnz else CSRMatrix(w, values=values)


# Layer type -> its lowering onto native steps (one entry per layer type). An op module
# (frugalnn/graph/ops/) adds its own with register_lowering.
_LOWERING = {
    L.Dense: _Compiler._emit_dense,
    L.Conv2d: _Compiler._emit_conv2d,
    L.MaxPool2d: _Compiler._emit_pool,
    L.AvgPool2d: _Compiler._emit_pool,
    L.GlobalAvgPool: _Compiler._emit_global_avgpool,
    L.Flatten: _Compiler._emit_reshape,
    L.Reshape: _Compiler._emit_reshape,
    L.Add: _Compiler._emit_add,
    L.Concat: _Compiler._emit_concat,
    L.ReLU: _Compiler._emit_relu,
    L.Clip: _Compiler._emit_clip,
    L.Softmax: _Compiler._emit_softmax,
    L.BatchNorm: _Compiler._emit_scale_shift,
    L.ScaleShift: _Compiler._emit_scale_shift,
}


register_lowering = registrar(
    _LOWERING,
    """Decorator: ``fn(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape)``
    lowers layers of these types (and their subclasses) onto native steps. ``x`` is the
    program tensor of the first input; ``compiler.writes(out_name)`` gives the output's and
    ``compiler.core.add_step(kind, name, inputs, output, params)`` appends a step.""")


_MAX_FUSED = 4  # functions one epilogue runs (csrc/runtime/step.h kMaxFusedUnary)

# Layer type -> fn(layer) giving (UnaryOp code, alpha, beta) of an element-wise function a
# conv / dense epilogue can run (csrc/kernels/eltwise/unary_f32.h), or None.
_EPILOGUE: dict = {}

register_epilogue = registrar(
    _EPILOGUE,
    """Decorator: ``fn(layer) -> (code, alpha, beta) | None`` says how layers of these types run
    fused into the epilogue of the Conv2d / Dense they follow (a UnaryOp code of
    csrc/kernels/eltwise/unary_f32.h and its constants), or that this one cannot.""")


def _epilogue_of(layer) -> Optional[tuple]:
    fn = next((_EPILOGUE[t] for t in type(layer).__mro__ if t in _EPILOGUE), None)
    return None if fn is None else fn(layer)


def lower_to(kind: str):
    """The lowering of a layer that is one native step of ``kind`` without parameters, reading
    its one input: ``register_lowering(Sigmoid)(lower_to("sigmoid"))``."""
    def lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
        compiler.core.add_step(kind, layer.name, [x], compiler.writes(out_name))
    return lower
