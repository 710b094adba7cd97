"""uint8 / int8 inputs through the file formats: the .fnn round trip (and hostile dtype bytes),
ONNX models with a uint8 / int8 input (against onnxruntime), and TFLite full-integer models
fed their integers (raw_inputs=True, against LiteRT fed the same values in float)."""
import struct
from pathlib import Path

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.graph import Conv2d, Dense, Flatten, Graph, ReLU, Session, Transpose, compile
from frugalnn.io import load_tflite

PEERS = Path(__file__).parent / "data" / "peers"
RNG = np.random.default_rng(3)
W_CONV = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5
W_DENSE = RNG.standard_normal((5, 4 * 6 * 6)).astype(np.float32) * 0.1


def dequantize(q, scale, zero_point):
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def frames(shape, batch, dtype="uint8", seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, (batch,) + shape, dtype=dtype)


def cnn(dtype="uint8", scale=1 / 255, zero_point=0):
    g = Graph()
    x = g.input("frame", (3, 6, 6), dtype, scale=scale, zero_point=zero_point)
    h = ReLU()(Conv2d(W_CONV, None, padding="same", name="conv")(x))
    g.output(Dense(W_DENSE, None, name="fc")(Flatten()(h)), "y")
    return g


# ---- .fnn ------------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", ["f32", "int8"])
@pytest.mark.parametrize("dtype, zp", [("uint8", 9), ("int8", -5)])
@pytest.mark.parametrize("mmap", [True, False])
def test_fnn_round_trip_runs_identically(tmp_path, precision, dtype, zp, mmap):
    g = cnn(dtype, 0.02, zp)
    x = frames((3, 6, 6), 5, dtype)
    p = compile(g, precision=precision, calibration=x)
    path = tmp_path / "m.fnn"
    frugalnn.save(p, path)
    q = frugalnn.load(path, mmap=mmap)
    assert q.inputs == p.inputs
    spec = q.inputs[0]
    assert (spec.dtype, spec.scale, spec.zero_point) == (np.dtype(dtype), float(np.float32(0.02)), zp)
    assert [(s.name, s.kind) for s in q.steps] == [(s.name, s.kind) for s in p.steps]
    np.testing.assert_array_equal(Session(q).run(x), Session(p).run(x))
    with pytest.raises(TypeError, match=f"must be {dtype}"):
        Session(q).run(x.astype(np.float32))
    meta = frugalnn.io.info(path)
    assert meta["inputs"] == [("frame", [3, 6, 6])]
    assert meta["input_dtypes"] == [(dtype, float(np.float32(0.02)), zp)]


def _records(data: bytes) -> dict:
    """tag -> offset of its payload, walking the meta records (fnn_format.h)."""
    blob_count = struct.unpack_from("<I", data, 40)[0]
    header_bytes = struct.unpack_from("<Q", data, 24)[0]
    at, out = 64 + 32 * blob_count, {}
    while at < header_bytes:
        tag, length = struct.unpack_from("<4sI", data, at)
        out[tag.decode()] = at + 8
        at += 8 + length
    return out


def _spec_dtype_offset(data: bytes) -> int:
    """Offset of the first input's dtype byte in 'SPEC'."""
    at = _records(data)["SPEC"] + 4
    name_len = struct.unpack_from("<I", data, at)[0]
    return at + 4 + name_len


def _tens_offset(data: bytes, t: int) -> int:
    return _records(data)["TENS"] + 4 + 24 * t


@pytest.fixture(scope="module")
def u8_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("u8") / "u8.fnn"
    frugalnn.save(compile(cnn("uint8", 0.02, 9), precision="int8", calibration=frames((3, 6, 6), 4)), path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def f32_file(tmp_path_factory):
    g = Graph()
    g.output(Dense(W_DENSE[:, :20], None)(g.input("x", (20,))), "y")
    path = tmp_path_factory.mktemp("f32") / "f32.fnn"
    frugalnn.save(compile(g), path)
    return path.read_bytes()


def _load(tmp_path, data):
    path = tmp_path / "t.fnn"
    path.write_bytes(_core.fnn_reseal(bytes(data)))
    return frugalnn.load(path)


def test_spec_dtype_byte_is_written_and_old_files_read_as_before(tmp_path, u8_file, f32_file):
    assert u8_file[_spec_dtype_offset(u8_file)] == 1
    assert f32_file[_spec_dtype_offset(f32_file)] == 0
    assert _load(tmp_path, f32_file).inputs[0].dtype == np.float32


@pytest.mark.parametrize("value, match", [
    (3, "unknown dtype 3"), (255, "unknown dtype 255"),
    (0, "has dtype 0, the program's tensor 1"), (2, "has dtype 2, the program's tensor 1"),
])
def test_hostile_spec_dtype_byte(tmp_path, u8_file, value, match):
    data = bytearray(u8_file)
    data[_spec_dtype_offset(data)] = value
    with pytest.raises(frugalnn.FormatError, match=match):
        _load(tmp_path, data)


def test_a_float_program_claiming_a_u8_input(tmp_path, f32_file):
    data = bytearray(f32_file)
    data[_spec_dtype_offset(data)] = 1
    with pytest.raises(frugalnn.FormatError, match="has dtype 1, the program's tensor 0"):
        _load(tmp_path, data)


def test_hostile_input_tensor_parameters(tmp_path, u8_file, f32_file):
    cases = [  # the input is program tensor 0 in both files
        (u8_file, 9, b"\x07", "unknown dtype 7"),
        (u8_file, 16, struct.pack("<f", 0.0), "positive finite scale"),
        (u8_file, 16, struct.pack("<f", float("nan")), "positive finite scale"),
        (u8_file, 20, struct.pack("<i", 256), "zero point in 0..255"),
        (f32_file, 9, b"\x02", "reads float32 inputs only"),  # an s8 input its dense step reads as float
    ]
    for base, field, value, match in cases:
        data = bytearray(base)
        at = _tens_offset(data, 0) + field
        data[at:at + len(value)] = value
        with pytest.raises(frugalnn.FormatError, match=match):
            _load(tmp_path, data)
    data = bytearray(u8_file)
    at = _tens_offset(data, 0)
    data[at + 9] = 2  # s8 with zero point 9 is valid, but the steps read it as u8 (and SPEC says uint8)
    with pytest.raises(frugalnn.FormatError, match="same dtype and parameters"):
        _load(tmp_path, data)
    data[at + 20:at + 24] = struct.pack("<i", 200)  # out of s8 range
    with pytest.raises(frugalnn.FormatError, match="-128..127"):
        _load(tmp_path, data)


def test_an_output_cannot_be_quantized(tmp_path, f32_file):
    data = bytearray(f32_file)
    n = struct.unpack_from("<I", data, _records(data)["TENS"])[0]
    outs = [t for t in range(n) if data[_tens_offset(data, t) + 8] == 1][1:]  # external: input, output
    at = _tens_offset(data, outs[0])
    data[at + 9] = 1
    data[at + 16:at + 20] = struct.pack("<f", 1.0)
    with pytest.raises(frugalnn.FormatError, match="output tensor .* must be float32"):
        _load(tmp_path, data)


# ---- ONNX ------------------------------------------------------------------------------------

def _onnx_model(elem, reader, scale=0.02, zp=7, second_reader=None):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    np_dtype = np.uint8 if elem == TP.UINT8 else np.int8
    inits = [nh.from_array(W_CONV, "w")]
    if reader == "dq":
        nodes = [h.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"])]
        inits += [nh.from_array(np.array(scale, np.float32), "s"), nh.from_array(np.array(zp, np_dtype), "z")]
    else:
        nodes = [h.make_node("Cast", ["x"], ["xf"], to=TP.FLOAT)]
    nodes += [h.make_node("Conv", ["xf", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["y"])]
    outputs = [h.make_tensor_value_info("y", TP.FLOAT, ["N", 4, 6, 6])]
    if second_reader == "other_dq":
        nodes.append(h.make_node("DequantizeLinear", ["x", "s2", "z"], ["y2"]))
        inits.append(nh.from_array(np.array(scale * 2, np.float32), "s2"))
        outputs.append(h.make_tensor_value_info("y2", TP.FLOAT, ["N", 3, 6, 6]))
    elif second_reader == "identity":
        nodes.append(h.make_node("Identity", ["x"], ["y2"]))
        outputs.append(h.make_tensor_value_info("y2", elem, ["N", 3, 6, 6]))
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", elem, ["N", 3, 6, 6])], outputs,
                         initializer=inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 19)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("elem_name", ["UINT8", "INT8"])
@pytest.mark.parametrize("reader", ["dq", "cast"])
@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_quantized_input_matches_onnxruntime(elem_name, reader, batch):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    elem = getattr(onnx.TensorProto, elem_name)
    zp = 7 if elem_name == "UINT8" else -7
    model = _onnx_model(elem, reader, zp=zp)
    x = frames((3, 6, 6), batch, elem_name.lower(), seed=batch)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    g = frugalnn.io.load_onnx(model)
    spec = compile(g).inputs[0]
    assert spec.dtype == np.dtype(elem_name.lower())
    assert (spec.scale, spec.zero_point) == ((float(np.float32(0.02)), zp) if reader == "dq" else (1.0, 0))
    np.testing.assert_allclose(Session(compile(g)).run(x), want, rtol=1e-5, atol=1e-4)


def test_onnx_uint8_input_into_an_int8_conv():
    """A QDQ model whose first conv reads the uint8 input's DequantizeLinear: the compiled
    int8 conv takes the u8 frame as stored (no conversion step) and matches onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    ws = (np.abs(W_CONV).reshape(4, -1).max(axis=1) / 127).astype(np.float32)
    wq = np.round(W_CONV / ws[:, None, None, None]).astype(np.int8)
    nodes = [h.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
             h.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
             h.make_node("Conv", ["xf", "w"], ["y"], pads=[1, 1, 1, 1])]
    inits = [nh.from_array(np.array(0.02, np.float32), "s"), nh.from_array(np.array(7, np.uint8), "z"),
             nh.from_array(wq, "wq"), nh.from_array(ws, "ws"), nh.from_array(np.zeros(4, np.int8), "wz")]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.UINT8, ["N", 3, 6, 6])],
                         [h.make_tensor_value_info("y", TP.FLOAT, ["N", 4, 6, 6])], initializer=inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 19)])
    model.ir_version = 9
    x = frames((3, 6, 6), 3)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    p = compile(frugalnn.io.load_onnx(model), precision="int8")
    assert "dequantize" not in [s.kind for s in p.steps] and "quantize" not in [s.kind for s in p.steps]
    np.testing.assert_allclose(Session(p).run(x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("second, err, match", [
    ("other_dq", NotImplementedError, "one scale / zero point"),
    ("identity", NotImplementedError, "not by Identity"),
])
def test_onnx_quantized_input_read_otherwise_is_refused(second, err, match):
    onnx = pytest.importorskip("onnx")
    model = _onnx_model(onnx.TensorProto.UINT8, "dq", second_reader=second)
    with pytest.raises(err, match=match):
        frugalnn.io.load_onnx(model)


def test_onnx_quantized_input_with_a_bad_scale():
    onnx = pytest.importorskip("onnx")
    model = _onnx_model(onnx.TensorProto.UINT8, "dq", scale=-1.0)
    with pytest.raises(ValueError, match="scale"):
        frugalnn.io.load_onnx(model)


# ---- TFLite ----------------------------------------------------------------------------------

def test_tflite_raw_inputs_take_the_models_integers():
    """The int8 seed CNN (float interface: QUANTIZE first). raw_inputs=True makes its input
    int8 with QUANTIZE's parameters; fed int8 frames it gives what the float interface gives
    for their real values, bit for bit, and LiteRT's outputs when LiteRT is installed."""
    path = PEERS / "seed_cnn_keras_int8.tflite"
    g = load_tflite(path, raw_inputs=True)
    (name, q), = g.input_quant.items()
    assert q.dtype == "int8"
    p = compile(g, precision="int8")
    assert p.inputs[0].dtype == np.int8
    x = frames(g.inputs[name], 5, "int8")
    got = Session(p).run(x)
    xf = dequantize(x, q.scale, q.zero_point)
    np.testing.assert_array_equal(got, Session(compile(load_tflite(path), precision="int8")).run(xf))
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    (inp,), (out,) = it.get_input_details(), it.get_output_details()
    want = []
    for k in range(len(x)):
        it.set_tensor(inp["index"], xf[k:k + 1])
        it.invoke()
        want.append(it.get_tensor(out["index"]))
    np.testing.assert_array_equal(got, np.concatenate(want))


def test_tflite_float_model_keeps_float_inputs_with_raw_inputs():
    g = load_tflite(PEERS / "seed_cnn_keras_f32.tflite", raw_inputs=True)
    assert not g.input_quant
    assert not load_tflite(PEERS / "seed_cnn_keras_int8.tflite").input_quant  # the default: float32
