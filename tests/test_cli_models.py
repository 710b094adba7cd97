"""``frugalnn convert | inspect | run`` on real files; errors are one line and exit 1."""
import subprocess
import sys

import numpy as np
import pytest

from frugalnn import cli
from frugalnn.graph import Session, compile
from frugalnn.models import mnist_cnn

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from frugalnn.io import to_onnx

    d = tmp_path_factory.mktemp("cli")
    g = mnist_cnn()
    (d / "cnn.onnx").write_bytes(to_onnx(g).SerializeToString())
    rng = np.random.default_rng(0)
    np.savez(d / "calib.npz", x=rng.random((16, 1, 28, 28), dtype=np.float32))
    np.save(d / "x.npy", rng.random((5, 1, 28, 28), dtype=np.float32))
    return d, g


def _run(args, capsys):
    code = cli.main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.mark.parametrize("flags", [[], ["--fp16"], ["--prune", "0.9"]])
def test_convert_then_run_matches_the_compiled_graph(files, flags, capsys):
    d, g = files
    fnn = d / f"cnn{len(flags)}{flags[:1]}.fnn"
    code, out, err = _run(["convert", d / "cnn.onnx", "-o", fnn, *flags], capsys)
    assert code == 0, err
    assert fnn.exists() and "ONNX" in out
    code, out, err = _run(["run", fnn, d / "x.npy", "-o", d / "y.npy"], capsys)
    assert code == 0, err
    y = np.load(d / "y.npy")
    assert y.shape == (5, 10) and "argmax" in out
    if not flags:  # f32: the same numbers as compiling the graph here
        x = np.load(d / "x.npy")
        np.testing.assert_array_equal(y, Session(compile(g), max_batch=5).run(x))


def test_convert_int8_needs_calibration(files, capsys):
    d, _ = files
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "q.fnn", "--int8"], capsys)
    assert code == 1 and "--calib" in err and err.count("\n") == 1
    code, out, err = _run(["convert", d / "cnn.onnx", "-o", d / "q.fnn", "--int8", "--calib", d / "calib.npz"],
                          capsys)
    assert code == 0, err
    code, out, err = _run(["inspect", d / "q.fnn"], capsys)
    assert code == 0, err
    assert "int8" in out and "lower bound" in out and "conv2d+maxpool2d" in out and "in u8 scale" in out


def test_inspect_onnx(files, capsys):
    d, _ = files
    code, out, err = _run(["inspect", d / "cnn.onnx", "--batch", "8"], capsys)
    assert code == 0, err
    assert "max_batch=8" in out and "conv1" in out and "input  x" in out


def test_errors_are_one_line(files, tmp_path, capsys):
    d, _ = files
    bad = tmp_path / "bad.fnn"
    bad.write_bytes(b"not a model file at all" * 10)
    for args in (["inspect", tmp_path / "missing.fnn"], ["run", bad, d / "x.npy"], ["inspect", bad],
                 ["convert", d / "x.npy", "-o", tmp_path / "o.fnn"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--prune", "1.5"]):
        code, _, err = _run(args, capsys)
        assert code == 1, args
        assert err.startswith("frugalnn: error: ") and err.count("\n") == 1, err
    r = subprocess.run([sys.executable, "-m", "frugalnn", "run", str(bad), str(d / "x.npy")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
