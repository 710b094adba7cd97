"""Pool allocation against numpy.empty, and static planner speed.

    python -m pytest benchmarks/bench_memory.py --benchmark-only --benchmark-columns=median,ops
"""
import random

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import frugalnn

IMPLS = ["frugalnn", "numpy"]
SIZES = {"64B": 64, "4KiB": 4 << 10, "1MiB": 1 << 20, "64MiB": 64 << 20}
PAGE = 4096


def allocator(impl, nbytes):
    """The `empty` under test; a pool is warmed by one allocate+free so timing sees reuse."""
    if impl == "numpy":
        return np.empty, None
    pool = frugalnn.Pool()
    pool.empty(nbytes, np.uint8)
    return pool.empty, pool


def assert_pool_stayed_warm(pool):
    # Every timed round must have reused the warm-up block, never mapped new memory.
    if pool is not None:
        stats = pool.stats()
        assert stats.os_allocations == 1 and stats.bytes_in_use == 0


def _case(benchmark, impl, size, group):
    """(bytes, the `empty` under test, its pool) of one case, its benchmark group named."""
    nbytes = SIZES[size]
    benchmark.group = f"{group}-{size}"
    benchmark.extra_info["threadpools"] = threadpool_info()
    return (nbytes, *allocator(impl, nbytes))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def test_empty_and_release(benchmark, impl, size):
    nbytes, empty, pool = _case(benchmark, impl, size, "empty+release")

    def run():
        return empty(nbytes, np.uint8).nbytes  # the array dies on return

    assert benchmark(run) == nbytes
    assert_pool_stayed_warm(pool)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("impl", IMPLS)
def test_empty_touch_every_page_and_release(benchmark, impl, size):
    # A fresh numpy buffer of 1 MiB+ comes straight from mmap and faults on each first write;
    # a warm pool block was faulted in once, at warm-up.
    nbytes, empty, pool = _case(benchmark, impl, size, "empty+touch+release")

    def run():
        a = empty(nbytes, np.uint8)
        a[::PAGE] = 1
        return int(a[::PAGE].sum())

    assert benchmark(run) == -(-nbytes // PAGE)
    assert_pool_stayed_warm(pool)


def cnn_like(n_tensors, seed=0):
    """A deep ResNet-like graph, one op per step: conv outputs are read by the next op, each
    conv's scratch lives for its own step, and a block's input stays alive until the add."""
    rng = random.Random(seed)
    sizes, first, last = [], [], []

    def tensor(nbytes, step):
        sizes.append(nbytes)
        first.append(step)
        last.append(step)
        return len(sizes) - 1

    def read(t, step):
        last[t] = max(last[t], step)

    stages = [(56, 64), (28, 128), (14, 256), (7, 512)]  # (spatial, channels), ResNet-50-like
    step, block = 0, 0
    x = tensor(56 * 56 * 64 * 4, step)
    while len(sizes) < n_tensors:
        hw, ch = stages[(block // 3) % len(stages)]
        act = hw * hw * ch * 4
        shortcut = x
        for _conv in range(rng.choice([2, 3])):
            step += 1
            read(x, step)
            tensor(act * rng.randint(1, 9) // rng.choice([1, 2, 4]), step)
            x = tensor(act, step)
        step += 1
        read(x, step)
        read(shortcut, step)
        x = tensor(act, step)
        block += 1
    read(x, step + 1)
    return sizes, first, last


@pytest.mark.parametrize("n_tensors", [200, 10_000])
def test_plan_memory_cnn_like(benchmark, n_tensors):
    # Target: under 50 ms for 10,000 tensors. numpy has no planner, so this group stands alone.
    sizes, first, last = cnn_like(n_tensors)
    benchmark.group = f"plan_memory-cnn-{n_tensors}"
    plan = benchmark(frugalnn.plan_memory, sizes, first, last)
    benchmark.extra_info.update(
        tensors=len(sizes),
        arena_bytes=plan.arena_bytes,
        lower_bound=plan.lower_bound,
        ratio=plan.ratio,
        savings=plan.savings,
        strategy=plan.strategy,
    )
    assert len(plan) == len(sizes)
    assert plan.lower_bound <= plan.arena_bytes <= plan.naive_bytes
