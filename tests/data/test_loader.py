"""frugalnn.data.Loader: batch order and determinism, partial batches, buffer reuse, errors,
producer exceptions, and clean shutdown of the producer thread."""
import gc
import threading
import time
import traceback

import numpy as np
import pytest

from frugalnn.data.loader import Loader
from frugalnn.data.transforms import Compose, GaussianNoise, RandomRotation, RandomShift
from frugalnn.memory import EMA, Pool


def data(n=103, shape=(1, 4, 4), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + shape, dtype=np.float32)
    x[:, 0, 0, 0] = np.arange(n)  # the sample's index, to follow rows through batches
    y = np.arange(n, dtype=np.int64) * 10
    return x, y


def ids(xb):
    return xb[:, 0, 0, 0].astype(np.int64)


def loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("frugalnn-loader")]


@pytest.fixture(autouse=True)
def no_threads_left():
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while loader_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not loader_threads()


def epoch(loader):
    return [tuple(np.array(a, copy=True) for a in b) if isinstance(b, tuple) else b.copy() for b in loader]


# ----------------------------------------------------------------------- order and shape


@pytest.mark.parametrize("prefetch", [0, 1, 2, 4])
def test_shuffle_false_keeps_order_and_pairs_rows(prefetch):
    x, y = data()
    loader = Loader(x, y, 10, shuffle=False, prefetch=prefetch)
    assert len(loader) == 11 and loader.batch_size == 10 and loader.num_samples == 103
    batches = epoch(loader)
    assert [len(b[0]) for b in batches] == [10] * 10 + [3]  # the last partial batch
    got = np.concatenate([ids(xb) for xb, _ in batches])
    np.testing.assert_array_equal(got, np.arange(103))
    for xb, yb in batches:
        np.testing.assert_array_equal(xb, x[ids(xb)])
        np.testing.assert_array_equal(yb, y[ids(xb)])
        assert xb.dtype == np.float32 and yb.dtype == np.int64


@pytest.mark.parametrize("prefetch", [0, 2])
def test_shuffle_is_a_permutation_with_rows_and_labels_together(prefetch):
    x, y = data()
    batches = epoch(Loader(x, y, 16, seed=3, prefetch=prefetch))
    got = np.concatenate([ids(xb) for xb, _ in batches])
    assert sorted(got.tolist()) == list(range(103))
    assert not np.array_equal(got, np.arange(103))
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, ids(xb) * 10)
        np.testing.assert_array_equal(xb, x[ids(xb)])


def test_same_seed_same_batches_epoch_after_epoch():
    x, y = data()
    a, b = Loader(x, y, 16, seed=7), Loader(x, y, 16, seed=7, prefetch=3)
    epochs_a = [np.concatenate([ids(xb) for xb, _ in a]) for _ in range(3)]
    epochs_b = [np.concatenate([ids(xb) for xb, _ in b]) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])  # each epoch reshuffles
    # Epoch e depends on (seed, e) only: set_epoch replays it.
    c = Loader(x, y, 16, seed=7)
    c.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([ids(xb) for xb, _ in c]), epochs_a[2])
    assert c.epoch == 3
    other = np.concatenate([ids(xb) for xb, _ in Loader(x, y, 16, seed=8)])
    assert not np.array_equal(other, epochs_a[0])


def test_prefetch_zero_and_two_give_identical_augmented_batches():
    x, y = data(200, (1, 12, 12))
    x[:, 0, 0, 0] = 0

    def aug():
        return Compose([RandomRotation(15), RandomShift(2), GaussianNoise(0.1)])

    for _ in range(2):  # two epochs each
        sync = Loader(x, y, 32, seed=11, prefetch=0, transform=aug())
        bg = Loader(x, y, 32, seed=11, prefetch=2, transform=aug())
        for (xs, ys), (xb, yb) in zip(sync, bg):
            np.testing.assert_array_equal(xs, xb)
            np.testing.assert_array_equal(ys, yb)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_drop_last(prefetch):
    x, y = data()
    loader = Loader(x, y, 10, shuffle=False, drop_last=True, prefetch=prefetch)
    assert len(loader) == 10
    batches = epoch(loader)
    assert [len(b[0]) for b in batches] == [10] * 10
    np.testing.assert_array_equal(np.concatenate([ids(xb) for xb, _ in batches]), np.arange(100))


def test_batch_larger_than_dataset_is_one_batch():
    x, y = data(5)
    loader = Loader(x, y, 64, shuffle=False)
    assert len(loader) == 1
    (xb, yb), = epoch(loader)
    assert xb.shape == (5, 1, 4, 4)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_y_none_yields_arrays(prefetch):
    x, _ = data()
    batches = epoch(Loader(x, batch_size=25, shuffle=False, prefetch=prefetch))
    assert all(isinstance(b, np.ndarray) for b in batches)
    np.testing.assert_array_equal(np.concatenate(batches), x)


def test_other_label_kinds_and_sample_shapes():
    rng = np.random.default_rng(0)
    x = rng.random((30, 6), dtype=np.float32)  # flat features
    y = rng.random((30, 3)).astype(np.float32)  # regression targets
    for xb, yb in Loader(x, y, 8, shuffle=False):
        assert xb.shape[1:] == (6,) and yb.shape[1:] == (3,)
    onehot = np.eye(4, dtype=bool)[rng.integers(0, 4, 30)]
    got = np.concatenate([yb.copy() for _, yb in Loader(x, onehot, 7, shuffle=False)])
    np.testing.assert_array_equal(got, onehot)


# -------------------------------------------------------------------------- buffers


def test_batches_are_views_of_reused_pooled_buffers():
    x, y = data(64)
    pool = Pool()
    loader = Loader(x, y, 8, shuffle=False, prefetch=2, pool=pool)
    blocks = pool.stats().blocks
    assert blocks == 2 * 2 + 1  # x and y buffer per slot, plus the index buffer
    seen = set()
    for xb, yb in loader:
        seen.add(xb.__array_interface__["data"][0])
        assert xb.base is not None and not xb.flags.owndata
    assert len(seen) == 2  # double buffering: two buffers take turns
    assert pool.stats().blocks == blocks  # nothing new per batch
    before = pool.stats().allocations
    for _ in loader:
        pass
    assert pool.stats().allocations == before  # nor per epoch


def test_a_batch_is_valid_until_the_next_is_asked_for_and_copy_keeps_it():
    x, y = data(64)
    loader = Loader(x, y, 8, shuffle=False, prefetch=2)
    it = iter(loader)
    first, _ = next(it)
    kept = first.copy()
    np.testing.assert_array_equal(ids(first), np.arange(8))
    next(it)
    next(it)  # first's buffer went back to the ring and now holds batch 2
    np.testing.assert_array_equal(ids(kept), np.arange(8))
    np.testing.assert_array_equal(ids(first), np.arange(16, 24))
    it.close()


def test_prefetch_fills_ahead_on_a_thread():
    x, y = data(64)
    filled = []

    def record(xb, rng):
        filled.append(threading.current_thread().name)

    loader = Loader(x, y, 8, prefetch=2, transform=record)
    it = iter(loader)
    next(it)
    deadline = time.monotonic() + 5
    while len(filled) < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(filled) == 2  # the consumer holds batch 0, batch 1 is ready: two in flight
    time.sleep(0.05)
    assert len(filled) == 2  # and no more: the ring is full
    assert all(name.startswith("frugalnn-loader") for name in filled)
    it.close()
    sync = []
    list(Loader(x, y, 8, prefetch=0, transform=lambda xb, rng: sync.append(threading.current_thread())))
    assert set(sync) == {threading.current_thread()}


def test_pool_with_a_predictor_is_stepped_once_per_batch():
    x, y = data(64)
    pool = Pool(predictor=EMA())
    loader = Loader(x, y, 8, pool=pool)
    for _ in loader:
        pass
    assert pool.predicted_bytes > 0
    assert pool._policy.step == len(loader)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(x=[[1.0]]), TypeError, "x must be a numpy array"),
        (dict(x=np.zeros((4, 2))), TypeError, "float32"),
        (dict(x=np.zeros((4, 2), np.float16)), TypeError, "astype"),
        (dict(x=np.zeros((0, 2), np.float32)), ValueError, "empty"),
        (dict(x=np.ones((), np.float32)), ValueError, "sample axis"),
        (dict(y=[1, 2, 3, 4]), TypeError, "y must be a numpy array"),
        (dict(y=np.zeros(5)), ValueError, "different lengths"),
        (dict(y=np.array([0, 1, np.nan, 3])), ValueError, "NaN"),
        (dict(y=np.array(["a", "b", "c", "d"])), TypeError, "numbers"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=-3), ValueError, "batch_size"),
        (dict(batch_size=2.0), TypeError, "batch_size"),
        (dict(batch_size=True), TypeError, "batch_size"),
        (dict(prefetch=-1), ValueError, "prefetch"),
        (dict(prefetch=1.5), TypeError, "prefetch"),
        (dict(transform="rotate"), TypeError, "transform"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(pool="default"), TypeError, "pool"),
        (dict(batch_size=8, drop_last=True), ValueError, "no batch"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    args = dict(x=np.zeros((4, 2), np.float32), y=None, batch_size=2)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        Loader(args.pop("x"), args.pop("y"), **args)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_is_rejected_naming_the_sample(bad):
    x = np.zeros((10, 3), np.float32)
    x[6, 1] = bad
    with pytest.raises(ValueError, match="sample 6"):
        Loader(x)


def failing_transform(xb, rng):
    if failing_transform.calls == 3:
        raise ZeroDivisionError("transform broke on the fourth batch")
    failing_transform.calls += 1


@pytest.mark.parametrize("prefetch", [0, 2])
def test_producer_exception_surfaces_in_the_consumer_with_its_traceback(prefetch):
    x, y = data(64)
    failing_transform.calls = 0
    loader = Loader(x, y, 8, prefetch=prefetch, transform=failing_transform)
    got = []
    with pytest.raises(ZeroDivisionError, match="fourth batch") as err:
        for xb, _ in loader:
            got.append(xb.copy())
    assert len(got) == 3
    text = "".join(traceback.format_exception(type(err.value), err.value, err.value.__traceback__))
    assert "failing_transform" in text  # the frame that raised, in the producer thread
    if prefetch:
        assert "_produce" in text and "producer thread" in text and "batch 3" in text
    # The loader survives: the next epoch runs (and fails the same way, deterministically).
    failing_transform.calls = 0
    with pytest.raises(ZeroDivisionError):
        list(loader)


# ------------------------------------------------------------------------- shutdown


def test_break_stops_the_producer_thread():
    x, y = data(200)
    loader = Loader(x, y, 4, prefetch=3)
    for i, _ in enumerate(loader):
        assert loader_threads()
        if i == 2:
            break
    assert not loader_threads()  # joined synchronously when the for loop dropped its iterator
    assert len(epoch(loader)) == 50  # and the loader starts a fresh epoch afterwards


def test_close_and_context_manager_stop_the_thread_and_release_buffers():
    x, y = data(200)
    pool = Pool()
    with Loader(x, y, 4, pool=pool) as loader:
        it = iter(loader)
        next(it)
        assert loader_threads()
    assert not loader_threads() and loader.closed
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(RuntimeError, match="closed"):
        iter(loader)
    del it
    gc.collect()
    assert pool.stats().blocks == 0  # batch buffers went back to the pool


def test_garbage_collected_loader_stops_its_thread():
    x, y = data(200)
    loader = Loader(x, y, 4)
    it = iter(loader)
    next(it)
    assert loader_threads()
    del it, loader
    gc.collect()
    assert not loader_threads()


def test_abandoned_producer_waiting_for_a_slot_stops_quickly():
    x, y = data(200)
    loader = Loader(x, y, 4, prefetch=2)
    it = iter(loader)
    next(it)
    time.sleep(0.05)  # the producer has filled the ring and waits for a free slot
    t0 = time.monotonic()
    it.close()
    assert time.monotonic() - t0 < 1.0
    assert not loader_threads()


def test_a_new_pass_ends_the_previous_one():
    x, y = data(64)
    loader = Loader(x, y, 8)
    first = iter(loader)
    next(first)
    second = iter(loader)
    assert len(loader_threads()) == 1  # the first pass's thread is gone
    with pytest.raises(RuntimeError, match="newer"):
        next(first)
    assert len(list(second)) == 8


def test_repr():
    x, y = data(64)
    loader = Loader(x, y, 8)
    assert "64 samples" in repr(loader) and "8 batches" in repr(loader)
    loader.close()
    assert "closed" in repr(loader)
