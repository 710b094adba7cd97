"""k-means codebook quantization: the 1-D k-means against numpy references, compress.codebook
per layer and per channel at every width, compiled programs against the float reference of the
decoded graph at every ISA level, the .fnn round trip, the document's CNN at 4 bits (accuracy
and bytes), and bad input."""
from __future__ import annotations

import numpy as np
import pytest

import frugalnn
from frugalnn import models, reference
from frugalnn.compress import Codebook, codebook
from frugalnn.compress.codebook import kmeans_1d
from frugalnn.graph import (BatchNorm, Conv2d, Dense, Flatten, GraphError, MaxPool2d, ReLU, Sequential, Session,
                            Softmax, compile)
from frugalnn.io.fnn import info

BITS = [2, 3, 4, 5, 6, 7, 8]


def _lloyd_reference(v, c, iterations):
    """Plain Lloyd over every value (no distinct-value weighting): argmin assignment (first
    minimum on ties), mean update, an empty cluster keeps its centroid."""
    v = v.astype(np.float64)
    c = np.sort(c.astype(np.float64))
    for _ in range(iterations):
        a = np.argmin(np.abs(v[:, None] - c[None, :]), axis=1)
        c = np.sort(np.array([v[a == i].mean() if np.any(a == i) else c[i] for i in range(c.size)]))
    return c


# ---- kmeans_1d ------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", BITS)
def test_few_distinct_values_are_exact(bits):
    rng = np.random.default_rng(bits)
    k = 1 << bits
    values = rng.standard_normal(k).astype(np.float32)
    for distinct in (1, k // 2, k):
        v = rng.choice(values[:distinct], 500)
        c, a = kmeans_1d(v, k)
        assert c.dtype == np.float32 and c.shape == (k,) and np.all(np.diff(c) >= 0)
        np.testing.assert_array_equal(c[a], v)


@pytest.mark.parametrize("init", ["linear", "quantile", "kmeans++"])
def test_separated_clusters_are_found(init):
    rng = np.random.default_rng(3)
    centers = np.array([-5.0, -1.0, 2.0, 9.0])
    v = (np.repeat(centers, 250) + rng.standard_normal(1000) * 0.05).astype(np.float32)
    c, a = kmeans_1d(v, 4, init=init, rng=np.random.default_rng(0))
    means = np.array([v[i * 250:(i + 1) * 250].astype(np.float64).mean() for i in range(4)])
    np.testing.assert_allclose(c, means, rtol=1e-6)
    np.testing.assert_array_equal(a, np.repeat(np.arange(4), 250))


@pytest.mark.parametrize("bits", [2, 3, 4])
def test_matches_plain_lloyd_and_is_a_fixed_point(bits):
    rng = np.random.default_rng(bits + 10)
    k = 1 << bits
    v = (rng.standard_normal(3000) * rng.choice([0.1, 1.0], 3000)).astype(np.float32)
    c, a = kmeans_1d(v, k, iterations=200)
    # the same linear start, plain Lloyd over all values
    want = _lloyd_reference(v, np.linspace(v.min(), v.max(), k), 200)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-7)
    # nearest stored centroid for every value, each centroid the mean of its values
    brute = np.argmin(np.abs(v[:, None].astype(np.float64) - c[None, :].astype(np.float64)), axis=1)
    np.testing.assert_array_equal(c[a], c[brute])
    for i in np.unique(a):
        assert c[i] == pytest.approx(v[a == i].astype(np.float64).mean(), rel=1e-5, abs=1e-7)


def test_kmeans_plus_plus_is_deterministic_for_a_seed():
    v = np.random.default_rng(0).standard_normal(2000)
    one = kmeans_1d(v, 16, init="kmeans++", rng=np.random.default_rng(7))
    two = kmeans_1d(v, 16, init="kmeans++", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])


# ---- compress.codebook on graphs ------------------------------------------------------------

def _he(rng, *shape):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)


def _net(rng):
    """Conv (fused pool), BatchNorm, grouped conv, depthwise conv, two dense layers."""
    return Sequential([
        Conv2d(_he(rng, 8, 1, 3, 3), _he(rng, 8, 1)[:, 0], padding="same", name="c1"),
        BatchNorm(rng.random(8).astype(np.float32) + 0.5, rng.standard_normal(8).astype(np.float32) * 0.1,
                  rng.standard_normal(8).astype(np.float32) * 0.1, rng.random(8).astype(np.float32) + 0.5,
                  name="bn"),
        ReLU(), MaxPool2d(2),
        Conv2d(_he(rng, 16, 4, 3, 3), None, padding=1, groups=2, activation="relu", name="c2"),
        Conv2d(_he(rng, 16, 1, 3, 3), None, padding=1, groups=16, name="dw"),
        Flatten(), Dense(_he(rng, 40, 16 * 5 * 5), _he(rng, 40, 1)[:, 0], activation="relu", name="fc1"),
        Dense(_he(rng, 10, 40), None, name="fc2"), Softmax(),
    ], input_shape=(1, 10, 10))


def _weighted(g):
    return {n.layer.name: n.layer for n in g.nodes if isinstance(n.layer, (Dense, Conv2d))}


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", BITS)
def test_codebook_layers(bits, per_channel):
    rng = np.random.default_rng(bits)
    g = _net(rng)
    originals = {name: layer.weight.copy() for name, layer in _weighted(g).items()}
    c = codebook(g, bits, per_channel=per_channel, keep=["fc2"])
    layers = _weighted(c)
    assert layers["fc2"].codebook is None and layers["fc2"].precision is None
    np.testing.assert_array_equal(layers["fc2"].weight, originals["fc2"])
    for name, layer in layers.items():
        if name == "fc2":
            continue
        cb = layer.codebook
        assert isinstance(cb, Codebook) and cb.bits == bits and layer.precision == "codebook"
        assert cb.indices.dtype == np.uint8 and cb.indices.shape == layer.weight.shape
        assert cb.centroids.dtype == np.float32
        assert cb.centroids.shape == ((layer.weight.shape[0] if per_channel else 1), 1 << bits)
        assert int(cb.indices.max()) < 1 << bits
        # the weight is the decoded codebook, bit for bit, computed here with numpy
        flat = cb.indices.reshape(cb.indices.shape[0], -1)
        rows = np.arange(flat.shape[0])[:, None] if per_channel else np.zeros((flat.shape[0], 1), int)
        np.testing.assert_array_equal(layer.weight, cb.centroids[rows, flat].reshape(layer.weight.shape))
        groups = layer.weight.reshape(layer.weight.shape[0], -1) if per_channel else layer.weight.reshape(1, -1)
        assert all(np.unique(row).size <= 1 << bits for row in groups)
    # BatchNorm was folded into c1 first; the input graph is untouched
    assert "bn" not in {n.layer.name for n in c.nodes}
    for name, layer in _weighted(g).items():
        np.testing.assert_array_equal(layer.weight, originals[name])
        assert layer.codebook is None


def test_codebook_at_8_bits_keeps_a_small_layer_exactly():
    rng = np.random.default_rng(0)
    g = Sequential([Flatten(), Dense(_he(rng, 10, 20), None, name="d")], input_shape=(20,))
    c = codebook(g, 8)  # 200 weights <= 256 entries
    np.testing.assert_array_equal(_weighted(c)["d"].weight, _weighted(g)["d"].weight)


def test_codebook_is_deterministic():
    g = _net(np.random.default_rng(1))
    for init in ("linear", "kmeans++"):
        a, b = codebook(g, 3, seed=5, init=init), codebook(g, 3, seed=5, init=init)
        for la, lb in zip(_weighted(a).values(), _weighted(b).values()):
            np.testing.assert_array_equal(la.codebook.indices, lb.codebook.indices)
            np.testing.assert_array_equal(la.codebook.centroids, lb.codebook.centroids)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_compiled_matches_the_reference_at_every_isa(isa, bits, per_channel):
    rng = np.random.default_rng(bits)
    c = codebook(_net(rng), bits, per_channel=per_channel)
    program = compile(c)
    precisions = {s.name: s.precision for s in program.steps}
    # depthwise runs its decoded weights through the direct f32 kernel
    assert all(precisions[n] == "codebook" for n in ("c1", "c2", "fc1", "fc2")) and precisions["dw"] == "f32"
    for batch in (1, 7, 64):
        x = rng.standard_normal((batch, 1, 10, 10)).astype(np.float32)
        want = reference.forward(c, x)
        got = Session(program, max_batch=batch).run(x)
        np.testing.assert_allclose(got, next(iter(want.values())), rtol=1e-5, atol=1e-6)


def test_a_batchnorm_folded_at_compile_scales_the_tables():
    """A codebook layer followed by a BatchNorm (compile folds it: the tables become per
    channel, scaled) computes what the reference of the unfolded graph does."""
    rng = np.random.default_rng(4)
    conv = Conv2d(_he(rng, 6, 2, 3, 3), None, padding=1, name="c")
    dense = Dense(_he(rng, 5, 6 * 4 * 4), None, name="d")
    src = codebook(Sequential([conv, Flatten(), dense], input_shape=(2, 4, 4)), 4)
    g = Sequential([_weighted(src)["c"], BatchNorm(rng.random(6).astype(np.float32) + 0.5,
                                                   rng.standard_normal(6).astype(np.float32),
                                                   rng.standard_normal(6).astype(np.float32),
                                                   rng.random(6).astype(np.float32) + 0.5, name="bn"),
                    Flatten(), _weighted(src)["d"]], input_shape=(2, 4, 4))
    program = compile(g)
    assert {s.name: s.precision for s in program.steps}["c"] == "codebook"
    assert "scale_shift" not in {s.kind for s in program.steps}  # folded, not run apart
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(Session(program, max_batch=3).run(x), next(iter(reference.forward(g, x).values())),
                               rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    c = codebook(codebook(_net(rng), 4, keep=["fc1"]), 6, per_channel=True, keep=["c1", "c2", "dw", "fc2"])
    program = compile(c)
    path = tmp_path / "cb.fnn"
    frugalnn.save(program, path)
    for mmap in (True, False):
        loaded = frugalnn.load(path, mmap=mmap)
        assert loaded.weight_bytes == program.weight_bytes
        assert [s.precision for s in loaded.steps] == [s.precision for s in program.steps]
        x = rng.standard_normal((5, 1, 10, 10)).astype(np.float32)
        np.testing.assert_array_equal(Session(loaded, max_batch=5).run(x), Session(program, max_batch=5).run(x))
    frugalnn.save(frugalnn.load(path), tmp_path / "again.fnn")  # saved again: the same bytes
    assert (tmp_path / "again.fnn").read_bytes() == path.read_bytes()
    kinds = [b["kind"] for b in info(path)["blobs"]]
    assert kinds.count("codebook_weights") == 1 + 2 + 1 + 1  # c1, c2's two groups, fc1, fc2


def test_compile_refuses_a_missing_or_stale_codebook():
    g = _net(np.random.default_rng(0))
    with pytest.raises(GraphError, match="c1: precision 'codebook' needs a codebook"):
        compile(g, precision={"c1": "codebook"})
    c = codebook(g, 4)
    _weighted(c)["fc1"].weight = _weighted(c)["fc1"].weight * np.float32(1.01)  # e.g. fine-tuned after
    with pytest.raises(GraphError, match="fc1: the weight no longer matches its codebook"):
        compile(c)
    compile(c, precision={"fc1": "f32"})  # another precision is fine


@pytest.mark.parametrize("bits", [1, 9, 0, -4, 4.0, "4", True, None])
def test_bits_outside_2_to_8_are_refused(bits):
    g = _net(np.random.default_rng(0))
    with pytest.raises(ValueError, match="bits must be"):
        codebook(g, bits)


def test_other_bad_arguments():
    g = _net(np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"keep names layers the graph does not have: \['nope'\]"):
        codebook(g, 4, keep=["c1", "nope"])
    with pytest.raises(ValueError, match="init must be one of"):
        codebook(g, 4, init="random")
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        codebook(g, 4, iterations=0)


# ---- the document's CNN ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    from frugalnn.data import load_digits28
    from frugalnn.train import fit

    (x, y), (xt, yt) = load_digits28()
    g = models.mnist_cnn()
    fit(g, (x, y), epochs=5, seed=0, progress=False)
    return g, (xt, yt)


def _accuracy(program, xt, yt):
    return float(np.mean(Session(program, max_batch=len(xt)).run(xt).argmax(1) == yt))


def _blob_bytes(path):
    return sum(b["size"] for b in info(path)["blobs"])


def test_cnn_at_4_bits_within_a_point_and_7x_smaller(trained, tmp_path):
    g, (xt, yt) = trained
    f32 = compile(g)
    c = codebook(g, 4)
    program = compile(c)
    assert all(s.precision == "codebook" for s in program.steps if s.name in _weighted(c))
    assert _accuracy(program, xt, yt) >= _accuracy(f32, xt, yt) - 0.01
    frugalnn.save(f32, tmp_path / "f32.fnn")
    frugalnn.save(program, tmp_path / "cb4.fnn")
    assert _blob_bytes(tmp_path / "f32.fnn") >= 7 * _blob_bytes(tmp_path / "cb4.fnn")
    assert f32.weight_bytes >= 7 * program.weight_bytes
    # the file as a whole too (its header and metadata are small next to the weights)
    assert (tmp_path / "f32.fnn").stat().st_size >= 6 * (tmp_path / "cb4.fnn").stat().st_size
