"""Gradient checks for every layer: one training step's gradients against torch autograd
(float64, same weights) and against finite differences of the loss."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from frugalnn.graph import (Add, AvgPool2d, BatchNorm, Clip, Concat, Conv2d, Dense, Flatten, GlobalAvgPool, Graph,
                            HardSwish, MaxPool2d, ReLU, ReLU6, Reshape, ScaleShift, Sequential, Sigmoid, Softmax,
                            Dropout)
from frugalnn.train import Trainer

from .recording import Recorder
from . import torch_reference as tref

rng = np.random.default_rng(7)


def _w(*shape, scale=None):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    return (rng.standard_normal(shape) * (scale or np.sqrt(2.0 / fan_in))).astype(np.float32)


def _b(n):
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def _head(c, h, w, classes=5):
    return [Flatten(), Dense(_w(classes, c * h * w), _b(classes))]


def _residual():
    g = Graph()
    x = g.input("x", (3, 6, 6))
    a = Conv2d(_w(4, 3, 3, 3), _b(4), padding="same", activation="relu")(x)
    b = Conv2d(_w(4, 4, 3, 3), _b(4), padding="same")(a)
    s = Add(activation="relu")(a, b)          # a feeds both the add and the conv: two gradients summed
    c = Concat()(s, a)                         # and a third
    y = Dense(_w(5, 8 * 36), _b(5))(Flatten()(c))
    g.output(y, "y")
    return g


def _concat_width():
    g = Graph()
    x = g.input("x", (2, 5, 4))
    a = Conv2d(_w(3, 2, 3, 3), _b(3), padding=1)(x)
    b = Conv2d(_w(3, 2, 1, 1), _b(3))(x)
    c = Concat(axis=2)(a, b)                   # along W: (3, 5, 8)
    g.output(Dense(_w(4, 3 * 5 * 8), _b(4))(Flatten()(c)), "y")
    return g


def _bn(shape):
    c = shape[0]
    return BatchNorm((1 + 0.1 * rng.standard_normal(c)).astype(np.float32), _b(c),
                     _b(c), (1 + rng.random(c)).astype(np.float32))


CASES = {
    "mlp": lambda: Sequential([Flatten(), Dense(_w(16, 48), _b(16), activation="relu"), Dense(_w(5, 16), _b(5)),
                               Softmax()], input_shape=(3, 4, 4)),
    "conv-relu-maxpool": lambda: Sequential([Conv2d(_w(4, 2, 3, 3), _b(4), padding="same"), ReLU(), MaxPool2d(2)]
                                            + _head(4, 4, 4), input_shape=(2, 8, 8)),
    "conv-stride-dilation": lambda: Sequential([Conv2d(_w(3, 2, 3, 3), _b(3), stride=2, padding=2, dilation=2)]
                                               + _head(3, 4, 4), input_shape=(2, 7, 7)),
    "conv-same-stride2-odd": lambda: Sequential([Conv2d(_w(3, 2, 2, 3), None, stride=2, padding="same",
                                                        activation="relu6")] + _head(3, 4, 3),
                                                input_shape=(2, 7, 6)),
    "conv-groups": lambda: Sequential([Conv2d(_w(6, 2, 3, 3), _b(6), groups=2, padding=1)] + _head(6, 5, 5),
                                      input_shape=(4, 5, 5)),
    "depthwise": lambda: Sequential([Conv2d(_w(4, 1, 3, 3), _b(4), groups=4, padding=1, activation="relu")]
                                    + _head(4, 5, 5), input_shape=(4, 5, 5)),
    "depthwise-multiplier": lambda: Sequential([Conv2d(_w(6, 1, 3, 3), _b(6), groups=3, stride=2, padding=1)]
                                               + _head(6, 3, 3), input_shape=(3, 5, 5)),
    "maxpool-pad-stride": lambda: Sequential([Conv2d(_w(3, 1, 3, 3), _b(3), padding=1), MaxPool2d(3, 2, 1)]
                                             + _head(3, 4, 4), input_shape=(1, 7, 7)),
    "relu-maxpool-overlap": lambda: Sequential([Conv2d(_w(3, 1, 3, 3), _b(3), padding=1, activation="relu"),
                                                MaxPool2d(3, 2, 1)] + _head(3, 4, 4), input_shape=(1, 7, 7)),
    "relu6-maxpool-odd": lambda: Sequential([Conv2d(_w(5, 2, 3, 3), _b(5), activation="relu6"), MaxPool2d(2)]
                                            + _head(5, 2, 2), input_shape=(2, 7, 7)),
    "avgpool-pad": lambda: Sequential([Conv2d(_w(3, 1, 3, 3), _b(3), padding=1), AvgPool2d(3, 2, 1)]
                                      + _head(3, 4, 4), input_shape=(1, 7, 7)),
    "global-avgpool": lambda: Sequential([Conv2d(_w(6, 2, 3, 3), _b(6), padding=1, activation="relu"),
                                          GlobalAvgPool(), Dense(_w(5, 6), _b(5))], input_shape=(2, 5, 5)),
    "clip-relu-after-pool": lambda: Sequential([Conv2d(_w(3, 2, 3, 3), _b(3)), MaxPool2d(2), ReLU(),
                                                Clip(-0.5, 0.7), ReLU6()] + _head(3, 2, 2),
                                               input_shape=(2, 6, 6)),
    "softmax-inside": lambda: Sequential([Flatten(), Dense(_w(8, 12), _b(8)), Softmax(),
                                          Dense(_w(5, 8, scale=2.0), _b(5))], input_shape=(12,)),
    "reshape": lambda: Sequential([Dense(_w(36, 12), _b(36)), Reshape((4, 3, 3)),
                                   Conv2d(_w(2, 4, 2, 2), _b(2)), Reshape((-1,)), Dense(_w(5, 8), _b(5))],
                                  input_shape=(12,)),
    "residual-add-concat": _residual,
    "concat-width": _concat_width,
    "batchnorm-conv": lambda: Sequential([Conv2d(_w(4, 2, 3, 3), None, padding=1), _bn((4,)), ReLU()]
                                         + _head(4, 5, 5), input_shape=(2, 5, 5)),
    "batchnorm-dense": lambda: Sequential([Flatten(), Dense(_w(8, 20), None), _bn((8,)), ReLU(),
                                           Dense(_w(5, 8), _b(5))], input_shape=(20,)),
    "sigmoid-hardswish": lambda: Sequential([Dense(_w(10, 6, scale=2.0), _b(10)), Sigmoid(),
                                             Dense(_w(10, 10, scale=3.0), _b(10)), HardSwish(),
                                             Dense(_w(5, 10), _b(5))], input_shape=(6,)),
    "scale-shift": lambda: Sequential([ScaleShift(np.array([0.5, 2.0], np.float32), np.array([0.1, -1], np.float32)),
                                       Conv2d(_w(3, 2, 3, 3), _b(3))] + _head(3, 3, 3), input_shape=(2, 5, 5)),
}


def _graph_and_batch(name, batch=6):
    global rng
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # each case its own weights, whatever runs first
    g = CASES[name]()
    shape = next(iter(g.inputs.values()))
    x = rng.standard_normal((batch,) + tuple(shape)).astype(np.float32)
    y = rng.integers(0, g.shapes[g.outputs[0]][0], batch)
    return g, x, y


def _step(g, x, y):
    rec = Recorder()
    t = Trainer(g, optimizer=rec, max_batch=len(x))
    loss, _ = t.train_step(x, y)
    return loss, rec.grads


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_match_torch(name):
    g, x, y = _graph_and_batch(name)
    ref_loss, ref = tref.loss_and_grads(g, x, y)
    loss, grads = _step(g, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-4, abs=1e-5)
    assert set(grads) == set(ref)
    for k, r in ref.items():
        np.testing.assert_allclose(grads[k], r, rtol=2e-3, atol=1e-4 * max(1.0, np.abs(r).max()), err_msg=k)


@pytest.mark.parametrize("name", ["mlp", "conv-stride-dilation", "depthwise", "avgpool-pad", "batchnorm-conv",
                                  "concat-width", "softmax-inside", "global-avgpool"])
def test_gradients_match_finite_differences(name):
    # Cases whose ReLUs a 2e-3 step does not push across their kink (torch checks the rest).
    g, x, y = _graph_and_batch(name)
    _, grads = _step(g, x, y)
    probe = Trainer(g, optimizer=Recorder(), max_batch=len(x))
    for p in probe.params:
        layer_grad = grads[p.name]
        flat_layer = getattr(p.layer, p.attr).reshape(-1)
        idx = np.argsort(-np.abs(layer_grad).reshape(-1))[:3]   # the strongest entries: well above the noise
        for i in idx:
            orig = flat_layer[i]
            vals = []
            for d in (2e-3, -2e-3):
                flat_layer[i] = orig + d
                probe.load_from_graph()
                vals.append(probe.compute_loss(x, y, training=True))
            flat_layer[i] = orig
            probe.load_from_graph()
            fd = (vals[0] - vals[1]) / 4e-3
            assert fd == pytest.approx(layer_grad.reshape(-1)[i], rel=2e-2, abs=1e-3), f"{p.name}[{i}]"


def test_dropout_gradients_match_torch_with_the_same_mask():
    g = Sequential([Conv2d(_w(4, 2, 3, 3), _b(4), padding=1, activation="relu"), Dropout(0.4, name="drop")]
                   + _head(4, 5, 5), input_shape=(2, 5, 5))
    x = rng.standard_normal((8, 2, 5, 5)).astype(np.float32)
    y = rng.integers(0, 5, 8)
    rec = Recorder()
    t = Trainer(g, optimizer=rec, max_batch=8, seed=3)
    loss, _ = t.train_step(x, y)
    i = next(u.index for u in t.units if u.op.name == "drop")
    keep = t._views_for(8)[("saved", i, "keep")].transpose(0, 3, 1, 2)
    assert 0.4 < 1 - keep.mean() < 0.8 or 0.2 < 1 - keep.mean() < 0.6
    ref_loss, ref = tref.loss_and_grads(g, x, y, dropout_keep={"drop": keep})
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for k, r in ref.items():
        np.testing.assert_allclose(rec.grads[k], r, rtol=2e-3, atol=1e-4 * max(1.0, np.abs(r).max()), err_msg=k)
    # inference: the identity, and compiled to no step
    assert t.compute_loss(x, y) == pytest.approx(tref.loss_and_grads(g, x, y, training=False)[0], rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(batch=st.sampled_from([1, 2, 3, 5]), c=st.integers(1, 4), per_group=st.integers(1, 3),
       groups=st.sampled_from([1, 2]), kh=st.integers(1, 3), kw=st.integers(1, 3), stride=st.integers(1, 2),
       dilation=st.integers(1, 2), pad=st.sampled_from([0, 1, "same"]), h=st.sampled_from([1, 2, 3, 5, 7]),
       w=st.sampled_from([1, 3, 4, 7]), act=st.sampled_from([None, "relu", "relu6"]), pool=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv_geometries_match_torch(batch, c, per_group, groups, kh, kw, stride, dilation, pad, h, w, act, pool,
                                     seed):
    """Odd sizes, 1, primes, every padding, grouped and depthwise (per_group 1), with or
    without an activation and a max pool after it: the gradients are torch's."""
    global rng
    rng = np.random.default_rng(seed)
    cin, cout = c * groups, per_group * groups
    conv = Conv2d(_w(cout, c, kh, kw), _b(cout), stride=stride, dilation=dilation, padding=pad, groups=groups,
                  activation=act)
    g0 = Graph()
    x0 = g0.input("x", (cin, h, w))
    try:
        t = conv(x0)
    except Exception:
        assume(False)  # a window that does not fit the padded input: GraphError, covered elsewhere
    layers = [conv]
    oc, oh, ow = t.shape
    if pool and oh >= 2 and ow >= 2:
        layers.append(MaxPool2d(2))
        oh, ow = oh // 2, ow // 2
    g = Sequential(layers + [Flatten(), Dense(_w(3, oc * oh * ow), _b(3))], input_shape=(cin, h, w))
    x = rng.standard_normal((batch, cin, h, w)).astype(np.float32)
    y = rng.integers(0, 3, batch)
    ref_loss, ref = tref.loss_and_grads(g, x, y)
    loss, grads = _step(g, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-4, abs=1e-5)
    for k, r in ref.items():
        np.testing.assert_allclose(grads[k], r, rtol=2e-3, atol=1e-4 * max(1.0, np.abs(r).max()), err_msg=k)
