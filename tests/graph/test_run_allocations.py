"""Zero heap allocations per run, counted from outside the library: a child process with a
malloc counter preloaded (tests/malloc_count.py) runs a session many times with out=
and reports how often malloc, calloc, realloc and the aligned variants were called."""
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from tests.malloc_count import run_counted

HERE = pathlib.Path(__file__).parent

CHILD = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    import frugalnn
    from frugalnn.compress import codebook
    from frugalnn.graph import Conv2d, ConvTranspose2d, Dense, Flatten, ReLU, Resize, Sequential, Session, compile
    from tests.graph.models import mnist_cnn, mlp, residual_cnn

    counter = ctypes.CDLL(sys.argv[1]).fnn_malloc_count
    counter.restype = ctypes.c_uint64
    frugalnn.set_num_threads(int(sys.argv[2]))
    rng = np.random.default_rng(0)
    calib = rng.random((8, 1, 28, 28), dtype=np.float32)
    res_calib = rng.random((8, 3, 16, 16), dtype=np.float32)
    cases = {
        "cnn-f32": (compile(mnist_cnn()), (1, 28, 28)),
        "cnn-int8": (compile(mnist_cnn(), precision="int8", calibration=calib), (1, 28, 28)),
        "mlp-f16": (compile(mlp(), precision="f16"), (1, 28, 28)),
        "cnn-codebook4": (compile(codebook(mnist_cnn(), 4)), (1, 28, 28)),  # fused (batch 1) and decoded
        "cnn-codebook6-per-channel": (compile(codebook(mnist_cnn(), 6, per_channel=True)), (1, 28, 28)),
        "residual-int8": (compile(residual_cnn(), precision="int8", calibration=res_calib), (3, 16, 16)),
    }
    w = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)
    autoencoder = Sequential([  # the transposed conv's band scratch, the resize's tables
        Conv2d(w(8, 3, 3, 3), w(8), stride=2, padding=1), ReLU(),
        ConvTranspose2d(w(8, 4, 3, 3), w(8), stride=2, padding=1, output_padding=1, groups=2),
        Resize((32, 32), mode="linear"), Conv2d(w(2, 8, 3, 3), None, padding=1),
    ], input_shape=(3, 16, 16))
    cases["autoencoder-f32"] = (compile(autoencoder), (3, 16, 16))
    camera = Sequential([  # a uint8 frame: u8 layout step, then a dequantize or the int8 conv on it
        Conv2d(w(8, 3, 3, 3), w(8), stride=2, padding=1), ReLU(), Flatten(), Dense(w(10, 8 * 8 * 8), None),
    ], input_shape=(3, 16, 16), input_dtype="uint8", input_scale=1 / 255, input_zero_point=0)
    frames = rng.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
    cases["camera-u8-f32"] = (compile(camera), (3, 16, 16))
    cases["camera-u8-int8"] = (compile(camera, precision="int8", calibration=frames), (3, 16, 16))
    counts = {}
    for name, (program, shape) in cases.items():
        for batch in (1, 8):
            s = Session(program, max_batch=8, concurrency=2)
            x = (rng.random((batch,) + shape, dtype=np.float32) if program.inputs[0].dtype == np.float32
                 else rng.integers(0, 256, (batch,) + shape, dtype=np.uint8))
            outs = {o.name: np.empty((batch,) + o.shape[1:], np.float32) for o in s.outputs}
            out = outs if len(outs) > 1 else next(iter(outs.values()))
            for _ in range(20):  # warm-up: first-use scratch blocks, thread-pool start
                s.run(x, out=out)
            before = counter()
            for _ in range(500):
                s.run(x, out=out)
            counts[f"{name} batch {batch}"] = counter() - before
    print(json.dumps(counts))
""")


def _counts(lib, threads):
    return run_counted(lib, CHILD, threads)


def test_counter_sees_allocations(malloc_counter):
    """The counter is live: numpy's fresh output arrays (run without out=) do allocate."""
    probe = ("import ctypes, sys, numpy as np; c = ctypes.CDLL(sys.argv[1]).fnn_malloc_count; "
             "c.restype = ctypes.c_uint64; b = c(); a = [np.empty(100000) for _ in range(10)]; print(c() - b)")
    env = dict(os.environ, LD_PRELOAD=str(malloc_counter), PYTHONMALLOC="pymalloc")
    r = subprocess.run([sys.executable, "-c", probe, str(malloc_counter)], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) >= 10


@pytest.mark.parametrize("threads", [1, 2])
def test_runs_with_out_make_no_heap_allocation(malloc_counter, threads):
    counts = _counts(malloc_counter, threads)
    assert counts and all(v == 0 for v in counts.values()), counts
