"""Codebook (k-means) weights: the document's CNN at f32 against 4-bit codebooks (one per
layer, and one per output channel), and against f16 weights (the other 2-byte-or-less kind),
same inputs, batch 1 and 64, in one run; weight and .fnn file bytes in extra_info. Compare by
ratio: ``python benchmarks/report.py codebook.json --baseline f32``."""
import os

import numpy as np
import pytest

import frugalnn
from frugalnn.compress import codebook
from frugalnn.graph import Session, compile
from frugalnn.models import mnist_cnn

BATCHES = [1] if os.environ.get("FRUGALNN_BENCH_QUICK") else [1, 64]


def _program(variant):
    g = mnist_cnn()
    if variant == "f32":
        return compile(g)
    if variant == "f16":
        return compile(g, precision="f16")
    return compile(codebook(g, 4, per_channel=variant == "codebook4_per_channel"))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", ["f32", "f16", "codebook4", "codebook4_per_channel"])
def bench_codebook_cnn(benchmark, variant, batch, tmp_path):
    benchmark.group = f"codebook mnist_cnn batch={batch} threads={frugalnn.get_num_threads()}"
    program = _program(variant)
    path = tmp_path / "m.fnn"
    frugalnn.save(program, path)
    s = Session(program, max_batch=batch)
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    out = np.empty((batch, 10), np.float32)
    s.run(x, out=out)
    benchmark.extra_info.update(impl=variant, batch=batch, weight_bytes=program.weight_bytes,
                                file_bytes=path.stat().st_size, arena_bytes=s.memory_report().arena_bytes)
    benchmark(s.run, x, out=out)
