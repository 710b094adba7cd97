"""int8 Add and GlobalAvgPool (layers with QuantParams, as quantized models bring them): u8
inputs with their own parameters, u8 or float outputs, bit-exact against float32 / integer
emulation in numpy, and the u8 tensors they leave between int8 layers."""
import numpy as np
import pytest

from frugalnn.graph import (
    Add, Clip, Conv2d, Dense, GlobalAvgPool, Graph, GraphError, QuantParams, Session, compile,
)

from .test_int8_pipeline import _quantize, _tensor_dtypes

F = np.float32


def _pw(rng, cin, cout, scale, zp, name):
    """A 1x1 int8 conv reading its input with (scale, zp): the next layer that makes a u8 output."""
    w8 = rng.integers(-127, 128, (cout, cin, 1, 1)).astype(np.int8)
    ws = np.full(cout, 0.01, F)
    return Conv2d(w8.astype(F) * ws[:, None, None, None], name=name,
                  quant=QuantParams(scale, zp, weight=w8, weight_scale=ws)), w8, ws


def _pw_out(u, zp, scale, w8, ws):
    """The 1x1 conv's f32 output from u8 u (B, H, W, C): exact integer sums, one multiply."""
    acc = (u.astype(np.int64) - zp) @ w8[:, :, 0, 0].T.astype(np.int64)
    return (acc.astype(F) * (F(scale) * ws)).transpose(0, 3, 1, 2)


def _add_graph(quant, act=None, then=None):
    g = Graph()
    a, b = g.input("a", (6, 5, 4)), g.input("b", (6, 5, 4))
    y = Add(quant=quant, name="add")(a, b)
    if act is not None:
        y = act(y)
    if then is not None:
        y = then(y)
    g.output(y, "y")
    return g


QA, QB = (0.013, 120), (0.021, 3)


def _inputs(rng, batch=3):
    return {"a": (rng.standard_normal((batch, 6, 5, 4)) * 1.5).astype(F),
            "b": (rng.standard_normal((batch, 6, 5, 4)) * 2).astype(F)}


def _terms(x):
    qa = _quantize(x["a"].transpose(0, 2, 3, 1), *QA)
    qb = _quantize(x["b"].transpose(0, 2, 3, 1), *QB)
    return qa - QA[1], qb - QB[1]


def test_float_output_is_bit_exact():
    rng = np.random.default_rng(0)
    g = _add_graph((QuantParams(*QA), QuantParams(*QB)))
    p = compile(g, precision="int8")
    assert [s.precision for s in p.steps if s.kind == "add"] == ["int8"]
    assert sum(s.kind == "quantize" for s in p.steps) == 2
    x = _inputs(rng)
    da, db = _terms(x)
    want = (da.astype(F) * F(QA[0]) + db.astype(F) * F(QB[0])).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(Session(p, max_batch=3).run(x), want)


@pytest.mark.parametrize("act, lo, hi", [(None, None, None), ("relu", 0.0, None), ("clip", 0.0, 0.4)])
def test_u8_output_feeding_an_int8_conv_is_bit_exact(act, lo, hi):
    rng = np.random.default_rng(1)
    ys, yz = 0.02, 90
    pw, w8, ws = _pw(rng, 6, 5, ys, yz, "pw")
    layer = {None: None, "relu": lambda t: Clip(0.0, np.inf)(t), "clip": lambda t: Clip(lo, hi)(t)}[act]
    g = _add_graph((QuantParams(*QA), QuantParams(*QB)), act=layer, then=pw)
    p = compile(g, precision="int8")
    assert _tensor_dtypes(p)["add"] == "uint8"
    x = _inputs(rng)
    da, db = _terms(x)
    f = da.astype(F) * (F(QA[0]) / F(ys)) + db.astype(F) * (F(QB[0]) / F(ys))
    qmin = yz if lo == 0.0 else 0
    u = np.rint(np.clip(f, F(qmin - yz), F(255 - yz))).astype(np.int64) + yz
    if hi is not None:  # the clamp the epilogue did not fuse: at the quantized bound
        u = np.minimum(u, int(np.clip(np.rint(F(hi) / F(ys)) + yz, 0, 255)))
    np.testing.assert_array_equal(Session(p, max_batch=3).run(x), _pw_out(u, yz, ys, w8, ws))


def test_global_avgpool_u8_is_bit_exact():
    rng = np.random.default_rng(2)
    xs, xz, ys, yz = 0.017, 40, 0.009, 128
    g = Graph()
    x = g.input("x", (7, 5, 3))
    pooled = GlobalAvgPool(quant=QuantParams(xs, xz), name="gap")(x)
    w8 = rng.integers(-127, 128, (4, 7)).astype(np.int8)
    ws = np.full(4, 0.02, F)
    g.output(Dense(w8.astype(F) * ws[:, None], name="fc",
                   quant=QuantParams(ys, yz, weight=w8, weight_scale=ws))(pooled), "y")
    p = compile(g, precision="int8")
    assert _tensor_dtypes(p)["gap"] == "uint8"
    xv = (rng.random((4, 7, 5, 3)) * 3).astype(F)
    q = _quantize(xv.transpose(0, 2, 3, 1), xs, xz).reshape(4, 15, 7)
    total = (q - xz).sum(axis=1)
    f = total.astype(F) * (F(xs) / (F(15) * F(ys)))
    u = np.rint(np.clip(f, F(-yz), F(255 - yz))).astype(np.int64) + yz
    want = ((u - yz) @ w8.T.astype(np.int64)).astype(F) * (F(ys) * ws)
    np.testing.assert_array_equal(Session(p, max_batch=4).run(xv), want)


def test_quantized_add_runs_float_unless_int8():
    g = _add_graph((QuantParams(*QA), QuantParams(*QB)))
    assert [s.precision for s in compile(g).steps if s.kind == "add"] == ["f32"]
    assert [s.precision for s in compile(g, precision={"add": "int8"}).steps if s.kind == "add"] == ["int8"]
    x = _inputs(np.random.default_rng(3))
    np.testing.assert_allclose(Session(compile(g), max_batch=3).run(x), x["a"] + x["b"], rtol=1e-6)


def test_bad_quant_is_refused():
    with pytest.raises(GraphError, match="one QuantParams per input"):
        Add(quant=[QuantParams(0.1, 0)])
    with pytest.raises(GraphError, match="no weights"):
        GlobalAvgPool(quant=QuantParams(None, None, weight=np.ones((2, 2), np.int8), weight_scale=np.ones(2, F)))
    with pytest.raises(GraphError, match="precision names layers"):
        compile(_add_graph(None), precision={"add": "int8"})
