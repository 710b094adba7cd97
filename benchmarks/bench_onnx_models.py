"""Models arriving as ONNX files: a MobileNetV2-style network (inverted residual blocks with
depthwise convs, ReLU6, residual adds, global pooling; 3x32x32 input, random weights) run
from the same file by frugalnn (load_onnx -> compile) and by onnxruntime, float32 and int8
(onnxruntime.quantization.quantize_static, QDQ, per channel).

    python -m pytest benchmarks/bench_onnx_models.py --benchmark-json=onnx.json
    python benchmarks/report.py onnx.json --baseline ort_f32

frugalnn_int8 runs the QDQ file's own scales (no calibration of its own): compare it with
ort_int8_qdq, which runs the same file.
"""
import functools
import os

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Add, Conv2d, Dense, Flatten, GlobalAvgPool, Graph, ReLU6, Session, compile

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

BATCHES = [1, 16]
IMPLS = ["frugalnn_f32", "ort_f32", "frugalnn_int8", "ort_int8_qdq"]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    BATCHES = [1]
SHAPE = (3, 32, 32)


def _mobilenet(seed=0) -> Graph:
    rng = np.random.default_rng(seed)

    def conv(cout, cin, k, **kw):
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        return Conv2d(w, (rng.standard_normal(cout) * 0.05).astype(np.float32), **kw)

    def block(x, cin, cout, expand, stride):
        hidden = cin * expand
        h = ReLU6()(conv(hidden, cin, 1)(x))
        h = ReLU6()(conv(hidden, 1, 3, stride=stride, padding=1, groups=hidden)(h))
        h = conv(cout, hidden, 1)(h)
        return Add()(x, h) if stride == 1 and cin == cout else h

    g = Graph()
    x = g.input("x", SHAPE)
    h = ReLU6()(conv(16, 3, 3, stride=2, padding=1)(x))           # 16 x 16
    for cin, cout, stride in [(16, 16, 1), (16, 24, 2), (24, 24, 1), (24, 32, 2), (32, 32, 1)]:
        h = block(h, cin, cout, 4, stride)                          # ... 4 x 4
    h = ReLU6()(conv(64, 32, 1)(h))
    w = (rng.standard_normal((10, 64)) * 0.1).astype(np.float32)
    g.output(Dense(w, np.zeros(10, np.float32))(Flatten()(GlobalAvgPool()(h))), "y")
    return g


@functools.lru_cache(maxsize=None)
def _files():
    """(float32 ONNX bytes, QDQ int8 ONNX bytes)."""
    from onnx_qdq import quantize_qdq

    from frugalnn.io import to_onnx

    f32 = to_onnx(_mobilenet()).SerializeToString()
    calib = np.random.default_rng(1).random((16,) + SHAPE, dtype=np.float32)
    return f32, quantize_qdq(f32, calib)


def _runner(impl, batch):
    f32, int8 = _files()
    model = int8 if "int8" in impl else f32
    x = np.random.default_rng(0).random((batch,) + SHAPE, dtype=np.float32)
    if impl.startswith("ort_"):
        so = ort.SessionOptions()
        so.intra_op_num_threads = frugalnn.get_num_threads()
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        return lambda: sess.run(None, {"x": x})
    program = compile(frugalnn.io.load_onnx(model), precision="int8" if "int8" in impl else "f32")
    s = Session(program, max_batch=batch)
    out = np.empty((batch, 10), np.float32)
    return lambda: s.run(x, out=out)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("impl", IMPLS)
def bench_mobilenet_onnx(benchmark, impl, batch):
    benchmark.group = f"mobilenet-style from ONNX, batch {batch}"
    benchmark.extra_info.update(impl=impl)
    run = _runner(impl, batch)
    run()
    benchmark(run)
