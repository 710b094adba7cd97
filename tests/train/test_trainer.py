"""The training engine: the planned arena, zero allocations per step (counted from outside),
bit-identical runs from one seed, divergence, and bad input."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tests.malloc_count import run_counted

from frugalnn import models
from frugalnn.graph import Conv2d, Dense, Flatten, GraphError, ReLU6, Sequential
from frugalnn.train import SGD, Trainer, TrainingDiverged



def _data(n=64, seed=0, shape=(1, 28, 28)):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 10, n)


def test_memory_report_is_planned_before_the_first_step():
    t = Trainer(models.mnist_cnn(), max_batch=64)
    r = t.memory_report()
    assert r.max_batch == 64
    assert r.lower_bound <= r.arena_bytes <= r.naive_bytes
    # The document's CNN at batch 64: the conv1 output (64 x 28 x 28 x 32 floats) is kept for
    # its ReLU and the pool, and its gradient meets it in the backward: at least both.
    conv1 = 64 * 28 * 28 * 32 * 4
    assert r.lower_bound >= 2 * conv1
    assert r.arena_bytes <= 1.1 * r.lower_bound
    parts = r.activation_bytes + r.gradient_bytes + r.scratch_bytes
    assert parts <= r.naive_bytes <= 1.01 * parts  # the plan rounds each buffer to 64 bytes
    assert r.optimizer_state_bytes == 2 * r.parameter_bytes  # Adam: m and v
    assert r.total_bytes == r.arena_bytes + r.parameter_bytes + r.parameter_copy_bytes + r.optimizer_state_bytes
    assert "lower bound" in str(r)
    assert Trainer(models.mnist_cnn(), optimizer=SGD()).memory_report().optimizer_state_bytes == 0


def test_arena_grows_with_max_batch_and_plans_every_step_in_it():
    small = Trainer(models.mnist_cnn(), max_batch=8).memory_report()
    big = Trainer(models.mnist_cnn(), max_batch=32).memory_report()
    assert small.lower_bound <= small.arena_bytes < big.lower_bound <= big.arena_bytes
    assert big.arena_bytes > 2.5 * small.arena_bytes  # activations scale with the batch, weight gradients not


def test_same_seed_gives_bit_identical_weights():
    from frugalnn.graph import Dropout

    def run():
        rng = np.random.default_rng(5)
        g = Sequential([Conv2d((rng.standard_normal((4, 1, 3, 3)) * 0.5).astype(np.float32), None, padding=1,
                               activation="relu"), Dropout(0.3), Flatten(),
                        Dense((rng.standard_normal((10, 4 * 64)) * 0.05).astype(np.float32), None)],
                       input_shape=(1, 8, 8))
        t = Trainer(g, seed=11, max_batch=16)
        x, y = _data(16, shape=(1, 8, 8))
        for _ in range(4):
            t.train_step(x, y)
        t.write_back()
        return [n.layer.weight.copy() for n in g.nodes if hasattr(n.layer, "weight")]

    a, b = run(), run()
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()


def test_divergence_is_reported_and_leaves_weights_untouched():
    g = models.mlp()
    t = Trainer(g, optimizer=SGD(lr=1e30), max_batch=16)
    x, y = _data(16)
    with pytest.raises(TrainingDiverged, match="step"):
        for _ in range(5):
            t.train_step(x * 1e3, y)
    assert all(np.all(np.isfinite(p.value)) for p in t.params)


@pytest.mark.parametrize("x, y, err", [
    (np.zeros((4, 1, 28, 28), np.float64), np.zeros(4, np.int64), TypeError),
    (np.zeros((4, 1, 27, 28), np.float32), np.zeros(4, np.int64), ValueError),
    (np.zeros((65, 1, 28, 28), np.float32), np.zeros(65, np.int64), ValueError),
    (np.zeros((4, 1, 28, 28), np.float32), np.zeros(3, np.int64), ValueError),
    (np.zeros((4, 1, 28, 28), np.float32), np.array([0, 1, 2, 10]), ValueError),
    (np.zeros((4, 1, 28, 28), np.float32), np.array([0, 1, np.nan, 3]), ValueError),
    (np.zeros((4, 1, 28, 28), np.float32), [0, 1, 2, 3], TypeError),
    ([[0.0]], np.zeros(1, np.int64), TypeError),
])
def test_bad_batches_raise(x, y, err):
    t = Trainer(models.mlp(), max_batch=64)
    with pytest.raises(err):
        t.train_step(x, y)


def test_bad_graphs_and_arguments():
    with pytest.raises(GraphError, match="no trainable"):
        Trainer(Sequential([Flatten()], input_shape=(3, 2, 2)))
    with pytest.raises(GraphError, match=r"\(classes,\)"):
        Trainer(Sequential([Conv2d(np.ones((2, 1, 1, 1), np.float32))], input_shape=(1, 3, 3)))
    with pytest.raises(ValueError, match="max_batch"):
        Trainer(models.mlp(), max_batch=0)
    with pytest.raises(TypeError, match="optimizer"):
        Trainer(models.mlp(), optimizer="adam")
    with pytest.raises(MemoryError):
        from frugalnn import Pool

        Trainer(models.mnist_cnn(), max_batch=64, pool=Pool(budget=1 << 20))


CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    import frugalnn
    from frugalnn import models
    from frugalnn.train import Trainer, Adam, SGD
    counter = ctypes.CDLL(sys.argv[1]).fnn_malloc_count
    counter.restype = ctypes.c_uint64
    frugalnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    out = {}
    from tests.train.test_trainer import bn_residual, branchy
    for name, g, opt in (("cnn-adam", models.mnist_cnn(), Adam()), ("mlp-sgd", models.mlp(), SGD(momentum=0.9)),
                         ("bn-residual-dropout", bn_residual(), Adam(weight_decay=1e-4)),
                         ("concat-avgpool-sigmoid-hardswish-softmax", branchy(), SGD(momentum=0.9))):
        t = Trainer(g, optimizer=opt, max_batch=32, seed=0)
        x = rng.random((32,) + tuple(g.inputs["x"]), dtype=np.float32)
        y = rng.integers(0, 10, 32)
        for _ in range(5):
            t.train_step(x, y)
        before = counter()
        for _ in range(20):
            t.train_step(x, y)
        out[name] = counter() - before
    print(json.dumps(out))
""")


def bn_residual():
    """A MobileNet-like block: normalization constants, conv + BatchNorm + ReLU6, depthwise,
    a residual Add, global pooling, Dropout, a classifier."""
    from frugalnn.graph import Add, BatchNorm, Dropout, GlobalAvgPool, Graph, ScaleShift

    rng = np.random.default_rng(2)

    def w(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))).astype(np.float32)

    def bn(c):
        return BatchNorm(np.ones(c, np.float32), np.zeros(c, np.float32), np.zeros(c, np.float32),
                         np.ones(c, np.float32))

    g = Graph()
    x = g.input("x", (3, 12, 12))
    h = ScaleShift(np.array([2.0, 1.5, 1.0], np.float32), np.array([-1.0, -0.5, 0.0], np.float32))(x)
    h = Conv2d(w(8, 3, 3, 3), None, padding=1)(h)
    h = ReLU6()(bn(8)(h))
    d = Conv2d(w(8, 1, 3, 3), None, padding=1, groups=8)(h)
    d = bn(8)(d)
    h = Add(activation="relu")(h, d)
    h = Dropout(0.2)(GlobalAvgPool()(h))
    g.output(Dense(w(10, 8), np.zeros(10, np.float32))(h), "y")
    return g


def branchy():
    """Concat of two convs, average pooling, Reshape, Sigmoid, HardSwish, a Softmax inside."""
    from frugalnn.graph import AvgPool2d, Concat, Graph, HardSwish, Reshape, Sigmoid, Softmax

    rng = np.random.default_rng(3)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    g = Graph()
    x = g.input("x", (2, 6, 6))
    h = Concat()(Conv2d(w(3, 2, 3, 3), w(3), padding=1)(x), Conv2d(w(3, 2, 1, 1), w(3))(x))
    h = Reshape((-1,))(AvgPool2d(2)(h))
    h = HardSwish()(Sigmoid()(Dense(w(16, 54), w(16))(h)))
    h = Dense(w(10, 10), w(10))(Softmax()(Dense(w(10, 16), w(10))(h)))
    g.output(h, "y")
    return g


def test_zero_heap_allocations_per_step(malloc_counter):
    counts = run_counted(malloc_counter, CHILD)
    assert counts == {k: 0 for k in counts}, counts


def test_budget_is_checked_before_anything_is_allocated():
    from frugalnn.data import suggest_batch_size
    from frugalnn.train.trainer import plan_training

    g = models.mnist_cnn()
    need = plan_training(g, 64).total_bytes
    t = Trainer(g, max_batch=64, budget=need)
    assert t.memory_report().total_bytes == need
    fits = suggest_batch_size(g, need - 1)
    assert fits == 63
    with pytest.raises(MemoryError, match="max_batch=63 fits"):
        Trainer(g, max_batch=64, budget=need - 1)
    with pytest.raises(MemoryError, match="not even batch 1"):
        Trainer(g, max_batch=64, budget=1 << 20)
    with pytest.raises(MemoryError, match="not even batch 1"):
        suggest_batch_size(g, 1 << 20)


def test_suggest_batch_size_for_inference_fits_the_session():
    from frugalnn.data import suggest_batch_size
    from frugalnn.graph import Session, compile

    p = compile(models.mnist_cnn())
    budget = 8 << 20
    b = suggest_batch_size(p, budget, training=False)
    assert b >= 1
    s = Session(p, max_batch=b)
    assert s.memory_report().arena_bytes + p.weight_bytes <= budget
    s2 = Session(p, max_batch=b + 1)
    assert s2.memory_report().arena_bytes + p.weight_bytes > budget
    with pytest.raises(ValueError):
        suggest_batch_size(p, 0, training=False)
    with pytest.raises(TypeError):
        suggest_batch_size("model", 1 << 20)


def test_steps_from_several_threads_run_one_at_a_time():
    import threading

    g = models.mlp()
    t = Trainer(g, optimizer=SGD(lr=0.01), max_batch=16)
    x, y = _data(16)
    errors = []

    def work():
        try:
            for _ in range(10):
                t.train_step(x, y)
                t.evaluate(x, y)
        except Exception as e:  # pragma: no cover - the assertion below shows it
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and t.step_count == 40
    # 40 serial steps from the same start give the same weights, bit for bit
    g2 = models.mlp()
    t2 = Trainer(g2, optimizer=SGD(lr=0.01), max_batch=16)
    for _ in range(40):
        t2.train_step(x, y)
    for a, b in zip(t.params, t2.params):
        assert a.value.tobytes() == b.value.tobytes()
