""".fnn files: exact round trips in every precision, mapped weights (RSS, sharing, unlinked
files), and clean FormatErrors for files that are not valid."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import frugalnn
from frugalnn import _core
from frugalnn.graph import Dense, Session, compile
from frugalnn.io.fnn import FORMAT_VERSION, info
from frugalnn.sparse import CSRMatrix
from tests.graph.models import mlp, mnist_cnn, residual_cnn

MODELS = {"mnist_cnn": mnist_cnn, "mlp": mlp, "residual_cnn": residual_cnn}
PRECISIONS = ["f32", "f16", "bf16", "int8", "sparse"]


def _batch(graph, n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = {name: rng.random((n,) + tuple(shape), dtype=np.float32) for name, shape in graph.inputs.items()}
    return next(iter(x.values())) if len(x) == 1 else x


def _graph(model: str, precision: str):
    g = MODELS[model]()
    if precision == "sparse":  # dense layers pruned 90%, stored as CSR / 1x4 blocks
        for node in g.nodes:
            if isinstance(node.layer, Dense):
                node.layer.weight = CSRMatrix.prune(node.layer.weight, 0.9).to_dense()
    return g


def _compiled(model: str, precision: str):
    g = _graph(model, precision)
    calib = _batch(g, 16, seed=1) if precision == "int8" else None
    return g, compile(g, precision=precision, calibration=calib)


def _run(program, x):
    y = Session(program, max_batch=8, num_threads=1).run(x)
    return y if isinstance(y, dict) else {"y": y}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", list(MODELS))
def test_round_trip_is_exact(model, precision, tmp_path):
    g, p = _compiled(model, precision)
    path = tmp_path / f"{model}-{precision}.fnn"
    frugalnn.save(p, path)
    x = _batch(g)
    want = _run(p, x)
    for mmap in (True, False):
        q = frugalnn.load(path, mmap=mmap)
        got = _run(q, x)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])  # bit-identical: same kernels, same bytes
        assert q.inputs == p.inputs and q.outputs == p.outputs
        assert q.quantization == p.quantization and q.has_int8 == p.has_int8
        assert [(s.name, s.kind, s.precision) for s in q.steps] == [(s.name, s.kind, s.precision) for s in p.steps]
        assert q.graph is None
        # The weights are the same bytes: saving the loaded program gives the same file.
        again = tmp_path / "again.fnn"
        frugalnn.save(q, again)
        assert again.read_bytes() == path.read_bytes()
        if precision != "sparse":  # a pool-built sparse matrix may hold a few bytes of slack
            assert q.weight_bytes == p.weight_bytes
        else:
            assert 0 < p.weight_bytes - q.weight_bytes < 4096 or q.weight_bytes == p.weight_bytes


def test_sizes_against_onnx(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")  # noqa: F841
    from frugalnn.io import to_onnx

    rows = []
    for model in ("mnist_cnn", "mlp"):
        for precision in ("f32", "f16", "int8", "sparse"):
            g, p = _compiled(model, precision)
            path = tmp_path / "m.fnn"
            frugalnn.save(p, path)
            fnn_bytes = path.stat().st_size
            onnx_bytes = len(to_onnx(g).SerializeToString())
            rows.append((model, precision, fnn_bytes, onnx_bytes))
            if precision in ("int8", "sparse"):
                assert fnn_bytes < onnx_bytes, (model, precision, fnn_bytes, onnx_bytes)
    with capsys.disabled():
        print(f"\n{'model':<10} {'precision':<9} {'.fnn':>11} {'ONNX (f32)':>11} {'ratio':>6}")
        for m, prec, f, o in rows:
            print(f"{m:<10} {prec:<9} {f:>11,} {o:>11,} {f / o:>6.2f}")


def test_save_takes_a_graph_and_path_likes(tmp_path):
    g = mlp()
    x = _batch(g, 4)
    calib = _batch(g, 16, seed=1)
    frugalnn.save(g, tmp_path / "g.fnn", precision="int8", calibration=calib)
    frugalnn.save(g, str(tmp_path / "s.fnn"))
    frugalnn.save(g, os.fsencode(tmp_path / "b.fnn"))
    q = frugalnn.load(str(tmp_path / "g.fnn"))
    ref = compile(g, precision="int8", calibration=calib)
    np.testing.assert_array_equal(_run(q, x)["y"], _run(ref, x)["y"])
    assert frugalnn.load(tmp_path / "s.fnn").steps[1].precision == "f32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.fnn", "g.fnn", "s.fnn"]  # no temporaries left
    with pytest.raises(ValueError, match="compiled already"):
        frugalnn.save(ref, tmp_path / "x.fnn", precision="f16")
    with pytest.raises(TypeError, match="Program or a Graph"):
        frugalnn.save("model", tmp_path / "x.fnn")
    with pytest.raises(TypeError, match="path"):
        frugalnn.save(ref, 3)
    with pytest.raises(FileNotFoundError):
        frugalnn.save(ref, tmp_path / "no" / "such" / "dir.fnn")
    assert not (tmp_path / "x.fnn").exists()


def test_info_holds_the_metadata_and_the_plan(tmp_path):
    g, p = _compiled("mnist_cnn", "int8")
    frugalnn.save(p, tmp_path / "m.fnn")
    meta = info(tmp_path / "m.fnn")
    assert meta["producer"] == f"frugalnn {frugalnn.__version__}" and meta["version"] == FORMAT_VERSION == (2, 0)
    assert meta["file_size"] == (tmp_path / "m.fnn").stat().st_size
    assert meta["inputs"] == [(p.inputs[0].name, [1, 28, 28])] and meta["outputs"] == [(p.outputs[0].name, [10])]
    assert meta["precisions"] == [s.precision for s in p.steps]
    assert meta["quantization"] == p.quantization
    assert {b["kind"] for b in meta["blobs"]} == {"packed_weights"}
    assert all(b["offset"] % 64 == 0 for b in meta["blobs"])
    assert meta["blobs"][1]["use"] == "packed weights of step 2 'conv2'"
    s = Session(p, max_batch=64, num_threads=1)
    plan = meta["plan"]
    assert plan["max_batch"] == 64 and plan["arena_bytes"] == s.memory_report().arena_bytes
    assert plan["lower_bound"] <= plan["arena_bytes"] <= plan["naive_bytes"]


def test_a_mapped_program_outlives_its_file(tmp_path):
    g, p = _compiled("mnist_cnn", "f16")
    path = tmp_path / "m.fnn"
    frugalnn.save(p, path)
    x = _batch(g)
    want = _run(p, x)["y"]
    mapped = frugalnn.load(path)
    read = frugalnn.load(path, mmap=False)
    # Saving again replaces the file by a rename: the mapping keeps the old inode's pages.
    frugalnn.save(compile(mlp()), path)
    np.testing.assert_array_equal(_run(mapped, x)["y"], want)
    path.unlink()
    np.testing.assert_array_equal(_run(mapped, x)["y"], want)
    np.testing.assert_array_equal(_run(read, x)["y"], want)
    s = Session(mapped, max_batch=8)
    del mapped  # the session holds the program, the program the mapping
    np.testing.assert_array_equal(s.run(x), want)


_RSS_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import frugalnn
    from frugalnn.graph import Session

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    path, mmap = sys.argv[1], sys.argv[2] == "1"
    frugalnn.load(path, mmap=True)  # warm up imports and small allocations (unmapped again)
    before = rss()
    p = frugalnn.load(path, mmap=mmap)
    after_load = rss()
    Session(p, max_batch=1, num_threads=1).run(np.zeros((1, 1, 28, 28), np.float32))
    print(p.weight_bytes, after_load - before, rss() - before)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_mapped_weights_are_not_resident_until_touched(tmp_path, capsys):
    _, p = _compiled("mnist_cnn", "f32")
    path = tmp_path / "m.fnn"
    frugalnn.save(p, path)
    out = {}
    for mmap in ("1", "0"):
        r = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path), mmap], capture_output=True,
                           text=True, timeout=120, check=True)
        out[mmap] = [int(v) for v in r.stdout.split()]
    weights, mapped_load, mapped_run = out["1"]
    _, read_load, _ = out["0"]
    with capsys.disabled():
        print(f"\nRSS growth on load: mmap {mapped_load:,} B, read {read_load:,} B, "
              f"mmap after one run {mapped_run:,} B; weights {weights:,} B")
    assert mapped_load < weights / 4  # the checksums are read with pread: no page is mapped in
    assert read_load > weights * 0.9
    assert mapped_run > weights * 0.5  # running touches them


_SHARE_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import frugalnn
    from frugalnn.graph import Session

    path = sys.argv[1]
    p = frugalnn.load(path)
    Session(p, max_batch=1, num_threads=1).run(np.zeros((1, 1, 28, 28), np.float32))
    shared = rss = 0
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                inside = line.rstrip().endswith(path)
            elif inside and fields[0] == "Shared_Clean:":
                shared += int(fields[1]) * 1024
            elif inside and fields[0] == "Rss:":
                rss += int(fields[1]) * 1024
    print(p.weight_bytes, rss, shared)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux /proc")
def test_two_processes_share_the_mapped_pages(tmp_path, capsys):
    _, p = _compiled("mnist_cnn", "f32")
    path = tmp_path / "m.fnn"
    frugalnn.save(p, path)
    mine = frugalnn.load(path)
    Session(mine, max_batch=1, num_threads=1).run(np.zeros((1, 1, 28, 28), np.float32))
    r = subprocess.run([sys.executable, "-c", _SHARE_SCRIPT, str(path.resolve())], capture_output=True,
                       text=True, timeout=120, check=True)
    weights, rss, shared = (int(v) for v in r.stdout.split())
    with capsys.disabled():
        print(f"\nsecond process: {rss:,} B of the file resident, {shared:,} B shared; weights {weights:,} B")
    assert shared > weights * 0.5
    del mine


# ---- errors -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    """The MLP at int8: a real file with several blobs, quick to mutate."""
    _, p = _compiled("mlp", "int8")
    path = tmp_path_factory.mktemp("fnn") / "mlp-int8.fnn"
    frugalnn.save(p, path)
    return path.read_bytes()


def _load_bytes(tmp_path, data, mmap=True):
    path = tmp_path / "t.fnn"
    path.write_bytes(data)
    return frugalnn.load(path, mmap=mmap)


def test_format_error_is_a_value_error():
    assert issubclass(frugalnn.FormatError, ValueError)
    assert frugalnn.FormatError is frugalnn.io.FormatError is _core.FormatError


def test_missing_and_unreadable_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        frugalnn.load(tmp_path / "missing.fnn")
    with pytest.raises(IsADirectoryError):
        frugalnn.load(tmp_path)
    with pytest.raises(TypeError, match="mmap"):
        frugalnn.load(tmp_path / "missing.fnn", mmap="yes")


@pytest.mark.parametrize("mmap", [True, False])
def test_not_an_fnn_file(tmp_path, mmap):
    for data in (b"", b"\x89FN", b"not a model file at all" * 10, b"\x89PNG\r\n\x1a\n" + bytes(100)):
        with pytest.raises(frugalnn.FormatError, match="not a .fnn file|truncated"):
            _load_bytes(tmp_path, data, mmap)


def test_wrong_version(tmp_path, small_file):
    data = bytearray(small_file)
    data[8:10] = (7).to_bytes(2, "little")
    with pytest.raises(frugalnn.FormatError, match=r"version 7\.0 \(this reader reads versions 1\.x to 2\.x\)"):
        _load_bytes(tmp_path, bytes(data))
    data[8:10] = (0).to_bytes(2, "little")
    with pytest.raises(frugalnn.FormatError, match=r"version 0\.0"):
        _load_bytes(tmp_path, bytes(data))
    data[8:10] = (2).to_bytes(2, "little")
    data[10:12] = (3).to_bytes(2, "little")  # a newer minor version only adds records: loads
    _load_bytes(tmp_path, bytes(data))


@pytest.mark.parametrize("mmap", [True, False])
def test_truncated_at_every_997th_byte(tmp_path, small_file, mmap):
    for n in range(0, len(small_file), 997):
        with pytest.raises(frugalnn.FormatError) as e:
            _load_bytes(tmp_path, small_file[:n], mmap)
        assert ("truncated" in str(e.value)) if n >= 8 else ("not a .fnn file" in str(e.value))
    with pytest.raises(frugalnn.FormatError, match="truncated: the header says"):
        _load_bytes(tmp_path, small_file[:-1], mmap)
    with pytest.raises(frugalnn.FormatError, match="1 bytes past the end"):
        _load_bytes(tmp_path, small_file + b"\0", mmap)


def test_corruption_is_named(tmp_path, small_file):
    meta = info_of(tmp_path, small_file)
    blob = meta["blobs"][1]
    data = bytearray(small_file)
    data[blob["offset"] + 100] ^= 0x10
    with pytest.raises(frugalnn.FormatError, match=r"blob 1 \(packed weights of step 2 'fc2'\): checksum mismatch"):
        _load_bytes(tmp_path, bytes(data))
    data = bytearray(small_file)
    data[meta["header_bytes"] - 3] ^= 0x01
    with pytest.raises(frugalnn.FormatError, match="header checksum mismatch"):
        _load_bytes(tmp_path, bytes(data))
    # With the checksums recomputed, the structural checks behind them speak.
    data = bytearray(small_file)
    data[72:80] = (1 << 62).to_bytes(8, "little")  # blob 0's size
    with pytest.raises(frugalnn.FormatError, match="blob 0: .* run past the end"):
        _load_bytes(tmp_path, _core.fnn_reseal(bytes(data)))
    path = tmp_path / "t.fnn"
    with pytest.raises(frugalnn.FormatError, match=str(path)):
        _load_bytes(tmp_path, bytes(data))


def info_of(tmp_path, data):
    path = tmp_path / "i.fnn"
    path.write_bytes(data)
    return info(path)


def test_xxh64_matches_the_reference():
    # Published XXH64 values (seed 0).
    assert _core.xxh64(b"") == 0xEF46DB3751D8E999
    assert _core.xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert _core.xxh64(b"abc") == 0x44BC2CF5AD770999


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd command is not installed")
def test_xxh64_matches_zstd_frame_checksums(tmp_path):
    # A zstd frame ends with the low 32 bits of XXH64 (seed 0) of its content.
    rng = np.random.default_rng(0)
    for n in (1, 31, 32, 33, 100, 4096, 100_003):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        (tmp_path / "d").write_bytes(data)
        subprocess.run(["zstd", "-q", "-f", "--check", str(tmp_path / "d"), "-o", str(tmp_path / "d.zst")], check=True)
        frame = (tmp_path / "d.zst").read_bytes()
        assert _core.xxh64(data) & 0xFFFFFFFF == int.from_bytes(frame[-4:], "little"), n
