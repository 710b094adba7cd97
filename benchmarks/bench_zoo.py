"""torchvision's classification zoo at 224 x 224, float32, batch 1: frugalnn against
onnxruntime on the same ONNX file (torch's TorchScript exporter, opset 17), both on the
session's thread count, both writing into preallocated outputs.

Weights are torch's seeded random init (no download): speed does not depend on their values.
AlexNet and VGG are left out: at batch 1 they are their 100+ million classifier weights
streamed once (bench_gemm's GEMV cases measure that).

    python -m pytest benchmarks/bench_zoo.py --benchmark-json=zoo.json
    python benchmarks/report.py zoo.json --baseline ort
"""
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Session, compile
from frugalnn.io import load_onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.io.torchvision_zoo import import_torchvision  # noqa: E402

MODELS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "resnet50", "squeezenet1_1",
          "shufflenet_v2_x1_0", "mnasnet1_0", "efficientnet_b0", "googlenet", "regnet_y_400mf", "densenet121"]
if os.environ.get("FRUGALNN_BENCH_QUICK"):
    MODELS = ["shufflenet_v2_x1_0"]
SIZE = 224


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


def _export(name: str, folder: Path) -> Path:
    path = folder / f"{name}.onnx"
    if path.exists():
        return path
    tv = import_torchvision()
    import torch

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(tv.models, name)(weights=None, **kwargs).eval()
    with warnings.catch_warnings():  # the exporter's deprecation and tracer warnings
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=False, opset_version=17)
    return path


def _frugalnn(path: Path, x: np.ndarray):
    s = Session(compile(load_onnx(path)), max_batch=1)
    out = np.empty((1,) + tuple(s.outputs[0].shape[1:]), np.float32)
    return lambda: s.run(x, out=out)


def _ort(path: Path, x: np.ndarray):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = frugalnn.get_num_threads()
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    out = np.empty(sess.get_outputs()[0].shape, np.float32)
    binding = sess.io_binding()
    binding.bind_cpu_input(sess.get_inputs()[0].name, x)
    binding.bind_output(sess.get_outputs()[0].name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
    # The binding holds raw pointers: the default argument keeps the arrays alive.
    return lambda keep=(x, out): sess.run_with_iobinding(binding)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("impl", ["frugalnn", "ort"])
def bench_zoo(benchmark, impl, name, onnx_dir):
    path = _export(name, onnx_dir)
    x = np.random.default_rng(0).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    run = _frugalnn(path, x) if impl == "frugalnn" else _ort(path, x)
    run()
    benchmark.group = f"zoo {name} {SIZE}x{SIZE} f32, batch 1"
    benchmark.extra_info.update(impl=impl, model=name, threads=frugalnn.get_num_threads())
    benchmark(run)
