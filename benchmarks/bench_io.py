"""Model files: load time and RSS after load of a .fnn file (mapped, or read into the pool)
against onnxruntime session creation from the same model's ONNX bytes, and file sizes.

    python -m pytest benchmarks/bench_io.py --benchmark-json=io.json
    python benchmarks/report.py io.json --baseline ort_session

"Load" is what an application pays before its first run: for frugalnn `frugalnn.load` +
`Session(...)` (the arena is planned and allocated there); for onnxruntime
`InferenceSession(bytes)`. bench_rss_after_load runs each in a fresh subprocess and records
the RSS growth after loading and one batch-1 run (extra_info.rss_growth_bytes).
"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Dense, Session, compile
from frugalnn.models import mlp, mnist_cnn
from frugalnn.sparse import CSRMatrix

MODELS = {"mnist_cnn": mnist_cnn, "mlp": mlp}
VARIANTS = ["f32", "int8", "sparse"]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    VARIANTS = ["f32"]
# Model files are written once into a directory the RSS subprocesses share (via the env).
_DIR = os.environ.get("FRUGALNN_BENCH_IO_DIR")
if _DIR is None:
    _DIR = tempfile.mkdtemp(prefix="frugalnn_bench_io_")
    atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _graph(model, variant):
    g = MODELS[model]()
    if variant == "sparse":
        for node in g.nodes:
            if isinstance(node.layer, Dense) and node.layer.weight.shape[0] > 10:
                node.layer.weight = CSRMatrix.prune(node.layer.weight, 0.9).to_dense()
    return g


def _files(model, variant):
    """(.fnn path, .onnx path) for the model, written once per process."""
    fnn_path = os.path.join(_DIR, f"{model}_{variant}.fnn")
    onnx_path = os.path.join(_DIR, f"{model}_{variant}.onnx")
    if not os.path.exists(fnn_path):
        g = _graph(model, variant)
        x = np.random.default_rng(1).random((32, 1, 28, 28), dtype=np.float32)
        precision = {"f32": "f32", "int8": "int8"}.get(variant)
        if variant == "sparse":
            precision = {n.layer.name: "sparse" for n in g.nodes if isinstance(n.layer, Dense) and n.layer.weight.shape[0] > 10}
        frugalnn.save(compile(g, precision=precision, calibration=x), fnn_path)
        onnx_bytes = _onnx_bytes(g, variant, x)
        with open(onnx_path, "wb") as f:
            f.write(onnx_bytes)
    return fnn_path, onnx_path


def _onnx_bytes(g, variant, x):
    pytest.importorskip("onnx")
    from frugalnn.io import to_onnx

    model = to_onnx(g).SerializeToString()
    if variant != "int8":
        return model
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization import QuantType

    from onnx_qdq import quantize_qdq

    return quantize_qdq(model, x, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def _loader(impl, model, variant):
    fnn_path, onnx_path = _files(model, variant)
    if impl == "ort_session":
        ort = pytest.importorskip("onnxruntime")
        with open(onnx_path, "rb") as f:
            data = f.read()
        so = ort.SessionOptions()
        so.intra_op_num_threads = frugalnn.get_num_threads()
        return lambda: ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    mapped = impl == "fnn_mmap"
    return lambda: Session(frugalnn.load(fnn_path, mmap=mapped), max_batch=1)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("impl", ["fnn_mmap", "fnn_read", "ort_session"])
def bench_load(benchmark, impl, model, variant):
    benchmark.group = f"load, {model} {variant}"
    fnn_path, onnx_path = _files(model, variant)
    benchmark.extra_info.update(impl=impl, fnn_bytes=os.path.getsize(fnn_path),
                                onnx_bytes=os.path.getsize(onnx_path))
    benchmark(_loader(impl, model, variant))


_RSS_SCRIPT = r"""
import json, sys
impl, model, variant, here = sys.argv[1:5]
sys.path.insert(0, here)
import numpy as np
import bench_io as B
import frugalnn, onnxruntime  # imports are not the loader's cost
B._files(model, variant)      # written by the parent already: this only checks

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)  # numpy.random loads lazily: ~6 MiB
load = B._loader(impl, model, variant)
before = rss_kib()
s = load()
if impl == "ort_session":
    s.run(None, {"x": x})
else:
    s.run(x)
print(json.dumps({"growth_kib": rss_kib() - before}))
"""


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("impl", ["fnn_mmap", "fnn_read", "ort_session"])
def bench_rss_after_load(benchmark, impl, model, variant):
    pytest.importorskip("onnxruntime")
    benchmark.group = f"RSS after load + 1 run, {model} {variant}"
    _files(model, variant)
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, FRUGALNN_BENCH_IO_DIR=_DIR)

    def measure():
        r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, impl, model, variant, here],
                           capture_output=True, text=True, check=True, timeout=600, env=env)
        return json.loads(r.stdout.strip().splitlines()[-1])["growth_kib"]

    growth = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(impl=impl, rss_growth_bytes=growth * 1024)
