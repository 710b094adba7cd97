"""ConvTranspose2d on the native ``conv_transpose2d`` step: against onnxruntime on hand-built
ConvTranspose models (groups, depthwise, strides, dilations, asymmetric pads, output_padding,
output_shape, auto_pad SAME_UPPER / SAME_LOWER / VALID, bias, odd and non-square maps, batch 1
and 3), against torch's nn.ConvTranspose2d and a small conv / transposed-conv / resize
autoencoder exported to ONNX, the .fnn round trip, ONNX export, and the native checker.

Tolerance: each output sums at most cin/groups * kh * kw products in float32 (here <= 96),
in another order than onnxruntime's; with |error| <~ terms * 2^-24 * sum |x w| and sum |x w|
a few times max |y| for random data, 1e-5 of max |y| holds with margin."""
import warnings

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.gemm import pack_weights
from frugalnn.graph import ConvTranspose2d, Graph, GraphError, Session, compile

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from frugalnn.io import load_onnx, to_onnx  # noqa: E402

RTOL = 1e-5  # max |ours - reference| / max |reference|


def _rnd(*shape, seed=1):
    return (np.random.default_rng(seed + sum(shape)).standard_normal(shape) * 0.5).astype(np.float32)


def _model(x_shape, w_shape, bias=True, opset=17, **attrs):
    inits = [numpy_helper.from_array(_rnd(*w_shape), "W")]
    ins = ["x", "W"]
    if bias:
        groups = attrs.get("group", 1)
        inits.append(numpy_helper.from_array(_rnd(w_shape[1] * groups, seed=2), "B"))
        ins.append("B")
    node = helper.make_node("ConvTranspose", ins, ["y"], **attrs)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *x_shape])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _max_rel(got, want):
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))


def _compare(model, batch, seed=0):
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(seed).standard_normal((batch, *shape)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    g = load_onnx(model)
    got = Session(compile(g), max_batch=batch).run(x)
    assert got.shape == want.shape
    assert _max_rel(got, want) <= RTOL
    assert _max_rel(frugalnn.reference.forward(g, x)["y"], want) <= RTOL
    return got


CASES = {
    "plain": ((4, 5, 7), (4, 3, 3, 3), {}),
    "stride2_pad1": ((4, 5, 7), (4, 6, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1])),
    "stride2_output_padding": ((4, 5, 6), (4, 6, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1],
                                                             output_padding=[1, 1])),
    "stride3_nonsquare": ((3, 4, 7), (3, 5, 2, 4), dict(strides=[3, 2])),
    "stride2_kernel2": ((6, 4, 5), (6, 4, 2, 2), dict(strides=[2, 2])),
    "asymmetric_pads": ((4, 6, 5), (4, 3, 3, 3), dict(strides=[2, 1], pads=[0, 2, 1, 0])),
    "dilation": ((3, 5, 5), (3, 4, 3, 3), dict(dilations=[2, 3], strides=[2, 2], pads=[1, 0, 2, 1])),
    "groups": ((6, 5, 4), (6, 2, 3, 3), dict(group=3, strides=[2, 2], pads=[1, 1, 1, 1])),
    "depthwise": ((4, 6, 5), (4, 1, 3, 3), dict(group=4, strides=[2, 2], pads=[1, 1, 0, 0], output_padding=[1, 0])),
    "depthwise_multiplier": ((3, 5, 5), (3, 2, 4, 4), dict(group=3, strides=[2, 2], pads=[1, 1, 1, 1])),
    "output_shape": ((4, 5, 6), (4, 3, 3, 3), dict(strides=[2, 2], output_shape=[10, 12])),
    "output_shape_odd": ((4, 5, 6), (4, 3, 3, 3), dict(strides=[2, 2], output_shape=[9, 13], pads=[5, 5, 5, 5])),
    "output_shape_same_upper": ((4, 5, 6), (4, 3, 3, 3), dict(strides=[2, 2], output_shape=[9, 12],
                                                              auto_pad="SAME_UPPER")),
    "output_shape_past_full": ((1, 3, 3), (1, 2, 3, 3), dict(strides=[3, 2], output_shape=[10, 8])),
    "same_upper": ((4, 5, 6), (4, 3, 3, 3), dict(strides=[2, 2], auto_pad="SAME_UPPER")),
    "same_lower": ((4, 5, 6), (4, 3, 4, 3), dict(strides=[2, 2], auto_pad="SAME_LOWER")),
    "valid": ((4, 5, 6), (4, 3, 3, 3), dict(strides=[2, 2], auto_pad="VALID")),
    "wide": ((32, 9, 11), (32, 16, 3, 3), dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_onnxruntime(name, batch, bias):
    x_shape, w_shape, attrs = CASES[name]
    _compare(_model(x_shape, w_shape, bias=bias, kernel_shape=list(w_shape[2:]), **attrs), batch)


def test_band_larger_than_one_gemm(isa):
    # 64 x 40 input rows of 3 x 3 x 32 patches: the step works through several bands of
    # input rows, each output row gathering from up to two of them.
    _compare(_model((16, 64, 40), (16, 32, 3, 3), strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]), 2)


def _export(module, x, path):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notices
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1), dict(stride=2, padding=1, groups=2),
                                dict(stride=2, padding=0, groups=4, bias=False), dict(stride=3, padding=2, dilation=2,
                                                                                      output_padding=1)])
def test_torch_conv_transpose(tmp_path, kw):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = torch.nn.ConvTranspose2d(4, 8, 3, **kw).eval()
    x = torch.randn(3, 4, 6, 5)
    _export(m, x, tmp_path / "ct.onnx")
    with torch.no_grad():
        want = m(x).numpy()
    got = Session(compile(load_onnx(str(tmp_path / "ct.onnx"))), max_batch=3).run(x.numpy())
    assert got.shape == want.shape
    assert _max_rel(got, want) <= RTOL


def test_torch_autoencoder(tmp_path):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(8, 2, 3, padding=1)).eval()
    x = torch.randn(3, 3, 12, 10)
    _export(net, x, tmp_path / "ae.onnx")
    with torch.no_grad():
        want = net(x).numpy()
    g = load_onnx(str(tmp_path / "ae.onnx"))
    p = compile(g)
    got = Session(p, max_batch=3).run(x.numpy())
    assert got.shape == want.shape == (3, 2, 24, 20)
    assert _max_rel(got, want) <= RTOL
    frugalnn.save(p, tmp_path / "ae.fnn")
    np.testing.assert_array_equal(Session(frugalnn.load(tmp_path / "ae.fnn"), max_batch=3).run(x.numpy()), got)


def test_fnn_round_trip_and_export(tmp_path):
    g = Graph()
    x = g.input("x", (4, 5, 6))
    y = ConvTranspose2d(_rnd(4, 3, 3, 3), _rnd(6, seed=3), stride=2, padding=(1, 0, 0, 1), output_padding=1,
                        groups=2, name="up")(x)
    g.output(ConvTranspose2d(_rnd(6, 1, 2, 2), None, stride=(1, 2), dilation=2, groups=6, name="dw")(y), "y")
    p = compile(g)
    frugalnn.save(p, tmp_path / "m.fnn")
    xs = np.random.default_rng(5).standard_normal((3, 4, 5, 6)).astype(np.float32)
    want = Session(p, max_batch=3).run(xs)
    np.testing.assert_array_equal(Session(frugalnn.load(tmp_path / "m.fnn"), max_batch=3).run(xs), want)
    model = to_onnx(g)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": xs})[0]
    assert _max_rel(want, ref) <= RTOL


def _program(geo, weights, bias=None, n_in=None, n_out=None):
    p = _core.Program()
    x = p.add_tensor(n_in or geo.h * geo.w * geo.c, True, -1)
    y = p.add_tensor(n_out or geo.oh * geo.ow * geo.oc, True, -1)
    p.add_step("conv_transpose2d", "ct", [x], y, _core.ConvTranspose2dParams(geometry=geo, weights=weights,
                                                                              bias=bias))
    p.set_io([x], [y])
    return p


def test_native_check_refuses_bad_geometry():
    def geo(**kw):
        base = dict(h=4, w=4, c=2, oh=8, ow=8, oc=3, kh=2, kw=2, sh=2, sw=2)
        base.update(kw)
        return _core.Conv2dGeometry(**base)

    w = [pack_weights(np.ones((2, 12), np.float32), "f32")._core]
    _program(geo(), w)
    with pytest.raises(ValueError, match=r"\(conv_transpose2d\): weights are 2 x 12, the step needs 2 x 27"):
        _program(geo(kh=3, kw=3), w)
    with pytest.raises(ValueError, match="extent outside"):
        _program(geo(sh=0), w)
    with pytest.raises(ValueError, match="extent outside"):
        _program(geo(oh=1 << 30), w, n_out=8 * 8 * 3)
    with pytest.raises(ValueError, match="padding past 2"):
        _program(geo(pad_top=1 << 40), w)
    with pytest.raises(ValueError, match="multiple of the groups"):
        _program(geo(groups=2), w)
    with pytest.raises(ValueError, match="the input has"):
        _program(geo(), w, n_in=7)
    with pytest.raises(ValueError, match="bias length"):
        _program(geo(), w, bias=np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="f32 weights only"):
        _program(geo(), [pack_weights(np.ones((2, 12), np.float32), "f16")._core])


def test_refusals_name_the_layer_and_node():
    with pytest.raises(GraphError, match="groups must divide the 4 input channels"):
        ConvTranspose2d(_rnd(4, 2, 3, 3), groups=3)
    with pytest.raises(GraphError, match="bias has 5 values"):
        ConvTranspose2d(_rnd(4, 2, 3, 3), _rnd(5))
    g = Graph()
    with pytest.raises(GraphError, match="crops the whole"):
        ConvTranspose2d(_rnd(3, 2, 1, 1), padding=1)(g.input("x", (3, 1, 1)))
    with pytest.raises(GraphError, match="input has 5 channels"):
        ConvTranspose2d(_rnd(3, 2, 1, 1))(g.input("y", (5, 2, 2)))
    with pytest.raises(NotImplementedError, match="ConvTranspose node .*negative pads"):
        load_onnx(_model((4, 5, 5), (4, 3, 3, 3), pads=[-1, 0, 0, 0]))
    with pytest.raises(ValueError, match="ConvTranspose node .*W has 3 input channels"):
        load_onnx(_model((4, 5, 5), (3, 3, 3, 3)))
    with pytest.raises(NotImplementedError, match="output_shape .* exceeds the full result"):
        load_onnx(_model((4, 4, 4), (4, 3, 2, 2), strides=[2, 2], output_shape=[10, 9]))
    with pytest.raises(ValueError, match="output_shape must have 2 values"):
        load_onnx(_model((4, 4, 4), (4, 3, 2, 2), strides=[2, 2], output_shape=[1, 3, 8, 8]))
