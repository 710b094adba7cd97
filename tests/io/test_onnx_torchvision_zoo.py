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
