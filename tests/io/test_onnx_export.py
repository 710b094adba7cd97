"""to_onnx: the exported model computes the same function in onnxruntime."""
import numpy as np
import pytest

from frugalnn import reference
from frugalnn.io import to_onnx

from ..graph.models import mlp, mnist_cnn, residual_cnn

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.mark.parametrize("model", [mnist_cnn, mlp, residual_cnn])
def test_onnxruntime_agrees_with_the_reference(model):
    g = model()
    sess = ort.InferenceSession(to_onnx(g).SerializeToString(), providers=["CPUExecutionProvider"])
    name, shape = next(iter(g.inputs.items()))
    x = np.random.default_rng(0).random((3,) + shape, dtype=np.float32)
    got = sess.run(None, {name: x})
    ref = reference.forward(g, x)
    for out, a in zip(g.outputs, got):
        assert np.allclose(a, ref[out], atol=1e-5, rtol=1e-4)
