"""Hostile models get a clean error: the reproducers of issue 12 and their neighbours.

The fuzzer's four reproducers (rebuilt here with onnx.helper, byte for byte the same
fields): Conv with pads and dilations of 2^62, plain and depthwise, and with pads and
strides of 2^63 - 1. All three imported and compiled, then segfaulted or returned zeros.
And a Loop with a constant trip count of 2^62, on which load_onnx hung. Each must now
raise a ValueError naming the node. The same geometry through the Python API
(``Conv2d(w, padding=(2**63-1, 0), stride=(2**63-1, 1))``) must raise GraphError. The
largest geometry the caps allow (2^24) must run and match a direct computation.
Exception types that used to escape: onnx.checker.ValidationError (external data outside
the model's folder), IndexError (a node without outputs), AssertionError (an Add with a
missing input).
"""
import os
import time

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from frugalnn import _core  # noqa: E402
from frugalnn.gemm import pack_weights  # noqa: E402
from frugalnn.graph import (  # noqa: E402
    AvgPool2d, Concat, Conv2d, Dense, Graph, GraphError, MaxPool2d, QuantParams, Reshape, Session, compile,
)
from frugalnn.io import load_onnx, onnx_fold  # noqa: E402

P62, P63 = 1 << 62, (1 << 63) - 1
N = helper.make_node


def _model(nodes, x_shape, inits=(), opset=17):
    g = helper.make_graph(nodes, "hostile", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *x_shape])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _conv_model(channels, group, pads, strides, dilations):
    w = numpy_helper.from_array(np.ones((channels if group > 1 else 2, 1, 3, 3), np.float32), "W")
    conv = N("Conv", ["x", "W"], ["y"], name="conv", dilations=dilations, group=group, kernel_shape=[3, 3],
             pads=pads, strides=strides)
    return _model([conv], (channels, 8, 8), [w])


REPRODUCERS = {
    "conv pads / dilations 2^62": _conv_model(1, 1, [P62] * 4, [1, 1], [P62, P62]),
    "conv pads / strides 2^63-1": _conv_model(1, 1, [P63, 0, P63, 0], [P63, 1], [1, 1]),
    "depthwise pads / dilations 2^62": _conv_model(4, 4, [P62] * 4, [1, 1], [P62, P62]),
}


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_conv_reproducers_are_refused_naming_the_node(name):
    with pytest.raises(ValueError, match=r"Conv node 'conv': (dilations|strides) must be in \[1, 2\^24\]"):
        load_onnx(REPRODUCERS[name])


def _qlinear_conv(pads, strides, dilations):
    inits = {"xs": np.float32(0.01), "xz": np.uint8(0), "w8": np.ones((2, 1, 3, 3), np.int8),
             "ws": np.float32(0.1), "wz": np.int8(0), "ys": np.float32(0.1), "yz": np.uint8(0)}
    nodes = [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             N("QLinearConv", ["xq", "xs", "xz", "w8", "ws", "wz", "ys", "yz"], ["yq"], name="qconv", pads=pads,
               strides=strides, dilations=dilations),
             N("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return _model(nodes, (1, 8, 8), [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()], 13)


@pytest.mark.parametrize("pads, strides, dilations", [([P62] * 4, [1, 1], [P62, P62]),
                                                      ([P63, 0, P63, 0], [P63, 1], [1, 1]),
                                                      ([(1 << 24) + 1] * 4, [1, 1], [1, 1])])
def test_int8_conv_reproducers_are_refused_naming_the_node(pads, strides, dilations):
    with pytest.raises(ValueError, match=r"QLinearConv node 'qconv': .*2\^24"):
        load_onnx(_qlinear_conv(pads, strides, dilations))


def _loop_model(trips, outputs=True):
    body = helper.make_graph(
        [N("Identity", ["cond_in"], ["cond_out"])] + ([N("Add", ["acc_in", "one"], ["acc_out"])] if outputs else []),
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
        + ([helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])] if outputs else []),
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, [])]
        + ([helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])] if outputs else []),
        [numpy_helper.from_array(np.ones(1, np.float32), "one")] if outputs else [])
    consts = [N("Constant", [], ["M"], value=numpy_helper.from_array(np.array(trips, np.int64))),
              N("Constant", [], ["C"], value=numpy_helper.from_array(np.array(True)))]
    if outputs:
        consts.append(N("Constant", [], ["A"], value=numpy_helper.from_array(np.zeros(1, np.float32))))
        nodes = consts + [N("Loop", ["M", "C", "A"], ["acc"], body=body, name="loop"), N("Add", ["x", "acc"], ["y"])]
    else:  # the reproducer: a Loop without outputs beside the graph's one Relu
        nodes = consts + [N("Loop", ["M", "C"], [], body=body), N("Relu", ["x"], ["y"])]
    return _model(nodes, (4,))


def test_loop_reproducer_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"Loop node .*0 outputs"):
        load_onnx(_loop_model(P62, outputs=False))
    with pytest.raises(ValueError, match=r"Loop node 'loop': .*a Loop of 4611686018427387904 iterations"):
        load_onnx(_loop_model(P62))
    assert time.perf_counter() - start < 5  # refused by inspection, not by the time budget


def test_loop_within_the_budget_folds_exactly():
    g = load_onnx(_loop_model(1000))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(Session(compile(g), max_batch=2).run(x), x + 1000)


def _nested_loops(outer, inner):
    inner_body = helper.make_graph(
        [N("Identity", ["c2"], ["c2o"]), N("Identity", ["a2"], ["a2o"])], "inner",
        [helper.make_tensor_value_info("j", TensorProto.INT64, []), helper.make_tensor_value_info("c2", TensorProto.BOOL, []),
         helper.make_tensor_value_info("a2", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c2o", TensorProto.BOOL, []), helper.make_tensor_value_info("a2o", TensorProto.FLOAT, [1])])
    body = helper.make_graph(
        [N("Identity", ["cond_in"], ["cond_out"]),
         N("Constant", [], ["M2"], value=numpy_helper.from_array(np.array(inner, np.int64))),
         N("Loop", ["M2", "cond_in", "acc_in"], ["acc_out"], body=inner_body)], "outer",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])])
    nodes = [N("Constant", [], ["M"], value=numpy_helper.from_array(np.array(outer, np.int64))),
             N("Constant", [], ["C"], value=numpy_helper.from_array(np.array(True))),
             N("Constant", [], ["A"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
             N("Loop", ["M", "C", "A"], ["acc"], body=body, name="outer"), N("Add", ["x", "acc"], ["y"])]
    return _model(nodes, (4,))


def test_nested_loop_bombs_are_bounded():
    # Inside a body, trip counts are checked too, before the inner Loop runs.
    with pytest.raises(ValueError, match=r"Loop node 'outer': .*a Loop of 1099511627776 iterations"):
        load_onnx(_nested_loops(3, 1 << 40))


def test_folding_time_budget_is_a_backstop(monkeypatch):
    # 16384 x 16384 iterations, each within the trip count limit: only the clock stops them.
    monkeypatch.setattr(onnx_fold, "FOLD_SECONDS", 0.5)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"Loop node 'outer': .*more than its 0.5 s budget"):
        load_onnx(_nested_loops(16384, 16384))
    assert time.perf_counter() - start < 5


def _const(name, value):
    return N("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value)))


@pytest.mark.parametrize("nodes, pattern", [
    ([_const("s", np.array([1 << 40], np.int64)), N("ConstantOfShape", ["s"], ["c"], name="cos"),
      N("Add", ["x", "c"], ["y"])], r"ConstantOfShape node 'cos': .*1099511627776 values"),
    ([_const("s", np.array([1 << 20, 1 << 20], np.int64)), _const("one", np.ones(1, np.float32)),
      N("Expand", ["one", "s"], ["c"], name="expand"), N("Add", ["x", "c"], ["y"])], r"Expand node 'expand'"),
    ([_const("a", np.ones(4, np.float32)), _const("r", np.array([1 << 30], np.int64)),
      N("Tile", ["a", "r"], ["c"], name="tile"), N("Add", ["x", "c"], ["y"])], r"Tile node 'tile'"),
    ([_const("a", np.array(0, np.int64)), _const("b", np.array(P62, np.int64)), _const("d", np.array(1, np.int64)),
      N("Range", ["a", "b", "d"], ["c"], name="range"), N("Add", ["x", "c"], ["y"])], r"Range node 'range'"),
    ([_const("a", np.array(0, np.int64)), _const("b", np.array(5, np.int64)), _const("d", np.array(0, np.int64)),
      N("Range", ["a", "b", "d"], ["c"], name="range"), N("Add", ["x", "c"], ["y"])], r"Range node 'range': .*delta 0"),
    ([_const("a", np.ones((1 << 12, 1 << 12), np.float32)),
      N("MatMul", ["a", "a"], ["c"], name="mm"), N("Add", ["x", "c"], ["y"])], r"MatMul node 'mm': .*operations"),
])
def test_folding_bombs_are_refused_before_they_run(nodes, pattern):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=pattern):
        load_onnx(_model(nodes, (4,)))
    assert time.perf_counter() - start < 5


def test_huge_reshape_target_is_refused_quickly():
    # 2^24 twos: Python's exact product of it is a 16-million-bit integer (it used to hang).
    nodes = [_const("two", np.array([2], np.int64)), _const("reps", np.array([1 << 24], np.int64)),
             N("Tile", ["two", "reps"], ["shape"]), N("Reshape", ["x", "shape"], ["y"], name="reshape")]
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"Reshape node 'reshape': the shape has 16777216 values"):
        load_onnx(_model(nodes, (4,)))
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------------------------------
# Exception types that escaped


def _external_model(location, folder, entries=None):
    t = numpy_helper.from_array(np.arange(4, dtype=np.float32), "B")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in {"location": location, **(entries or {})}.items():
        e = t.external_data.add()
        e.key, e.value = k, v
    m = _model([N("Add", ["x", "B"], ["y"], name="add")], (4,), [t])
    path = folder / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../outside.bin", "link_out", "sub/../../outside.bin", "/etc/hostname",
                                      "link_dir/outside.bin"])
def test_external_data_outside_the_folder_is_refused_unread(tmp_path, location):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    data = np.arange(4, dtype=np.float32).tobytes()
    (tmp_path / "outside.bin").write_bytes(data)  # the right bytes: reading them would load the model
    (folder / "link_out").symlink_to(tmp_path / "outside.bin")
    (folder / "link_dir").symlink_to(tmp_path)
    with pytest.raises(ValueError, match=r"initializer 'B'.*(outside the model's folder|relative path)"):
        load_onnx(_external_model(location, folder))


def test_external_data_inside_the_folder_loads(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    g = load_onnx(_external_model("w.bin", tmp_path))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(Session(compile(g), max_batch=2).run(x), x + np.arange(4))


@pytest.mark.parametrize("setup, entries, pattern", [
    (lambda d: None, {}, r"cannot open external data file 'w.bin'"),
    (lambda d: os.mkfifo(d / "w.bin"), {}, r"not a regular file"),
    (lambda d: (d / "w.bin").mkdir(), {}, r"not a regular file"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 8), {}, r"cannot reshape"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 16), {"offset": "4", "length": "16"}, r"bytes \[4, 20\) lie past"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 16), {"offset": str(1 << 62)}, r"past the end"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 16), {"length": "-1"}, r"length -1 is negative"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 16), {"offset": "1e3"}, r"offset '1e3' is not an integer"),
    (lambda d: (d / "w.bin").write_bytes(b"\0" * 16), {"bogus": "1"}, r"unknown external data key 'bogus'"),
])
def test_unreadable_external_data_is_a_value_error(tmp_path, setup, entries, pattern):
    setup(tmp_path)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=pattern):
        load_onnx(_external_model("w.bin", tmp_path, entries))
    assert time.perf_counter() - start < 5  # a FIFO is refused, never waited on


def test_external_data_needs_the_models_path(tmp_path):
    (tmp_path / "w.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    path = _external_model("w.bin", tmp_path)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # onnx would resolve the location against the current directory
    try:
        with pytest.raises(ValueError, match=r"pass the model's path"):
            load_onnx(path.read_bytes())
    finally:
        os.chdir(cwd)


def test_node_without_outputs_is_a_value_error():
    m = _model([N("Relu", ["x"], [], name="relu"), N("Relu", ["x"], ["y"])], (4,))
    with pytest.raises(ValueError, match=r"Relu node 'relu': has 0 outputs; Relu takes 1"):
        load_onnx(m)


@pytest.mark.parametrize("op", ["Add", "Sub"])
@pytest.mark.parametrize("inputs", [["x"], ["x", ""], ["", "x"]])
def test_missing_input_is_a_value_error(op, inputs):
    m = _model([N(op, inputs, ["y"], name="n")], (4,))
    with pytest.raises(ValueError, match=rf"{op} node 'n': (has 1 inputs|input \d \('[AB]'\) is required)"):
        load_onnx(m)


def test_non_utf8_names_are_a_value_error():
    m = _model([N("Relu", ["x"], ["y"], name="relu")], (4,))
    data = bytearray(m.SerializeToString())
    i = data.index(b"Relu")
    data[i + 1] = 0xFB  # protobuf then hands the op type over as bytes
    with pytest.raises(ValueError, match="not valid UTF-8"):
        load_onnx(bytes(data))


def test_huge_graph_input_dims_are_a_value_error():
    with pytest.raises(ValueError, match=r"graph input 'x'.*2\^24"):
        load_onnx(_model([N("Relu", ["x"], ["y"])], (P62,)))


# ---------------------------------------------------------------------------------------
# The Python graph API


def test_python_api_reproducer_is_a_graph_error():
    w = np.ones((2, 1, 3, 3), np.float32)
    with pytest.raises(GraphError, match=r"Conv2d .*stride must be an int in \[1, 2\^24\]"):
        Conv2d(w, padding=(2**63 - 1, 0), stride=(2**63 - 1, 1))
    with pytest.raises(GraphError, match=r"Conv2d .*padding"):
        Conv2d(w, padding=(2**63 - 1, 0))
    with pytest.raises(GraphError, match=r"Conv2d .*dilation"):  # depthwise, int8
        Conv2d(np.ones((4, 1, 3, 3), np.float32), groups=4, padding=P62, dilation=P62,
               quant=QuantParams(0.1, 0))
    with pytest.raises(GraphError, match=r"Conv2d .*groups"):
        Conv2d(w, groups=P62)


@pytest.mark.parametrize("make", [
    lambda: MaxPool2d(P63), lambda: AvgPool2d(2, stride=(1 << 24) + 1), lambda: MaxPool2d(2, 2, padding=-1),
    lambda: Reshape((P62,)), lambda: Reshape((2,) * 33), lambda: Reshape((2.0, 3)), lambda: Concat(axis=1 << 70),
    lambda: Dense(np.ones((0, 3), np.float32)), lambda: Conv2d(np.ones((2, 1, 3, 3), np.float32), stride=True),
    lambda: Graph().input("x", (1 << 40, 1 << 40)), lambda: Graph().input("x", (1 << 25,)),
])
def test_layer_integers_are_range_checked(make):
    with pytest.raises(GraphError):
        make()


def _direct_conv(x, w, stride, pad, dilation, groups):
    """Cross-correlation by its definition, one output value at a time: the oracle for
    geometries whose padded input would not fit in memory."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    oh = (h + 2 * pad[0] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    ow = (wd + 2 * pad[1] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    for oc in range(o):
        g = oc // (o // groups)
        for oy in range(oh):
            for ox in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        iy = oy * stride[0] - pad[0] + i * dilation[0]
                        ix = ox * stride[1] - pad[1] + j * dilation[1]
                        if 0 <= iy < h and 0 <= ix < wd:
                            y[:, oc, oy, ox] += x[:, g * cg:(g + 1) * cg, iy, ix] @ w[oc, :, i, j]
    return y


@pytest.mark.parametrize("groups", [1, 4], ids=["conv", "depthwise"])
@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_largest_legal_geometry_runs_exactly(groups, precision):
    """Pads 2^24, stride 2^24, dilation 2^23: window origins at -2^24, taps 2^23 apart, and
    2 x 2 outputs that each see one row and one column of the 8 x 8 input."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 4 // groups, 3, 3)).astype(np.float32)
    big = (1 << 24, 1 << 24)
    layer = Conv2d(w, stride=big, padding=big, dilation=(1 << 23, 1 << 23), groups=groups, name="conv")
    g = Graph()
    g.output(layer(g.input("x", (4, 8, 8))), "y")
    x = rng.random((2, 4, 8, 8), dtype=np.float32)
    want = _direct_conv(x.astype(np.float64), w.astype(np.float64), big, big, (1 << 23, 1 << 23), groups)
    assert want.shape == (2, 4, 2, 2) and np.all(want[:, :, 0, 1] != 0)
    got = Session(compile(g, precision=precision, calibration=x), max_batch=2).run(x)
    tol = 1e-5 if precision == "f32" else 0.05 * np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)


# ---------------------------------------------------------------------------------------
# The native check, on geometry only a crafted program could hold


def _conv_program(oh, ow, pad=1, sh=1):
    """A 3x3 conv step on 8 x 8 x 2 with the given output extent, built directly on the
    native Program (compile() would never produce an inconsistent one)."""
    p = _core.Program()
    x = p.add_tensor(8 * 8 * 2, True, -1)
    y = p.add_tensor(oh * ow * 4, True, -1)
    packed = pack_weights(np.ones((3 * 3 * 2, 4), np.float32), "f32")
    geo = _core.Conv2dGeometry(h=8, w=8, c=2, oh=oh, ow=ow, oc=4, kh=3, kw=3, sh=sh, pad_top=pad, pad_left=pad)
    p.add_step("conv2d", "conv", [x], y, _core.Conv2dParams(geometry=geo, weights=[packed._core]))
    p.set_io([x], [y])
    return p


def test_native_check_refuses_outputs_the_input_cannot_produce():
    _conv_program(8, 8)  # 'same' padding: consistent
    _conv_program(9, 8)  # one more row of padding at the bottom (SAME_UPPER): allowed
    # Padding after the input may be any size up to 2^24 (a folded Pad, TF's 'same'): the
    # kernels clip every window, so rows wholly in the padding hold the bias only.
    _conv_program(12, 8)
    with pytest.raises(ValueError, match=r"step 0 'conv' \(conv2d\): conv rows: 4 outputs need \d+ padded values"
                                         r".*at most 2\^24 after"):
        _conv_program(4, 8, sh=1 << 23)
