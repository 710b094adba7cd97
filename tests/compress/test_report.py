"""compress.report: every figure of a row against an independent measure (file sizes, the
session's own plan, numpy accuracy), the arena timeline's buffers never overlapping while
alive, the Pareto front against brute force, the charts, and bad input."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from frugalnn import models
from frugalnn.compress import prune, quantize
from frugalnn.compress.report import (Variant, arena_timeline, format_table, parameters_of, pareto_front,
                                      plot_report, report)
from frugalnn.graph import Session, compile

rng = np.random.default_rng(3)


@pytest.fixture(scope="module")
def rows_and_inputs(tmp_path_factory):
    g = models.mnist_cnn()
    x = rng.random((40, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    variants = {"f32": g, "int8": quantize(g, x), "pruned": Variant(prune(g, 0.8), train_seconds=1.5, note="n")}
    out = tmp_path_factory.mktemp("report")
    return report(variants, x, y, repeat=3, print_table=False, out_dir=str(out)), variants, x, y, out


def test_rows_against_independent_measures(rows_and_inputs):
    rows, variants, x, y, out = rows_and_inputs
    first = None
    for row, (name, v) in zip(rows, variants.items()):
        g = v.graph if isinstance(v, Variant) else v
        program = compile(g)
        assert row.name == name and row.weight_bytes == program.weight_bytes
        assert row.file_bytes == os.path.getsize(out / f"{name}.fnn")
        assert row.arena_b1 == Session(program, max_batch=1).memory_report().arena_bytes
        assert row.arena_b64 == Session(program, max_batch=64).memory_report().arena_bytes
        assert row.footprint_b1 == row.weight_bytes + row.arena_b1
        top1 = Session(program, max_batch=40).run(x).argmax(1)
        first = top1 if first is None else first
        assert row.accuracy == pytest.approx(np.mean(top1 == y))
        assert row.agreement == pytest.approx(np.mean(top1 == first))
        assert row.parameters == sum(int(np.count_nonzero(getattr(n.layer, a)))
                                     for n in g.nodes for a in ("weight", "bias")
                                     if getattr(n.layer, a, None) is not None)
        assert row.latency_b1 > 0 and row.throughput_b64 > 0
        assert row.peak_rss > row.rss_over_import > 0
    assert rows[0].agreement == 1.0 and rows[2].train_seconds == 1.5 and rows[2].note == "n"
    assert rows[2].precisions["fc1"] == "sparse" and rows[1].precisions["conv2"] == "int8"
    # int8 is smaller everywhere: weights, file, arena
    assert rows[1].weight_bytes < rows[0].weight_bytes / 3 and rows[1].arena_b64 < rows[0].arena_b64 / 2


def test_table_and_charts(rows_and_inputs, tmp_path):
    rows, *_ = rows_and_inputs
    text = format_table(rows)
    assert all(r.name in text for r in rows) and "arena b1" in text
    pytest.importorskip("matplotlib")
    path = tmp_path / "c.png"
    plot_report(rows, str(path), timeline=compile(models.mnist_cnn()))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("batch", [1, 7])
def test_arena_timeline_buffers_never_overlap_while_alive(batch):
    program = compile(models.mnist_cnn())
    bufs = arena_timeline(program, batch)
    arena = Session(program, max_batch=batch).memory_report().arena_bytes
    assert max(b["offset"] + b["bytes"] for b in bufs) <= arena
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            alive_together = a["first"] <= b["last"] and b["first"] <= a["last"]
            apart = a["offset"] + a["bytes"] <= b["offset"] or b["offset"] + b["bytes"] <= a["offset"]
            assert not alive_together or apart, (a, b)
    assert {b["label"] for b in bufs} >= {"conv1 out", "conv2 scratch"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(0, 20)), min_size=1, max_size=12))
def test_pareto_front_is_exactly_the_undominated_points(pts):
    front = set(pareto_front(pts))

    def dominated(i):
        return any(m <= pts[i][0] and a >= pts[i][1] and (m, a) != pts[i] for m, a in pts)
    undominated = {i for i in range(len(pts)) if not dominated(i)}
    # duplicates of one undominated point: the front keeps one of them
    assert {pts[i] for i in front} == {pts[i] for i in undominated}
    assert len(front) == len({pts[i] for i in front})


def test_parameters_count_nonzero_weights():
    g = prune(models.mlp(), 0.5)
    ws = [n.layer for n in g.nodes if hasattr(n.layer, "weight")]
    assert parameters_of(g) == sum(int(np.count_nonzero(layer.weight)) + int(np.count_nonzero(layer.bias))
                                   for layer in ws)


def test_bad_input():
    g = models.mnist_cnn()
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match="at least one"):
        report({}, x, np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels"):
        report({"a": g}, x, np.zeros(3, np.int64), rss=False)
    with pytest.raises(ValueError, match="float32"):
        report({"a": g}, x.astype(np.float64), np.zeros(4, np.int64), rss=False)
    with pytest.raises(TypeError, match="Graph or a Variant"):
        report({"a": compile(g)}, x, np.zeros(4, np.int64), rss=False)


def test_timed_in_this_process_without_rss():
    g = models.mnist_cnn()
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    (row,) = report({"a": g}, x, np.zeros(8, np.int64), fresh=False, repeat=3, print_table=False)
    assert row.peak_rss is None and row.rss_over_import is None
    assert row.latency_b1 > 0 and row.throughput_b64 > 0
    (row,) = report({"a": g}, x, np.zeros(8, np.int64), rss=False, repeat=3, print_table=False)
    assert row.peak_rss is None and row.latency_b1 > 0
