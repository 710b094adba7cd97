"""Post-training int8 quantization: a graph whose Dense / Conv2d layers carry QuantParams
(u8 asymmetric input activations from calibration observers, s8 symmetric weights per output
channel), with BatchNorm folded first, and a per-layer sensitivity report.

``compile(q)`` then runs those layers int8 (they carry ``precision = "int8"``) with exactly these
parameters (the runtime's int8 semantics are ONNX QLinear's).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from .. import reference
from ..graph import layers as L
from ..graph.compile import _fed_by_quantized_input, _fold
from ..graph.graph import Graph

__all__ = ["LayerSensitivity", "fold_batchnorm", "precision_of", "quantize", "sensitivity"]

METHODS = ("minmax", "percentile", "mse", "entropy")
_CHUNK = 256      # calibration samples per float64 reference pass
_BINS = 2048      # histogram bins of an observer


def _calibration(graph: Graph, data: Any) -> np.ndarray:
    (name, shape), = graph.inputs.items() if len(graph.inputs) == 1 else ((None, None),)
    if name is None:
        raise ValueError("quantize takes a graph with one input")
    if not isinstance(data, np.ndarray):
        raise TypeError(f"calibration_data must be a numpy array, got {type(data).__name__}")
    want = graph.input_quant[name].dtype if name in graph.input_quant else "float32"
    if data.dtype != np.dtype(want):
        raise TypeError(f"calibration_data must be {want} (the input's dtype), got {data.dtype}")
    if data.ndim != 1 + len(shape) or tuple(data.shape[1:]) != tuple(shape) or len(data) == 0:
        raise ValueError(f"calibration_data must have shape (n >= 1,) + {tuple(shape)}, got {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError("calibration_data holds NaN or infinity")
    return data


def fold_batchnorm(graph: Graph) -> Graph:
    """A copy of ``graph`` with every BatchNorm / ScaleShift that follows a Dense / Conv2d
    (without an activation, as its only reader) folded into that layer's weights and bias."""
    g = copy.deepcopy(graph)
    consumers: dict[str, list] = {}
    for node in g.nodes:
        for i in node.inputs:
            consumers.setdefault(i, []).append(node)
    producer = {n.output: n for n in g.nodes}
    out = Graph()
    tensors = {name: out.input(name, shape, **g.input_args(name)) for name, shape in g.inputs.items()}
    for node in g.nodes:
        layer = node.layer
        src = producer.get(node.inputs[0])
        if (isinstance(layer, (L.BatchNorm, L.ScaleShift)) and src is not None
                and isinstance(src.layer, (L.Dense, L.Conv2d)) and src.layer.activation is None
                and src.layer.quant is None and len(consumers.get(src.output, [])) == 1
                and src.output not in g.outputs):
            conv = src.layer
            conv.weight, conv.bias = _fold(conv.weight, conv.bias, layer.scale_shift(), conv, src)
            tensors[node.output] = tensors[node.inputs[0]]
            continue
        tensors[node.output] = layer(*[tensors[i] for i in node.inputs])
    for name in g.outputs:
        out.output(tensors[name], name)
    return out


class _Observer:
    """The range of one layer's input over the calibration data: min / max on a first pass,
    then (for the methods that need it) a histogram over that range."""

    def __init__(self) -> None:
        self.lo, self.hi = math.inf, -math.inf
        self.hist: Optional[np.ndarray] = None

    def see_range(self, x: np.ndarray) -> None:
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))

    def see_values(self, x: np.ndarray) -> None:
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        h, _ = np.histogram(x, bins=_BINS, range=(lo, hi if hi > lo else lo + 1.0))
        self.hist = h if self.hist is None else self.hist + h

    def edges(self) -> np.ndarray:
        lo, hi = min(self.lo, 0.0), max(self.hi, 0.0)
        return np.linspace(lo, hi if hi > lo else lo + 1.0, _BINS + 1)


def _range(obs: _Observer, method: str, percentile: float) -> tuple[float, float]:
    lo, hi = min(obs.lo, 0.0), max(obs.hi, 0.0)
    if method == "minmax" or hi <= lo:
        return lo, hi
    hist = obs.hist.astype(np.float64)
    edges = obs.edges()
    centers = (edges[:-1] + edges[1:]) / 2
    if method == "percentile":
        cdf = np.cumsum(hist) / hist.sum()
        tail = (100.0 - percentile) / 100.0
        i_lo = int(np.searchsorted(cdf, tail / 2 if lo < 0 else 0.0))
        i_hi = int(np.searchsorted(cdf, 1.0 - (tail / 2 if lo < 0 else tail)))
        return (min(float(edges[i_lo]), 0.0) if lo < 0 else 0.0), max(float(edges[min(i_hi + 1, _BINS)]), 0.0)
    if method == "mse":
        # The clip range, a shrink of [lo, hi], that minimizes the expected squared error over
        # the histogram: rounding noise (step^2 / 12) inside, distance to the bound outside.
        best, best_err = (lo, hi), math.inf
        for r in np.linspace(0.2, 1.0, 81):
            a, b = lo * r, hi * r
            step = (b - a) / 255.0
            clipped = np.clip(centers, a, b)
            err = float(np.sum(hist * ((centers - clipped) ** 2 + step * step / 12.0)))
            if err < best_err:
                best, best_err = (a, b), err
        return best
    # entropy: the upper bound whose 255-level quantization of the histogram loses the least
    # information (KL divergence, as TensorRT calibrates), the lower bound kept.
    zero = int(np.searchsorted(edges, 0.0, side="right")) - 1 if lo < 0 else 0
    hist = hist.copy()
    hist[zero] = 0  # the spike of exact zeros (ReLU outputs, image borders) is exact at any scale
    best, best_kl = hi, math.inf
    for i in range(max(zero + 256, _BINS // 8), _BINS + 1, 16):
        p = hist[:i].copy()
        p[i - 1] += hist[i:].sum()  # the reference: what the clip cuts off lands on the bound
        # the candidate: the unclipped bins quantized to 255 levels (the outliers' mass is what
        # it lacks), each level spread over the nonzero bins it merges
        q = np.zeros(i)
        for chunk in np.array_split(np.arange(i), 255):
            nz = chunk[hist[chunk] > 0]
            if nz.size:
                q[nz] = hist[chunk].sum() / nz.size
        mask = p > 0
        pn, qn = p[mask] / p.sum(), q[mask] / q.sum()
        kl = float(np.sum(pn * np.log(pn / np.maximum(qn, 1e-30))))
        if kl < best_kl:
            best, best_kl = float(edges[i]), kl
    return lo, best


def _input_params(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    scale = float(np.float32(scale)) or 1.0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


def _weight_params(w: np.ndarray, per_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """s8 symmetric weights (zero point 0), one scale per output channel or one in all."""
    a = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if per_channel else np.array([np.abs(w).max()])
    scale = np.where(a > 0, a / 127.0, 1.0).astype(np.float32)
    s = scale.reshape((-1,) + (1,) * (w.ndim - 1)) if per_channel else scale[0]
    q = np.clip(np.rint(w / s), -127, 127).astype(np.int8)
    return q, scale


def quantize(graph: Graph, calibration_data: np.ndarray, *, method: str = "minmax", per_channel: bool = True,
             keep_float: Iterable[str] = (), percentile: float = 99.99) -> Graph:
    """A copy of ``graph`` (BatchNorm folded) whose Dense / Conv2d layers carry int8
    ``QuantParams``: input scale / zero point from observers over ``calibration_data``
    (``method``: ``"minmax"``, ``"percentile"`` (clip at ``percentile``), ``"mse"`` (the clip
    minimizing squared error) or ``"entropy"`` (KL divergence, TensorRT's)), weights s8
    symmetric per output channel (``per_channel=False``: one scale per layer). Layers in
    ``keep_float`` stay float. ``compile(q)`` runs the int8 layers int8."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not (isinstance(percentile, (int, float)) and 50.0 < percentile <= 100.0):
        raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
    keep = set(keep_float)
    unknown = keep - {n.layer.name for n in graph.nodes}
    if unknown:
        raise ValueError(f"keep_float names layers the graph does not have: {sorted(unknown)}")
    x = _calibration(graph, calibration_data)
    g = fold_batchnorm(graph)
    targets = {n.layer.name: n for n in g.nodes
               if isinstance(n.layer, (L.Dense, L.Conv2d)) and n.layer.name not in keep}
    observers = {name: _Observer() for name in targets}
    passes = ("range",) if method == "minmax" else ("range", "values")
    for what in passes:
        for s in range(0, len(x), _CHUNK):
            with np.errstate(all="ignore"):
                vals = reference.forward_all(g, x[s:s + _CHUNK])
            for name, node in targets.items():
                v = vals[node.inputs[0]]
                if not np.all(np.isfinite(v)):
                    raise ValueError(f"layer '{name}': its input holds inf or NaN on the calibration data")
                (observers[name].see_range if what == "range" else observers[name].see_values)(v)
    fed = _fed_by_quantized_input(g)  # layers reading a uint8 / int8 input as stored take its parameters
    for name, node in targets.items():
        layer = node.layer
        scale, zp = fed[name] if name in fed else _input_params(*_range(observers[name], method, percentile))
        wq, ws = _weight_params(layer.weight, per_channel)
        layer.quant = L.QuantParams(scale, zp, weight=wq, weight_scale=ws)
        layer.precision = "int8"
    return g


def precision_of(graph: Graph) -> dict[str, str]:
    """``{layer: "int8"}`` for the layers ``quantize`` gave int8 parameters (which ``compile``
    runs int8 by the precision they carry)."""
    return {n.layer.name: "int8" for n in graph.nodes
            if isinstance(n.layer, (L.Dense, L.Conv2d)) and n.layer.quant is not None
            and n.layer.quant.input_scale is not None}


@dataclass(frozen=True)
class LayerSensitivity:
    """One layer of a quantized graph: ``sqnr_db``, the signal-to-quantization-noise ratio of
    its output with its input and weights quantized (float64 emulation); ``accuracy_drop``,
    the accuracy lost when only this layer runs int8 (None without labels)."""

    layer: str
    sqnr_db: float
    accuracy_drop: Optional[float]


def _emulated_output(node, vals: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The layer's float output, and the same with the input and weights quantized."""
    layer, q = node.layer, node.layer.quant
    x = vals[node.inputs[0]]
    xq = (np.clip(np.rint(x / q.input_scale) + q.input_zero_point, 0, 255) - q.input_zero_point) * q.input_scale
    ws = q.weight_scale.reshape((-1,) + (1,) * (q.weight.ndim - 1)) if q.weight_scale.size > 1 else q.weight_scale[0]
    lq = copy.copy(layer)
    lq.weight = (q.weight.astype(np.float64) * ws).astype(np.float32)
    lq.activation = None
    lf = copy.copy(layer)
    lf.activation = None
    fwd = reference._FORWARD[layer.op]
    return fwd([x], lf, None), fwd([xq], lq, None)


def sensitivity(quantized: Graph, data: np.ndarray, labels: Optional[np.ndarray] = None, *,
                client: Any = None) -> list[LayerSensitivity]:
    """Which layers int8 hurts: per int8 layer of ``quantized`` (from :func:`quantize`), the
    SQNR of its output on ``data`` and, given ``labels``, the accuracy drop when only that
    layer runs int8 on the runtime (compiled), against all float.

    ``client``: a ``distributed.Client`` on whose workers the per-layer accuracy runs go (the
    graph and data sent once to each); the figures are the ones a run here gives.
    """
    from .._runtime import get_num_threads

    x = _calibration(quantized, data)
    with np.errstate(all="ignore"):
        vals = reference.forward_all(quantized, x)
    names = list(precision_of(quantized))
    drops: dict[str, Optional[float]] = dict.fromkeys(names)
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(x),):
            raise ValueError(f"labels must have shape ({len(x)},), got {labels.shape}")
        precisions = ["f32"] + [{name: "int8"} for name in names]
        shared = (quantized, x, labels, get_num_threads())
        if client is None:
            accs = [_accuracy_at(shared, p) for p in precisions]
        else:
            from ..dask.sweep import map_shared

            accs = map_shared(client, _accuracy_at, shared, precisions)
        drops = {name: accs[0] - acc for name, acc in zip(names, accs[1:])}
    rows = []
    for node in quantized.nodes:
        if node.layer.name not in names:
            continue
        y, yq = _emulated_output(node, vals)
        noise = float(np.sum((y - yq) ** 2))
        sqnr = math.inf if noise == 0 else 10 * math.log10(max(float(np.sum(y ** 2)), 1e-300) / noise)
        rows.append(LayerSensitivity(node.layer.name, sqnr, drops[node.layer.name]))
    return rows


def _accuracy_at(shared: tuple, precision: Any) -> float:
    """Accuracy of ``quantized`` compiled at ``precision`` (a worker runs this as it is)."""
    from ..graph.compile import compile
    from ..graph.session import Session

    quantized, x, labels, threads = shared
    s = Session(compile(quantized, precision=precision), max_batch=min(len(x), 256), num_threads=threads)
    preds = np.concatenate([s.run(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    return float(np.mean(preds == labels))
