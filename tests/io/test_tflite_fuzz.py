"""Mutation fuzzing of load_tflite -> compile -> Session.run on the two seed-CNN peer
models (float32 and int8), in the style of test_onnx_fuzz.py.

Each mutant is one seeded edit of the file's bytes, aimed at the flatbuffer's structure
(offsets, vtables, vector lengths, shapes, operator codes and indices) rather than at the
weights, where a flipped byte only changes a number:

* flip: 1 to 4 bytes xor-ed with random values;
* word: an aligned 32-bit word set to a boundary value (0, 1, -1, 2^31 - 1, 2^31, the
  file size, a small negative);
* truncate: the file cut anywhere;
* splice: a chunk of the structure deleted or duplicated (every later offset shifts).

The only acceptable outcomes: a refusal with ValueError or NotImplementedError from
load_tflite or compile (never the importer's backstop message), or a model that runs and
returns outputs of the shapes the program declares (MemoryError only where a Session plans
its arena). Mutants run in child processes (fuzz_harness), so a crash or a hang fails the
test with the mutant's label. More: FRUGALNN_TFLITE_FUZZ_MUTATIONS=20000
FRUGALNN_FUZZ_SEED=7 python -m pytest tests/io/test_tflite_fuzz.py.
"""
import collections
import math
import os
from pathlib import Path

import numpy as np

from frugalnn.graph import compile
from frugalnn.io import load_tflite
from frugalnn.io.tflite_import import BACKSTOP_NOTE
from frugalnn.io.tflite_reader import read_model
from frugalnn.io.tflite_schema import Buffer
from tests.io.fuzz_harness import Case, run_cases, run_program

PEERS = Path(__file__).parent / "data" / "peers"
MODELS = ("seed_cnn_keras_f32.tflite", "seed_cnn_keras_int8.tflite")
MUTATIONS = int(os.environ.get("FRUGALNN_TFLITE_FUZZ_MUTATIONS", 600))
SEED = int(os.environ.get("FRUGALNN_FUZZ_SEED", 20261203))
MAX_RUN_ELEMS = 1 << 20
_BOUNDARY_WORDS = (0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, None, 0xFFFFFFF8)  # None: the file size

# ---------------------------------------------------------------------------------------
# The mutator (deterministic in (model, index), so the worker regenerates each mutant)


def _structure(data: bytes) -> np.ndarray:
    """Byte positions outside the large constant buffers (weights), where edits reach the
    flatbuffer's tables, vtables and vectors."""
    model = read_model(data)
    keep = np.ones(len(data), bool)
    for b in model.buffers:
        v = b.vector(Buffer.DATA, 1, "data")
        if v is not None and v[1] > 256:
            keep[v[0]:v[0] + v[1]] = False
    return np.flatnonzero(keep)


_CACHE: dict = {}


def mutant(name: str, index: int) -> tuple[bytes, str]:
    """(the mutated bytes, what was done)."""
    if name not in _CACHE:
        data = (PEERS / name).read_bytes()
        _CACHE[name] = (data, _structure(data))
    data, where = _CACHE[name]
    rng = np.random.default_rng([SEED, index, MODELS.index(name)])
    out = bytearray(data)
    kind = ("flip", "word", "truncate", "splice")[int(rng.integers(4))]
    if kind == "flip":
        spots = rng.choice(where, int(rng.integers(1, 5)))
        for p in spots:
            out[p] ^= int(rng.integers(1, 256))
        return bytes(out), f"flip bytes {sorted(int(p) for p in spots)}"
    if kind == "word":
        p = int(rng.choice(where)) & ~3
        v = _BOUNDARY_WORDS[int(rng.integers(len(_BOUNDARY_WORDS)))]
        v = len(data) if v is None else v
        out[p:p + 4] = v.to_bytes(4, "little")
        return bytes(out), f"word at {p} = {v:#x}"
    if kind == "truncate":
        n = int(rng.integers(0, len(data)))
        return bytes(out[:n]), f"truncated to {n} bytes"
    p = int(rng.choice(where))
    n = int(rng.integers(1, 64))
    if rng.integers(2):
        return bytes(out[:p] + out[p + n:]), f"deleted {n} bytes at {p}"
    return bytes(out[:p] + out[p:p + n] + out[p:]), f"duplicated {n} bytes at {p}"


# ---------------------------------------------------------------------------------------
# The worker


def _refusal(stage, e):
    if BACKSTOP_NOTE in str(e):
        return f"FAIL: {stage} fell through to the importer's backstop: {e}"
    return f"{stage}: {type(e).__name__}"


def run_case(payload) -> str:
    name, index = payload
    data = (PEERS / name).read_bytes() if index < 0 else mutant(name, index)[0]
    try:
        g = load_tflite(data)
    except (ValueError, NotImplementedError) as e:
        return _refusal("load", e)
    except Exception as e:  # noqa: BLE001
        return f"FAIL: load_tflite raised {type(e).__name__}: {e}"
    if max(math.prod(s) for s in g.shapes.values()) > MAX_RUN_ELEMS:
        return "loaded, too large to run"
    results = []
    for precision in ("f32", "int8") if "int8" in name else ("f32",):
        try:
            program = compile(g, precision=precision)
        except (ValueError, NotImplementedError) as e:
            results.append(_refusal(f"compile {precision}", e))
            continue
        except Exception as e:  # noqa: BLE001
            return f"FAIL: compile({precision}) raised {type(e).__name__}: {e}"
        rng = np.random.default_rng(max(index, 0))
        x = {s.name: rng.random((2,) + tuple(s.shape[1:]), dtype=np.float32) for s in program.inputs}
        out = run_program(program, x)
        if isinstance(out, str):
            if out.startswith("FAIL"):
                return out
            results.append(out)
            continue
        results.append(f"ran {precision}")
    return "; ".join(results)


# ---------------------------------------------------------------------------------------
# The tests


def test_unmutated_models_run(tmp_path):
    cases = [Case(name, (name, -1)) for name in MODELS]
    report = run_cases("tests.io.test_tflite_fuzz:run_case", cases, workers=1, save_dir=tmp_path)
    assert not report.failures, "\n".join(map(str, report.failures))
    assert report.outcomes == collections.Counter({"ran f32": 1, "ran f32; ran int8": 1}), report.outcomes


def test_mutated_tflite_models_are_refused_cleanly_or_run(tmp_path, capsys):
    cases = (Case(f"mutant {i} of {MODELS[i % 2]} (FRUGALNN_FUZZ_SEED={SEED}): {mutant(MODELS[i % 2], i)[1]}",
                  (MODELS[i % 2], i)) for i in range(MUTATIONS))
    report = run_cases("tests.io.test_tflite_fuzz:run_case", cases, timeout=60, save_dir=tmp_path / "failures")
    by_stage = collections.Counter()
    for outcome, n in report.outcomes.items():
        for part in outcome.split("; "):
            by_stage[part] += n
    with capsys.disabled():
        print(f"\nTFLite fuzz: {report.cases:,} mutants in {report.seconds:.1f} s (seed {SEED}); crashes "
              f"{report.outcomes['crash']}, hangs {report.outcomes['hang']}, failures {report.outcomes['FAIL']}")
        for k, v in sorted(by_stage.items(), key=lambda kv: -kv[1]):
            print(f"  {k:<40} {v:>6,}")
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.cases == MUTATIONS
    # The mutants reach every stage: refusals at load, and models that still run.
    assert by_stage["load: ValueError"] > MUTATIONS // 10
    assert sum(v for k, v in by_stage.items() if k.startswith("ran")) > MUTATIONS // 20
