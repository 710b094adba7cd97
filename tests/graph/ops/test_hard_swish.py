"""HardSwish end to end: the layer, its native step at every ISA level, the reference forward,
ONNX import and export against onnxruntime, and the .fnn round trip."""
import numpy as np
import pytest

import frugalnn
from frugalnn import reference
from frugalnn.graph import Conv2d, Graph, HardSwish, Session, compile

F = np.float32


def _hard_swish64(x):
    """ONNX's definition: x * max(0, min(1, alpha * x + beta)), alpha = 1/6, beta = 0.5."""
    x = np.asarray(x, np.float64)
    return x * np.maximum(0, np.minimum(1, x / 6 + 0.5))


def _graph(shape=(3, 5, 7)):
    g = Graph()
    g.output(HardSwish(name="hs")(g.input("x", shape)), "y")
    return g


def _inputs(shape, batch=3, seed=0):
    x = np.random.default_rng(seed).standard_normal((batch,) + shape).astype(F) * 5
    x.flat[:8] = [-3, 3, -6, 6, 0, -0.0, 1e-30, -1e30]  # the kinks, zeros, tiny and huge
    return x


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 7), (16, 1, 1)])
def test_matches_the_definition_at_every_isa_level(shape, isa):
    x = _inputs(shape)
    got = Session(compile(_graph(shape)), max_batch=3).run(x)
    _assert_close(got, x)


def _assert_close(got, x):
    """Within the float32 error of the computation, 3x over: t = x / 6 + 1/2 rounds about
    twice (absolute error ~ eps * (|x| / 6 + 1/2) each, which near x = -3, where t -> 0, is
    all of t), and x * t once more."""
    x = np.asarray(x, np.float64)
    want = _hard_swish64(x)
    eps = float(np.finfo(F).eps)
    bound = 3 * eps * (2 * np.abs(x) * (np.abs(x) / 6 + 0.5) + np.abs(want)) + 1e-37
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error / bound {np.max(err / bound):.3g}"


def test_nan_and_infinity():
    g = _graph((4,))
    x = np.array([[np.nan, np.inf, -np.inf, 2.0]], F)
    got = Session(compile(g), max_batch=1).run(x)
    assert np.isnan(got[0, 0]) and got[0, 1] == np.inf
    assert abs(got[0, 3] - 2.0 * (2 / 6 + 0.5)) < 3e-7
    assert got[0, 2] == 0 or np.isnan(got[0, 2])  # -inf * 0: ONNX leaves it to IEEE (NaN)


def test_the_reference_forward_is_the_definition():
    g = _graph()
    x = _inputs((3, 5, 7))
    # float64 math, rounded to float32 once at the end
    np.testing.assert_allclose(reference.forward(g, x)["y"], _hard_swish64(x), rtol=6e-8, atol=1e-45)


def test_inside_a_cnn_and_through_a_saved_file(tmp_path):
    rng = np.random.default_rng(1)
    g = Graph()
    h = Conv2d(rng.standard_normal((4, 2, 3, 3)).astype(F), rng.standard_normal(4).astype(F), padding=1)(
        g.input("x", (2, 6, 6)))
    g.output(HardSwish()(h), "y")
    x = _inputs((2, 6, 6), seed=2)
    for fuse, kind in ((True, "conv2d+hard_swish"), (False, "hard_swish")):  # in the conv's epilogue, or a step
        p = compile(g, fuse_activations=fuse)
        assert [s.kind for s in p.steps].count(kind) == 1
        want = Session(p, max_batch=3).run(x)
        np.testing.assert_allclose(want, reference.forward(g, x)["y"], rtol=1e-5, atol=1e-5)
        frugalnn.save(p, tmp_path / "hs.fnn")
        np.testing.assert_array_equal(Session(frugalnn.load(tmp_path / "hs.fnn"), max_batch=3).run(x), want)


def test_onnx_import_and_export_agree_with_onnxruntime():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from frugalnn.io import load_onnx, to_onnx

    x = _inputs((3, 5, 7))
    node = helper.make_node("HardSwish", ["x"], ["y"])
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, 5, 7])  # noqa: E731
    model = helper.make_model(helper.make_graph([node], "hs", [vi("x")], [vi("y")]),
                              opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731,E501
    want = run(model)
    imported = load_onnx(model.SerializeToString())
    assert any(type(n.layer) is HardSwish for n in imported.nodes)
    _assert_close(Session(compile(imported), max_batch=3).run(x), x)
    np.testing.assert_allclose(run(to_onnx(_graph())), want, rtol=0, atol=0)
