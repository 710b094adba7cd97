"""SpMM / SpMV against scipy.sparse and float64 numpy, at every ISA level."""
import numpy as np
import pytest
import scipy.sparse as sp

import frugalnn
from frugalnn.sparse import CSRMatrix, linear, spmm

from .sparse_reference import check_product, random_sparse, stored_values

SPARSITIES = [0.0, 0.5, 0.9, 0.99, 1.0]
BLOCKS = [(1, 1), (1, 4)]
VALUES = ["f32", "f16", "int8"]


def _x(k, n, seed=0):
    return np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 17, 64])
@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("values", VALUES)
def test_spmm_matches_reference(isa, values, block, sparsity, n):
    w = random_sparse(37, 103, sparsity, seed=n, block=block[1])
    m = CSRMatrix(w, values=values, block=block)
    x = _x(103, n, seed=1)
    y = spmm(m, x)
    check_product(y, stored_values(w, values), x)
    if values == "f32" and block == (1, 1):
        ref = sp.csr_matrix(w) @ x
        assert np.allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2, 17, 64, 65])
@pytest.mark.parametrize("sparsity", [0.0, 0.9, 1.0])
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("values", VALUES)
def test_linear_matches_reference(isa, values, block, sparsity, batch):
    w = random_sparse(45, 98, sparsity, seed=batch, block=block[1])
    m = CSRMatrix(w, values=values, block=block)
    x = _x(batch, 98, seed=2)
    y = linear(x, m)
    check_product(y.T, stored_values(w, values), x.T)


@pytest.mark.parametrize("cols", [1, 3, 4, 5, 17, 100, 1000])
@pytest.mark.parametrize("block", BLOCKS)
def test_inner_dimensions_and_block_padding(isa, block, cols):
    w = random_sparse(19, cols, 0.6, seed=cols, block=block[1])
    m = CSRMatrix(w, block=block)
    for n in (1, 5):
        x = _x(cols, n, seed=3)
        check_product(spmm(m, x), w, x)
        check_product(linear(x.T.copy(), m).T, w, x)


@pytest.mark.parametrize("activation, lo, hi", [(None, -np.inf, np.inf), ("relu", 0, np.inf), ("relu6", 0, 6)])
@pytest.mark.parametrize("values", VALUES)
def test_fused_bias_and_activation(isa, values, activation, lo, hi):
    w = random_sparse(40, 64, 0.8, seed=4) * 3
    b = np.random.default_rng(5).standard_normal(40).astype(np.float32) * 4
    m = CSRMatrix(w, values=values)
    for n in (1, 33):
        x = _x(64, n, seed=6)
        check_product(spmm(m, x, bias=b, activation=activation), stored_values(w, values), x, b, lo, hi)
        yl = linear(x.T.copy(), m, bias=b, activation=activation)
        check_product(yl.T, stored_values(w, values), x, b, lo, hi)


def test_vectors_in_and_out(isa):
    w = random_sparse(30, 50, 0.7, seed=7)
    m = CSRMatrix(w, block=(1, 4))
    x = _x(50, 1, seed=8)[:, 0].copy()
    y = m @ x
    assert y.shape == (30,)
    check_product(y, w, x)
    out = np.empty(30, np.float32)
    assert linear(x, m, out=out) is out
    check_product(out, w, x)


@pytest.mark.parametrize("values", ["f32", "int8"])
@pytest.mark.parametrize("block", BLOCKS)
def test_wide_inner_dimension_uses_32_bit_indices(isa, values, block):
    cols = 70_000 if block == (1, 1) else 270_001  # block index beyond 65,535 too
    rng = np.random.default_rng(9)
    w = np.zeros((6, cols), np.float32)
    for r in range(6):
        c = rng.choice(cols, 40, replace=False)
        w[r, c] = rng.standard_normal(40)
    w[:, -1] = 1.0  # the last column, past 2^16
    m = CSRMatrix(w, values=values, block=block)
    assert m.index_dtype == np.uint32
    for n in (1, 17):
        x = _x(cols, n, seed=10)
        check_product(spmm(m, x), stored_values(w, values), x)
        check_product(linear(x.T.copy(), m).T, stored_values(w, values), x)


def test_empty_rows_columns_and_batches(isa):
    w = random_sparse(12, 20, 0.5, seed=11)
    w[3] = 0
    w[:, 7] = 0
    m = CSRMatrix(w)
    x = _x(20, 3, seed=12)
    check_product(spmm(m, x), w, x)
    assert spmm(m, np.empty((20, 0), np.float32)).shape == (12, 0)
    assert linear(np.empty((0, 20), np.float32), m).shape == (0, 12)
    zero = CSRMatrix(np.zeros((5, 8), np.float32))
    b = np.arange(5, dtype=np.float32)
    assert np.array_equal(spmm(zero, _x(8, 4), bias=b), np.repeat(b[:, None], 4, axis=1))
    assert spmm(CSRMatrix(np.zeros((0, 8), np.float32)), _x(8, 4)).shape == (0, 4)
    empty_k = CSRMatrix(np.zeros((4, 0), np.float32))
    assert np.array_equal(spmm(empty_k, np.empty((0, 3), np.float32)), np.zeros((4, 3)))


@pytest.mark.parametrize("block", BLOCKS)
def test_results_do_not_depend_on_thread_count(block):
    w = random_sparse(700, 600, 0.9, seed=13, block=block[1])
    # Uneven rows, so that the nonzero-balanced split differs from an even one.
    w[:50] = np.random.default_rng(14).standard_normal((50, 600))
    m = CSRMatrix(w, block=block)
    x = _x(600, 130, seed=15)
    before = frugalnn.get_num_threads()
    try:
        frugalnn.set_num_threads(1)
        one = (spmm(m, x), linear(x.T.copy(), m), spmm(m, x[:, :1].copy()))
        frugalnn.set_num_threads(3)
        three = (spmm(m, x), linear(x.T.copy(), m), spmm(m, x[:, :1].copy()))
    finally:
        frugalnn.set_num_threads(before)
    for a, b in zip(one, three):
        assert np.array_equal(a, b)
    check_product(one[0], w, x)


def test_steady_state_calls_allocate_nothing():
    m = CSRMatrix(random_sparse(256, 301, 0.9, seed=16), block=(1, 4))  # 301: padded copy
    x = _x(301, 64)
    xt = x.T.copy()
    out, out_t = np.empty((256, 64), np.float32), np.empty((64, 256), np.float32)
    for _ in range(3):
        spmm(m, x, out=out)
        linear(xt, m, out=out_t)
    scratch = frugalnn.scratch_stats()
    for _ in range(50):
        spmm(m, x, out=out)
        linear(xt, m, out=out_t)
        linear(xt[0], m, out=out_t[0])
    assert frugalnn.scratch_stats().os_allocations == scratch.os_allocations


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda m: spmm(m, np.ones((9, 2), np.float32)), ValueError, "9 rows but W has 8 columns"),
        (lambda m: spmm(m, np.ones((8, 2))), TypeError, "float64"),
        (lambda m: spmm(m, np.ones((2, 8), np.float32).T), ValueError, "C-contiguous"),
        (lambda m: spmm(m, np.ones((8, 2, 1), np.float32)), ValueError, "1-D or 2-D"),
        (lambda m: spmm(m, [1.0] * 8), TypeError, "ndarray"),
        (lambda m: spmm(np.ones((4, 8), np.float32), np.ones(8, np.float32)), TypeError, "CSRMatrix"),
        (lambda m: spmm(m, np.ones((8, 2), np.float32), out=np.empty((4, 2))), TypeError, "float32"),
        (lambda m: spmm(m, np.ones((8, 2), np.float32), out=np.empty((4, 3), np.float32)), ValueError, "shape"),
        (lambda m: spmm(m, np.ones((8, 2), np.float32), bias=np.ones(3, np.float32)), ValueError, "bias"),
        (lambda m: spmm(m, np.ones((8, 2), np.float32), bias=np.ones(4)), TypeError, "bias"),
        (lambda m: spmm(m, np.ones((8, 2), np.float32), activation="gelu"), ValueError, "activation"),
        (lambda m: linear(np.ones((2, 7), np.float32), m), ValueError, "7 columns but W has 8"),
        (lambda m: linear(np.ones((2, 8), np.float16), m), TypeError, "float16"),
        (lambda m: linear(np.ones((2, 8), np.float32), m, out=np.empty((2, 4), np.float32)[:, ::2]),
         ValueError, "shape"),
    ],
)
def test_bad_input_is_rejected(call, exc, match):
    m = CSRMatrix(random_sparse(4, 8, 0.5, seed=17))
    with pytest.raises(exc, match=match):
        call(m)


def test_out_may_not_alias_x():
    m = CSRMatrix(random_sparse(8, 8, 0.5, seed=18))
    x = _x(8, 8)
    with pytest.raises(ValueError, match="overlap"):
        spmm(m, x, out=x)
