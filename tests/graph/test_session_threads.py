"""Sessions under threads: shared sessions, shared programs, switching ISA and thread counts.

Every result is compared bit for bit with a run of the same session configuration, input and
ISA made alone, before any thread starts: concurrency may change when a run happens, never
what it computes.
"""
import gc
import os
import random
import threading

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Session, compile

from .models import mlp, mnist_cnn, residual_cnn
from .test_session import images

THREADS = 2  # threads one run may use: fixed, so the work split is the same in every run
# The stress test's size. ThreadSanitizer (.ci/tsan.sh) needs overlapping runs of every path,
# not thousands of them, and runs ~10x slower: it sets 4 runners x 16 runs.
STRESS_RUNNERS = int(os.environ.get("FRUGALNN_STRESS_RUNNERS", 8))
STRESS_RUNS = int(os.environ.get("FRUGALNN_STRESS_RUNS", 120))


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """name -> (program, input maker): f32 and int8 CNNs, a residual / depthwise / concat net
    with two outputs, and a program mapped from a .fnn file."""
    calib = images(16, seed=99)
    res_calib = np.random.default_rng(98).random((16, 3, 16, 16), dtype=np.float32)
    digits = lambda rng, n: rng.random((n, 1, 28, 28), dtype=np.float32)  # noqa: E731
    path = tmp_path_factory.mktemp("threads") / "mlp.fnn"
    frugalnn.save(compile(mlp(), precision={"fc1": "sparse", "fc2": "f16"}), path)
    return {
        "cnn-f32": (compile(mnist_cnn()), digits),
        "cnn-int8": (compile(mnist_cnn(), precision="int8", calibration=calib), digits),
        "residual-int8": (compile(residual_cnn(), precision="int8", calibration=res_calib),
                          lambda rng, n: rng.random((n, 3, 16, 16), dtype=np.float32)),
        "mlp-mmap": (frugalnn.load(path, mmap=True), digits),
    }


def _as_tuple(y):
    return tuple(y[k] for k in sorted(y)) if isinstance(y, dict) else (y,)


def _same(got, want):
    return all(np.array_equal(g, w) for g, w in zip(_as_tuple(got), _as_tuple(want)))


@pytest.mark.parametrize("concurrency", [1, 3])
def test_one_session_shared_by_threads_gives_lone_results(programs, concurrency):
    program, make = programs["cnn-f32"]
    s = Session(program, max_batch=8, num_threads=THREADS, concurrency=concurrency)
    x = make(np.random.default_rng(0), 8)
    want = s.run(x)
    wrong = []

    def work():
        for _ in range(150):
            if not np.array_equal(s.run(x), want):
                wrong.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong, f"{len(wrong)} of 600 shared-session results differ from a lone run"
    assert s.concurrency == concurrency
    assert s._core.runs == 601


def test_stress_sessions_threads_and_switches(programs):
    """8 runner threads over several sessions of shared programs (every program at
    concurrency 1 and 2, random batch sizes, with and without out=), while one thread creates
    and drops sessions, one changes the thread count and one switches the process-default
    ISA."""
    rng = np.random.default_rng(1)
    sessions = []
    for name, (program, make) in programs.items():
        for concurrency in (1, 2):
            sessions.append((name, Session(program, max_batch=16, num_threads=THREADS, concurrency=concurrency)))
    isas = frugalnn.available_isas()
    # Cases: (session index, input, {isa: the lone result at that ISA}); every session at least
    # once.
    cases = []
    for j in range(max(24, len(sessions))):
        i = j if j < len(sessions) else int(rng.integers(len(sessions)))
        x = programs[sessions[i][0]][1](rng, int(rng.integers(1, 17)))
        want = {}
        for isa in isas:
            with frugalnn.use_isa(isa):
                want[isa] = sessions[i][1].run(x)
        cases.append((i, x, want))
    stop = threading.Event()
    errors, mismatches, runs = [], [], [0] * STRESS_RUNNERS

    def runner(k):
        r = random.Random(k)
        try:
            for _ in range(STRESS_RUNS):
                i, x, want = cases[r.randrange(len(cases))]
                s = sessions[i][1]
                if r.random() < 0.5:
                    got = s.run(x)
                else:
                    got = {o.name: np.empty((len(x),) + o.shape[1:], np.float32) for o in s.outputs}
                    s.run(x, out=got if len(got) > 1 else next(iter(got.values())))
                    got = got if len(got) > 1 else next(iter(got.values()))
                # The run used one ISA from start to end: it equals the lone run at that ISA.
                if not any(_same(got, w) for w in want.values()):
                    mismatches.append((k, i, len(x)))
                runs[k] += 1
        except Exception as e:  # noqa: BLE001 - reported below with the thread's index
            errors.append((k, repr(e)))

    def creator():
        r = random.Random(100)
        while not stop.is_set():
            program, make = programs[r.choice(list(programs))]
            s = Session(program, max_batch=r.randint(1, 8), concurrency=r.randint(1, 3))
            s.run(make(np.random.default_rng(r.randrange(1000)), 1))
            del s

    def thread_counter():
        n = 1
        while not stop.is_set():
            frugalnn.set_num_threads(n)
            n = 3 - n
            stop.wait(0.001)

    def isa_switcher():
        r = random.Random(7)
        while not stop.is_set():
            frugalnn.set_isa(r.choice(isas))
            stop.wait(0.001)

    best_isa, best_threads = frugalnn.active_isa(), frugalnn.get_num_threads()
    side = [threading.Thread(target=f) for f in (creator, thread_counter, isa_switcher)]
    workers = [threading.Thread(target=runner, args=(k,)) for k in range(STRESS_RUNNERS)]
    try:
        for t in side + workers:
            t.start()
        for t in workers:
            t.join()
    finally:
        stop.set()
        for t in side:
            t.join()
        frugalnn.set_isa(best_isa)
        frugalnn.set_num_threads(best_threads)
    assert not errors, errors[:5]
    assert not mismatches, f"{len(mismatches)} of {sum(runs)} results differ from every lone run: {mismatches[:5]}"
    assert sum(runs) == STRESS_RUNNERS * STRESS_RUNS


def test_use_isa_pins_only_its_thread():
    levels = frugalnn.available_isas()
    if len(levels) < 2:
        pytest.skip("one ISA level here")
    default = frugalnn.active_isa()
    seen = {}
    inside = threading.Event()
    release = threading.Event()

    def pinned():
        with frugalnn.use_isa("scalar"):
            seen["pinned"] = frugalnn.active_isa()
            seen["kernels"] = frugalnn.runtime_info()["kernels"]["gemm_f32"]
            inside.set()
            release.wait(10)
        seen["after"] = frugalnn.active_isa()

    t = threading.Thread(target=pinned)
    t.start()
    assert inside.wait(10)
    seen["other"] = frugalnn.active_isa()  # while the other thread is inside its use_isa
    release.set()
    t.join()
    assert seen == {"pinned": "scalar", "kernels": "scalar", "after": default, "other": default}


def test_pinned_level_reaches_the_worker_threads(programs):
    """A float model at scalar on one thread (2 kernel threads) against the best level on
    another, at once: each must equal its own lone result; if pool workers ran the other
    thread's level, the float sums would differ."""
    levels = frugalnn.available_isas()
    if len(levels) < 2:
        pytest.skip("one ISA level here")
    program, make = programs["cnn-f32"]
    x = make(np.random.default_rng(3), 16)
    want = {}
    for isa in ("scalar", levels[-1]):
        with frugalnn.use_isa(isa):
            want[isa] = Session(program, max_batch=16, num_threads=THREADS).run(x)
    if np.array_equal(want["scalar"], want[levels[-1]]):
        pytest.skip("scalar and the best level agree bit for bit on this model")
    bad = []

    def work(isa):
        s = Session(program, max_batch=16, num_threads=THREADS)
        with frugalnn.use_isa(isa):
            for _ in range(40):
                if not np.array_equal(s.run(x), want[isa]):
                    bad.append(isa)

    threads = [threading.Thread(target=work, args=(isa,)) for isa in ("scalar", levels[-1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_concurrency_arenas_in_the_report_and_the_pool(programs):
    program, _ = programs["cnn-f32"]
    pool = frugalnn.Pool()
    one = Session(program, max_batch=8, pool=pool).memory_report()
    gc.collect()
    before = pool.stats().bytes_in_use
    s = Session(program, max_batch=8, pool=pool, concurrency=3)
    r = s.memory_report()
    assert r.concurrency == 3 and r.arena_bytes == one.arena_bytes
    assert r.total_arena_bytes == 3 * one.arena_bytes
    assert pool.stats().bytes_in_use - before >= 3 * one.arena_bytes
    assert "3 arenas" in str(r)
    assert s.clone().concurrency == 3
    del s
    gc.collect()
    assert pool.stats().bytes_in_use == before


def test_budget_refuses_a_larger_plan_and_names_what_fits(programs):
    program, make = programs["cnn-f32"]
    # Fast tiles throughout: under tiles="auto" a budget the fast plan passes takes compact ones
    # (tests/graph/test_tiles.py).
    per_batch = {b: Session(program, max_batch=b, num_threads=THREADS, tiles="fast").memory_report().arena_bytes
                 for b in range(1, 65)}
    budget = per_batch[20] + (per_batch[21] - per_batch[20]) // 2  # 20 fits, 21 does not
    fits = max(b for b, bytes_ in per_batch.items() if bytes_ <= budget)
    with pytest.raises(MemoryError, match=f"max_batch={fits} fits") as e:
        Session(program, max_batch=64, num_threads=THREADS, budget=budget, tiles="fast")
    assert f"{per_batch[64]} bytes" in str(e.value) and f"{budget} bytes" in str(e.value)
    s = Session(program, max_batch=fits, num_threads=THREADS, budget=budget, tiles="fast")
    assert s.memory_report().total_arena_bytes <= budget
    s.run(make(np.random.default_rng(0), fits))
    # The budget covers every arena together.
    with pytest.raises(MemoryError, match="2 arenas"):
        Session(program, max_batch=fits, num_threads=THREADS, budget=budget, concurrency=2, tiles="fast")
    with pytest.raises(MemoryError, match="not even max_batch=1 fits"):
        Session(program, max_batch=4, num_threads=THREADS, budget=per_batch[1] - 1, tiles="fast")


def test_an_unallocatable_plan_is_a_memory_error_naming_the_bytes(programs):
    program, _ = programs["cnn-f32"]
    regions = frugalnn._core._live_os_regions()
    for max_batch in (2**40, 2**50, 2**62):
        with pytest.raises(MemoryError, match="bytes"):
            Session(program, max_batch=max_batch)
    with pytest.raises(MemoryError, match="bytes"):
        Session(program, max_batch=2**24, concurrency=2**40)
    gc.collect()
    assert frugalnn._core._live_os_regions() == regions


@pytest.mark.parametrize("kw, exc", [(dict(concurrency=0), ValueError), (dict(concurrency=1.5), TypeError),
                                     (dict(budget=0), ValueError), (dict(budget="1"), TypeError),
                                     (dict(max_batch=True), TypeError), (dict(max_batch=2**64), ValueError)])
def test_bad_session_arguments(programs, kw, exc):
    program, _ = programs["cnn-f32"]
    with pytest.raises(exc):
        Session(program, **kw)
