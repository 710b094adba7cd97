"""Compression: what pruning buys at run time. The document's CNN against its structured-pruned
(half the channels of each layer, the physically smaller model) and 90%-unstructured-pruned
(Dense layers as CSR) versions, same inputs, batch 1 and 64; compare by ratio in one run:
``python benchmarks/report.py compress.json --baseline original``."""
import os

import numpy as np
import pytest

import frugalnn
from frugalnn.compress import prune
from frugalnn.graph import Session, compile
from frugalnn.models import mnist_cnn

BATCHES = [1] if os.environ.get("FRUGALNN_BENCH_QUICK") else [1, 64]


def _program(variant):
    g = mnist_cnn()
    if variant == "original":
        return compile(g)
    if variant == "structured_50":
        return compile(prune(g, 0.5, structured=True, scope="layer", keep=["fc2"]))
    p = prune(g, 0.9, scope="layer", keep=["conv1", "fc2"])
    return compile(p, precision={"fc1": "sparse"})


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("variant", ["original", "structured_50", "unstructured_90_sparse"])
def bench_pruned_cnn(benchmark, variant, batch):
    benchmark.group = f"pruned mnist_cnn batch={batch} threads={frugalnn.get_num_threads()}"
    program = _program(variant)
    s = Session(program, max_batch=batch)
    x = np.random.default_rng(0).random((batch, 1, 28, 28), dtype=np.float32)
    out = np.empty((batch, 10), np.float32)
    s.run(x, out=out)
    benchmark.extra_info.update(variant=variant, batch=batch, weight_bytes=program.weight_bytes,
                                arena_bytes=s.memory_report().arena_bytes)
    benchmark(s.run, x, out=out)
