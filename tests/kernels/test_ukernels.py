"""Every micro-kernel of the build, alone (after XNNPACK's gemm-microkernel-tester).

The kernels come from the families' lists (``_core._ukernels()``, generated from the
``*_ukernels.inc`` files), so a kernel added to a list is swept here without editing this file;
a new *op* needs a runner in RUNNERS (a test fails until it has one). Each kernel runs on its
own ISA, which it needs on this CPU: levels the CPU lacks are skipped, never faked, and a
kernel whose ISA /proc/cpuinfo shows but the build says it cannot run fails.

Every call uses strided A / C (leading dimensions longer than the row, padding poisoned with
NaN or 0xFF so a read past a row shows), outputs surrounded by canaries (a write outside the
tile's rows and columns shows), M from 1 to MR, N tails below NR and K tails off the unroll.
References are numpy / exact integers, never the code under test; integer kernels and the
int8 output stages are compared bit for bit.
"""
import numpy as np
import pytest

import frugalnn
from frugalnn import _core

from ..cpu.test_dispatch import LEVELS, RUNG_KERNELS, proc_cpuinfo_flags
from .gemm_reference import F32_EPS, float_gemm

UKERNELS = _core._ukernels()
CANARY_F32 = np.uint32(0x7FA5A5A5)  # a signalling-NaN payload no kernel produces
CANARY_U8 = 0xA5

# /proc/cpuinfo flags each ISA library needs.
CPUINFO_FLAGS = {
    "scalar": set(),
    "avx2": {"avx2", "fma", "f16c"},
    "avx512": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"},
    "avx512vnni": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"},
    "avx512bf16": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"},
    "avxvnni": {"avx2", "fma", "f16c", "avx_vnni"},
}


def kernels(*ops):
    out = []
    for u in UKERNELS:
        if u["op"] in ops:
            marks = () if u["runs_here"] else pytest.mark.skip(reason=f"this CPU has no {u['isa']}")
            out.append(pytest.param(u, id=u["name"], marks=marks))
    return out


def canary_buffer(n, dtype):
    """A flat buffer of canaries; returns (buffer, a copy to compare against)."""
    if dtype == np.float32:
        buf = np.full(n, CANARY_F32, np.uint32).view(np.float32)
    else:
        buf = np.full(n * np.dtype(dtype).itemsize, CANARY_U8, np.uint8).view(dtype)
    return buf, buf.copy()


def check_canaries(buf, before, written):
    """Every element outside the `written` index set is still its canary, bit for bit."""
    keep = np.ones(buf.size, bool)
    keep[written] = False
    got = buf.view(np.uint8).reshape(buf.size, -1)[keep]
    want = before.view(np.uint8).reshape(before.size, -1)[keep]
    bad = np.nonzero((got != want).any(axis=1))[0]
    assert bad.size == 0, f"{bad.size} elements outside the output were written (first at {np.nonzero(keep)[0][bad[0]]})"


def tile_index(offset, rows, cols, stride):
    return (offset + np.arange(rows)[:, None] * stride + np.arange(cols)[None, :]).ravel()


def strided(rows, cols, stride, values, pad):
    """rows x cols values in a flat buffer with row stride `stride`, padding set to `pad`."""
    buf = np.full(rows * stride, pad, values.dtype)
    buf.reshape(rows, stride)[:, :cols] = values
    return buf


def bf16_bits(x):
    """float32 -> bfloat16 bits, round to nearest even (numpy, independent of the kernels)."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tile_shapes(u, ks):
    """(mr, nc, k): every M from 1 to MR, N tails and full panels, K tails off the unroll."""
    # Two-panel kernels (nr 32) also at one full panel and one column into the second.
    ncs = sorted({1, u["nr"] // 2 - 1, u["nr"] - 1, u["nr"]} | ({16, 17} if u["nr"] > 16 else set()))
    i = 0
    for mr in range(1, u["mr"] + 1):
        for k in ks:
            yield mr, ncs[i % len(ncs)], k
            i += 1
    for nc in ncs:
        yield u["mr"], nc, ks[-1]


# ---- GEMM, float outputs ------------------------------------------------------------------

GEMM_KS = [1, 2, 3, 5, 8, 13, 16, 17, 67]
FLOAT_GEMM_OPS = {"GemmF32": "_ukernel_gemm_f32", "GemmF32F16w": "_ukernel_gemm_f32_f16w",
                  "GemmF32Bf16w": "_ukernel_gemm_f32_bf16w", "GemmBf16": "_ukernel_gemm_bf16"}


def float_panel(op, w, nr, kr):
    """W (k x nc) as the nr / 16 packed 16-column panels of its op, one after the other, and
    W's values as the kernel sees them."""
    k, nc = w.shape
    kp = -(-k // kr) * kr
    full = np.zeros((kp, nr), np.float32)
    full[:k, :nc] = w
    panels = full.reshape(kp, nr // 16, 16).transpose(1, 0, 2)  # [panel][kp][16]
    if op == "GemmF32":
        return np.ascontiguousarray(panels).ravel(), full[:k, :nc]
    if op == "GemmF32F16w":
        h = panels.astype(np.float16)
        return np.ascontiguousarray(h).view(np.uint16).ravel(), full.astype(np.float16).astype(np.float32)[:k, :nc]
    bits = bf16_bits(panels)  # [panel][kp][16] -> pairs [panel][kp/2][16][2]
    packed = bits.reshape(nr // 16, kp // 2, 2, 16).transpose(0, 1, 3, 2).ravel()
    return np.ascontiguousarray(packed), bf16_value(bf16_bits(full))[:k, :nc]


def run_float_gemm(u, rng, mr, nc, k, flags, with_bias):
    op, nr = u["op"], u["nr"]
    a = rng.standard_normal((mr, k), dtype=np.float32)
    w = rng.standard_normal((k, nc), dtype=np.float32)
    panel, w_seen = float_panel(op, w, nr, u["kr"])
    a_stride = k + 3 + (k % 2)  # odd padding, never a multiple of the vector width
    if op == "GemmBf16":
        kp = -(-k // 2) * 2
        a_bits = np.zeros((mr, kp), np.uint16)
        a_bits[:, :k] = bf16_bits(a)
        a_stride = kp + 3
        a_buf = strided(mr, kp, a_stride, a_bits, np.uint16(0x7FC0))  # NaN past each row
        a_seen = bf16_value(a_bits[:, :k])
    else:
        a_buf = strided(mr, k, a_stride, a, np.float32(np.nan))
        a_seen = a
    bias = rng.standard_normal(nr, dtype=np.float32) if with_bias else None
    c_stride, c_offset = nc + 5, 7
    c, before = canary_buffer(c_offset + (mr + 1) * c_stride, np.float32)
    idx = tile_index(c_offset, mr, nc, c_stride)
    init = None
    if flags & 1:  # accumulate onto C
        init = rng.standard_normal((mr, nc), dtype=np.float32)
        c[idx] = init.ravel()
        before[idx] = init.ravel()
    lo, hi = (np.float32(-0.5), np.float32(0.75)) if flags & 2 else (-np.inf, np.inf)
    getattr(_core, FLOAT_GEMM_OPS[op])(u["name"], mr, nc, k, a_buf, a_stride, panel, c, c_offset,
                                       c_stride, bias, lo, hi, flags)
    start = init if init is not None else (np.broadcast_to(bias[:nc], (mr, nc)) if with_bias else None)
    ref, bound = float_gemm(a_seen, w_seen, None if start is None else start, lo, hi)
    got = c[idx].reshape(mr, nc)
    assert np.all(np.abs(got - ref) <= bound), (u["name"], mr, nc, k, flags, np.max(np.abs(got - ref) - bound))
    check_canaries(c, before, idx)


@pytest.mark.parametrize("u", kernels(*FLOAT_GEMM_OPS))
def test_float_gemm(u):
    rng = np.random.default_rng(1)
    for i, (mr, nc, k) in enumerate(tile_shapes(u, GEMM_KS)):
        flags = [0, 1, 2, 3][i % 4]
        run_float_gemm(u, rng, mr, nc, k, flags, with_bias=i % 3 != 1)


@pytest.mark.parametrize("u", kernels("F32ToBf16"))
def test_f32_to_bf16(u):
    rng = np.random.default_rng(2)
    for n in [1, 7, 15, 16, 17, 33, 100]:
        x = rng.standard_normal(n, dtype=np.float32) * 1e3
        y, before = canary_buffer(n + 32, np.uint16)
        _core._ukernel_f32_to_bf16(u["name"], x, y[8:8 + n])
        np.testing.assert_array_equal(y[8:8 + n], bf16_bits(x))
        check_canaries(y, before, np.arange(8, 8 + n))


# ---- GEMM, int8 -----------------------------------------------------------------------------

def s8_panel(w, nr):
    """W (k x nc) int8 as the panel [ceil(k/4)][nr][4], and its column sums over all nr."""
    k, nc = w.shape
    kp = -(-k // 4) * 4
    full = np.zeros((kp, nr), np.int8)
    full[:k, :nc] = w
    packed = full.reshape(kp // 4, 4, nr).transpose(0, 2, 1).ravel()
    return np.ascontiguousarray(packed), full.astype(np.int32).sum(axis=0).astype(np.int32)


def run_qgemm(u, rng, mr, nc, k, out_kind, za, with_bias):
    nr = u["nr"]
    a = rng.integers(0, 256, (mr, k), dtype=np.uint8)
    w = rng.integers(-128, 128, (k, nc), dtype=np.int8)
    panel, colsum = s8_panel(w, nr)
    a_stride = k + 5
    a_buf = strided(mr, k, a_stride, a, np.uint8(0xFF))
    acc = (a.astype(np.int64) - za) @ w.astype(np.int64)
    bias_i32 = rng.integers(-5000, 5000, nr, dtype=np.int32) if with_bias else None
    bias_f32 = rng.standard_normal(nr, dtype=np.float32) if with_bias else None
    scale = (rng.random(nr, dtype=np.float32) * 1e-3 + 1e-4).astype(np.float32)
    c_stride, c_offset = nc + 3, 5
    dtype = [np.int32, np.float32, np.uint8][out_kind]
    c, before = canary_buffer(c_offset + (mr + 1) * c_stride, dtype)
    lo, hi, zo, qmin, qmax = np.float32(-3.0), np.float32(2.5), 7, 3, 250
    _core._ukernel_gemm_qu8_qs8w(u["name"], mr, nc, k, a_buf, a_stride, panel, c, c_offset, c_stride,
                                 out_kind, za, colsum, bias_i32, scale, bias_f32, lo, hi, zo, qmin, qmax)
    idx = tile_index(c_offset, mr, nc, c_stride)
    got = c[idx].reshape(mr, nc)
    if out_kind == 0:
        want = (acc + (bias_i32[:nc] if with_bias else 0)).astype(np.int32)
    elif out_kind == 1:
        f = acc.astype(np.float32) * scale[:nc]  # rounded, then the add rounds again: no FMA
        if with_bias:
            f = f + bias_f32[:nc]
        want = np.minimum(np.maximum(f, lo), hi)
    else:
        f = (acc + (bias_i32[:nc] if with_bias else 0)).astype(np.float32) * scale[:nc]
        f = np.minimum(np.maximum(f, np.float32(qmin - zo)), np.float32(qmax - zo))
        want = (np.rint(f).astype(np.int64) + zo).astype(np.uint8)
    np.testing.assert_array_equal(got, want, err_msg=f"{u['name']} mr={mr} nc={nc} k={k} out={out_kind}")
    check_canaries(c, before, idx)


@pytest.mark.parametrize("u", kernels("GemmQu8Qs8w"))
def test_qu8_qs8w_gemm(u):
    rng = np.random.default_rng(3)
    for i, (mr, nc, k) in enumerate(tile_shapes(u, GEMM_KS + [4, 64, 131])):
        run_qgemm(u, rng, mr, nc, k, out_kind=i % 3, za=[0, 3, 128, 255][i % 4], with_bias=i % 5 != 2)


# ---- depthwise ------------------------------------------------------------------------------
# A call computes a run of n pixels of m output rows: `rows` valid window rows, pixel i's window
# column q at input column ix0 + i * sw + q * dw, a padding column (adds nothing) outside
# [0, x_cols), output row k's input x_next * k after row 0's. The cases put windows across the
# left and right edges, wholly in the padding, strides of one and two window columns (the
# kernels' column-reuse paths) and others, and output rows sharing input rows or not.

DW_CHANNELS = [1, 3, 15, 16, 17, 33, 48, 96, 144]
DW_WINDOWS = [(3, 3), (2, 3), (1, 3), (3, 1), (3, 2), (2, 2), (1, 1), (4, 3), (5, 5), (4, 5), (3, 5), (6, 2), (2, 4),
              (0, 3), (3, 0)]
DW_STEPS = [(1, 1), (2, 1), (1, 2), (3, 1), (2, 3)]  # (sw, dw)
DW_NS = [1, 2, 7, 13, 3, 0, 5, 31]
DW_XCOLS = [9, 1, 2, 5, 17, 48]
DW_MS = [1, 3, 1, 2]


def dw_runs():
    """(c, rows, cols, n, sw, dw, ix0, x_cols, m, rows apart) cases."""
    i = 0
    for c in DW_CHANNELS:
        for rows, cols in DW_WINDOWS:
            for sw, dw in DW_STEPS:
                ix0s = [-1, 0, -(max(cols, 1) - 1) * dw, 2, -5]
                yield (c, rows, cols, DW_NS[i % len(DW_NS)], sw, dw, ix0s[i % len(ix0s)], DW_XCOLS[i % len(DW_XCOLS)],
                       DW_MS[i % len(DW_MS)], 1 + i % 3)
                i += 1


def dw_layout(c, rows, cols, x_cols, m, apart):
    """Strides with gaps between input columns, rows and weight taps, output rows `apart` input
    rows apart: x_pix, x_row, x_next, w_col, w_row, x offset, x elements, w offset, w elements."""
    x_pix, w_col = c + 3, c + 1
    x_row, w_row = x_cols * x_pix + 5, max(cols, 1) * w_col + 2
    x_next = apart * x_row
    xo, wo = 3, 1
    x_n = xo + (m - 1) * x_next + max(rows, 1) * x_row + 4
    return x_pix, x_row, x_next, w_col, w_row, xo, x_n, wo, wo + max(rows, 1) * w_row + 4


def dw_taps(c, rows, cols, n, sw, dw, ix0, x_cols, m, x_pix, x_row, x_next, w_col, w_row, xo, wo):
    """Flat indices of the taps of m x n pixels (m x n x rows x cols x c) into x and w, and the
    mask of the taps inside the input."""
    ix = ix0 + np.arange(n)[:, None] * sw + np.arange(cols)[None, :] * dw  # n x cols
    inside = (ix >= 0) & (ix < x_cols)
    ixc = np.clip(ix, 0, max(x_cols - 1, 0))
    xi = (xo + np.arange(m)[:, None, None, None, None] * x_next + np.arange(rows)[None, None, :, None, None] * x_row
          + ixc[None, :, None, :, None] * x_pix + np.arange(c))
    wi = wo + np.arange(rows)[:, None, None] * w_row + np.arange(cols)[None, :, None] * w_col + np.arange(c)
    mask = np.broadcast_to(inside[None, :, None, :, None], xi.shape)
    return xi, wi[None, None], mask


def dw_input_index(c, rows, x_cols, m, x_pix, x_row, x_next, xo):
    """Flat indices of every input value of the run's output rows' input rows."""
    return np.unique(xo + np.arange(m)[:, None, None, None] * x_next + np.arange(rows)[None, :, None, None] * x_row
                     + np.arange(x_cols)[None, None, :, None] * x_pix + np.arange(c))


@pytest.mark.parametrize("u", kernels("DwconvF32"))
def test_f32_dwconv(u):
    rng = np.random.default_rng(4)
    for i, (c, rows, cols, n, sw, dw, ix0, x_cols, m, apart) in enumerate(dw_runs()):
        x_pix, x_row, x_next, w_col, w_row, xo, x_n, wo, w_n = dw_layout(c, rows, cols, x_cols, m, apart)
        # Only the input and the weights hold numbers: a read anywhere else brings a NaN in.
        x, w = np.full(x_n, np.nan, np.float32), np.full(w_n, np.nan, np.float32)
        ii = dw_input_index(c, rows, x_cols, m, x_pix, x_row, x_next, xo)
        x[ii] = rng.standard_normal(ii.size, dtype=np.float32)
        xi, wi, inside = dw_taps(c, rows, cols, n, sw, dw, ix0, x_cols, m, x_pix, x_row, x_next, w_col, w_row, xo, wo)
        w[wi] = rng.standard_normal(wi.shape, dtype=np.float32)
        bias = rng.standard_normal(c, dtype=np.float32) if i % 2 else None
        lo, hi = (np.float32(-1.0), np.float32(1.5)) if i % 3 == 0 else (-np.inf, np.inf)
        y, before = canary_buffer(8 + m * n * c + 16, np.float32)
        _core._ukernel_dwconv_f32(u["name"], n, c, x, xo, w, wo, rows, cols, x_row, x_pix, w_row, w_col, ix0, x_cols,
                                  sw, dw, m, x_next, bias, lo, hi, y, 8)
        prod = np.where(inside, x[xi].astype(np.float64) * w[wi].astype(np.float64), 0.0)  # m x n x rows x cols x c
        b = bias.astype(np.float64) if bias is not None else 0.0
        ref = prod.sum(axis=(2, 3)) + b
        bound = (rows * cols + 2) * F32_EPS * (np.abs(prod).sum(axis=(2, 3)) + np.abs(b))
        got = y[8:8 + m * n * c].reshape(m, n, c)
        err = np.abs(got - np.clip(ref, lo, hi))
        assert np.all(err <= bound + 1e-30), (u["name"], c, rows, cols, n, sw, dw, ix0, x_cols, m, apart)
        check_canaries(y, before, np.arange(8, 8 + m * n * c))


@pytest.mark.parametrize("u", kernels("DwconvQu8"))
def test_qu8_dwconv(u):
    rng = np.random.default_rng(5)
    for i, (c, rows, cols, n, sw, dw, ix0, x_cols, m, apart) in enumerate(dw_runs()):
        x_pix, x_row, x_next, w_col, w_row, xo, x_n, wo, w_n = dw_layout(c, rows, cols, x_cols, m, apart)
        # Every byte random: a read off the taps changes the sum.
        x = rng.integers(0, 256, x_n, dtype=np.uint8)
        w = rng.integers(-128, 128, w_n, dtype=np.int8)
        if i % 5 == 0:  # the extremes: 255 * -128 products
            x[:] = 255
            w[:] = -128
        za = [0, 5, 128, 255][i % 4]
        xi, wi, inside = dw_taps(c, rows, cols, n, sw, dw, ix0, x_cols, m, x_pix, x_row, x_next, w_col, w_row, xo, wo)
        acc = np.where(inside, (x[xi].astype(np.int64) - za) * w[wi].astype(np.int64), 0).sum(axis=(2, 3))  # m x n x c
        scale = (rng.random(c, dtype=np.float32) * 1e-2 + 1e-3).astype(np.float32)
        out_u8 = i % 4 < 2
        bias_i32 = rng.integers(-3000, 3000, c, dtype=np.int32) if i % 3 else None
        bias_f32 = rng.standard_normal(c, dtype=np.float32) if i % 3 else None
        zo, qmin, qmax = 9, 2, 251
        lo, hi = np.float32(-2.0), np.float32(3.0)
        y, before = canary_buffer(8 + m * n * c + 16, np.uint8 if out_u8 else np.float32)
        _core._ukernel_dwconv_qu8(u["name"], n, c, x, xo, w, wo, rows, cols, x_row, x_pix, w_row, w_col, ix0, x_cols,
                                  sw, dw, m, x_next, za, scale, bias_i32, bias_f32, out_u8, zo, qmin, qmax, lo, hi, y, 8)
        if out_u8:
            f = (acc + (bias_i32 if bias_i32 is not None else 0)).astype(np.float32) * scale
            f = np.minimum(np.maximum(f, np.float32(qmin - zo)), np.float32(qmax - zo))
            want = (np.rint(f).astype(np.int64) + zo).astype(np.uint8)
        else:
            f = acc.astype(np.float32) * scale
            if bias_f32 is not None:
                f = f + bias_f32
            want = np.minimum(np.maximum(f, lo), hi)
        got = y[8:8 + m * n * c].reshape(m, n, c)
        np.testing.assert_array_equal(got.view(np.uint8) if out_u8 else got.view(np.uint32),
                                      want.view(np.uint8) if out_u8 else want.astype(np.float32).view(np.uint32),
                                      err_msg=f"{u['name']} c={c} window={rows}x{cols} n={n} sw={sw} dw={dw} "
                                              f"ix0={ix0} x_cols={x_cols} m={m} apart={apart}")
        check_canaries(y, before, np.arange(8, 8 + m * n * c))


# ---- reductions and quantization ----------------------------------------------------------

RSUM_NS = [0, 1, 7, 31, 32, 33, 63, 64, 65, 100, 1000, 4097]


@pytest.mark.parametrize("u", kernels("RsumU8"))
def test_u8_rsum(u):
    rng = np.random.default_rng(6)
    for n in RSUM_NS:
        x = rng.integers(0, 256, n + 9, dtype=np.uint8)
        x[n:] = 0xFF  # past the end: must not be summed
        assert _core._ukernel_rsum(u["name"], x[:n]) == int(x[:n].astype(np.int64).sum()), n


@pytest.mark.parametrize("u", kernels("RsumF32"))
def test_f32_rsum(u):
    rng = np.random.default_rng(7)
    for n in RSUM_NS:
        x = np.full(n + 9, np.nan, np.float32)
        x[:n] = rng.standard_normal(n, dtype=np.float32)
        got = _core._ukernel_rsum(u["name"], x[:n])
        ref = x[:n].astype(np.float64).sum()
        assert abs(got - ref) <= (n + 1) * F32_EPS * np.abs(x[:n]).astype(np.float64).sum() + 1e-30, n


@pytest.mark.parametrize("u", kernels("F32Minmax"))
def test_f32_minmax(u):
    rng = np.random.default_rng(8)
    for n in [1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1001]:
        x = np.full(n + 9, 1e30, np.float32)
        x[:n] = rng.standard_normal(n, dtype=np.float32)
        finite, lo, hi = _core._ukernel_f32_minmax(u["name"], x[:n], np.inf, -np.inf)
        assert finite and lo == x[:n].min() and hi == x[:n].max(), n
        x[n - 1] = np.nan
        assert not _core._ukernel_f32_minmax(u["name"], x[:n], np.inf, -np.inf)[0], n


@pytest.mark.parametrize("u", kernels("F32Qu8"))
def test_f32_qu8(u):
    rng = np.random.default_rng(9)
    for n in [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1001]:
        x = (rng.standard_normal(n, dtype=np.float32) * 3).astype(np.float32)
        scale, zp = np.float32(0.0234), 117
        y, before = canary_buffer(n + 32, np.uint8)
        _core._ukernel_f32_qu8(u["name"], x, scale, zp, y[8:8 + n])
        want = np.clip(np.rint(x / scale).astype(np.int64) + zp, 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(y[8:8 + n], want, err_msg=f"n={n}")
        check_canaries(y, before, np.arange(8, 8 + n))


# ---- sparse -------------------------------------------------------------------------------

def sparse_matrix(rng, rows, kb, bk, value_kind, index_kind, density):
    """CSR / 1x4 BSR arrays and the dense matrix (rows x kb*bk) their values decode to."""
    mask = rng.random((rows, kb)) < density
    mask[rows // 2] = False  # an empty row
    row_ptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.uint32)
    idx = np.nonzero(mask)[1].astype(np.uint16 if index_kind == 0 else np.uint32)
    nb = idx.size
    row_scale = None
    if value_kind == 0:
        val = rng.standard_normal(nb * bk, dtype=np.float32)
        seen = val
    elif value_kind == 1:
        h = rng.standard_normal(nb * bk).astype(np.float16)
        val, seen = h.view(np.uint16), h.astype(np.float32)
    else:
        val = rng.integers(-127, 128, nb * bk, dtype=np.int8)
        row_scale = (rng.random(rows, dtype=np.float32) * 0.1 + 0.01).astype(np.float32)
        seen = val.astype(np.float32)
    dense = np.zeros((rows, kb * bk), np.float64)
    r_of = np.repeat(np.arange(rows), np.diff(row_ptr.astype(np.int64)))
    for t in range(bk):
        dense[r_of, idx.astype(np.int64) * bk + t] = seen[t::bk]
    if row_scale is not None:
        dense *= row_scale[:, None]
    return row_ptr, idx, val, row_scale, dense


@pytest.mark.parametrize("u", kernels("SpmmTable"))
def test_spmm(u):
    rng = np.random.default_rng(10)
    nr = u["nr"]
    ncs = sorted({1, 7, 8, 9, 15, 16, 17, 31, 33, nr - 1, nr} & set(range(1, nr + 1)))
    for value_kind in range(3):
        for index_kind in range(2):
            for block_kind, bk in [(0, 1), (1, 4)]:
                for i, nc in enumerate(ncs + [0]):  # 0: the vector kernel
                    vector = nc == 0
                    rows, kb = 1 + (i * 7) % 19, 5 + (i * 3) % 23
                    row_ptr, idx, val, row_scale, dense = sparse_matrix(
                        rng, rows, kb, bk, value_kind, index_kind, density=[0.9, 0.4, 0.1][i % 3])
                    k = kb * bk
                    cols = 1 if vector else nc
                    ldp = 1 if vector else nc + 5
                    p_vals = rng.standard_normal((k, cols), dtype=np.float32)
                    p = p_vals.ravel() if vector else strided(k, nc, ldp, p_vals, np.float32(np.nan))
                    bias = rng.standard_normal(rows, dtype=np.float32) if i % 2 else None
                    lo, hi = (np.float32(-1.0), np.float32(2.0)) if i % 3 == 1 else (-np.inf, np.inf)
                    ldy, y_off = (1 if vector else nc + 3), 4
                    y, before = canary_buffer(y_off + (rows + 1) * ldy + cols, np.float32)
                    _core._ukernel_spmm(u["name"], vector, value_kind, index_kind, block_kind, rows, cols,
                                        row_ptr, idx, val, row_scale, p, ldp, y, y_off, ldy, bias, lo, hi)
                    ref = dense @ p_vals.astype(np.float64) + (bias[:, None] if bias is not None else 0)
                    mag = np.abs(dense) @ np.abs(p_vals.astype(np.float64)) + (np.abs(bias[:, None]) if bias is not None else 0)
                    at = tile_index(y_off, rows, cols, ldy)
                    got = y[at].reshape(rows, cols)
                    case = (u["name"], value_kind, index_kind, bk, nc)
                    assert np.all(np.abs(got - np.clip(ref, lo, hi)) <= (k + 2) * F32_EPS * mag + 1e-30), case
                    check_canaries(y, before, at)


# ---- optimizer updates ----------------------------------------------------------------------

ADAM_NS = [0, 1, 7, 8, 15, 16, 17, 33, 100, 1001]


def _adam_reference(p, g, m, v, k):
    """The update in float64 from float32 inputs (every rounding of the kernels is within a few
    float32 ulps of it)."""
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    if k["decay_kind"] == 2:
        p = p * k["decay"]
    if k["decay_kind"] == 1:
        g = g + k["wd"] * p
    m = m + k["w1"] * (g - m)
    v = k["b2"] * v + k["w2"] * g * g
    p = p + k["neg_step"] * m / (np.sqrt(v) / k["bc2_sqrt"] + k["eps"])
    return p, m, v


@pytest.mark.parametrize("decay_kind", [0, 1, 2])
@pytest.mark.parametrize("u", kernels("F32Adam"))
def test_f32_adam(u, decay_kind):
    rng = np.random.default_rng(11)
    k = dict(decay_kind=decay_kind, decay=np.float32(1 - 1e-3 * 0.1), wd=np.float32(0.1), w1=np.float32(0.1),
             one_minus_w1=np.float32(0.9), small_w1=True, b2=np.float32(0.999), w2=np.float32(0.001),
             bc2_sqrt=np.float32(np.sqrt(1 - 0.999 ** 3)), neg_step=np.float32(-1e-3 / (1 - 0.9 ** 3)),
             eps=np.float32(1e-8))
    for n in ADAM_NS:
        p = rng.standard_normal(n + 5).astype(np.float32)
        g = rng.standard_normal(n + 5).astype(np.float32)
        m = (rng.standard_normal(n + 5) * 0.1).astype(np.float32)
        v = rng.random(n + 5).astype(np.float32) * 0.01
        want = _adam_reference(p[:n], g[:n], m[:n], v[:n], k)
        # float32 error bounds from the terms' sizes (m's lerp cancels, p's step is small)
        scale = [np.abs(p[:n]) + np.abs(want[0] - p[:n]), np.abs(m[:n]) + np.abs(g[:n]) * 0.1,
                 np.abs(v[:n]) + 0.001 * g[:n] ** 2]
        tail = [a[n:].copy() for a in (p, m, v)]
        _core._ukernel_adam(u["name"], p[:n], g[:n], m[:n], v[:n], **k)
        for got, ref, sc, name in zip((p[:n], m[:n], v[:n]), want, scale, "pmv"):
            err = np.abs(got - ref)
            assert np.all(err <= 8 * F32_EPS * sc), f"{name} n={n}: {err.max()} > {(8 * F32_EPS * sc).max()}"
        for a, t in zip((p, m, v), tail):
            np.testing.assert_array_equal(a[n:], t)  # nothing past n is touched


# ---- the lists themselves -------------------------------------------------------------------

# ---- codebook decode ------------------------------------------------------------------------


def _index_rows(idx, bits):
    """rows x 16 indices in the kernels' row format: 8 bytes (column j low nibble of byte j % 8,
    column j + 8 high) up to 4 bits, else 16 bytes."""
    if bits <= 4:
        return (idx[:, :8] | (idx[:, 8:] << 4)).astype(np.uint8).ravel()
    return idx.astype(np.uint8).ravel()


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("u", kernels("F32CodebookDecode"))
def test_f32_codebook_decode(u, bits, per_channel):
    rng = np.random.default_rng(bits)
    entries = 1 << bits
    for rows in (0, 1, 2, 5, 17, 64):
        idx = rng.integers(0, entries, (rows, 16))
        idx[:1] = entries - 1  # the last entry of every table is read
        # Per layer: 2^bits entries, then poison up to 16 floats the permute may load but must
        # not use; per channel: 16 tables of 2^bits.
        tables = rng.standard_normal(16 * entries if per_channel else max(16, entries)).astype(np.float32)
        if not per_channel:
            tables[entries:] = np.nan
        want = tables[(np.arange(16) * entries)[None, :] + idx] if per_channel else tables[idx]
        out, before = canary_buffer(rows * 16 + 16, np.float32)
        _core._ukernel_codebook_decode(u["name"], rows, bits, per_channel, _index_rows(idx, bits), tables, out)
        np.testing.assert_array_equal(out[:rows * 16].reshape(rows, 16), want)  # a copy: bit for bit
        check_canaries(out, before, np.arange(rows * 16))


@pytest.mark.parametrize("u", kernels("GemmF32Codebook4w"))
def test_f32_codebook4w_gemm(u):
    """The fused kernel against a float64 product of the decoded weights (table[index]), with
    strided A (NaN past each row), bias, accumulate and clamp, canaries around C."""
    rng = np.random.default_rng(4)
    for i, (mr, nc, k) in enumerate(tile_shapes(u, GEMM_KS + [256, 1001])):
        flags, with_bias = [0, 1, 2, 3][i % 4], i % 3 != 1
        bits = [2, 3, 4][i % 3]
        idx = rng.integers(0, 1 << bits, (k, 16))
        table = np.full(16, np.nan, np.float32)  # entries past 2^bits are never used
        table[:1 << bits] = rng.standard_normal(1 << bits, dtype=np.float32)
        a = rng.standard_normal((mr, k), dtype=np.float32)
        a_stride = k + 3 + (k % 2)
        a_buf = strided(mr, k, a_stride, a, np.float32(np.nan))
        bias = rng.standard_normal(16, dtype=np.float32) if with_bias else None
        c_stride, c_offset = nc + 5, 7
        c, before = canary_buffer(c_offset + (mr + 1) * c_stride, np.float32)
        where = tile_index(c_offset, mr, nc, c_stride)
        init = None
        if flags & 1:
            init = rng.standard_normal((mr, nc), dtype=np.float32)
            c[where] = init.ravel()
            before[where] = init.ravel()
        lo, hi = (np.float32(-0.5), np.float32(0.75)) if flags & 2 else (-np.inf, np.inf)
        _core._ukernel_gemm_f32_codebook4w(u["name"], mr, nc, k, a_buf, a_stride, _index_rows(idx, 4), table, c,
                                           c_offset, c_stride, bias, lo, hi, flags)
        start = init if init is not None else (np.broadcast_to(bias[:nc], (mr, nc)) if with_bias else None)
        ref, bound = float_gemm(a, table[idx][:, :nc], start, lo, hi)
        got = c[where].reshape(mr, nc)
        assert np.all(np.abs(got - ref) <= bound), (u["name"], mr, nc, k, flags, np.max(np.abs(got - ref) - bound))
        check_canaries(c, before, where)


def test_codebook_decode_refuses_bad_input():
    u = next(u for u in UKERNELS if u["op"] == "F32CodebookDecode")
    out = np.zeros(16, np.float32)
    with pytest.raises(ValueError, match="bits"):
        _core._ukernel_codebook_decode(u["name"], 1, 9, False, np.zeros(16, np.uint8), np.zeros(256, np.float32), out)
    with pytest.raises(ValueError, match="index"):  # 3-bit table, nibble 9
        _core._ukernel_codebook_decode(u["name"], 1, 3, True, np.full(8, 9, np.uint8), np.zeros(128, np.float32), out)
    with pytest.raises(ValueError, match="tables"):  # per-layer 4 bits reads 16 floats
        _core._ukernel_codebook_decode(u["name"], 1, 2, False, np.zeros(8, np.uint8), np.zeros(4, np.float32), out)


# ---- element-wise functions ---------------------------------------------------------------

def _erf64(x):
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(x)


# UnaryOp code (kernels/eltwise/unary_f32.h) -> (name, float64 reference of (x, alpha, beta), alpha, beta)
UNARY_REFERENCE = {
    0: ("leaky_relu", lambda x, a, b: np.where(x < 0, a * x, x), 0.1, 0.0),
    1: ("elu", lambda x, a, b: np.where(x < 0, a * np.expm1(np.minimum(x, 0)), x), 0.7, 0.0),
    2: ("tanh", lambda x, a, b: np.tanh(x), 0.0, 0.0),
    3: ("gelu", lambda x, a, b: 0.5 * x * (1 + _erf64(x / np.sqrt(2))), 0.0, 0.0),
    4: ("gelu_tanh", lambda x, a, b: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), 0.0, 0.0),
    5: ("exp", lambda x, a, b: np.exp(x), 0.0, 0.0),
    6: ("log", lambda x, a, b: np.log(x), 0.0, 0.0),
    7: ("sqrt", lambda x, a, b: np.sqrt(x), 0.0, 0.0),
    8: ("pow", lambda x, a, b: np.power(x, a), 3.0, 0.0),
    9: ("silu", lambda x, a, b: x / (1 + np.exp(-x)), 0.0, 0.0),
    10: ("hard_sigmoid", lambda x, a, b: np.clip(a * x + b, 0, 1), 0.2, 0.5),
    11: ("softplus", lambda x, a, b: np.logaddexp(0, x), 0.0, 0.0),
    12: ("abs", lambda x, a, b: np.abs(x), 0.0, 0.0),
    13: ("neg", lambda x, a, b: -x, 0.0, 0.0),
    14: ("reciprocal", lambda x, a, b: 1 / x, 0.0, 0.0),
    15: ("erf", lambda x, a, b: _erf64(x), 0.0, 0.0),
    16: ("selu", lambda x, a, b: b * np.where(x < 0, a * np.expm1(np.minimum(x, 0)), x), 1.6733, 1.0507),
    # x / scale divided in float32, as the kernel divides: the rounding then agrees exactly.
    17: ("quantize_dequantize", lambda x, a, b: (np.clip(np.rint((np.float32(x) / np.float32(a)).astype(np.float64)) + b,
                                                            0, 255) - b) * a, 0.05, 3.0),
    18: ("sigmoid", lambda x, a, b: 1 / (1 + np.exp(-x)), 0.0, 0.0),
    19: ("hard_swish", lambda x, a, b: x * np.clip(x / 6 + 0.5, 0, 1), 0.0, 0.0),
    # The gate rounded to 1/256 steps: a float64 sigmoid may round to the other side of a tie
    # than float32's, one gate step (x / 256) apart; the check below allows that much.
    20: ("silu_quantized_gate", lambda x, a, b: x * (np.clip(np.rint(1 / (1 + np.exp(-x)) / a) + b, 0, 255) - b) * a,
         1 / 256, 2.0),
}
UNARY_NS = [0, 1, 7, 15, 16, 17, 33, 100]


@pytest.mark.parametrize("u", kernels("UnaryF32"))
@pytest.mark.parametrize("op", sorted(UNARY_REFERENCE), ids=[v[0] for _, v in sorted(UNARY_REFERENCE.items())])
def test_f32_unary(u, op):
    name, ref, alpha, beta = UNARY_REFERENCE[op]
    alpha, beta = float(np.float32(alpha)), float(np.float32(beta))  # as the kernel holds them
    rng = np.random.default_rng(10 + op)
    for n in UNARY_NS:
        x = (rng.standard_normal(n) * 4).astype(np.float32)
        if name in ("log", "sqrt"):
            x = np.abs(x) + np.float32(1e-3)
        x[:min(n, 6)] = [0, -0.0, 1e-30, -1e-30, 30, -30][:min(n, 6)]
        for lo, hi in ((-np.inf, np.inf), (-0.5, 2.0)):
            y, before = canary_buffer(n + 9, np.float32)
            _core._ukernel_unary_f32(u["name"], op, n, x, y, alpha, beta, lo, hi)
            with np.errstate(all="ignore"):
                want = np.clip(ref(x.astype(np.float64), alpha, beta), lo, hi)
            tol = 8 * F32_EPS
            # alpha * x + beta cancels near the kinks of the hard functions: float32 leaves an
            # absolute error of an ulp or so of the operands (beta = 1/2), times x for hard_swish.
            atol = {10: 2 * F32_EPS, 19: 2 * F32_EPS * np.abs(x.astype(np.float64)),
                    20: np.float32(1 / 256) * np.abs(x.astype(np.float64))}.get(op, tol * 1e-3)
            with np.errstate(invalid="ignore"):  # inf - inf where both are inf
                err = np.abs(y[:n] - want)
            bad = ~((err <= tol * np.abs(want) + atol) | (np.isnan(y[:n]) & np.isnan(want)) | (y[:n] == want))
            assert not bad.any(), f"{u['name']} {name} n={n}: x={x[bad]} got {y[:n][bad]} want {want[bad]}"
            check_canaries(y, before, np.arange(n))
        inplace = x.copy()  # y may be x
        _core._ukernel_unary_f32(u["name"], op, n, inplace, inplace, alpha, beta, -np.inf, np.inf)
        y = np.empty(n, np.float32)
        _core._ukernel_unary_f32(u["name"], op, n, x, y, alpha, beta, -np.inf, np.inf)
        np.testing.assert_array_equal(inplace, y)


@pytest.mark.parametrize("u", kernels("UnaryF32"))
def test_f32_unary_special_values(u):
    """inf and NaN through the exp-based functions: the limits, and NaN stays NaN."""
    x = np.array([np.inf, -np.inf, np.nan, 100, -100, 89, -88], np.float32)
    # x * sigmoid(x) and x * relu6(x + 3) / 6 at -inf are -inf * 0: NaN, as in torch and onnxruntime.
    want = {5: [np.inf, 0, np.nan, np.inf, 0, np.inf, 0], 9: [np.inf, np.nan, np.nan, 100, -0.0, 89, -88 * np.exp(-88)],
            18: [1, 0, np.nan, 1, 0, 1, 0],  # below -87.3 the true value is under float32's smallest normal: 0
            19: [np.inf, np.nan, np.nan, 100, -0.0, 89, -0.0]}
    for op, w in want.items():
        y = np.empty_like(x)
        with np.errstate(all="ignore"):
            _core._ukernel_unary_f32(u["name"], op, x.size, x, y, 0.0, 0.0, -np.inf, np.inf)
        np.testing.assert_allclose(y, np.array(w, np.float32), rtol=1e-6, atol=0, err_msg=f"{u['name']} op {op}")
    # tanh (straight-line since this kernel family): the limits, NaN, signed zero, and both
    # sides of its polynomial / exp switch at |x| = 0.625 within 2 ulp of float64.
    xt = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 50, -50, 0.625, -0.625, np.nextafter(np.float32(0.625), 0)],
                  np.float32)
    yt = np.empty_like(xt)
    _core._ukernel_unary_f32(u["name"], 2, xt.size, xt, yt, 0.0, 0.0, -np.inf, np.inf)
    want = np.tanh(xt.astype(np.float64))
    np.testing.assert_array_equal(np.signbit(yt[3:5]), [False, True])
    np.testing.assert_allclose(yt, want, rtol=2 * F32_EPS, atol=0)


def test_unary_refuses_an_unknown_function():
    u = next(u for u in UKERNELS if u["op"] == "UnaryF32")
    with pytest.raises(ValueError, match="unknown unary function"):
        _core._ukernel_unary_f32(u["name"], 21, 1, np.zeros(1, np.float32), np.zeros(1, np.float32), 0, 0, 0, 1)


# ---- u8 add --------------------------------------------------------------------------------

VADD_NS = [0, 1, 15, 16, 17, 63, 64, 65, 1000]


def vadd_reference(a, b, a_zp, b_zp, a_mul, b_mul, lo, hi, out_zp, out_u8):
    """The reference arithmetic in numpy float32 (each operation rounded once, as IEEE): the
    int differences, two products, one add, the clamps as selects (a NaN gives lo), then
    rounding half to even plus the zero point for a u8 output."""
    f32 = np.float32
    with np.errstate(invalid="ignore"):
        f = (a.astype(np.int32) - a_zp).astype(f32) * f32(a_mul)
        f = f + (b.astype(np.int32) - b_zp).astype(f32) * f32(b_mul)
        f = np.where(f > f32(lo), f, f32(lo)).astype(f32)
        f = np.where(f < f32(hi), f, f32(hi)).astype(f32)
    if not out_u8:
        return f
    return (np.rint(f).astype(np.int64) + out_zp).astype(np.uint8)


# (a_zp, b_zp, a_mul, b_mul, out_zp, (qmin, qmax)): ordinary residual adds, exact halves (ties
# for the rounding), a ReLU-fused qmin, saturation on both ends, and a NaN multiplier.
VADD_U8_CASES = [
    (128, 128, 0.73, 0.41, 128, (0, 255)),
    (0, 255, 1.9, 2.3, 3, (0, 255)),
    (17, 200, 0.5, 0.25, 100, (0, 255)),
    (77, 91, 0.6, 0.55, 60, (60, 255)),
    (128, 128, 3.1, 2.7, 127, (10, 240)),
    (5, 9, float("nan"), 0.5, 0, (0, 255)),
]
VADD_F32_CASES = [
    (128, 128, 0.0213, 0.0187, (-np.inf, np.inf)),
    (3, 250, 0.05, 0.125, (0.0, 6.0)),
    (128, 0, 0.5, 0.25, (-1.5, np.inf)),
]


def run_vadd(u, n, a, b, a_zp, b_zp, a_mul, b_mul, lo, hi, out_zp, out_u8):
    dtype = np.uint8 if out_u8 else np.float32
    y, before = canary_buffer(8 + n + 33, dtype)
    _core._ukernel_vadd_qu8(u["name"], n, a[:n], b[:n], y[8:8 + n], a_zp, b_zp, a_mul, b_mul, lo, hi, out_zp, out_u8)
    check_canaries(y, before, np.arange(8, 8 + n))
    return y[8:8 + n].copy()


@pytest.mark.parametrize("u", kernels("VaddQu8"))
def test_qu8_vadd_is_bit_exact(u):
    """Every kernel against the numpy reference and the scalar kernel, bit for bit; inputs past
    n are poisoned (a kernel that read them would show in no output, but the canaries catch
    writes) and every length crosses the 16-value blocks and the tails."""
    rng = np.random.default_rng(31)
    scalar = "qu8_vadd_minmax_ukernel__scalar"
    for n in VADD_NS:
        a = rng.integers(0, 256, n + 40, dtype=np.uint8)
        b = rng.integers(0, 256, n + 40, dtype=np.uint8)
        a[:min(n, 4)] = [0, 255, 0, 255][:min(n, 4)]
        b[:min(n, 4)] = [0, 255, 255, 0][:min(n, 4)]
        for a_zp, b_zp, a_mul, b_mul, out_zp, (qmin, qmax) in VADD_U8_CASES:
            a_mul, b_mul = float(np.float32(a_mul)), float(np.float32(b_mul))
            args = (a_zp, b_zp, a_mul, b_mul, float(qmin - out_zp), float(qmax - out_zp), out_zp, True)
            got = run_vadd(u, n, a, b, *args)
            want = vadd_reference(a[:n], b[:n], *args)
            np.testing.assert_array_equal(got, want, err_msg=f"{u['name']} n={n} u8 {args}")
            np.testing.assert_array_equal(got, run_vadd({"name": scalar}, n, a, b, *args))
        for a_zp, b_zp, a_mul, b_mul, (lo, hi) in VADD_F32_CASES:
            a_mul, b_mul = float(np.float32(a_mul)), float(np.float32(b_mul))
            args = (a_zp, b_zp, a_mul, b_mul, lo, hi, 0, False)
            got = run_vadd(u, n, a, b, *args)
            want = vadd_reference(a[:n], b[:n], *args)
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=f"{u['name']} n={n} f32 {args}")


@pytest.mark.parametrize("lo, hi", [(-10.0, 255.0), (0.0, 256.0), (0.5, 10.0), (-np.inf, 10.0), (np.nan, 10.0), (9.0, 8.0)])
def test_qu8_vadd_refuses_a_u8_range_that_would_wrap(lo, hi):
    a = np.zeros(4, np.uint8)
    with pytest.raises(ValueError, match="u8 output"):
        _core._ukernel_vadd_qu8("qu8_vadd_minmax_ukernel__scalar", 4, a, a, np.zeros(4, np.uint8), 0, 0, 1.0, 1.0,
                                lo, hi, 0, True)


# ---- softmax ---------------------------------------------------------------------------------

def softmax_rows():
    """1000-wide rows: ordinary logits, +-80 (exp's range, where x - max rounds), -inf entries,
    equal values, and a wide spread whose smallest results are float32 subnormals."""
    rng = np.random.default_rng(32)
    rows = [rng.standard_normal(1000) * 5, rng.uniform(-80, 80, 1000), np.full(1000, 3.25),
            rng.standard_normal(1000) * 40]
    r = rng.uniform(-80, 80, 1000)
    r[::7] = -np.inf
    rows.append(r)
    r = rng.standard_normal(1000)
    r[:3] = [80, -80, 79.99]
    rows.append(r)
    return np.array(rows, np.float32)


def check_softmax(name, x, y, ulps):
    """y against the float64 formula on the float32 inputs: within `ulps` float32 ulp where the
    result is normal; below that, within the smallest normal (exp_f32 flushes there)."""
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore", under="ignore"):
        e = np.exp(x64 - x64.max(axis=1, keepdims=True))
        want = e / e.sum(axis=1, keepdims=True)
    tiny = np.finfo(np.float32).tiny
    normal = want >= tiny
    err = np.abs(y.astype(np.float64) - want)
    ulp = np.spacing(want.astype(np.float32)).astype(np.float64)
    bad = np.where(normal, err > ulps * ulp, err > tiny)
    assert not bad.any(), f"{name}: {bad.sum()} values off, worst {np.max(np.where(normal, err / ulp, 0)):.2f} ulp"


@pytest.mark.parametrize("u", kernels("SoftmaxF32"))
def test_f32_softmax(u):
    x = softmax_rows()
    rows, cols = x.shape
    y, before = canary_buffer(rows * cols + 9, np.float32)
    _core._ukernel_softmax_f32(u["name"], rows, cols, x.ravel(), y)
    check_canaries(y, before, np.arange(rows * cols))
    check_softmax(u["name"], x, y[:rows * cols].reshape(rows, cols), ulps=4)
    inplace = x.ravel().copy()  # y may be x
    _core._ukernel_softmax_f32(u["name"], rows, cols, inplace, inplace)
    np.testing.assert_array_equal(inplace, y[:rows * cols])


@pytest.mark.parametrize("u", kernels("SoftmaxF32"))
def test_f32_softmax_row_lengths_and_special_rows(u):
    """Lengths across the vector tails; a row with a NaN, and a row of -inf, come out all NaN
    (the float64 formula's answer); a row's result does not depend on the rows around it."""
    rng = np.random.default_rng(33)
    for cols in [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100]:
        x = (rng.standard_normal((3, cols)) * 10).astype(np.float32)
        y, before = canary_buffer(3 * cols + 9, np.float32)
        _core._ukernel_softmax_f32(u["name"], 3, cols, x.ravel(), y)
        check_canaries(y, before, np.arange(3 * cols))
        check_softmax(u["name"], x, y[:3 * cols].reshape(3, cols), ulps=4)
        one = np.empty(cols, np.float32)
        _core._ukernel_softmax_f32(u["name"], 1, cols, x[1].copy(), one)
        np.testing.assert_array_equal(one, y[cols:2 * cols])
    x = rng.standard_normal((2, 40)).astype(np.float32)
    x[0, 17] = np.nan
    x[1] = -np.inf
    y = np.empty(80, np.float32)
    _core._ukernel_softmax_f32(u["name"], 2, 40, x.ravel(), y)
    assert np.isnan(y).all()


RUNNERS = {"UnaryF32", "GemmF32", "GemmF32F16w", "GemmF32Bf16w", "GemmBf16", "F32ToBf16", "GemmQu8Qs8w",
           "DwconvF32", "DwconvQu8", "RsumU8", "RsumF32", "F32Minmax", "F32Qu8", "SpmmTable", "F32Adam",
           "F32CodebookDecode", "GemmF32Codebook4w", "VaddQu8", "SoftmaxF32"}


def test_every_op_in_the_lists_has_a_runner():
    assert {u["op"] for u in UKERNELS} <= RUNNERS


def test_names_say_their_isa_and_tile():
    for u in UKERNELS:
        assert u["name"].endswith("__" + u["isa"]), u["name"]
        if u["family"].startswith("gemm") and u["mr"]:
            assert f"_{u['mr']}x{u['nr']}" in u["name"], u["name"]


@pytest.mark.skipif(proc_cpuinfo_flags() is None, reason="no /proc/cpuinfo")
def test_no_kernel_is_skipped_on_a_cpu_that_has_its_isa():
    """/proc/cpuinfo is the independent witness: a kernel the CPU can run must run here."""
    flags = proc_cpuinfo_flags()
    for u in UKERNELS:
        if CPUINFO_FLAGS[u["isa"]] <= flags:
            assert u["runs_here"], f"{u['name']}: the CPU has {u['isa']} but the kernel would be skipped"


@pytest.mark.parametrize("level", LEVELS)
def test_each_rung_selects_its_own_kernels(level):
    """The configs pick, per op, the rung's own kernel from the lists (RUNG_KERNELS is the spec),
    and runtime_info reports what they pick."""
    if level not in frugalnn.available_isas():
        pytest.skip(f"{level} is not available here")
    by_name = {u["name"]: u for u in UKERNELS}
    first_op = {}
    for u in UKERNELS:
        first_op.setdefault(u["family"], u["op"])
    for family, op in first_op.items():
        chosen = by_name[_core._ukernel_selected(op, level, False)]
        assert chosen["isa"] == RUNG_KERNELS[level][family], (level, family, chosen["name"])
    for op in {u["op"] for u in UKERNELS}:
        for features in (False, True):
            chosen = by_name[_core._ukernel_selected(op, level, features)]
            assert chosen["runs_here"] and LEVELS.index(chosen["rung"]) <= LEVELS.index(level)
    with frugalnn.use_isa(level, feature_kernels=False):
        reported = frugalnn.runtime_info()["kernels"]
    assert reported == {f: by_name[_core._ukernel_selected(op, level, False)]["isa"] for f, op in first_op.items()}
