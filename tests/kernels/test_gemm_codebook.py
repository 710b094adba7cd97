"""GEMM on codebook weights (ops.pack_codebook): the packed layout's stored weights and
matmul against a float64 numpy product of the decoded weights, at every ISA level, with N tails,
K across the driver's K block, M across row tiles and threads; and bad input."""
import numpy as np
import pytest

import frugalnn
from frugalnn.ops import matmul, pack_codebook

from .gemm_reference import float_gemm

SHAPES = [(1, 1, 1), (1, 37, 45), (3, 16, 16), (7, 130, 33), (13, 600, 17), (64, 288, 64), (200, 1100, 40)]


def _case(rng, k, n, bits, per_channel):
    entries = 1 << bits
    idx = rng.integers(0, entries, (k, n)).astype(np.uint8)
    tables = rng.standard_normal((n if per_channel else 1, entries)).astype(np.float32)
    w = tables[np.arange(n)[None, :] if per_channel else 0, idx]
    return idx, tables, w


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 5, 8])
def test_matmul_matches_numpy_at_every_isa(isa, bits, per_channel):
    rng = np.random.default_rng(bits * 2 + per_channel)
    for m, k, n in SHAPES:
        idx, tables, w = _case(rng, k, n, bits, per_channel)
        bias = rng.standard_normal(n).astype(np.float32)
        pw = pack_codebook(idx, tables, bits, bias=bias)
        assert pw.kind == "codebook" and pw.shape == (k, n)
        np.testing.assert_array_equal(pw.unpack(), w)
        a = rng.standard_normal((m, k)).astype(np.float32)
        for activation, lo in ((None, -np.inf), ("relu", 0.0)):
            want, bound = float_gemm(a, w, bias, lo=lo)
            got = matmul(a, pw, activation=activation)
            assert np.all(np.abs(got - want) <= bound), (isa, m, k, n, np.abs(got - want).max())


def test_threads_do_not_change_the_result():
    rng = np.random.default_rng(5)
    idx, tables, w = _case(rng, 700, 96, 4, False)
    pw = pack_codebook(idx, tables, 4)
    a = rng.standard_normal((300, 700)).astype(np.float32)
    before = frugalnn.get_num_threads()
    try:
        frugalnn.set_num_threads(1)
        one = matmul(a, pw)
        frugalnn.set_num_threads(3)
        three = matmul(a, pw)
    finally:
        frugalnn.set_num_threads(before)
    np.testing.assert_array_equal(one, three)


def test_storage_is_bits_per_weight():
    """Indices at 4 bits up to 4 bits (else 8), plus the tables, the bias and 64-byte padding."""
    rng = np.random.default_rng(1)
    k, n = 512, 128
    for bits, per_weight in ((2, 0.5), (4, 0.5), (5, 1), (8, 1)):
        idx, tables, _ = _case(rng, k, n, bits, False)
        pw = pack_codebook(idx, tables, bits)
        index_bytes = k * n * per_weight
        assert index_bytes <= pw.nbytes <= index_bytes + n * 4 + 4 * (1 << bits) + 3 * 64
        f32 = frugalnn.ops.pack_weights(rng.standard_normal((k, n)).astype(np.float32))
        assert f32.nbytes >= (7.8 if bits <= 4 else 3.9) * pw.nbytes  # both hold a bias section


def test_bad_input():
    idx = np.zeros((4, 3), np.uint8)
    t = np.zeros((1, 16), np.float32)
    for bits in (1, 9, 0):
        with pytest.raises(ValueError, match="bits must be in 2..8"):
            pack_codebook(idx, np.zeros((1, 1 << max(bits, 0)), np.float32), bits)
    with pytest.raises(TypeError, match="bits must be an int"):
        pack_codebook(idx, t, 4.0)
    with pytest.raises(ValueError, match="indices must be < 2\\*\\*bits = 4"):
        pack_codebook(np.full((4, 3), 4, np.uint8), np.zeros((1, 4), np.float32), 2)
    with pytest.raises(TypeError, match="indices must be uint8"):
        pack_codebook(idx.astype(np.int32), t, 4)
    with pytest.raises(TypeError, match="centroids must be float32"):
        pack_codebook(idx, t.astype(np.float64), 4)
    with pytest.raises(ValueError, match="centroids must have shape"):
        pack_codebook(idx, np.zeros((2, 16), np.float32), 4)
    with pytest.raises(ValueError, match="NaN"):
        pack_codebook(idx, np.full((1, 16), np.nan, np.float32), 4)
    with pytest.raises(ValueError, match="bias"):
        pack_codebook(idx, t, 4, bias=np.zeros(2, np.float32))
