"""ONNX backend node tests through load_onnx -> compile -> Session.

Recent onnx wheels ship the generators of the backend test data rather than the data
(onnx.backend.test.case.node: each op's ``export*`` functions call ``expect`` with a model,
inputs and expected outputs); ``collect_testcases()`` runs them. Every case of an op
load_onnx supports is run through an adapter, or counted as not applicable with a reason:

* Inputs the op reads as parameters (weights, shapes, bounds, scales) are graph inputs in
  these models; the adapter turns them into initializers with the case's values, since
  frugalnn takes parameters as constants. Data inputs stay graph inputs, with their first
  dimension as the batch.
* 8-bit data inputs / outputs of quantized ops are bridged: a float input feeds a
  QuantizeLinear with the op's own input scale / zero point (it reproduces the case's
  integers exactly), and a quantized output goes through DequantizeLinear with the op's
  output parameters. Bridged outputs may differ by one quantum (scale): frugalnn keeps the
  int8 layer's output unrounded where onnxruntime and the reference round to 8 bits.
* Not applicable: non-float32 or non-tensor data, a data input without a batch dimension
  (rank < 2), and whatever load_onnx refuses with NotImplementedError (its message, naming
  the op and node, is the reason: non-batch-first axes, ranks the layers do not take,
  asymmetric padding, ...).

Every applicable case must pass, or be listed in ALLOWED_FAILURES with a reason.
Float outputs are compared with rtol = atol = 1e-4.
"""
import re
import warnings
from collections import defaultdict

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
node_cases = pytest.importorskip("onnx.backend.test.case.node")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.io import load_onnx  # noqa: E402

OPS = ["Gemm", "MatMul", "Conv", "Relu", "Clip", "Sigmoid", "MaxPool", "AveragePool", "GlobalAveragePool",
       "Flatten", "Reshape", "Add", "Sub", "Mul", "Div", "Concat", "Softmax", "BatchNormalization", "Identity",
       "Dropout", "HardSwish",
       "Transpose", "ReduceMean", "ReduceMax", "ReduceSum", "HardSigmoid", "LeakyRelu", "PRelu", "Tanh", "Elu",
       "Selu", "Gelu", "Exp", "Log", "Sqrt", "Pow", "Softplus", "Abs", "Neg", "Reciprocal", "Erf", "Max", "Min",
       "Slice", "Split", "Squeeze", "Unsqueeze", "Shape", "LogSoftmax", "Resize", "Upsample", "ConvTranspose",
       "QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "QLinearConv", "MatMulInteger", "ConvInteger",
       "DynamicQuantizeLinear"]
# Inputs that carry data (stay graph inputs); every other input becomes an initializer.
DATA_INPUTS = {"Add": None, "Concat": None, "Sub": None, "Mul": None, "Div": None, "Max": None, "Min": None}
# None: all of them
# (data input, its scale, its zero point) and (output scale, zero point) for bridging 8-bit tensors.
BRIDGE_IN = {"QLinearConv": (0, 1, 2), "QLinearMatMul": (0, 1, 2), "DequantizeLinear": (0, 1, 2)}
BRIDGE_OUT = {"QLinearConv": (6, 7), "QLinearMatMul": (6, 7), "QuantizeLinear": (1, 2)}

# Applicable cases that fail, each with the reason.
ALLOWED_FAILURES: dict[str, str] = {
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners with a scale giving a fractional length (4 x 0.6 = 2.4): onnx's reference divides by "
        "2.4 - 1, onnxruntime and frugalnn by the integer output length 2 - 1",
}

# Cases that pass today (onnx 1.23.2), per op: a floor, so that an importer or adapter change
# that refuses more fails here. Raise a figure when an op gains cases.
# The ops that pass none have their reasons in the table the test prints:
# * QuantizeLinear / DequantizeLinear: rank-1 inputs (no batch), per-axis scales (the bridge
#   needs per-tensor ones), or 2- / 4-bit, float8 / float4 and int16 tensors.
# * DynamicQuantizeLinear: rank-1 inputs, a uint8 output, and an expanded form with
#   Min / Max / Reduce* / Round.
# * MatMulInteger / ConvInteger: uint8 data inputs, which the adapter does not bridge (it
#   bridges QLinear* only).
# * QLinearMatMul / QLinearConv: weights with a nonzero zero point (asymmetric), which
#   frugalnn refuses: it runs symmetric int8 weights.
# Their bridging code runs in test_onnx_import.py (hand-built QDQ / QLinear models and
# onnxruntime's quantize_static / quantize_dynamic outputs), not here.
PASS_FLOOR = {
    "Add": 1, "AveragePool": 6, "BatchNormalization": 2, "Clip": 3, "Concat": 6, "Conv": 6, "Dropout": 4,
    "Flatten": 3, "Gemm": 8, "GlobalAveragePool": 2, "Identity": 1, "MatMul": 1, "MaxPool": 7, "Relu": 1,
    "Reshape": 6, "Sigmoid": 1, "Softmax": 5, "HardSwish": 2,
    "LogSoftmax": 5, "Mul": 1, "Sub": 1, "Div": 1, "QuantizeLinear": 0, "DequantizeLinear": 0,
    "DynamicQuantizeLinear": 0,
    "MatMulInteger": 0, "ConvInteger": 0, "QLinearMatMul": 0, "QLinearConv": 0,
    "Transpose": 2, "ReduceSum": 2, "HardSigmoid": 2, "LeakyRelu": 2, "PRelu": 1, "Tanh": 1, "Elu": 2,
    "Selu": 2, "Gelu": 2, "Exp": 1, "Log": 1, "Sqrt": 1, "Pow": 1, "Softplus": 1, "Abs": 1, "Neg": 1,
    "Reciprocal": 1, "Erf": 1, "Slice": 5, "Split": 5, "Squeeze": 1, "Unsqueeze": 6,
    # Reduce over other axes than (H, W), rank-1 or 3-input Max / Min, and Shape's int64 output
    # (a graph output here; inside a model it folds) are refused or not applicable.
    "ReduceMean": 0, "ReduceMax": 0, "Max": 0, "Min": 0, "Shape": 0,
    # Resize: cubic, tf_crop_and_resize and antialiased downsampling are refused; ConvTranspose:
    # 1-D and 3-D, and an output_shape a stride or more past the full result.
    "Resize": 21, "Upsample": 1, "ConvTranspose": 9,
}

TOL = 1e-4


def _cases():
    """{op: [(case, the op's node)]}: each op's node tests and their function-expanded forms."""
    with warnings.catch_warnings():  # the generators' own numpy casts warn; not ours to judge
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases()
    out, base = defaultdict(list), {}
    for case in cases:
        nodes = case.model.graph.node
        if len(nodes) == 1 and nodes[0].op_type in OPS and nodes[0].domain in ("", "ai.onnx"):
            out[nodes[0].op_type].append((case, nodes[0]))
            base[case.name] = nodes[0]
    for case in cases:
        root = re.sub(r"_expanded.*$", "", case.name)
        if root != case.name and root in base and len(case.model.graph.node) > 1:
            out[base[root].op_type].append((case, base[root]))
    return out


def _float_scale(a):
    return np.asarray(a, np.float32)


def _adapt(case, node):
    """(model, feeds, expected outputs, per-output quantum or None) or a not-applicable reason;
    ``node`` is the op's node (the model's only one, or the one its function expands)."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    g = model.graph
    if len(g.node) > 1:
        others = sorted({n.op_type for n in g.node} - set(OPS) - {"Constant", "Cast", "Mul"})
        if others:
            return f"function-expanded form uses ops outside the supported set: {', '.join(others)}"
    inputs, outputs = case.data_sets[0]
    values = {n: np.asarray(v) if isinstance(v, np.generic) else v
              for n, v in zip([n for n in node.input if n], inputs)}
    data_slots = DATA_INPUTS.get(node.op_type, [0])
    data_names = [n for i, n in enumerate(node.input) if n and (data_slots is None or i in data_slots)]
    for name, v in values.items():
        if name not in data_names:
            if isinstance(v, TensorProto):  # a type numpy lacks (float8, 4-bit): load_onnx judges it
                t = TensorProto()
                t.CopyFrom(v)
                t.name = name
                g.initializer.append(t)
            elif isinstance(v, np.ndarray):
                g.initializer.append(numpy_helper.from_array(v, name))
            else:
                return f"parameter '{name}' is not a tensor"
    kept = [vi for vi in g.input if vi.name in data_names]
    del g.input[:]
    g.input.extend(kept)
    feeds = {}
    bridge = BRIDGE_IN.get(node.op_type)
    for i, name in enumerate(node.input):
        if name not in data_names:
            continue
        v = values[name]
        if isinstance(v, TensorProto):
            return f"{TensorProto.DataType.Name(v.data_type)} data input"
        if not isinstance(v, np.ndarray):
            return f"input '{name}' is not a tensor"
        if v.ndim < 2:
            return f"rank-{v.ndim} data input: no batch dimension"
        if bridge and i == bridge[0] and v.dtype in (np.uint8, np.int8):
            scale = values.get(node.input[bridge[1]])
            zp = values.get(node.input[bridge[2]]) if len(node.input) > bridge[2] else None
            if scale is None or np.size(scale) != 1:
                return "bridging needs a per-tensor input scale"
            fname = f"{name}__float"
            s32, z = _float_scale(scale).reshape(()), 0 if zp is None else int(np.asarray(zp).reshape(-1)[0])
            g.initializer.append(numpy_helper.from_array(s32, f"{name}__scale32"))
            g.node.insert(0, helper.make_node("QuantizeLinear", [fname, f"{name}__scale32"]
                                              + ([node.input[bridge[2]]] if zp is not None else []), [name]))
            for vi in g.input:
                if vi.name == name:
                    vi.CopyFrom(helper.make_tensor_value_info(fname, TensorProto.FLOAT, v.shape))
            feeds[fname] = ((v.astype(np.float32) - np.float32(z)) * s32).astype(np.float32)
            continue
        if v.dtype != np.float32:
            return f"{v.dtype} data input"
        feeds[name] = v
    expected, quanta = [], []
    out_bridge = BRIDGE_OUT.get(node.op_type)
    for j, (vi, want) in enumerate(zip(list(g.output), outputs)):
        if isinstance(want, TensorProto):
            return f"{TensorProto.DataType.Name(want.data_type)} output"
        if not isinstance(want, np.ndarray):
            return f"output '{vi.name}' is not a tensor"
        if out_bridge and want.dtype in (np.uint8, np.int8):
            scale = values.get(node.input[out_bridge[0]])
            zp = values.get(node.input[out_bridge[1]]) if len(node.input) > out_bridge[1] else None
            if scale is None or np.size(scale) != 1:
                return "bridging needs a per-tensor output scale"
            s32 = _float_scale(scale).reshape(())
            z = 0 if zp is None else int(np.asarray(zp).reshape(-1)[0])
            g.initializer.append(numpy_helper.from_array(s32, f"{vi.name}__scale32"))
            zname = f"{vi.name}__zp"
            g.initializer.append(numpy_helper.from_array(np.asarray(z, want.dtype), zname))
            g.node.append(helper.make_node("DequantizeLinear", [vi.name, f"{vi.name}__scale32", zname],
                                           [f"{vi.name}__float"]))
            g.output[j].CopyFrom(helper.make_tensor_value_info(f"{vi.name}__float", TensorProto.FLOAT, None))
            expected.append(((want.astype(np.float32) - np.float32(z)) * s32).astype(np.float32))
            quanta.append(float(s32))
            continue
        if want.dtype != np.float32:
            return f"{want.dtype} output"
        expected.append(want)
        quanta.append(None)
    if not feeds:
        return "no data input"
    return model, feeds, expected, quanta


def _run(case, node):
    """('pass' | 'fail' | 'n/a', detail)."""
    adapted = _adapt(case, node)
    if isinstance(adapted, str):
        return "n/a", adapted
    model, feeds, expected, quanta = adapted
    try:
        g = load_onnx(model)
    except NotImplementedError as e:
        msg = str(e)
        if not (msg.startswith(("graph input", "graph output")) or " node '" in msg):
            return "fail", f"NotImplementedError without op / node: {msg}"
        return "n/a", msg
    except Exception as e:  # a wrong refusal is a failure
        return "fail", f"{type(e).__name__}: {e}"
    batch = next(iter(feeds.values())).shape[0]
    quantized = any(getattr(n.layer, "quant", None) is not None for n in g.nodes)
    try:
        program = compile(g, precision="int8" if quantized else "f32",
                          calibration=feeds if quantized else None)
        got = Session(program, max_batch=batch).run(feeds)
    except Exception as e:
        return "fail", f"{type(e).__name__}: {e}"
    got = [got] if isinstance(got, np.ndarray) else [got[o.name] for o in model.graph.output]
    for o, want, q, have in zip(model.graph.output, expected, quanta, got):
        if have.shape != want.shape:
            return "fail", f"output '{o.name}': shape {have.shape}, expected {want.shape}"
        ok = (np.all(np.abs(have - want) <= q * 1.001 + 1e-6) if q is not None
              else np.allclose(have, want, rtol=TOL, atol=TOL))
        if not ok:
            return "fail", f"output '{o.name}': max |diff| {np.max(np.abs(have - want)):.3g}"
    return "pass", ""


def _short(reason: str) -> str:
    """A reason without the node label and shapes, for grouping."""
    reason = reason.split("': ", 1)[1] if " node '" in reason else reason
    reason = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", "(…)", reason)
    return reason if len(reason) <= 110 else reason[:109] + "…"


def test_backend_node_cases(capsys):
    table, failures = {}, []
    for op, cases in sorted(_cases().items()):
        counts = {"pass": 0, "fail": 0, "n/a": 0}
        reasons = defaultdict(int)
        for case, node in cases:
            status, detail = _run(case, node)
            if status == "fail" and case.name in ALLOWED_FAILURES:
                status, detail = "n/a", f"allowed failure: {ALLOWED_FAILURES[case.name]}"
            counts[status] += 1
            if status == "n/a":
                reasons[_short(detail)] += 1
            elif status == "fail":
                failures.append(f"{case.name}: {detail}")
        table[op] = (counts, reasons)
    with capsys.disabled():
        print("\nONNX backend node tests (op: passed / failed / not applicable)")
        for op, (c, reasons) in table.items():
            print(f"  {op:<22} {c['pass']:>3} / {c['fail']:>2} / {c['n/a']:>3}")
            for r, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
                print(f"      n/a x{n}: {r}")
    assert set(table) == set(OPS), f"ops without backend cases: {sorted(set(OPS) - set(table))}"
    assert set(PASS_FLOOR) == set(OPS)
    below = {op: (c["pass"], PASS_FLOOR[op]) for op, (c, _) in table.items() if c["pass"] < PASS_FLOOR[op]}
    assert not below, f"ops passing fewer cases than before (passed, floor): {below}"
    assert not failures, "\n".join(failures)
