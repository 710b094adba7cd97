"""compress.fit: every result inside its budget by an independent measure of the compiled
program, the search's choices explained, an impossible budget refused with the smallest
reachable footprint, and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from frugalnn.compress import BudgetError, fit
from frugalnn.graph import Session, compile


def _footprint(g, batch=1):
    program = compile(g)
    return program.weight_bytes + Session(program, max_batch=batch).memory_report().arena_bytes


@pytest.fixture(scope="module")
def setup(trained):
    g, x, (xt, yt) = trained
    return g, x[:128], (xt[:200], yt[:200]), _footprint(g)


def test_half_budget_by_storage_alone(setup):
    g, calib, val, full = setup
    r = fit(g, full // 2, calib, val)
    assert r.width == 0.0 and r.footprint <= full // 2
    assert _footprint(r.graph) == r.footprint                   # measured again, independently
    assert r.original_footprint == full
    assert r.accuracy >= r.original_accuracy - 0.01
    assert any("saves" in line for line in r.log) and set(r.choices) == {"conv1", "conv2", "fc1", "fc2"}
    assert "budget" in str(r) and "fc1" in str(r)
    # deterministic: the same search gives the same choices
    assert fit(g, full // 2, calib, val).choices == r.choices
    # the input graph is untouched
    assert all(getattr(n.layer, "precision", None) is None for n in g.nodes)


def test_small_budget_removes_channels(setup):
    g, calib, val, full = setup
    r = fit(g, full // 10, calib, val)
    assert r.width > 0 and r.footprint <= full // 10 and _footprint(r.graph) == r.footprint
    assert any("over the budget" in line for line in r.log)


def test_budget_at_a_larger_batch_counts_that_arena(setup):
    g, calib, val, full = setup
    big = _footprint(g, batch=16)
    r = fit(g, big // 2, calib, val, batch=16)
    assert r.batch == 16 and _footprint(r.graph, batch=16) == r.footprint <= big // 2


@pytest.mark.slow
def test_fine_tuning_with_training_data_keeps_the_budget(setup, trained):
    g, calib, val, full = setup
    _, x, _ = trained
    from frugalnn.data import load_digits28

    (_, y), _ = load_digits28()
    # Tight enough that the search stores a layer sparse (at full // 10 it narrows instead).
    r = fit(g, full // 12, calib, val, train_data=(x[:256], y[:256]), finetune_epochs=1)
    assert r.footprint <= full // 12 and _footprint(r.graph) == r.footprint
    sparse = [name for name, o in r.choices.items() if o.startswith("sparse")]
    assert sparse and any("fine-tuned" in line for line in r.log)
    for n in r.graph.nodes:  # the zeros survived fine-tuning
        if n.layer.name in sparse:
            assert np.mean(n.layer.weight == 0) >= 0.5


def test_impossible_budget_names_the_smallest_footprint(setup):
    g, calib, val, full = setup
    with pytest.raises(BudgetError, match="cannot be met.*smallest footprint reachable") as e:
        fit(g, 1000, calib, val)
    assert 1000 < e.value.smallest < full // 10
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("budget", [0, -5, 1.5, True, None])
def test_bad_budget(setup, budget):
    g, calib, val, _ = setup
    with pytest.raises(ValueError, match="budget"):
        fit(g, budget, calib, val)


def test_bad_data(setup):
    g, calib, val, full = setup
    with pytest.raises(ValueError, match="shape"):
        fit(g, full, calib[:, :, :14], val)
    with pytest.raises(TypeError, match="validation"):
        fit(g, full, calib, val[0])
    with pytest.raises(ValueError, match="labels"):
        fit(g, full, calib, (val[0], val[1][:5]))
    with pytest.raises(ValueError, match="batch"):
        fit(g, full, calib, val, batch=0)
