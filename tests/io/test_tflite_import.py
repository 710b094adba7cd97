"""load_tflite against LiteRT (ai-edge-litert): the peer models of tests/io/data/peers
(Keras, converted by TF 2.21.0), float32 and full-integer int8, plus errors and hostile
files. References are LiteRT's outputs, never frugalnn's.

LiteRT runs with its default XNNPACK delegate (Interpreter(model_path, num_threads=2)), and
for the int8 explanation also with its builtin reference kernels only
(OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES). Inputs are NHWC for LiteRT and the
same arrays transposed to NCHW for frugalnn (load_tflite declares NCHW inputs for now).
"""
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

litert = pytest.importorskip("ai_edge_litert.interpreter")

from frugalnn.data import load_digits28  # noqa: E402
from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.io import load_tflite  # noqa: E402
from frugalnn.io import tflite_schema as S  # noqa: E402
from frugalnn.io.tflite_import import Act, _Importer  # noqa: E402
from frugalnn.io.tflite_reader import Table, read_model  # noqa: E402

PEERS = Path(__file__).parent / "data" / "peers"
SEED_F32, SEED_INT8 = PEERS / "seed_cnn_keras_f32.tflite", PEERS / "seed_cnn_keras_int8.tflite"
MOBILENET_F32 = PEERS / "mobilenet_v2_0.35_96_keras_f32.tflite"
MOBILENET_INT8 = PEERS / "mobilenet_v2_0.35_96_keras_int8.tflite"
MAX_OUTPUTS = 15  # a Program takes at most 16 outputs: intermediate tensors are checked in groups


def _interpreter(path, x_nhwc, *, builtin=False, preserve=False):
    kw = {}
    if builtin:
        kw["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():
        # preserve_all_tensors warns that it is for debugging, which is what it is for here.
        warnings.simplefilter("ignore", UserWarning)
        it = litert.Interpreter(model_path=str(path), num_threads=2, experimental_preserve_all_tensors=preserve, **kw)
    d = it.get_input_details()[0]
    it.resize_tensor_input(d["index"], list(x_nhwc.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], np.ascontiguousarray(x_nhwc, dtype=np.float32))
    it.invoke()
    return it


def litert_output(path, x_nhwc, **kw):
    it = _interpreter(path, x_nhwc, **kw)
    return it.get_tensor(it.get_output_details()[0]["index"])


def ours(path, x_nhwc, precision=None):
    g = load_tflite(path)
    x = np.ascontiguousarray(x_nhwc)
    return Session(compile(g, precision=precision), max_batch=len(x), num_threads=2).run(x)


def digits_nhwc(n=None):
    _, (x, y) = load_digits28()
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    return (x, y) if n is None else (x[:n], y[:n])


def random_input(path, batch, seed=0):
    shape = read_model(Path(path).read_bytes()).subgraphs[0].tensors[0].shape
    return np.random.default_rng(seed).random((batch,) + tuple(shape[1:]), dtype=np.float32)


def quanta(a, b, scale):
    """|a - b| in units of the output quantum (both hold dequantized values)."""
    return np.rint(np.abs(a.astype(np.float64) - b) / scale)


# ---------------------------------------------------------------------------------------
# Every tensor of a model, ours against LiteRT's (preserved intermediate tensors)


def tensors_vs_litert(path, x_nhwc, precision=None, builtin=False):
    """{tensor name: (max relative error, or for int8 tensors (fraction identical, max quanta))}
    over every computed tensor the import maps. int8 tensors are observed through
    Importer.rounded (the u8 GlobalAvgPool that dequantizes them), which reads the same u8
    values the model's int8 layers read, so observing does not change the int8 chain."""
    data = Path(path).read_bytes()
    it = _interpreter(path, x_nhwc, builtin=builtin, preserve=True)
    probe = _Importer(read_model(data))
    probe.run()
    picked = [i for i, v in probe.values.items() if isinstance(v, Act) and i not in probe.sg.inputs]
    x = np.ascontiguousarray(x_nhwc)
    result = {}
    for start in range(0, len(picked), MAX_OUTPUTS):
        imp = _Importer(read_model(data))
        g = imp.run()
        names = {}
        for i in picked[start:start + MAX_OUTPUTS]:
            v = imp.values[i]
            t = imp.rounded(None, v).tensor if v.q is not None else v.tensor
            if t.name not in g.outputs:
                g.output(t)
            names[i] = t.name
        ys = Session(compile(g, precision=precision), max_batch=len(x), num_threads=2).run(x)
        for i, name in names.items():
            v, ref = imp.values[i], it.get_tensor(i)
            y = ys[name] if isinstance(ys, dict) else ys
            if v.flat_from is not None:  # ours holds CHW order: reorder LiteRT's HWC one
                c, h, w = v.flat_from
                ref = ref.reshape(len(ref), h, w, c).transpose(0, 3, 1, 2).reshape(len(ref), -1)
            elif y.ndim == 4:
                y = y.transpose(0, 2, 3, 1)
            key = imp.tensors[i].name
            if v.q is None:
                result[key] = float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
            else:
                q = np.rint(y / np.float32(v.q.scale)) + v.q.zero_point - (128 if v.q.signed else 0)
                d = np.abs(q - ref.astype(np.int64))
                result[key] = (float(np.mean(d == 0)), int(d.max()))
    return result


# ---------------------------------------------------------------------------------------
# float32


@pytest.mark.parametrize("batch", [1, 5])
def test_seed_cnn_f32_matches_litert(batch):
    x, _ = digits_nhwc(batch)
    want = litert_output(SEED_F32, x)
    got = ours(SEED_F32, x)
    assert got.shape == want.shape == (batch, 10)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))


@pytest.mark.parametrize("batch", [1, 3])
def test_mobilenet_f32_matches_litert(batch):
    x = random_input(MOBILENET_F32, batch)
    want = litert_output(MOBILENET_F32, x)
    got = ours(MOBILENET_F32, x)
    assert got.shape == want.shape == (batch, 1000)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))


def test_mobilenet_f32_every_tensor_matches_litert():
    """The random-weight MobileNet's activations shrink to ~1e-10 and its softmax is nearly
    uniform, so the output alone says little: every intermediate tensor (convolutions,
    depthwise ones with TF's asymmetric SAME padding at stride 2, residual adds, the mean,
    the logits) is compared, relative to its own largest value."""
    errors = tensors_vs_litert(MOBILENET_F32, random_input(MOBILENET_F32, 2, seed=1))
    assert len(errors) >= 60
    worst = max(errors, key=errors.get)
    assert errors[worst] <= 1e-4, (worst, errors[worst])


def test_seed_cnn_f32_top1_agrees_with_litert_on_digits28():
    x, y = digits_nhwc()
    want, got = litert_output(SEED_F32, x), ours(SEED_F32, x)
    assert np.mean(got.argmax(1) == want.argmax(1)) == 1.0
    assert np.mean(got.argmax(1) == y) > 0.95  # the model's own accuracy (0.977)


# ---------------------------------------------------------------------------------------
# int8: how exactly frugalnn's int8 kernels reproduce LiteRT's


def test_seed_cnn_int8_is_bit_exact_with_litert_xnnpack_on_digits28():
    """LiteRT's default CPU path (XNNPACK) requantizes in float like frugalnn's int8 kernels,
    and frugalnn rounds the logits and the softmax output where the model does: all 397 x 10
    outputs are identical."""
    x, y = digits_nhwc()
    want = litert_output(SEED_INT8, x)
    got = ours(SEED_INT8, x, precision="int8")
    d = quanta(got, want, 1 / 256)
    print(f"\nseed int8 vs LiteRT (XNNPACK): {np.mean(d == 0):.5f} identical, max {d.max():.0f} quanta, "
          f"top-1 agreement {np.mean(got.argmax(1) == want.argmax(1)):.4f}")
    assert np.mean(d == 0) == 1.0
    assert np.mean(got.argmax(1) == want.argmax(1)) == 1.0
    assert np.mean(got.argmax(1) == y) > 0.95


def test_seed_cnn_int8_against_litert_reference_kernels_within_one_quantum_per_layer():
    """LiteRT's builtin kernels (no delegate) requantize with a fixed-point multiplier and a
    rounding shift instead of a float product: values whose exact result lies within ~2^-22
    of a half round the other way. Every int8 tensor then differs by at most one quantum;
    the softmax at the end may amplify a one-quantum logit into a few output quanta."""
    x, _ = digits_nhwc(64)
    per_tensor = tensors_vs_litert(SEED_INT8, x, precision="int8", builtin=True)
    int8 = {k: v for k, v in per_tensor.items() if isinstance(v, tuple)}
    assert len(int8) >= 7
    assert all(m <= 1 for _, m in int8.values()), int8
    assert all(same >= 0.98 for same, _ in int8.values()), int8
    x, _ = digits_nhwc()
    want = litert_output(SEED_INT8, x, builtin=True)
    got = ours(SEED_INT8, x, precision="int8")
    d = quanta(got, want, 1 / 256)
    print(f"\nseed int8 vs LiteRT builtin kernels: {np.mean(d == 0):.5f} identical, max {d.max():.0f} quanta, "
          f"top-1 agreement {np.mean(got.argmax(1) == want.argmax(1)):.4f}")
    assert np.mean(d == 0) > 0.99
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.995


def test_mobilenet_int8_every_tensor_bit_exact_with_litert_xnnpack():
    """All int8 tensors of MobileNetV2 (convolutions, depthwise, residual adds, mean, FC)
    equal LiteRT's value for value, at batch 2."""
    per_tensor = tensors_vs_litert(MOBILENET_INT8, random_input(MOBILENET_INT8, 2, seed=2), precision="int8")
    int8 = {k: v for k, v in per_tensor.items() if isinstance(v, tuple)}
    assert len(int8) >= 60
    bad = {k: v for k, v in int8.items() if v != (1.0, 0)}
    assert not bad, bad


@pytest.mark.parametrize("batch", [1, 4])
def test_mobilenet_int8_output_matches_litert(batch):
    x = random_input(MOBILENET_INT8, batch, seed=3)
    want = litert_output(MOBILENET_INT8, x)
    got = ours(MOBILENET_INT8, x, precision="int8")
    assert got.shape == want.shape == (batch, 1000)
    assert np.array_equal(got, want)


def test_int8_layers_carry_the_models_quantization():
    g = load_tflite(SEED_INT8)
    convs = [n.layer for n in g.nodes if type(n.layer).__name__ in ("Conv2d", "Dense")]
    assert len(convs) == 4
    first = convs[0]
    assert first.quant.input_scale == pytest.approx(1 / 255) and first.quant.input_zero_point == 0  # s8 -128 + 128
    assert first.quant.weight.dtype == np.int8 and first.quant.weight_scale.shape == (32,)


# ---------------------------------------------------------------------------------------
# Layout details


def test_input_is_nhwc_read_without_a_copy_and_batch_is_free():
    g = load_tflite(MOBILENET_F32)
    assert g.inputs == {"serving_default_keras_tensor_7:0": (96, 96, 3)}
    steps = compile(g).steps
    assert steps[0].kind == "conv2d"  # no layout step: the NHWC input is the runtime's own layout
    assert list(g.outputs) == ["StatefulPartitionedCall_1:0"]


def test_flatten_permutes_dense_columns_exactly():
    """Keras' Flatten is an NHWC flatten; the Dense weights after it are permuted to NCHW
    order (a permutation: each column lands unchanged)."""
    g = load_tflite(SEED_F32)
    dense = next(n.layer for n in g.nodes if type(n.layer).__name__ == "Dense")
    model = read_model(SEED_F32.read_bytes())
    fc = next(op for op in model.subgraphs[0].operators if op.name == "FULLY_CONNECTED")
    t = model.subgraphs[0].tensors[fc.inputs[1]]
    w = np.frombuffer(model.buffer(t.buffer, "w"), "<f4").reshape(t.shape)
    assert np.array_equal(dense.weight, w.reshape(128, 7, 7, 64).transpose(0, 3, 1, 2).reshape(128, -1))


def test_bytes_and_path_give_the_same_graph():
    a, b = load_tflite(SEED_F32), load_tflite(SEED_F32.read_bytes())
    assert a.summary() == b.summary()


def test_reader_agrees_with_litert_on_ops_and_tensors():
    model = read_model(MOBILENET_INT8.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        it = litert.Interpreter(model_path=str(MOBILENET_INT8), experimental_preserve_all_tensors=True,
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    ops = it._get_ops_details()
    assert [o["op_name"] for o in ops] == [op.name for op in model.subgraphs[0].operators]
    tensors = model.subgraphs[0].tensors
    details = [d for d in it.get_tensor_details() if d["index"] < len(tensors)]  # (then LiteRT's scratch)
    assert len(details) == len(tensors)
    for d in details:
        t = tensors[d["index"]]
        assert t.name == d["name"] and tuple(t.shape) == tuple(d["shape"])


# ---------------------------------------------------------------------------------------
# Errors


def _fields(data: bytes):
    """Positions inside a model for the byte patches below."""
    model = read_model(data)
    root = Table(model.buf, struct.unpack_from("<I", data, 0)[0], "model")
    sg = root.tables(S.Model.SUBGRAPHS, "subgraphs")[0]
    return model, root, sg


def test_wrong_argument_type_is_a_type_error():
    with pytest.raises(TypeError, match="path or bytes"):
        load_tflite(42)
    with pytest.raises(TypeError):
        load_tflite(np.zeros(8, np.uint8))


def test_not_a_tflite_file_is_a_value_error():
    with pytest.raises(ValueError, match="identifier"):
        load_tflite((PEERS / "seed_cnn_keras.onnx").read_bytes())
    with pytest.raises(ValueError, match="too short"):
        load_tflite(b"TFL3")


def test_unsupported_op_is_refused_by_name():
    """SOFTMAX's operator code patched to TANH: refused naming TANH, the operator's index,
    its output tensor and the supported ops."""
    data = bytearray(SEED_F32.read_bytes())
    _, root, _ = _fields(bytes(data))
    for code in root.tables(S.Model.OPERATOR_CODES, "operator_codes"):
        if code.scalar(S.OperatorCode.BUILTIN_CODE, "i", 0, "c") == S.BUILTIN_OPS.index("SOFTMAX"):
            struct.pack_into("<i", data, code._slot(S.OperatorCode.BUILTIN_CODE, 4, "c"), 28)
            struct.pack_into("<b", data, code._slot(S.OperatorCode.DEPRECATED_BUILTIN_CODE, 1, "c"), 28)
    with pytest.raises(NotImplementedError) as e:
        load_tflite(bytes(data))
    msg = str(e.value)
    assert "TANH" in msg and "operator 10" in msg and "StatefulPartitionedCall_1:0" in msg
    assert "supported: " in msg and "CONV_2D" in msg


@pytest.mark.parametrize("cut", [8, 100, 1000, 20000, -100, -1])
def test_truncated_file_is_a_value_error(cut):
    data = SEED_INT8.read_bytes()
    with pytest.raises(ValueError):
        load_tflite(data[:cut])


def test_root_offset_outside_the_file():
    data = bytearray(SEED_F32.read_bytes())
    struct.pack_into("<I", data, 0, len(data) + 16)
    with pytest.raises(ValueError, match="outside the file"):
        load_tflite(bytes(data))


def test_huge_vector_length_is_refused_before_allocating():
    data = bytearray(SEED_F32.read_bytes())
    _, _, sg = _fields(bytes(data))
    start, _ = sg.vector(S.SubGraph.TENSORS, 4, "tensors")
    struct.pack_into("<I", data, start - 4, 0xFFFFFFF0)
    with pytest.raises(ValueError, match="outside the file"):
        load_tflite(bytes(data))


def test_reference_field_pointing_outside():
    data = bytearray(SEED_F32.read_bytes())
    _, root, _ = _fields(bytes(data))
    p = root._slot(S.Model.SUBGRAPHS, 4, "subgraphs")
    struct.pack_into("<I", data, p, 0x7FFFFFFF)
    with pytest.raises(ValueError):
        load_tflite(bytes(data))


def test_operator_reading_a_later_tensor_is_a_cycle():
    """Operator 1 (a max-pool) made to read its own output, then operator 3's: a cycle /
    out-of-order graph is refused, not looped over."""
    for target in ("self", "later"):
        data = bytearray(SEED_F32.read_bytes())
        model, _, sg = _fields(bytes(data))
        ops = sg.tables(S.SubGraph.OPERATORS, "operators")
        start, _ = ops[1].vector(S.Operator.INPUTS, 4, "inputs")
        out = model.subgraphs[0].operators[1 if target == "self" else 3].outputs[0]
        struct.pack_into("<i", data, start, out)
        with pytest.raises(ValueError, match="not computed before it|computed twice"):
            load_tflite(bytes(data))


def test_shape_disagreeing_with_the_weights_is_a_value_error():
    data = bytearray(SEED_F32.read_bytes())
    model, _, sg = _fields(bytes(data))
    tensors = sg.tables(S.SubGraph.TENSORS, "tensors")
    conv = model.subgraphs[0].operators[0]
    start, _ = tensors[conv.inputs[1]].vector(S.Tensor.SHAPE, 4, "shape")
    struct.pack_into("<i", data, start, 33)  # 33 filters claimed, the buffer holds 32
    with pytest.raises(ValueError, match="buffer holds"):
        load_tflite(bytes(data))


# ---------------------------------------------------------------------------------------
# The command line


@pytest.mark.parametrize("path", [SEED_F32, SEED_INT8, MOBILENET_INT8])
def test_cli_convert_then_run_gives_litert_outputs(path, tmp_path, capsys):
    """convert writes a .fnn (the int8 model stays int8) whose outputs, through frugalnn run
    and through io.load, are LiteRT's; running the .tflite directly gives the same."""
    from frugalnn import cli
    from frugalnn.io import load

    x = digits_nhwc(6)[0] if "seed" in path.name else random_input(path, 3, seed=4)
    want = litert_output(path, x)
    fnn, xin, out = tmp_path / "m.fnn", tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(xin, np.ascontiguousarray(x))
    assert cli.main(["convert", str(path), "-o", str(fnn)]) == 0
    assert "TFLite" in capsys.readouterr().out
    tol = 0 if "int8" in path.name else 1e-4 * np.max(np.abs(want))
    for model in (fnn, path):
        assert cli.main(["run", str(model), str(xin), "-o", str(out)]) == 0
        assert np.max(np.abs(np.load(out) - want)) <= tol
    program = load(str(fnn))
    assert ("int8" in path.name) == program.has_int8
    got = Session(program, max_batch=len(x)).run(np.load(xin))
    assert np.max(np.abs(got - want)) <= tol
    assert cli.main(["inspect", str(path)]) == 0
    assert "serving_default" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# The ops the peer models lack (tests/io/data/tflite_ops/make_models.py): average pooling,
# concatenation, depthwise with multiplier 2, HARD_SWISH, MUL by a constant, LOGISTIC

OPS_F32 = Path(__file__).parent / "data" / "tflite_ops" / "ops_net_f32.tflite"
OPS_INT8 = Path(__file__).parent / "data" / "tflite_ops" / "ops_net_int8.tflite"


@pytest.mark.parametrize("batch", [1, 4])
def test_ops_net_f32_matches_litert(batch):
    x = random_input(OPS_F32, batch, seed=5)
    want, got = litert_output(OPS_F32, x), ours(OPS_F32, x)
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))
    errors = tensors_vs_litert(OPS_F32, x)
    assert len(errors) >= 10 and max(errors.values()) <= 1e-4, errors


def test_ops_net_int8_matches_litert():
    """The float ops of an int8 model (HARD_SWISH, LOGISTIC, MUL, the average pool) read the
    model's integers and are rounded where the model rounds: measured per tensor against
    LiteRT + XNNPACK; the output is required to be within one quantum."""
    x = random_input(OPS_INT8, 16, seed=6)
    per_tensor = tensors_vs_litert(OPS_INT8, x, precision="int8")
    int8 = {k: v for k, v in per_tensor.items() if isinstance(v, tuple)}
    print("\nops_net int8 per tensor (identical, max quanta):", sorted(int8.values()))
    assert len(int8) >= 10
    assert all(m <= 1 for _, m in int8.values()), int8
    want = litert_output(OPS_INT8, x)
    got = ours(OPS_INT8, x, precision="int8")
    d = quanta(got, want, 1 / 256)
    print(f"ops_net int8 output: {np.mean(d == 0):.4f} identical, max {d.max():.0f} quanta")
    assert d.max() <= 1
