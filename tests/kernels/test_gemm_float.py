"""f32, f16-weight and bf16-weight GEMM against numpy, at every ISA level."""
import numpy as np
import pytest

import frugalnn
from frugalnn import ops

from .gemm_reference import float_gemm, round_bf16

# (M, N, K): edge tiles (MR = 4 / 6 / 12, NR = 16) +-1, primes, 1, empty batch, and sizes
# that cross the K block (512).
SHAPES = [
    (0, 5, 7), (1, 1, 1), (1, 3, 17), (2, 17, 3), (3, 100, 1), (7, 16, 16), (5, 15, 33),
    (11, 31, 100), (12, 32, 63), (13, 33, 64), (23, 47, 65), (24, 48, 1000), (25, 49, 513),
    (64, 1, 1000), (1, 1000, 1000), (257, 100, 17), (6, 1000, 3),
]


def data(m, n, k, seed=0):
    rng = np.random.default_rng(seed + 1000 * m + 10 * n + k)
    a = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((k, n), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    return a, w, b


def stored(w, kind):
    if kind == "f16":
        return w.astype(np.float16).astype(np.float32)
    if kind == "bf16":
        return round_bf16(w)
    return w


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("kind", ["f32", "f16", "bf16"])
def test_matmul_matches_numpy(isa, kind, m, n, k):
    a, w, b = data(m, n, k)
    packed = ops.pack_weights(w, kind, bias=b)
    c = ops.matmul(a, packed)
    ref, bound = float_gemm(a, stored(w, kind), b)
    assert c.shape == (m, n) and c.dtype == np.float32
    assert np.all(np.abs(c - ref) <= bound)


@pytest.mark.parametrize("m,n,k", [(1, 17, 33), (13, 33, 100), (30, 40, 600)])
@pytest.mark.parametrize("activation,lo,hi", [("relu", 0, np.inf), ("relu6", 0, 6)])
@pytest.mark.parametrize("kind", ["f32", "f16", "bf16"])
def test_fused_activation(isa, kind, activation, lo, hi, m, n, k):
    a, w, b = data(m, n, k, seed=1)
    packed = ops.pack_weights(w, kind, bias=b)
    c = ops.matmul(a, packed, activation=activation)
    ref, bound = float_gemm(a, stored(w, kind), b, lo, hi)
    assert np.all(np.abs(c - ref) <= bound)
    assert c.min() >= lo and c.max() <= hi


@pytest.mark.parametrize("m,n,k", [(1, 16, 16), (5, 33, 17), (12, 100, 1000), (40, 20, 7)])
def test_bf16_compute_rounds_both_operands(isa, m, n, k):
    a, w, b = data(m, n, k, seed=2)
    packed = ops.pack_weights(w, "bf16", bias=b)
    c = ops.matmul(a, packed, bf16_compute=True)
    ref, bound = float_gemm(round_bf16(a), round_bf16(w), b)
    assert np.all(np.abs(c - ref) <= bound)


def test_packed_weights_store_numpy_rounding():
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((37, 29)) * np.float32(1000)).astype(np.float32)
    w[0, :4] = [65504.0, -65504.0, 6e-8, 1e-5]  # f16 max, subnormal halves
    assert np.array_equal(ops.pack_weights(w, "f32").unpack(), w)
    assert np.array_equal(ops.pack_weights(w, "f16").unpack(), w.astype(np.float16).astype(np.float32))
    assert np.array_equal(ops.pack_weights(w, "bf16").unpack(), round_bf16(w))


def test_half_the_bytes():
    w = np.ones((1024, 1024), np.float32)
    f32, f16, bf16 = (ops.pack_weights(w, kind) for kind in ("f32", "f16", "bf16"))
    assert f16.nbytes < 0.51 * f32.nbytes and bf16.nbytes < 0.51 * f32.nbytes


def test_one_row_vector_and_out(isa):
    a, w, b = data(1, 40, 50)
    packed = ops.pack_weights(w, "f32", bias=b)
    out = np.empty(40, np.float32)
    res = ops.matmul(a[0], packed, out=out)
    assert res is out
    ref, bound = float_gemm(a, w, b)
    assert np.all(np.abs(out - ref[0]) <= bound[0])


@pytest.mark.parametrize("kind", ["f32", "f16", "bf16"])
def test_results_do_not_depend_on_thread_count(kind):
    a, w, b = data(200, 300, 700, seed=4)
    packed = ops.pack_weights(w, kind, bias=b)
    before = frugalnn.get_num_threads()
    try:
        frugalnn.set_num_threads(1)
        one = ops.matmul(a, packed)
        frugalnn.set_num_threads(3)
        three = ops.matmul(a, packed)
    finally:
        frugalnn.set_num_threads(before)
    assert np.array_equal(one, three)


def test_steady_state_calls_allocate_nothing():
    a, w, b = data(64, 256, 256)
    pool = frugalnn.Pool()
    packed = ops.pack_weights(w, "bf16", bias=b, pool=pool)
    out = np.empty((64, 256), np.float32)
    for _ in range(3):
        ops.matmul(a, packed, out=out, bf16_compute=True)
    scratch, mine = frugalnn.scratch_stats(), pool.stats()
    for _ in range(50):
        ops.matmul(a, packed, out=out, bf16_compute=True)
        ops.matmul(a, packed, out=out)
    assert frugalnn.scratch_stats().os_allocations == scratch.os_allocations
    assert pool.stats().os_allocations == mine.os_allocations


def test_packed_weights_live_in_the_given_pool_and_return_to_it():
    pool = frugalnn.Pool()
    packed = ops.pack_weights(np.ones((100, 50), np.float32), "f32", pool=pool)
    held = pool.stats().bytes_in_use
    assert held >= packed.nbytes >= 100 * 64 * 4
    del packed
    assert pool.stats().bytes_in_use == 0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda p: ops.matmul(np.ones((2, 9), np.float32), p), ValueError, "K=9"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float64), p), TypeError, "float64"),
        (lambda p: ops.matmul(np.ones((8, 2), np.float32).T, p), ValueError, "C-contiguous"),
        (lambda p: ops.matmul(np.ones((2, 2, 8), np.float32), p), ValueError, "2-D"),
        (lambda p: ops.matmul([[1.0] * 8], p), TypeError, "ndarray"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float32), p, out=np.empty((2, 4))), TypeError, "float32"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float32), p, out=np.empty((3, 4), np.float32)), ValueError, "shape"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float32), p, activation="gelu"), ValueError, "activation"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float32), p, bf16_compute=True), ValueError, "bf16"),
        (lambda p: ops.matmul(np.ones((2, 8), np.float32), "w"), TypeError, "pack_weights"),
        (lambda p: ops.qmatmul(np.ones((2, 8), np.uint8), p, a_scale=1.0, a_zero_point=0), ValueError, "int8"),
    ],
)
def test_bad_input_is_rejected(call, exc, match):
    packed = ops.pack_weights(np.ones((8, 4), np.float32), "f32")
    with pytest.raises(exc, match=match):
        call(packed)


def test_out_may_not_alias_a():
    packed = ops.pack_weights(np.ones((8, 8), np.float32), "f32")
    a = np.ones((4, 8), np.float32)
    with pytest.raises(ValueError, match="overlap"):
        ops.matmul(a, packed, out=a)


@pytest.mark.parametrize(
    "w, kwargs, exc",
    [
        (np.ones((4, 4), np.float64), {}, TypeError),
        (np.ones((0, 4), np.float32), {}, ValueError),
        (np.ones((4, 0), np.float32), {}, ValueError),
        (np.ones(4, np.float32), {}, ValueError),
        (np.full((4, 4), np.nan, np.float32), {}, ValueError),
        (np.full((4, 4), 1e5, np.float32), {"kind": "f16"}, ValueError),
        (np.ones((4, 4), np.float32), {"kind": "f8"}, ValueError),
        (np.ones((4, 4), np.float32), {"bias": np.ones(3, np.float32)}, ValueError),
        (np.ones((4, 4), np.float32), {"bias": np.ones(4)}, TypeError),
        (np.ones((4, 4), np.float32), {"bias": np.array([1, np.inf, 0, 0], np.float32)}, ValueError),
        (np.ones((4, 4), np.float32), {"scales": np.ones(4, np.float32)}, ValueError),
    ],
)
def test_bad_weights_are_rejected(w, kwargs, exc):
    with pytest.raises(exc):
        ops.pack_weights(w, **kwargs)


def test_non_contiguous_weights_are_packed_from_a_copy():
    w = np.arange(64, dtype=np.float32).reshape(8, 8)
    packed = ops.pack_weights(w.T, "f32")
    assert np.array_equal(packed.unpack(), w.T)


def test_scratch_memory_can_be_given_back():
    # Rows 4 KiB apart are re-strided through scratch: that scratch stays for the next call
    # until trim_scratch() returns it.
    a, w, b = data(300, 64, 1024)
    packed = ops.pack_weights(w, "f32", bias=b)
    ops.matmul(a, packed)
    held = frugalnn.scratch_stats()
    assert held.reserved_bytes >= a.nbytes and held.bytes_in_use == 0
    assert frugalnn.trim_scratch() >= a.nbytes
    assert frugalnn.scratch_stats().reserved_bytes < held.reserved_bytes
    ref, bound = float_gemm(a, w, b)
    assert np.all(np.abs(ops.matmul(a, packed) - ref) <= bound)  # and it comes back on demand
