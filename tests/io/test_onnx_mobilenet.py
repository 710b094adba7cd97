"""A MobileNetV2-style network — inverted residual blocks (1x1 expand, 3x3 depthwise, ReLU6,
1x1 project, residual Add), BatchNorm, global average pooling — trained in torch on the
digits, exported by torch, quantized by onnxruntime (QDQ and QOperator): frugalnn runs the
float model like onnxruntime, and the int8 one (depthwise convs, residual adds and the global
pool included) picks the same class as onnxruntime's int8 run."""
import functools
import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.io import load_onnx  # noqa: E402

from ..graph.trained import TRAIN, digits28  # noqa: E402
from .test_onnx_import import max_rel, run_ort, top1_agreement  # noqa: E402


@functools.lru_cache(maxsize=None)
def _trained_mobilenet_bytes() -> bytes:
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, expand, stride):
            super().__init__()
            hidden = cin * expand
            self.residual = stride == 1 and cin == cout
            self.body = nn.Sequential(
                nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(),
                nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                nn.ReLU6(),
                nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),  # 14 x 14
        InvertedResidual(8, 8, 2, 1), InvertedResidual(8, 16, 3, 2),         # 7 x 7
        InvertedResidual(16, 16, 3, 1),
        nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    x, y = digits28()
    xt, yt = torch.from_numpy(x[:TRAIN]), torch.from_numpy(y[:TRAIN])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    net.train()
    with torch.enable_grad():
        for _ in range(8):
            for idx in torch.randperm(TRAIN, generator=gen).split(64):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
                opt.step()
    net.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), buf, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return buf.getvalue()


def _held_out():
    x, y = digits28()
    return x[TRAIN:], y[TRAIN:]


def test_float_model_matches_onnxruntime(capsys):
    model = onnx.load_from_string(_trained_mobilenet_bytes())
    x, labels = _held_out()
    want = run_ort(model, {"x": x})[0]
    g = load_onnx(model)
    got = Session(compile(g), max_batch=len(x)).run(x)
    err = max_rel(got, want)
    with capsys.disabled():
        print(f"\n  mobilenet-style ({sorted({n.op_type for n in model.graph.node})}): held-out accuracy "
              f"{np.mean(got.argmax(1) == labels):.4f}, max relative error vs onnxruntime {err:.2e}")
    assert err <= 1e-4
    assert np.mean(got.argmax(1) == labels) >= 0.85  # it learned: agreement below is meaningful


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_quantized_model_agrees_with_onnxruntime(fmt, tmp_path, capsys):
    quantization = pytest.importorskip("onnxruntime.quantization")
    src, dst = tmp_path / "f32.onnx", tmp_path / "int8.onnx"
    src.write_bytes(_trained_mobilenet_bytes())
    train, _ = digits28()

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"x": train[i:i + 1]} for i in range(0, 64, 2)])

        def get_next(self):
            return next(self._it, None)

    quantization.quantize_static(str(src), str(dst), Reader(), quant_format=getattr(quantization.QuantFormat, fmt),
                                 per_channel=True, activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    program = compile(load_onnx(dst), precision="int8")
    depthwise = [s for s in program.steps if s.kind == "depthwise_conv2d"]
    assert len(depthwise) == 3 and all(s.precision == "int8" for s in depthwise)
    assert all(s.precision == "int8" for s in program.steps if s.kind.startswith(("dense", "conv2d")))
    # The residual adds and the pool run on u8 too: onnxruntime rounds their inputs and
    # outputs to 8 bits, and skipping those roundings cost 1.4% agreement on random images.
    assert [s.precision for s in program.steps if s.kind in ("add", "global_avgpool")] == ["int8"] * 3
    x, labels = _held_out()
    rand = np.random.default_rng(11).random((512, 1, 28, 28), dtype=np.float32)
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    ours = Session(program, max_batch=512)
    lines = [top1_agreement(label, sess.run(None, {"x": batch})[0], ours.run(batch))
             for label, batch in (("held-out digits", x), ("random images", rand))]
    with capsys.disabled():
        print(f"\n  mobilenet-style {fmt}: int8 accuracy on held-out digits "
              f"{np.mean(ours.run(x).argmax(1) == labels):.4f}; top-1 agreement with onnxruntime int8: "
              + ", ".join(lines))
