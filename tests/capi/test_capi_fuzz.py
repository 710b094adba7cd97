"""The .fnn fuzzer's corpus (tests/io/test_fnn_fuzz.py: the same seed files, mutants and seed)
replayed through the C API by tests/capi/c/capi_fuzz_replay.c: every mutant either loads and
runs or fails with a status and a message — and the same as in Python: a mutant Python
refuses with FormatError gets FRUGALNN_FORMAT_ERROR and Python's message, one Python runs
runs. Loaded mapped, read, and from a buffer. CI's sanitizer stage replays the whole corpus
against an AddressSanitizer build of the library (FRUGALNN_CAPI_FUZZ_MUTATIONS=10000);
the default is its first 2,000 mutants."""
import os
import subprocess

import frugalnn
from frugalnn.graph import Session
from tests.capi.conftest import c_env
from tests.io.test_fnn_fuzz import _cases, seed_files

MUTATIONS = int(os.environ.get("FRUGALNN_CAPI_FUZZ_MUTATIONS", 2000))
FORMAT_ERROR = 2


def python_outcome(path, mmap, x):
    """("ran", "") or ("FormatError", message without the path)."""
    try:
        program = frugalnn.load(path, mmap=mmap)
    except frugalnn.FormatError as e:
        return "FormatError", str(e)[len(str(path)) + 2:]
    Session(program, max_batch=2, num_threads=1).run(x)
    return "ran", ""


def test_fuzz_corpus_replays_through_the_c_api(capi, tmp_path):
    seeds = seed_files(tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows, want = [], []
    for i, case in enumerate(_cases(seeds, MUTATIONS)):
        mutant, x, mmap = case.payload
        path = corpus / f"{i}.fnn"
        path.write_bytes(mutant)
        mode = "map" if mmap else ("buffer" if i % 2 else "copy")
        rows.append(f"{mode} {path}")
        want.append((case.label, mode, python_outcome(path, mmap, x)))
    (tmp_path / "manifest.txt").write_text("\n".join(rows) + "\n")
    r = subprocess.run([str(capi.program("capi_fuzz_replay")), str(tmp_path / "manifest.txt")],
                       capture_output=True, text=True, env=c_env())
    assert r.returncode == 0, f"the replay died (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-6000:]}"
    got = r.stdout.splitlines()
    assert len(got) == len(want)
    mismatches = []
    for line, (name, mode, (outcome, message)) in zip(got, want):
        if outcome == "ran":
            ok = line == "ran"
        else:
            status, _, text = line.partition(" ")
            prefix = "<buffer>: " if mode == "buffer" else f"{corpus}/"
            ok = status == str(FORMAT_ERROR) and text.startswith(prefix) and text.endswith(message)
        if not ok:
            mismatches.append(f"{name}: Python {outcome} {message!r}, C API {line!r}")
    assert not mismatches, "\n".join(mismatches[:20])
    assert sum(1 for line in got if line.startswith(f"{FORMAT_ERROR} ")) > MUTATIONS // 2
