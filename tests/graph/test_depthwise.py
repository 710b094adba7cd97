"""Depthwise convolution on every ISA this CPU has: f32 against the numpy reference, and int8
(u8 in, s8 weights, u8 or f32 out) bit-exact against an integer emulation in numpy (padding
taps skipped = zero-point padding, strides, dilations, channel counts around the vector
widths)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import frugalnn
from frugalnn import reference
from frugalnn.graph import Conv2d, GraphError, QuantParams, ReLU, Sequential, Session, compile

from .test_int8_pipeline import _quantize, _requant_u8, _tensor_dtypes

ISAS = frugalnn.available_isas()


def _dw_acc(q, zp, w8, stride, dilation, pads, out_hw):
    """sum over the window's real taps of (q - zp) * w: q (B, H, W, C) ints, w8 (C, 1, kh, kw)."""
    b, h, wd, c = q.shape
    kh, kw = w8.shape[2:]
    (sh, sw), (dh, dw), (pt, pl) = stride, dilation, pads
    oh, ow = out_hw
    acc = np.zeros((b, oh, ow, c), np.int64)
    x = q - zp
    for i in range(kh):
        for j in range(kw):
            for oy in range(oh):
                iy = oy * sh - pt + i * dh
                if not 0 <= iy < h:
                    continue
                for ox in range(ow):
                    ix = ox * sw - pl + j * dw
                    if 0 <= ix < wd:
                        acc[:, oy, ox] += x[:, iy, ix] * w8[:, 0, i, j].astype(np.int64)
    return acc


def _case(rng, c, h, w, k, stride, dilation, padding, relu, bias=True):
    w8 = rng.integers(-127, 128, (c, 1, k, k)).astype(np.int8)
    ws = (rng.random(c) * 0.02 + 0.005).astype(np.float32)
    b = (rng.standard_normal(c) * 0.2).astype(np.float32) if bias else None
    a_scale, a_zp = np.float32(0.011), int(rng.integers(0, 256))
    layer = Conv2d(w8.astype(np.float32) * ws[:, None, None, None], b, stride=stride, padding=padding,
                   dilation=dilation, groups=c, activation="relu" if relu else None, name="dw",
                   quant=QuantParams(float(a_scale), a_zp, weight=w8, weight_scale=ws))
    return layer, w8, ws, b, a_scale, a_zp


@settings(max_examples=40, deadline=None)
@given(c=st.sampled_from([1, 3, 7, 8, 9, 16, 17, 31, 32, 33, 48]), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), dilation=st.integers(1, 2),
       pad=st.integers(0, 2), act=st.sampled_from([None, "relu", "relu6"]), bias=st.booleans(),
       batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_f32_matches_the_reference(c, h, w, k, stride, dilation, pad, act, bias, batch, seed):
    rng = np.random.default_rng(seed)
    if (h + 2 * pad - dilation * (k - 1) - 1) < 0 or (w + 2 * pad - dilation * (k - 1) - 1) < 0:
        return  # no output pixel
    wt = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32) if bias else None
    g = Sequential([Conv2d(wt, b, stride=stride, padding=pad, dilation=dilation, groups=c, activation=act,
                           name="dw")], input_shape=(c, h, w))
    p = compile(g)
    assert [s.kind for s in p.steps if s.name == "dw"] == ["depthwise_conv2d"]
    x = rng.standard_normal((batch, c, h, w)).astype(np.float32)
    want = reference.forward(g, x)[g.outputs[0]]
    for isa in ISAS:
        with frugalnn.use_isa(isa):
            got = Session(p, max_batch=batch).run(x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * k * k, err_msg=isa)


@settings(max_examples=40, deadline=None)
@given(c=st.sampled_from([1, 3, 8, 15, 16, 17, 40]), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), dilation=st.integers(1, 2),
       pad=st.integers(0, 2), relu=st.booleans(), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_f32_output_is_bit_exact(c, h, w, k, stride, dilation, pad, relu, batch, seed):
    rng = np.random.default_rng(seed)
    if (h + 2 * pad - dilation * (k - 1) - 1) < 0 or (w + 2 * pad - dilation * (k - 1) - 1) < 0:
        return  # no output pixel
    layer, w8, ws, b, a_scale, a_zp = _case(rng, c, h, w, k, stride, dilation, pad, relu)
    g = Sequential([layer], input_shape=(c, h, w))
    p = compile(g, precision="int8")
    assert [s.kind for s in p.steps if s.name == "dw"] == ["depthwise_conv2d"]
    assert [s.precision for s in p.steps if s.name == "dw"] == ["int8"]
    x = (rng.random((batch, c, h, w), dtype=np.float32) * 3 - 1).astype(np.float32)
    _, oh, ow = g.shapes[g.outputs[0]]
    q = _quantize(x.transpose(0, 2, 3, 1), a_scale, a_zp)
    acc = _dw_acc(q, a_zp, w8, (stride, stride), (dilation, dilation), (pad, pad), (oh, ow))
    s = (a_scale * ws).astype(np.float32)
    want = acc.astype(np.float32) * s + b
    if relu:
        want = np.maximum(want, np.float32(0))
    want = want.transpose(0, 3, 1, 2)
    for isa in ISAS:
        with frugalnn.use_isa(isa):
            got = Session(p, max_batch=batch).run(x)
        np.testing.assert_array_equal(got, want, err_msg=isa)


@pytest.mark.parametrize("c", [1, 7, 8, 16, 24, 33, 64])
@pytest.mark.parametrize("relu", [False, True])
def test_u8_output_feeding_an_int8_conv_is_bit_exact(c, relu):
    rng = np.random.default_rng(c)
    h = w = 7
    dw, w8, ws, b, a_scale, a_zp = _case(rng, c, h, w, 3, 2, 1, 1, relu)
    # The next layer's input parameters are the depthwise output's u8 quantization.
    o_scale, o_zp = 0.02, 37
    pw8 = rng.integers(-127, 128, (5, c, 1, 1)).astype(np.int8)
    pws = np.full(5, 0.01, np.float32)
    pw = Conv2d(pw8.astype(np.float32) * 0.01, name="pw",
                quant=QuantParams(o_scale, o_zp, weight=pw8, weight_scale=pws))
    g = Sequential([dw, pw], input_shape=(c, h, w))
    p = compile(g, precision="int8")
    assert _tensor_dtypes(p)["dw"] == "uint8"
    x = rng.random((2, c, h, w), dtype=np.float32) * 2
    q = _quantize(x.transpose(0, 2, 3, 1), a_scale, a_zp)
    acc = _dw_acc(q, a_zp, w8, (2, 2), (1, 1), (1, 1), (4, 4))
    u = _requant_u8(acc, b, a_scale, ws, o_scale, o_zp, relu)
    acc2 = (u - o_zp).reshape(-1, c) @ pw8[:, :, 0, 0].T.astype(np.int64)
    want = (acc2.astype(np.float32) * (np.float32(o_scale) * pws)).reshape(2, 4, 4, 5).transpose(0, 3, 1, 2)
    for isa in ISAS:
        with frugalnn.use_isa(isa):
            got = Session(p, max_batch=2).run(x)
        np.testing.assert_array_equal(got, want, err_msg=isa)


def test_calibrated_depthwise_is_close_to_float():
    rng = np.random.default_rng(1)
    c = 12
    g = Sequential([Conv2d((rng.standard_normal((c, 3, 3, 3)) * 0.3).astype(np.float32), padding=1,
                           activation="relu"),
                    Conv2d((rng.standard_normal((c, 1, 3, 3)) * 0.3).astype(np.float32),
                           rng.standard_normal(c).astype(np.float32) * 0.1, padding=1, groups=c, name="dw"),
                    ReLU()], input_shape=(3, 10, 10))
    x = rng.random((8, 3, 10, 10), dtype=np.float32)
    p8, p32 = compile(g, precision="int8", calibration=x), compile(g)
    assert [s.precision for s in p8.steps if s.name == "dw"] == ["int8"]
    y8, y32 = Session(p8, max_batch=8).run(x), Session(p32, max_batch=8).run(x)
    assert np.abs(y8 - y32).max() < 0.03 * np.abs(y32).max()


def test_f16_precision_runs_depthwise_in_f32():
    c = 4
    w = np.ones((c, 1, 3, 3), np.float32)
    g = Sequential([Conv2d(w, groups=c, padding=1, name="dw")], input_shape=(c, 5, 5))
    assert [s.precision for s in compile(g, precision="f16").steps if s.name == "dw"] == ["f32"]


def test_int8_depthwise_needs_calibration_or_quant_params():
    c = 4
    g = Sequential([Conv2d(np.ones((c, 1, 3, 3), np.float32), groups=c, name="dw")], input_shape=(c, 5, 5))
    with pytest.raises(GraphError, match="calibration"):
        compile(g, precision="int8")
