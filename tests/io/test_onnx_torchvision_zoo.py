"""The torchvision classification zoo through both of torch's ONNX exporters (TorchScript and
the default, dynamo-based one), imported by load_onnx and run by a Session against
onnxruntime on the same file: max |frugalnn - onnxruntime| / max |onnxruntime| <= 1e-4.

Weights are random (torch's default init, seeded): no download. Inputs are small where the
model allows; AlexNet and VGG keep 224 x 224 (their adaptive pools need a 6 x 6 / 7 x 7 map,
which torch exports only from a multiple of it), with their 4096-wide hidden classifier
layers narrowed to 64 so that exporting 100+ million parameters does not dominate the
suite: the ops, and the convolutional trunk, are the models' own.
"""
import warnings

import numpy as np
import pytest

from tests.io.torchvision_zoo import import_torchvision

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.io import load_onnx  # noqa: E402

RTOL = 1e-4
# builder -> input size
MODELS = {
    "mobilenet_v2": 64, "mobilenet_v3_small": 64, "mobilenet_v3_large": 64, "resnet18": 64, "resnet50": 64,
    "squeezenet1_1": 64, "shufflenet_v2_x0_5": 64, "mnasnet0_5": 64, "efficientnet_b0": 64, "googlenet": 64,
    "regnet_y_400mf": 64, "densenet121": 64, "alexnet": 224, "vgg11_bn": 224,
}


def _model(tv, name: str):
    import torch
    from torch import nn

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    m = getattr(tv.models, name)(weights=None, **kwargs)
    if name in ("alexnet", "vgg11_bn"):
        first = next(layer for layer in m.classifier if isinstance(layer, nn.Linear))
        m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(first.in_features, 64), nn.ReLU(), nn.Dropout(),
                                     nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1000))
    return m.eval()


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", list(MODELS))
def test_runs_and_matches_onnxruntime(name, exporter, tmp_path, capsys):
    tv = import_torchvision()
    import torch

    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    size = MODELS[name]
    x = np.random.default_rng(1).standard_normal((1, 3, size, size)).astype(np.float32)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():  # the exporters' own deprecation and tracer warnings
        warnings.simplefilter("ignore")
        kw = {"dynamo": True, "opset_version": 18} if exporter == "dynamo" else {"dynamo": False, "opset_version": 17}
        torch.onnx.export(_model(tv, name), (torch.from_numpy(x),), str(path), **kw)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    program = compile(load_onnx(path))
    got = Session(program, max_batch=1).run(x)  # torch exports a fixed batch of 1
    err = float(np.abs(got - want).max() / np.abs(want).max())
    with capsys.disabled():
        print(f"\n  {name} ({exporter}): {len(program.steps)} steps, max relative error vs onnxruntime {err:.1e}")
    assert got.shape == want.shape
    assert err <= RTOL


class _Calibration:
    """onnxruntime's calibration reader over a fixed batch, one image at a time."""

    def __init__(self, images):
        self._it = iter([{"x": images[i:i + 1]} for i in range(len(images))])

    def get_next(self):
        return next(self._it, None)


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x0_5"])
def test_qdq_int8_agrees_with_onnxruntime(name, tmp_path, capsys):
    """onnxruntime's quantize_static (QDQ, per-channel s8 weights, u8 activations) of the
    TorchScript export, compiled int8: top-1 agrees with onnxruntime's int8 run on >= 99% of
    200 images drawn like the 32 calibration images."""
    tv = import_torchvision()
    import torch
    from onnxruntime import quantization as q

    rng = np.random.default_rng(0)
    calib = rng.uniform(-1, 1, (32, 3, 64, 64)).astype(np.float32)
    images = rng.uniform(-1, 1, (200, 3, 64, 64)).astype(np.float32)
    f32, int8 = tmp_path / "f32.onnx", tmp_path / "int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_model(tv, name), (torch.from_numpy(calib[:1]),), str(f32), dynamo=False,
                          opset_version=17, input_names=["x"], dynamic_axes={"x": {0: "N"}})
        q.quantize_static(str(f32), str(int8), _Calibration(calib), quant_format=q.QuantFormat.QDQ,
                          per_channel=True, activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8)
    sess = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    want = np.concatenate([sess.run(None, {"x": images[i:i + 50]})[0] for i in range(0, 200, 50)])
    program = compile(load_onnx(int8), precision="int8")
    ours = Session(program, max_batch=50)
    got = np.concatenate([ours.run(images[i:i + 50]) for i in range(0, 200, 50)])
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    int8_steps = sum(s.precision == "int8" and s.kind.split("+")[0] in ("conv2d", "depthwise_conv2d", "dense")
                     for s in program.steps)
    with capsys.disabled():
        print(f"\n  {name} QDQ int8: {int8_steps} int8 conv / dense steps, top-1 agreement with onnxruntime "
              f"{agree:.3f}, max |difference| / max |onnxruntime| {np.abs(got - want).max() / np.abs(want).max():.3f}")
    assert int8_steps >= 10
    assert agree >= 0.99
