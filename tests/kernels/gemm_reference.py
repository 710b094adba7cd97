"""numpy references for the GEMM tests: independent of the code under test."""
import numpy as np

F32_EPS = np.finfo(np.float32).eps


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 (round to nearest even) -> float32."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def float_gemm(a, w, bias=None, lo=-np.inf, hi=np.inf):
    """(reference in float64, error bound): the bound is the classic K * u * (|a| @ |w|)."""
    a64, w64 = a.astype(np.float64), w.astype(np.float64)
    ref = a64 @ w64
    mag = np.abs(a64) @ np.abs(w64)
    if bias is not None:
        ref = ref + bias.astype(np.float64)
        mag = mag + np.abs(bias.astype(np.float64))
    k = w.shape[0]
    bound = (k + 2) * F32_EPS * mag + 1e-30
    return np.clip(ref, lo, hi), bound


def int8_acc(a, a_zero_point, w):
    """Exact int32 accumulator (a - za) @ w, computed in int64."""
    return (a.astype(np.int64) - a_zero_point) @ w.astype(np.int64)


def int8_f32_output(acc, a_scale, w_scales, bias=None, relu=False):
    """acc -> f32 exactly as the kernels define it: float(acc) * (sa * sw[n]) (+ bias)."""
    scale = np.float32(a_scale) * w_scales.astype(np.float32)
    y = acc.astype(np.float32) * scale
    if bias is not None:
        y = y + bias.astype(np.float32)
    return np.maximum(y, np.float32(0)) if relu else y


def int8_u8_output(acc, a_scale, w_scales, out_scale, out_zero_point, bias=None, relu=False):
    """ONNX QLinearMatMul rounding (half to even) with QLinearConv-style int32 bias."""
    s = np.float32(a_scale) * w_scales.astype(np.float32)
    acc = acc.astype(np.int64)
    if bias is not None:
        bq = np.rint(bias.astype(np.float32) / s).astype(np.int64)
        acc = acc + bq
    scale = s / np.float32(out_scale)
    y = np.rint(acc.astype(np.float32) * scale).astype(np.int64) + out_zero_point
    lo = max(0, out_zero_point) if relu else 0
    return np.clip(y, lo, 255).astype(np.uint8)


def dynamic_quantize(a):
    """ONNX DynamicQuantizeLinear in float32: (q, scale, zero_point)."""
    lo = np.float32(min(0.0, float(a.min()) if a.size else 0.0))
    hi = np.float32(max(0.0, float(a.max()) if a.size else 0.0))
    scale = np.float32((hi - lo) / np.float32(255))
    if scale == 0:
        return np.zeros(a.shape, np.uint8), np.float32(1), 0
    zp = int(np.rint(np.clip(np.float32(0) - lo / scale, 0, 255)))
    q = np.clip(np.rint(a / scale) + np.float32(zp), 0, 255).astype(np.uint8)
    return q, scale, zp
