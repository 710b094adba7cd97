"""An element-wise function after a Conv2d / Dense runs in its epilogue (one step, no stored
pre-activation tensor): the same values as the two-step program, bit for bit (both run the
same kernel on the same GEMM output), and the float64 reference, at every ISA level, every
weight precision, with a fused clamp before it and a fused max-pool after it; through a .fnn
file and back; with a hostile fused record refused."""
import numpy as np
import pytest

import frugalnn
from frugalnn import reference
from frugalnn.compress import codebook
from frugalnn.graph import (Add, Conv2d, Dense, Flatten, Graph, MaxPool2d, ReLU, Sequential, Session, Unary,
                            compile)
from frugalnn.graph.ops.hard_swish import HardSwish
from frugalnn.graph.ops.sigmoid import Sigmoid
from frugalnn.graph.ops.unary import FUNCTIONS

CONSTANTS = {"quantize_dequantize": (0.05, 3), "silu_quantized_gate": (1 / 256, 0), "leaky_relu": (0.1, 0), "elu": (0.7, 0), "pow": (2.0, 0),
             "hard_sigmoid": (0.2, 0.5), "selu": (1.6733, 1.0507)}
POSITIVE = {"log", "sqrt", "pow", "reciprocal"}  # defined (or accurate) on positive inputs only


def _activation(fn):
    if fn == "sigmoid":
        return Sigmoid()
    if fn == "hard_swish":
        return HardSwish()
    return Unary(fn, *CONSTANTS.get(fn, (0, 0)))


def _w(rng, *shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _producer(kind, rng, act, conv_activation=None):
    """A one-layer graph of `kind` followed by `act`; (graph, input shape)."""
    if kind == "dense":
        return Sequential([Flatten(), Dense(_w(rng, 19, 5 * 7), _w(rng, 19), activation=conv_activation), act],
                          input_shape=(5, 7)), (5, 7)
    shapes = {"conv3x3": ((13, 3, 3, 3), 1, 1), "pointwise": ((24, 3, 1, 1), 1, 0),
              "grouped": ((12, 1, 3, 3), 3, 1), "depthwise": ((3, 1, 3, 3), 3, 1),
              "strided": ((17, 3, 3, 3), 1, 1)}
    wshape, groups, pad = shapes[kind]
    stride = 2 if kind == "strided" else 1
    conv = Conv2d(_w(rng, *wshape), _w(rng, wshape[0], scale=0.1), padding=pad, stride=stride, groups=groups,
                  activation=conv_activation)
    return Sequential([conv, act], input_shape=(3, 11, 9)), (3, 11, 9)


def _inputs(fn, shape, batch=3, seed=1):
    x = np.random.default_rng(seed).standard_normal((batch,) + shape).astype(np.float32)
    return x


def _fused_kinds(program):
    return [s.kind for s in program.steps]


@pytest.mark.parametrize("fn", sorted(FUNCTIONS) + ["sigmoid", "hard_swish"])
@pytest.mark.parametrize("kind", ["conv3x3", "pointwise", "depthwise", "dense"])
def test_every_function_fuses_and_matches(fn, kind, isa):
    rng = np.random.default_rng(len(fn) * 7 + len(kind))
    g, shape = _producer(kind, rng, _activation(fn))
    if fn in POSITIVE:  # keep the producer's output positive: a large bias
        g.nodes[-2].layer.bias = (np.abs(g.nodes[-2].layer.bias) + 20).astype(np.float32)
    x = _inputs(fn, shape)
    fused = compile(g)
    plain = compile(g, fuse_activations=False)
    producer = "dense" if kind == "dense" else ("depthwise_conv2d" if kind == "depthwise" else "conv2d")
    assert f"{producer}+{fn}" in _fused_kinds(fused)
    assert len(fused.steps) == len(plain.steps) - 1
    got = Session(fused, max_batch=3).run(x)
    want = Session(plain, max_batch=3).run(x)
    np.testing.assert_array_equal(got, want)
    ref = reference.forward(g, x)[g.outputs[0]]
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-5 * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("kind", ["conv3x3", "pointwise", "grouped", "depthwise", "strided", "dense"])
@pytest.mark.parametrize("precision", ["f32", "f16", "bf16", "int8", "codebook"])
def test_precisions_and_threads(kind, precision, isa):
    rng = np.random.default_rng(5)
    g, shape = _producer(kind, rng, Unary("silu"))
    x = _inputs("silu", shape, batch=5, seed=2)
    if precision == "codebook":
        g = codebook(g, 4)
        fused, plain = compile(g), compile(g, fuse_activations=False)
    else:
        fused = compile(g, precision=precision, calibration=x)
        plain = compile(g, precision=precision, calibration=x, fuse_activations=False)
    assert any(k.endswith("+silu") for k in _fused_kinds(fused))
    for threads in (1, 2):
        got = Session(fused, max_batch=5, num_threads=threads).run(x)
        want = Session(plain, max_batch=5, num_threads=threads).run(x)
        np.testing.assert_array_equal(got, want)


def test_clamp_before_and_pool_after():
    """conv (ReLU fused) -> HardSwish -> max-pool: clamp, then the function, then the pool, all
    in one step; a Clip after the function stays its own step."""
    rng = np.random.default_rng(3)
    g = Sequential([Conv2d(_w(rng, 8, 2, 3, 3), _w(rng, 8), padding=1), ReLU(), HardSwish(), MaxPool2d(2)],
                   input_shape=(2, 10, 10))
    x = _inputs("hard_swish", (2, 10, 10))
    fused = compile(g)
    assert _fused_kinds(fused)[1:] == ["conv2d+hard_swish+maxpool2d", "to_nchw"]
    got = Session(fused, max_batch=3).run(x)
    ref = reference.forward(g, x)[g.outputs[0]]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # Unfused, the pool is a step of its own and the conv runs in other tiles: float sums in
    # other chains, last-ulp differences (as tests/graph/test_fused_pool.py finds).
    plain = Session(compile(g, fuse_activations=False), max_batch=3).run(x)
    np.testing.assert_allclose(got, plain, rtol=1e-6, atol=1e-6 * np.abs(plain).max())


def test_not_fused_where_another_step_reads_the_pre_activation():
    rng = np.random.default_rng(4)
    g = Graph()
    x = g.input("x", (6,))
    h = Dense(_w(rng, 4, 6), _w(rng, 4))(x)
    g.output(Unary("tanh")(h), "y")
    g.output(h, "pre")
    p = compile(g)
    assert "dense" in _fused_kinds(p) and "unary:tanh" in _fused_kinds(p)
    xs = _inputs("tanh", (6,))
    out = Session(p, max_batch=3).run(xs)
    np.testing.assert_allclose(out["y"], np.tanh(out["pre"]), rtol=1e-6, atol=1e-7)


def test_sparse_dense_keeps_its_activation_step():
    rng = np.random.default_rng(6)
    w = _w(rng, 8, 16)
    w[np.abs(w) < 0.4] = 0
    g = Sequential([Dense(w, _w(rng, 8)), Sigmoid()], input_shape=(16,))
    p = compile(g, precision="sparse")
    assert _fused_kinds(p) == ["sparse_dense", "sigmoid"]


def test_int8_producer_writes_float_then_quantizes_for_the_next_int8_layer():
    rng = np.random.default_rng(7)
    g = Sequential([Conv2d(_w(rng, 6, 3, 3, 3), _w(rng, 6), padding=1), Unary("silu"),
                    Conv2d(_w(rng, 4, 6, 3, 3), _w(rng, 4), padding=1)], input_shape=(3, 8, 8))
    x = _inputs("silu", (3, 8, 8), batch=4)
    fused = compile(g, precision="int8", calibration=x)
    plain = compile(g, precision="int8", calibration=x, fuse_activations=False)
    assert _fused_kinds(fused)[1:] == ["quantize", "conv2d+silu", "quantize", "conv2d", "to_nchw"]
    np.testing.assert_array_equal(Session(fused, max_batch=4).run(x), Session(plain, max_batch=4).run(x))


def test_fusion_saves_memory():
    """The pre-activation map is never stored: fewer buffers (the naive total shrinks by two
    maps). The arena does not grow; here it stays, since the planner already reuses those
    buffers and the residual Add needs three maps alive anyway."""
    rng = np.random.default_rng(8)
    g = Graph()
    x = g.input("x", (16, 16, 16))
    h = Unary("silu")(Conv2d(_w(rng, 16, 16, 3, 3), _w(rng, 16), padding=1)(x))
    h = Sigmoid()(Conv2d(_w(rng, 16, 16, 1, 1), _w(rng, 16))(h))
    g.output(Add()(x, h), "y")
    fused = Session(compile(g), max_batch=8).memory_report()
    plain = Session(compile(g, fuse_activations=False), max_batch=8).memory_report()
    assert fused.naive_bytes == plain.naive_bytes - 2 * 16 * 16 * 16 * 4 * 8
    assert fused.arena_bytes <= plain.arena_bytes
    xs = np.random.default_rng(0).standard_normal((8, 16, 16, 16)).astype(np.float32)
    ref = reference.forward(g, xs)["y"]
    np.testing.assert_allclose(Session(compile(g), max_batch=8).run(xs), ref, rtol=2e-5, atol=2e-5)


def test_fnn_round_trip_and_hostile_records(tmp_path):
    rng = np.random.default_rng(9)
    g = Sequential([Conv2d(_w(rng, 5, 2, 3, 3), _w(rng, 5), padding=1), Unary("leaky_relu", 0.2),
                    Conv2d(_w(rng, 5, 1, 3, 3), _w(rng, 5), padding=1, groups=5), Unary("gelu"),
                    Flatten(), Dense(_w(rng, 3, 5 * 6 * 6), _w(rng, 3)), HardSwish()], input_shape=(2, 6, 6))
    p = compile(g)
    path = tmp_path / "fused.fnn"
    frugalnn.save(p, path)
    q = frugalnn.load(path)
    assert [s.kind for s in q.steps] == [s.kind for s in p.steps]
    x = _inputs("gelu", (2, 6, 6))
    np.testing.assert_array_equal(Session(q, max_batch=3).run(x), Session(p, max_batch=3).run(x))
    data = path.read_bytes()
    from frugalnn import _core
    # The dense step's record ends with u8 1 (one function), u64 op 19, f32 alpha beta lo hi:
    # corrupt the op and the count, reseal the checksums as a crafted file would, and expect
    # clean FormatErrors.
    tail = (1).to_bytes(1, "little") + (19).to_bytes(8, "little")
    at = data.find(tail)
    assert at > 0
    for offset, value, match in ((1, (99).to_bytes(8, "little"), "unknown unary function"),
                                 (0, (0).to_bytes(1, "little"), "a count of 0 fused activations"),
                                 (0, (5).to_bytes(1, "little"), "a count of 5 fused activations"),
                                 (0, (2).to_bytes(1, "little"), "truncated|past|left|exceeds|bytes")):
        bad = bytearray(data)
        bad[at + offset:at + offset + len(value)] = value
        bad = _core.fnn_reseal(bytes(bad))
        hostile = tmp_path / f"bad{offset}.fnn"
        hostile.write_bytes(bad)
        with pytest.raises(frugalnn.FormatError, match=match):
            frugalnn.load(hostile)


def test_a_chain_of_functions_fuses_in_order(isa):
    """A QDQ model's conv -> quantize_dequantize -> SiLU with a quantized gate ->
    quantize_dequantize is one step; at most four functions fuse, the rest stay steps."""
    rng = np.random.default_rng(11)
    chain = [Unary("quantize_dequantize", 0.05, 128), Unary("silu_quantized_gate", 1 / 256, 0),
             Unary("quantize_dequantize", 0.04, 20), Unary("leaky_relu", 0.2), Unary("tanh")]
    g = Sequential([Conv2d(_w(rng, 6, 3, 3, 3), _w(rng, 6), padding=1)] + chain, input_shape=(3, 7, 7))
    x = _inputs("silu", (3, 7, 7))
    fused = compile(g)
    plain = compile(g, fuse_activations=False)
    kinds = _fused_kinds(fused)
    assert "conv2d+quantize_dequantize+silu_quantized_gate+quantize_dequantize+leaky_relu" in kinds
    assert "unary:tanh" in kinds
    np.testing.assert_array_equal(Session(fused, max_batch=3).run(x), Session(plain, max_batch=3).run(x))
    np.testing.assert_allclose(Session(fused, max_batch=3).run(x), reference.forward(g, x)[g.outputs[0]],
                               rtol=1e-5, atol=0.05)  # a quantum of the last quantize_dequantize at most
