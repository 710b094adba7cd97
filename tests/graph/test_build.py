"""Graph building: shape inference, and errors that name the layer and the mismatch."""
import numpy as np
import pytest

from frugalnn.graph import (
    Add, AvgPool2d, BatchNorm, Concat, Conv2d, Dense, Flatten, GlobalAvgPool, Graph, GraphError,
    MaxPool2d, ReLU, Reshape, Sequential, Softmax,
)


def w(*shape):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def mnist_cnn():
    return Sequential([
        Conv2d(w(32, 1, 3, 3), w(32), padding="same", name="conv1"), ReLU(), MaxPool2d(2),
        Conv2d(w(64, 32, 3, 3), w(64), padding="same", name="conv2"), ReLU(), MaxPool2d(2),
        Flatten(), Dense(w(128, 64 * 7 * 7), w(128), activation="relu"), Dense(w(10, 128), w(10)), Softmax(),
    ], input_shape=(1, 28, 28))


def test_mnist_cnn_shapes():
    g = mnist_cnn()
    assert g.inputs == {"x": (1, 28, 28)}
    assert g.outputs == ["y"] and g.shapes["y"] == (10,)
    assert g.shapes["conv2"] == (64, 14, 14)
    assert "conv1" in g.summary()


@pytest.mark.parametrize(
    "kwargs, hw, out",
    [
        (dict(padding="same"), (28, 28), (28, 28)),
        (dict(padding="same", stride=2), (7, 7), (4, 4)),
        (dict(padding="valid"), (5, 5), (3, 3)),
        (dict(padding=1, stride=2), (8, 8), (4, 4)),
        (dict(dilation=2), (9, 9), (5, 5)),
        (dict(padding=(0, 1), stride=(1, 2)), (5, 6), (3, 3)),
    ],
)
def test_conv_output_sizes(kwargs, hw, out):
    g = Sequential([Conv2d(w(4, 2, 3, 3), **kwargs)], input_shape=(2,) + hw)
    assert g.shapes["y"] == (4,) + out


def test_residual_and_concat_branches():
    g = Graph()
    x = g.input("x", (8, 10, 10))
    a = Conv2d(w(8, 8, 3, 3), padding="same")(x)
    s = Add(activation="relu")(x, a)
    dw = Conv2d(w(8, 1, 3, 3), padding=1, groups=8)(s)
    c = Concat()(s, dw)
    y = Dense(w(5, 16))(GlobalAvgPool()(c))
    g.output(y, "logits")
    assert g.shapes["logits"] == (5,) and g.shapes[c.name] == (16, 10, 10)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Sequential([Conv2d(w(4, 3, 3, 3), name="c")], input_shape=(2, 8, 8)), "Conv2d 'c': input has 2 channels"),
        (lambda: Sequential([Dense(w(4, 9), name="d")], input_shape=(8,)), "Dense 'd': input has 8 features, weight expects 9"),
        (lambda: Sequential([Dense(w(4, 8), name="d")], input_shape=(2, 2, 2)), "Dense 'd': expects a 1-D input"),
        (lambda: Sequential([Conv2d(w(4, 2, 5, 5), name="c")], input_shape=(2, 3, 3)), "does not fit"),
        (lambda: Sequential([MaxPool2d(4, name="p")], input_shape=(2, 3, 3)), "MaxPool2d 'p'"),
        (lambda: Conv2d(w(4, 2, 3, 3).astype(np.float64)), "float64"),
        (lambda: Conv2d(w(4, 2, 3, 3), groups=3), "groups"),
        (lambda: Conv2d(w(4, 2, 3, 3), padding="full"), "padding"),
        (lambda: Dense(w(4, 2), w(3)), "bias has 3 values"),
        (lambda: Dense(w(4, 2), activation="gelu"), "activation"),
        (lambda: Sequential([Reshape((5, -1), name="r")], input_shape=(12,)), "Reshape 'r': cannot reshape"),
        (lambda: Sequential([Softmax(axis=5, name="s")], input_shape=(2, 3)), "Softmax 's'"),
        (lambda: Sequential([BatchNorm(w(3), w(3), w(3), np.ones(3, np.float32), name="bn")], input_shape=(4, 2, 2)),
         "BatchNorm 'bn': input has 4 channels"),
    ],
)
def test_errors_name_the_layer(build, match):
    with pytest.raises(GraphError, match=match):
        build()


def test_add_needs_matching_shapes_and_graph_checks():
    g = Graph()
    x = g.input("x", (4,))
    with pytest.raises(GraphError, match="same shape"):
        Add(name="a")(x, Dense(w(3, 4))(x))
    with pytest.raises(GraphError, match="no outputs"):
        g.check()
    flat = Flatten()
    flat(x)
    with pytest.raises(GraphError, match="used once"):
        flat(x)
    with pytest.raises(GraphError, match="taken"):
        g.input("x", (2,))
