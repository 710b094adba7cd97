"""Bad input through the C API gets a status code and a message, never a crash: the checks
of tests/capi/c/capi_errors.c on a float and an int8 model saved by the Python package. And
what the header promises threads (tests/capi/c/capi_threads.c)."""
import subprocess

import numpy as np

import frugalnn
from frugalnn.graph import compile
from frugalnn.models import mlp, mnist_cnn
from tests.capi.conftest import c_env, run


def test_bad_input_gets_status_and_message(capi, tmp_path):
    float_model, int8_model = tmp_path / "cnn.fnn", tmp_path / "mlp-int8.fnn"
    frugalnn.save(compile(mnist_cnn()), float_model)
    frugalnn.save(compile(mlp(), precision="int8",
                          calibration=np.random.default_rng(0).random((16, 1, 28, 28), dtype=np.float32)), int8_model)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    r = subprocess.run([*map(str, capi.program("capi_errors")), str(float_model), str(int8_model), frugalnn.__version__,
                        str(scratch)], capture_output=True, text=True, env=c_env())
    failed = [line for line in r.stdout.splitlines() if line.startswith("FAIL")]
    assert r.returncode == 0 and not failed, f"exit {r.returncode}\n" + "\n".join(failed) + r.stderr[-3000:]
    assert r.stdout.count("\nok ") > 100


def test_threads_share_a_model_and_a_session(capi, tmp_path):
    """tests/capi/c/capi_threads.c: four threads run one session at once (valid runs give the
    lone run's bits; failing ones store their messages meanwhile) and create their own
    sessions from the shared model."""
    path = tmp_path / "cnn.fnn"
    frugalnn.save(compile(mnist_cnn()), path)
    r = run([*capi.program("capi_threads"), path])
    assert r.stdout.strip() == "0 bad runs"
