"""ConvTranspose2d: the transposed 2-D convolution decoders and U-Nets upsample with (ONNX
ConvTranspose, torch's nn.ConvTranspose2d), with groups (depthwise included), strides,
dilations, asymmetric pads, output_padding, and ONNX's output_shape / auto_pad.

Input pixel (iy, ix) and tap (ky, kx) add ``x[ci] * W[ci][o][ky][kx]`` into output pixel
(iy * sh + ky * dh - top, ix * sw + kx * dw - left) for the output channels o of ci's
group; the full result, ``(h - 1) * sh + (kh - 1) * dh + 1`` rows, is cropped by the pads
and extended by ``output_padding`` rows of bias only at the bottom (columns alike).

The native ``conv_transpose2d`` step runs it as a GEMM of a band of input pixels with the
weights packed once ((c / groups) x (kh kw oc / groups) per group), then a gather into each
output row of the patches that cover it (csrc/runtime/steps/conv_transpose.cc).
"""
from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from ... import _core
from ...gemm import pack_weights
from ...io.onnx_export import register_exporter
from ...io.onnx_import import _Importer, op
from ...io.onnx_layers import pair_attr, weights
from ...io.onnx_values import Data, malformed, unsupported
from ...reference import register_forward
from ..compile import register_lowering
from ..layers import GraphError, Layer, Pair, _pair, _weights
from ..limits import MAX_DIM, check_int

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(Layer):
    """Transposed 2-D convolution: weight (in x out/groups x kh x kw), torch's and ONNX's layout.

    Args:
        weight: float32 (in_channels, out_channels / groups, kh, kw).
        bias: out_channels float32 values, or None.
        stride, dilation: an int or a pair, in [1, 2^24].
        padding: an int, (ph, pw), or (top, left, bottom, right): rows / columns cropped off
            the full result.
        output_padding: an int or a pair: rows / columns added at the bottom / right (bias
            only where no tap reaches).
        groups: divides the input channels (groups == in_channels: depthwise).
    """

    op = "conv_transpose2d"

    def __init__(self, weight: np.ndarray, bias: Optional[np.ndarray] = None, *, stride: Pair = 1,
                 padding: Union[Pair, tuple[int, int, int, int]] = 0, output_padding: Pair = 0, dilation: Pair = 1,
                 groups: int = 1, name: Optional[str] = None) -> None:
        super().__init__(name)
        lab = self._label()
        self.weight = _weights(lab, "weight", weight, 4)
        cin, og = self.weight.shape[:2]
        self.groups = check_int(lab, "groups", groups, 1)
        if cin % self.groups:
            raise GraphError(f"{lab}: groups must divide the {cin} input channels, got {groups!r}")
        self.out_channels = og * self.groups
        self.bias = None if bias is None else _weights(lab, "bias", bias, 1)
        if self.bias is not None and self.bias.shape[0] != self.out_channels:
            raise GraphError(f"{lab}: bias has {self.bias.shape[0]} values, the layer has {self.out_channels} "
                             "output channels")
        self.stride = _pair("stride", stride, lab, 1)
        self.dilation = _pair("dilation", dilation, lab, 1)
        self.output_padding = _pair("output_padding", output_padding, lab, 0)
        if isinstance(padding, (tuple, list)) and len(padding) == 4:
            self.padding = tuple(check_int(lab, "padding", p, 0) for p in padding)
        else:
            ph, pw = _pair("padding", padding, lab, 0)
            self.padding = (ph, pw, ph, pw)

    def full_size(self, h: int, w: int) -> tuple[int, int]:
        """Rows and columns every tap of every input pixel reaches (before cropping)."""
        kh, kw = self.weight.shape[2:]
        return ((h - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1,
                (w - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1)

    def infer(self, shapes):
        (s,) = shapes
        self._need_rank(s, (3,))
        c, h, w = s
        if c != self.weight.shape[0]:
            raise GraphError(f"{self._label()}: input has {c} channels, the weight expects {self.weight.shape[0]}")
        t, left, b, r = self.padding
        fh, fw = self.full_size(h, w)
        oh, ow = fh - t - b + self.output_padding[0], fw - left - r + self.output_padding[1]
        if oh < 1 or ow < 1:
            raise GraphError(f"{self._label()}: padding {self.padding} (top, left, bottom, right) crops the whole "
                             f"{fh}x{fw} result")
        if oh > MAX_DIM or ow > MAX_DIM:
            raise GraphError(f"{self._label()}: the output ({oh}x{ow}) is past 2^24")
        return (self.out_channels, oh, ow)


@register_lowering(ConvTranspose2d)
def _lower(compiler, node, layer, out_name, lo, hi, scale_shift, pool, x, in_shape) -> None:
    c, h, w = in_shape
    o, oh, ow = compiler.g.shapes[node.output]
    _, og, kh, kw = layer.weight.shape
    cg = c // layer.groups
    packed = []
    for gi in range(layer.groups):
        # (cg, og, kh, kw) -> rows ci, columns [ky][kx][o]: each input pixel's patch of output
        # contributions comes out of the GEMM channels-last, as the output is stored.
        wg = layer.weight[gi * cg:(gi + 1) * cg].transpose(0, 2, 3, 1).reshape(cg, kh * kw * og)
        packed.append(pack_weights(np.ascontiguousarray(wg), "f32")._core)
    t, left, _, _ = layer.padding
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    geo = _core.Conv2dGeometry(h=h, w=w, c=c, oh=oh, ow=ow, oc=o, kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw,
                               pad_top=t, pad_left=left, groups=layer.groups)
    params = _core.ConvTranspose2dParams(geometry=geo, weights=packed, bias=layer.bias)
    compiler.core.add_step("conv_transpose2d", layer.name, [x], compiler.writes(out_name), params)


@register_forward("conv_transpose2d")
def _forward(xs, layer, out_shape):
    x = xs[0]
    n, c, h, w = x.shape
    o, oh, ow = out_shape
    _, og, kh, kw = layer.weight.shape
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    t, left, _, _ = layer.padding
    fh, fw = layer.full_size(h, w)
    full = np.zeros((n, o, max(fh, t + oh), max(fw, left + ow)))
    wt = layer.weight.astype(np.float64)
    cg = c // layer.groups
    for gi in range(layer.groups):
        xg = x[:, gi * cg:(gi + 1) * cg]
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, wt[gi * cg:(gi + 1) * cg, :, ky, kx])
                full[:, gi * og:(gi + 1) * og, ky * dh: ky * dh + (h - 1) * sh + 1: sh,
                     kx * dw: kx * dw + (w - 1) * sw + 1: sw] += contrib
    out = full[:, :, t:t + oh, left:left + ow]
    if layer.bias is not None:
        out = out + layer.bias.astype(np.float64)[None, :, None, None]
    return out


@register_exporter(ConvTranspose2d)
def _export(ex: Any, layer: ConvTranspose2d, x: list, y: str) -> None:
    ins = [x[0], ex.const(f"{y}_W", layer.weight)]
    if layer.bias is not None:
        ins.append(ex.const(f"{y}_B", layer.bias))
    ex.node("ConvTranspose", ins, [y], kernel_shape=list(layer.weight.shape[2:]), strides=list(layer.stride),
            dilations=list(layer.dilation), pads=list(layer.padding), output_padding=list(layer.output_padding),
            group=layer.groups)


# ---------------------------------------------------------------------------------------
# ONNX import


@op("ConvTranspose", "auto_pad:s dilations:ints group:i kernel_shape:ints output_padding:ints output_shape:ints "
                     "pads:ints strides:ints")
def _conv_transpose(imp: _Importer, node: Any, a: dict) -> None:
    x = imp.data(node, 0)
    w, _, _ = weights(node, imp.value(node, 1), 1, "W")  # int8 weights run dequantized: a float layer
    if len(x.shape) != 3 or w.ndim != 4:
        raise unsupported(node, f"only 2-D transposed convolutions (NCHW input, 4-D weights) are supported, got "
                                f"input rank {len(x.shape) + 1} and weight rank {w.ndim}")
    bias = imp.const_float(node, 2, "B")
    kernel = (int(w.shape[2]), int(w.shape[3]))
    if "kernel_shape" in a and tuple(int(k) for k in a["kernel_shape"]) != kernel:
        raise malformed(node, f"kernel_shape {list(a['kernel_shape'])} disagrees with the weights' {kernel}")
    stride = pair_attr(node, a, "strides", 1)
    dilation = pair_attr(node, a, "dilations", 1)
    groups = int(a.get("group", 1))
    if not 1 <= groups <= MAX_DIM:
        raise malformed(node, f"group must be in [1, 2^24], got {groups}")
    adj = [int(v) for v in a.get("output_padding", [0, 0])]
    if len(adj) != 2 or min(adj) < 0 or max(adj) > MAX_DIM:
        raise malformed(node, f"output_padding must be 2 values in [0, 2^24], got {adj}")
    c, h, wd = x.shape
    if int(w.shape[0]) != c:
        raise malformed(node, f"the input has {c} channels, W has {w.shape[0]} input channels")
    full = [(n - 1) * s + (k - 1) * d + 1 + p for n, s, k, d, p in zip((h, wd), stride, kernel, dilation, adj)]
    mode = a.get("auto_pad", "NOTSET")
    if mode not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise malformed(node, f"auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got {mode!r}")
    # ONNX's rules (as onnxruntime 1.32 applies them): output_shape (the spatial sizes) wins
    # over pads; the total padding it implies, full - output_shape, puts its larger half at
    # the end under SAME_UPPER and at the start otherwise. auto_pad SAME_* aims at
    # in * stride the same way, where a negative total means no padding. An output_shape up
    # to a stride - 1 past the full result pads nothing and ends in bias-only rows (onnxruntime;
    # the spec's negative pads would split them between start and end).
    target = None
    if "output_shape" in a:
        target = [int(v) for v in a["output_shape"]]
        if len(target) != 2:
            raise malformed(node, f"output_shape must have 2 values (the spatial sizes), got {target}")
        if min(target) < 1 or max(target) > MAX_DIM:
            raise malformed(node, f"output_shape {target} must be in [1, 2^24]")
        if any(want - f >= s for f, want, s in zip(full, target, stride)):
            raise unsupported(node, f"output_shape {target} exceeds the full result {full} by a stride or more: "
                                    "onnxruntime refuses it")
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        target = [min(h * stride[0], full[0]), min(wd * stride[1], full[1])]
    if target is not None:
        head, tail = [], []
        for i, (f, want) in enumerate(zip(full, target)):
            total = f - want
            if total < 0:  # less than a stride past the full result: bias-only rows / columns at the end
                adj[i] -= total
                total = 0
            big, small = total - total // 2, total // 2
            head.append(small if mode == "SAME_UPPER" else big)
            tail.append(big if mode == "SAME_UPPER" else small)
        pads = (head[0], head[1], tail[0], tail[1])
    elif mode == "VALID":
        pads = (0, 0, 0, 0)
    else:
        p = [int(v) for v in a.get("pads", [0, 0, 0, 0])]
        if len(p) != 4:
            raise malformed(node, f"pads must have 4 values for a 2-D window, got {p}")
        if min(p) < 0:
            raise unsupported(node, f"negative pads {p}")
        if max(p) > MAX_DIM:
            raise malformed(node, f"pads {p} are past 2^24")
        pads = tuple(p)
    name = imp.name_for(node)
    layer = imp.layer(node, lambda: ConvTranspose2d(np.ascontiguousarray(w), bias, stride=stride, padding=pads,
                                                    output_padding=tuple(adj), dilation=dilation, groups=groups,
                                                    name=name))
    imp.set(node.output[0], Data(imp.emit(node, layer, [x.tensor])))
