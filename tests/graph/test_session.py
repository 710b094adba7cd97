"""Compiled programs against the numpy reference; the memory promise; bad input."""
import copy
import gc
import threading

import numpy as np
import pytest

import frugalnn
from frugalnn import reference
from frugalnn.graph import (
    AvgPool2d, Conv2d, Dense, Flatten, Graph, GraphError, MaxPool2d, ReLU, Sequential, Session, compile,
)
from frugalnn.sparse import CSRMatrix

from . import error_model
from .models import mlp, mnist_cnn, residual_cnn


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def close(got, ref, rtol):
    scale = np.abs(ref).max()
    assert np.allclose(got, ref, rtol=rtol, atol=rtol * scale), np.abs(got - ref).max() / scale


@pytest.mark.parametrize("model", [mnist_cnn, mlp])
@pytest.mark.parametrize("precision", ["f32", "f16", "bf16"])
def test_models_match_the_reference(model, precision):
    # Against the float64 reference with the weights rounded to f16 / bf16 in numpy (as the
    # program stores them), only f32 arithmetic differs: each element within TOL_SIGMAS of
    # its propagated f32 error scale (error_model.py; worst measured 0.76 sigma, any ISA).
    g = model()
    s = Session(compile(g, precision=precision), max_batch=16)
    x = images(16)
    gr = error_model.rounded_weights(g, precision)
    ref, sigma = reference.forward_all(gr, x)["y"], error_model.f32_sigma(gr, x)["y"]
    for n in (16, 1, 7):  # any batch up to max_batch, same arena
        got = s.run(x[:n])
        assert error_model.within(got, ref[:n], sigma[:n]), error_model.worst(got, ref[:n], sigma[:n])


@pytest.mark.parametrize("model, bias_of", [(mnist_cnn, "conv2"), (mlp, "fc2")])
def test_the_float_tolerance_catches_a_weight_scale_or_a_missing_bias(model, bias_of):
    """The check above bites: a program that scaled any layer's weights by 2%, or dropped a
    hidden layer's bias, fails it (2%: 15,000-18,000 sigmas out; even a 1e-4 scale: 80-95)."""
    g = model()
    x = images(16)
    got = Session(compile(g, precision="f16"), max_batch=16).run(x)
    gr = error_model.rounded_weights(g, "f16")
    sigma = error_model.f32_sigma(gr, x)["y"]
    assert error_model.within(got, reference.forward_all(gr, x)["y"], sigma)
    for name in [n.layer.name for n in g.nodes if isinstance(n.layer, (Dense, Conv2d))]:
        for bug in ("scale", "bias"):
            if bug == "bias" and name != bias_of:
                continue
            bad = copy.deepcopy(gr)
            layer = next(n.layer for n in bad.nodes if n.layer.name == name)
            if bug == "scale":
                layer.weight = layer.weight * np.float32(1.02)
            else:
                layer.bias = None
            assert not error_model.within(got, reference.forward_all(bad, x)["y"], sigma), (name, bug)


def _prune_dense(g, sparsity):
    for node in g.nodes:
        if isinstance(node.layer, Dense) and node.layer.weight.shape[0] > 10:
            node.layer.weight = CSRMatrix.prune(node.layer.weight, sparsity).to_dense()
    return g


@pytest.mark.parametrize("model", [mnist_cnn, mlp])
def test_sparse_dense_layers(model):
    g = _prune_dense(model(), 0.9)
    program = compile(g, precision={n.layer.name: "sparse" for n in g.nodes if isinstance(n.layer, Dense)})
    assert "sparse" in {s.precision for s in program.steps}
    x = images(9)
    close(Session(program, max_batch=9).run(x), reference.forward(g, x)["y"], 1e-4)


# Floors: measured (f16 79.3 dB, int8 52.7 dB) minus 6 dB.
@pytest.mark.parametrize("values, floor_db", [("sparse_f16", 73.0), ("sparse_int8", 46.5)])
def test_sparse_dense_layers_with_16_bit_and_int8_values(values, floor_db):
    g = _prune_dense(mlp(), 0.9)
    dense = [n.layer.name for n in g.nodes if isinstance(n.layer, Dense)]
    program = compile(g, precision={name: values for name in dense})
    f32 = compile(g, precision={name: "sparse" for name in dense})
    assert {s.precision for s in program.steps if s.name in dense} == {"sparse"}
    # 2 (f16) or 1 (int8, plus a scale per row) bytes per value instead of 4
    assert program.weight_bytes < 0.8 * f32.weight_bytes
    x = images(9)
    assert sqnr_db(reference.forward(g, x)["y"], Session(program, max_batch=9).run(x)) > floor_db


def sqnr_db(ref, got):
    noise = np.sum((ref - got) ** 2)
    return np.inf if noise == 0 else 10 * np.log10(np.sum(ref ** 2) / noise)


# SQNR floors (dB) on these random-weight models, measured minus 6 dB (noise power x4).
# Measured: mnist_cnn all int8 37.2; one int8 layer conv1 50.6, conv2 42.7, fc1 35.3, fc2 46.1;
# mlp all int8 43.4; fc1 47.8, fc2 47.4, fc3 47.7. (Trained models: test_int8_accuracy.py.)
INT8_SQNR_FLOOR = {
    "mnist_cnn": {"all": 31, "conv1": 44, "conv2": 36, "fc1": 29, "fc2": 40},
    "mlp": {"all": 37, "fc1": 41, "fc2": 41, "fc3": 41},
}


@pytest.mark.parametrize("model", [mnist_cnn, mlp])
def test_int8_agrees_on_top1(model, capsys):
    g = model()
    program = compile(g, precision="int8", calibration=images(64, seed=1))
    assert set(program.quantization) == {n.layer.name for n in g.nodes if isinstance(n.layer, (Dense, Conv2d))}
    x = images(512, seed=2)
    s = Session(program, max_batch=512)
    got = s.run(x)
    ref = reference.forward(g, x)["y"]
    agree = np.mean(got.argmax(1) == ref.argmax(1))
    # Random weights on random images collapse onto a few classes with tiny margins, so one
    # systematic perturbation tips whole clusters of near-ties (96-100% with the weight seed):
    # the 99% criterion is tested on trained models (test_int8_accuracy.py). This floor only
    # guards regressions.
    assert agree >= (0.99 if model is mlp else 0.95), agree
    floor = INT8_SQNR_FLOOR[model.__name__]
    assert sqnr_db(ref, got) >= floor["all"], sqnr_db(ref, got)
    # Per-layer SQNR: each int8 layer alone, the rest f32.
    report = {}
    for name in program.quantization:
        one = compile(g, precision={name: "int8"}, calibration=images(64, seed=1))
        report[name] = sqnr_db(ref, Session(one, max_batch=512).run(x))
    with capsys.disabled():
        print(f"\n{model.__name__} int8: top-1 agreement {agree:.4f}; output SQNR (dB) with one int8 layer: "
              + ", ".join(f"{k} {v:.1f}" for k, v in report.items()) + f"; all int8 {sqnr_db(ref, got):.1f}")
    assert set(report) | {"all"} == set(floor)
    assert all(v >= floor[k] for k, v in report.items()), report


def test_residual_depthwise_concat_batchnorm(isa):  # its grouped conv writes strided GEMM output
    g = residual_cnn()
    program = compile(g)
    kinds = [s.kind for s in program.steps]
    assert "scale_shift" not in kinds  # BatchNorm folded into the stem conv
    assert "depthwise_conv2d" in kinds and "add" in kinds and "concat" in kinds
    assert "clamp" not in kinds  # every ReLU / ReLU6 fused into its producer
    x = np.random.default_rng(3).standard_normal((5, 3, 16, 16)).astype(np.float32)
    s = Session(program, max_batch=8)
    got = s.run({"image": x})
    ref = reference.forward(g, x)
    assert set(got) == {"score", "features"}
    for k in ref:
        close(got[k], ref[k], 1e-4)


def test_steady_state_runs_allocate_nothing():
    program = compile(mnist_cnn())
    pool = frugalnn.Pool()
    s = Session(program, max_batch=8, pool=pool)
    x = images(8)
    out = np.empty((8, 10), np.float32)
    for _ in range(3):
        s.run(x, out=out)
        s.run(x[:1], out=out[:1])
    before, scratch = pool.stats(), frugalnn.scratch_stats()
    for _ in range(1000):
        s.run(x, out=out)
    after = pool.stats()
    assert after.os_allocations == before.os_allocations
    assert after.allocations == before.allocations  # the arena is the only block
    assert frugalnn.scratch_stats().os_allocations == scratch.os_allocations
    close(out, reference.forward(mnist_cnn(), x)["y"], 1e-4)


def test_rss_is_flat_over_many_runs():
    psutil = pytest.importorskip("psutil")
    s = Session(compile(mlp()), max_batch=1)
    x, out = images(1), np.empty((1, 10), np.float32)
    for _ in range(500):
        s.run(x, out=out)
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    for _ in range(10_000):
        s.run(x, out=out)
    assert proc.memory_info().rss - rss0 < 1 << 20


@pytest.mark.parametrize("model", [mnist_cnn, mlp])
def test_plan_reaches_the_lower_bound(model):
    s = Session(compile(model()), max_batch=64)
    r = s.memory_report()
    assert r.arena_bytes == r.lower_bound < r.naive_bytes
    assert r.weight_bytes > 0 and len(r.steps) == len(s.program.steps)
    assert "lower bound" in str(r)


def test_bad_input_is_rejected_and_the_session_still_works():
    g = mnist_cnn()
    s = Session(compile(g, precision={"fc1": "int8"}, calibration=images(8)), max_batch=4)
    x = images(4)
    bad = [
        (lambda: s.run(x.astype(np.float64)), TypeError, "float64"),
        (lambda: s.run(x[:, :, :27]), ValueError, "shape"),
        (lambda: s.run(np.asfortranarray(x)), ValueError, "C-contiguous"),
        (lambda: s.run(images(5)), ValueError, "max_batch=4"),
        (lambda: s.run(x[:0]), ValueError, "empty batch"),
        (lambda: s.run(np.full_like(x, np.nan)), ValueError, "NaN"),
        (lambda: s.run(x, out=np.empty((4, 9), np.float32)), ValueError, "shape"),
        (lambda: s.run(x, out=np.empty((4, 10))), TypeError, "float32"),
        (lambda: s.run({"z": x}), ValueError, "missing"),
        (lambda: s.run([x]), TypeError, "numpy array"),
    ]
    for call, exc, match in bad:
        with pytest.raises(exc, match=match):
            call()
    close(s.run(x), reference.forward(g, x)["y"], 5e-2)


def test_clones_share_weights_and_run_in_threads():
    g = mnist_cnn()
    program = compile(g)
    a = Session(program, max_batch=4)
    b = a.clone()
    assert b.memory_report().arena_bytes == a.memory_report().arena_bytes
    xs = [images(4, seed=i) for i in range(2)]
    results = [None, None]

    def work(i, s):
        for _ in range(20):
            results[i] = s.run(xs[i])

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        close(results[i], reference.forward(g, xs[i])["y"], 1e-4)


def test_session_memory_returns_to_the_pool():
    pool = frugalnn.Pool()
    s = Session(compile(mlp()), max_batch=32, pool=pool)
    assert pool.stats().bytes_in_use >= s.memory_report().arena_bytes
    del s
    gc.collect()
    assert pool.stats().bytes_in_use == 0


def test_profile_and_metadata():
    s = Session(compile(mnist_cnn(), precision={"fc1": "f16"}), max_batch=2)
    assert s.inputs[0].name == "x" and s.inputs[0].shape == (None, 1, 28, 28)
    assert s.outputs[0].shape == (None, 10)
    rows = s.profile(images(2), repeats=3)
    assert [r[0] for r in rows] == [st.name for st in s.program.steps]
    assert all(t >= 0 for *_, t in rows)
    assert any(r[2] == "f16" for r in rows)


def test_compile_errors():
    g = mnist_cnn()
    with pytest.raises(GraphError, match="calibration"):
        compile(g, precision="int8")
    with pytest.raises(GraphError, match="calibration batch is empty"):
        compile(g, precision="int8", calibration=images(0))
    with pytest.raises(GraphError, match="NaN"):
        compile(g, precision="int8", calibration=np.full((2, 1, 28, 28), np.nan, np.float32))
    with pytest.raises(GraphError, match="precision"):
        compile(g, precision="int4")
    with pytest.raises(GraphError, match="not Dense / Conv2d"):
        compile(g, precision={"nope": "f16"})
    with pytest.raises(GraphError, match="no inputs"):
        compile(Graph())
    with pytest.raises(ValueError, match="max_batch"):
        Session(compile(g), max_batch=0)


def test_identity_like_graphs_copy_to_the_output():
    g = Sequential([Flatten()], input_shape=(2, 3, 4))
    x = np.random.default_rng(4).standard_normal((3, 2, 3, 4)).astype(np.float32)
    assert np.array_equal(Session(compile(g), max_batch=3).run(x), x.reshape(3, -1))
    g2 = Sequential([Conv2d(np.ones((2, 2, 1, 1), np.float32)), ReLU()], input_shape=(2, 3, 4))
    close(Session(compile(g2), max_batch=3).run(x), reference.forward(g2, x)["y"], 1e-5)


@pytest.mark.parametrize(
    "kw",
    [dict(padding="same"), dict(stride=2, padding=1, dilation=2), dict(groups=3, padding=(1, 2)),
     dict(groups=6, stride=(2, 1)), dict(padding="same", stride=2), dict(padding=0),
     dict(groups=6, padding=1, dilation=2)],
)
@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_conv_geometries(kw, precision):
    rng = np.random.default_rng(5)
    g_ = kw.get("groups", 1)
    out_c = 12 if g_ != 6 else 6  # groups=6 with 6 outputs: depthwise
    w = (rng.standard_normal((out_c, 6 // g_, 3, 3)) * 0.3).astype(np.float32)
    g = Sequential([Conv2d(w, (rng.standard_normal(out_c) * 0.1).astype(np.float32), **kw),
                    MaxPool2d(2, 1, 1), AvgPool2d(3, 2, 1)], input_shape=(6, 11, 9))
    x = rng.standard_normal((3, 6, 11, 9)).astype(np.float32)
    program = compile(g, precision=precision, calibration=x if precision == "int8" else None)
    got = Session(program, max_batch=3).run(x)
    close(got, reference.forward(g, x)["y"], 1e-4 if precision == "f32" else 3e-2)
