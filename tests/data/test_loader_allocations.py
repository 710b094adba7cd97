"""Zero heap allocations per batch in a Loader's steady state, counted from outside: a child
process with the malloc counter (tests/malloc_count.py) preloaded iterates loaders (with and without the
producer thread, with a transform-heavy pipeline) and reports how often the C heap was asked
for memory while the consumer took batches from the middle of an epoch. The counter is process
wide, so the producer thread's allocations count too."""
import textwrap

import pytest

from tests.malloc_count import run_counted


CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    from frugalnn.data.loader import Loader
    from frugalnn.data.transforms import Compose, GaussianNoise, Normalize, RandomRotation, RandomShift

    counter = ctypes.CDLL(sys.argv[1]).fnn_malloc_count
    counter.restype = ctypes.c_uint64
    rng = np.random.default_rng(0)
    x = rng.random((1500, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 1500)
    rgb = rng.random((600, 3, 12, 12), dtype=np.float32)

    def heavy():
        return Compose([RandomRotation(15), RandomShift(2), GaussianNoise(0.05), Normalize(0.1, 0.3)])

    cases = {
        "prefetch0-plain": lambda: Loader(x, y, 16, seed=0, prefetch=0),
        "prefetch2-plain": lambda: Loader(x, y, 16, seed=0, prefetch=2),
        "prefetch0-augmented": lambda: Loader(x, y, 16, seed=0, prefetch=0, transform=heavy()),
        "prefetch2-augmented": lambda: Loader(x, y, 16, seed=0, prefetch=2, transform=heavy()),
        "prefetch3-no-labels-ordered": lambda: Loader(x, None, 10, shuffle=False, prefetch=3),
        "prefetch2-rgb-nearest": lambda: Loader(rgb, None, 8, seed=1, transform=Compose([
            RandomRotation(30, interpolation="nearest"), Normalize([0.5, 0.4, 0.3], [0.2, 0.2, 0.2])])),
    }
    per_batch, per_epoch = {}, {}
    for name, make in cases.items():
        loader = make()
        for _ in loader:  # warm-up epoch: first-use caches in numpy and Python
            pass
        it = iter(loader)
        for _ in range(10):
            next(it)
        before = counter()
        batches = 40
        for _ in range(batches):
            next(it)
        per_batch[name] = (counter() - before) / batches
        it.close()
        before = counter()
        n = sum(1 for _ in loader)
        per_epoch[name] = [counter() - before, n]
    print(json.dumps({"per_batch": per_batch, "per_epoch": per_epoch}))
""")


@pytest.fixture(scope="module")
def counts(malloc_counter):
    return run_counted(malloc_counter, CHILD)


def test_steady_state_batches_make_no_heap_allocation(counts):
    per_batch = counts["per_batch"]
    assert per_batch and all(v == 0 for v in per_batch.values()), per_batch


def test_an_epoch_costs_a_fixed_handful_not_one_per_batch(counts):
    # Starting an epoch derives its generator and starts the producer thread: a constant cost.
    for name, (allocations, batches) in counts["per_epoch"].items():
        assert batches >= 60 and allocations < batches / 2, (name, allocations, batches)
    # ...and the counter is live: starting a producer thread does allocate.
    assert counts["per_epoch"]["prefetch2-plain"][0] > 0
