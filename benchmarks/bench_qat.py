"""Quantization-aware training: what fake quantization adds to a training step. The same
quantized graph trained with ``fake_quant=True`` (inputs and weights fake-quantized, STE
backward) against plain float training of it, same batch, same threads.

* bench_qat_step: one step (forward, cross-entropy, backward, Adam) at batch 128;
  extra_info: arena_bytes of the training plan (the fake-quantized weights and input
  scratch are planned in it). Compare by ratio: ``python benchmarks/report.py qat.json
  --baseline float``.
"""
import os
import time

import numpy as np
import pytest

import frugalnn
from frugalnn.compress import quantize
from frugalnn.models import mlp, mnist_cnn
from frugalnn.train import Adam, Trainer

BATCH = 16 if os.environ.get("FRUGALNN_BENCH_QUICK") else 128


@pytest.mark.parametrize("model", ["mnist_cnn", "mlp"])
@pytest.mark.parametrize("impl", ["qat", "float"])
def bench_qat_step(benchmark, impl, model):
    benchmark.group = f"QAT step {model} batch={BATCH} threads={frugalnn.get_num_threads()}"
    rng = np.random.default_rng(0)
    x, y = rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)
    q = quantize({"mnist_cnn": mnist_cnn, "mlp": mlp}[model](), x)
    t = Trainer(q, optimizer=Adam(lr=1e-4), max_batch=BATCH, fake_quant=impl == "qat")
    for _ in range(2):
        t.train_step(x, y)
    time.sleep(0.2)
    benchmark.extra_info.update(impl=impl, batch=BATCH, arena_bytes=t.memory_report().arena_bytes)
    benchmark(t.train_step, x, y)
