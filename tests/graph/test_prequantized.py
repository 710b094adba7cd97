"""int8 from an already quantized model: layers carrying QuantParams compile without
calibration and run exactly the kernels a calibrated compile with the same numbers runs."""
import numpy as np
import pytest

from frugalnn.gemm import quantize_weights
from frugalnn.graph import Conv2d, Dense, GraphError, QuantParams, Session, compile

from .models import mnist_cnn


def _int8(layer):
    """Per-output-channel symmetric int8 of a Dense / Conv2d weight, as the compiler makes it."""
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    q, s = quantize_weights(np.ascontiguousarray(w.T))
    return np.ascontiguousarray(q.T).reshape(layer.weight.shape), s


@pytest.mark.parametrize("with_weights", [True, False])
def test_given_parameters_reproduce_a_calibrated_compile(with_weights):
    g = mnist_cnn()
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    calibrated = compile(g, precision="int8", calibration=x)
    want = Session(calibrated, max_batch=16).run(x)
    for node in g.nodes:
        layer = node.layer
        if isinstance(layer, (Dense, Conv2d)):
            scale, zp = calibrated.quantization[layer.name]
            layer.quant = QuantParams(scale, zp, *(_int8(layer) if with_weights else (None, None)))
    given = compile(g, precision="int8")  # no calibration needed
    assert given.quantization == calibrated.quantization
    np.testing.assert_array_equal(Session(given, max_batch=16).run(x), want)


def test_given_weights_with_calibrated_inputs():
    g = mnist_cnn()
    x = np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)
    want = Session(compile(g, precision="int8", calibration=x), max_batch=16).run(x)
    for node in g.nodes:
        if isinstance(node.layer, (Dense, Conv2d)):
            node.layer.quant = QuantParams(None, None, *_int8(node.layer))
    with pytest.raises(GraphError, match="calibration"):
        compile(g, precision="int8")
    got = Session(compile(g, precision="int8", calibration=x), max_batch=16).run(x)
    np.testing.assert_array_equal(got, want)


def test_per_tensor_weight_scale():
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((6, 10)) * 0.2).astype(np.float32)
    s = np.float32(np.abs(w).max() / 127)
    q = np.clip(np.rint(w / s), -127, 127).astype(np.int8)
    layer = Dense(q.astype(np.float32) * s, quant=QuantParams(0.01, 128, q, np.array([s], np.float32)))
    from frugalnn.graph import Sequential

    g = Sequential([layer], input_shape=(10,))
    x = rng.uniform(-1.2, 1.2, (4, 10)).astype(np.float32)
    got = Session(compile(g, precision="int8"), max_batch=4).run(x)
    qx = np.clip(np.rint(x / np.float32(0.01)) + 128, 0, 255) - 128
    ref = (qx @ q.T.astype(np.float64)) * (np.float32(0.01) * s)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


def test_bad_quant_params():
    w = np.ones((4, 3), np.float32)
    with pytest.raises(GraphError, match="input_scale"):
        QuantParams(0.0, 0)
    with pytest.raises(GraphError, match="zero_point"):
        QuantParams(0.1, 300)
    with pytest.raises(GraphError, match="together"):
        QuantParams(0.1, 0, np.ones((4, 3), np.int8))
    with pytest.raises(GraphError, match="together"):
        QuantParams(0.1, None)
    with pytest.raises(GraphError, match="or both"):
        QuantParams(None, None)
    with pytest.raises(GraphError, match="weight_scale"):
        QuantParams(0.1, 0, np.ones((4, 3), np.int8), np.ones(3, np.float32))
    with pytest.raises(GraphError, match="shape"):
        Dense(w, quant=QuantParams(0.1, 0, np.ones((3, 4), np.int8), np.ones(3, np.float32)))
    with pytest.raises(GraphError, match="QuantParams"):
        Dense(w, quant=(0.1, 0))
