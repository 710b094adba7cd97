"""The peer models edge apps run — the document's CNN and MobileNetV2 0.35 at 96x96, as LiteRT
``.tflite`` (f32 and full-integer int8) and as the same network's tf2onnx ONNX file — through
frugalnn, LiteRT (its default XNNPACK delegate) and onnxruntime, at batch 1 and 64, each on
the session's thread count.

Two views per case (issue 18: compare like with like):

* ``native``: the engine's own work, input already in place — LiteRT's ``invoke()``;
  frugalnn's native run (``Session._core.run`` on bound arrays: the steps plus one pybind11
  call, none of the Python argument checks).
* ``call``: what a Python user's call costs — LiteRT's ``set_tensor`` + ``invoke`` +
  ``get_tensor``; frugalnn's ``Session.run(x, out=)``; onnxruntime's ``run`` (f32 on the
  ONNX file, int8 on onnxruntime's own QDQ quantization of it: its int8 path has no file of
  LiteRT's).

frugalnn reads the ``.tflite`` files (``load_tflite``) for both precisions, so it runs LiteRT's
very weights and scales.

    python -m pytest benchmarks/bench_peers.py --benchmark-json=peers.json
    python benchmarks/report.py peers.json --baseline litert_invoke   # native groups
    python benchmarks/report.py peers.json --baseline litert_call     # call groups
"""
import functools
import os
from pathlib import Path

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Session, compile
from frugalnn.io import load_onnx, load_tflite

PEERS = Path(__file__).resolve().parent.parent / "tests" / "io" / "data" / "peers"
MODELS = {"seed_cnn": "seed_cnn_keras", "mobilenet_v2_0.35_96": "mobilenet_v2_0.35_96_keras"}
BATCHES = [1, 64]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    BATCHES = [1]


def _litert():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        pytest.skip("ai-edge-litert is not installed")
    return Interpreter


def _inputs(shape, batch, seed=0):
    return np.random.default_rng(seed).random((batch,) + tuple(shape)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _qdq(model: str) -> bytes:
    """onnxruntime's QDQ int8 of the model's ONNX file, calibrated on 16 random inputs."""
    pytest.importorskip("onnxruntime")
    from onnx_qdq import quantize_qdq

    data = (PEERS / f"{MODELS[model]}.onnx").read_bytes()
    import onnx

    m = onnx.load_from_string(data)
    name = m.graph.input[0].name
    shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]]
    return quantize_qdq(data, _inputs(shape, 16, seed=1), input_name=name)


def _litert_runner(model, precision, batch, view):
    Interpreter = _litert()
    it = Interpreter(model_path=str(PEERS / f"{MODELS[model]}_{precision}.tflite"),
                     num_threads=frugalnn.get_num_threads())
    inp = it.get_input_details()[0]
    if batch != inp["shape"][0]:
        it.resize_tensor_input(inp["index"], [batch] + list(inp["shape"][1:]))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = _inputs(inp["shape"][1:], batch)
    if inp["dtype"] != np.float32:  # a full-integer file takes its own integers
        scale, zp = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale) + zp, info.min, info.max).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    if view == "native":
        return it.invoke

    def call():
        it.set_tensor(inp["index"], x)
        it.invoke()
        return it.get_tensor(out["index"])
    return call


def _frugalnn_runner(model, precision, batch, view):
    g = load_tflite(PEERS / f"{MODELS[model]}_{precision}.tflite")
    program = compile(g, precision="int8") if precision == "int8" else compile(g)
    s = Session(program, max_batch=batch)
    x = _inputs(program.inputs[0].shape[1:], batch)
    out = np.empty((batch,) + tuple(program.outputs[0].shape[1:]), np.float32)
    if view == "native":
        core, xs, outs, int8 = s._core, [x], [out], program.has_int8
        return lambda: core.run(xs, outs, batch, int8)
    return lambda: s.run(x, out=out)


def _ort_runner(model, precision, batch):
    ort = pytest.importorskip("onnxruntime")
    data = _qdq(model) if precision == "int8" else (PEERS / f"{MODELS[model]}.onnx").read_bytes()
    so = ort.SessionOptions()
    so.intra_op_num_threads = frugalnn.get_num_threads()
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    i = sess.get_inputs()[0]
    x = _inputs(i.shape[1:], batch)
    return lambda: sess.run(None, {i.name: x})


CASES = [("frugalnn", "native"), ("litert", "native"), ("frugalnn", "call"), ("litert", "call"), ("ort", "call")]


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("precision", ["f32", "int8"])
@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("engine, view", CASES, ids=[f"{e}-{v}" for e, v in CASES])
def bench_peer_models(benchmark, engine, view, model, precision, batch):
    benchmark.group = f"{model} {precision}, batch {batch}, {view}"
    impl = f"{engine}_{'invoke' if engine == 'litert' and view == 'native' else view}"
    benchmark.extra_info.update(impl=impl)
    if engine == "litert":
        run = _litert_runner(model, precision, batch, view)
    elif engine == "frugalnn":
        run = _frugalnn_runner(model, precision, batch, view)
    else:
        run = _ort_runner(model, precision, batch)
    run()
    benchmark(run)
