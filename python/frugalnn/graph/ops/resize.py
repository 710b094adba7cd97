"""Resize: nearest / bilinear resampling of a (C, H, W) map over H and W (ONNX Resize,
opsets 10 to 19, and Upsample, opsets 7 to 9), as segmentation heads and decoders use it.

Output pixel (oy, ox) reads the input at ONNX's ``x_original = f(x_resized, scale,
lengths)`` per axis, for the coordinate transformations half_pixel, pytorch_half_pixel,
align_corners, asymmetric, half_pixel_symmetric and tf_half_pixel_for_nn; nearest rounds it
by ``nearest_mode`` (round_prefer_floor / round_prefer_ceil / floor / ceil) and clamps it
into the input; linear clamps it into [0, n - 1] and blends the two neighbours. The
coordinates are evaluated in float32 with onnxruntime's operation order (a float64
evaluation rounds some non-integer scales' ties the other way, so nearest picks another
pixel), once per output row and column at compile time: the native ``resize`` step only
gathers and blends whole NHWC pixels.
"""
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
from ..limits import MAX_DIM, is_int

__all__ = ["Resize"]

MODES = ("nearest", "linear")
COORDINATES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric",
               "tf_half_pixel_for_nn")
NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
F = np.float32


class Resize(Layer):
    """Resample a (C, H, W) map to (C, oh, ow).

    Args:
        size: (oh, ow).
        mode: "nearest" or "linear" (bilinear over H, W).
        coordinate_transformation: how an output index maps to an input coordinate, as ONNX
            Resize's ``coordinate_transformation_mode`` (one of ``COORDINATES``).
        nearest_mode: how nearest rounds that coordinate (one of ``NEAREST``).
        scale: (sh, sw), the scales the coordinate formulas divide by when a model gave
            scales rather than sizes (``oh = floor(h * sh)``, so ``oh / h`` may differ from
            ``sh``); None: ``oh / h`` and ``ow / w`` in float32, as for ONNX ``sizes``.
    """

    op = "resize"

    def __init__(self, size: Sequence[int], *, mode: str = "nearest", coordinate_transformation: str = "half_pixel",
                 nearest_mode: str = "round_prefer_floor", scale: Optional[Sequence[float]] = None,
                 name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        s = tuple(size) if isinstance(size, (tuple, list)) else ()
        if len(s) != 2 or not all(is_int(v) and 1 <= v <= MAX_DIM for v in s):
            raise GraphError(f"{lab}: size must be two ints (oh, ow) in [1, 2^24], got {size!r}")
        self.size = (int(s[0]), int(s[1]))
        if mode not in MODES:
            raise GraphError(f"{lab}: mode must be one of {MODES}, got {mode!r}")
        if coordinate_transformation not in COORDINATES:
            raise GraphError(f"{lab}: coordinate_transformation must be one of {COORDINATES}, "
                             f"got {coordinate_transformation!r}")
        if nearest_mode not in NEAREST:
            raise GraphError(f"{lab}: nearest_mode must be one of {NEAREST}, got {nearest_mode!r}")
        self.mode, self.coordinate_transformation, self.nearest_mode = mode, coordinate_transformation, nearest_mode
        self.scale: Optional[tuple[float, float]] = None
        if scale is not None:
            sc = tuple(scale) if isinstance(scale, (tuple, list, np.ndarray)) else ()
            if len(sc) != 2 or not all(isinstance(v, (int, float, np.floating, np.integer)) for v in sc):
                raise GraphError(f"{lab}: scale must be two numbers (sh, sw), got {scale!r}")
            sc32 = tuple(float(F(v)) for v in sc)
            if not all(math.isfinite(v) and v > 0 for v in sc32):
                raise GraphError(f"{lab}: scale must be positive and finite in float32, got {scale!r}")
            self.scale = sc32  # type: ignore[assignment]

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (3,))
        return (s[0],) + self.size

    def axis_scale(self, axis: int, n_in: int) -> np.float32:
        """The scale axis 0 (H) or 1 (W) divides by: the given one, or out / in in float32."""
        if self.scale is not None:
            return F(self.scale[axis])
        return F(self.size[axis]) / F(n_in)

    def source(self, axis: int, n_in: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Per output index along axis 0 (H) or 1 (W): nearest, its source index (int64);
        linear, two source indices per output (n_out x 2) and their float32 weights."""
        n_out = self.size[axis]
        scale = self.axis_scale(axis, n_in)
        if scale == 1 and n_out == n_in:
            # An axis that is not resized maps one to one (onnxruntime and onnx's reference
            # skip it), even where the formula would shift it (tf_half_pixel_for_nn).
            idx = np.arange(n_in, dtype=np.int64)
            if self.mode == "nearest":
                return idx, None
            return np.stack([idx, idx], axis=1), np.full((n_in, 2), 0.5, F)
        x = coordinates(self.coordinate_transformation, n_in, n_out, scale)
        if self.mode == "nearest":
            return np.clip(round_nearest(x, self.nearest_mode), 0, n_in - 1), None
        # onnxruntime's bilinear set-up: the coordinate clamped into [0, n - 1], neighbours
        # floor and floor + 1 (clamped), weights the distances to the other neighbour; a
        # coordinate on the last row takes it twice, half each.
        xc = np.clip(x, F(0), F(n_in - 1))
        i0 = np.minimum(np.floor(xc).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w1 = np.abs(xc - i0.astype(F)).astype(F)
        w0 = np.abs(xc - i1.astype(F)).astype(F)
        same = i0 == i1
        w0[same], w1[same] = F(0.5), F(0.5)
        return np.stack([i0, i1], axis=1), np.stack([w0, w1], axis=1)


def coordinates(mode: str, n_in: int, n_out: int, scale: np.float32) -> np.ndarray:
    """ONNX's x_original of every output index, in float32 as onnxruntime evaluates it."""
    x = np.arange(n_out, dtype=F)
    half = F(0.5)
    with np.errstate(all="ignore"):
        if mode == "asymmetric":
            return (x / scale).astype(F)
        if mode == "half_pixel":
            return ((x + half) / scale - half).astype(F)
        if mode == "pytorch_half_pixel":
            return ((x + half) / scale - half).astype(F) if n_out > 1 else np.zeros(n_out, F)
        if mode == "tf_half_pixel_for_nn":
            return ((x + half) / scale).astype(F)
        if mode == "align_corners":
            return (x * F(n_in - 1) / F(n_out - 1)).astype(F) if n_out > 1 else np.zeros(n_out, F)
        # half_pixel_symmetric: the offset in float32, the rest in double, then rounded.
        adjustment = F(n_out) / (scale * F(n_in))
        offset = F(n_in) / F(2) * (F(1) - adjustment)
        return (np.float64(offset) + (x.astype(np.float64) + 0.5) / np.float64(scale) - 0.5).astype(F)


def round_nearest(x: np.ndarray, mode: str) -> np.ndarray:
    """Nearest's rounding of float32 coordinates (C's round: halves away from zero, except
    round_prefer_floor's halves), in float64 where x + 0.5 would round in float32."""
    x64 = x.astype(np.float64)
    if mode == "floor":
        return np.floor(x64).astype(np.int64)
    if mode == "ceil":
        return np.ceil(x64).astype(np.int64)
    away = np.sign(x64) * np.floor(np.abs(x64) + 0.5)
    if mode == "round_prefer_floor":
        away = np.where(x64 == np.trunc(x64) + 0.5, np.floor(x64), away)
    return away.astype(np.int64)


# ---------------------------------------------------------------------------------------
# Lowering, reference forward, export


@register_lowering(Resize)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    c, h, w = in_shape
    rows, row_w = layer.source(0, h)
    cols, col_w = layer.source(1, w)
    linear = layer.mode == "linear"
    params = _core.ResizeParams(
        h=h, w=w, c=c, oh=layer.size[0], ow=layer.size[1], linear=linear,
        rows=rows.reshape(-1).tolist(), cols=cols.reshape(-1).tolist(),
        row_weights=row_w.reshape(-1) if linear else None, col_weights=col_w.reshape(-1) if linear else None)
    compiler.core.add_step("resize", layer.name, [x], compiler.writes(out_name), params)


@register_forward("resize")
def _forward(xs, layer, out_shape):
    x = xs[0]
    _, _, h, w = x.shape
    rows, row_w = layer.source(0, h)
    cols, col_w = layer.source(1, w)
    if layer.mode == "nearest":
        return x[:, :, rows][:, :, :, cols]
    ry, rx = row_w.astype(np.float64), col_w.astype(np.float64)
    out = 0.0
    for i in range(2):
        band = x[:, :, rows[:, i]]
        for j in range(2):
            out = out + ry[None, None, :, i, None] * rx[None, None, None, :, j] * band[:, :, :, cols[:, j]]
    return out


@register_exporter(Resize)
def _export(ex: Any, layer: Resize, x: list, y: str) -> None:
    c, h, w = ex.shapes[x[0]]
    scales = [layer.axis_scale(0, h), layer.axis_scale(1, w)]
    # Scales, not sizes: sizes would have to name the batch, which is symbolic. Both give
    # the coordinates the same scale; the size must come back as floor(in * scale).
    for n_in, s, n_out in zip((h, w), scales, layer.size):
        if int(np.floor(F(s) * F(n_in))) != n_out:
            raise NotImplementedError(f"to_onnx: Resize '{layer.name}': size {layer.size} from input ({h}, {w}) is "
                                      "not floor(input * scale) for a float32 scale; give it a scale")
    attrs = dict(mode=layer.mode, coordinate_transformation_mode=layer.coordinate_transformation)
    if layer.mode == "nearest":
        attrs["nearest_mode"] = layer.nearest_mode
    ex.node("Resize", [x[0], "", ex.const(f"{y}_scales", np.array([1, 1, *scales], F))], [y], **attrs)


# ---------------------------------------------------------------------------------------
# ONNX import

_RESIZE_ATTRS = ("mode:s coordinate_transformation_mode:s nearest_mode:s cubic_coeff_a:f exclude_outside:i "
                 "extrapolation_value:f antialias:i axes:ints keep_aspect_ratio_policy:s")
_SUPPORTED = ("supported: mode nearest (nearest_mode round_prefer_floor / round_prefer_ceil / floor / ceil) or "
              f"linear, coordinate_transformation_mode {' / '.join(COORDINATES)}, constant scales or sizes over "
              "H and W of (N, C, H, W)")


@op("Resize", _RESIZE_ATTRS)
def _resize(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    mode = a.get("mode", "nearest")
    if mode == "cubic":
        raise unsupported(node, f"mode 'cubic' is not supported; {_SUPPORTED}")
    if mode not in MODES:
        raise malformed(node, f"mode must be nearest, linear or cubic, got {mode!r}")
    if imp.opset < 11:
        coords, scales, sizes = "asymmetric", _optional(imp, node, 1), None
    else:
        coords = a.get("coordinate_transformation_mode", "half_pixel")
        scales, sizes = _optional(imp, node, 2), _optional(imp, node, 3)
    if coords == "tf_crop_and_resize":
        raise unsupported(node, f"coordinate_transformation_mode 'tf_crop_and_resize' is not supported; {_SUPPORTED}")
    if coords not in COORDINATES:
        raise malformed(node, f"unknown coordinate_transformation_mode {coords!r}")
    if int(a.get("exclude_outside", 0)) != 0:
        raise unsupported(node, f"exclude_outside=1 (cubic / antialiased filters) is not supported; {_SUPPORTED}")
    antialias = int(a.get("antialias", 0)) != 0
    policy = a.get("keep_aspect_ratio_policy", "stretch")
    if policy not in ("stretch", "not_larger", "not_smaller"):
        raise malformed(node, f"unknown keep_aspect_ratio_policy {policy!r}")
    resize_from(imp, node, x, mode, coords, a.get("nearest_mode", "round_prefer_floor") if imp.opset >= 11 else None,
                scales, sizes, axes=a.get("axes"), policy=policy, antialias=antialias)


@op("Upsample", "mode:s scales:floats")
def _upsample(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    mode = a.get("mode", "nearest")
    if mode == "bilinear":  # opset 7's spelling, taken by onnxruntime as linear
        mode = "linear"
    if mode not in MODES:
        raise unsupported(node, f"mode {mode!r} is not supported; supported: nearest, linear")
    if imp.opset < 9:
        if "scales" not in a:
            raise malformed(node, "the scales attribute is required")
        scales = np.asarray(a["scales"], F)
    else:
        scales = _optional(imp, node, 1)
        if scales is None:
            raise malformed(node, "the scales input is required")
    if scales.dtype.kind != "f":
        raise malformed(node, f"scales must be float, got {scales.dtype}")
    if np.any(scales.astype(np.float64) < 1):
        raise malformed(node, f"Upsample scales must be >= 1, got {scales.reshape(-1)[:8].tolist()}")
    resize_from(imp, node, x, mode, "asymmetric", None, scales, None)


def _optional(imp: _Importer, node: Any, i: int) -> Optional[np.ndarray]:
    """A constant input, None when absent or empty (ONNX's way to skip scales for sizes)."""
    if imp.value(node, i) is None:
        return None
    v = imp.const(node, i)
    if v is None or np.asarray(v).size == 0:
        return None
    return np.asarray(v)


def resize_from(imp: _Importer, node: Any, x: Data, mode: str, coords: str, nearest_mode: Optional[str],
                scales: Optional[np.ndarray], sizes: Optional[np.ndarray], *, axes: Any = None,
                policy: str = "stretch", antialias: bool = False) -> None:
    """A Resize layer for ONNX scales or sizes (over all four axes, or ``axes``); nearest_mode
    None: Resize-10 / Upsample's rounding (onnxruntime's: truncate when upsampling, ceil
    when downsampling)."""
    if len(x.shape) != 3:
        raise unsupported(node, f"input of rank {len(x.shape) + 1}: only (N, C, H, W) maps are resized")
    rank = 4
    if (scales is None) == (sizes is None):
        raise malformed(node, "exactly one of scales and sizes must be given")
    ax = list(range(rank)) if axes is None else [int(v) for v in axes]
    if any(not -rank <= v < rank for v in ax):
        raise malformed(node, f"axes {ax} out of range for rank {rank}")
    ax = [v % rank for v in ax]
    if len(set(ax)) != len(ax):
        raise malformed(node, f"axes {ax} repeat an axis")
    in_dims = [imp.batch or 1, *x.shape]
    given = scales if scales is not None else sizes
    given = given.reshape(-1)
    if given.size != len(ax):
        raise malformed(node, f"{'scales' if scales is not None else 'sizes'} has {given.size} values for "
                              f"{len(ax)} axes")
    full_scale = [F(1)] * rank
    out = list(in_dims)
    if scales is not None:
        if scales.dtype.kind != "f":
            raise malformed(node, f"scales must be float, got {scales.dtype}")
        for i, s in zip(ax, given.astype(F)):
            if not (np.isfinite(s) and s > 0):
                raise malformed(node, f"scales must be positive and finite, got {given.tolist()}")
            full_scale[i] = F(s)
            with np.errstate(over="ignore"):
                n = F(s) * F(in_dims[i])
            if not n < MAX_DIM + 1:  # inf too
                raise malformed(node, f"scales {given.tolist()} make an output past 2^24")
            out[i] = int(np.floor(n))
    else:
        if sizes.dtype.kind not in "iu":
            raise malformed(node, f"sizes must be integers, got {sizes.dtype}")
        for i, n in zip(ax, given.tolist()):
            if not 1 <= n <= MAX_DIM:
                raise malformed(node, f"sizes must be in [1, 2^24], got {given.tolist()}")
            if i == 0 and n in (1, in_dims[0]):  # the batch (a model exported at batch 1 names 1)
                continue
            out[i] = int(n)
            full_scale[i] = F(n) / F(in_dims[i])
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            s = pick(full_scale[i] for i in ax)
            for i in ax:
                full_scale[i] = s
                out[i] = int(np.floor(np.float64(F(s * F(in_dims[i]))) + 0.5))  # C's round of a positive value
    if not (full_scale[0] == 1 and full_scale[1] == 1 and out[0] == in_dims[0] and out[1] == in_dims[1]):
        raise unsupported(node, f"resizing the batch or channel axis (scales {[float(s) for s in full_scale]}, "
                                f"output {out}); {_SUPPORTED}")
    oh, ow = out[2], out[3]
    if oh < 1 or ow < 1:
        raise malformed(node, f"the output would be empty ({oh} x {ow})")
    if oh > MAX_DIM or ow > MAX_DIM:
        raise malformed(node, f"the output ({oh} x {ow}) is past 2^24")
    sh, sw = full_scale[2], full_scale[3]
    if antialias and mode == "linear" and (sh < 1 or sw < 1):
        raise unsupported(node, f"antialias=1 when downsampling is not supported; {_SUPPORTED}")
    if antialias and mode == "nearest":
        raise malformed(node, "antialias applies to linear and cubic modes only")
    if nearest_mode is None:
        if (sh < 1) != (sw < 1):
            raise unsupported(node, "Resize-10 / Upsample nearest that upsamples one axis and downsamples the other: "
                                    "its rounding differs per axis")
        nearest_mode = "ceil" if sh < 1 else "floor"
    if nearest_mode not in NEAREST:
        raise malformed(node, f"unknown nearest_mode {nearest_mode!r}")
    name = imp.name_for(node)
    layer = imp.layer(node, lambda: Resize((oh, ow), mode=mode, coordinate_transformation=coords,
                                           nearest_mode=nearest_mode,
                                           scale=None if scales is None and policy == "stretch" else (float(sh), float(sw)),
                                           name=name))
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor]), range=x.range))
