"""Data loading: a prefetching Loader (prefetch=2, double buffering on a background thread)
against the same Loader filling each batch in the consumer's thread (prefetch=0), on a
transform-heavy pipeline (rotation + shift + noise on the 28x28 digits) feeding a consumer
that does a few milliseconds of GIL-free numpy work per batch (a matmul standing in for a
training step).

One round is one epoch: every batch produced, and consumed by the simulated step. The
ratio prefetch2 / prefetch0 in batches per second is the overlap the producer thread buys
(at most 2x with producer and consumer costing the same; the machine's cores bound it).

    python -m pytest benchmarks/bench_loader.py --benchmark-json=loader.json
    python benchmarks/report.py loader.json --baseline prefetch0
"""
import os
import time

import numpy as np
import pytest

from frugalnn.data.datasets import load_digits28
from frugalnn.data.loader import Loader
from frugalnn.data.transforms import Compose, GaussianNoise, RandomRotation, RandomShift

QUICK = bool(os.environ.get("FRUGALNN_BENCH_QUICK"))
BATCH = 128
SAMPLES = 6 * BATCH if QUICK else 1400  # digits28's training set: 11 batches
HIDDEN = 1280  # (128 x 784) @ (784 x 1280): about 2-3 ms on one core
IMPLS = ["prefetch0", "prefetch2"]  # the baseline first: prefetch2 reports the ratio against it
_results: dict = {}


def _pipeline():
    return Compose([RandomRotation(15), RandomShift(2), GaussianNoise(0.05)])


class _Step:
    """A stand-in for a training step: one float32 matmul (BLAS releases the GIL), kept to
    one BLAS thread so it does not also take the core the producer thread runs on."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.w = rng.random((784, HIDDEN), dtype=np.float32)
        self.h = np.empty((BATCH, HIDDEN), np.float32)

    def __call__(self, xb):
        n = xb.shape[0]
        np.matmul(xb.reshape(n, -1), self.w, out=self.h[:n])
        return float(self.h[0, 0])


def _blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - the test extra has it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _report(capsys, text):
    with capsys.disabled():
        print(text)


@pytest.mark.parametrize("impl", IMPLS)
def test_loader_epoch(benchmark, impl, capsys):
    (x, y), _ = load_digits28()
    x, y = x[:SAMPLES], y[:SAMPLES]
    prefetch = int(impl[len("prefetch"):])
    loader = Loader(x, y, BATCH, seed=0, prefetch=prefetch, transform=_pipeline())
    step = _Step()
    benchmark.group = "loader-epoch-augmented"
    benchmark.extra_info["impl"] = impl

    def epoch():
        n = 0
        for xb, _ in loader:
            step(xb)
            n += 1
        return n

    with _blas_one_thread():
        # Component costs, for the reader: producing a batch alone, and the step alone.
        sync = Loader(x, y, BATCH, seed=0, prefetch=0, transform=_pipeline())
        t0 = time.perf_counter()
        batches = sum(1 for _ in sync)
        produce_ms = (time.perf_counter() - t0) / batches * 1e3
        t0 = time.perf_counter()
        for _ in range(batches):
            step(x[:BATCH])
        step_ms = (time.perf_counter() - t0) / batches * 1e3
        assert benchmark(epoch) == len(loader)
        # Throughput from our own timing too, so the figure exists with --benchmark-disable.
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            epoch()
            times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    if benchmark.stats is not None and not getattr(benchmark, "disabled", False):
        seconds = min(seconds, benchmark.stats.stats.median)
    rate = len(loader) / seconds
    _results[impl] = rate
    benchmark.extra_info.update(batches_per_s=rate, produce_ms_per_batch=produce_ms,
                                step_ms_per_batch=step_ms, batch=BATCH, batches=len(loader))
    line = (f"\n{impl}: {rate:8.1f} batches/s (produce {produce_ms:.2f} ms, step {step_ms:.2f} ms "
            f"per batch of {BATCH})")
    if impl != "prefetch0" and "prefetch0" in _results:
        ratio = rate / _results["prefetch0"]
        benchmark.extra_info["speedup_vs_prefetch0"] = ratio
        line += f"; x{ratio:.2f} against prefetch=0"
    _report(capsys, line)
    loader.close()
