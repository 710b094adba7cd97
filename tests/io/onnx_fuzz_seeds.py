"""The valid ONNX models the ONNX fuzzer mutates. Small (8x8 images, a few channels),
built with onnx.helper or frugalnn's own exporter, and together they cover every op family
load_onnx handles. Grouped, depthwise, dilated, strided and padded Conv, QDQ and QLinear
quantization, Gemm / MatMul, max / average / global pooling, Reshape / Flatten, Concat,
Add, Softmax, Clip, BatchNormalization, and constant subgraphs the importer folds
(Constant, ConstantOfShape, Range, Tile, Expand, Concat, a Loop).

Each seed is (name, model, quantized). Quantized seeds carry QuantParams and compile at
int8 without calibration. tests/io/test_onnx_fuzz.py checks that every seed loads, compiles
and runs, so a mutator change cannot silently start from broken models.
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
N = helper.make_node


def _rnd(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _model(nodes, inputs, inits, outputs=("y",), opset=OPSET, domains=()):
    g = helper.make_graph(
        nodes, "seed",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *s]) for n, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    m = helper.make_model(g, opset_imports=opsets)
    m.ir_version = 8
    return m


def _const(name, value):
    return N("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name))


def conv_net(rng):
    """Padded conv, max-pool, grouped dilated conv, BatchNorm, Clip, global pool, Gemm, Softmax."""
    inits = {"w1": _rnd(rng, 4, 2, 3, 3), "b1": _rnd(rng, 4, scale=0.1), "w2": _rnd(rng, 4, 2, 3, 3),
             "g": np.abs(_rnd(rng, 4)) + 0.5, "be": _rnd(rng, 4), "mu": _rnd(rng, 4),
             "var": np.abs(_rnd(rng, 4)) + 0.5, "lo": np.float32(0), "hi": np.float32(6),
             "w3": _rnd(rng, 3, 4), "b3": _rnd(rng, 3)}
    nodes = [N("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv1"),
             N("Relu", ["c1"], ["r1"], name="relu1"),
             N("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
             N("Conv", ["p1", "w2"], ["c2"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2], strides=[1, 1],
               name="conv2"),
             N("BatchNormalization", ["c2", "g", "be", "mu", "var"], ["bn"], epsilon=1e-5, name="bn"),
             N("Clip", ["bn", "lo", "hi"], ["cl"], name="clip"),
             N("GlobalAveragePool", ["cl"], ["gp"], name="gap"),
             N("Flatten", ["gp"], ["f"], axis=1, name="flatten"),
             N("Gemm", ["f", "w3", "b3"], ["gm"], transB=1, alpha=1.0, beta=1.0, name="fc"),
             N("Softmax", ["gm"], ["y"], axis=-1, name="softmax")]
    return _model(nodes, {"x": (2, 8, 8)}, inits)


def depthwise_net(rng):
    """Strided depthwise conv, padded average pool, Concat, 1x1 conv, Add, Reshape, MatMul."""
    inits = {"wd": _rnd(rng, 4, 1, 3, 3), "bd": _rnd(rng, 4, scale=0.1), "w1": _rnd(rng, 8, 8, 1, 1),
             "shape": np.array([0, -1], np.int64), "wm": _rnd(rng, 128, 5), "bm": _rnd(rng, 5)}
    nodes = [N("Conv", ["x", "wd", "bd"], ["d"], group=4, pads=[1, 1, 1, 1], strides=[2, 2], name="dw"),
             N("AveragePool", ["d"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1],
               count_include_pad=0, name="avg"),
             N("Concat", ["d", "a"], ["c"], axis=1, name="cat"),
             N("Conv", ["c", "w1"], ["z"], name="pw"),
             N("Add", ["c", "z"], ["s"], name="add"),
             N("Reshape", ["s", "shape"], ["r"], name="reshape"),
             N("MatMul", ["r", "wm"], ["mm"], name="mm"),
             N("Add", ["mm", "bm"], ["y"], name="bias")]
    return _model(nodes, {"x": (4, 8, 8)}, inits)


def mlp(rng):
    inits = {"w1": _rnd(rng, 16, 8), "b1": _rnd(rng, 8), "w2": _rnd(rng, 8, 3), "b2": _rnd(rng, 3)}
    nodes = [N("Flatten", ["x"], ["f"], name="flatten"), N("MatMul", ["f", "w1"], ["m"], name="mm"),
             N("Add", ["m", "b1"], ["a"], name="bias"), N("Relu", ["a"], ["r"], name="relu"),
             N("Gemm", ["r", "w2", "b2"], ["g"], alpha=0.5, beta=2.0, name="gemm"),
             N("Sigmoid", ["g"], ["y"], name="sigmoid")]
    return _model(nodes, {"x": (1, 4, 4)}, inits)


def folded_constants(rng):
    """Constant subgraphs the importer evaluates: ConstantOfShape, Range, Cast, Expand, Tile,
    Concat and a Loop with a constant trip count, feeding Mul / Add / Sub / Reshape."""
    body = helper.make_graph(
        [N("Identity", ["cond_in"], ["cond_out"]), N("Add", ["acc_in", "one"], ["acc_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    nodes = [_const("four", np.array([4], np.int64)),
             N("ConstantOfShape", ["four"], ["half"], value=numpy_helper.from_array(np.array([0.5], np.float32)),
               name="cos"),
             N("Mul", ["x", "half"], ["m"], name="mul"),
             _const("start", np.array(0, np.int64)), _const("limit", np.array(4, np.int64)),
             _const("delta", np.array(1, np.int64)),
             N("Range", ["start", "limit", "delta"], ["rg"], name="range"),
             N("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT, name="cast"),
             N("Add", ["m", "rgf"], ["a"], name="add_range"),
             _const("trips", np.array(3, np.int64)), _const("cond", np.array(True)),
             _const("acc0", np.zeros(1, np.float32)),
             N("Loop", ["trips", "cond", "acc0"], ["acc"], body=body, name="loop"),
             N("Add", ["a", "acc"], ["b"], name="add_loop"),
             _const("onef", np.ones(1, np.float32)),
             N("Expand", ["onef", "four"], ["e"], name="expand"),
             N("Sub", ["b", "e"], ["s"], name="sub"),
             _const("two", np.array([2], np.int64)), _const("reps", np.array([2], np.int64)),
             N("Tile", ["two", "reps"], ["tt"], name="tile"),
             _const("minus1", np.array([-1], np.int64)),
             N("Concat", ["minus1", "tt"], ["shape"], axis=0, name="shape_cat"),
             N("Reshape", ["s", "shape"], ["r"], name="reshape"),
             N("Flatten", ["r"], ["f"], name="flatten"),
             N("Softmax", ["f"], ["y"], axis=1, name="softmax")]
    return _model(nodes, {"x": (4,)}, {})


def _quant_weights(rng, shape, axis=0):
    w = _rnd(rng, *shape)
    per = np.abs(np.moveaxis(w, axis, 0).reshape(shape[axis], -1)).max(1) / 127
    ws = per.astype(np.float32)
    bshape = [1] * len(shape)
    bshape[axis] = shape[axis]
    w8 = np.clip(np.rint(w / ws.reshape(bshape)), -127, 127).astype(np.int8)
    return w8, ws


def qdq_net(rng):
    """QDQ: quantized input, conv with per-channel int8 weights, requantized, MatMul with
    per-tensor int8 weights."""
    w8, ws = _quant_weights(rng, (4, 2, 3, 3))
    m8, ms = _quant_weights(rng, (64, 3), axis=1)
    inits = {"xs": np.float32(2 / 255), "xz": np.uint8(0), "w8": w8, "ws": ws, "wz": np.zeros(4, np.int8),
             "bf": _rnd(rng, 4, scale=0.1), "ys": np.float32(0.02), "yz": np.uint8(128),
             "m8": m8, "ms": np.float32(ms.max()), "mz": np.int8(0)}
    nodes = [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="qx"),
             N("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="dqx"),
             N("DequantizeLinear", ["w8", "ws", "wz"], ["wd"], axis=0, name="dqw"),
             N("Conv", ["xd", "wd", "bf"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv"),
             N("Relu", ["c"], ["r"], name="relu"),
             N("QuantizeLinear", ["r", "ys", "yz"], ["rq"], name="qr"),
             N("DequantizeLinear", ["rq", "ys", "yz"], ["rd"], name="dqr"),
             N("Flatten", ["rd"], ["f"], name="flatten"),
             N("DequantizeLinear", ["m8", "ms", "mz"], ["md"], name="dqm"),
             N("MatMul", ["f", "md"], ["y"], name="mm")]
    return _model(nodes, {"x": (2, 8, 8)}, inits, opset=13)


def qlinear_net(rng):
    """QOperator: QLinearConv, uint8 MaxPool and Flatten, QLinearMatMul, DequantizeLinear."""
    w8, ws = _quant_weights(rng, (4, 2, 3, 3))
    m8, ms = _quant_weights(rng, (64, 3), axis=1)
    xs, cs = np.float32(2 / 255), np.float32(0.03)
    inits = {"xs": xs, "xz": np.uint8(0), "w8": w8, "ws": ws, "wz": np.zeros(4, np.int8),
             "cs": cs, "cz": np.uint8(100), "b32": np.rint(_rnd(rng, 4) / (xs * ws)).astype(np.int32),
             "m8": m8, "ms": np.float32(ms.max()), "mz": np.int8(0), "ys": np.float32(0.05), "yz": np.uint8(128)}
    nodes = [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="qx"),
             N("QLinearConv", ["xq", "xs", "xz", "w8", "ws", "wz", "cs", "cz", "b32"], ["cq"], pads=[1, 1, 1, 1],
               name="qconv"),
             N("MaxPool", ["cq"], ["pq"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
             N("Flatten", ["pq"], ["fq"], name="flatten"),
             N("QLinearMatMul", ["fq", "cs", "cz", "m8", "ms", "mz", "ys", "yz"], ["yq"], name="qmm"),
             N("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dqy")]
    return _model(nodes, {"x": (2, 8, 8)}, inits, opset=13)


def exported_net(rng):
    """frugalnn's own exporter: 'same' strided conv, ReLU6, average pool, Dense, Softmax."""
    from frugalnn.graph import AvgPool2d, Conv2d, Dense, Flatten, Sequential, Softmax
    from frugalnn.io import to_onnx

    g = Sequential([Conv2d(_rnd(rng, 3, 2, 3, 3), _rnd(rng, 3), stride=2, padding="same", activation="relu6",
                           name="conv"),
                    AvgPool2d(2, name="pool"), Flatten(name="flat"), Dense(_rnd(rng, 4, 12), _rnd(rng, 4), name="fc"),
                    Softmax(name="sm")], input_shape=(2, 8, 8))
    return to_onnx(g)


def seeds() -> list[tuple[str, object, bool]]:
    """(name, ModelProto, quantized) of every seed, built from one fixed stream."""
    rng = np.random.default_rng(12)
    return [("conv", conv_net(rng), False), ("depthwise", depthwise_net(rng), False), ("mlp", mlp(rng), False),
            ("folded", folded_constants(rng), False), ("qdq", qdq_net(rng), True),
            ("qlinear", qlinear_net(rng), True), ("exported", exported_net(rng), False)]
