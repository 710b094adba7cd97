"""frugalnn demo: the whole pipeline on a small slice (one seed, one epoch), its table and
files, and its pieces. The full run is CI's main job (the README's first command)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from frugalnn import demo
from frugalnn.cli import main
from frugalnn.compress.report import parameters_of


def test_student_has_at_most_a_quarter_of_the_teachers_parameters():
    from frugalnn.models import mnist_cnn

    assert parameters_of(demo.student_cnn()) * 4 <= parameters_of(mnist_cnn())


def test_bad_data_spec():
    with pytest.raises(ValueError, match="digits28"):
        demo.load_demo_data("cifar")
    with pytest.raises(ValueError, match="seeds"):
        demo.run_demo(seeds=0)


@pytest.mark.slow
def test_pipeline_end_to_end_on_a_slice(monkeypatch, tmp_path, capsys):
    full = demo.load_demo_data("digits28")
    small = demo.DemoData("slice", tuple(a[:160] for a in full.train), tuple(a[:64] for a in full.val),
                          tuple(a[:64] for a in full.test), 1, 1, 1)
    monkeypatch.setattr(demo, "load_demo_data", lambda spec: small)
    out = tmp_path / "out"
    plot = tmp_path / "chart.png"
    try:
        import matplotlib  # noqa: F401  (an optional extra: the charts only with it)
        charts = ["--plot", str(plot)]
    except ImportError:
        charts = []
    assert main(["demo", "--seeds", "1", "--out", str(out), "--no-rss", *charts]) == 0
    text = capsys.readouterr().out
    names = ["original (f32)", "distilled student", "pruned 80% (gradual)", "pruned 50% channels", "int8 (PTQ)",
             "f16 weights", "codebook 4-bit", "50% channels + int8", "fit 50% budget", "fit 25% budget", "fit 10% budget"]
    for name in names:
        assert name in text
    assert "the document's table" in text and "done" in text
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [r["name"] for r in rows] == names
    by = {r["name"]: r for r in rows}
    full_fp = by["original (f32)"]["weight_bytes"] + by["original (f32)"]["arena_b1"]
    for frac in (50, 25, 10):
        r = by[f"fit {frac}% budget"]
        assert r["weight_bytes"] + r["arena_b1"] <= full_fp * frac / 100
    assert len(list(out.glob("*.fnn"))) == len(names)
    if charts:
        assert plot.read_bytes()[:4] == b"\x89PNG"
    assert np.isclose(by["int8 (PTQ)"]["accuracy_mean"], by["int8 (PTQ)"]["accuracy"])


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    import builtins

    from frugalnn.compress.report import plot_report

    real = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="frugalnn\\[plot\\]"):
        plot_report([], str(tmp_path / "c.png"))
