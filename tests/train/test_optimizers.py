"""Optimizers and schedules: a few steps of training with each optimizer end where torch's
same optimizer ends, from the same weights on the same batches; pruned weights stay zero."""
from __future__ import annotations

import math

import numpy as np
import pytest

from frugalnn.graph import Dense, Flatten, Sequential, Softmax
from frugalnn.train import SGD, Adam, AdamW, CosineLR, StepLR, Trainer, Warmup

torch = pytest.importorskip("torch")


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential([Flatten(), Dense((rng.standard_normal((12, 20)) * 0.3).astype(np.float32),
                                        (rng.standard_normal(12) * 0.1).astype(np.float32), activation="relu"),
                       Dense((rng.standard_normal((4, 12)) * 0.3).astype(np.float32),
                             (rng.standard_normal(4) * 0.1).astype(np.float32)), Softmax()],
                      input_shape=(20,))


def _torch_run(g, batches, make_opt, steps_per_epoch=1, schedule=None):
    l1, l2 = g.nodes[1].layer, g.nodes[2].layer
    ps = [torch.tensor(a.copy(), requires_grad=True) for a in (l1.weight, l1.bias, l2.weight, l2.bias)]
    opt = make_opt(ps)
    for step, (x, y) in enumerate(batches):
        if schedule is not None:
            for grp in opt.param_groups:
                grp["lr"] = schedule(step)
        opt.zero_grad()
        h = torch.relu(torch.from_numpy(x) @ ps[0].T + ps[1])
        loss = torch.nn.functional.cross_entropy(h @ ps[2].T + ps[3], torch.from_numpy(y))
        loss.backward()
        opt.step()
    return [p.detach().numpy() for p in ps]


def _batches(n=5, m=16):
    rng = np.random.default_rng(1)
    return [(rng.standard_normal((m, 20)).astype(np.float32), rng.integers(0, 4, m)) for _ in range(n)]


CASES = {
    "sgd": (lambda: SGD(lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd-momentum-wd": (lambda: SGD(lr=0.05, momentum=0.9, weight_decay=1e-2),
                        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-2)),
    "sgd-nesterov": (lambda: SGD(lr=0.05, momentum=0.8, nesterov=True),
                     lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda: Adam(lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    "adam-l2": (lambda: Adam(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99)),
                lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
    "adamw": (lambda: AdamW(lr=0.01, weight_decay=0.1), lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_matches_torch(name):
    ours, theirs = CASES[name]
    g = _mlp()
    batches = _batches()
    ref = _torch_run(g, batches, theirs)
    t = Trainer(g, optimizer=ours(), max_batch=16)
    for x, y in batches:
        t.train_step(x, y)
    t.write_back()
    got = [g.nodes[1].layer.weight, g.nodes[1].layer.bias, g.nodes[2].layer.weight, g.nodes[2].layer.bias]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_schedules():
    assert [StepLR(2, 0.5).lr(1.0, s, 10) for s in (0, 19, 20, 39, 40)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    c = CosineLR(2, min_lr=0.1)
    assert c.lr(1.0, 0, 5) == pytest.approx(1.0)
    assert c.lr(1.0, 5, 5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert c.lr(1.0, 10, 5) == pytest.approx(0.1) and c.lr(1.0, 99, 5) == pytest.approx(0.1)
    w = Warmup(1, then=StepLR(1, 0.1))
    assert [w.lr(1.0, s, 4) for s in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert w.lr(1.0, 8, 4) == pytest.approx(0.1)


def test_scheduled_sgd_matches_torch():
    g = _mlp()
    batches = _batches(6)
    sched = Warmup(0.5, then=CosineLR(1))
    ref = _torch_run(g, batches, lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.5),
                     schedule=lambda s: sched.lr(0.2, s, 4))
    opt = SGD(lr=0.2, momentum=0.5, schedule=sched)
    t = Trainer(g, optimizer=opt, max_batch=16)
    opt.steps_per_epoch = 4
    for x, y in batches:
        t.train_step(x, y)
    np.testing.assert_allclose(g.nodes[2].layer.weight, ref[2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: Adam(lr=0.05, weight_decay=0.1), lambda: AdamW(lr=0.05),
                                  lambda: SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)])
def test_pruned_weights_stay_exactly_zero(make):
    g = _mlp()
    w = g.nodes[1].layer.weight
    mask = np.random.default_rng(3).random(w.shape) > 0.6
    opt = make()
    t = Trainer(g, optimizer=opt, max_batch=16, masks={g.nodes[1].layer.name: mask})
    assert np.all(w[~mask] == 0)
    before = w[mask].copy()
    for x, y in _batches(8):
        t.train_step(x, y)
    assert np.all(w[~mask] == 0.0) and not np.any(np.signbit(w[~mask]))
    assert not np.allclose(w[mask], before)              # the rest did train
    p = next(p for p in t.params if p.name.endswith("fc1.weight") or p.value is w)
    for state in p.state.values():
        assert np.all(state.reshape(w.shape)[~mask] == 0)  # no momentum builds up where pruned


@pytest.mark.parametrize("bad", [dict(lr=-1), dict(lr=math.nan), dict(momentum=1.0), dict(nesterov=True)])
def test_bad_sgd_arguments(bad):
    with pytest.raises(ValueError):
        SGD(**bad)


def test_bad_masks():
    g = _mlp()
    with pytest.raises(ValueError, match="no parameter"):
        Trainer(g, masks={"nope": np.ones(3)})
    with pytest.raises(ValueError, match="shape"):
        Trainer(g, masks={g.nodes[1].layer.name: np.ones(3)})
