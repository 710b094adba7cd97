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


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_axis_round_trips_through_onnx(axis):
    # Exported with the batch counted in, imported back without it: the same layer.
    from frugalnn.graph import Concat, Conv2d, Graph, Session, compile
    from frugalnn.io import load_onnx

    rng = np.random.default_rng(5)
    g = Graph()
    x = g.input("x", (2, 5, 4))
    a = Conv2d(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), padding=1)(x)
    g.output(Concat(axis)(a, Conv2d(rng.standard_normal((3, 2, 1, 1)).astype(np.float32))(x)), "y")
    xs = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    model = to_onnx(g)
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": xs})
    np.testing.assert_allclose(reference.forward(g, xs)["y"], want, rtol=1e-5, atol=1e-5)
    back = load_onnx(model)
    assert [n.layer.axis for n in back.nodes if n.layer.op == "concat"] == [axis % 3]
    np.testing.assert_allclose(Session(compile(back), max_batch=2).run(xs), want, rtol=1e-5, atol=1e-5)
