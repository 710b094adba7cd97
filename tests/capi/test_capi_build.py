"""The installed package as a user meets it: the example builds with find_package and with
pkg-config (shared and static), prints Python's top-5 bit for bit from a .npy or a raw image,
and the shared library exports the C API and nothing else."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Session, compile
from frugalnn.models import mnist_cnn
from tests.capi.conftest import ROOT, c_env, run
from tests.graph.test_u8_inputs import U8, cnn as u8_cnn


def top5(scores):
    order = np.argsort(-scores, kind="stable")[:5]
    return [(int(i), scores[i]) for i in order]


def parse_top5(stdout):
    rows = [line.split("\t") for line in stdout.splitlines()]
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    return [(int(r[1]), np.float32(float(r[2]))) for r in rows]


def same(got, want):
    return [(i, v.view(np.uint32)) for i, v in got] == [(i, np.float32(v).view(np.uint32)) for i, v in want]


@pytest.fixture(autouse=True)
def _host_build(capi):
    """These build and link with this machine's compilers and tools: not for a cross build."""
    if capi.cross:
        pytest.skip("a cross build: the example and linking checks need the host's toolchain")


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("example") / "cnn.fnn"
    frugalnn.save(compile(mnist_cnn()), path)
    return path


def test_example_prints_pythons_top5(capi, cnn_file, tmp_path):
    program = frugalnn.load(cnn_file)
    image = np.random.default_rng(5).random((1, 28, 28), dtype=np.float32)
    want = top5(Session(program, max_batch=1, num_threads=1).run(image[None])[0])
    np.save(tmp_path / "image.npy", image)
    image.tofile(tmp_path / "image.raw")
    for f in ("image.npy", "image.raw"):
        got = parse_top5(run([capi.example, cnn_file, tmp_path / f], env=c_env()).stdout)
        assert same(got, want), f


def test_example_with_a_uint8_input(capi, tmp_path):
    path = tmp_path / "u8.fnn"
    frugalnn.save(compile(u8_cnn(U8)), path)
    image = np.random.default_rng(6).integers(0, 256, (3, 6, 6), dtype=np.uint8)
    want = top5(Session(frugalnn.load(path), max_batch=1, num_threads=1).run(image[None])[0])
    np.save(tmp_path / "frame.npy", image)
    assert same(parse_top5(run([capi.example, path, tmp_path / "frame.npy", 2], env=c_env()).stdout), want)
    # A float32 .npy for a uint8 input is refused, not reinterpreted.
    np.save(tmp_path / "float.npy", image.astype(np.float32))
    r = subprocess.run([str(capi.example), str(path), str(tmp_path / "float.npy")], capture_output=True, text=True, env=c_env())
    assert r.returncode == 1 and "dtype" in r.stderr


def test_example_reports_a_bad_model(capi, tmp_path):
    (tmp_path / "bad.fnn").write_bytes(b"not a model")
    (tmp_path / "x.raw").write_bytes(b"\0" * 16)
    r = subprocess.run([str(capi.example), str(tmp_path / "bad.fnn"), str(tmp_path / "x.raw")],
                       capture_output=True, text=True, env=c_env())
    assert r.returncode == 1 and "not a .fnn file" in r.stderr


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="needs pkg-config")
@pytest.mark.parametrize("static", [False, True], ids=["shared", "static"])
def test_example_builds_with_pkg_config(capi, cnn_file, tmp_path, static):
    env = dict(c_env(), PKG_CONFIG_PATH=str(capi.prefix / "lib" / "pkgconfig"))
    cflags = run(["pkg-config", "--cflags", "frugalnn"], env=env).stdout.split()
    if static:
        libdir = run(["pkg-config", "--variable=libdir", "frugalnn"], env=env).stdout.strip()
        libs = [f"{libdir}/libfrugalnn.a"] + [f for f in run(["pkg-config", "--static", "--libs", "frugalnn"], env=env).stdout.split()
                                              if f != "-lfrugalnn" and not f.startswith("-L")]
    else:
        libs = run(["pkg-config", "--libs", "frugalnn"], env=env).stdout.split()
        libs.append("-Wl,-rpath," + run(["pkg-config", "--variable=libdir", "frugalnn"], env=env).stdout.strip())
    exe = tmp_path / "classify"
    run(["cc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", ROOT / "examples" / "c" / "classify.c",
         *cflags, "-o", exe, *libs], env=env)
    image = np.random.default_rng(7).random((1, 28, 28), dtype=np.float32)
    image.tofile(tmp_path / "image.raw")
    want = top5(Session(frugalnn.load(cnn_file), max_batch=1, num_threads=1).run(image[None])[0])
    assert same(parse_top5(run([exe, cnn_file, tmp_path / "image.raw"], env=env).stdout), want)
    if static:  # no libfrugalnn.so needed at run time
        assert "libfrugalnn" not in run(["ldd", exe]).stdout


def test_static_library_with_find_package(capi, cnn_file, tmp_path):
    from tests.capi.conftest import cmake_build

    cmake_build(ROOT / "tests" / "capi" / "c", tmp_path / "static", f"-DCMAKE_PREFIX_PATH={capi.prefix}",
                "-DFRUGALNN_TEST_STATIC=ON")
    exe = tmp_path / "static" / "capi_run"
    assert "libfrugalnn" not in run(["ldd", exe]).stdout
    x = np.random.default_rng(8).random((2, 1, 28, 28), dtype=np.float32)
    x.tofile(tmp_path / "x.bin")
    run([exe, "map", cnn_file, 2, 2, 1, tmp_path / "x.bin", "--", tmp_path / "y.bin"], env=c_env())
    want = Session(frugalnn.load(cnn_file), max_batch=2, num_threads=1).run(x)
    assert np.fromfile(tmp_path / "y.bin", np.float32).view(np.uint32).tolist() == want.reshape(-1).view(np.uint32).tolist()


def test_shared_library_exports_only_the_c_api(capi):
    lib = next((capi.prefix / "lib").glob("libfrugalnn.so.*.*"))
    symbols = run(["nm", "-D", "--defined-only", lib]).stdout.split()[2::3]
    assert symbols and all(s.startswith("frugalnn_") for s in symbols), symbols
    header = (capi.prefix / "include" / "frugalnn.h").read_text()
    declared = {line.split("(")[0].split()[-1].lstrip("*") for line in header.splitlines()
                if line.startswith("FRUGALNN_API")}
    assert set(symbols) == declared


@pytest.mark.parametrize("compiler,flags", [("cc", ["-x", "c", "-std=c99"]), ("c++", ["-x", "c++", "-std=c++11"])])
def test_header_is_c99_and_cxx_clean(capi, tmp_path, compiler, flags):
    if shutil.which(compiler) is None:
        pytest.skip(f"needs {compiler}")
    src = tmp_path / "inc.c"
    src.write_text("#include <frugalnn.h>\nint main(void) { return frugalnn_abi_version() == FRUGALNN_ABI_VERSION ? 0 : 1; }\n")
    run([compiler, *flags, "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only", f"-I{capi.prefix / 'include'}", src])


def test_version_is_the_python_packages(capi):
    header = (capi.prefix / "include" / "frugalnn.h").read_text()
    parts = [int(line.split()[-1]) for line in header.splitlines()
             if line.startswith(("#define FRUGALNN_VERSION_MAJOR", "#define FRUGALNN_VERSION_MINOR",
                                 "#define FRUGALNN_VERSION_PATCH"))]
    assert ".".join(map(str, parts)) == frugalnn.__version__
    assert os.path.islink(capi.prefix / "lib" / "libfrugalnn.so")
