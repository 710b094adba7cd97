"""The dispatch-proving kernels (u8 / f32 whole-array sums) at every ISA level."""
import numpy as np
import pytest

import frugalnn
from frugalnn import ops

SIZES = [0, 1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257,
         1000, 4099, 65_537]


@pytest.mark.parametrize("n", SIZES)
def test_u8_sum_is_exact(isa, n):
    x = np.random.default_rng(n).integers(0, 256, size=n, dtype=np.uint8)
    assert ops.reduce_sum(x) == int(x.astype(np.uint64).sum())


@pytest.mark.parametrize("n", [1, 64, 129, 100_003])
def test_u8_sum_all_255(isa, n):
    assert ops.reduce_sum(np.full(n, 255, np.uint8)) == 255 * n


@pytest.fixture(scope="module")
def huge_u8():
    # 2^27 bytes are 2^21 VNNI steps of 64 bytes, past the 2^20-step interval at which that
    # kernel flushes its int32 lanes: a kernel that never flushed would overflow here.
    return np.full((1 << 27) + 77, 255, np.uint8)


def test_u8_sum_of_a_huge_array(isa, huge_u8):
    assert ops.reduce_sum(huge_u8) == 255 * huge_u8.size


@pytest.mark.parametrize("offset", [1, 3, 17, 33, 63])
def test_unaligned_input(isa, offset):
    buf = np.random.default_rng(offset).integers(0, 256, size=1000 + offset, dtype=np.uint8)
    x = buf[offset:]
    assert x.__array_interface__["data"][0] % 64 != 0
    assert ops.reduce_sum(x) == int(x.astype(np.uint64).sum())
    f = np.random.default_rng(offset).random(300 + offset, dtype=np.float32)[offset:]
    assert ops.reduce_sum(f) == pytest.approx(float(f.astype(np.float64).sum()), rel=1e-5)


@pytest.mark.parametrize("n", SIZES)
def test_f32_sum_is_exact_when_every_partial_sum_is(isa, n):
    # Multiples of 2^-8 in [1/256, 255/256]: every partial sum, in any order, lanes or tree,
    # is a multiple of 2^-8 below 2^16 (n <= 65,537), which f32's 24-bit significand holds
    # exactly. So the sum is exact: one element dropped or counted twice changes it.
    x = (np.random.default_rng(n).integers(1, 256, size=n) / 256).astype(np.float32)
    assert ops.reduce_sum(x) == float(x.astype(np.float64).sum())


@pytest.mark.parametrize("n", SIZES)
def test_f32_sum_matches_float64_reference(isa, n):
    # Zero-mean values, so the partial sums stay small and the rounding error bound is tight.
    # Error model (as in tests/graph/error_model.py): one f32 rounding per addition, relative
    # size uniform in [-u, u] (variance u^2 / 3), summed in the worst plausible order, one
    # sequential chain with partial sums s_j (lanes and trees have shorter, smaller ones),
    # plus the rounding of the result: sigma = u sqrt(sum_j s_j^2 / 3 + s^2). Measured at
    # every ISA level: at most 1.83 sigma (n = 15, AVX2), 0.1-0.2 sigma at n = 65,537 where
    # sigma = 0.0026; 6 sigma leaves 3x headroom and still fails for a dropped element of
    # |x| > 0.016 (99% of them).
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    partial = np.cumsum(x.astype(np.float64))
    ref = float(partial[-1]) if n else 0.0
    sigma = 2.0 ** -24 * np.sqrt(np.sum(partial ** 2) / 3 + ref ** 2)
    assert abs(ops.reduce_sum(x) - ref) <= 6 * sigma


def test_pool_arrays_feed_kernels(isa):
    pool = frugalnn.Pool()
    a = pool.empty((64, 1, 28, 28), np.float32)
    a[...] = 0.25
    assert ops.reduce_sum(a) == pytest.approx(0.25 * a.size)
    del a


def test_nan_propagates(isa):
    x = np.ones(100, np.float32)
    x[57] = np.nan
    assert np.isnan(ops.reduce_sum(x))


@pytest.mark.parametrize(
    "x, exc",
    [
        (np.ones(10, np.float64), TypeError),
        (np.ones(10, np.int32), TypeError),
        (np.ones(10, ">f4"), TypeError),
        ([1, 2, 3], TypeError),
        (np.ones((10, 10), np.float32)[:, 1], ValueError),
        (np.ones((10, 10), np.uint8).T, ValueError),
    ],
)
def test_bad_input(x, exc):
    with pytest.raises(exc):
        ops.reduce_sum(x)
