"""Slice: a strided window of a sample (ONNX Slice on computed tensors, and Split, which is
one Slice per output). Runs on the ``broadcast`` step as a strided copy with a start offset
(graph/ops/broadcast.py), so it costs one pass over the values it keeps."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from ... import _core
from ...io.onnx_export import register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_values import Data, malformed, unsupported
from ...reference import register_forward
from ..compile import register_lowering
from ..layers import GraphError, Layer
from .broadcast import OPS, step_dims, stored_strides

__all__ = ["Slice"]


class Slice(Layer):
    """``x[start_0:stop_0:step_0, start_1:stop_1:step_1, ...]`` over a sample's axes, with
    ``0 <= start < stop <= size`` and ``step >= 1`` per axis (one triple per axis)."""

    op = "slice"

    def __init__(self, starts: Sequence[int], stops: Sequence[int], steps: Optional[Sequence[int]] = None, *,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        steps = [1] * len(starts) if steps is None else list(steps)
        if not (len(starts) == len(stops) == len(steps)) or not starts:
            raise GraphError(f"{self._label()}: needs one start, stop and step per axis")
        self.starts, self.stops, self.steps = (tuple(int(v) for v in a) for a in (starts, stops, steps))
        if any(s < 1 for s in self.steps) or any(not 0 <= a < b for a, b in zip(self.starts, self.stops)):
            raise GraphError(f"{self._label()}: needs 0 <= start < stop and step >= 1 on every axis, got "
                             f"{list(zip(self.starts, self.stops, self.steps))}")

    def infer(self, shapes):
        (s,) = shapes
        if len(s) != len(self.starts):
            raise GraphError(f"{self._label()}: {len(self.starts)} axes sliced of a rank-{len(s)} sample")
        if any(b > n for b, n in zip(self.stops, s)):
            raise GraphError(f"{self._label()}: stops {list(self.stops)} pass the shape {s}")
        return tuple(len(range(a, b, k)) for a, b, k in zip(self.starts, self.stops, self.steps))


@register_lowering(Slice)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    out_shape = compiler.g.shapes[node.output]
    st = stored_strides(in_shape)
    dims, (sa, sb) = step_dims(out_shape, [[s * k for s, k in zip(st, layer.steps)], [0] * len(out_shape)],
                               layer.name)
    params = _core.BroadcastParams(op=OPS["copy"], dims=dims, a_strides=sa, b_strides=sb,
                                   a_sample=math.prod(in_shape), b_sample=0,
                                   a_offset=sum(a * s for a, s in zip(layer.starts, st)))
    compiler.core.add_step("broadcast", layer.name, [x], compiler.writes(out_name), params)


@register_forward("slice")
def _forward(xs, layer, out_shape):
    return xs[0][(slice(None),) + tuple(slice(a, b, k) for a, b, k in zip(layer.starts, layer.stops, layer.steps))]


@register_exporter(Slice)
def _export(ex: Any, layer: Slice, x: list, y: str) -> None:
    n = len(layer.starts)
    ex.node("Slice", [x[0], ex.const(f"{y}_starts", np.array(layer.starts, np.int64)),
                      ex.const(f"{y}_ends", np.array(layer.stops, np.int64)),
                      ex.const(f"{y}_axes", np.arange(1, n + 1, dtype=np.int64)),
                      ex.const(f"{y}_steps", np.array(layer.steps, np.int64))], [y])


# ---------------------------------------------------------------------------------------
# ONNX import


def slice_data(imp: _Importer, node: Any, x: Data, bounds: list[tuple[int, int, int]], name: str) -> Data:
    """``x`` cut to per-sample ``bounds`` (start, stop, step per axis); itself when whole."""
    if all(a == 0 and b == n and k == 1 for (a, b, k), n in zip(bounds, x.shape)):
        return Data(x.tensor, q=x.q, range=x.range)
    layer = imp.layer(node, lambda: Slice(*zip(*bounds), name=name))
    return Data(imp.emit(node, layer, [x.tensor]), q=x.q, range=x.range)  # values moved, not changed


@op("Slice", "starts:ints ends:ints axes:ints")
def _slice(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    rank = imp.rank(x)
    if imp.opset < 10:
        starts, ends, axes, steps = a.get("starts"), a.get("ends"), a.get("axes"), None
    else:
        starts, ends, axes, steps = (imp.const(node, i) for i in (1, 2, 3, 4))
    if starts is None or ends is None:
        raise malformed(node, "starts and ends are required")
    starts, ends = [int(v) for v in np.asarray(starts).reshape(-1)], [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise malformed(node, "starts, ends, axes and steps differ in length")
    bounds = [(0, n, 1) for n in x.shape]
    seen = set()
    for s, e, ax, k in zip(starts, ends, axes, steps):
        ax = imp.axis(node, ax, rank)
        if ax in seen:
            raise malformed(node, f"axis {ax} is sliced twice")
        seen.add(ax)
        if k == 0:
            raise malformed(node, "a step of 0")
        if ax == 0:
            if (s, k) == (0, 1) and e >= (imp.batch or 1 << 62):
                continue  # the whole batch
            raise unsupported(node, "slicing the batch axis: only the other axes may be sliced")
        if k < 0:
            raise unsupported(node, f"step {k} on axis {ax}: only positive steps are supported")
        n = x.shape[ax - 1]
        lo, hi, _ = slice(s, e, k).indices(n)  # clamps as ONNX does
        if hi <= lo:
            raise unsupported(node, f"axis {ax} sliced to nothing: empty tensors are not supported")
        bounds[ax - 1] = (lo, hi, k)
    imp.set(node.output[0], slice_data(imp, node, x, bounds, imp.name_for(node)))


@op("Split", "axis:i split:ints num_outputs:i")
def _split(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    axis = imp.axis(node, int(a.get("axis", 0)), imp.rank(x))
    if axis == 0:
        raise unsupported(node, "splitting the batch axis: only the other axes may be split")
    n = x.shape[axis - 1]
    outs = [o for o in node.output]
    sizes = a.get("split") if imp.opset < 13 else imp.const(node, 1)
    if sizes is None:
        k = int(a.get("num_outputs", len(outs)))
        if k != len(outs) or k < 1:
            raise malformed(node, f"num_outputs {k} for {len(outs)} outputs")
        step = -(-n // k)  # ONNX: equal parts, the last one smaller
        sizes = [min(step, n - i * step) for i in range(k)]
    sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
    if len(sizes) != len(outs) or any(s < 1 for s in sizes) or sum(sizes) != n:
        raise malformed(node, f"split sizes {sizes[:8]} do not cut axis {axis} of size {n} into {len(outs)} parts")
    start = 0
    for o, size in zip(outs, sizes):
        if o:  # an unused (unnamed) output needs no copy
            bounds = [(0, d, 1) for d in x.shape]
            bounds[axis - 1] = (start, start + size, 1)
            imp.set(o, slice_data(imp, node, x, bounds, o if o not in imp.g.shapes else imp.fresh(o)))
        start += size
