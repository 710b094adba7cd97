"""load_onnx: onnxruntime's com.microsoft QLinearMul, QLinearAdd (broadcasting, constant
operands), QLinearLeakyRelu and QLinearReduceMean, uint8 and int8, against onnxruntime.

Each hand-built model quantizes its float inputs (QuantizeLinear), runs the QLinear op and
dequantizes its output, so both runtimes' outputs are values of the output's 8-bit grid and
differ by whole quanta. The bound asserted: at most one quantum anywhere, and on at most
2% of the values (``ONE_QUANTUM_SHARE``). onnxruntime computes QLinearAdd / QLinearMul in
float with the scale ratios folded (``(a - za) * (sa / sc) + ...``, ``(a - za) * (b - zb) *
(sa * sb / sc)``) and QLinearLeakyRelu through a 256-entry table; frugalnn dequantizes, runs
the float op and quantizes: the real results agree to a few float32 ulps, so they round to
different integers only where the exact result lies within those ulps of a rounding
boundary (x.5 quanta), never by more than one quantum. The counts measured are printed
(onnxruntime 1.32 on x86-64 with AVX-512: no value differs in any of these cases).
"""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import helper, numpy_helper  # noqa: E402

from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.io import load_onnx  # noqa: E402

from .test_onnx_import import N, make, run_ort, run_ours  # noqa: E402

MS = helper.make_opsetid("com.microsoft", 1)
ONE_QUANTUM_SHARE = 0.02  # the largest share of outputs allowed to differ (by exactly one quantum)


def _zp(value, signed):
    return np.int8(value) if signed else np.uint8(value)


def _compare(model, feeds, out_scale, label, capsys):
    """Both runtimes' outputs, in quanta of the output scale: asserts the bound above and
    prints what was measured."""
    want = run_ort(model, feeds)[0]
    got = run_ours(model, feeds, precision="int8")[0]
    assert got.shape == want.shape
    quanta = np.abs(got.astype(np.float64) - want) / np.float64(out_scale)
    assert np.all(np.abs(quanta - np.rint(quanta)) < 1e-3), "outputs off the 8-bit grid"
    share = float(np.mean(quanta > 0.5))
    with capsys.disabled():
        print(f"\n  {label}: max {quanta.max():.0f} quantum, {share:.2%} of {quanta.size} values differ")
    assert quanta.max() <= 1.001 and share <= ONE_QUANTUM_SHARE, (label, quanta.max(), share)


# ---------------------------------------------------------------------------------------
# QLinearMul / QLinearAdd


def _binary_model(op, a, b, signed, batch):
    """``op`` of A and B, each either a computed input (its per-sample shape, given as a tuple)
    or a constant (an integer array, broadcast as ONNX does): float inputs quantized, the op,
    its output dequantized."""
    inits = {"as": np.float32(0.02), "az": _zp(-5 if signed else 123, signed),
             "bs": np.float32(0.03), "bz": _zp(10 if signed else 138, signed),
             "cs": np.float32(0.05 if op == "QLinearAdd" else 0.04), "cz": _zp(-20 if signed else 108, signed)}
    nodes, inputs = [], {}
    for name, spec in (("a", a), ("b", b)):
        if isinstance(spec, tuple):
            inputs[name] = spec
            nodes.append(N("QuantizeLinear", [name, f"{name}s", f"{name}z"], [f"{name}q"]))
        else:
            inits[f"{name}q"] = spec
    nodes += [N(op, ["aq", "as", "az", "bq", "bs", "bz", "cs", "cz"], ["cq"], name="op", domain="com.microsoft"),
              N("DequantizeLinear", ["cq", "cs", "cz"], ["y"])]
    model = make(nodes, inputs, inits, 13, extra_opsets=[MS])
    rng = np.random.default_rng(batch + len(inputs))
    # Spread so that A and B saturate at both ends now and then (the grid is +-2.5 / +-3.8).
    feeds = {k: (rng.standard_normal((batch, *s)) * 1.3).astype(np.float32) for k, s in inputs.items()}
    return model, feeds, float(inits["cs"])


def _const(shape, signed, seed=3):
    lo, hi = (-128, 128) if signed else (0, 256)
    return np.random.default_rng(seed).integers(lo, hi, shape).astype(np.int8 if signed else np.uint8)


BINARY_CASES = {
    # (A, B): a tuple is a computed input's per-sample shape, an array a constant
    "se_gate": lambda s: ((5, 1, 1), (5, 7, 3)),        # an SE block's (N, C, 1, 1) x (N, C, H, W)
    "se_gate_second": lambda s: ((6, 5, 9), (6, 1, 1)),
    "equal": lambda s: ((4, 5, 7), (4, 5, 7)),
    "equal_flat": lambda s: ((13,), (13,)),
    "rows": lambda s: ((3, 1, 7), (3, 5, 1)),          # each broadcasts along an axis of the other
    "const_c11": lambda s: ((5, 7, 3), _const((5, 1, 1), s)),
    "const_1c11_first": lambda s: (_const((1, 5, 1, 1), s), (5, 7, 3)),
    "const_full": lambda s: ((3, 4, 5), _const((3, 4, 5), s)),
    "const_scalar": lambda s: ((3, 4, 5), _const((), s)),
    "const_last_axis": lambda s: ((2, 3, 9), _const((9,), s)),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("signed", [False, True], ids=["uint8", "int8"])
@pytest.mark.parametrize("case", sorted(BINARY_CASES))
@pytest.mark.parametrize("op", ["QLinearMul", "QLinearAdd"])
def test_qlinear_binary_agrees_with_onnxruntime(op, case, signed, batch, capsys):
    a, b = BINARY_CASES[case](signed)
    model, feeds, scale = _binary_model(op, a, b, signed, batch)
    _compare(model, feeds, scale, f"{op} {case} {'int8' if signed else 'uint8'} batch {batch}", capsys)


def test_qlinear_mul_of_a_tensor_by_itself(capsys):
    inits = {"xs": np.float32(0.02), "xz": np.uint8(128), "cs": np.float32(0.01), "cz": np.uint8(3)}
    model = make([N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                  N("QLinearMul", ["xq", "xs", "xz", "xq", "xs", "xz", "cs", "cz"], ["cq"], domain="com.microsoft"),
                  N("DequantizeLinear", ["cq", "cs", "cz"], ["y"])], {"x": (4, 6, 6)}, inits, 13, extra_opsets=[MS])
    feeds = {"x": np.random.default_rng(0).uniform(-1.6, 1.6, (3, 4, 6, 6)).astype(np.float32)}
    _compare(model, feeds, 0.01, "QLinearMul x * x", capsys)


# ---------------------------------------------------------------------------------------
# QLinearLeakyRelu / QLinearReduceMean


@pytest.mark.parametrize("alpha", [None, 0.1, 0.3])
@pytest.mark.parametrize("signed", [False, True], ids=["uint8", "int8"])
def test_qlinear_leaky_relu_agrees_with_onnxruntime(alpha, signed, capsys):
    inits = {"xs": np.float32(0.025), "xz": _zp(-2 if signed else 126, signed),
             "ys": np.float32(0.02), "yz": _zp(-90 if signed else 38, signed)}
    attrs = {} if alpha is None else {"alpha": alpha}
    model = make([N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                  N("QLinearLeakyRelu", ["xq", "xs", "xz", "ys", "yz"], ["q"], domain="com.microsoft", **attrs),
                  N("DequantizeLinear", ["q", "ys", "yz"], ["y"])], {"x": (3, 7, 5)}, inits, 13, extra_opsets=[MS])
    # Every one of the 256 input levels (and saturation at both ends) at least once.
    x = np.linspace(-4, 4, 3 * 3 * 7 * 5, dtype=np.float32).reshape(3, 3, 7, 5)
    _compare(model, {"x": x}, 0.02, f"QLinearLeakyRelu alpha={alpha} {'int8' if signed else 'uint8'}", capsys)


@pytest.mark.parametrize("keepdims", [1, 0])
@pytest.mark.parametrize("axes", [[2, 3], [-1, -2]])
@pytest.mark.parametrize("signed", [False, True], ids=["uint8", "int8"])
def test_qlinear_reduce_mean_agrees_with_its_definition(keepdims, axes, signed, capsys):
    """onnxruntime (1.32) has no CPU kernel for QLinearReduceMean, so the reference is
    onnxruntime running the op's definition: DequantizeLinear -> ReduceMean ->
    QuantizeLinear (a mean of 8-bit values, in float: exact to a few ulps)."""
    inits = {"xs": np.float32(0.03), "xz": _zp(7 if signed else 135, signed),
             "ys": np.float32(0.01), "yz": _zp(-1 if signed else 127, signed)}
    front = [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"])]
    back = [N("DequantizeLinear", ["q", "ys", "yz"], ["y"])]
    ours = make(front + [N("QLinearReduceMean", ["xq", "xs", "xz", "ys", "yz"], ["q"], domain="com.microsoft",
                           axes=axes, keepdims=keepdims)] + back, {"x": (5, 9, 7)}, inits, 13, extra_opsets=[MS])
    ref = make(front + [N("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
                        N("ReduceMean", ["xd"], ["m"], axes=axes, keepdims=keepdims),
                        N("QuantizeLinear", ["m", "ys", "yz"], ["q"])] + back, {"x": (5, 9, 7)}, inits, 13)
    for batch in (1, 3):
        x = (np.random.default_rng(batch).standard_normal((batch, 5, 9, 7)) * 2).astype(np.float32)
        want = run_ort(ref, {"x": x})[0]
        got = run_ours(ours, {"x": x}, precision="int8")[0]
        assert got.shape == want.shape == ((batch, 5, 1, 1) if keepdims else (batch, 5))
        quanta = np.abs(got - want) / 0.01
        with capsys.disabled():
            print(f"\n  QLinearReduceMean axes={axes} keepdims={keepdims} batch {batch}: max {quanta.max():.0f} "
                  f"quantum, {np.mean(quanta > 0.5):.2%} differ")
        assert quanta.max() <= 1.001 and np.mean(quanta > 0.5) <= ONE_QUANTUM_SHARE


# ---------------------------------------------------------------------------------------
# What is refused, and how


def _mul(inputs=None, inits=None, shapes=None, op="QLinearMul"):
    """A QLinear binary op named 'q_op' of computed operands (the names in ``shapes``) or
    constants (``aq`` / ``bq`` in ``inits``; (4, 1, 1) uint8 ones by default)."""
    base = {"as": np.float32(0.02), "az": np.uint8(128), "bs": np.float32(0.03), "bz": np.uint8(128),
            "cs": np.float32(0.05), "cz": np.uint8(128), "aq": np.ones((4, 1, 1), np.uint8),
            "bq": np.ones((4, 1, 1), np.uint8)}
    base.update(inits or {})
    ins = inputs or ["aq", "as", "az", "bq", "bs", "bz", "cs", "cz"]
    shapes = shapes or {"a": (4, 3, 3), "b": (4, 3, 3)}
    nodes = [N("QuantizeLinear", [k, f"{k}s", f"{k}z"], [f"{k}q"]) for k in shapes if k in "ab"]
    nodes += [N(op, ins, ["cq"], name="q_op", domain="com.microsoft"), N("DequantizeLinear", ["cq", "cs", "cz"], ["y"])]
    return make(nodes, shapes, {k: v for k, v in base.items() if not (k in ("aq", "bq") and k[0] in shapes)}, 13,
                extra_opsets=[MS])


@pytest.mark.parametrize("model, error, pattern", [
    (_mul(["aq", "", "az", "bq", "bs", "bz", "cs", "cz"]), ValueError, r"QLinearMul node 'q_op'.*scale.*required"),
    (_mul(["aq", "as", "az", "bq", "bs", "bz", "", "cz"]), ValueError, r"QLinearMul node 'q_op'.*scale.*required"),
    (_mul(inits={"cs": np.float32([0.05, 0.05])}), ValueError, r"QLinearMul node 'q_op'.*input 6.*scalar"),
    (_mul(inits={"bz": np.uint8([128, 128])}, shapes={"a": (4, 3, 3)}), ValueError, r"'q_op'.*input 5.*scalar"),
    (_mul(inits={"bq": np.ones((4, 1, 1), np.float32)}, shapes={"a": (4, 3, 3)}), ValueError,
     r"QLinearMul node 'q_op'.*uint8 or int8"),
    (_mul(inits={"bq": np.ones((4, 1, 1), np.int8), "bz": np.int8(0)}, shapes={"a": (4, 3, 3)}), ValueError,
     r"QLinearMul node 'q_op'.*same type"),
    (_mul(inits={"bq": np.ones((4, 1, 1), np.int8)}, shapes={"a": (4, 3, 3)}), ValueError, r"'q_op'.*zero point"),
    (_mul(inits={"cz": np.int8(0)}), ValueError, r"QLinearMul node 'q_op'.*output's zero point"),
    (_mul(shapes={"a": (4, 3, 3), "b": (3,)}), NotImplementedError, r"QLinearMul node 'q_op'.*ranks"),
    (_mul(shapes={"a": (4, 3, 3), "b": (4, 2, 3)}, op="QLinearAdd"), ValueError,
     r"QLinearAdd node 'q_op'.*broadcast"),
    (_mul(inits={"bq": np.ones((1, 1, 4, 1, 1), np.uint8)}, shapes={"a": (4, 3, 3)}), NotImplementedError,
     r"QLinearMul node 'q_op'.*more axes"),
    (_mul(inits={"bq": np.ones((2, 4, 1, 1), np.uint8)}, shapes={"a": (4, 3, 3)}), NotImplementedError,
     r"QLinearMul node 'q_op'.*batch"),
    (_mul(shapes={"x": (3,)}), NotImplementedError, r"QLinearMul node 'q_op'.*both operands are constants"),
    (_mul(["aq", "as2", "az", "bq", "bs", "bz", "cs", "cz"], inits={"as2": np.float32(0.01)}), NotImplementedError,
     r"QLinearMul node 'q_op'.*quantized with scale"),
])
def test_malformed_or_unsupported_binary_is_refused_naming_the_node(model, error, pattern):
    with pytest.raises(error, match=pattern):
        load_onnx(model)


def _unary(op, x=(4, 3, 3), inits=None, **attrs):
    base = {"xs": np.float32(0.02), "xz": np.uint8(128), "ys": np.float32(0.01), "yz": np.uint8(0)}
    base.update(inits or {})
    return make([N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                 N(op, ["xq", "xs", "xz", "ys", "yz"], ["q"], name="q_op", domain="com.microsoft", **attrs),
                 N("DequantizeLinear", ["q", "ys", "yz"], ["y"])], {"x": x}, base, 13, extra_opsets=[MS])


@pytest.mark.parametrize("model, error, pattern", [
    (_unary("QLinearLeakyRelu", inits={"ys": np.float32([0.1, 0.2])}), ValueError,
     r"QLinearLeakyRelu node 'q_op'.*input 3.*scalar"),
    (_unary("QLinearLeakyRelu", inits={"ys": np.float32(-1)}), ValueError, r"QLinearLeakyRelu node 'q_op'.*positive"),
    (_unary("QLinearLeakyRelu", alpha=float("nan")), ValueError, r"QLinearLeakyRelu node 'q_op'.*alpha"),
    (_unary("QLinearReduceMean", axes=[1], keepdims=1), NotImplementedError,
     r"QLinearReduceMean node 'q_op'.*spatial axes"),
    (_unary("QLinearReduceMean", axes=[2, 3, 0], keepdims=1), NotImplementedError,
     r"QLinearReduceMean node 'q_op'.*spatial axes"),
    (_unary("QLinearReduceMean", keepdims=1), NotImplementedError, r"QLinearReduceMean node 'q_op'.*spatial axes"),
    (_unary("QLinearReduceMean", axes=[2, -2], keepdims=1), ValueError, r"QLinearReduceMean node 'q_op'.*repeat"),
    (_unary("QLinearReduceMean", axes=[2, 4], keepdims=1), ValueError, r"QLinearReduceMean node 'q_op'.*axis 4"),
    (_unary("QLinearReduceMean", x=(6,), axes=[1], keepdims=0), NotImplementedError,
     r"QLinearReduceMean node 'q_op'.*rank-2"),
])
def test_malformed_or_unsupported_unary_is_refused_naming_the_node(model, error, pattern):
    with pytest.raises(error, match=pattern):
        load_onnx(model)


def test_qlinear_where_is_refused_by_name():
    inits = {"c": np.array([True, False, True]), "s": np.float32(0.02), "z": np.uint8(128)}
    model = make([N("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                  N("QLinearWhere", ["c", "xq", "s", "z", "xq", "s", "z", "s", "z"], ["q"], name="sel",
                    domain="com.microsoft"),
                  N("DequantizeLinear", ["q", "s", "z"], ["y"])], {"x": (3,)}, inits, 13, extra_opsets=[MS])
    with pytest.raises(NotImplementedError, match=r"QLinearWhere node 'sel'.*not supported"):
        load_onnx(model)


# ---------------------------------------------------------------------------------------
# A float model with a squeeze-and-excitation block and LeakyRelu, quantized by onnxruntime


def _se_model(rng):
    """x (3, 12, 12) -> Conv 3x3 -> LeakyRelu -> SE (GlobalAveragePool -> Conv 1x1 -> Relu ->
    Conv 1x1 -> Sigmoid -> Mul) -> Add a (1, C, 1, 1) constant -> Mul by a (C, H, W) constant
    -> Conv 3x3 stride 2 -> LeakyRelu -> GlobalAveragePool -> Flatten -> Gemm (10 classes)."""
    def w(*shape, gain=1.0):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * gain / np.sqrt(fan_in)).astype(np.float32)

    inits = {"w1": w(8, 3, 3, 3, gain=2), "b1": w(8, 1)[:, 0], "w2": w(4, 8, 1, 1, gain=2),
             "b2": np.full(4, 0.1, np.float32), "w3": w(8, 4, 1, 1, gain=2), "b3": np.zeros(8, np.float32),
             "w4": w(12, 8, 3, 3, gain=2), "b4": w(12, 1)[:, 0], "wf": w(10, 12, gain=3),
             "bf": w(10, 1)[:, 0], "shift": w(1, 8, 1, 1, gain=0.5),
             "gain": (1 + 0.3 * rng.standard_normal((8, 12, 12))).astype(np.float32)}
    nodes = [N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             N("LeakyRelu", ["c1"], ["l1"], alpha=0.1),
             N("GlobalAveragePool", ["l1"], ["p"]),
             N("Conv", ["p", "w2", "b2"], ["s1"]), N("Relu", ["s1"], ["r1"]),
             N("Conv", ["r1", "w3", "b3"], ["s2"]), N("Sigmoid", ["s2"], ["gate"]),
             N("Mul", ["l1", "gate"], ["se"]),
             N("Add", ["se", "shift"], ["shifted"]), N("Mul", ["shifted", "gain"], ["scaled"]),
             N("Conv", ["scaled", "w4", "b4"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             N("LeakyRelu", ["c2"], ["l2"], alpha=0.2),
             N("GlobalAveragePool", ["l2"], ["p2"]), N("Flatten", ["p2"], ["f"]),
             N("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    return make(nodes, {"x": (3, 12, 12)}, inits, 13)


def _images(n, seed):
    """Noise around a per-image colour: pooled features (and so the class) vary by image."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 3, 1, 1)) + 0.5 * rng.standard_normal((n, 3, 12, 12))).astype(np.float32)


def _calibration(n=32):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"x": im[None]} for im in _images(n, 2)])

        def get_next(self):
            return next(self._it, None)

    return Reader()


@pytest.mark.parametrize("activations", ["QUInt8", "QInt8"])
def test_se_block_quantized_by_onnxruntime_agrees(activations, tmp_path, capsys):
    """QLinearMul (the SE gate's (N, C, 1, 1) x (N, C, H, W), and by a constant),
    QLinearAdd of a constant and QLinearLeakyRelu as onnxruntime's quantize_static
    (QOperator) writes them, among QLinearConv / Sigmoid / GlobalAveragePool and QGemm:
    top-1 agreement on 200 inputs (asserted >= 99%)."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    src, dst = tmp_path / "se.onnx", tmp_path / "se_q.onnx"
    onnx.save(_se_model(np.random.default_rng(7)), str(src))
    quantization.quantize_static(str(src), str(dst), _calibration(),
                                 quant_format=quantization.QuantFormat.QOperator,
                                 activation_type=getattr(quantization.QuantType, activations),
                                 weight_type=quantization.QuantType.QInt8)
    model = onnx.load(str(dst))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    (quantize,) = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert inits[quantize.input[2]].dtype == (np.uint8 if activations == "QUInt8" else np.int8)
    ops = {n.op_type for n in model.graph.node}
    assert {"QLinearMul", "QLinearAdd", "QLinearLeakyRelu", "QLinearSigmoid", "QLinearGlobalAveragePool",
            "QLinearConv"} <= ops, ops
    constant_operands = [n.input[3] for n in model.graph.node if n.op_type in ("QLinearAdd", "QLinearMul")]
    assert sum(name in inits for name in constant_operands) == 2  # the shift and the gain: uint8 initializers
    x = _images(200, 12)
    want = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = Session(compile(load_onnx(model), precision="int8"), max_batch=200).run(x)
    assert len(np.unique(want.argmax(1))) >= 4  # a test of more than one dominant class
    agree = float(np.mean(got.argmax(1) == want.argmax(1)))
    quanta = np.abs(got - want) / _output_scale(model)
    with capsys.disabled():
        qops = ", ".join(sorted(o for o in ops if o.startswith("QL")))
        print(f"\n  SE + LeakyRelu model, QOperator, {activations} activations ({qops}): "
              f"top-1 agreement with onnxruntime {agree:.3f} on {len(x)} inputs ({len(np.unique(want.argmax(1)))} "
              f"classes); logits max {quanta.max():.0f} "
              f"quanta, {np.mean(quanta > 0.5):.2%} differ")
    assert agree >= 0.99


def _output_scale(model):
    """The scale of the DequantizeLinear that gives the graph output."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    (dq,) = [n for n in model.graph.node if n.output[0] == model.graph.output[0].name]
    assert dq.op_type == "DequantizeLinear"
    return float(inits[dq.input[1]])
