"""The measured version of the document's table: one row per model variant, with its size on
disk and in memory, its speed and its accuracy, all taken in the same run."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .._timing import median_seconds
from ..graph import layers as L
from ..graph.compile import Program, compile
from ..graph.graph import Graph
from ..graph.session import Session
from ..io.fnn import save

__all__ = ["ReportRow", "Variant", "arena_timeline", "format_table", "parameters_of", "pareto_front", "plot_report",
           "report", "rows_as_dicts"]


@dataclass
class Variant:
    """A model for ``report``: its graph (compiled with its layers' own precisions unless
    ``program`` is given), the seconds spent training or fine-tuning it, and a note."""

    graph: Graph
    program: Optional[Program] = None
    train_seconds: Optional[float] = None
    note: str = ""


@dataclass
class ReportRow:
    """One variant, measured. Bytes are bytes, times seconds; ``None``: not measured."""

    name: str
    parameters: int                 # nonzero weights and biases
    weight_bytes: int               # the compiled program's packed weights
    file_bytes: int                 # its .fnn file
    arena_b1: int                   # the planned arena at batch 1
    arena_b64: int                  # ... and at batch 64
    peak_rss: Optional[int]         # peak resident set of a fresh process running it at batch 1
    rss_over_import: Optional[int]  # ... above the same process right after `import frugalnn`
    latency_b1: float               # median seconds of one batch-1 run
    throughput_b64: float           # samples per second at batch 64
    train_seconds: Optional[float]
    accuracy: float
    agreement: float                # top-1 agreement with the first variant
    note: str = ""
    precisions: dict = field(default_factory=dict)  # layer -> the precision it ran at
    accuracy_mean: Optional[float] = None   # over several trainings (seeds), when given
    accuracy_sd: Optional[float] = None

    @property
    def footprint_b1(self) -> int:
        """Weights + the batch-1 arena: the memory an inference at batch 1 needs."""
        return self.weight_bytes + self.arena_b1


def parameters_of(graph: Graph) -> int:
    """Nonzero parameters of the graph's layers (pruned weights do not count)."""
    n = 0
    for node in graph.nodes:
        layer = node.layer
        for name in ("weight", "bias"):
            a = getattr(layer, name, None)
            if isinstance(a, np.ndarray):
                n += int(np.count_nonzero(a))
        if isinstance(layer, L.BatchNorm):
            n += 2 * int(np.asarray(layer.scale_shift()[0]).size)
    return n


# A fresh interpreter maps the .fnn file, runs it at batch 1 (its peak RSS, and the RSS right
# after the imports), then times batch 1 and batch 64 with out=, with nothing else running in it.
_CHILD = r"""
import json, sys, time
def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
import numpy as np
import frugalnn
base = status("VmRSS")
path, data, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
program = frugalnn.load(path)
x = np.load(data)
s1 = frugalnn.graph.Session(program, max_batch=1)
x1 = np.ascontiguousarray(x[:1])
o1 = s1.run(x1)
for _ in range(10):
    s1.run(x1, out=o1)
peak = status("VmHWM")
def median(fn, n):
    fn()
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return float(np.median(t))
lat = median(lambda: s1.run(x1, out=o1), repeat)
s64 = frugalnn.graph.Session(program, max_batch=64)
o64 = s64.run(x)
t64 = median(lambda: s64.run(x, out=o64), max(5, repeat // 3))
print(json.dumps({"peak": peak, "base": base, "latency": lat, "t64": t64}))
"""


def _fresh_process(path: str, x64: np.ndarray, repeat: int, folder: str) -> dict:
    """Peak RSS (None without /proc), the RSS after the imports, and the median seconds of
    batch 1 and batch 64, from a new interpreter running the .fnn file."""
    data = os.path.join(folder, "_batch64.npy")
    np.save(data, x64)
    try:
        r = subprocess.run([sys.executable, "-c", _CHILD, path, data, str(repeat)], capture_output=True,
                           text=True, timeout=300)
    finally:
        os.remove(data)
    if r.returncode != 0:
        raise RuntimeError(f"measuring {path} in a fresh process failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _as_variant(name: str, v: Union[Graph, Variant]) -> Variant:
    if isinstance(v, Variant):
        return v
    if isinstance(v, Graph):
        return Variant(v)
    raise TypeError(f"report: model '{name}' must be a Graph or a Variant, got {type(v).__name__}")


def report(models: Mapping[str, Union[Graph, Variant]], data: np.ndarray, labels: np.ndarray, *,
           rss: bool = True, fresh: bool = True, repeat: int = 31, print_table: bool = True,
           plot: Optional[str] = None, out_dir: Optional[str] = None) -> list[ReportRow]:
    """Measure every model on the same data in one run and return a row per model.

    ``models``: name -> Graph (compiled at its layers' own precisions) or :class:`Variant`;
    the first is the original the others' top-1 agreement is taken against. ``data`` /
    ``labels``: a held-out split (float32 samples, integer classes). ``fresh``: time each model in
    a fresh process (a subprocess each; numpy's BLAS threads, still spinning here after a
    matmul, would take the cores from the session's threads), which also gives its peak
    resident memory unless ``rss`` is False; ``fresh=False`` times it in this process.
    ``out_dir``: where the
    ``.fnn`` files go (kept); by default a temporary directory. ``plot``: also save the charts
    there (:func:`plot_report`, needs matplotlib). Prints the table unless ``print_table`` is
    False.
    """
    if not models:
        raise ValueError("report needs at least one model")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.float32 or data.ndim < 2 or len(data) == 0:
        raise ValueError(f"data must be a non-empty float32 batch, got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be {len(data)} integers, got {labels.dtype} {labels.shape}")
    variants = {name: _as_variant(name, v) for name, v in models.items()}
    rows: list[ReportRow] = []
    reference_top1 = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = out_dir or tmp
        os.makedirs(folder, exist_ok=True)
        for name, v in variants.items():
            program = v.program if v.program is not None else compile(v.graph)
            path = os.path.join(folder, _file_name(name))
            save(program, path)
            top1 = Session(program, max_batch=min(len(data), 1024)).run(data[:1024]).argmax(1)
            if len(data) > 1024:
                s = Session(program, max_batch=1024)
                top1 = np.concatenate([top1] + [s.run(data[i:i + 1024]).argmax(1)
                                                for i in range(1024, len(data), 1024)])
            if reference_top1 is None:
                reference_top1 = top1
            s1, s64 = Session(program, max_batch=1), Session(program, max_batch=64)
            x1, x64 = data[:1], _batch(data, 64)
            peak = over = None
            if fresh:
                d = _fresh_process(path, x64, repeat, folder)
                lat, t64 = d["latency"], d["t64"]
                if rss and d["peak"] is not None:
                    peak, over = d["peak"], max(0, d["peak"] - d["base"])
            else:
                o1, o64 = s1.run(x1), s64.run(x64)
                lat = median_seconds(lambda: s1.run(x1, out=o1), repeat)
                t64 = median_seconds(lambda: s64.run(x64, out=o64), max(5, repeat // 3))
            rows.append(ReportRow(
                name=name, parameters=parameters_of(v.graph), weight_bytes=program.weight_bytes,
                file_bytes=os.path.getsize(path), arena_b1=s1.memory_report().arena_bytes,
                arena_b64=s64.memory_report().arena_bytes, peak_rss=peak, rss_over_import=over,
                latency_b1=lat, throughput_b64=64 / t64, train_seconds=v.train_seconds,
                accuracy=float(np.mean(top1 == labels)), agreement=float(np.mean(top1 == reference_top1)),
                note=v.note, precisions={st.name: st.precision for st in program.steps
                                         if st.kind.startswith(("conv", "dense", "sparse", "depthwise"))}))
    if print_table:
        print(format_table(rows))
    if plot:
        first = next(iter(variants.values()))
        plot_report(rows, plot, timeline=first.program if first.program is not None else compile(first.graph))
    return rows


def _batch(data: np.ndarray, n: int) -> np.ndarray:
    reps = math.ceil(n / len(data))
    return np.ascontiguousarray(np.concatenate([data] * reps)[:n]) if reps > 1 else np.ascontiguousarray(data[:n])


def _file_name(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return f"{safe}.fnn"


def _kib(n: Optional[int]) -> str:
    return "-" if n is None else f"{n / 1024:,.0f} KiB" if n < 10 * 2 ** 20 else f"{n / 2 ** 20:,.1f} MiB"


def _accuracy_cell(r: ReportRow) -> str:
    if r.accuracy_mean is None:
        return f"{100 * r.accuracy:.2f}%"
    return f"{100 * r.accuracy_mean:.2f} ± {100 * (r.accuracy_sd or 0.0):.2f}%"


def format_table(rows: Sequence[ReportRow]) -> str:
    """The rows as a fixed-width text table (what ``report`` prints)."""
    head = ["model", "params", "weights", ".fnn", "arena b1", "arena b64", "weights+arena", "RSS (+import)",
            "b1 latency", "b64 samples/s", "train", "accuracy", "agree"]
    body = []
    for r in rows:
        rss = "-" if r.peak_rss is None else f"{r.peak_rss / 2 ** 20:.1f} MiB (+{_kib(r.rss_over_import)})"
        body.append([r.name, f"{r.parameters:,}", _kib(r.weight_bytes), _kib(r.file_bytes), _kib(r.arena_b1),
                     _kib(r.arena_b64), _kib(r.footprint_b1), rss, f"{r.latency_b1 * 1e6:,.0f} us",
                     f"{r.throughput_b64:,.0f}", "-" if r.train_seconds is None else f"{r.train_seconds:.1f} s",
                     _accuracy_cell(r), f"{100 * r.agreement:.1f}%"])
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def arena_timeline(program: Program, max_batch: int = 1) -> list[dict]:
    """Where each planned buffer lives in a session's arena and when: one dict per buffer
    with ``label`` (the step that writes it, or its scratch), ``first`` / ``last`` (steps,
    inclusive), ``offset`` and ``bytes``."""
    s = Session(program, max_batch=max_batch)
    plan = s._core.plan
    names = [st.name for st in program.steps]
    label = {}
    for i in range(len(names)):
        out = program._core.step_info(i)[4]
        e = plan["tensor_entry"][out]
        if e >= 0:
            label[e] = f"{names[i]} out"
        se = plan["scratch_entry"][i]
        if se >= 0:
            label[se] = f"{names[i]} scratch"
    return [dict(label=label.get(e, f"buffer {e}"), first=int(plan["first"][e]), last=int(plan["last"][e]),
                 offset=int(plan["offsets"][e]), bytes=int(plan["sizes"][e]))
            for e in range(len(plan["sizes"]))]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (memory, accuracy) points no other point beats on both (less or equal
    memory and higher or equal accuracy, one strictly), by increasing memory."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def plot_report(rows: Sequence[ReportRow], path: str, *, timeline: Optional[Program] = None) -> None:
    """Save the charts to ``path`` (PNG, SVG ... by its extension): accuracy against
    weights + batch-1 arena per variant with the Pareto front, and, given a program, its
    arena timeline at batch 1 (needs matplotlib: ``pip install 'frugalnn[plot]'``)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("charts need matplotlib: pip install 'frugalnn[plot]'") from e
    panels = 2 if timeline is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(7.5 * panels, 5.2), squeeze=False)
    ax = axes[0][0]
    pts = [(r.footprint_b1 / 1024, 100 * (r.accuracy if r.accuracy_mean is None else r.accuracy_mean)) for r in rows]
    front = pareto_front(pts)
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "k--", lw=1, zorder=2, label="Pareto front")
    markers = "osD^vP*Xh<>p"
    for k, (r, (m, a)) in enumerate(zip(rows, pts)):
        sd = 100 * (r.accuracy_sd or 0.0)
        ax.errorbar([m], [a], yerr=[sd] if sd else None, fmt=markers[k % len(markers)], color=f"C{k % 10}",
                    ms=8 if k in front else 6, capsize=3, zorder=3, label=r.name + (" *" if k in front else ""))
    ax.set_xscale("log")
    ax.set_xlabel("weights + batch-1 arena (KiB, log scale)")
    ax.set_ylabel("test accuracy (%)" + (", mean ± sd over seeds" if rows[0].accuracy_mean is not None else ""))
    ax.set_title("accuracy against memory (* on the Pareto front)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    if timeline is not None:
        ax = axes[0][1]
        bufs = arena_timeline(timeline)
        for k, b in enumerate(bufs):
            ax.broken_barh([(b["first"] - 0.4, b["last"] - b["first"] + 0.8)], (b["offset"] / 1024, b["bytes"] / 1024),
                           facecolors=f"C{k % 10}", edgecolor="black", lw=0.5, alpha=0.8)
            ax.text(b["first"] - 0.35, (b["offset"] + b["bytes"] / 2) / 1024, b["label"], fontsize=7, va="center")
        names = [st.name for st in timeline.steps]
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("arena offset (KiB)")
        ax.set_title(f"arena timeline at batch 1 (first model): {arena_total(bufs) / 1024:,.0f} KiB")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def arena_total(bufs: Sequence[dict]) -> int:
    """The arena bytes a timeline spans."""
    return max((b["offset"] + b["bytes"] for b in bufs), default=0)


def rows_as_dicts(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
    """The rows as plain dicts (for JSON)."""
    return [asdict(r) for r in rows]
