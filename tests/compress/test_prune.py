"""Pruning: how much and which weights go (against numpy rankings), structured pruning's
smaller graph computing what the original computes with those channels zeroed (the numpy
reference forward), gradual pruning through fit, and bad arguments."""
from __future__ import annotations

import numpy as np
import pytest

from frugalnn import models, reference
from frugalnn.compress import GradualPruning, masks_of, prune, sparsity_of
from frugalnn.graph import BatchNorm, Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Session, compile

rng = np.random.default_rng(0)


def _weights(g):
    return {n.layer.name: n.layer.weight for n in g.nodes if isinstance(n.layer, (Dense, Conv2d))}


@pytest.mark.parametrize("s", [0.0, 0.1, 0.5, 0.8, 0.97])
def test_global_magnitude_pruning_removes_the_smallest(s):
    g = models.mnist_cnn()
    before = {k: w.copy() for k, w in _weights(g).items()}
    p = prune(g, s)
    assert all(np.array_equal(_weights(g)[k], before[k]) for k in before)  # the original is untouched
    allw = np.concatenate([w.reshape(-1) for w in before.values()])
    n_drop = int(round(s * allw.size))
    assert sparsity_of(p) == pytest.approx(n_drop / allw.size, abs=1e-6)
    if n_drop:
        cut = np.sort(np.abs(allw))[n_drop - 1]
        for k, w in _weights(p).items():
            assert np.all(np.abs(before[k][w == 0]) <= cut)            # only small ones went
            kept = w != 0
            assert np.array_equal(w[kept], before[k][kept])            # the rest unchanged


def test_layer_scope_prunes_each_layer_alike():
    p = prune(models.mnist_cnn(), 0.6, scope="layer")
    for w in _weights(p).values():
        assert np.count_nonzero(w == 0) == int(round(0.6 * w.size))


def test_block_pruning_drops_whole_blocks_by_norm():
    g = models.mlp()
    p = prune(g, 0.75, block=(1, 4), method="l2", keep=["fc3"])
    w = p.nodes[1].layer.weight  # fc1: 512 x 784
    blocks = w.reshape(512, -1, 4)
    zero = np.all(blocks == 0, axis=2)
    assert np.all(zero | np.all(blocks != 0, axis=2))  # each block all kept or all gone
    assert np.array_equal(p.nodes[-2].layer.weight, g.nodes[-2].layer.weight)  # fc3 kept
    # the dropped blocks have the smallest L2 norms over the pruned layers
    norms = {n: np.linalg.norm(_weights(g)[n].reshape(_weights(g)[n].shape[0], -1, 4), axis=2) for n in ("fc1", "fc2")}
    dropped = np.concatenate([norms[n][np.all(_weights(p)[n].reshape(norms[n].shape + (4,)) == 0, axis=2)]
                              for n in norms])
    kept = np.concatenate([norms[n][~np.all(_weights(p)[n].reshape(norms[n].shape + (4,)) == 0, axis=2)]
                           for n in norms])
    assert dropped.max() <= kept.min()


def _zeroed(g, name, drop):
    """The original graph with output channels `drop` of `name` silenced (weights and bias
    zero) — what structured pruning must compute."""
    import copy

    z = copy.deepcopy(g)
    for n in z.nodes:
        if n.layer.name == name:
            n.layer.weight[drop] = 0
            if n.layer.bias is not None:
                n.layer.bias[drop] = 0
    return z


def test_structured_pruning_is_the_original_with_those_channels_silenced():
    g = models.mnist_cnn()
    p = prune(g, 0.5, structured=True, scope="layer", keep=["fc2"])
    shapes = {n.layer.name: n.layer.weight.shape for n in p.nodes if hasattr(n.layer, "weight")}
    assert shapes == {"conv1": (16, 1, 3, 3), "conv2": (32, 16, 3, 3), "fc1": (64, 32 * 7 * 7), "fc2": (10, 64)}
    # which channels went: the smallest L1 norms of each layer
    z = g
    for name in ("conv1", "conv2", "fc1"):
        w = _weights(g)[name]
        norms = np.abs(w.reshape(w.shape[0], -1)).sum(axis=1)
        drop = np.argsort(norms, kind="stable")[:w.shape[0] // 2]
        z = _zeroed(z, name, drop)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(reference.forward(p, x)["y"], reference.forward(z, x)["y"], rtol=1e-5, atol=1e-6)
    out = Session(compile(p), max_batch=8).run(x)
    np.testing.assert_allclose(out, reference.forward(z, x)["y"], rtol=1e-4, atol=1e-6)


def test_structured_pruning_slices_batchnorm_and_leaves_shared_channels():
    from frugalnn.graph import Add, Graph

    c = 8
    bn = BatchNorm(rng.random(c, dtype=np.float32) + 0.5, rng.random(c, dtype=np.float32),
                   rng.random(c, dtype=np.float32), rng.random(c, dtype=np.float32) + 0.5, name="bn")
    g = Sequential([Conv2d(rng.standard_normal((c, 2, 3, 3)).astype(np.float32), None, padding=1, name="c1"), bn,
                    ReLU(), MaxPool2d(2), Flatten(), Dense(rng.standard_normal((4, c * 9)).astype(np.float32),
                                                           None, name="d")], input_shape=(2, 6, 6))
    p = prune(g, 0.25, structured=True, scope="layer")
    assert p.nodes[0].layer.weight.shape[0] == 6 and p.nodes[1].layer.gamma.shape == (6,)
    assert p.nodes[-1].layer.weight.shape == (4, 6 * 9)
    # a conv feeding a residual Add keeps its channels
    r = Graph()
    x = r.input("x", (2, 5, 5))
    a = Conv2d(rng.standard_normal((2, 2, 3, 3)).astype(np.float32), None, padding=1, name="ra")(x)
    r.output(Dense(rng.standard_normal((3, 50)).astype(np.float32), None)(Flatten()(Add()(a, x))), "y")
    assert prune(r, 0.5, structured=True).nodes[0].layer.weight.shape[0] == 2


def test_masks_of_and_fine_tuning_keep_the_zeros():
    from frugalnn.data import load_digits28
    from frugalnn.train import fit

    (x, y), (xt, yt) = load_digits28()
    g = models.mnist_cnn()
    fit(g, (x, y), epochs=2, seed=0, progress=False)
    p = prune(g, 0.8)
    masks = masks_of(p)
    assert set(masks) == {"conv1", "conv2", "fc1", "fc2"}
    h = fit(p, (x, y), epochs=1, masks=masks, validation=(xt, yt), seed=0, progress=False)
    assert sparsity_of(p) == pytest.approx(0.8, abs=1e-6)
    assert h.val_accuracy[-1] > 0.9


def test_gradual_pruning_reaches_its_target_through_fit():
    from frugalnn.data import load_digits28
    from frugalnn.train import fit

    (x, y), (xt, yt) = load_digits28()
    g = models.mnist_cnn()
    gp = GradualPruning(0.9, epochs=3)
    assert [round(gp.target(e), 4) for e in range(4)] == [round(0.9 * (1 - (1 - t) ** 3), 4) for t in (1 / 3, 2 / 3, 1, 1)]
    h = fit(g, (x, y), epochs=4, callbacks=[gp], validation=(xt, yt), seed=0, progress=False)
    assert gp.history == sorted(gp.history) and gp.history[-1] == pytest.approx(0.9, abs=1e-3)
    assert sparsity_of(g) == pytest.approx(0.9, abs=1e-3)
    assert h.val_accuracy[-1] > 0.9


@pytest.mark.parametrize("kwargs, err", [
    (dict(sparsity=1.0), "sparsity"), (dict(sparsity=-0.1), "sparsity"), (dict(sparsity=float("nan")), "sparsity"),
    (dict(sparsity=True), "sparsity"), (dict(sparsity=0.5, scope="all"), "scope"),
    (dict(sparsity=0.5, method="l3"), "method"), (dict(sparsity=0.5, block=(2, 4)), "block"),
    (dict(sparsity=0.5, block=(1, 4), structured=True), "block"), (dict(sparsity=0.5, keep=["nope"]), "keep"),
])
def test_bad_arguments(kwargs, err):
    with pytest.raises(ValueError, match=err):
        prune(models.mlp(), **kwargs)
    with pytest.raises(ValueError, match="sparsity|epochs"):
        GradualPruning(1.5, epochs=3)


def test_light_pruning_stays_dense():  # 30% zeros: CSR would store more bytes than dense
    g = prune(models.mlp(), 0.3, scope="layer")
    assert all(n.layer.precision is None for n in g.nodes if n.layer.op == "dense")


def test_pruned_dense_layers_compile_sparse_and_agree():
    g = prune(models.mlp(), 0.9, scope="layer", block=(1, 4), keep=["fc3"])
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    # the cost model chose sparse for the pruned layers, the kept one stays dense
    assert {n.layer.name: n.layer.precision for n in g.nodes if n.layer.op == "dense"} == {
        "fc1": "sparse", "fc2": "sparse", "fc3": None}
    program = compile(g)
    assert [s.precision for s in program.steps if s.name in ("fc1", "fc2", "fc3")] == ["sparse", "sparse", "f32"]
    assert program.weight_bytes < compile(g, precision="f32").weight_bytes / 3
    np.testing.assert_allclose(Session(program, max_batch=4).run(x), reference.forward(g, x)["y"],
                               rtol=1e-4, atol=1e-6)
