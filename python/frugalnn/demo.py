"""``frugalnn demo``: the document's pipeline end to end, measured.

Train the document's CNN (the teacher), distill a smaller student, prune it with fine-tuning
(unstructured and structured), quantize it (int8, 4-bit k-means codebook, f16), fit memory budgets of 50 / 25 / 10%
of its footprint, compile every variant to a ``.fnn`` file, and print the measured table:
parameters, bytes on disk and in memory, speed and accuracy (mean over seeds where training
is involved), then the document's own table against the smallest variant that matches each
of its rows.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import compress
from .compress.report import ReportRow, Variant, format_table, plot_report, report, rows_as_dicts
from .graph import Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Softmax, compile
from .graph.graph import Graph
from .graph.session import Session
from .models import mnist_cnn
from .train import distillation, fit

__all__ = ["DOCUMENT_TABLE", "DemoData", "load_demo_data", "run_demo", "student_cnn"]

# The document's table (its CNN, MNIST): parameters, training seconds, accuracy. It gives no
# memory; its weights in float32 (and int8 for the quantized row) are what it implies.
DOCUMENT_TABLE = [
    dict(model="original", parameters=110_000, seconds=100, accuracy=0.980, weight_bytes=110_000 * 4),
    dict(model="pruned", parameters=55_000, seconds=80, accuracy=0.970, weight_bytes=55_000 * 4),
    dict(model="quantized", parameters=110_000, seconds=85, accuracy=0.965, weight_bytes=110_000),
]


@dataclass
class DemoData:
    """Train / validation (for the budget search) / test splits and the epochs they need."""

    name: str
    train: tuple
    val: tuple
    test: tuple
    teacher_epochs: int
    student_epochs: int
    finetune_epochs: int


def load_demo_data(spec: str = "digits28") -> DemoData:
    """``"digits28"`` (bundled: 1,200 train / 200 validation / 397 test) or
    ``"mnist:DIR"`` (MNIST IDX files in DIR: 55,000 / 5,000 / 10,000)."""
    from .data import load_digits28, load_mnist

    if spec == "digits28":
        (x, y), test = load_digits28()
        return DemoData("digits-28", (x[:1200], y[:1200]), (x[1200:], y[1200:]), test, 12, 16, 4)
    if spec.startswith("mnist:"):
        d = spec[len("mnist:"):]
        x, y = load_mnist(d, "train")
        test = load_mnist(d, "t10k")
        return DemoData("MNIST", (x[:55000], y[:55000]), (x[55000:], y[55000:]), test, 3, 4, 1)
    raise ValueError(f"--data must be 'digits28' or 'mnist:DIR', got {spec!r}")


def student_cnn(seed: int = 0) -> Graph:
    """The distillation student: the teacher's layout at half its channels and a quarter of
    its dense width (16 / 32 channels, dense 32: 55,338 parameters, 1/7.6 of the teacher's)."""
    rng = np.random.default_rng(seed)

    def he(*shape):
        fan_in = int(np.prod(shape[1:]))
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def zeros(n):
        return np.zeros(n, np.float32)

    return Sequential([
        Conv2d(he(16, 1, 3, 3), zeros(16), padding="same", name="conv1"), ReLU(), MaxPool2d(2),
        Conv2d(he(32, 16, 3, 3), zeros(32), padding="same", name="conv2"), ReLU(), MaxPool2d(2),
        Flatten(),
        Dense(he(32, 32 * 7 * 7), zeros(32), name="fc1"), ReLU(),
        Dense(he(10, 32), zeros(10), name="fc2"), Softmax(),
    ], input_shape=(1, 28, 28))


def _timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _variants(data: DemoData, seed: int, say: Callable[[str], None]) -> dict[str, Variant]:
    """Every variant of the pipeline for one seed."""
    x, y = data.train
    calib = x[:256]
    out: dict[str, Variant] = {}

    teacher = mnist_cnn(seed)
    _, t = _timed(lambda: fit(teacher, data.train, data.teacher_epochs, seed=seed, progress=False))
    out["original (f32)"] = Variant(teacher, train_seconds=t, note="the document's CNN, trained")
    say(f"seed {seed}: teacher trained ({data.teacher_epochs} epochs, {t:.1f} s)")

    student = student_cnn(seed)
    _, t = _timed(lambda: fit(student, data.train, data.student_epochs, seed=seed, progress=False,
                              loss=distillation(teacher, temperature=4.0, alpha=0.7)))
    out["distilled student"] = Variant(student, train_seconds=t, note="1/7.6 of the parameters, taught by the original")
    say(f"seed {seed}: student distilled ({data.student_epochs} epochs, {t:.1f} s)")

    def gradual() -> Graph:
        g = compress.fold_batchnorm(teacher)
        fit(g, data.train, data.finetune_epochs, seed=seed, progress=False,
            callbacks=[compress.GradualPruning(0.8, epochs=max(1, data.finetune_epochs - 1))])
        return compress.prune(g, 0.8)  # the zeros are there: this only marks sparse storage
    g, t = _timed(gradual)
    out["pruned 80% (gradual)"] = Variant(g, train_seconds=t, note="unstructured, fine-tuned, sparse storage")

    def structured() -> Graph:
        g = compress.prune(teacher, 0.5, structured=True)
        fit(g, data.train, data.finetune_epochs, seed=seed, progress=False)
        return g
    narrow, t = _timed(structured)
    out["pruned 50% channels"] = Variant(narrow, train_seconds=t, note="structured, fine-tuned, dense kernels")
    say(f"seed {seed}: pruned and fine-tuned")

    q, t = _timed(lambda: compress.quantize(teacher, calib))
    out["int8 (PTQ)"] = Variant(q, train_seconds=t, note="post-training, per-channel weights")
    h, t = _timed(lambda: compress.half(teacher, "f16"))
    out["f16 weights"] = Variant(h, train_seconds=t)
    c, t = _timed(lambda: compress.codebook(teacher, 4, seed=seed))
    out["codebook 4-bit"] = Variant(c, train_seconds=t, note="16 k-means centroids per layer, 4-bit indices")
    nq, t = _timed(lambda: compress.quantize(narrow, calib))
    out["50% channels + int8"] = Variant(nq, train_seconds=t, note="structured pruning, then PTQ")
    say(f"seed {seed}: quantized")

    program = compile(teacher)
    full = program.weight_bytes + Session(program, max_batch=1).memory_report().arena_bytes
    for frac in (0.5, 0.25, 0.1):
        r, t = _timed(lambda: compress.fit(teacher, int(full * frac), calib, data.val, train_data=data.train,
                                           finetune_epochs=data.finetune_epochs, seed=seed))
        out[f"fit {frac:.0%} budget"] = Variant(r.graph, train_seconds=t, note=", ".join(
            f"{k}: {v}" for k, v in r.choices.items()) + (f"; -{r.width:.0%} width" if r.width else ""))
        say(f"seed {seed}: fit {frac:.0%} of {full / 1024:,.0f} KiB -> {r.footprint / 1024:,.0f} KiB")
    return out


def _accuracy(g: Graph, test: tuple) -> float:
    x, y = test
    s = Session(compile(g), max_batch=min(len(x), 512))
    return float(np.mean(np.concatenate([s.run(x[i:i + 512]).argmax(1) for i in range(0, len(x), 512)]) == y))


def _mean(r: ReportRow) -> float:
    return r.accuracy if r.accuracy_mean is None else r.accuracy_mean


def _document_rows(rows: list[ReportRow]) -> list[str]:
    """Each row of the document's table against the smallest variant (by weight bytes) that
    is at least as accurate."""
    lines = ["the document's table (its CNN on MNIST; memory it implies: float32 weights, int8 when quantized)"
             " against the smallest variant here at equal or better accuracy:"]
    for d in DOCUMENT_TABLE:
        ok = [r for r in rows if _mean(r) >= d["accuracy"]]
        head = (f"  {d['model']:<10} {d['parameters']:>8,} params  ~{d['weight_bytes'] / 1024:>5,.0f} KiB  "
                f"{100 * d['accuracy']:.1f}%  ->  ")
        if not ok:
            lines.append(head + "no variant here reaches that accuracy")
            continue
        best = min(ok, key=lambda r: r.weight_bytes)
        lines.append(head + f"{best.name}: {best.weight_bytes / 1024:,.0f} KiB weights "
                     f"({d['weight_bytes'] / best.weight_bytes:.1f}x smaller), {100 * _mean(best):.2f}%")
    return lines


def run_demo(data: str = "digits28", *, seeds: int = 3, plot: Optional[str] = None,
             out_dir: str = "frugalnn-demo", rss: bool = True,
             say: Callable[[str], None] = print) -> list[ReportRow]:
    """Run the pipeline for ``seeds`` seeds, measure seed 0's variants (``report``), put the
    mean and spread of every variant's test accuracy over the seeds in its row, print the
    table, write the ``.fnn`` files and ``report.json`` to ``out_dir``, and the charts to
    ``plot``. Returns the rows."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    t0 = time.perf_counter()
    d = load_demo_data(data)

    def stage(line: str) -> None:
        say(f"[{time.perf_counter() - t0:6.1f} s] {line}")

    stage(f"{d.name}: {len(d.train[0]):,} train, {len(d.val[0]):,} validation, {len(d.test[0]):,} test images")
    per_seed = [_variants(d, s, stage) for s in range(seeds)]
    os.makedirs(out_dir, exist_ok=True)
    stage("measuring every variant (seed 0): files, arenas, fresh-process RSS, latency, accuracy")
    rows = report(per_seed[0], *d.test, rss=rss, print_table=False, out_dir=out_dir)
    for row in rows:
        accs = [_accuracy(v[row.name].graph, d.test) for v in per_seed]
        row.accuracy_mean, row.accuracy_sd = float(np.mean(accs)), float(np.std(accs))
    say("")
    say(format_table(rows))
    say("")
    for line in _document_rows(rows):
        say(line)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(dict(data=d.name, seeds=seeds, rows=rows_as_dicts(rows)), f, indent=1)
    if plot:
        plot_report(rows, plot, timeline=compile(per_seed[0]["original (f32)"].graph))
        say(f"charts: {plot}")
    stage(f"done; .fnn files and report.json in {out_dir}/")
    return rows
