"""A Clip whose every reader is an int8 layer quantizing to a range inside the clip's (an
imported QDQ model's QuantizeLinear saturation) compiles to nothing: the u8 activations
between int8 layers stay u8 and the output is the one without the clip, bit for bit. Any
other Clip stays."""
import numpy as np
import pytest

from frugalnn.graph import Clip, Conv2d, Dense, Flatten, Graph, QuantParams, ReLU, Session, compile

from .test_int8_pipeline import _tensor_dtypes

IN_Q = QuantParams(0.02, 128)   # conv_a's input; the test inputs (x 5) saturate both quantizers
MID_Q = QuantParams(0.05, 0)    # conv_b's input: real values [0, 12.75]
MID_BOUNDS = (0.0, float(np.float32(0.05) * np.float32(255)))


def _graph(clip, flat=False, clip_as_output=False):
    """conv_a (int8) -> ReLU -> [Flatten] -> [Clip] -> conv_b / fc (int8, input MID_Q)."""
    rng = np.random.default_rng(7)
    wa = (rng.standard_normal((12, 3, 3, 3)) * 0.5).astype(np.float32)
    a = Conv2d(wa, (rng.standard_normal(12) * 0.2).astype(np.float32), padding=1, name="conv_a")
    a.quant = IN_Q
    if flat:
        b = Dense((rng.standard_normal((5, 12 * 36)) * 0.1).astype(np.float32), None, name="fc")
    else:
        b = Conv2d((rng.standard_normal((8, 12, 3, 3)) * 0.3).astype(np.float32), None, padding=1, name="conv_b")
    b.quant = MID_Q
    g = Graph()
    t = ReLU()(a(g.input("x", (3, 6, 6))))
    if flat:
        t = Flatten()(t)
    c = Clip(*clip, name="sat")(t) if clip else t
    g.output(b(c), "y")
    if clip_as_output:
        g.output(c, "sat_out")
    return g


def _run(g, x):
    p = compile(g, precision="int8")
    return p, Session(p, max_batch=len(x)).run(x)


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("clip", [MID_BOUNDS, (-1.0, 20.0), (-np.inf, np.inf)])
def test_clip_inside_the_readers_range_is_an_alias(clip, flat):
    x = (np.random.default_rng(1).standard_normal((16, 3, 6, 6)) * 5.0).astype(np.float32)
    p, y = _run(_graph(clip, flat), x)
    p0, y0 = _run(_graph(None, flat), x)
    assert [s.kind for s in p.steps] == [s.kind for s in p0.steps]
    assert "clamp" not in [s.kind for s in p.steps]
    assert _tensor_dtypes(p)["conv_a"] == "uint8"
    assert np.array_equal(y, y0)


@pytest.mark.parametrize("flat", [False, True])
def test_a_narrower_clip_is_kept(flat):
    x = (np.random.default_rng(1).standard_normal((16, 3, 6, 6)) * 5.0).astype(np.float32)
    p, y = _run(_graph((0.0, 1.0), flat), x)  # cuts the values conv_b's quantizer would keep
    _, y0 = _run(_graph(None, flat), x)
    assert "clamp" in [s.kind for s in p.steps]
    assert not np.array_equal(y, y0)


def test_a_clip_with_a_float_reader_or_as_output_is_kept():
    x = (np.random.default_rng(1).standard_normal((4, 3, 6, 6)) * 5.0).astype(np.float32)
    p = compile(_graph(MID_BOUNDS), precision={"conv_a": "int8", "conv_b": "f32"})  # conv_b reads floats
    assert "clamp" in [s.kind for s in p.steps]
    p = compile(_graph(MID_BOUNDS, clip_as_output=True), precision="int8")
    assert "clamp" in [s.kind for s in p.steps]
    out = Session(p, max_batch=4).run(x)["sat_out"]
    assert out.min() >= MID_BOUNDS[0] and out.max() <= MID_BOUNDS[1] and out.max() == np.float32(MID_BOUNDS[1])
