"""A plain numpy forward pass of a graph: the oracle the runtime is tested against.

NCHW throughout, float64 arithmetic, no fusion and no folding: every layer is computed as
its definition says, so a disagreement points at the runtime.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Union

import numpy as np

from ._registry import registrar
from .graph.graph import Graph
from .graph import layers as L


def _taps_inside(offset: int, stride: int, n_out: int, size: int) -> tuple[int, int]:
    """Outputs [lo, hi) whose tap at ``offset + o * stride`` lies in [0, size): the rest read
    padding. Padding is never materialized, so a legal but huge pad (up to 2^24) costs
    nothing here."""
    lo = max(0, -(offset // stride))  # ceil(-offset / stride)
    hi = min(n_out, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, max(lo, hi)


def _conv2d(x: np.ndarray, layer: L.Conv2d) -> np.ndarray:
    n, c, h, w = x.shape
    o, cg, kh, kw = layer.weight.shape
    t, l, b, r = layer.pads(h, w)
    dh, dw = layer.dilation
    sh, sw = layer.stride
    oh = (h + t + b - (kh - 1) * dh - 1) // sh + 1
    ow = (w + l + r - (kw - 1) * dw - 1) // sw + 1
    # cols[n, c, i, j, oy, ox] = x[n, c, i*dh + oy*sh - t, j*dw + ox*sw - l], 0 in the padding
    cols = np.zeros((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        y0, y1 = _taps_inside(i * dh - t, sh, oh, h)
        if y0 == y1:
            continue
        iy = i * dh - t + y0 * sh
        for j in range(kw):
            x0, x1 = _taps_inside(j * dw - l, sw, ow, w)
            if x0 == x1:
                continue
            ix = j * dw - l + x0 * sw
            cols[:, :, i, j, y0:y1, x0:x1] = x[:, :, iy: iy + (y1 - y0 - 1) * sh + 1: sh,
                                               ix: ix + (x1 - x0 - 1) * sw + 1: sw]
    g = layer.groups
    og = o // g
    wt = layer.weight.astype(np.float64)
    out = np.empty((n, o, oh, ow))
    for gi in range(g):
        cg_cols = cols[:, gi * cg:(gi + 1) * cg].reshape(n, cg * kh * kw, oh * ow)
        wg = wt[gi * og:(gi + 1) * og].reshape(og, cg * kh * kw)
        out[:, gi * og:(gi + 1) * og] = np.einsum("ok,nkp->nop", wg, cg_cols).reshape(n, og, oh, ow)
    if layer.bias is not None:
        out += layer.bias.astype(np.float64)[None, :, None, None]
    return out


def _pool_axis(x: np.ndarray, axis: int, k: int, s: int, p: int, n_out: int, op: str) -> tuple[np.ndarray, np.ndarray]:
    """Max or sum over the windows along one axis (the real values of each, padding left
    out), and how many real values each window holds. Max and sum are separable, so two
    passes give the 2-D pool; windows are clipped, never padded (a 2^24 window costs what
    its real part does)."""
    size = x.shape[axis]
    parts, counts = [], []
    for o in range(n_out):
        lo, hi = max(o * s - p, 0), min(o * s - p + k, size)
        win = np.take(x, range(lo, hi), axis=axis)
        parts.append(win.max(axis=axis) if op == "max" else win.sum(axis=axis))
        counts.append(hi - lo)
    return np.stack(parts, axis=axis), np.array(counts, np.float64)


def _pool(x: np.ndarray, layer: L._Pool2d, op: str) -> np.ndarray:
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    oh, ow = layer.output_size(h, w)
    rows, count_h = _pool_axis(x, 2, kh, sh, ph, oh, op)
    y, count_w = _pool_axis(rows, 3, kw, sw, pw, ow, op)
    # Every window holds a real value (padding is at most half the window), so a max never
    # sees only padding and a mean divides by its real count (count_include_pad=0).
    return y if op == "max" else y / (count_h[:, None] * count_w[None, :])


def _activate(y: np.ndarray, activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    return y


# op name -> its reference forward, fn(xs, layer, out_shape) with xs the float64 inputs and
# out_shape the per-sample output shape: one registration per op, next to its helpers.
_FORWARD: dict[str, Callable[[list, Any, tuple], np.ndarray]] = {}


register_forward = registrar(
    _FORWARD, """Decorator: ``fn(xs, layer, out_shape)`` is the float64 reference forward of these ops.""")


@register_forward("dense")
def _dense(xs, layer, out_shape):
    y = xs[0] @ layer.weight.T.astype(np.float64)
    if layer.bias is not None:
        y = y + layer.bias
    return _activate(y, layer.activation)


@register_forward("conv2d")
def _conv(xs, layer, out_shape):
    return _activate(_conv2d(xs[0], layer), layer.activation)


@register_forward("maxpool2d")
def _maxpool(xs, layer, out_shape):
    return _pool(xs[0], layer, "max")


@register_forward("avgpool2d")
def _avgpool(xs, layer, out_shape):
    return _pool(xs[0], layer, "avg")


@register_forward("global_avgpool")
def _global_avgpool(xs, layer, out_shape):
    return xs[0].mean(axis=(2, 3))


@register_forward("relu")
def _relu(xs, layer, out_shape):
    return np.maximum(xs[0], 0)


@register_forward("clip")
def _clip(xs, layer, out_shape):
    return np.clip(xs[0], layer.lo, layer.hi)


@register_forward("softmax")
def _softmax(xs, layer, out_shape):
    axis = layer.axis_of(out_shape) + 1
    e = np.exp(xs[0] - xs[0].max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@register_forward("flatten")
def _flatten(xs, layer, out_shape):
    return xs[0].reshape(xs[0].shape[0], -1)


@register_forward("reshape")
def _reshape(xs, layer, out_shape):
    return xs[0].reshape((xs[0].shape[0],) + tuple(out_shape))


@register_forward("add")
def _add(xs, layer, out_shape):
    return _activate(xs[0] + xs[1], layer.activation)


@register_forward("concat")
def _concat(xs, layer, out_shape):
    return np.concatenate(xs, axis=1 + layer.axis % (xs[0].ndim - 1))


@register_forward("batchnorm", "scale_shift")
def _scale_shift(xs, layer, out_shape):
    x = xs[0]
    scale, shift = layer.scale_shift()
    if scale.shape[0] == 1:  # one value for every element, rounded to f32 as the runtime holds it
        return x * np.float64(np.float32(scale[0])) + np.float64(np.float32(shift[0]))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    return x * scale.astype(np.float64).reshape(shp) + shift.astype(np.float64).reshape(shp)


def forward(graph: Graph, inputs: Union[np.ndarray, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Outputs (float32) of ``graph`` for a batch of inputs (N x per-sample shape)."""
    graph.check()
    vals = forward_all(graph, inputs)
    return {name: vals[name].astype(np.float32) for name in graph.outputs}


def forward_all(graph: Graph, inputs: Union[np.ndarray, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Every tensor of the graph (float64), by name: for calibration and per-layer checks."""
    if isinstance(inputs, np.ndarray):
        if len(graph.inputs) != 1:
            raise ValueError("the graph has several inputs: pass a dict")
        inputs = {next(iter(graph.inputs)): inputs}
    vals: dict[str, np.ndarray] = {}
    for k, v in inputs.items():
        q = graph.input_quant.get(k)
        if q is not None:  # a uint8 / int8 input: its real values, dequantized in float32
            v = np.asarray(v)
            if v.dtype != np.dtype(q.dtype):
                raise TypeError(f"input '{k}' is declared {q.dtype}: pass {q.dtype} data, got {v.dtype}")
            v = q.dequantize(v)
        vals[k] = np.asarray(v, np.float64)
    for node in graph.nodes:
        fn = _FORWARD.get(node.layer.op)
        if fn is None:
            raise NotImplementedError(f"no reference forward for {node.layer.op}")
        vals[node.output] = fn([vals[i] for i in node.inputs], node.layer, graph.shapes[node.output])
    return vals
