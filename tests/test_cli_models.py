"""``frugalnn convert | inspect | run`` on real files; errors are one line and exit 1."""
import subprocess
import sys

import numpy as np
import pytest

import frugalnn
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
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--prune", "1.5"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--structured"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--budget", "100KiB"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--budget", "-3", "--calib", d / "calib.npz"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--budget", "1KiB", "--int8"],
                 ["convert", d / "cnn.onnx", "-o", tmp_path / "o.fnn", "--budget", "1KiB", "--calib", d / "calib.npz"]):
        code, _, err = _run(args, capsys)
        assert code == 1, args
        assert err.startswith("frugalnn: error: ") and err.count("\n") == 1, err
    r = subprocess.run([sys.executable, "-m", "frugalnn", "run", str(bad), str(d / "x.npy")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def qdq_file(files):
    """The CNN quantized by onnxruntime (static QDQ, per channel)."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    d, _ = files
    calib = np.load(d / "calib.npz")["x"]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    dst = d / "cnn_qdq.onnx"
    quantization.quantize_static(str(d / "cnn.onnx"), str(dst), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 per_channel=True)
    return dst


def test_convert_keeps_a_quantized_model_int8(files, qdq_file, capsys):
    d, _ = files
    code, out, err = _run(["convert", qdq_file, "-o", d / "kept.fnn"], capsys)
    assert code == 0, err
    code, out, err = _run(["inspect", d / "kept.fnn"], capsys)
    steps = [line.split() for line in out.splitlines() if line.startswith("    ")]
    assert {s[2] for s in steps if s[1].startswith(("conv2d", "dense"))} == {"int8"}, out
    # int8 weights: the file is about the ONNX file's size, not 4x it.
    assert (d / "kept.fnn").stat().st_size < 1.5 * qdq_file.stat().st_size
    code, out, err = _run(["convert", qdq_file, "-o", d / "float.fnn", "--float"], capsys)
    assert code == 0, err
    code, out, err = _run(["inspect", d / "float.fnn"], capsys)
    steps = [line.split() for line in out.splitlines() if line.startswith("    ")]
    assert {s[2] for s in steps if s[1].startswith(("conv2d", "dense"))} == {"f32"}, out


def test_inspect_columns_stay_apart_with_long_names(tmp_path, capsys):
    from frugalnn.graph import Dense, Sequential
    from frugalnn.io import save

    long = "/features/features.13/conv/conv.0/conv.0.0/Conv_quantized_and_then_some"
    rng = np.random.default_rng(0)
    g = Sequential([Dense(rng.standard_normal((4, 3)).astype(np.float32), None, name=long)], input_shape=(3,))
    save(compile(g), tmp_path / "long.fnn")
    code, out, err = _run(["inspect", tmp_path / "long.fnn"], capsys)
    assert code == 0, err
    row = next(line for line in out.splitlines() if long in line)
    assert row.split()[:3] == [long, "dense", "f32"], row


def test_a_closed_pipe_is_quiet(files):
    d, _ = files
    p = subprocess.Popen([sys.executable, "-m", "frugalnn", "inspect", str(d / "cnn.onnx")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # like `| head -0`: the reader is gone before the first line is written
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=120) == 0 and err == "", err


def test_convert_says_a_dynamically_quantized_model_goes_float(files, capsys):
    quantization = pytest.importorskip("onnxruntime.quantization")
    d, _ = files
    dyn = d / "cnn_dynamic.onnx"
    quantization.quantize_dynamic(str(d / "cnn.onnx"), str(dyn), weight_type=quantization.QuantType.QInt8)
    code, out, err = _run(["convert", dyn, "-o", d / "dyn.fnn"], capsys)
    assert code == 0, err
    assert "quantized dynamically" in out and "--int8 --calib" in out
    code, out, err = _run(["convert", dyn, "-o", d / "dyn8.fnn", "--int8", "--calib", d / "calib.npz"], capsys)
    assert code == 0 and "note:" not in out, err


@pytest.mark.parametrize("text, n", [("200KiB", 204800), ("1.5MB", 1500000), ("300000", 300000), ("2 MiB", 2 << 20),
                                     ("64k", 65536)])
def test_parse_bytes(text, n):
    from frugalnn.cli_models import parse_bytes

    assert parse_bytes(text) == n


@pytest.mark.parametrize("text", ["", "KiB", "-1KiB", "0", "12 parsecs", "nan", "1e30GiB", "1e30"])
def test_parse_bytes_refuses(text):
    from frugalnn.cli_models import parse_bytes

    with pytest.raises(ValueError, match="size"):
        parse_bytes(text)


def test_convert_prune_structured_and_fp16(files, capsys):
    d, g = files
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "thin.fnn", "--prune", "0.5", "--structured"], capsys)
    assert code == 0, err
    full = compile(g).weight_bytes
    p = frugalnn.load(d / "thin.fnn")
    assert p.weight_bytes < 0.6 * full and {s.precision for s in p.steps} == {"f32"}
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "sp.fnn", "--prune", "0.9"], capsys)
    assert code == 0, err
    assert "sparse" in {s.precision for s in frugalnn.load(d / "sp.fnn").steps}
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "cb.fnn", "--codebook", "4"], capsys)
    assert code == 0, err
    p = frugalnn.load(d / "cb.fnn")
    assert {s.precision for s in p.steps if s.kind != "softmax"} == {"codebook"} and p.weight_bytes < full / 7
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "cb.fnn", "--codebook", "9"], capsys)
    assert code == 1 and "bits" in err
    code, _, err = _run(["convert", d / "cnn.onnx", "-o", d / "h.fnn", "--fp16"], capsys)
    assert code == 0, err
    assert {s.precision for s in frugalnn.load(d / "h.fnn").steps if s.kind != "softmax"} == {"f16"}


def test_convert_to_a_budget(files, capsys):
    d, g = files
    full = compile(g).weight_bytes + Session(compile(g), max_batch=1).memory_report().arena_bytes
    code, out, err = _run(["convert", d / "cnn.onnx", "-o", d / "fit.fnn", "--budget", str(full // 3),
                           "--calib", d / "calib.npz"], capsys)
    assert code == 0, err
    p = frugalnn.load(d / "fit.fnn")
    assert p.weight_bytes + Session(p, max_batch=1).memory_report().arena_bytes <= full // 3
    assert "original's answer" in out and "fc1:" in out
