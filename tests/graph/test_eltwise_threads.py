"""The int8 add and softmax steps split their work over the session's threads (whole ranges of
elements, whole rows): the outputs are the same bits on one thread and on two, at every ISA
level, and the add's stay bit-exact with the float32 emulation in numpy."""
import pathlib

import numpy as np

import frugalnn
from frugalnn.graph import Add, Graph, QuantParams, Session, compile
from frugalnn.io import load_tflite

from .int8_emulation import quantize as _quantize

F = np.float32
PEERS = pathlib.Path(__file__).parent.parent / "io" / "data" / "peers"
QA, QB = (0.013, 120), (0.021, 3)


def _one_and_two_threads(p, x, batch):
    out = {}
    for level in frugalnn.available_isas():
        with frugalnn.use_isa(level):
            one = Session(p, max_batch=batch, num_threads=1).run(x)
            two = Session(p, max_batch=batch, num_threads=2).run(x)
        np.testing.assert_array_equal(one, two, err_msg=level)
        out[level] = one
    return out


def test_int8_add_does_not_depend_on_threads():
    # 2 x 16 x 48 x 48 values: past the add step's 16K-value grain, so two threads split it.
    shape = (16, 48, 48)
    g = Graph()
    a, b = g.input("a", shape), g.input("b", shape)
    g.output(Add(quant=(QuantParams(*QA), QuantParams(*QB)), name="add")(a, b), "y")
    p = compile(g, precision="int8")
    assert [s.precision for s in p.steps if s.kind == "add"] == ["int8"]
    rng = np.random.default_rng(3)
    x = {"a": (rng.standard_normal((2,) + shape) * 1.5).astype(F), "b": (rng.standard_normal((2,) + shape) * 2).astype(F)}
    da = _quantize(x["a"].transpose(0, 2, 3, 1), *QA) - QA[1]
    db = _quantize(x["b"].transpose(0, 2, 3, 1), *QB) - QB[1]
    want = (da.astype(F) * F(QA[0]) + db.astype(F) * F(QB[0])).transpose(0, 3, 1, 2)
    for level, y in _one_and_two_threads(p, x, 2).items():
        np.testing.assert_array_equal(y, want, err_msg=level)


def test_softmax_head_does_not_depend_on_threads():
    # MobileNetV2's 1000-class head at 16 images: past the softmax step's 4K-value grain.
    p = compile(load_tflite(PEERS / "mobilenet_v2_0.35_96_keras_f32.tflite"))
    assert p.steps[-1].kind == "softmax"
    x = np.random.default_rng(0).random((16,) + tuple(p.inputs[0].shape[1:])).astype(F)
    for level, y in _one_and_two_threads(p, x, 16).items():
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1, rtol=1e-5, err_msg=level)
