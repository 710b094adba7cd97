"""Dense GEMM: frugalnn (f32, f16 / bf16 weights, int8) against numpy f32 in the same run,
plus onnxruntime (MatMul, MatMulInteger) and torch when installed.

Each group is one (M, N, K, threads) case; `python benchmarks/report.py out.json` turns a
``--benchmark-json`` file into ratios against numpy f32.

    python -m pytest benchmarks/bench_gemm.py --benchmark-only --benchmark-json=gemm.json
"""
import os

import numpy as np
import pytest

import frugalnn
from frugalnn import ops

threadpoolctl = pytest.importorskip("threadpoolctl")

SHAPES = [(1, 1024, 1024), (64, 1024, 1024), (256, 1024, 1024), (1024, 1024, 1024),
          (128, 4096, 4096)]
THREADS = sorted({1, frugalnn.get_num_threads()})  # one core, and all the process may use
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    SHAPES = SHAPES[:2]

IMPLS = [
    "numpy_f32", "frugalnn_f32", "frugalnn_f16w", "frugalnn_bf16w", "frugalnn_bf16",
    "frugalnn_int8_i32", "frugalnn_int8_f32", "frugalnn_int8_u8", "frugalnn_int8_dynamic",
    "ort_f32", "ort_matmulinteger", "torch_f32",
]


def _data(m, n, k):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((k, n), dtype=np.float32)
    return a, w


def _ort_session(model, threads):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _ort_runner(m, n, k, threads, integer):
    """An IOBinding call with preallocated output: no allocation in the timed loop."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    a, w = _data(m, n, k)
    if integer:
        wq, _ = ops.quantize_weights(w)
        a_in = np.random.default_rng(1).integers(0, 256, size=(m, k), dtype=np.uint8)
        nodes = [helper.make_node("MatMulInteger", ["A", "B", "za"], ["Y"])]
        inits = [numpy_helper.from_array(wq, "B"), numpy_helper.from_array(np.array(3, np.uint8), "za")]
        in_type, out_type, out_dtype = TensorProto.UINT8, TensorProto.INT32, np.int32
    else:
        a_in = a
        nodes = [helper.make_node("MatMul", ["A", "B"], ["Y"])]
        inits = [numpy_helper.from_array(w, "B")]
        in_type, out_type, out_dtype = TensorProto.FLOAT, TensorProto.FLOAT, np.float32
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("A", in_type, [m, k])],
                              [helper.make_tensor_value_info("Y", out_type, [m, n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = _ort_session(model, threads)
    out = np.empty((m, n), out_dtype)
    binding = sess.io_binding()
    binding.bind_cpu_input("A", a_in)
    binding.bind_output("Y", "cpu", 0, out_dtype, out.shape, out.ctypes.data)
    # The binding holds raw pointers: the lambda keeps the arrays alive as long as it lives.
    return lambda keep=(a_in, out): sess.run_with_iobinding(binding)


def _runner(impl, m, n, k, threads):
    a, w = _data(m, n, k)
    if impl == "numpy_f32":
        out = np.empty((m, n), np.float32)
        return lambda: np.matmul(a, w, out=out)
    if impl.startswith("ort_"):
        return _ort_runner(m, n, k, threads, integer=impl == "ort_matmulinteger")
    if impl == "torch_f32":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(threads)
        ta, tw, to = torch.from_numpy(a), torch.from_numpy(w), torch.empty((m, n))
        return lambda: torch.mm(ta, tw, out=to)
    out32 = np.empty((m, n), np.float32)
    if impl in ("frugalnn_f32", "frugalnn_f16w", "frugalnn_bf16w", "frugalnn_bf16"):
        kind = {"frugalnn_f32": "f32", "frugalnn_f16w": "f16"}.get(impl, "bf16")
        packed = ops.pack_weights(w, kind)
        bf16 = impl == "frugalnn_bf16"
        return lambda: ops.matmul(a, packed, out=out32, bf16_compute=bf16)
    packed = ops.pack_weights(w, "int8")
    a8 = np.random.default_rng(1).integers(0, 256, size=(m, k), dtype=np.uint8)
    if impl == "frugalnn_int8_i32":
        out = np.empty((m, n), np.int32)
        return lambda: ops.qmatmul(a8, packed, a_scale=0.02, a_zero_point=3, output="int32", out=out)
    if impl == "frugalnn_int8_f32":
        return lambda: ops.qmatmul(a8, packed, a_scale=0.02, a_zero_point=3, out=out32)
    if impl == "frugalnn_int8_u8":
        out = np.empty((m, n), np.uint8)
        return lambda: ops.qmatmul(a8, packed, a_scale=0.02, a_zero_point=3, output="u8",
                                   out_scale=0.5, out_zero_point=128, out=out)
    if impl == "frugalnn_int8_dynamic":
        return lambda: ops.qmatmul_dynamic(a, packed, out=out32)
    raise AssertionError(impl)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("impl", IMPLS)
def bench_gemm(benchmark, impl, m, n, k, threads):
    benchmark.group = f"gemm {m}x{n}x{k} threads={threads}"
    before = frugalnn.get_num_threads()
    frugalnn.set_num_threads(threads)
    try:
        with threadpoolctl.threadpool_limits(threads):
            fn = _runner(impl, m, n, k, threads)
            fn()  # warm: pack caches, ORT arenas, page faults
            benchmark.extra_info.update(
                impl=impl, threads=threads, macs=m * n * k,
                isa=frugalnn.runtime_info()["kernels"],
                blas=threadpoolctl.threadpool_info(),
            )
            benchmark(fn)
    finally:
        frugalnn.set_num_threads(before)
