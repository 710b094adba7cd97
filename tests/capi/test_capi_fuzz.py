"""The .fnn fuzzers' corpora replayed through the C API (tests/capi/c/capi_fuzz_replay.c):
every mutant either loads and runs, or fails with a status and a message — and as in Python:
a mutant Python refuses with FormatError gets FRUGALNN_FORMAT_ERROR with Python's message,
one Python runs runs. Files are loaded mapped, read, and from a buffer.

Corpora: tests/io/test_fnn_fuzz.py's (same seed files, mutator and seed; its first 2,000
mutants by default, FRUGALNN_CAPI_FUZZ_MUTATIONS for more: CI's sanitizer stage replays all
10,000 against an AddressSanitizer build of the library) and every tenth of
tests/io/test_fnn_fuzz_kinds.py's 18,900 (every blob kind and step kind)."""
import collections
import itertools
import os
import shutil
import subprocess

import frugalnn
from frugalnn.graph import Session
from tests.capi.conftest import c_env
from tests.io import test_fnn_fuzz, test_fnn_fuzz_kinds

MUTATIONS = int(os.environ.get("FRUGALNN_CAPI_FUZZ_MUTATIONS", 2000))
KINDS_STRIDE = 10
FORMAT_ERROR = 2


def python_outcome(path, mmap, make_inputs):
    """("ran", "") or ("FormatError", message without the path)."""
    try:
        program = frugalnn.load(path, mmap=mmap)
    except frugalnn.FormatError as e:
        return "FormatError", str(e)[len(str(path)) + 2:]
    Session(program, max_batch=2, num_threads=1).run(make_inputs(program))
    return "ran", ""


def replay(capi, work, cases):
    """cases: (label, mutant bytes, mmap, program -> inputs). Returns the C outcomes counted."""
    corpus = work / "corpus"
    corpus.mkdir()
    rows, want = [], []
    for i, (label, mutant, mmap, make_inputs) in enumerate(cases):
        path = corpus / f"{i}.fnn"
        path.write_bytes(mutant)
        mode = "map" if mmap else ("buffer" if i % 2 else "copy")
        rows.append(f"{mode} {path}")
        want.append((label, mode, python_outcome(path, mmap, make_inputs)))
    (work / "manifest.txt").write_text("\n".join(rows) + "\n")
    r = subprocess.run([*map(str, capi.program("capi_fuzz_replay")), str(work / "manifest.txt")],
                       capture_output=True, text=True, env=c_env())
    shutil.rmtree(corpus)  # up to 130 MB (the kinds corpus' int8 MLPs)
    assert r.returncode == 0, f"the replay died (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-6000:]}"
    got = r.stdout.splitlines()
    assert len(got) == len(want)
    mismatches = []
    for line, (label, mode, (outcome, message)) in zip(got, want):
        if outcome == "ran":
            ok = line == "ran"
        else:
            status, _, text = line.partition(" ")
            prefix = "<buffer>: " if mode == "buffer" else f"{corpus}/"
            ok = status == str(FORMAT_ERROR) and text.startswith(prefix) and text.endswith(message)
        if not ok:
            mismatches.append(f"{label}: Python {outcome} {message!r}, C API {line!r}")
    assert not mismatches, "\n".join(mismatches[:20])
    return collections.Counter("ran" if line == "ran" else line.split()[0] for line in got)


def test_fnn_fuzz_corpus(capi, tmp_path):
    seeds = test_fnn_fuzz.seed_files(tmp_path)
    cases = ((c.label, *c.payload[::2], lambda _p, x=c.payload[1]: x)
             for c in test_fnn_fuzz._cases(seeds, MUTATIONS))
    outcomes = replay(capi, tmp_path, cases)
    assert sum(outcomes.values()) == MUTATIONS
    assert outcomes[str(FORMAT_ERROR)] > MUTATIONS // 2


def test_fnn_fuzz_kinds_corpus(capi, tmp_path):
    bases = test_fnn_fuzz_kinds.base_files(tmp_path)
    ops = collections.Counter()
    every = itertools.islice(test_fnn_fuzz_kinds._cases(bases, ops), 0, None, KINDS_STRIDE)

    def inputs(seed):
        return lambda program: {s.name: test_fnn_fuzz_kinds._sample(s, seed) for s in program.inputs}

    cases = ((c.label, c.payload[0], c.payload[1], inputs(c.payload[2])) for c in every)
    outcomes = replay(capi, tmp_path, cases)
    assert outcomes["ran"] > 0 and outcomes[str(FORMAT_ERROR)] > 0
