"""Fuzzing the .fnn reader across every blob kind and step kind: 14,700 mutations (fixed
seed) of seven valid files must each either raise frugalnn.FormatError — and nothing else — or
load into a program whose Session runs. Outcomes are counted per check that refused the file.

Files: frugalnn.models.mlp at int8, a tiny conv net (fused max-pool, grouped conv with a fused SiLU) at int8 and
at bf16 / f16 and with codebook weights (4-bit per layer, 6-bit per channel), a pruned
sparse MLP, and the residual CNN (add, depthwise, concat, average and
global pooling, layout steps) at f32 and at int8 (int8 depthwise). Operators: bit flips,
byte sets, truncations, insertions, deletions, chunk swaps, and fields of the fixed header,
the blob table, the meta records and the blobs (sparse row pointers and indices) overwritten
with extreme values (codebook indices too). All field overwrites and a quarter of the rest are "resealed" — every
checksum recomputed (_core.fnn_reseal), as a crafted file would have them — so that they
reach the structural checks behind the checksums. (tests/io/test_fnn_fuzz.py is an
independent fuzzer of small files.) Mutants run in child processes
(tests/io/fuzz_harness.py): a crash or a hang fails the test with the mutant saved.
"""
import collections
import random
import re
from pathlib import Path

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.graph import Conv2d, Dense, Flatten, MaxPool2d, ReLU, Sequential, Session, Softmax, Unary, compile
from frugalnn.io.fnn import info
from frugalnn.sparse import CSRMatrix
from tests.graph.models import residual_cnn
from tests.io.fuzz_harness import Case, run_cases, worker_file

SEED = 20240611
MUTATIONS_PER_FILE = 2100  # x 9 files = 18,900
EXTREMES = [0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32,
            (1 << 63) - 1, 1 << 63, (1 << 64) - 1]


def _he(rng, *shape):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / np.prod(shape[1:]))).astype(np.float32)


def _small(rng, n):
    return (rng.standard_normal(n) * 0.1).astype(np.float32)


def _grouped_cnn(rng, input_dtype=None):
    """The tiny grouped CNN: one float32 channel, or (``input_dtype``) a 3-channel quantized frame."""
    c = 1 if input_dtype is None else 3
    quant = {} if input_dtype is None else dict(input_dtype=input_dtype, input_scale=0.02,
                                                input_zero_point=3 if input_dtype == "uint8" else -3)
    return Sequential([
        Conv2d(_he(rng, 4, c, 3, 3), _small(rng, 4), padding="same", name="c1"), ReLU(), MaxPool2d(2),
        Conv2d(_he(rng, 8, 2, 3, 3), _small(rng, 8), padding=1, groups=2, name="c2"), Unary("silu"),  # fused
        Flatten(), Dense(_he(rng, 10, 8 * 4 * 4), _small(rng, 10), name="fc"), Softmax(),
    ], input_shape=(c, 8, 8), **quant)


def _pruned_mlp(rng):
    g = Sequential([
        Flatten(),
        Dense(_he(rng, 48, 64), _small(rng, 48), activation="relu", name="d1"),
        Dense(_he(rng, 24, 48), _small(rng, 24), activation="relu", name="d2"),
        Dense(_he(rng, 10, 24), None, name="d3"), Softmax(),
    ], input_shape=(1, 8, 8))
    for node in g.nodes:
        if isinstance(node.layer, Dense):
            node.layer.weight = CSRMatrix.prune(node.layer.weight, 0.8).to_dense()
    return g


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """(name, bytes, info) of valid files covering every blob kind, u8 tensors, quantize steps,
    fused pools, groups, depthwise, concat, add and the layout steps."""
    return base_files(tmp_path_factory.mktemp("fuzz"))


def base_files(d):
    """The bases fixture's files, written into folder d (tests/capi replays the same corpus)."""
    from frugalnn.compress import codebook
    from frugalnn.models import mlp

    rng = np.random.default_rng(0)
    cnn = _grouped_cnn(rng)
    programs = {
        "mlp-int8": compile(mlp(), precision="int8", calibration=rng.random((8, 1, 28, 28), dtype=np.float32)),
        "tiny-cnn-int8": compile(cnn, precision="int8", calibration=rng.random((8, 1, 8, 8), dtype=np.float32)),
        "tiny-cnn-bf16+f16": compile(cnn, precision={"c1": "bf16", "c2": "f16", "fc": "f32"}),
        "tiny-mlp-sparse": compile(_pruned_mlp(rng), precision="sparse"),
        # Both index row formats (nibbles, bytes) and both table layouts, grouped conv too.
        "tiny-cnn-codebook": compile(codebook(codebook(cnn, 4, keep=["fc"]), 6, per_channel=True, keep=["c1", "c2"])),
        "residual-f32": compile(residual_cnn()),
        # int8 depthwise (inline s8 weights and scales), ReLU6 on u8, int8 grouped conv.
        "residual-int8": compile(residual_cnn(), precision="int8",
                                 calibration=rng.random((8, 3, 16, 16), dtype=np.float32)),
        # A uint8 camera input read as stored by an int8 conv (u8 layout step), and an int8
        # input (s8 layout step, dequantize).
        "u8-input-cnn-int8": compile(_grouped_cnn(rng, "uint8"), precision="int8",
                                     calibration=rng.integers(0, 256, (8, 3, 8, 8), dtype=np.uint8)),
        "s8-input-cnn-f32": compile(_grouped_cnn(rng, "int8")),
    }
    out = []
    for name, p in programs.items():
        path = d / f"{name}.fnn"
        frugalnn.save(p, path)
        out.append((name, path.read_bytes(), info(path)))
    return out


def _mutate(data: bytes, meta: dict, rng: random.Random) -> tuple[str, bytes]:
    d = bytearray(data)
    n = len(d)
    header = meta["header_bytes"]
    op = rng.choices(["bitflip", "byteset", "truncate", "insert", "delete", "swap", "field", "meta", "blob"],
                     weights=[10, 8, 5, 4, 4, 5, 22, 27, 15])[0]
    if op == "bitflip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(n)
            d[i] ^= 1 << rng.randrange(8)
    elif op == "byteset":
        for _ in range(rng.randint(1, 3)):
            d[rng.randrange(n)] = rng.choice([0, 0xFF, 0x7F, 0x80, rng.randrange(256)])
    elif op == "truncate":
        d = d[:rng.randrange(n)]
    elif op == "insert":
        i = rng.randrange(n + 1)
        d[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif op == "delete":
        i = rng.randrange(n)
        del d[i:i + rng.randint(1, 64)]
    elif op == "swap":
        k = rng.randint(1, 64)
        i, j = rng.randrange(n - k), rng.randrange(n - k)
        d[i:i + k], d[j:j + k] = d[j:j + k], d[i:i + k]
    else:
        # An extreme value written over a field: the fixed header and the blob table, the
        # metadata records (at any byte: fields are unaligned), or the start of a blob
        # (sparse row pointers and indices).
        width = rng.choice([1, 2, 4, 8])
        value = rng.choice(EXTREMES + [n, n + 64, n - 64, rng.randrange(1 << 32)]) % (1 << (8 * width))
        if op == "field":
            at = rng.randrange(8, min(header, 64 + 32 * len(meta["blobs"])) - width + 1)
            at -= at % width
        elif op == "meta":
            at = rng.randrange(64, header - width + 1)
        else:
            blob = rng.choice(meta["blobs"])
            at = blob["offset"] + rng.randrange(min(blob["size"], 512) - width + 1)
        d[at:at + width] = value.to_bytes(width, "little")
    sealed = op in ("field", "meta", "blob") or rng.random() < 0.25
    if sealed:
        d = bytearray(_core.fnn_reseal(bytes(d)))
    return op + ("+resealed" if sealed else ""), bytes(d)


def _category(message: str) -> str:
    """The part of the reader that refused the file, from the message's opening words."""
    message = message.split(": ", 1)[1]  # drop the path
    for pattern, name in ((r"blob \d+ \(.*\): checksum", "blob checksum"), (r"header checksum", "header checksum"),
                          (r"blob \d+ \(", "blob vs step (size, indices)"),
                          (r"blob \d+: ", "blob table"), (r"blob \d+ is not used", "blob vs step (size, indices)"), (r"file header", "file header"),
                          (r"record '(\w+)'", r"record '\1'"), (r"meta records", "meta records"),
                          (r"program: ", "program consistency"), (r"step \d+ ", "step precision"),
                          (r"truncated", "truncated"), (r"not a \.fnn", "not a .fnn file"),
                          (r"unsupported", "version"), (r"\d+ bytes past the end", "trailing bytes")):
        m = re.match(pattern, message)
        if m:
            return m.expand(name)
    return "other"


_WORKER = {}


def setup(_):
    """In the worker: a private folder for the mutant file."""
    _WORKER["path"] = worker_file("m.fnn")


def _sample(spec, seed: int) -> np.ndarray:
    """A batch of 2 for an input: floats in [0, 1), or uint8 / int8 frames."""
    rng = np.random.default_rng(seed)
    shape = (2,) + tuple(spec.shape[1:])
    if spec.dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    info = np.iinfo(spec.dtype)
    return rng.integers(info.min, info.max + 1, shape, dtype=spec.dtype)


def run_case(payload) -> str:
    """In the worker: load one mutant (mmap or read) and run it on a seeded input."""
    mutated, mmap, seed, unchanged = payload
    path = _WORKER["path"]
    path.write_bytes(mutated)
    try:
        program = frugalnn.load(path, mmap=mmap)
    except frugalnn.FormatError as e:
        return "FormatError: " + _category(str(e))
    except Exception as e:  # noqa: BLE001 - anything else is the failure we look for
        return f"FAIL: load raised {type(e).__name__}: {e}"
    try:
        x = {s.name: _sample(s, seed) for s in program.inputs}
        y = Session(program, max_batch=2, num_threads=1).run(x)
        outputs = y if isinstance(y, dict) else {program.outputs[0].name: y}
        if [v.shape[1:] for v in outputs.values()] != [tuple(s.shape[1:]) for s in program.outputs]:
            return "FAIL: the outputs have other shapes than the program says"
    except Exception as e:  # noqa: BLE001
        return f"FAIL: run raised {type(e).__name__}: {e}"
    del program  # before the next mutant overwrites the mapped file
    return "loaded and ran" + (" (unchanged bytes)" if unchanged else "")


def _cases(bases, ops):
    rng = random.Random(SEED)
    for name, data, meta in bases:
        for i in range(MUTATIONS_PER_FILE):
            op, mutated = _mutate(data, meta, rng)
            ops[op] += 1
            yield Case(f"{name} mutation {i} ({op}, seed {SEED})", (mutated, i % 4 != 0, i, mutated == data))


def test_mutated_files_raise_format_error_or_run(bases, tmp_path, capsys):
    ops = collections.Counter()
    report = run_cases("tests.io.test_fnn_fuzz_kinds:run_case", _cases(bases, ops),
                       save_dir=tmp_path / "failures")
    outcomes = report.outcomes
    with capsys.disabled():
        print(f"\n.fnn fuzz: {report.cases:,} mutations of {len(bases)} files in {report.seconds:.1f} s "
              f"(seed {SEED}, {report.workers_started} worker processes)")
        for k, v in sorted(ops.items()):
            print(f"  {k:<22} {v:>6,}")
        for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]):
            print(f"  {k:<40} {v:>6,}")
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.cases >= 10_000
    assert outcomes["loaded and ran"] + outcomes["loaded and ran (unchanged bytes)"] > 0
    assert outcomes["FormatError: program consistency"] > 0 and outcomes["FormatError: other"] == 0
