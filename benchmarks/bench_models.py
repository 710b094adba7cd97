"""Whole models: the seed document's MNIST CNN and the 784-512-256-10 MLP, batch-1 latency
and batch-64 throughput, frugalnn in every precision against the numpy reference and
onnxruntime on the same weights (exported with frugalnn.io.to_onnx): f32 on that file, and
int8 on onnxruntime's static QDQ quantization of it (benchmarks/onnx_qdq.py), which both
engines run (frugalnn_int8_qdq: load_onnx of the very file, its scales) next to frugalnn's
own calibrated int8 (frugalnn_int8). onnxruntime's quantize_dynamic path is not compared: it
quantizes activations per call through ConvInteger, a different (and slow) computation.

    python -m pytest benchmarks/bench_models.py --benchmark-json=models.json
    python benchmarks/report.py models.json --baseline ort_f32

bench_peak_rss runs each engine in a fresh subprocess (load + 100 runs at batch 64) and
records the peak RSS growth over the interpreter with its imports (extra_info.rss_growth).
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

import frugalnn
from frugalnn import reference
from frugalnn.graph import Dense, Session, compile
from frugalnn.models import mlp, mnist_cnn
from frugalnn.sparse import CSRMatrix

MODELS = {"mnist_cnn": mnist_cnn, "mlp": mlp}
BATCHES = [1, 64]
IMPLS = ["numpy_reference", "frugalnn_f32", "frugalnn_f16", "frugalnn_bf16", "frugalnn_int8",
         "frugalnn_int8_qdq", "frugalnn_sparse", "ort_f32", "ort_int8_qdq"]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    BATCHES = [1]


def _images(n, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def _pruned(g, sparsity=0.9):
    for node in g.nodes:
        if isinstance(node.layer, Dense) and node.layer.weight.shape[0] > 10:
            node.layer.weight = CSRMatrix.prune(node.layer.weight, sparsity).to_dense()
    return g


def _onnx_file(g, int8) -> bytes:
    """The model as ONNX: float32, or onnxruntime's QDQ int8 of it (calibrated on 16 images)."""
    pytest.importorskip("onnxruntime")
    from onnx_qdq import quantize_qdq

    from frugalnn.io import to_onnx

    model = to_onnx(g).SerializeToString()
    return quantize_qdq(model, _images(16, seed=1)) if int8 else model


def _ort_session(g, int8):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = frugalnn.get_num_threads()
    return ort.InferenceSession(_onnx_file(g, int8), so, providers=["CPUExecutionProvider"])


def _runner(impl, model, batch):
    g = MODELS[model]()
    x = _images(batch)
    if impl == "numpy_reference":
        return lambda: reference.forward(g, x)
    if impl.startswith("ort_"):
        sess = _ort_session(g, int8=impl == "ort_int8_qdq")
        return lambda: sess.run(None, {"x": x})
    if impl == "frugalnn_int8_qdq":
        s = Session(compile(frugalnn.io.load_onnx(_onnx_file(g, int8=True)), precision="int8"), max_batch=batch)
        out = np.empty((batch, 10), np.float32)
        return lambda: s.run(x, out=out)
    precision = impl.split("_", 1)[1]
    if precision == "sparse":
        g = _pruned(g)
        precision = {n.layer.name: "sparse" for n in g.nodes if isinstance(n.layer, Dense)}
    program = compile(g, precision=precision, calibration=_images(64, seed=1))
    s = Session(program, max_batch=batch)
    out = np.empty((batch, 10), np.float32)
    return lambda: s.run(x, out=out)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("impl", IMPLS)
def bench_model(benchmark, impl, model, batch):
    benchmark.group = f"{model} batch={batch} threads={frugalnn.get_num_threads()}"
    fn = _runner(impl, model, batch)
    fn()
    # Setup ran numpy (int8 calibration, pruning): OpenBLAS threads spin ~0.1 s after a call
    # and would share this 2-core machine with whatever is timed next.
    time.sleep(0.3)
    benchmark.extra_info.update(impl=impl, batch=batch)
    benchmark(fn)


_RSS_SCRIPT = r"""
import json, sys
engine, model = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import bench_models as B
import frugalnn, onnxruntime  # imports are not the engine's cost

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":"))

with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = status("VmRSS")
fn = B._runner(engine, model, 64)
for _ in range(100):
    fn()
print(json.dumps({"growth_kib": status("VmHWM") - before}))
"""


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("impl", ["frugalnn_f32", "frugalnn_int8", "ort_f32"])
def bench_peak_rss(benchmark, impl, model):
    pytest.importorskip("onnxruntime")
    benchmark.group = f"peak RSS growth, {model} batch=64 (load + 100 runs)"
    here = os.path.dirname(os.path.abspath(__file__))

    def measure():
        r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, impl, model, here],
                           capture_output=True, text=True, check=True, timeout=600)
        return json.loads(r.stdout.strip().splitlines()[-1])["growth_kib"]

    growth = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(impl=impl, rss_growth_bytes=growth * 1024)
