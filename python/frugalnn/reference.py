"""A plain numpy forward pass of a graph: the oracle the runtime is tested against.

NCHW throughout, float64 arithmetic, no fusion and no folding: every layer is computed as
its definition says, so a disagreement points at the runtime.
"""
from __future__ import annotations

from typing import Mapping, Union

import numpy as np

from .graph.graph import Graph
from .graph import layers as L


def _conv2d(x: np.ndarray, layer: L.Conv2d) -> np.ndarray:
    n, c, h, w = x.shape
    o, cg, kh, kw = layer.weight.shape
    t, l, b, r = layer.pads(h, w)
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    dh, dw = layer.dilation
    sh, sw = layer.stride
    oh = (h + t + b - (kh - 1) * dh - 1) // sh + 1
    ow = (w + l + r - (kw - 1) * dw - 1) // sw + 1
    # cols[n, c, i, j, oh, ow] = xp[n, c, i*dh + oh*sh, j*dw + ow*sw]
    cols = np.empty((n, c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
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


def _pool(x: np.ndarray, layer: L._Pool2d, op: str) -> np.ndarray:
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
    fill = -np.inf if op == "max" else np.nan
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :oh, :ow]
    return win.max(axis=(4, 5)) if op == "max" else np.nanmean(win, axis=(4, 5))


def _activate(y: np.ndarray, activation) -> np.ndarray:
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    return y


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
    vals: dict[str, np.ndarray] = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    for node in graph.nodes:
        layer = node.layer
        xs = [vals[i] for i in node.inputs]
        x = xs[0]
        op = layer.op
        if op == "dense":
            y = x @ layer.weight.T.astype(np.float64)
            if layer.bias is not None:
                y = y + layer.bias
            y = _activate(y, layer.activation)
        elif op == "conv2d":
            y = _activate(_conv2d(x, layer), layer.activation)
        elif op == "maxpool2d":
            y = _pool(x, layer, "max")
        elif op == "avgpool2d":
            y = _pool(x, layer, "avg")
        elif op == "global_avgpool":
            y = x.mean(axis=(2, 3))
        elif op == "relu":
            y = np.maximum(x, 0)
        elif op == "clip":
            y = np.clip(x, layer.lo, layer.hi)
        elif op == "sigmoid":
            y = 1 / (1 + np.exp(-x))
        elif op == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        elif op == "flatten":
            y = x.reshape(x.shape[0], -1)
        elif op == "reshape":
            y = x.reshape((x.shape[0],) + graph.shapes[node.output])
        elif op == "add":
            y = _activate(xs[0] + xs[1], layer.activation)
        elif op == "concat":
            y = np.concatenate(xs, axis=1 + layer.axis % (x.ndim - 1))
        elif op in ("batchnorm", "scale_shift") and layer.scale_shift()[0].shape[0] == 1:
            scale, shift = (float(a[0]) for a in layer.scale_shift())
            y = x * np.float64(np.float32(scale)) + np.float64(np.float32(shift))
        elif op in ("batchnorm", "scale_shift"):
            scale, shift = (a.astype(np.float64) for a in layer.scale_shift())
            shp = (1, -1) + (1,) * (x.ndim - 2)
            y = x * scale.reshape(shp) + shift.reshape(shp)
        else:
            raise NotImplementedError(op)
        vals[node.output] = y
    return vals
