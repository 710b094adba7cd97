"""fit: defaults that train a classifier, History, callbacks, distillation, divergence and
bad input."""
from __future__ import annotations

import numpy as np
import pytest

from frugalnn.graph import Dense, Flatten, Sequential, Session, Softmax, compile
from frugalnn.train import (SGD, Adam, Checkpoint, EarlyStopping, History, TrainingDiverged, distillation, fit,
                            load_weights)

sklearn = pytest.importorskip("sklearn")


def _digits8():
    from frugalnn.data import load_digits

    (x, y), (xt, yt) = load_digits(size=8, split=0.25)
    return (x, y), (xt, yt)


def _mlp8(seed=0, hidden=64):
    rng = np.random.default_rng(seed)
    return Sequential([Flatten(),
                       Dense((rng.standard_normal((hidden, 64)) * np.sqrt(2 / 64)).astype(np.float32),
                             np.zeros(hidden, np.float32), activation="relu"),
                       Dense((rng.standard_normal((10, hidden)) * np.sqrt(2 / hidden)).astype(np.float32),
                             np.zeros(10, np.float32)), Softmax()], input_shape=(1, 8, 8))


def test_defaults_train_a_classifier_and_the_graph_compiles_after():
    (x, y), (xt, yt) = _digits8()
    g = _mlp8()
    hist = fit(g, (x, y), epochs=8, validation=(xt, yt), seed=0, progress=False)
    assert isinstance(hist, History) and hist.epochs == 8
    assert len(hist.val_accuracy) == len(hist.epoch_time) == len(hist.lr) == 8
    assert hist.loss[-1] < hist.loss[0]
    assert hist.val_accuracy[-1] > 0.9
    # the graph holds the trained weights: compiled, it predicts what the trainer does
    s = Session(compile(g), max_batch=len(xt))
    acc = float(np.mean(np.argmax(s.run(xt), axis=1) == yt))
    assert acc == pytest.approx(hist.val_accuracy[-1], abs=1e-9)


def test_same_seed_same_history_and_weights():
    (x, y), _ = _digits8()
    runs = []
    for _ in range(2):
        g = _mlp8()
        h = fit(g, (x, y), epochs=2, seed=3, progress=False)
        runs.append((h.loss, g.nodes[1].layer.weight.tobytes()))
    assert runs[0] == runs[1]


def test_early_stopping_restores_the_best_and_checkpoint_saves(tmp_path):
    (x, y), (xt, yt) = _digits8()
    g = _mlp8()
    es = EarlyStopping(monitor="val_loss", patience=1)
    ck = Checkpoint(tmp_path / "best.npz", monitor="val_accuracy", save_best_only=True)
    # lr so high that validation loss gets worse quickly after the first epochs
    hist = fit(g, (x, y), epochs=30, optimizer=SGD(lr=0.5, momentum=0.9), validation=(xt, yt),
               callbacks=[es, ck], seed=0, progress=False)
    assert hist.stopped_early and hist.epochs < 30
    assert es.best == min(hist.val_loss)
    assert ck.saved
    g2 = _mlp8(seed=9)
    load_weights(g2, ck.saved[-1])
    s = Session(compile(g2), max_batch=len(xt))
    acc = float(np.mean(np.argmax(s.run(xt), axis=1) == yt))
    assert acc == pytest.approx(max(hist.val_accuracy), abs=1e-9)


def test_distillation_loss_matches_its_formula():
    (x, y), _ = _digits8()
    teacher = _mlp8(seed=1, hidden=128)
    fit(teacher, (x, y), epochs=2, seed=0, progress=False)
    student = _mlp8(seed=2, hidden=16)
    T, a = 3.0, 0.6
    loss = distillation(compile(teacher), temperature=T, alpha=a)
    from frugalnn.train import Trainer

    tr = Trainer(student, loss=loss, max_batch=32)
    xb, yb = x[:32], y[:32]
    got = tr.compute_loss(xb, yb)
    # the formula in float64 from both models' probabilities (numpy reference forward)
    from frugalnn import reference

    def logits(g):
        v = reference.forward_all(g, xb)
        return v[g.nodes[-1].inputs[0]]

    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    s, t = logits(student), logits(teacher)
    lpt, lps = log_softmax(t / T), log_softmax(s / T)
    kl = np.mean(np.sum(np.exp(lpt) * (lpt - lps), axis=1))
    ce = -np.mean(log_softmax(s)[np.arange(32), yb])
    assert got == pytest.approx(a * T * T * kl + (1 - a) * ce, rel=1e-4)


def test_distillation_trains_a_student():
    (x, y), (xt, yt) = _digits8()
    teacher = _mlp8(seed=1, hidden=128)
    fit(teacher, (x, y), epochs=5, seed=0, progress=False)
    student = _mlp8(seed=2, hidden=16)
    hist = fit(student, (x, y), epochs=6, loss=distillation(teacher, temperature=4.0, alpha=0.7),
               optimizer=Adam(lr=1e-2), validation=(xt, yt), seed=0, progress=False)
    assert hist.val_accuracy[-1] > 0.85


def test_diverging_fit_names_epoch_and_step_and_keeps_last_good_weights():
    (x, y), _ = _digits8()
    g = _mlp8()
    w0 = g.nodes[1].layer.weight.copy()
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+"):
        fit(g, (x * 1e4, y), epochs=3, optimizer=SGD(lr=1e6), seed=0, progress=False)
    assert np.array_equal(g.nodes[1].layer.weight, w0)


@pytest.mark.parametrize("kwargs, err", [
    (dict(train_data=(np.zeros((10, 1, 8, 8), np.float32), np.zeros(9, np.int64))), ValueError),
    (dict(train_data=(np.zeros((10, 1, 8, 8), np.float32), np.zeros(10, np.int64)), batch_size=0), ValueError),
    (dict(train_data=(np.zeros((10, 1, 8, 8), np.float32), np.zeros(10, np.int64)), epochs=0), ValueError),
    (dict(train_data=([[0.0]], [0])), TypeError),
    (dict(train_data="data"), TypeError),
    (dict(train_data=(np.zeros((4, 1, 8, 8), np.float32), np.array([0.0, np.nan, 1.0, 2.0]))), ValueError),
    (dict(train_data=(np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 2, 10]))), ValueError),
    (dict(train_data=(np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 2, 3])),
          validation=(np.zeros((2, 1, 8, 8), np.float32), np.array([-1, 0]))), ValueError),
    (dict(train_data=(np.zeros((4, 1, 8, 8), np.float32), np.array([0, 1, 2, 3])), epochs=2.5), ValueError),
])
def test_bad_input(kwargs, err):
    with pytest.raises(err):
        fit(_mlp8(), progress=False, **kwargs)


def test_progress_bar_when_asked(capsys):
    pytest.importorskip("tqdm")
    (x, y), _ = _digits8()
    fit(_mlp8(), (x[:64], y[:64]), epochs=1, seed=0, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err
    fit(_mlp8(), (x[:64], y[:64]), epochs=1, seed=0, progress=False)
    assert capsys.readouterr().err == ""


def test_a_loader_is_taken_as_is():
    from frugalnn.data import Loader

    (x, y), _ = _digits8()
    loader = Loader(x, y, batch_size=50, seed=1)
    h = fit(_mlp8(), loader, epochs=2, progress=False)
    assert h.epochs == 2
    with pytest.raises(ValueError, match="batch_size"):
        fit(_mlp8(), loader, epochs=1, batch_size=10, progress=False)
