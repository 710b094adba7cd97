"""frugalnn.Pool: alignment, reuse, budget, trim, lifetime of views, counters, threads."""
import gc
import os
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import frugalnn
from frugalnn import _core

MiB = 1 << 20


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def no_os_memory_leaks():
    """Every test must give back every region it made the OS map (it may give back more:
    trimming a shared pool releases regions that earlier tests left free)."""
    gc.collect()
    before = _core._live_os_regions()
    yield
    gc.collect()
    assert _core._live_os_regions() <= before


@pytest.mark.parametrize("shape", [0, 1, 3, 17, (2, 3), (64, 1, 28, 28), (0, 5), (7, 0, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.complex64])
def test_empty_is_aligned_contiguous_and_writable(shape, dtype):
    pool = frugalnn.Pool()
    a = pool.empty(shape, dtype)
    expected_shape = (shape,) if isinstance(shape, int) else shape
    assert a.shape == expected_shape
    assert a.dtype == np.dtype(dtype)
    assert a.flags.c_contiguous and a.flags.writeable
    assert addr(a) % 64 == 0
    a[...] = 3
    assert np.all(a == 3)


def test_structured_dtype_without_objects_is_accepted():
    pool = frugalnn.Pool()
    dt = np.dtype([("x", np.float32), ("tag", "S3")])
    a = pool.zeros(4, dt)
    assert a.dtype == dt and a["x"].sum() == 0 and a["tag"][0] == b""


def test_zeros_clears_a_reused_dirty_block():
    pool = frugalnn.Pool()
    a = pool.empty(1000, np.float32)
    a[...] = np.nan
    first = addr(a)
    del a
    z = pool.zeros(1000, np.float32)
    assert addr(z) == first  # the same block came back...
    assert np.all(z == 0)  # ...and was cleared


def test_freed_block_is_reused_without_the_os():
    pool = frugalnn.Pool()
    a = pool.empty((256, 256), np.float32)
    first = addr(a)
    del a
    before = pool.stats()
    for _ in range(100):
        b = pool.empty((256, 256), np.float32)
        assert addr(b) == first
        del b
    after = pool.stats()
    assert after.os_allocations == before.os_allocations
    assert after.cache_hits == before.cache_hits + 100
    assert after.allocations == before.allocations + 100


def test_counters_track_live_blocks():
    pool = frugalnn.Pool()
    arrays = [pool.empty(n, np.uint8) for n in (1, 64, 65, 1000, 5000, 300_000)]
    s = pool.stats()
    assert s.blocks == 6
    assert s.allocations == 6 and s.frees == 0
    assert s.requested_bytes == 1 + 64 + 65 + 1000 + 5000 + 300_000
    # Each block is its request rounded up to 64 bytes.
    assert s.bytes_in_use == sum(-(-n // 64) * 64 for n in (1, 64, 65, 1000, 5000, 300_000))
    assert s.peak_bytes_in_use == s.bytes_in_use
    assert s.reserved_bytes >= s.bytes_in_use + s.free_bytes
    del arrays
    s = pool.stats()
    assert (s.blocks, s.bytes_in_use, s.requested_bytes, s.frees) == (0, 0, 0, 6)
    assert s.peak_bytes_in_use > 0
    pool.reset_peak()
    assert pool.stats().peak_bytes_in_use == 0


def test_freed_neighbours_coalesce():
    pool = frugalnn.Pool()
    pool.reserve(MiB)
    a, b, c = (pool.empty(10_000, np.uint8) for _ in range(3))
    del a, c
    s = pool.stats()
    assert s.fragmentation > 0  # two holes: a's block and the tail after c
    del b
    s = pool.stats()
    assert s.fragmentation == 0.0  # a, b, c and the tail merged back into one free block
    assert s.largest_free_block == s.free_bytes


def test_views_outlive_their_pool():
    pool = frugalnn.Pool()
    a = pool.empty((100, 100), np.float64)
    a[...] = 7.0
    view = a[10:20].T  # a view of a view: the block must live until this dies
    del a, pool
    gc.collect()
    assert view.shape == (100, 10) and np.all(view == 7.0)
    regions_with_view = _core._live_os_regions()
    del view
    gc.collect()
    # The last view took the pool's memory with it (the fixture checks the global count too).
    assert _core._live_os_regions() == regions_with_view - 1


def test_budget_exceeded_raises_and_changes_nothing():
    pool = frugalnn.Pool(budget=2 * MiB)
    keep = pool.empty(MiB, np.uint8)
    before = pool.stats()
    with pytest.raises(MemoryError) as err:
        pool.empty(3 * MiB, np.uint8)
    msg = str(err.value)
    assert str(3 * MiB) in msg and "budget" in msg
    assert str(2 * MiB) in msg and "in use" in msg
    assert pool.stats() == before
    del keep


def test_budget_releases_free_regions_when_that_is_enough():
    pool = frugalnn.Pool(budget=3 * MiB)
    a = pool.empty(2 * MiB, np.uint8)
    del a  # its region is now wholly free, still reserved
    assert pool.stats().reserved_bytes > 2 * MiB
    b = pool.empty(int(2.5 * MiB), np.uint8)  # fits only if the old region goes back first
    s = pool.stats()
    assert s.os_frees == 1 and s.reserved_bytes <= 3 * MiB
    del b


def test_budget_applies_to_reserve_and_can_change():
    pool = frugalnn.Pool(budget=MiB)
    with pytest.raises(MemoryError):
        pool.reserve(2 * MiB)
    assert pool.stats().reserved_bytes == 0
    pool.budget = 4 * MiB
    pool.reserve(2 * MiB)
    assert pool.budget == 4 * MiB
    pool.budget = None
    assert pool.budget is None and pool.stats().budget is None


def test_reserve_serves_later_requests_without_the_os():
    pool = frugalnn.Pool()
    pool.reserve(8 * MiB)
    os_before = pool.stats().os_allocations
    arrays = [pool.empty(MiB, np.uint8) for _ in range(7)]
    assert pool.stats().os_allocations == os_before
    del arrays


def test_trim_returns_wholly_free_regions_only():
    pool = frugalnn.Pool()
    small = pool.empty(100, np.uint8)  # first: its 1 MiB region must not host `big`
    big = pool.empty(8 * MiB, np.uint8)
    reserved = pool.stats().reserved_bytes
    assert pool.trim() == 0  # everything is in use
    del big
    released = pool.trim()
    assert released >= 8 * MiB
    s = pool.stats()
    assert s.reserved_bytes == reserved - released and s.os_frees == 1
    small[...] = 1  # the region still in use was kept
    del small
    pool.trim()
    assert pool.stats().reserved_bytes == 0


def test_default_pool_backs_module_level_helpers():
    pool = frugalnn.default_pool()
    assert frugalnn.default_pool() is pool
    before = pool.stats().allocations
    a = frugalnn.empty((4, 4))
    z = frugalnn.zeros(3, np.int32)
    assert a.dtype == np.float32 and np.all(z == 0)
    assert pool.stats().allocations == before + 2
    del a, z
    pool.trim()


def test_repr_is_readable():
    pool = frugalnn.Pool(budget=MiB)
    a = pool.empty(1000, np.uint8)
    text = repr(pool.stats())
    assert "in use 1.00 KiB in 1 blocks" in text and "budget 1.00 MiB" in text
    assert "Pool" in repr(pool)
    del a


@pytest.mark.parametrize(
    "shape, dtype, exc",
    [
        (-1, np.float32, ValueError),
        ((3, -2), np.float32, ValueError),
        (2.5, np.float32, TypeError),
        ((2, "3"), np.float32, TypeError),
        ((True, 3), np.float32, TypeError),
        (3, object, TypeError),
        (3, np.dtype([("a", object)]), TypeError),
        ((1 << 40, 1 << 40), np.float32, ValueError),
        (1 << 62, np.uint8, ValueError),
    ],
)
def test_bad_arguments_raise_clear_errors(shape, dtype, exc):
    pool = frugalnn.Pool()
    with pytest.raises(exc):
        pool.empty(shape, dtype)
    assert pool.stats().allocations == 0


@pytest.mark.parametrize("budget, exc", [(0, ValueError), (-5, ValueError), (1.5, TypeError),
                                         (True, TypeError)])
def test_bad_budget(budget, exc):
    with pytest.raises(exc):
        frugalnn.Pool(budget=budget)


# ThreadSanitizer (.ci/tsan.sh) needs overlapping operations, not many: it sets 4 x 1,500.
STRESS_THREADS = int(os.environ.get("FRUGALNN_STRESS_RUNNERS", 8))
STRESS_ITERATIONS = int(os.environ.get("FRUGALNN_POOL_STRESS_ITERATIONS", 20_000))


def test_native_threads_hammering_one_pool():
    pool = frugalnn.Pool()
    r = _core._pool_stress(pool._core, threads=STRESS_THREADS, iterations=STRESS_ITERATIONS, max_bytes=MiB // 2,
                           max_live=16, seed=7)
    assert r["corrupted"] == 0 and r["misaligned"] == 0
    s = pool.stats()
    assert s.allocations == r["allocations"] == s.frees
    assert (s.blocks, s.bytes_in_use, s.requested_bytes) == (0, 0, 0)
    assert s.cache_hits + s.cache_misses == s.allocations
    # All memory is free again: it must be able to go back to the OS in full.
    pool.trim()
    assert pool.stats().reserved_bytes == 0


def test_python_threads_share_a_pool():
    pool = frugalnn.Pool()
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(300):
                n = int(rng.integers(0, 50_000))
                a = pool.empty(n, np.uint8)
                a[...] = seed
                assert np.all(a == seed)
                del a
        except Exception as e:  # surfaced below: a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert pool.stats().blocks == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300_000), st.integers(0, 10**6)),
                max_size=80))
def test_random_alloc_free_sequences_keep_blocks_disjoint(ops):
    """Against a model: live blocks never overlap, keep their contents, and are counted."""
    pool = frugalnn.Pool()
    live = []  # (array, fill byte)
    for alloc, size, pick in ops:
        if alloc or not live:
            tag = len(live) % 251
            live.append((pool.empty(size, np.uint8), tag))
            live[-1][0][...] = tag
        else:
            freed, tag = live.pop(pick % len(live))
            assert np.all(freed == tag)
            del freed
        spans = sorted((addr(a), addr(a) + max(a.nbytes, 1)) for a, _ in live)
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))
        s = pool.stats()
        assert s.blocks == len(live)
        assert s.requested_bytes == sum(a.nbytes for a, _ in live)
        assert s.reserved_bytes >= s.bytes_in_use + s.free_bytes
    assert all(np.all(a == tag) for a, tag in live)
    live.clear()
    pool.trim()
    assert pool.stats().reserved_bytes == 0
