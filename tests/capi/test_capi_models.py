"""Models run through the C API give Python's results bit for bit: each is compiled and saved
by the Python package, then run by frugalnn.graph.Session (the reference) and by the C API
(tests/capi/c/capi_run.c) on the same inputs, at the same max_batch — float32 and int8, float
and uint8 / int8 inputs, several inputs and outputs, every weight precision, the peers'
.tflite files and Keras exports through the ONNX importer — loaded mapped,
read, and from a buffer. The C API also reports each input and output as Python does.

Under an emulator (a cross build, CApi.cross: .ci/arm.sh on qemu-aarch64) the kernels above
scalar are the other architecture's. There the scalar level must still give Python's scalar
bits (portable code, no contraction of a * b + c on either side), programs whose every weighted
step is int8 at the best level too (integer kernels bit-exact with scalar, the float steps
portable code), and the others at the best level are within 1e-5 of Python's."""
import numpy as np
import pytest

import frugalnn
from frugalnn.graph import Concat, Conv2d, Dense, Flatten, Graph, ReLU, Session, compile
from frugalnn.compress import codebook
from frugalnn.io import load_onnx, load_tflite
from frugalnn.models import digit_samples, digits_cnn, mlp, mnist_cnn
from tests.capi.conftest import ROOT, c_env, run
from tests.graph.models import residual_cnn
from tests.graph.test_u8_inputs import S8, U8, cnn as u8_cnn

DTYPES = {0: "float32", 1: "uint8", 2: "int8"}
PEERS = ROOT / "tests" / "io" / "data" / "peers"
KERAS = ROOT / "tests" / "io" / "zoo" / "keras"


def two_input_net(seed=3):
    """Two inputs (an image and a vector) joined by a Concat, two outputs."""
    rng = np.random.default_rng(seed)
    g = Graph()
    img = g.input("img", (2, 6, 6))
    vec = g.input("vec", (7,))
    h = Flatten()(ReLU()(Conv2d(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), None, padding=1, name="c")(img)))
    c = Concat(name="cat")(h, vec)
    g.output(Dense(rng.standard_normal((4, 3 * 36 + 7)).astype(np.float32) * 0.1, None, name="fc")(c), "y")
    g.output(h, "features")
    return g


def _inputs(program, batch, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for spec in program.inputs:
        shape = (batch,) + tuple(spec.shape[1:])
        if np.dtype(spec.dtype) == np.float32:
            out.append(rng.standard_normal(shape).astype(np.float32))
        else:
            info = np.iinfo(spec.dtype)
            out.append(rng.integers(info.min, info.max + 1, shape, dtype=spec.dtype))
    return out


def _keras_zoo(name):
    """A Keras zoo export, its stripped weights restored (tests/io/zoo/keras_weights.py)."""
    import onnx
    from tests.io.zoo.keras_weights import restore

    return restore(onnx.load(str(KERAS / f"{name}.onnx")), seed=0)


def _programs():
    """name -> a function giving the compiled program."""
    programs = {
        "mnist_cnn-f32": lambda: compile(mnist_cnn()),
        "mnist_cnn-int8": lambda: compile(mnist_cnn(), precision="int8",
                                          calibration=np.random.default_rng(1).random((16, 1, 28, 28), dtype=np.float32)),
        # The trained digits model, float and calibrated on its own held-out digits.
        "digits_cnn-f32": lambda: compile(digits_cnn()),
        "digits_cnn-int8": lambda: compile(digits_cnn(), precision="int8", calibration=digit_samples()[0]),
        # 4-bit codebooks per layer, 6-bit per channel.
        "digits_cnn-codebook": lambda: compile(codebook(codebook(digits_cnn(), 4, keep=["fc2"]), 6,
                                                        per_channel=True, keep=["conv1", "conv2", "fc1"])),
        "mlp-f32": lambda: compile(mlp()),
        "mlp-f16": lambda: compile(mlp(), precision="f16"),
        "mlp-bf16": lambda: compile(mlp(), precision="bf16"),
        "mlp-sparse": lambda: compile(mlp(), precision={"fc1": "sparse", "fc2": "sparse"}),
        "residual_cnn-f32": lambda: compile(residual_cnn()),
        "residual_cnn-int8": lambda: compile(residual_cnn(), precision="int8",
                                             calibration=np.random.default_rng(2).standard_normal((16, 3, 16, 16)).astype(np.float32)),
        "two_inputs": lambda: compile(two_input_net()),
        "u8_input-int8_conv": lambda: compile(u8_cnn(U8), precision={"conv": "int8"},
                                              calibration=np.random.default_rng(3).integers(0, 256, (8, 3, 6, 6), dtype=np.uint8)),
        "s8_input-f32": lambda: compile(u8_cnn(S8)),
        # The peers' files: LiteRT's float and full-integer models (their own int8 parameters)
        # and Keras exports through the ONNX importer (depthwise, residual adds, ReLU6, SE).
        "seed_cnn_tflite-f32": lambda: compile(load_tflite(PEERS / "seed_cnn_keras_f32.tflite")),
        "seed_cnn_tflite-int8": lambda: compile(load_tflite(PEERS / "seed_cnn_keras_int8.tflite"), precision="int8"),
        "mobilenet_v2_tflite-f32": lambda: compile(load_tflite(PEERS / "mobilenet_v2_0.35_96_keras_f32.tflite")),
        "mobilenet_v2_tflite-int8": lambda: compile(load_tflite(PEERS / "mobilenet_v2_0.35_96_keras_int8.tflite"),
                                                    precision="int8"),
    }
    try:
        import onnx  # noqa: F401  (the importer's own dependency)
    except ImportError:
        return programs
    programs["mobilenet_v3_small_onnx-f32"] = lambda: compile(load_onnx(_keras_zoo("mobilenet_v3_small_0.75_96")))
    programs["efficientnet_b0_onnx-f32"] = lambda: compile(load_onnx(_keras_zoo("efficientnet_b0_64")))
    return programs


PROGRAMS = _programs()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (path of the .fnn file, the program loaded back by Python)."""
    d = tmp_path_factory.mktemp("capi-models")
    out = {}
    for name, make in PROGRAMS.items():
        path = d / f"{name}.fnn"
        frugalnn.save(make(), path)
        out[name] = (path, frugalnn.load(path))
    return out


def run_c(capi, mode, path, inputs, batch, max_batch, threads, work, isa=None):
    """Runs capi_run (with FRUGALNN_ISA=isa if given); (printed lines, outputs as numpy arrays)."""
    in_files = []
    for i, x in enumerate(inputs):
        f = work / f"in{i}.bin"
        f.write_bytes(np.ascontiguousarray(x).tobytes())
        in_files.append(f)
    out_files = [work / f"out{i}.bin" for i in range(64)]
    env = c_env() if isa is None else dict(c_env(), FRUGALNN_ISA=isa)
    lines = run([*capi.program("capi_run"), mode, path, batch, max_batch, threads, *in_files, "--",
                 *out_files[:_n_outputs(path)]], env=env).stdout.splitlines()
    n = sum(1 for line in lines if line.startswith("output "))
    return lines, [np.fromfile(out_files[i], dtype=np.float32) for i in range(n)]


def _n_outputs(path):
    return len(frugalnn.io.fnn.info(path)["outputs"])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_outputs_bit_identical_to_python(capi, saved, name, tmp_path):
    path, program = saved[name]
    for mode, batch, max_batch, threads in [("map", 1, 1, 1), ("copy", 3, 4, 2), ("buffer", 4, 4, 1)]:
        xs = _inputs(program, batch, seed=batch)
        want = Session(program, max_batch=max_batch, num_threads=threads).run(
            xs[0] if len(xs) == 1 else {s.name: x for s, x in zip(program.inputs, xs)})
        want = [want] if isinstance(want, np.ndarray) else [want[s.name] for s in program.outputs]
        _, got = run_c(capi, mode, path, xs, batch, max_batch, threads, tmp_path)
        assert len(got) == len(want)
        if capi.cross:
            _check_cross(capi, name, program, mode, path, xs, batch, max_batch, threads, got, want, tmp_path)
            continue
        for g, w in zip(got, want):
            # Bit for bit: the same kernels on the same data, compared as integers.
            assert _bits(g) == _bits(w), f"{name} {mode} batch {batch}"


def _all_int8(program) -> bool:
    """Every step with weights runs in int8 (the float steps between them are portable code)."""
    weighted = [s for s in program.steps
                if s.kind.split("+")[0] in ("dense", "conv2d", "depthwise_conv2d", "sparse_dense", "conv_transpose")]
    return bool(weighted) and all(s.precision == "int8" for s in weighted)


def _bits(a) -> list:
    return np.ascontiguousarray(a, np.float32).reshape(-1).view(np.uint32).tolist()


def _check_cross(capi, name, program, mode, path, xs, batch, max_batch, threads, got, want, work):
    """The emulated C API against this machine's Python (module docstring)."""
    with frugalnn.use_isa("scalar"):
        scalar = Session(program, max_batch=max_batch, num_threads=threads).run(
            xs[0] if len(xs) == 1 else {s.name: x for s, x in zip(program.inputs, xs)})
    scalar = [scalar] if isinstance(scalar, np.ndarray) else [scalar[s.name] for s in program.outputs]
    for g, w, s in zip(got, want, scalar):
        if _all_int8(program):
            assert _bits(g) == _bits(s), f"{name} {mode} batch {batch}: best level against Python's scalar"
        else:
            w = np.ascontiguousarray(w, np.float32).reshape(-1)
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * float(np.abs(w).max(initial=0)),
                                       err_msg=f"{name} {mode} batch {batch}")
    _, got_scalar = run_c(capi, mode, path, xs, batch, max_batch, threads, work, isa="scalar")
    for g, s in zip(got_scalar, scalar):
        assert _bits(g) == _bits(s), f"{name} {mode} batch {batch}: scalar level"


@pytest.mark.parametrize("name", ["residual_cnn-int8", "two_inputs", "u8_input-int8_conv", "s8_input-f32"])
def test_io_description_matches_python(capi, saved, name, tmp_path):
    path, program = saved[name]
    xs = _inputs(program, 1)
    lines, _ = run_c(capi, "map", path, xs, 1, 2, 1, tmp_path)
    info = frugalnn.io.fnn.info(path)
    for kind, specs in (("input", program.inputs), ("output", program.outputs)):
        rows = [line.split() for line in lines if line.startswith(kind + " ")]
        assert len(rows) == len(specs)
        for i, (row, spec) in enumerate(zip(rows, specs)):
            _, index, nm, dtype, elems, nbytes, scale, zp, *dims = row
            assert (int(index), nm, DTYPES[int(dtype)]) == (i, spec.name, np.dtype(spec.dtype).name)
            assert tuple(int(d) for d in dims) == tuple(spec.shape[1:])
            assert int(elems) == int(np.prod(spec.shape[1:]))
            assert int(nbytes) == int(elems) * np.dtype(spec.dtype).itemsize
            if kind == "input" and DTYPES[int(dtype)] != "float32":
                dt, want_scale, want_zp = info["input_dtypes"][i]
                assert (np.float32(scale), int(zp)) == (np.float32(want_scale), want_zp)
    values = dict(line.split() for line in lines if line.split()[0] in ("weight_bytes", "arena_bytes"))
    assert int(values["weight_bytes"]) == program.weight_bytes
    assert int(values["arena_bytes"]) == Session(program, max_batch=2, num_threads=1)._core.arena_bytes


@pytest.mark.parametrize("level", frugalnn.available_isas())
@pytest.mark.parametrize("name", ["mnist_cnn-int8", "residual_cnn-f32"])
def test_forced_isa_level_matches_python(capi, saved, name, level, tmp_path):
    """FRUGALNN_ISA picks the C library's kernels as it does Python's: the same bits per level."""
    if capi.cross and level != "scalar":
        pytest.skip("a cross build has other levels above scalar (test_outputs_bit_identical_to_python)")
    path, program = saved[name]
    xs = _inputs(program, 2, seed=9)
    with frugalnn.use_isa(level):
        want = Session(program, max_batch=2, num_threads=1).run(xs[0])
    want = want if isinstance(want, np.ndarray) else want[program.outputs[0].name]
    files = [tmp_path / "in0.bin"] + [tmp_path / f"out{i}.bin" for i in range(len(program.outputs))]
    xs[0].tofile(files[0])
    run([*capi.program("capi_run"), "map", path, 2, 2, 1, files[0], "--", *files[1:]],
        env=dict(c_env(), FRUGALNN_ISA=level))
    got = np.fromfile(files[1], np.float32)
    assert got.view(np.uint32).tolist() == np.ascontiguousarray(want, np.float32).reshape(-1).view(np.uint32).tolist()
