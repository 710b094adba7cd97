"""An integer emulation in numpy (int64 sums, the f32 epilogues written out) of frugalnn's
int8 steps: quantize, u8 im2col with zero-point padding, u8 x s8 sums, requantizing u8 and
dequantizing f32 epilogues. Programs must match it bit for bit."""
import numpy as np

from frugalnn.gemm import quantize_weights


def quantize(x, scale, zp):
    return np.clip(np.rint(x / np.float32(scale)) + zp, 0, 255).astype(np.int64)


def requant_u8(acc, bias, a_scale, w_scales, out_scale, out_zp, relu):
    """The u8 epilogue: bias in accumulator units, one f32 multiply, clamp, round half even."""
    s = (np.float32(a_scale) * w_scales).astype(np.float32)
    bias_i32 = np.rint(bias / s).astype(np.int64)
    f = (acc + bias_i32).astype(np.float32) * (s / np.float32(out_scale)).astype(np.float32)
    qmin = max(0, out_zp) if relu else 0
    f = np.clip(f, np.float32(qmin - out_zp), np.float32(255 - out_zp))
    return (np.rint(f).astype(np.int64) + out_zp)


def dequant_f32(acc, bias, a_scale, w_scales):
    """The f32 epilogue: integer sums times (input scale x weight scale), plus the f32 bias."""
    out = acc.astype(np.float32) * (np.float32(a_scale) * w_scales).astype(np.float32)
    return out if bias is None else out + bias


def im2col(q, kh, kw, pad, zp):
    """(B, H, W, C) ints, 'same' padding filled with the zero point -> (B*H*W, kh*kw*C)."""
    b, h, w, c = q.shape
    qp = np.full((b, h + 2 * pad, w + 2 * pad, c), zp, np.int64)
    qp[:, pad:pad + h, pad:pad + w] = q
    cols = [qp[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)]
    return np.concatenate(cols, axis=-1).reshape(b * h * w, kh * kw * c)


def conv_sums(q, zp, layer, h, w):
    """Integer sums of a Conv2d (any stride, dilation, padding, groups) on u8 NHWC ``q``
    with zero point ``zp`` (padding reads the zero point, i.e. contributes 0), weights
    quantized per output channel as the packer does -> (int64 (B, OH, OW, O), weight scales)."""
    o, cg, kh, kw = layer.weight.shape
    t, left, bottom, right = layer.pads(h, w)
    (sh, sw), (dh, dw), groups = layer.stride, layer.dilation, layer.groups
    oh = (h + t + bottom - (kh - 1) * dh - 1) // sh + 1
    ow = (w + left + right - (kw - 1) * dw - 1) // sw + 1
    wq, ws = quantize_weights(np.ascontiguousarray(layer.weight.transpose(2, 3, 1, 0).reshape(-1, o)))
    wq = wq.astype(np.int64).reshape(kh, kw, cg, o)
    b = q.shape[0]
    qp = np.full((b, h + t + bottom, w + left + right, q.shape[3]), zp, np.int64)
    qp[:, t:t + h, left:left + w] = q
    qp -= zp
    og = o // groups
    acc = np.zeros((b, oh, ow, o), np.int64)
    for i in range(kh):
        for j in range(kw):
            tap = qp[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
            for gi in range(groups):
                cols = slice(gi * og, (gi + 1) * og)
                acc[..., cols] += tap[..., gi * cg:(gi + 1) * cg] @ wq[i, j, :, cols]
    return acc, ws


def max_pool_nhwc(y, kernel, stride):
    """Max-pool an NHWC map, no padding (windows past the end are dropped)."""
    (kh, kw), (sh, sw) = kernel, stride
    b, h, w, c = y.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.full((b, oh, ow, c), -np.inf, y.dtype)
    for i in range(kh):
        for j in range(kw):
            out = np.maximum(out, y[:, i: i + (oh - 1) * sh + 1: sh, j: j + (ow - 1) * sw + 1: sw])
    return out
