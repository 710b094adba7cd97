"""Issue 18's goals against pytest-benchmark JSON files of one run: every goal the files
measure, the ratio reached, the target and whether it is met. The batch-1 memory goals are
measured here (the plans are exact; TensorFlow Lite Micro's arena by bisection, when
``tflite-micro`` is installed).

    python -m pytest benchmarks/bench_peers.py benchmarks/bench_zoo.py benchmarks/bench_gemm.py \\
        benchmarks/bench_depthwise.py --benchmark-json=run.json
    python benchmarks/report.py --goals run.json
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Optional

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "tests" / "io" / "data" / "peers"
sys.path.insert(0, str(ROOT))
from tests.tflm_arena import tflm_arena  # noqa: E402

# (what, how the ratio reads, target, at most?) — at most: the ratio must be <= target.
Goal = tuple[str, str, float, bool]


def _medians(benchmarks: Iterable[dict]) -> dict[str, dict[str, float]]:
    """group -> impl -> median seconds (a case's own step time, ``step_us``, where it records one)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for b in benchmarks:
        impl = b["extra_info"].get("impl") or b["params"].get("impl") or b["name"]
        step_us = b["extra_info"].get("step_us")
        out[b["group"]][impl] = step_us * 1e-6 if step_us else b["stats"]["median"]
    return out


def _ratio(m: dict, group: str, num: str, den: str) -> Optional[float]:
    g = m.get(group, {})
    return g[num] / g[den] if num in g and den in g else None


def _peer_goals(m: dict) -> list[tuple[Goal, Optional[float]]]:
    rows = []
    for model, label in (("seed_cnn", "the document's CNN"), ("mobilenet_v2_0.35_96", "MobileNetV2 0.35 96")):
        for precision, batch, target in (("int8", 1, 1.0), ("f32", 1, 1.0), ("int8", 64, 0.9)):
            if model != "seed_cnn" and batch == 64:
                continue
            for view, peer in (("native", "litert_invoke"), ("call", "litert_call")):
                group = f"{model} {precision}, batch {batch}, {view}"
                rows.append(((f"{label} {precision} b{batch} ({view})", "time / LiteRT", target, True),
                             _ratio(m, group, f"frugalnn_{view}", peer)))
    rows.append((("MobileNetV2 0.35 96 f32 b64", "time / onnxruntime", 1.0, True),
                 _ratio(m, "mobilenet_v2_0.35_96 f32, batch 64, call", "frugalnn_call", "ort_call")))
    for batch in (1, 64):
        f32 = m.get(f"mobilenet_v2_0.35_96 f32, batch {batch}, native", {}).get("frugalnn_native")
        int8 = m.get(f"mobilenet_v2_0.35_96 int8, batch {batch}, native", {}).get("frugalnn_native")
        rows.append(((f"MobileNetV2 0.35 96 int8 vs own f32, b{batch}", "speed-up", 1.8, False),
                     f32 / int8 if f32 and int8 else None))
    return rows


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _depthwise_goals(m: dict) -> list[tuple[Goal, Optional[float]]]:
    # The depthwise step alone (bench_depthwise's step_us) where recorded: the timed call
    # also changes the output's layout back to NCHW, which on the large layers costs more
    # than the convolution.
    speedups = [g["frugalnn_f32"] / g["frugalnn_int8"] for name, g in m.items()
                if name.startswith("depthwise") and "threads=1" in name and "frugalnn_f32" in g
                and "frugalnn_int8" in g]
    if not speedups:
        return []
    return [(("int8 depthwise vs f32, MobileNet layers, 1 thread (geomean)", "speed-up", 2.0, False),
             _geomean(speedups)),
            (("int8 depthwise vs f32, MobileNet layers, 1 thread (worst)", "speed-up", 2.0, False), min(speedups))]


def _zoo_goals(m: dict) -> list[tuple[Goal, Optional[float]]]:
    ratios = [g["frugalnn"] / g["ort"] for name, g in m.items()
              if name.startswith("zoo ") and "frugalnn" in g and "ort" in g]
    if not ratios:
        return []
    return [((f"torchvision zoo 224 f32 b1, {len(ratios)} models (geomean)", "time / onnxruntime", 0.9, True),
             _geomean(ratios)),
            (("torchvision zoo 224 f32 b1 (worst)", "time / onnxruntime", 1.0, True), max(ratios))]


def _gemv_goals(m: dict) -> list[tuple[Goal, Optional[float]]]:
    rows = []
    for name in sorted(n for n in m if n.startswith("gemm 1x1024x1024")):
        threads = name.rsplit("=", 1)[-1]
        rows.append(((f"GEMV 1x1024x1024 f32, {threads} thread(s)", "speed-up on numpy", 1.0, False),
                     _ratio(m, name, "numpy_f32", "frugalnn_f32")))
        rows.append(((f"GEMV 1x1024x1024 f16 weights, {threads} thread(s)", "speed-up on numpy", 1.7, False),
                     _ratio(m, name, "numpy_f32", "frugalnn_f16w")))
    return rows


def _memory_goals() -> list[tuple[Goal, Optional[float]]]:
    from frugalnn.graph import Session, compile
    from frugalnn.io import load_tflite

    rows = []
    for precision, target in (("int8", 0.9), ("f32", 1.0)):
        path = PEERS / f"seed_cnn_keras_{precision}.tflite"
        g = load_tflite(path)
        program = compile(g, precision="int8") if precision == "int8" else compile(g)
        ours = Session(program, max_batch=1).memory_report().arena_bytes
        tflm = tflm_arena(path)
        rows.append(((f"the document's CNN {precision} b1 arena ({ours:,} B vs TFLM {tflm or 0:,} B)",
                      "bytes / TFLM", target, True), ours / tflm if tflm else None))
    return rows


def print_goals(benchmarks: list[dict], echo: Callable[[str], None] = print) -> None:
    m = _medians(benchmarks)
    rows = _peer_goals(m) + _depthwise_goals(m) + _zoo_goals(m) + _gemv_goals(m) + _memory_goals()
    echo(f"\n{'goal':<62} {'reads as':<20} {'ratio':>7} {'target':>8}  met")
    for (what, reads, target, at_most), value in rows:
        if value is None:
            echo(f"{what:<62} {reads:<20} {'-':>7} {('<= ' if at_most else '>= ') + f'{target:g}':>8}  (not in the files)")
            continue
        met = value <= target if at_most else value >= target
        echo(f"{what:<62} {reads:<20} {value:7.2f} {('<= ' if at_most else '>= ') + f'{target:g}':>8}  "
             f"{'yes' if met else 'NO'}")
