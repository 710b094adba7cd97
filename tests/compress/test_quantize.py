"""Post-training int8 quantization: the observers' parameters against numpy computations,
BatchNorm folding against the unfolded graph, compiled accuracy against f32, the sensitivity
report, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from frugalnn import reference
from frugalnn.compress import fold_batchnorm, precision_of, quantize, sensitivity
from frugalnn.graph import BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Session, compile
from tests.compress.common import accuracy as _accuracy


def test_minmax_parameters_are_the_observed_ranges(trained):
    g, x, _ = trained
    calib = x[:100]
    q = quantize(g, calib)
    vals = reference.forward_all(g, calib)
    for node in q.nodes:
        if node.layer.op not in ("dense", "conv2d"):
            continue
        v = vals[node.inputs[0]]
        lo, hi = min(v.min(), 0.0), max(v.max(), 0.0)
        scale = np.float32((hi - lo) / 255)
        assert node.layer.quant.input_scale == pytest.approx(float(scale), rel=1e-6)
        assert node.layer.quant.input_zero_point == int(np.clip(round(-lo / float(scale)), 0, 255))
        w = node.layer.weight
        ws = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) / 127
        np.testing.assert_allclose(node.layer.quant.weight_scale, ws, rtol=1e-6)
        wq = np.clip(np.rint(w / ws.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
        assert np.array_equal(node.layer.quant.weight, wq.astype(np.int8))
    # the original graph is untouched
    assert all(n.layer.quant is None for n in g.nodes if n.layer.op in ("dense", "conv2d"))


def test_minmax_int8_is_compiles_own_calibration(trained):
    g, x, (xt, _) = trained
    q = quantize(g, x[:100])
    a = Session(compile(q, precision=precision_of(q)), max_batch=64).run(xt[:64])
    b = Session(compile(g, precision="int8", calibration=x[:100]), max_batch=64).run(xt[:64])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the layers carry their precision: a plain compile runs them int8
    program = compile(q)
    assert {s.name: s.precision for s in program.steps if s.name in precision_of(q)} == precision_of(q)
    np.testing.assert_array_equal(Session(program, max_batch=64).run(xt[:64]), a)


@pytest.mark.parametrize("method, points", [("minmax", 0.5), ("percentile", 0.5), ("mse", 0.5), ("entropy", 1.0)])
def test_int8_accuracy_within_points_of_f32(trained, method, points):
    g, x, (xt, yt) = trained
    f32 = _accuracy(compile(g), xt, yt)
    q = quantize(g, x[:256], method=method)
    assert _accuracy(compile(q, precision=precision_of(q)), xt, yt) >= f32 - points / 100
    # clipping methods never widen the observed range
    lo_hi = {n.layer.name: n.layer.quant.input_scale for n in quantize(g, x[:256]).nodes
             if getattr(n.layer, "quant", None)}
    for n in q.nodes:
        if getattr(n.layer, "quant", None) is not None:
            assert n.layer.quant.input_scale <= lo_hi[n.layer.name] * (1 + 1e-6)


def test_per_tensor_weights_and_keep_float(trained):
    g, x, _ = trained
    q = quantize(g, x[:64], per_channel=False, keep_float=["conv1", "fc2"])
    assert precision_of(q) == {"conv2": "int8", "fc1": "int8"}
    for n in q.nodes:
        if n.layer.name in ("conv1", "fc2"):
            assert n.layer.quant is None
        elif getattr(n.layer, "quant", None) is not None:
            assert n.layer.quant.weight_scale.shape == (1,)
            assert n.layer.quant.weight_scale[0] == pytest.approx(np.abs(n.layer.weight).max() / 127, rel=1e-6)


def test_batchnorm_is_folded_first():
    rng = np.random.default_rng(1)
    c = 6
    g = Sequential([Conv2d(rng.standard_normal((c, 1, 3, 3)).astype(np.float32), None, padding=1),
                    BatchNorm((rng.random(c) + 0.5).astype(np.float32), rng.standard_normal(c).astype(np.float32),
                              rng.standard_normal(c).astype(np.float32), (rng.random(c) + 0.5).astype(np.float32)),
                    ReLU(), MaxPool2d(2), Flatten(), Dense(rng.standard_normal((3, c * 16)).astype(np.float32), None)],
                   input_shape=(1, 8, 8))
    f = fold_batchnorm(g)
    assert [n.layer.op for n in f.nodes] == ["conv2d", "relu", "maxpool2d", "flatten", "dense"]
    x = rng.random((5, 1, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(reference.forward(f, x)["y"], reference.forward(g, x)["y"], rtol=1e-5, atol=1e-6)
    q = quantize(g, x)
    assert "batchnorm" not in [n.layer.op for n in q.nodes]


def test_sensitivity_finds_the_layer_that_hurts(trained):
    g, x, (xt, yt) = trained
    q = quantize(g, x[:128])
    rows = sensitivity(q, xt[:200], yt[:200])
    assert [r.layer for r in rows] == ["conv1", "conv2", "fc1", "fc2"]
    assert all(r.sqnr_db > 25 and abs(r.accuracy_drop) <= 0.02 for r in rows)
    # ruin one layer's input range: its SQNR and accuracy fall, the others' do not
    from frugalnn.graph import QuantParams

    bad = next(n.layer for n in q.nodes if n.layer.name == "conv2")
    bad.quant = QuantParams(bad.quant.input_scale / 30, 0, weight=bad.quant.weight, weight_scale=bad.quant.weight_scale)
    rows2 = {r.layer: r for r in sensitivity(q, xt[:200], yt[:200])}
    assert rows2["conv2"].sqnr_db < rows[1].sqnr_db - 20 and rows2["conv2"].accuracy_drop > 0.05
    assert rows2["fc1"].sqnr_db == pytest.approx(rows[2].sqnr_db)
    assert sensitivity(q, xt[:50])[0].accuracy_drop is None  # no labels, no accuracy


def test_bad_input(trained):
    g, x, _ = trained
    with pytest.raises(ValueError, match="method"):
        quantize(g, x[:8], method="kmeans")
    with pytest.raises(ValueError, match="shape"):
        quantize(g, x[:8, :, :27])
    with pytest.raises(ValueError, match="shape"):
        quantize(g, x[:0])
    with pytest.raises(TypeError, match="float32"):
        quantize(g, x[:8].astype(np.float64))
    with pytest.raises(TypeError, match="numpy"):
        quantize(g, x[:8].tolist())
    with pytest.raises(ValueError, match="NaN"):
        quantize(g, np.full_like(x[:8], np.nan))
    with pytest.raises(ValueError, match="keep_float"):
        quantize(g, x[:8], keep_float=["conv9"])
    with pytest.raises(ValueError, match="percentile"):
        quantize(g, x[:8], method="percentile", percentile=30)
    with pytest.raises(ValueError, match="labels"):
        sensitivity(quantize(g, x[:8]), x[:8], np.zeros(3))
