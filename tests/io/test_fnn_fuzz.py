"""Mutated .fnn files: every load either raises FormatError or gives a program a Session runs.

Small valid files (an int8 MLP, a sparse MLP, a float conv net with a fused max-pool) are
mutated with a fixed seed: bit flips, byte sets, truncations, insertions, deletions and
header fields overwritten with extreme values. Half of the mutants get their checksums
recomputed (_core.fnn_reseal), because a checksum mismatch would otherwise stop almost every
mutation before the structural checks behind it. Run under AddressSanitizer (.ci/run) this
also proves that no mutation makes the reader or a later Session read out of bounds.

Mutants run in child processes (tests/io/fuzz_harness.py): a crash or a hang fails this
test with the mutant saved, instead of killing the test session. The mutants and the
inputs are drawn in this process, from one seeded stream, as they always were.
"""
import collections
import os
import re

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.graph import Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Session, compile
from tests.io.fuzz_harness import Case, run_cases, worker_file

# Longer or other runs: FRUGALNN_FUZZ_MUTATIONS=100000 FRUGALNN_FUZZ_SEED=1 python -m pytest ...
MUTATIONS = int(os.environ.get("FRUGALNN_FUZZ_MUTATIONS", 10_000))
SEED = int(os.environ.get("FRUGALNN_FUZZ_SEED", 20261128))

# Field offsets of the 64-byte file header and of a 32-byte blob table entry (fnn_format.h).
HEADER_FIELDS = [(8, 2), (10, 2), (12, 4), (16, 8), (24, 8), (32, 8), (40, 4), (44, 4), (48, 8), (56, 8)]
ENTRY_FIELDS = [(0, 8), (8, 8), (16, 8), (24, 4), (28, 4)]
EXTREMES = [0, 1, 2, 3, 7, 63, 64, 65, 255, 256, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, (1 << 64) - 64]


def _tiny_mlp(rng):
    return Sequential([Dense(rng.standard_normal((24, 12)).astype(np.float32) * 0.3,
                             rng.standard_normal(24).astype(np.float32) * 0.1, activation="relu", name="fc1"),
                       Dense(rng.standard_normal((5, 24)).astype(np.float32) * 0.3, None, name="fc2")],
                      input_shape=(12,))


def _tiny_conv(rng):
    return Sequential([Conv2d(rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3,
                              rng.standard_normal(4).astype(np.float32) * 0.1, padding=1, name="conv"),
                       ReLU(), MaxPool2d(2), Flatten(),
                       Dense(rng.standard_normal((3, 4 * 3 * 3)).astype(np.float32) * 0.3, None, name="fc")],
                      input_shape=(2, 6, 6))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """name -> (file bytes, input shape) of the valid files the mutants start from."""
    return seed_files(tmp_path_factory.mktemp("fuzz-seeds"))


def seed_files(d):
    """The seeds fixture's files, written into folder d (tests/capi replays the same corpus)."""
    rng = np.random.default_rng(7)
    out = {}
    mlp = _tiny_mlp(rng)
    conv = _tiny_conv(rng)
    programs = {
        "mlp-int8": compile(mlp, precision="int8", calibration=rng.random((16, 12), dtype=np.float32)),
        "mlp-sparse": compile(mlp, precision={"fc1": "sparse", "fc2": "sparse"}),
        "conv-f32": compile(conv),
    }
    assert any(s.kind == "conv2d+maxpool2d" for s in programs["conv-f32"].steps)
    assert [s.precision for s in programs["mlp-sparse"].steps if "dense" in s.kind] == ["sparse"] * 2
    for name, p in programs.items():
        path = d / f"{name}.fnn"
        frugalnn.save(p, path)
        out[name] = (path.read_bytes(), p.inputs[0].shape[1:])
    return out


def _mutate(rng, data: bytes) -> bytes:
    b = bytearray(data)
    header_bytes = int.from_bytes(data[24:32], "little")
    op = rng.integers(7)
    # Most mutations land in the header (fixed header, blob table, meta records): blob bytes
    # are only ever checksummed, and hit mostly when the checksum is recomputed.
    in_header = rng.random() < 0.8
    pos = int(rng.integers(0, header_bytes if in_header else len(b)))
    if op == 0:  # bit flips
        for _ in range(int(rng.integers(1, 4))):
            b[pos] ^= 1 << int(rng.integers(8))
            pos = int(rng.integers(0, len(b)))
    elif op == 1:  # a byte set to an extreme or random value
        b[pos] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF, int(rng.integers(256))]))
    elif op == 2:  # truncation
        del b[int(rng.integers(0, len(b))):]
    elif op == 3:  # insertion
        b[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 70)), dtype=np.uint8).tobytes()
    elif op == 4:  # deletion
        del b[pos:pos + int(rng.integers(1, 70))]
    elif op == 5:  # a fixed-header or blob-table field set to an extreme value
        count = int.from_bytes(data[40:44], "little")
        if rng.random() < 0.5 or count == 0:
            off, width = HEADER_FIELDS[int(rng.integers(len(HEADER_FIELDS)))]
        else:
            off, width = ENTRY_FIELDS[int(rng.integers(len(ENTRY_FIELDS)))]
            off += 64 + 32 * int(rng.integers(count))
        v = int(rng.choice(EXTREMES)) if rng.random() < 0.8 else int.from_bytes(data[off:off + width], "little") + int(rng.integers(-2, 3))
        b[off:off + width] = (v % (1 << (8 * width))).to_bytes(width, "little")
    else:  # a 1/2/4/8-byte window in the meta records (counts, indices, sizes, floats)
        width = int(rng.choice([1, 2, 4, 8]))
        off = int(rng.integers(64, max(65, header_bytes - width)))
        v = int(rng.choice(EXTREMES + [0xFF800000, 0x7FC00000, 0x7F800000]))  # + float -inf, NaN, inf
        b[off:off + width] = (v % (1 << (8 * width))).to_bytes(width, "little")
    return bytes(b)


_WORKER = {}


def setup(_):
    """In the worker: a private folder for the mutant file."""
    _WORKER["path"] = worker_file("mutant.fnn")


def run_case(payload) -> str:
    """In the worker: load one mutant and run it; the outcome, or "FAIL..." with why."""
    mutant, x, mmap = payload
    path = _WORKER["path"]
    path.write_bytes(mutant)
    try:
        program = frugalnn.load(path, mmap=mmap)
    except frugalnn.FormatError as e:
        # The check that spoke, numbers and the path left out: "header checksum mismatch", ...
        message = str(e)[len(str(path)) + 2:]
        return "FormatError: " + re.sub(r"\d+", "N", message)[:72]
    except Exception as e:  # noqa: BLE001  (anything else is a failure, reported with the case)
        return f"FAIL: load raised {type(e).__name__}: {e}"
    try:
        Session(program, max_batch=2, num_threads=1).run(x)
    except Exception as e:  # noqa: BLE001
        return f"FAIL: loaded but its Session raised {type(e).__name__}: {e}"
    # Dropped before the next mutant overwrites the file in place: a mapping whose file
    # shrinks raises SIGBUS when touched (mapped_file.h).
    del program
    return "loaded and ran"


def _cases(seeds, mutations=None):
    rng = np.random.default_rng(SEED)
    names = sorted(seeds)
    for i in range(MUTATIONS if mutations is None else mutations):
        name = names[i % len(names)]
        data, shape = seeds[name]
        resealed = rng.random() < 0.5
        mutant = data
        while mutant == data:  # a resealed checksum overwrite can restore the original
            mutant = _mutate(rng, data)
            if resealed:
                mutant = _core.fnn_reseal(mutant)
        mmap = bool(rng.random() < 0.5)
        x = rng.standard_normal((2,) + tuple(shape)).astype(np.float32)
        yield Case(f"mutation {i} of {name} (seed {SEED}, resealed={resealed}, mmap={mmap})", (mutant, x, mmap))


def test_mutated_files_fail_cleanly_or_run(seeds, tmp_path, capsys):
    report = run_cases("tests.io.test_fnn_fuzz:run_case", _cases(seeds), save_dir=tmp_path / "failures")
    outcomes = collections.Counter()
    messages = collections.Counter()
    for outcome, n in report.outcomes.items():
        kind = outcome.split(":")[0]
        outcomes[kind] += n
        if kind == "FormatError":
            messages[outcome[len("FormatError: "):]] += n
    with capsys.disabled():
        print(f"\n{report.cases} mutations in {report.seconds:.1f} s ({report.workers_started} worker processes): "
              f"{dict(outcomes)}")
        for msg, n in messages.most_common(30):
            print(f"  {n:6d}  {msg}")
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.cases == MUTATIONS
    assert outcomes["FormatError"] > MUTATIONS // 2  # the mutator still reaches the checks
