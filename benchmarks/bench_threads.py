"""Serving from threads: throughput of one shared Session called by 1, 2 and 4 Python threads,
against a clone per thread and against onnxruntime's shared InferenceSession, on the seed
document's MNIST CNN at batch 1, the shape a request handler sees: float32, and int8 as
onnxruntime's static QDQ file, which both engines run.

One benchmark round is every thread doing RUNS calls; the median round time gives the
throughput (extra_info.runs_per_s). Ratios are against ort_shared in the same group.

    python -m pytest benchmarks/bench_threads.py --benchmark-json=threads.json
    python benchmarks/report.py threads.json --baseline ort_shared

Impls:
* shared_c1: one session, concurrency=1 (runs serialized; one arena).
* shared_cN: one session, concurrency=N for N threads (N arenas).
* clone_per_thread: one session per thread (N arenas, N sessions).
* ort_shared: one onnxruntime session called by every thread.
Every engine uses the library's default thread count for one run's kernels.
"""
import functools
import gc
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import frugalnn
import frugalnn.io
from frugalnn.graph import Session, compile
from frugalnn.models import mnist_cnn

QUICK = bool(os.environ.get("FRUGALNN_BENCH_QUICK"))
THREADS = [2] if QUICK else [1, 2, 4]
RUNS = 5 if QUICK else 100
IMPLS = ["shared_c1", "shared_cN", "clone_per_thread", "ort_shared"]


def _x(seed=0):
    return np.random.default_rng(seed).random((1, 1, 28, 28), dtype=np.float32)


@functools.lru_cache(maxsize=None)
def _model(precision):
    """The CNN as ONNX bytes: float, or onnxruntime's static QDQ int8 of it. Both engines run
    the same file."""
    from frugalnn.io import to_onnx

    model = to_onnx(mnist_cnn()).SerializeToString()
    if precision == "int8":
        from onnx_qdq import quantize_qdq

        model = quantize_qdq(model, np.random.default_rng(1).random((32, 1, 28, 28), dtype=np.float32))
        # The calibration's onnxruntime session must be gone, threads and all, before timing:
        # left to a later collection it slowed the first int8 case 45x.
        gc.collect()
        time.sleep(0.5)
    return model


def _callers(impl, precision, threads):
    """One callable per serving thread; each runs one batch-1 request."""
    ort = pytest.importorskip("onnxruntime")
    model = _model(precision)
    if impl == "ort_shared":
        so = ort.SessionOptions()
        so.intra_op_num_threads = frugalnn.get_num_threads()
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return [lambda x: sess.run(None, {name: x})] * threads
    program = compile(frugalnn.io.load_onnx(model), precision=precision)
    if impl == "clone_per_thread":
        first = Session(program, max_batch=1)
        sessions = [first] + [first.clone() for _ in range(threads - 1)]
    else:
        shared = Session(program, max_batch=1, concurrency=1 if impl == "shared_c1" else threads)
        sessions = [shared] * threads
    outs = [np.empty((1, 10), np.float32) for _ in range(threads)]
    return [lambda x, s=s, o=o: s.run(x, out=o) for s, o in zip(sessions, outs)]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("precision", ["f32", "int8"])
def bench_shared_session_throughput(benchmark, precision, threads, impl):
    callers = _callers(impl, precision, threads)
    xs = [_x(i) for i in range(threads)]

    def serve(k):
        call, x = callers[k], xs[k]
        for _ in range(RUNS):
            call(x)

    with ThreadPoolExecutor(threads) as ex:
        def round_():
            list(ex.map(serve, range(threads)))

        round_()  # warm-up: thread start, first-use scratch
        benchmark.group = f"mnist_cnn {precision} batch 1, {threads} serving thread(s)"
        benchmark.extra_info["impl"] = impl
        benchmark.pedantic(round_, rounds=3 if QUICK else 15, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["runs_per_s"] = threads * RUNS / benchmark.stats.stats.median
