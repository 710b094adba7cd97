"""What float32 arithmetic may change in a compiled float program: a reference with the
weights rounded the way the program stores them, and a per-element error scale for the f32
arithmetic the program adds, propagated through the graph.

f16 / bf16 programs store each weight rounded to nearest even and compute in f32, so
against ``rounded_weights(g, p)`` run by the float64 reference, the only difference left is
f32 rounding: the f16 / bf16 check can be as tight as the f32 one, and a weight-scale or
missing-bias bug of any useful size shows up thousands of sigmas out.

The error scale (``f32_sigma``) is a first-order statistical model (independent rounding
errors, relative size uniform in [-u, u], u = 2^-24, variance u^2 / 3), not a worst case:
a worst-case bound (K u sum|w||x| per layer, |W| e propagated) is 4 orders of magnitude
above the errors actually made on mnist_cnn (3.6% of the largest output) and would let a 2%
weight-scale bug through.

* A K-term dot product y = b + sum_k t_k (t_k = w_k x_k) summed in one f32 chain (FMA or
  not) errs by sum_j delta_j s_j over its K partial sums s_j. Each s_j^2 is taken as at most
  sum_k t_k^2 + b^2 (a random walk of the terms) + z^2 (a drift heading straight for the
  result z before the activation), so the variance is at most
  u^2 / 3 * K * (sum_k w_k^2 x_k^2 + b^2 + z^2); split chains, SIMD lanes or K blocking only
  shorten the chains. Storing the result in f32 adds u^2 / 3 * y^2.
* Errors already in x pass through the weights with random signs: variance (W^2) var(x).
* ReLU / max-pool are 1-Lipschitz: the variance passes (max-pool: the window's largest).
* Softmax, linearized: dp_i = p_i (dz_i - sum_j p_j dz_j), plus a few roundings of p_i
  (exp, the subtraction of the max, the final multiply).

Measured at every ISA level in f32, f16 and bf16, on mnist_cnn and mlp (160 outputs) and the
grouped convs of test_grouped_conv.py (1,800 and 8,262 outputs): max |err| / sigma 0.46-1.51,
rms 0.17-0.25. ``TOL_SIGMAS = 4.5`` leaves 3x headroom over the worst element.
"""
from __future__ import annotations

import copy

import numpy as np

from frugalnn import reference
from frugalnn.graph import Conv2d, Dense
from frugalnn.reference import _conv2d, _pool

U = 2.0 ** -24  # f32 unit roundoff
TOL_SIGMAS = 4.5


def round_weights(w: np.ndarray, precision: str) -> np.ndarray:
    """float32 ``w`` rounded to nearest even in f16 / bf16 (numpy, independently of the
    library), back as float32."""
    w = np.ascontiguousarray(w, np.float32)
    if precision == "f32":
        return w
    if precision == "f16":
        return w.astype(np.float16).astype(np.float32)
    if precision == "bf16":
        u = w.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
        return u.astype(np.uint32).view(np.float32)
    raise ValueError(precision)


def rounded_weights(graph, precision: str):
    """A copy of ``graph`` whose Dense / Conv2d weights are rounded to ``precision`` (biases
    stay f32, as the packed weights keep them)."""
    g = copy.deepcopy(graph)
    for node in g.nodes:
        if isinstance(node.layer, (Dense, Conv2d)):
            node.layer.weight = round_weights(node.layer.weight, precision)
    return g


def f32_sigma(graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """{output name: per-element standard deviation of the f32 arithmetic error} for the
    exact (float64) forward pass of ``graph`` on ``x``; see the module docstring."""
    vals = reference.forward_all(graph, x)
    var = {k: np.zeros_like(v) for k, v in vals.items()}
    for node in graph.nodes:
        layer, xin, v, y = node.layer, vals[node.inputs[0]], var[node.inputs[0]], vals[node.output]
        if layer.op in ("dense", "conv2d"):
            sq = copy.copy(layer)
            sq.weight, sq.bias, sq.activation = layer.weight.astype(np.float64) ** 2, None, None
            if layer.op == "dense":
                k = layer.weight.shape[1]
                lin = lambda t: t @ sq.weight.T  # noqa: E731
                z = xin @ layer.weight.T.astype(np.float64) + (0 if layer.bias is None else layer.bias)
            else:
                k = int(np.prod(layer.weight.shape[1:]))
                lin = lambda t: _conv2d(t, sq)  # noqa: E731
                z = _conv2d(xin, layer)  # with the bias, before the activation
            b2 = 0.0 if layer.bias is None else layer.bias.astype(np.float64) ** 2
            if layer.op == "conv2d" and layer.bias is not None:
                b2 = b2[None, :, None, None]
            out = lin(v) + U ** 2 / 3 * (k * (lin(xin ** 2) + b2 + z ** 2) + y ** 2)
        elif layer.op in ("relu", "flatten"):
            out = v.reshape(y.shape)
        elif layer.op == "maxpool2d":
            out = _pool(v, layer, "max")
        elif layer.op == "softmax":
            z = xin - xin.max(axis=-1, keepdims=True)
            out = (y ** 2 * (np.abs(1 - 2 * y) * v + (y ** 2 * v).sum(axis=-1, keepdims=True))
                   + y ** 2 * U ** 2 / 3 * (4 + z ** 2))
        else:
            raise NotImplementedError(f"no error model for {layer.op}")
        var[node.output] = out
    return {name: np.sqrt(var[name]) for name in graph.outputs}


def within(got: np.ndarray, ref: np.ndarray, sigma: np.ndarray, sigmas: float = TOL_SIGMAS) -> bool:
    return bool(np.all(np.abs(got.astype(np.float64) - ref) <= sigmas * sigma))


def worst(got: np.ndarray, ref: np.ndarray, sigma: np.ndarray) -> float:
    """max |got - ref| / sigma: the failure message."""
    return float(np.max(np.abs(got.astype(np.float64) - ref) / sigma))
