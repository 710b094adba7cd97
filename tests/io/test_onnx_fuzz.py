"""Structure-aware fuzzing of load_onnx -> compile -> Session.run.

Seven small valid models (tests/io/onnx_fuzz_seeds.py) are mutated at the field level
(tests/io/onnx_mutator.py): integers set to boundary values, inputs / outputs / attributes
/ ops / nodes dropped or changed, tensors retyped, truncated or moved to external data.
Every mutant goes through load_onnx, compile at f32, compile at int8 (quantized seeds
always, float seeds every other case with a calibration batch), and a Session run on a
random batch of 2. The only acceptable outcomes:

* a clean refusal: ValueError (incl. GraphError, FormatError) or NotImplementedError
  from load_onnx or compile, never the importer's backstop message (an exception type it
  should have prevented). MemoryError only where a Session plans its arena. TypeError is
  not acceptable: it is what load_onnx raises for an argument of the wrong kind, never
  for the contents of a model;
* a model that runs: outputs of the shapes the program declares and, for float models
  onnxruntime also accepts, equal to onnxruntime's within 1e-4 of the largest output;
* and nothing escapes the model's folder: a mutant whose external data points outside
  it must be refused. The file outside holds the right bytes, so reading it would load.

Mutants run in child processes (tests/io/fuzz_harness.py), so a segfault, an abort, a
sanitizer report or a hang fails the test with the mutant's label and saved payload.
Longer or other runs: FRUGALNN_FUZZ_MUTATIONS=50000 FRUGALNN_FUZZ_SEED=7 python -m pytest
tests/io/test_onnx_fuzz.py; FRUGALNN_FUZZ_TIMEOUT sets the per-case hang limit (s).
"""
import atexit
import collections
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from frugalnn.graph import compile  # noqa: E402
from frugalnn.io import load_onnx  # noqa: E402
from frugalnn.io.onnx_import import BACKSTOP_NOTE  # noqa: E402
from tests.io.fuzz_harness import Case, run_cases, run_program  # noqa: E402
from tests.io.onnx_fuzz_seeds import seeds as build_seeds  # noqa: E402
from tests.io.onnx_mutator import OUTSIDE_FILE, all_mutants  # noqa: E402

MUTATIONS = int(os.environ.get("FRUGALNN_FUZZ_MUTATIONS", 5000))
SEED = int(os.environ.get("FRUGALNN_FUZZ_SEED", 20261202))
TIMEOUT = float(os.environ.get("FRUGALNN_FUZZ_TIMEOUT", 60))
MAX_RUN_ELEMS = 1 << 20  # values per sample of any tensor, past which a mutant compiles but is not run
TOL = 1e-4

# ---------------------------------------------------------------------------------------
# The worker (a child process of the harness)

_W = {}


def setup(_):
    """A model folder with the traps the mutator's external locations aim at: symlinks
    leading one level up, a FIFO (opening it for reading would block) and a directory."""
    root = Path(tempfile.mkdtemp(prefix="onnx-fuzz-"))
    atexit.register(shutil.rmtree, root, True)
    folder = root / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "link_out").symlink_to(Path("..") / OUTSIDE_FILE)
    (folder / "link_dir").symlink_to(Path(".."))
    os.mkfifo(folder / "fifo")
    _W.update(root=root, folder=folder, seeds={name: q for name, _, q in build_seeds()})
    try:
        import onnxruntime as ort

        ort.set_default_logger_severity(4)  # its refusals are expected: keep them quiet
        _W["ort"] = ort
    except ImportError:  # the sanitizer venv has no onnxruntime: then no comparison
        _W["ort"] = None


def _source(payload):
    data, files, outside = payload["data"], payload["files"], payload["outside"]
    if not files and not outside:
        return data
    folder = _W["folder"]
    for f in folder.glob("*.bin"):
        f.unlink()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    (_W["root"] / OUTSIDE_FILE).write_bytes(outside)
    path = folder / "m.onnx"
    path.write_bytes(data)
    return path


def _refusal(stage, e):
    if BACKSTOP_NOTE in str(e):
        return f"FAIL: {stage} fell through to the importer's backstop: {e}"
    return f"{stage}: {type(e).__name__}"


def _inputs(program, rng):
    return {s.name: rng.random((2,) + tuple(s.shape[1:]), dtype=np.float32) for s in program.inputs}


def _compare_with_onnxruntime(data, x, out):
    ort = _W["ort"]
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        want = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(list(out), x)
    except Exception:  # noqa: BLE001 - a model onnxruntime refuses: nothing to compare with
        return "onnxruntime refused"
    for name, w in zip(out, want):
        got = out[name]
        w = np.asarray(w, dtype=np.float32)
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(got))):
            return "not compared (non-finite)"
        if w.shape != got.shape:
            return f"FAIL: output '{name}' has shape {got.shape}, onnxruntime's {w.shape}"
        err = float(np.max(np.abs(got - w))) if w.size else 0.0
        if err > TOL * max(1.0, float(np.max(np.abs(w)))):
            return f"FAIL: output '{name}' differs from onnxruntime's by {err:g}"
    return "agrees with onnxruntime"


def run_case(payload) -> str:
    """load -> compile f32 -> run (-> onnxruntime) -> compile int8 -> run: the outcome."""
    rng = np.random.default_rng(payload["index"])
    try:
        g = load_onnx(_source(payload))
    except (ValueError, NotImplementedError) as e:
        return _refusal("load", e)
    except Exception as e:  # noqa: BLE001
        return f"FAIL: load_onnx raised {type(e).__name__}: {e}"
    if payload["escapes"]:
        return "FAIL: a model with external data outside its folder loaded"
    if max(math.prod(s) for s in g.shapes.values()) > MAX_RUN_ELEMS:
        return "loaded, too large to run"
    results = []
    precisions = ["f32"] + (["int8"] if payload["quantized"] or payload["index"] % 2 else [])
    for precision in precisions:
        try:
            calibration = None
            if precision == "int8":
                calibration = {n: rng.random((4,) + s, dtype=np.float32) for n, s in g.inputs.items()}
            program = compile(g, precision=precision, calibration=calibration)
        except (ValueError, NotImplementedError) as e:
            results.append(_refusal(f"compile {precision}", e))
            continue
        except Exception as e:  # noqa: BLE001
            return f"FAIL: compile({precision}) raised {type(e).__name__}: {e}"
        x = _inputs(program, rng)
        out = run_program(program, x)
        if isinstance(out, str):
            if out.startswith("FAIL"):
                return f"{out} ({precision})"
            results.append(out)
            continue
        verdict = f"ran {precision}"
        if precision == "f32" and not payload["quantized"] and _W["ort"] is not None and not payload["files"]:
            verdict += ", " + _compare_with_onnxruntime(payload["data"], x, out)
            if "FAIL" in verdict:
                return verdict[verdict.index("FAIL"):]
        results.append(verdict)
    return "; ".join(results)


# ---------------------------------------------------------------------------------------
# The test


def _cases(seed_models, count):
    for i, name, quantized, m in all_mutants(seed_models, SEED, count):
        label = f"mutant {i} of '{name}' (FRUGALNN_FUZZ_SEED={SEED}): {'; '.join(m.edits)}"
        yield Case(label, {"index": i, "data": m.data, "files": m.files, "outside": m.outside,
                           "escapes": m.escapes, "quantized": quantized})


def test_seed_models_run(tmp_path):
    """The fuzzer starts from models that work (else it would only test refusals): each
    runs at f32 and int8 in a worker, and the float ones agree with onnxruntime."""
    cases = [Case(name, {"index": 1, "data": model.SerializeToString(), "files": {}, "outside": b"",
                         "escapes": False, "quantized": quantized})
             for name, model, quantized in build_seeds()]
    report = run_cases("tests.io.test_onnx_fuzz:run_case", cases, workers=1, save_dir=tmp_path)
    assert not report.failures, "\n".join(map(str, report.failures))
    floats = "ran f32, agrees with onnxruntime; ran int8" if _has_onnxruntime() else "ran f32; ran int8"
    want = collections.Counter({floats: 5})
    want["ran f32; ran int8"] += 2  # the quantized seeds: not compared (onnxruntime rounds to 8 bits)
    assert report.outcomes == want, report.outcomes


def test_mutated_onnx_models_are_refused_cleanly_or_run(tmp_path, capsys):
    report = run_cases("tests.io.test_onnx_fuzz:run_case", _cases(build_seeds(), MUTATIONS), timeout=TIMEOUT,
                       save_dir=tmp_path / "failures")
    by_stage = collections.Counter()
    for outcome, n in report.outcomes.items():
        for part in outcome.split("; "):
            by_stage[part] += n
    with capsys.disabled():
        print(f"\nONNX fuzz: {report.cases:,} mutants in {report.seconds:.1f} s (seed {SEED}, "
              f"{report.workers_started} worker processes); crashes {report.outcomes['crash']}, "
              f"hangs {report.outcomes['hang']}, failures {report.outcomes['FAIL']}")
        for k, v in sorted(by_stage.items(), key=lambda kv: -kv[1]):
            print(f"  {k:<58} {v:>7,}")
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.cases == MUTATIONS
    # The mutator still reaches every stage: refusals at load and compile, and runs.
    ran = sum(v for k, v in by_stage.items() if k.startswith("ran f32"))
    assert ran > MUTATIONS // 10 and by_stage["load: ValueError"] > MUTATIONS // 10
    assert by_stage["load: NotImplementedError"] > 0
    assert sum(v for k, v in by_stage.items() if "agrees with onnxruntime" in k) > MUTATIONS // 20 or \
        not _has_onnxruntime()


def _has_onnxruntime():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
