"""Depthwise 3x3 layers of MobileNetV2 0.35 at 96x96 (batch 1): frugalnn f32 (the baseline),
frugalnn int8 (u8 in, s8 weights) and, when installed, onnxruntime's f32 depthwise Conv.

Each layer is a one-layer graph (3x3 depthwise, "same" padding, ReLU6, as in the model) run
through the native call (``Session._core.run`` on bound arrays, as bench_peers' native view),
on one thread and on all the process may use. The input is given channels-last ((H, W, C) and
a Transpose to (C, H, W), which the runtime stores as given: no layout change); the output's
change back to NCHW is part of the timing, float32 for both (a one-layer int8 graph dequantizes
its output), and on the large layers it costs more than the convolution. So each frugalnn case
also records ``extra_info["step_us"]``: the depthwise step alone (the best of three
Session.profile medians), the number the issue's goal (int8 >= 2x f32) is about.

    python -m pytest benchmarks/bench_depthwise.py --benchmark-only --benchmark-json=dw.json
    python benchmarks/report.py dw.json --baseline frugalnn_f32
    python -c "import json; [print(b['group'], b['extra_info']['impl'], b['extra_info'].get('step_us'))
                for b in json.load(open('dw.json'))['benchmarks']]"
"""
import os

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Conv2d, QuantParams, Sequential, Session, compile
from frugalnn.graph.layers import Transpose

# (channels, height, width, stride): the model's distinct depthwise layers, first to last
# (tests/io/data/peers/mobilenet_v2_0.35_96_keras_*.tflite).
LAYERS = [(16, 48, 48, 1), (48, 48, 48, 2), (48, 24, 24, 1), (48, 24, 24, 2), (96, 12, 12, 1),
          (96, 12, 12, 2), (144, 6, 6, 1), (192, 6, 6, 1), (192, 6, 6, 2), (336, 3, 3, 1)]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    LAYERS = LAYERS[:3]
IMPLS = ["frugalnn_f32", "frugalnn_int8", "ort_f32"]
THREADS = sorted({1, frugalnn.get_num_threads()})  # one core, and all the process may use
A_SCALE, A_ZP = 6.0 / 255, 0  # the u8 input of a depthwise layer after ReLU6


def _weights(c):
    rng = np.random.default_rng(c)
    w = (rng.standard_normal((c, 1, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    return w, b


def _graph(c, h, w, stride, int8):
    wt, b = _weights(c)
    quant, dtype = None, "float32"
    if int8:
        ws = (np.abs(wt).reshape(c, -1).max(axis=1) / 127).astype(np.float32)
        w8 = np.clip(np.round(wt / ws[:, None, None, None]), -127, 127).astype(np.int8)
        quant, dtype = QuantParams(A_SCALE, A_ZP, weight=w8, weight_scale=ws), "uint8"
    layer = Conv2d(wt, b, stride=stride, padding="same", groups=c, activation="relu6", quant=quant, name="dw")
    g = Sequential([Transpose((2, 0, 1)), layer], input_shape=(h, w, c), input_dtype=dtype,
                   input_scale=A_SCALE if int8 else None, input_zero_point=A_ZP if int8 else None)
    return g


def _input(c, h, w, int8, nhwc=True):
    rng = np.random.default_rng(1)
    shape = (1, h, w, c) if nhwc else (1, c, h, w)
    if int8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return (rng.random(shape, dtype=np.float32) * 6).astype(np.float32)


def _frugalnn_runner(c, h, w, stride, int8, extra):
    g = _graph(c, h, w, stride, int8)
    program = compile(g, precision="int8") if int8 else compile(g)
    assert [s.kind for s in program.steps if s.name == "dw"] == ["depthwise_conv2d"]
    s = Session(program, max_batch=1)
    x = _input(c, h, w, int8)
    out = np.empty((1,) + tuple(program.outputs[0].shape[1:]), np.float32)
    rows = min((s.profile(x, repeats=50) for _ in range(3)), key=lambda r: sum(t for *_, t in r))
    extra["step_us"] = round(sum(t for name, *_, t in rows if name == "dw") * 1e6, 3)
    extra["steps"] = [(name, kind) for name, kind, *_ in rows]
    core, xs, outs, has_int8 = s._core, [x], [out], program.has_int8
    return lambda: core.run(xs, outs, 1, has_int8)


def _ort_runner(c, h, w, stride, threads):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    wt, b = _weights(c)
    oh, ow = -(-h // stride), -(-w // stride)
    pad_h, pad_w = max((oh - 1) * stride + 3 - h, 0), max((ow - 1) * stride + 3 - w, 0)
    pads = [pad_h // 2, pad_w // 2, pad_h - pad_h // 2, pad_w - pad_w // 2]  # SAME_UPPER
    nodes = [helper.make_node("Conv", ["X", "W", "B"], ["C"], group=c, kernel_shape=[3, 3], strides=[stride] * 2,
                              pads=pads),
             helper.make_node("Clip", ["C", "lo", "hi"], ["Y"])]
    inits = [numpy_helper.from_array(wt, "W"), numpy_helper.from_array(b, "B"),
             numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    graph = helper.make_graph(nodes, "dw", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, c, h, w])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, c, oh, ow])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = _input(c, h, w, False, nhwc=False)
    out = np.empty((1, c, oh, ow), np.float32)
    binding = sess.io_binding()
    binding.bind_cpu_input("X", x)
    binding.bind_output("Y", "cpu", 0, np.float32, out.shape, out.ctypes.data)
    return lambda keep=(x, out): sess.run_with_iobinding(binding)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("c,h,w,stride", LAYERS)
@pytest.mark.parametrize("impl", IMPLS)
def bench_depthwise(benchmark, impl, c, h, w, stride, threads):
    benchmark.group = f"depthwise 3x3 {c}x{h}x{w} s{stride} threads={threads}"
    oh, ow = -(-h // stride), -(-w // stride)
    before = frugalnn.get_num_threads()
    frugalnn.set_num_threads(threads)
    try:
        benchmark.extra_info.update(impl=impl, threads=threads, macs=9 * c * oh * ow,
                                    isa=frugalnn.runtime_info()["kernels"])
        if impl == "ort_f32":
            run = _ort_runner(c, h, w, stride, threads)
        else:
            run = _frugalnn_runner(c, h, w, stride, impl == "frugalnn_int8", benchmark.extra_info)
        run()  # warm: arenas, page faults
        benchmark(run)
    finally:
        frugalnn.set_num_threads(before)
