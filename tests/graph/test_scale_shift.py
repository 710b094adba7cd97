"""ScaleShift (constant Mul / Add / Sub / Div of imported models): per channel on (C,) and
channels-last (C, H, W) tensors, one value on any layout, folded into the layer before it."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import (
    Clip, Conv2d, Dense, Graph, GraphError, ReLU, Reshape, ScaleShift, Sequential, Session, compile,
)

F = np.float32


def _run(g, x):
    return Session(compile(g), max_batch=len(x)).run(x)


def test_per_channel_on_a_map_and_on_features():
    rng = np.random.default_rng(0)
    s, b = rng.standard_normal(4).astype(F), rng.standard_normal(4).astype(F)
    g = Sequential([ReLU(), ScaleShift(s, b)], input_shape=(4, 5, 3))  # NHWC inside
    x = rng.standard_normal((2, 4, 5, 3)).astype(F)
    np.testing.assert_allclose(_run(g, x), np.maximum(x, 0) * s[:, None, None] + b[:, None, None], rtol=1e-6)
    g = Sequential([ReLU(), ScaleShift(s, None)], input_shape=(4,))
    x = rng.standard_normal((3, 4)).astype(F)
    np.testing.assert_allclose(_run(g, x), np.maximum(x, 0) * s, rtol=1e-6)


def test_one_value_on_any_layout():
    x = np.random.default_rng(1).standard_normal((2, 12)).astype(F)
    g = Sequential([Reshape((3, 4)), ScaleShift(F(2.0), F(-1.0)), Reshape((12,))], input_shape=(12,))
    np.testing.assert_allclose(_run(g, x), x * 2 - 1, rtol=1e-6)


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_folds_into_the_layer_before(kind):
    rng = np.random.default_rng(2)
    if kind == "conv":
        layer, shape = Conv2d(rng.standard_normal((5, 2, 3, 3)).astype(F), padding=1), (2, 6, 6)
    else:
        layer, shape = Dense(rng.standard_normal((5, 7)).astype(F)), (7,)
    g = Sequential([layer, ScaleShift(rng.standard_normal(5).astype(F), rng.standard_normal(5).astype(F))],
                   input_shape=shape)
    p = compile(g)
    assert not any(s.kind == "scale_shift" for s in p.steps)
    x = rng.standard_normal((3,) + shape).astype(F)
    np.testing.assert_allclose(Session(p, max_batch=3).run(x), reference.forward(g, x)["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("act", [ReLU(), Clip(-0.5, 0.75)], ids=["relu", "clip"])
def test_a_following_relu_or_clip_runs_in_the_same_step(act):
    """DenseNet's pre-activation BatchNorm -> ReLU before each conv: one pass over the map."""
    rng = np.random.default_rng(3)
    s, b = rng.standard_normal(6).astype(F), rng.standard_normal(6).astype(F)
    g = Sequential([ReLU(), ScaleShift(s, b), act], input_shape=(6, 40, 37))  # > one thread's share
    p = compile(g)
    kinds = [st.kind for st in p.steps]
    assert kinds.count("scale_shift") == 1 and kinds.count("clamp") == 1  # the first ReLU's
    x = rng.standard_normal((2, 6, 40, 37)).astype(F)
    lo, hi = (0.0, np.inf) if isinstance(act, ReLU) else (-0.5, 0.75)
    want = np.clip(np.maximum(x, 0) * s[:, None, None] + b[:, None, None], lo, hi)
    for threads in (1, 2):
        np.testing.assert_allclose(Session(p, max_batch=2, num_threads=threads).run(x), want, rtol=1e-6, atol=1e-7)


def test_bad_parameters():
    g = Graph()
    x = g.input("x", (3, 4))
    with pytest.raises(GraphError, match="1-D or 3-D input"):
        ScaleShift(np.ones(3, F))(x)  # per channel needs (C,) or (C, H, W)
    y = g.input("y", (3,))
    with pytest.raises(GraphError, match="3 channels"):
        ScaleShift(np.ones(4, F))(y)
    with pytest.raises(GraphError, match="float32"):
        ScaleShift(np.ones(3))
    with pytest.raises(GraphError, match="NaN"):
        ScaleShift(np.array([np.nan], F))
