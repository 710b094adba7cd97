"""frugalnn.dask.predict on a real distributed.LocalCluster: 2 worker processes of 1 thread each.
Results bit-identical to one process's Session.run, the model shipped once and mapped from one
file per host, one Session per worker, and a worker killed mid-run changing nothing."""
import os
import pickle
import signal
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import frugalnn.dask as fdask  # noqa: E402
from frugalnn.dask import _models  # noqa: E402
from frugalnn.graph import compile  # noqa: E402
from frugalnn.io import FormatError, save  # noqa: E402

from ..graph.models import mnist_cnn  # noqa: E402
from .test_predict import reference  # noqa: E402


def local_cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                    worker_dashboard_address=None)


@pytest.fixture(scope="module")
def client():
    with local_cluster() as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def cnn():
    return compile(mnist_cnn())


@pytest.fixture(scope="module")
def cnn_int8():
    x = np.random.default_rng(7).random((32, 1, 28, 28), dtype=np.float32)
    return compile(mnist_cnn(), precision="int8", calibration=x)


def images(n, chunk, seed=0):
    """Generated on the workers (no array crosses from the client), the same wherever computed."""
    return da.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32, chunks=(chunk, 1, 28, 28))


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_program_in_memory_bit_identical(client, cnn, cnn_int8, precision):
    program = cnn if precision == "f32" else cnn_int8
    xd = images(1000, 128)
    x = xd.compute()
    y = fdask.predict(program, xd, batch_size=64)
    assert np.array_equal(y.compute(), reference(program, x, 64))
    # both workers ran tasks, each with one Session, on one file the host shares
    digest = _models.model_ref(program)[0].digest

    def worker_state():
        sessions = [s.max_batch for key, s in _models._sessions.items() if key[0] == digest]
        maps = {line.split()[-1] for line in open("/proc/self/maps") if digest in line}
        return sessions, sorted(maps)

    state = client.run(worker_state)
    assert len(state) == 2
    assert all(sessions == [64] for sessions, _ in state.values())
    files = [maps for _, maps in state.values()]
    assert files[0] == files[1] and len(files[0]) == 1


def test_path_mapped_by_every_worker(client, tmp_path):
    cnn = compile(mnist_cnn(seed=3))   # bytes no worker holds yet (a worker reuses a model by content)
    path = tmp_path / "cnn.fnn"
    save(cnn, path)
    xd = images(700, 100, seed=1)
    x = xd.compute()
    y = fdask.predict(path, xd, batch_size=50)
    assert np.array_equal(y.compute(), reference(cnn, x, 50))
    mapped = client.run(lambda: any(line.rstrip().endswith(str(path)) for line in open("/proc/self/maps")))
    assert all(mapped.values())


def test_the_model_is_one_key_of_the_graph(client, cnn):
    """A Program's bytes travel as one key every task depends on, not inside the tasks."""
    y = fdask.predict(cnn, images(640, 64), batch_size=64)
    tasks = [t for k, t in dict(y.__dask_graph__()).items() if isinstance(k, tuple) and k[0].startswith("frugalnn-predict")]
    assert len(tasks) == 10
    models = {d for t in tasks for d in t.dependencies if str(d).startswith("ModelRef")}
    assert len(models) == 1 and all(models <= t.dependencies for t in tasks)
    assert all(len(pickle.dumps(t)) < 4096 for t in tasks)  # the 1.7 MB of weights are not in them
    with distributed.get_task_stream(client) as stream:
        y.compute()
    ran = [r for r in stream.data if str(r["key"]).startswith("ModelRef")]
    assert len(ran) == 1                 # put in memory once; the other worker copies it
    assert len({r["worker"] for r in stream.data if "frugalnn-predict" in str(r["key"])}) == 2


def test_model_file_replaced_before_the_tasks_run(client, tmp_path):
    """Workers map the path themselves: they refuse a file whose bytes are not the checked ones."""
    path = tmp_path / "cnn.fnn"
    save(compile(mnist_cnn(seed=11)), path)
    y = fdask.predict(path, images(100, 50, seed=2), batch_size=50)
    save(compile(mnist_cnn(seed=9)), path)
    with pytest.raises(FormatError, match="content changed"):
        y.compute()


def test_corrupt_file_fails_before_any_task(client, cnn, tmp_path):
    path = tmp_path / "cnn.fnn"
    save(cnn, path)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    before = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_groups))
    with pytest.raises(FormatError):
        fdask.predict(path, images(100, 50), batch_size=50)
    assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.task_groups)) == before


def _done(dask_scheduler, prefix):
    return sum(1 for ts in dask_scheduler.tasks.values()
               if isinstance(ts.key, tuple) and str(ts.key[0]).startswith(prefix) and ts.state == "memory")


@pytest.mark.parametrize("precision", ["f32", "int8"])
def test_worker_killed_mid_run(cnn, cnn_int8, precision):
    """SIGKILL one worker process while it scores: Dask retries its tasks on the restarted
    worker and the result is complete and bit-identical."""
    program = cnn if precision == "f32" else cnn_int8
    with local_cluster() as cluster, distributed.Client(cluster) as client:
        xd = images(24_000, 400, seed=3)
        x = xd.compute()
        y = fdask.predict(program, xd, batch_size=100)
        prefix = "frugalnn-predict"
        blocks = y.npartitions
        future = client.compute(y)
        deadline = time.monotonic() + 60
        while client.run_on_scheduler(_done, prefix=prefix) < 4:
            assert time.monotonic() < deadline, "no block finished in 60 s"
            time.sleep(0.01)
        processing = {w: ks for w, ks in client.processing().items() if ks}
        victim = next(iter(processing))
        pid = client.run(os.getpid, workers=[victim])[victim]
        done_at_kill = client.run_on_scheduler(_done, prefix=prefix)
        os.kill(pid, signal.SIGKILL)
        result = future.result(timeout=180)
        assert done_at_kill < blocks                   # the kill did land mid-run
        assert victim not in client.scheduler_info()["workers"]
        assert result.shape == (24_000, 10)
        assert np.array_equal(result, reference(program, x, 100))
