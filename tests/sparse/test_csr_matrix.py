"""CSRMatrix: construction, validation, storage and pruning."""
import gc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import frugalnn
from frugalnn.sparse import CSRMatrix

from .sparse_reference import random_sparse, stored_values


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("values", ["f32", "f16", "int8"])
def test_from_dense_matches_scipy_structure(sparsity, values):
    w = random_sparse(61, 130, sparsity, seed=1)
    m = CSRMatrix(w, values=values)
    ref = sp.csr_matrix(w)
    assert m.shape == (61, 130)
    assert m.nnz == ref.nnz == np.count_nonzero(w)
    assert np.array_equal(m.indptr, ref.indptr)
    assert np.array_equal(m.indices, ref.indices)
    assert m.index_dtype == np.uint16
    assert m.density == pytest.approx(ref.nnz / w.size)
    assert np.array_equal(m.to_dense(), stored_values(w, values))


def test_f32_round_trip_is_exact_and_views_are_read_only():
    w = random_sparse(20, 33, 0.7, seed=2)
    m = CSRMatrix(w)
    assert np.array_equal(m.to_dense(), w)
    assert np.array_equal(m.data.reshape(-1), sp.csr_matrix(w).data)
    for a in (m.indptr, m.indices, m.data):
        assert not a.flags.writeable
    assert m.indptr.dtype == np.uint32 and m.row_scales is None


def test_int8_values_store_per_row_scales():
    w = random_sparse(8, 40, 0.5, seed=3)
    w[3] = 0  # an all-zero row keeps scale 1
    m = CSRMatrix(w, values="int8")
    amax = np.abs(w).max(axis=1)
    assert np.allclose(m.row_scales, np.where(amax > 0, amax / 127, 1))
    assert m.data.dtype == np.int8 and np.abs(m.data).max() == 127


def test_views_keep_the_matrix_alive():
    pool = frugalnn.Pool()
    m = CSRMatrix(random_sparse(10, 10, 0.5), pool=pool)
    data = m.data
    del m
    gc.collect()
    assert pool.stats().bytes_in_use > 0
    assert data.sum() == data.sum()  # still readable
    del data
    gc.collect()
    assert pool.stats().bytes_in_use == 0


def test_from_scipy_csr_and_bsr():
    w = random_sparse(16, 64, 0.8, seed=4, block=4)
    assert np.array_equal(CSRMatrix(sp.csr_matrix(w)).to_dense(), w)
    assert np.array_equal(CSRMatrix(sp.csr_array(w)).to_dense(), w)
    bsr = sp.bsr_matrix(w, blocksize=(1, 4))
    m = CSRMatrix(bsr)
    assert m.block == (1, 4) and np.array_equal(m.to_dense(), w)
    with pytest.raises(ValueError, match="blocksize"):
        CSRMatrix(sp.bsr_matrix(w, blocksize=(2, 4)))
    with pytest.raises(TypeError, match="float64"):
        CSRMatrix(sp.csr_matrix(w.astype(np.float64)))


def test_from_duck_typed_arrays_without_scipy():
    class Arrays:
        shape = (3, 5)
        indptr = np.array([0, 2, 2, 3])
        indices = np.array([0, 4, 1], np.int32)
        data = np.array([1.0, 2.0, 3.0], np.float32)

    d = CSRMatrix(Arrays()).to_dense()
    assert np.array_equal(d, [[1, 0, 0, 0, 2], [0, 0, 0, 0, 0], [0, 3, 0, 0, 0]])


def _arrays(shape=(3, 5), indptr=(0, 2, 2, 3), indices=(0, 4, 1), data=(1.0, 2.0, 3.0)):
    class Arrays:
        pass

    a = Arrays()
    a.shape = shape
    a.indptr = np.array(indptr)
    a.indices = np.array(indices)
    a.data = np.array(data, np.float32)
    return a


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(indptr=(1, 2, 2, 3)), r"indptr\[0\] is 1"),
        (dict(indptr=(0, 2, 1, 3)), "indptr decreases at row 1"),
        (dict(indptr=(0, 2, 2, 2)), "indptr ends at 2 but 3"),
        (dict(indptr=(0, 2, 4, 5)), "exceeds the number of stored entries"),
        (dict(indices=(0, 5, 1)), r"row 0: column index 5 \(entry 1\) is out of range \[0, 5\)"),
        (dict(indices=(0, -1, 1)), "out of range"),
        (dict(indices=(4, 0, 1)), "not strictly increasing at entry 1"),
        (dict(indices=(2, 2, 1)), "not strictly increasing"),
        (dict(data=(1.0, np.nan, 3.0)), "row 0: value at column 4 is not finite"),
        (dict(data=(1.0, 2.0, np.inf)), "row 2: value at column 1 is not finite"),
        (dict(indptr=(0, 2, 3)), "indptr has 3 elements, expected rows \\+ 1 = 4"),
        (dict(data=(1.0, 2.0)), "data has 2 values, expected 3"),
    ],
)
def test_malformed_arrays_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CSRMatrix(_arrays(**kwargs))


def test_failed_construction_leaks_nothing():
    pool = frugalnn.Pool()
    with pytest.raises(ValueError):
        CSRMatrix(_arrays(indices=(4, 0, 1)), pool=pool)
    assert pool.stats().bytes_in_use == 0


@pytest.mark.parametrize(
    "arg, kwargs, exc, match",
    [
        (np.ones((3, 3)), {}, TypeError, "float64"),
        (np.ones(3, np.float32), {}, ValueError, "2-D"),
        (np.full((2, 2), np.nan, np.float32), {}, ValueError, "NaN"),
        ([[1.0]], {}, TypeError, "numpy array or have indptr"),
        (np.ones((2, 2), np.float32), {"values": "int4"}, ValueError, "values"),
        (np.ones((2, 2), np.float32), {"block": (4, 1)}, ValueError, "block"),
        (np.ones((2, 2), np.float32), {"block": 4}, TypeError, "block"),
        (np.full((2, 2), 1e6, np.float32), {"values": "f16"}, ValueError, "float16 range"),
        (np.ones((2, 2), np.float32), {"pool": "p"}, TypeError, "Pool"),
    ],
)
def test_bad_construction_arguments(arg, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CSRMatrix(arg, **kwargs)


def test_index_width_follows_the_inner_dimension():
    w = np.zeros((2, 70_000), np.float32)
    w[0, 69_999] = 1.0
    w[1, 3] = 2.0
    m = CSRMatrix(w)
    assert m.index_dtype == np.uint32 and np.array_equal(m.to_dense(), w)
    # With 1x4 blocks the block index fits 16 bits up to 262,144 columns.
    assert CSRMatrix(w, block=(1, 4)).index_dtype == np.uint16
    assert CSRMatrix(np.zeros((1, 65_536), np.float32)).index_dtype == np.uint16
    assert CSRMatrix(np.zeros((1, 65_537), np.float32)).index_dtype == np.uint32


def test_nbytes_is_the_memory_held():
    w = random_sparse(1024, 1024, 0.8, seed=5)
    dense = w.nbytes
    f32, f16, i8 = (CSRMatrix(w, values=v) for v in ("f32", "f16", "int8"))
    assert f32.nbytes <= 0.32 * dense  # 4-byte values + 2-byte indices + row pointers
    assert f16.nbytes <= 0.22 * dense
    assert i8.nbytes <= 0.17 * dense
    nnz = f32.nnz
    assert f32.nbytes >= nnz * 6 + 1025 * 4
    pool = frugalnn.Pool()
    m = CSRMatrix(w, values="f16", pool=pool)
    assert pool.stats().bytes_in_use >= m.nbytes >= nnz * 4


def test_empty_and_degenerate_shapes():
    for shape in [(0, 5), (5, 0), (0, 0), (1, 1)]:
        m = CSRMatrix(np.zeros(shape, np.float32))
        assert m.shape == shape and m.nnz == 0
        assert m.to_dense().shape == shape
    assert CSRMatrix(np.zeros((3, 3), np.float32)).density == 0.0


# ---- pruning ------------------------------------------------------------------------------

@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_prune_keeps_the_largest_magnitudes(sparsity):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((50, 80)).astype(np.float32)
    m = CSRMatrix.prune(w, sparsity)
    keep = int(round((1 - sparsity) * w.size))
    assert m.nnz == keep
    d = m.to_dense()
    kept = np.abs(w[d != 0])
    dropped = np.abs(w[d == 0])
    if kept.size and dropped.size:
        assert kept.min() >= dropped.max()
    assert np.array_equal(d[d != 0], w[d != 0])


def test_prune_in_blocks_keeps_whole_blocks_by_norm():
    rng = np.random.default_rng(7)
    w = rng.standard_normal((32, 42)).astype(np.float32)  # 42: a partial last block
    m = CSRMatrix.prune(w, 0.75, block=(1, 4))
    assert m.block == (1, 4)
    d = m.to_dense()
    wb = np.concatenate([w, np.zeros((32, 2), np.float32)], axis=1).reshape(32, -1, 4)
    db = np.concatenate([d, np.zeros((32, 2), np.float32)], axis=1).reshape(32, -1, 4)
    kept = np.any(db != 0, axis=2)
    assert kept.sum() == m.nnz // 4 == round(0.25 * kept.size)
    norms = np.linalg.norm(wb, axis=2)
    assert norms[kept].min() >= norms[~kept].max()
    assert np.array_equal(db[kept], wb[kept])


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_prune_rejects_bad_sparsity(bad):
    with pytest.raises(ValueError, match="sparsity"):
        CSRMatrix.prune(np.ones((2, 2), np.float32), bad)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 9),
    cols=st.integers(0, 23),
    block=st.sampled_from([(1, 1), (1, 4)]),
    values=st.sampled_from(["f32", "f16", "int8"]),
    seed=st.integers(0, 2**16),
    sparsity=st.floats(0, 1),
)
def test_round_trip_property(rows, cols, block, values, seed, sparsity):
    w = random_sparse(rows, cols, sparsity, seed=seed) if rows and cols else np.zeros((rows, cols), np.float32)
    m = CSRMatrix(w, values=values, block=block)
    assert np.array_equal(m.to_dense(), stored_values(w, values) if w.size else w)
    assert m.nnz == (np.count_nonzero(w) if block == (1, 1) else m.nnz)
    again = CSRMatrix(_arrays(m.shape, m.indptr, m.indices, m.data.astype(np.float32).reshape(-1)),
                      block=block) if values == "f32" and block == (1, 1) else None
    if again is not None:
        assert np.array_equal(again.to_dense(), w)
