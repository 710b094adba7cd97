"""uint8 / int8 graph inputs (camera frames): declared with their scale and zero point, fed
as they are, dequantized once where a layer reads float, read directly by an int8 first layer
with the input's own parameters. Numbers come from numpy: the frames dequantized here
(real = scale * (q - zero_point), in float32), then frugalnn.reference on the same graph
with a float32 input."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import (Conv2d, Dense, Flatten, Graph, GraphError, MaxPool2d, QuantParams, ReLU, Session,
                            Transpose, compile)

RNG = np.random.default_rng(7)
W_CONV = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5
B_CONV = RNG.standard_normal(4).astype(np.float32)
W_DENSE = RNG.standard_normal((5, 4 * 6 * 6)).astype(np.float32) * 0.1
W_FLAT = RNG.standard_normal((6, 20)).astype(np.float32)
B_FLAT = RNG.standard_normal(6).astype(np.float32)
U8 = dict(dtype="uint8", scale=1 / 255, zero_point=0)
S8 = dict(dtype="int8", scale=0.05, zero_point=-3)


def dequantize(q, scale, zero_point):
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def frames(shape, batch, dtype="uint8", seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, (batch,) + shape, dtype=dtype)


def cnn(quant=None, conv_quant=None, maxpool_first=False):
    """(3, 6, 6) -> Conv2d (same) -> ReLU -> Flatten -> Dense; the input float32 or as ``quant``."""
    g = Graph()
    x = g.input("x", (3, 6, 6), **(quant or {}))
    if maxpool_first:
        x = MaxPool2d(1, stride=1)(x)
    h = ReLU()(Conv2d(W_CONV, B_CONV, padding="same", name="conv")(x))
    if conv_quant is not None:
        g.nodes[-2].layer.quant = QuantParams(*conv_quant)
    g.output(Dense(W_DENSE, None, name="fc")(Flatten()(h)), "y")
    return g


def mlp(quant=None, fc_quant=None):
    g = Graph()
    x = g.input("x", (20,), **(quant or {}))
    layer = Dense(W_FLAT, B_FLAT, name="fc")
    if fc_quant is not None:
        layer.quant = QuantParams(*fc_quant)
    g.output(layer(x), "y")
    return g


def kinds(program):
    return [s.kind for s in program.steps]


def want(graph_fn, x, quant, **kw):
    """The float reference: frames dequantized by numpy, the graph with a float32 input."""
    return reference.forward(graph_fn(**kw), dequantize(x, quant["scale"], quant["zero_point"]))["y"]


# ---- float first layers: one dequantize at the start ---------------------------------------

@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("quant", [U8, S8], ids=["uint8", "int8"])
def test_flat_input_matches_the_float_reference(batch, quant):
    p = compile(mlp(quant))
    assert kinds(p) == ["dequantize", "dense"]
    spec = p.inputs[0]
    assert spec.dtype == np.dtype(quant["dtype"]) and spec.zero_point == quant["zero_point"]
    assert spec.scale == float(np.float32(quant["scale"]))
    x = frames((20,), batch, quant["dtype"], seed=batch)
    np.testing.assert_allclose(Session(p, max_batch=8).run(x), want(mlp, x, quant), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("quant", [U8, S8], ids=["uint8", "int8"])
def test_spatial_input_moves_bytes_then_dequantizes_once(batch, quant):
    p = compile(cnn(quant))
    # NCHW -> NHWC on the 8-bit values (a quarter of the bytes), then one dequantize.
    assert kinds(p)[:3] == ["to_nhwc", "dequantize", "conv2d"] and kinds(p).count("dequantize") == 1
    x = frames((3, 6, 6), batch, quant["dtype"], seed=batch)
    np.testing.assert_allclose(Session(p, max_batch=8).run(x), want(cnn, x, quant), rtol=1e-4, atol=1e-4)


def test_row_major_frame_needs_no_layout_step():
    """An (H, W, C) camera frame read through Transpose((2, 0, 1)) is the runtime's NHWC."""
    def hwc(quant=None):
        g = Graph()
        x = g.input("x", (6, 6, 3), **(quant or {}))
        h = Conv2d(W_CONV, B_CONV, padding="same")(Transpose((2, 0, 1))(x))
        g.output(Dense(W_DENSE, None)(Flatten()(h)), "y")
        return g

    p = compile(hwc(U8))
    assert "to_nhwc" not in kinds(p) and kinds(p)[0] == "dequantize"
    x = frames((6, 6, 3), 3)
    np.testing.assert_allclose(Session(p).run(x), want(hwc, x, U8), rtol=1e-4, atol=1e-4)


def test_output_of_the_input_itself_is_its_real_values():
    g = Graph()
    g.output(g.input("x", (7,), **U8), "x")
    x = frames((7,), 3)
    np.testing.assert_array_equal(Session(compile(g)).run(x), dequantize(x, 1 / 255, 0))


# ---- int8 first layers ----------------------------------------------------------------------

def _bitwise_like_float_input(graph_fn, quant, x, layer_quant, **kw):
    """The int8 program on the frames, and the same program compiled for a float32 input with
    the same int8 parameters fed the dequantized frames: its quantize step recovers the very
    u8 values (round(scale * q / scale) = q), so the two must agree bit for bit."""
    xf = dequantize(x, quant["scale"], quant["zero_point"])
    p = compile(graph_fn(quant, layer_quant, **kw), precision="int8", calibration=x)  # later layers calibrate
    f = compile(graph_fn(None, layer_quant, **kw), precision="int8", calibration=xf)
    assert p.quantization == f.quantization
    got = Session(p, max_batch=8).run(x)
    np.testing.assert_array_equal(got, Session(f, max_batch=8).run(xf))
    return p, got


@pytest.mark.parametrize("batch", [1, 7])
def test_int8_first_layer_reads_the_u8_input_as_it_is(batch):
    x = frames((3, 6, 6), batch, seed=batch)
    u8 = (np.float32(1 / 255), 0)
    p, got = _bitwise_like_float_input(cnn, U8, x, u8)
    assert "dequantize" not in kinds(p) and "quantize" not in kinds(p)
    assert kinds(p)[:2] == ["to_nhwc", "conv2d"]
    # and within int8 error of the float reference
    ref = want(cnn, x, U8)
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()


def test_int8_first_layer_takes_the_input_parameters_without_calibration():
    """Without QuantParams, an int8 layer reading a uint8 input as stored uses its scale and
    zero point: no calibration batch, no conversion (flat and spatial)."""
    for graph_fn, shape in ((mlp, (20,)), (cnn, (3, 6, 6))):
        x = frames(shape, 3)
        p = compile(graph_fn(U8), precision={"conv": "int8"} if graph_fn is cnn else "int8")
        assert "dequantize" not in kinds(p) and "quantize" not in kinds(p)
        assert p.quantization == {"fc" if graph_fn is mlp else "conv": (float(np.float32(1 / 255)), 0)}
        ref = want(graph_fn, x, U8)
        got = Session(p).run(x)
        assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()


@pytest.mark.parametrize("batch", [1, 3])
def test_int8_first_layer_with_other_parameters_requantizes(batch):
    x = frames((20,), batch, seed=batch)
    p, _ = _bitwise_like_float_input(mlp, U8, x, (0.01, 3))
    assert kinds(p) == ["dequantize", "quantize", "dense"]


@pytest.mark.parametrize("batch", [1, 5])
def test_int8_input_reaches_an_int8_layer_by_a_shift(batch):
    """An int8 input read by an int8 layer with its parameters in the u8 domain (zero point
    + 128, which compile gives it) goes through one byte pass, q + 128: exact."""
    x = frames((20,), batch, "int8", seed=batch)
    p = compile(mlp(S8), precision="int8")
    assert p.quantization["fc"] == (float(np.float32(0.05)), -3 + 128)
    assert [(s.name, s.kind) for s in p.steps] == [("fc:to_u8", "dequantize"), ("fc", "dense")]
    f = compile(mlp(None, (float(np.float32(0.05)), 125)), precision="int8")
    np.testing.assert_array_equal(Session(p).run(x), Session(f).run(dequantize(x, 0.05, -3)))
    # spatial: the s8 bytes move to NHWC, then the shift
    xs = frames((3, 6, 6), batch, "int8", seed=batch)
    p, _ = _bitwise_like_float_input(cnn, S8, xs, (np.float32(0.05), 125))
    assert kinds(p)[:3] == ["to_nhwc", "dequantize", "conv2d"] and "quantize" not in kinds(p)
    assert p.steps[1].name == "conv:to_u8"


def test_int8_input_read_with_other_parameters_dequantizes_then_quantizes():
    x = frames((20,), 3, "int8")
    p, _ = _bitwise_like_float_input(mlp, S8, x, (0.01, 100))
    assert kinds(p) == ["dequantize", "quantize", "dense"]


def test_max_pool_of_the_input_keeps_its_parameters_or_dequantizes():
    x = frames((3, 6, 6), 4)
    same = (np.float32(1 / 255), 0)
    p, _ = _bitwise_like_float_input(cnn, U8, x, same, maxpool_first=True)
    assert "dequantize" not in kinds(p) and "quantize" not in kinds(p)
    p, _ = _bitwise_like_float_input(cnn, U8, x, (0.004, 2), maxpool_first=True)
    assert "dequantize" in kinds(p) and "quantize" in kinds(p)


# ---- the boundary ---------------------------------------------------------------------------

def test_session_takes_exactly_the_declared_dtype():
    s = Session(compile(cnn(U8)))
    x = frames((3, 6, 6), 2)
    with pytest.raises(TypeError, match=r"input 'x' must be uint8 .*got float32"):
        s.run(x.astype(np.float32))
    with pytest.raises(TypeError, match="must be uint8.*got int8"):
        s.run(x.view(np.int8))
    with pytest.raises(ValueError, match="shape"):
        s.run(x[:, :, :5])
    with pytest.raises(ValueError, match="C-contiguous"):
        s.run(np.asfortranarray(x))
    with pytest.raises(TypeError, match="must be float32, got uint8"):
        Session(compile(cnn())).run(x)


def test_several_inputs_of_different_dtypes():
    g = Graph()
    a = g.input("a", (20,), **U8)
    b = g.input("b", (6,))
    from frugalnn.graph import Add
    g.output(Add()(Dense(W_FLAT, B_FLAT)(a), b), "y")
    xa, xb = frames((20,), 3), RNG.standard_normal((3, 6)).astype(np.float32)
    got = Session(compile(g)).run({"a": xa, "b": xb})
    np.testing.assert_allclose(got, dequantize(xa, 1 / 255, 0) @ W_FLAT.T + B_FLAT + xb, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="input 'b' must be float32"):
        Session(compile(g)).run({"a": xa, "b": xb.astype(np.uint8)})


@pytest.mark.parametrize("kw, err, match", [
    (dict(dtype="uint8"), ValueError, "needs its scale"),
    (dict(dtype="uint8", scale=0.0), ValueError, "positive and finite"),
    (dict(dtype="uint8", scale=-1.0), ValueError, "positive and finite"),
    (dict(dtype="uint8", scale=float("nan")), ValueError, "positive and finite"),
    (dict(dtype="uint8", scale=float("inf")), ValueError, "positive and finite"),
    (dict(dtype="uint8", scale=1e39), ValueError, "positive and finite in float32"),
    (dict(dtype="uint8", scale=1e-50), ValueError, "positive and finite in float32"),
    (dict(dtype="uint8", scale="1"), TypeError, "scale must be a number"),
    (dict(dtype="uint8", scale=1.0, zero_point=256), ValueError, r"\[0, 255\]"),
    (dict(dtype="uint8", scale=1.0, zero_point=-1), ValueError, r"\[0, 255\]"),
    (dict(dtype="int8", scale=1.0, zero_point=128), ValueError, r"\[-128, 127\]"),
    (dict(dtype="int8", scale=1.0, zero_point=1.5), TypeError, "zero_point must be an int"),
    (dict(dtype="int8", scale=1.0, zero_point=True), TypeError, "zero_point must be an int"),
    (dict(dtype="float64"), TypeError, "dtype must be one of"),
    (dict(dtype="int16", scale=1.0), TypeError, "dtype must be one of"),
    (dict(dtype="bogus"), TypeError, "dtype must be one of"),
    (dict(scale=1.0), ValueError, "a float32 input takes neither"),
])
def test_bad_declarations_are_refused(kw, err, match):
    with pytest.raises(err, match=match):
        Graph().input("x", (4,), **kw)


def test_numpy_dtypes_and_the_summary():
    g = Graph()
    g.input("x", (4,), np.uint8, scale=np.float32(0.5), zero_point=np.int64(3))
    q = g.input_quant["x"]
    assert (q.dtype, q.scale, q.zero_point) == ("uint8", 0.5, 3)
    assert "uint8 (scale 0.5, zero point 3)" in g.summary()


def test_calibration_of_later_layers_takes_frames():
    g = Graph()
    x = g.input("x", (20,), **U8)
    h = ReLU()(Dense(W_FLAT, B_FLAT, name="fc1")(x))
    g.output(Dense(RNG.standard_normal((3, 6)).astype(np.float32), None, name="fc2")(h), "y")
    cal = frames((20,), 16)
    p = compile(g, precision="int8", calibration=cal)
    assert p.quantization["fc1"] == (float(np.float32(1 / 255)), 0)
    x = frames((20,), 4, seed=3)
    ref = reference.forward(g, x)["y"]
    assert np.abs(Session(p).run(x) - ref).max() <= 0.05 * np.abs(ref).max()
    with pytest.raises(TypeError, match="declared uint8"):
        compile(g, precision="int8", calibration=cal.astype(np.float32))


def test_a_graph_error_for_layers_is_still_a_graph_error():
    with pytest.raises(GraphError):
        Graph().input("x", (0,), **U8)


def test_compress_keeps_the_input_declaration():
    from frugalnn import compress
    from frugalnn.compress import quantize
    x = frames((3, 6, 6), 16)
    q = quantize(cnn(U8), x)
    assert q.input_quant == cnn(U8).input_quant
    assert q.nodes[0].layer.quant.input_scale == float(np.float32(1 / 255))
    p = compile(q)
    assert "dequantize" not in kinds(p) and "quantize" not in kinds(p)
    ref = want(cnn, x, U8)
    assert np.abs(Session(p, max_batch=16).run(x) - ref).max() <= 0.05 * np.abs(ref).max()
    with pytest.raises(TypeError, match="must be uint8"):
        quantize(cnn(U8), x.astype(np.float32))
    pruned = compress.prune(cnn(U8), 0.5, structured=True)  # rebuilt graph: the same input
    assert pruned.input_quant == cnn(U8).input_quant


def test_native_dequantize_step_and_quantized_tensors_are_checked():
    from frugalnn import _core

    def program(dtype, scale=0.5, zero_point=3, out_dtype="float32"):
        p = _core.Program()
        x = p.add_input_tensor(8, dtype, scale, zero_point)
        y = p.add_input_tensor(8, out_dtype) if out_dtype == "float32" else p.add_input_tensor(8, out_dtype, 1.0, 0)
        p.add_step("dequantize", "d", [x], y)
        p.set_io([x], [y])
        return p

    program("uint8"), program("int8", zero_point=-3)
    assert program("uint8").tensor_info(0) == (8, "uint8", 0.5, 3)
    with pytest.raises(ValueError, match=r"\(dequantize\): dequantizes u8 / s8 to float32, or shifts s8"):
        program("float32")
    with pytest.raises(ValueError, match="zero point in 0..255"):
        program("uint8", zero_point=256)
    with pytest.raises(ValueError, match="zero point in -128..127"):
        program("int8", zero_point=128)
    with pytest.raises(ValueError, match="positive finite scale"):
        program("uint8", scale=float("nan"))
    with pytest.raises(ValueError, match="output tensor 1 must be float32"):
        program("uint8", out_dtype="uint8")
    with pytest.raises(ValueError, match="dtype must be"):
        _core.Program().add_input_tensor(8, "float16")


@pytest.mark.parametrize("shape", [(3, 6, 6), (2, 4, 4), (4, 5, 3), (5, 7, 3), (40, 33, 3)])
@pytest.mark.parametrize("dtype", ["uint8", "int8"])
def test_layout_steps_move_the_bytes_both_ways(shape, dtype):
    """NCHW -> NHWC (a few channels interleaved, or tiles) and back (a flatten that is a
    graph output), on the 8-bit values: the output is the flattened frame, dequantized."""
    g = Graph()
    x = g.input("x", shape, dtype, scale=0.5, zero_point=3)
    g.output(Flatten()(x), "y")
    g.output(MaxPool2d(1, stride=1)(x), "z")  # a channels-last reader: the input is moved to NHWC
    p = compile(g)
    # both layout steps write the 8-bit dtype (the input's bytes, moved)
    written = [p._core.tensor_info(p._core.step_info(i)[4])[1] for i in range(len(p.steps))]
    assert sorted(s.kind for s, d in zip(p.steps, written) if d == dtype) == ["to_nchw", "to_nhwc"]
    x = frames(shape, 3, dtype)
    out = Session(p).run(x)
    np.testing.assert_array_equal(out["y"], dequantize(x, 0.5, 3).reshape(3, -1))
    np.testing.assert_array_equal(out["z"], dequantize(x, 0.5, 3))
