"""Models the runtime tests share: the seed document's MNIST CNN and the MLP (from
frugalnn.models), and a small CNN with a residual Add, a depthwise-separable block, Concat
and BatchNorm."""
import numpy as np

from frugalnn.models import mlp, mnist_cnn  # noqa: F401  (re-exported for the tests)

from frugalnn.graph import (
    Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Flatten, GlobalAvgPool, Graph, MaxPool2d, ReLU,
    ReLU6, Sequential, Sigmoid, Softmax,
)


def he(rng, *shape):
    fan_in = int(np.prod(shape[1:]))
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def small(rng, n):
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def residual_cnn(seed=2):
    """conv-BN-ReLU stem, a residual block with Add, a depthwise-separable block, Concat,
    average and global pooling, a sigmoid head."""
    rng = np.random.default_rng(seed)
    g = Graph()
    x = g.input("image", (3, 16, 16))
    bn = lambda c: BatchNorm(1 + small(rng, c), small(rng, c), small(rng, c),  # noqa: E731
                             np.abs(1 + small(rng, c)).astype(np.float32))
    h = ReLU()(bn(16)(Conv2d(he(rng, 16, 3, 3, 3), None, padding=1, name="stem")(x)))
    r = Conv2d(he(rng, 16, 16, 3, 3), small(rng, 16), padding="same", activation="relu", name="res_a")(h)
    r = Conv2d(he(rng, 16, 16, 3, 3), small(rng, 16), padding="same", name="res_b")(r)
    h = Add(activation="relu", name="res_add")(h, r)
    d = Conv2d(he(rng, 16, 1, 3, 3), small(rng, 16), padding=1, groups=16, name="dw")(h)
    d = ReLU6()(d)
    d = Conv2d(he(rng, 24, 16, 1, 1), small(rng, 24), name="pw")(d)
    d = ReLU()(d)
    s = Conv2d(he(rng, 8, 8, 3, 3), small(rng, 8), stride=2, padding="same", groups=2, name="grouped")(h)
    d = MaxPool2d(3, 2, 1)(d)
    c = Concat(name="cat")(d, s)
    c = AvgPool2d(3, 1, 1)(c)
    f = GlobalAvgPool()(c)
    y = Sigmoid()(Dense(he(rng, 5, 32), small(rng, 5), name="head")(f))
    g.output(y, "score")
    g.output(c, "features")  # an NHWC map as an output: converted back to NCHW
    return g
