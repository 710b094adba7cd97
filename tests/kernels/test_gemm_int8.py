"""int8 GEMM (u8 / s8 activations x s8 weights): bit-exact against exact integer math and
numpy float32 epilogues, at every ISA level."""
import numpy as np
import pytest

import frugalnn
from frugalnn import _core, ops

from .gemm_reference import dynamic_quantize, int8_acc, int8_f32_output, int8_u8_output

SHAPES = [
    (0, 5, 7), (1, 1, 1), (1, 3, 17), (2, 17, 3), (3, 100, 1), (4, 16, 4), (5, 15, 5),
    (7, 31, 100), (8, 32, 63), (9, 33, 64), (11, 47, 65), (12, 48, 1000), (13, 49, 255),
    (25, 16, 1000), (64, 1, 1000), (1, 1000, 1000), (257, 100, 17),
]


def qdata(m, n, k, seed=0, signed=False):
    rng = np.random.default_rng(seed + 1000 * m + 10 * n + k)
    if signed:
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
    else:
        a = rng.integers(0, 256, size=(m, k), dtype=np.uint8)
    w = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
    scales = (rng.random(n, dtype=np.float32) * np.float32(0.02) + np.float32(1e-3)).astype(np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    return a, w, scales, bias


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("za", [0, 3, 128, 255])
def test_int32_output_is_exact(isa, m, n, k, za):
    a, w, s, _ = qdata(m, n, k)
    packed = ops.pack_weights(w, "int8", scales=s)
    c = ops.qmatmul(a, packed, a_scale=0.1, a_zero_point=za, output="int32")
    assert c.dtype == np.int32
    assert np.array_equal(c, int8_acc(a, za, w))


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_f32_output_is_bit_exact(isa, m, n, k, relu):
    a, w, s, b = qdata(m, n, k, seed=1)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b)
    c = ops.qmatmul(a, packed, a_scale=0.05, a_zero_point=7, output="f32",
                    activation="relu" if relu else None)
    ref = int8_f32_output(int8_acc(a, 7, w), 0.05, s, b, relu)
    assert np.array_equal(c, ref)


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("bias,relu,zo", [(False, False, 128), (True, False, 100), (True, True, 30)])
def test_u8_output_matches_onnx_rounding(isa, m, n, k, bias, relu, zo):
    a, w, s, b = qdata(m, n, k, seed=2)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b if bias else None)
    out_scale = 0.02 * np.sqrt(k)  # keeps most outputs inside [0, 255], some saturated
    c = ops.qmatmul(a, packed, a_scale=0.05, a_zero_point=128, output="u8",
                    out_scale=out_scale, out_zero_point=zo, activation="relu" if relu else None)
    ref = int8_u8_output(int8_acc(a, 128, w), 0.05, s, out_scale, zo, b if bias else None, relu)
    assert c.dtype == np.uint8 and np.array_equal(c, ref)


@pytest.mark.parametrize("m,n,k", [(1, 16, 4), (7, 33, 100), (12, 48, 1000)])
def test_signed_activations(isa, m, n, k):
    a, w, s, b = qdata(m, n, k, seed=3, signed=True)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b)
    for za in (-128, -5, 0, 127):
        c = ops.qmatmul(a, packed, a_scale=0.1, a_zero_point=za, output="f32")
        assert np.array_equal(c, int8_f32_output(int8_acc(a, za, w), 0.1, s, b))


@pytest.mark.parametrize("k", [1, 4, 5, 64, 1000, 4096])
@pytest.mark.parametrize("wv", [-128, 127])
def test_values_that_would_saturate_int16(isa, k, wv):
    """255 x -128 (or 127) everywhere: vpmaddubsw's int16 pair sums would clip."""
    a = np.full((13, k), 255, np.uint8)
    w = np.full((k, 40), wv, np.int8)
    packed = ops.pack_weights(w, "int8", scales=np.ones(1, np.float32))
    c = ops.qmatmul(a, packed, a_scale=1.0, a_zero_point=0, output="int32")
    assert np.all(c == 255 * wv * k)


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (1, 300, 200), (9, 17, 33), (70, 64, 500), (0, 8, 8)])
@pytest.mark.parametrize("relu", [False, True])
def test_dynamic_quantization_matches_onnx_definition(isa, m, n, k, relu):
    rng = np.random.default_rng(m + n + k)
    a = (rng.standard_normal((m, k), dtype=np.float32) + np.float32(0.3)).astype(np.float32)
    wf = rng.standard_normal((k, n), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    packed = ops.pack_weights(wf, "int8", bias=b)
    c = ops.qmatmul_dynamic(a, packed, activation="relu" if relu else None)
    q, scale, zp = dynamic_quantize(a)
    if m:
        assert _core.dynamic_quant_params(a) == (pytest.approx(float(scale), rel=0, abs=0), zp)
    ref = int8_f32_output(int8_acc(q, zp, packed.unpack()), scale, packed.scales, b, relu)
    assert np.array_equal(c, ref)
    # And it approximates the float product, which is what a user cares about.
    if m and k > 8:
        err = np.abs(c - (a @ wf + b if not relu else np.maximum(a @ wf + b, 0)))
        assert err.mean() < 0.05 * np.abs(a @ wf).mean()


def test_dynamic_quantization_of_all_zeros():
    packed = ops.pack_weights(np.ones((8, 3), np.float32), "int8", bias=np.ones(3, np.float32))
    assert np.array_equal(ops.qmatmul_dynamic(np.zeros((2, 8), np.float32), packed), np.ones((2, 3), np.float32))


def test_quantize_weights_per_channel_and_per_tensor():
    w = np.array([[1.0, -0.5], [-2.0, 0.25], [0.5, 0.0]], np.float32)
    q, s = ops.quantize_weights(w)
    assert np.allclose(s, [2 / 127, 0.5 / 127]) and q[1, 0] == -127 and q[0, 1] == -127
    q1, s1 = ops.quantize_weights(w, per_channel=False)
    assert s1.shape == (1,) and np.isclose(s1[0], 2 / 127) and q1[2, 1] == 0
    packed = ops.pack_weights(w, "int8")
    assert np.array_equal(packed.unpack(), q) and np.array_equal(packed.scales, s)


def test_results_do_not_depend_on_thread_count():
    a, w, s, b = qdata(300, 200, 500, seed=5)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b)
    before = frugalnn.get_num_threads()
    try:
        frugalnn.set_num_threads(1)
        one = ops.qmatmul(a, packed, a_scale=0.1, a_zero_point=9, output="u8", out_scale=3.0, out_zero_point=5)
        frugalnn.set_num_threads(2)
        two = ops.qmatmul(a, packed, a_scale=0.1, a_zero_point=9, output="u8", out_scale=3.0, out_zero_point=5)
    finally:
        frugalnn.set_num_threads(before)
    assert np.array_equal(one, two)


def test_steady_state_calls_allocate_nothing():
    a, w, s, b = qdata(64, 256, 256)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b)
    af = a.astype(np.float32)
    out = np.empty((64, 256), np.float32)
    ops.qmatmul_dynamic(af, packed, out=out)
    before = frugalnn.scratch_stats().os_allocations
    for _ in range(50):
        ops.qmatmul(a, packed, a_scale=0.1, a_zero_point=1, out=out)
        ops.qmatmul_dynamic(af, packed, out=out)
    assert frugalnn.scratch_stats().os_allocations == before


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"a_scale": 0.0, "a_zero_point": 0}, ValueError, "a_scale"),
        ({"a_scale": float("nan"), "a_zero_point": 0}, ValueError, "a_scale"),
        ({"a_scale": -1.0, "a_zero_point": 0}, ValueError, "a_scale"),
        ({"a_scale": 1.0, "a_zero_point": 256}, ValueError, "a_zero_point"),
        ({"a_scale": 1.0, "a_zero_point": -1}, ValueError, "a_zero_point"),
        ({"a_scale": 1.0, "a_zero_point": 1.5}, TypeError, "a_zero_point"),
        ({"a_scale": 1.0, "a_zero_point": 0, "output": "u8"}, ValueError, "out_scale"),
        ({"a_scale": 1.0, "a_zero_point": 0, "output": "u8", "out_scale": 1.0, "out_zero_point": 300}, ValueError, "out_zero_point"),
        ({"a_scale": 1.0, "a_zero_point": 0, "output": "s8"}, ValueError, "output"),
        ({"a_scale": 1.0, "a_zero_point": 0, "output": "int32"}, ValueError, "bias"),
        ({"a_scale": 1.0, "a_zero_point": 0, "out_scale": 2.0}, ValueError, "'u8' only"),
        ({"a_scale": 1.0, "a_zero_point": 0, "activation": "relu6"}, ValueError, "activation"),
        ({"a_scale": 1.0, "a_zero_point": 0, "out": np.empty((2, 4), np.float64)}, TypeError, "float32"),
    ],
)
def test_bad_quantization_arguments(kwargs, exc, match):
    packed = ops.pack_weights(np.ones((8, 4), np.int8), "int8", scales=np.ones(4, np.float32),
                              bias=np.zeros(4, np.float32))
    with pytest.raises(exc, match=match):
        ops.qmatmul(np.ones((2, 8), np.uint8), packed, **kwargs)


def test_signed_zero_point_range_and_wrong_dtypes():
    packed = ops.pack_weights(np.ones((8, 4), np.int8), "int8", scales=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="a_zero_point"):
        ops.qmatmul(np.ones((2, 8), np.int8), packed, a_scale=1.0, a_zero_point=128)
    with pytest.raises(TypeError, match="uint8 or int8"):
        ops.qmatmul(np.ones((2, 8), np.int16), packed, a_scale=1.0, a_zero_point=0)
    with pytest.raises(ValueError, match="NaN"):
        ops.qmatmul_dynamic(np.array([[np.nan] * 8], np.float32), packed)
    with pytest.raises(ValueError, match="NaN"):
        ops.qmatmul_dynamic(np.array([[np.inf] * 8], np.float32), packed)
    with pytest.raises(ValueError, match="scales"):
        ops.pack_weights(np.ones((8, 4), np.int8), "int8")
    with pytest.raises(ValueError, match="positive"):
        ops.pack_weights(np.ones((8, 4), np.int8), "int8", scales=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="1 or N"):
        ops.pack_weights(np.ones((8, 4), np.int8), "int8", scales=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="qmatmul"):
        ops.matmul(np.ones((2, 8), np.float32), packed)
    with pytest.raises(ValueError, match="K <= 65536"):
        ops.pack_weights(np.ones((65537, 1), np.int8), "int8", scales=np.ones(1, np.float32))


@pytest.mark.parametrize("k", [1, 7, 16, 17, 100])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_dynamic_quantization_finds_non_finite_values_anywhere(isa, k, bad):
    packed = ops.pack_weights(np.ones((k, 3), np.float32), "int8")
    for row, col in ((0, 0), (2, k - 1), (1, k // 2)):
        a = np.ones((3, k), np.float32)
        a[row, col] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            ops.qmatmul_dynamic(a, packed)


@pytest.mark.parametrize("signed", [False, True])
def test_rows_4kib_apart_are_restrided_exactly(isa, signed):
    """K = 4096 puts A rows 4 KiB apart: the driver copies A to a padded stride first."""
    a, w, s, b = qdata(13, 20, 4096, seed=6, signed=signed)
    packed = ops.pack_weights(w, "int8", scales=s, bias=b)
    za = -3 if signed else 3
    c = ops.qmatmul(a, packed, a_scale=0.01, a_zero_point=za, output="f32")
    assert np.array_equal(c, int8_f32_output(int8_acc(a, za, w), 0.01, s, b))


@pytest.mark.parametrize("m,n,k", [(1, 17, 1025), (13, 33, 2049), (30, 20, 3000), (5, 16, 4096)])
@pytest.mark.parametrize("output", ["int32", "f32", "u8"])
def test_k_blocks_carry_exact_sums(isa, m, n, k, output):
    """Long K, with K tails and rows 4 KiB apart: every output stays exact."""
    a, w, s, b = qdata(m, n, k, seed=7)
    bias = None if output == "int32" else b
    packed = ops.pack_weights(w, "int8", scales=s, bias=bias)
    acc = int8_acc(a, 77, w)
    if output == "int32":
        c = ops.qmatmul(a, packed, a_scale=0.02, a_zero_point=77, output="int32")
        assert np.array_equal(c, acc)
    elif output == "f32":
        c = ops.qmatmul(a, packed, a_scale=0.02, a_zero_point=77, output="f32", activation="relu")
        assert np.array_equal(c, int8_f32_output(acc, 0.02, s, b, relu=True))
    else:
        os_ = 0.05 * np.sqrt(k)
        c = ops.qmatmul(a, packed, a_scale=0.02, a_zero_point=77, output="u8", out_scale=os_,
                        out_zero_point=120)
        assert np.array_equal(c, int8_u8_output(acc, 0.02, s, os_, 120, b))
