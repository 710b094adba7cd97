"""Quantization-aware training: the fake-quant kernels and the straight-through backward of the
QAT Dense / Conv2d ops against numpy references, the QAT forward against the int8 runtime, a
model that post-training quantization breaks and QAT repairs, zero allocations per step, and
bad input."""
from __future__ import annotations

import copy
import textwrap

import numpy as np
import pytest
from tests.malloc_count import run_counted
from tests.train.test_native_kernels import conv_backward_ref, conv_ref

from frugalnn import _core, models
from frugalnn.compress import precision_of, qat, quantize
from frugalnn.graph import Conv2d, Dense, Flatten, GraphError, Sequential, Session, compile
from frugalnn.train import Adam, Trainer, fit
from frugalnn.train.trainer import plan_training
from frugalnn.train.ops.fake_quant import Conv2dFakeQuant, DenseFakeQuant, fake_quant_trainop


# ---- numpy references ----------------------------------------------------------------------

def fq_u8_ref(x, scale, zp):
    """u8 QuantizeLinear (x / scale, round half to even, + zp, clamp) then DequantizeLinear, in
    float32 as the runtime computes it; and where the unclamped value was inside [0, 255]."""
    s = np.float32(scale)
    r = np.rint(x / s) + np.float32(zp)
    return ((np.clip(r, 0, 255) - np.float32(zp)) * s).astype(np.float32), (r >= 0) & (r <= 255)


def fq_s8_ref(w, per_channel=True):
    """s8 symmetric: scale = max|w| / 127 per output channel (axis 0) or over all of w."""
    a = np.abs(w.reshape(len(w), -1)).max(axis=1) if per_channel else np.full(len(w), np.abs(w).max())
    s = np.where(a > 0, a / np.float32(127), np.float32(1)).astype(np.float32).reshape((-1,) + (1,) * (w.ndim - 1))
    return (np.clip(np.rint(w / s), -127, 127) * s).astype(np.float32)


# ---- the kernels -----------------------------------------------------------------------------

@pytest.mark.parametrize("scale, zp", [(0.02, 0), (0.02, 128), (0.05, 255), (1.0, 7), (3e-4, 31)])
@pytest.mark.parametrize("n", [1, 17, 100_003])
def test_fake_quant_u8_is_quantize_dequantize(scale, zp, n):
    rng = np.random.default_rng(n + zp)
    x = (rng.standard_normal(n) * 200 * scale).astype(np.float32)
    x[: n // 4] = (rng.integers(-300, 300, n // 4) + 0.5).astype(np.float32) * np.float32(scale)  # ties
    if n > 10:
        x[:4] = [0.0, -0.0, 1e30, -1e30]
    y, keep = np.empty_like(x), np.full(n, 7, np.uint8)
    _core.fake_quant_u8(x, y, keep, scale, zp)
    ref, inside = fq_u8_ref(x, scale, zp)
    assert np.array_equal(y, ref)
    assert np.array_equal(keep, inside.astype(np.uint8))
    # every output is a representable u8 value, and in place gives the same
    q = np.rint(y / np.float32(scale)) + zp
    assert q.min() >= 0 and q.max() <= 255
    x2 = x.reshape(-1, 1).copy()
    _core.fake_quant_u8(x2, x2, None, scale, zp)
    assert np.array_equal(x2.ravel(), ref)


@pytest.mark.parametrize("shape", [(1, 1), (10, 7), (64, 3, 3, 8), (300, 1000)])
@pytest.mark.parametrize("per_channel", [True, False])
def test_fake_quant_s8_is_quantize_dequantize(shape, per_channel):
    rng = np.random.default_rng(len(shape))
    w = (rng.standard_normal(shape) * rng.uniform(0.01, 10, (shape[0],) + (1,) * (len(shape) - 1))).astype(np.float32)
    if shape[0] > 1:
        w[1] = 0  # an all-zero channel: scale 1, zeros
    wq = np.empty_like(w)
    _core.fake_quant_s8(w, wq, per_channel)
    assert np.array_equal(wq, fq_s8_ref(w, per_channel))
    # the largest |w| per channel is on the grid: nothing clipped
    a = np.abs(w.reshape(len(w), -1)).max(axis=1)
    np.testing.assert_allclose(np.abs(wq.reshape(len(w), -1)).max(axis=1)[a > 0] if per_channel else np.abs(wq).max(),
                               a[a > 0] if per_channel else a.max(), rtol=1e-6)


# ---- the ops: forward and the straight-through backward --------------------------------------

def _op_buffers(op, batch):
    def make(specs):
        return {k: np.empty(((batch,) if s.batched else ()) + s.shape, s.dtype) for k, s in specs.items()}
    saved = make(op.saved)
    return saved | make(op.forward_scratch), saved | make(op.scratch)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("with_dx", [True, False])
def test_dense_fake_quant_forward_and_ste_backward(per_channel, with_dx):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((12, 40)) * 0.3).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    layer = Dense(w, b, name="fc")
    q = quantize(Sequential([layer], input_shape=(40,)), rng.standard_normal((8, 40)).astype(np.float32),
                 per_channel=per_channel)
    layer = q.nodes[0].layer  # calibrated on N(0, 1): x below, at 1.5x that, clips at both ends
    op = fake_quant_trainop(layer, [(40,)], (12,))
    assert isinstance(op, DenseFakeQuant)
    op.fuse(0.0, np.inf)  # a fused ReLU
    x = (rng.standard_normal((9, 40)) * 1.5).astype(np.float32)
    fb, bb = _op_buffers(op, 9)
    y = np.empty((9, 12), np.float32)
    op.forward([x], y, fb, True)
    xq, keep = fq_u8_ref(x, layer.quant.input_scale, layer.quant.input_zero_point)
    assert 0 < keep.mean() < 1
    wq = fq_s8_ref(w, per_channel)
    yref = np.maximum(xq.astype(np.float64) @ wq.T.astype(np.float64) + b, 0)
    np.testing.assert_allclose(y, yref, rtol=1e-5, atol=1e-5)

    dy = rng.standard_normal((9, 12)).astype(np.float32)
    op.w.grad, op.b.grad = np.empty_like(w), np.empty_like(b)
    dx = np.empty_like(x) if with_dx else None
    op.backward([x], y, dy.copy(), [dx], bb)
    g = dy.astype(np.float64) * (yref > 0)  # the ReLU's backward
    np.testing.assert_allclose(op.w.grad, g.T @ xq, rtol=1e-5, atol=1e-5)  # against the fake-quantized input
    np.testing.assert_allclose(op.b.grad, g.sum(0), rtol=1e-5, atol=1e-5)
    if with_dx:
        np.testing.assert_allclose(dx, (g @ wq) * keep, rtol=1e-5, atol=1e-5)  # zero where x was clipped
        assert np.all(dx[~keep] == 0)


@pytest.mark.parametrize("groups, stride, padding", [(1, 1, "same"), (2, 2, 1), (4, 1, 0)])
def test_conv_fake_quant_forward_and_ste_backward(groups, stride, padding):
    rng = np.random.default_rng(groups)
    c, o, h = 4, 8, 7
    w = (rng.standard_normal((o, c // groups, 3, 3)) * 0.4).astype(np.float32)  # OIHW
    b = rng.standard_normal(o).astype(np.float32)
    conv = Conv2d(w, b, stride=stride, padding=padding, groups=groups, name="conv")
    q = quantize(Sequential([conv], input_shape=(c, h, h)), rng.random((4, c, h, h), dtype=np.float32))
    layer = q.nodes[0].layer
    out_shape = q.shapes[q.outputs[0]]
    op = fake_quant_trainop(layer, [(c, h, h)], out_shape)
    assert isinstance(op, Conv2dFakeQuant)
    x = (rng.random((3, h, h, c), dtype=np.float32) * 1.4 - 0.2)  # NHWC, beyond the calibrated [0, 1)
    fb, bb = _op_buffers(op, 3)
    y = np.empty((3,) + (out_shape[1], out_shape[2], o), np.float32)
    op.forward([x], y, fb, True)
    xq, keep = fq_u8_ref(x, layer.quant.input_scale, layer.quant.input_zero_point)
    assert 0 < keep.mean() < 1
    wq = fq_s8_ref(w).transpose(0, 2, 3, 1)  # per output channel, then OHWI as the op holds it
    geo = dict(stride=(stride, stride), dilation=(1, 1), pads=tuple(layer.pads(h, h)), groups=groups)
    np.testing.assert_allclose(y, conv_ref(xq, wq, b, **geo), rtol=1e-5, atol=1e-5)

    dy = rng.standard_normal(y.shape).astype(np.float32)
    op.w.grad, op.b.grad = np.empty_like(op.w.value), np.empty_like(b)
    dx = np.empty_like(x)
    op.backward([x], y, dy.copy(), [dx], bb)
    dx_ref, dw_ref, db_ref = conv_backward_ref(xq, wq, dy, **geo)
    np.testing.assert_allclose(op.w.grad, dw_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(op.b.grad, db_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dx, dx_ref * keep, rtol=1e-5, atol=1e-5)


def test_only_quantized_layers_get_fake_quant():
    g = models.digits_cnn(pretrained=True)
    x = models.digit_samples()[0]
    q = quantize(g, x, keep_float=["fc2"])
    t = Trainer(q, fake_quant=True, max_batch=4)
    kinds = {u.op.name: type(u.op).__name__ for u in t.units if u.op.layer.op in ("conv2d", "dense")}
    assert kinds == {"conv1": "Conv2dFakeQuant", "conv2": "Conv2dFakeQuant", "fc1": "DenseFakeQuant",
                     "fc2": "DenseTrain"}
    assert all(type(u.op).__name__ != "Conv2dFakeQuant" for u in Trainer(q, max_batch=4).units)  # opt-in
    # the fake-quantized weights are planned in the arena (one float per weight of the int8 layers)
    plain, fq = plan_training(q, 4), plan_training(q, 4, fake_quant=True)
    assert fq == t.memory_report()
    int8_weights = sum(n.layer.weight.size for n in q.nodes if n.layer.name != "fc2" and hasattr(n.layer, "weight"))
    assert fq.naive_bytes - plain.naive_bytes >= 4 * int8_weights
    assert fq.arena_bytes > plain.arena_bytes
    # after training, write_back makes the int8 layers' QuantParams again from the new weights
    inputs = {n.layer.name: (n.layer.quant.input_scale, n.layer.quant.input_zero_point) for n in q.nodes
              if n.layer.name in precision_of(q)}
    t.train_step(x[:4], models.digit_samples()[1][:4])
    t.write_back()
    for node in q.nodes:
        layer = node.layer
        if layer.name in inputs:
            assert (layer.quant.input_scale, layer.quant.input_zero_point) == inputs[layer.name]
            s = layer.quant.weight_scale.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
            assert np.array_equal(layer.quant.weight * s, fq_s8_ref(layer.weight))


# ---- the QAT forward is the int8 runtime -----------------------------------------------------

def test_single_layer_forward_equals_the_int8_runtime(isa):
    """One int8 layer with a float output: the runtime computes sum(u8 - zp) * s8 exactly in
    int32 and scales once; training sums the same dequantized products in float32. Both are
    exact to float32 rounding, so they agree to ~1e-6 of the output's magnitude."""
    rng = np.random.default_rng(0)
    g = Sequential([Conv2d((rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32),
                           rng.standard_normal(6).astype(np.float32), padding=1, name="conv"),
                    Flatten(), Dense((rng.standard_normal((5, 6 * 8 * 8)) * 0.05).astype(np.float32), name="fc")],
                   input_shape=(3, 8, 8))
    x = rng.random((16, 3, 8, 8), dtype=np.float32)
    for keep in (["fc"], ["conv"]):
        q = quantize(g, x[:8], keep_float=keep)
        a = Trainer(q, fake_quant=True, max_batch=16).predict(x)
        b = Session(compile(q, precision=precision_of(q)), max_batch=16).run(x)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


@pytest.fixture(scope="module")
def digits():
    """A digits CNN trained to convergence in float, then made hard for int8: per output
    channel of conv1 and fc1, the weights scaled by 2**u (u uniform in [-4, 4]) and the next
    layer's matching inputs by 2**-u. Through ReLU and max pooling the float function is the
    same, but channels now span a 256x range: per-tensor activation scales (and per-tensor
    weights) leave the small channels a few levels, the situation BatchNorm folding creates."""
    from frugalnn.data import load_digits28

    (x, y), (xt, yt) = load_digits28()
    g = models.digits_cnn(pretrained=False, seed=0)
    fit(g, (x, y), epochs=10, seed=0, progress=False)
    rng = np.random.default_rng(0)
    layers = {n.layer.name: n.layer for n in g.nodes}
    for a, b in (("conv1", "conv2"), ("fc1", "fc2")):
        k = (2.0 ** rng.uniform(-4, 4, len(layers[a].weight))).astype(np.float32)
        layers[a].weight *= k.reshape((-1,) + (1,) * (layers[a].weight.ndim - 1))
        layers[a].bias *= k
        layers[b].weight /= k.reshape((1, -1) + (1,) * (layers[b].weight.ndim - 2))
    return g, (x, y), (xt, yt)


def _accuracy(g, precision, xt, yt):
    return float(np.mean(Session(compile(g, precision=precision), max_batch=len(xt)).run(xt).argmax(1) == yt))


@pytest.mark.parametrize("per_channel", [True, False])
def test_qat_forward_agrees_with_the_int8_runtime(digits, per_channel):
    """Through four int8 layers the runtime requantizes each layer's int32 sums straight to
    the next layer's u8 (one rounding of acc * s_in * s_w / s_next + bias / s_next), training
    rounds the float32 result of the same products: the two differ by one u8 step where a
    value sits within float32 error of a .5 tie (about 1 value in 10^4 here), and the
    outlier channels' next-layer weights (up to 16x) amplify such a step: logits then differ
    by up to about 1 (99% of inputs, every ISA level, in our runs). So the tolerance is
    relative to what the simulation is for: QAT's forward must be an order of magnitude
    closer to the int8 outputs than the float model is (40-60x in our run), give the runtime's
    top-1 class wherever the runtime's top two logits are 1.5 or more apart (the
    disagreements we saw had margins below 0.7), and on at least 98% of held-out inputs in
    all (the float model: 74-91%)."""
    g, (x, _), (xt, _) = digits
    q = quantize(g, x[:256], per_channel=per_channel)
    a = Trainer(q, fake_quant=True, max_batch=len(xt)).predict(xt)
    b = Session(compile(q, precision=precision_of(q)), max_batch=len(xt)).run(xt)
    f = Session(compile(g), max_batch=len(xt)).run(xt)
    same = a.argmax(1) == b.argmax(1)
    top2 = np.sort(np.log(np.maximum(b, 1e-30)), axis=1)[:, -2:]  # softmax outputs: log gives logits + c
    assert np.all(same[top2[:, 1] - top2[:, 0] >= 1.5])
    assert np.mean(same) >= 0.98
    assert np.abs(a - b).mean() <= 0.1 * np.abs(f - b).mean()


def test_qat_recovers_what_ptq_loses(digits):
    g, (x, y), (xt, yt) = digits
    f32 = _accuracy(g, "f32", xt, yt)
    q = quantize(g, x[:256], per_channel=False)
    ptq = _accuracy(q, precision_of(q), xt, yt)
    assert ptq <= f32 - 0.05  # int8 after training loses points (24-27 in our runs)

    r = qat(q, x, y, epochs=3, seed=0, progress=False)
    recovered = _accuracy(r, precision_of(r), xt, yt)
    # most of the loss back: 88-96% of it in our runs, depending on the ISA level (float sums
    # in another order train another trajectory), 95.7-97.2% against 98.2-98.5% in float
    assert recovered - ptq >= 0.8 * (f32 - ptq)
    assert _accuracy(r, precision_of(r), xt, yt) == recovered  # deterministic compile and run
    # ... and not merely from more training: the same fine-tuning in float, then PTQ (72-75%)
    ft = copy.deepcopy(g)
    fit(ft, (x, y), epochs=3, optimizer=Adam(lr=1e-4), seed=0, progress=False)
    fq = quantize(ft, x[:256], per_channel=False)
    assert recovered >= _accuracy(fq, precision_of(fq), xt, yt) + 0.1

    # the result: same input parameters, weights quantized again from the tuned float weights
    # (as quantize does), q untouched
    before = {n.layer.name: n.layer for n in q.nodes}
    for node in r.nodes:
        layer = node.layer
        if layer.name not in precision_of(r):
            continue
        old = before[layer.name]
        assert (layer.quant.input_scale, layer.quant.input_zero_point) == (old.quant.input_scale,
                                                                            old.quant.input_zero_point)
        assert not np.array_equal(layer.weight, old.weight)
        s = layer.quant.weight_scale
        assert s.shape == (1,)
        assert np.array_equal(layer.quant.weight.astype(np.float32) * s[0], fq_s8_ref(layer.weight, False))
    assert precision_of(r) == precision_of(q)
    assert _accuracy(q, precision_of(q), xt, yt) == ptq


# ---- zero heap allocations per step ----------------------------------------------------------

CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    import frugalnn
    from frugalnn import models
    from frugalnn.compress import quantize
    from frugalnn.train import Trainer, Adam
    counter = ctypes.CDLL(sys.argv[1]).fnn_malloc_count
    counter.restype = ctypes.c_uint64
    frugalnn.set_num_threads(2)
    rng = np.random.default_rng(0)
    out = {}
    for name, g, pc in (("cnn", models.digits_cnn(), True), ("mlp-per-tensor", models.mlp(), False)):
        x = rng.random((32, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, 32)
        t = Trainer(quantize(g, x, per_channel=pc), optimizer=Adam(lr=1e-4), max_batch=32, fake_quant=True)
        for _ in range(5):
            t.train_step(x, y)
        before = counter()
        for _ in range(20):
            t.train_step(x, y)
        out[name] = counter() - before
    print(json.dumps(out))
""")


def test_zero_heap_allocations_per_qat_step(malloc_counter):
    counts = run_counted(malloc_counter, CHILD)
    assert counts == {k: 0 for k in counts}, counts


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_input(digits):
    g, (x, y), _ = digits
    q = quantize(g, x[:32])
    with pytest.raises(TypeError, match="Graph"):
        qat("model", x, y)
    with pytest.raises(ValueError, match="no Dense / Conv2d layer of q carries int8 QuantParams"):
        qat(g, x, y)
    with pytest.raises(TypeError, match="float32"):
        qat(q, x.astype(np.float64), y)
    with pytest.raises(ValueError, match=r"x must have shape \(n >= 1,\) \+ \(1, 28, 28\)"):
        qat(q, x[:, :, :27], y)
    with pytest.raises(ValueError, match=r"y must have shape \(1400,\)"):
        qat(q, x, y[:10])
    with pytest.raises(ValueError, match=r"is not a class index in \[0, 10\)"):
        qat(q, x, y + 10, progress=False)
    with pytest.raises(TypeError, match="fake_quant"):
        qat(q, x, y, fake_quant=False)
    with pytest.raises(GraphError, match="no Dense / Conv2d layer carries int8 QuantParams"):
        Trainer(g, fake_quant=True)
    with pytest.raises(GraphError, match="no Dense / Conv2d layer carries int8 QuantParams"):
        fit(g, (x, y), fake_quant=True)
    # the kernels
    a, o, k = np.zeros(8, np.float32), np.zeros(8, np.float32), np.zeros(8, np.uint8)
    with pytest.raises(ValueError, match="scale must be positive"):
        _core.fake_quant_u8(a, o, k, 0.0, 0)
    with pytest.raises(ValueError, match="scale must be positive"):
        _core.fake_quant_u8(a, o, k, float("nan"), 0)
    with pytest.raises(ValueError, match=r"zero_point must be in \[0, 255\]"):
        _core.fake_quant_u8(a, o, k, 1.0, 256)
    with pytest.raises(TypeError, match="keep has dtype"):
        _core.fake_quant_u8(a, o, a.copy(), 1.0, 0)
    with pytest.raises(ValueError, match="y has 4 elements, x has 8"):
        _core.fake_quant_u8(a, o[:4], k, 1.0, 0)
    with pytest.raises(ValueError, match="keep overlaps y"):
        _core.fake_quant_u8(a, o, o.view(np.uint8)[:8], 1.0, 0)
    with pytest.raises(TypeError, match="x has dtype"):
        _core.fake_quant_u8(a.astype(np.float64), o, k, 1.0, 0)
    with pytest.raises(ValueError, match="wq has 4 elements, w has 8"):
        _core.fake_quant_s8(a.reshape(2, 4), o[:4], True)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.fake_quant_s8(np.zeros((4, 4), np.float32).T, np.zeros((4, 4), np.float32), True)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros(8, np.float32)
        ro.flags.writeable = False
        _core.fake_quant_u8(a, ro, None, 1.0, 0)
