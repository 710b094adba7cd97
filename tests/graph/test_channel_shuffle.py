"""Reshape (C, H, W) -> (c1, ..., ck, H, W), a Transpose of the channel factors and a Reshape
back (ShuffleNet's channel shuffle) compile to one strided copy of the channels-last map: no
layout steps, numpy's values; other reshape / transpose chains keep the general lowering."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.graph import Conv2d, Graph, Reshape, Session, compile
from frugalnn.graph.ops.broadcast import Transpose


def _graph(c, h, w, factors, perm, back=None):
    rng = np.random.default_rng(c + h)
    g = Graph()
    x = g.input("x", (c, h, w))
    t = Conv2d((rng.standard_normal((c, c, 1, 1)) * 0.3).astype(np.float32))(x)  # a stored-NHWC producer
    t = Reshape(tuple(factors) + (h, w))(t)
    t = Transpose(perm)(t)
    t = Reshape(back or (c, h, w))(t)
    g.output(Conv2d((rng.standard_normal((3, c, 1, 1)) * 0.3).astype(np.float32))(t), "y")
    return g


@pytest.mark.parametrize("c, h, w, factors, perm", [
    (8, 5, 7, (2, 4), (1, 0, 2, 3)),          # ShuffleNet: 2 groups
    (12, 3, 3, (3, 4), (1, 0, 2, 3)),
    (24, 4, 2, (2, 3, 4), (2, 0, 1, 3, 4)),   # three factors
    (6, 1, 1, (3, 2), (1, 0, 2, 3)),          # 1 x 1 maps
])
def test_channel_shuffle_is_one_copy(c, h, w, factors, perm, isa):
    g = _graph(c, h, w, factors, perm)
    p = compile(g)
    kinds = [s.kind for s in p.steps]
    # One copy, and no layout steps but the input's and output's (none for 1 x 1 maps: stored
    # row-major anyway).
    assert kinds.count("broadcast") == 1 and kinds.count("to_nhwc") == kinds.count("to_nchw") == (h * w > 1)
    x = np.random.default_rng(1).standard_normal((3, c, h, w)).astype(np.float32)
    got = Session(p, max_batch=3).run(x)
    want = reference.forward(g, x)["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_other_chains_keep_the_general_lowering():
    """A transpose that moves H: not a channel permutation, so layout steps around it."""
    g = _graph(8, 4, 4, (2, 4), (1, 2, 0, 3), back=(8, 4, 4))
    p = compile(g)
    assert [s.kind for s in p.steps].count("to_nchw") == 2
    x = np.random.default_rng(2).standard_normal((2, 8, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(Session(p, max_batch=2).run(x), reference.forward(g, x)["y"], rtol=1e-5, atol=1e-5)
