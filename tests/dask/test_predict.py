"""frugalnn.dask.predict on Dask's threaded scheduler: bit-identical to Session.run over the same
batches whatever the chunking, every output and input form, and every bad argument refused
before a task runs. (The LocalCluster of processes: test_predict_cluster.py.)"""
import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import frugalnn.dask as fdask  # noqa: E402
from frugalnn.dask import _models  # noqa: E402
from frugalnn.graph import Add, Dense, Graph, Session, compile  # noqa: E402
from frugalnn.io import FormatError, save  # noqa: E402

from ..graph.models import mnist_cnn, residual_cnn  # noqa: E402


def reference(program, x, batch_size):
    """Session.run over consecutive batch_size slices on one thread: what predict must equal,
    bit for bit."""
    s = Session(program, max_batch=batch_size, num_threads=1)
    outs = [s.run({k: v[i:i + batch_size] for k, v in x.items()} if isinstance(x, dict) else x[i:i + batch_size])
            for i in range(0, len(next(iter(x.values())) if isinstance(x, dict) else x), batch_size)]
    if isinstance(outs[0], dict):
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    return np.concatenate(outs)


@pytest.fixture(scope="module")
def cnn():
    return compile(mnist_cnn())


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((389, 1, 28, 28), dtype=np.float32)


@pytest.fixture(autouse=True)
def threaded():
    with dask.config.set(scheduler="threads"):
        yield


def chunkwise(program, x, chunks, batch_size):
    """The reference run chunk by chunk, each from its first row in slices of batch_size."""
    bounds = np.cumsum((0,) + tuple(chunks))
    return np.concatenate([reference(program, x[a:b], batch_size) for a, b in zip(bounds[:-1], bounds[1:]) if b > a])


@pytest.mark.parametrize("chunks,batch_size", [(389, 64), (128, 64), (96, 32), (5, 5), (64, 64), (50, 1), (389, 500)])
def test_chunks_in_whole_batches_equal_session_over_the_array(cnn, images, chunks, batch_size):
    y = fdask.predict(cnn, da.from_array(images, chunks=(chunks, 1, 28, 28)), batch_size=batch_size)
    assert y.shape == (389, 10) and y.dtype == np.float32
    assert np.array_equal(y.compute(), reference(cnn, images, batch_size))


@pytest.mark.parametrize("chunks,batch_size", [(100, 64), (97, 32), (1, 5), (7, 3)])
def test_any_chunks_equal_session_over_each_chunk_and_are_never_moved(cnn, images, chunks, batch_size):
    xd = da.from_array(images, chunks=(chunks, 1, 28, 28))
    y = fdask.predict(cnn, xd, batch_size=batch_size)
    assert y.chunks[0] == xd.chunks[0]
    assert np.array_equal(y.compute(), chunkwise(cnn, images, xd.chunks[0], batch_size))


def test_int8_is_exact_whatever_the_chunks(images):
    program = compile(mnist_cnn(), precision="int8", calibration=images[:32])
    want = reference(program, images, 64)
    for chunks in (100, 97, 13, 389):
        assert np.array_equal(fdask.predict(program, da.from_array(images, chunks=(chunks, 1, 28, 28)), 64).compute(),
                              want)


def test_path_and_program_agree_int8_with_uint8_input(tmp_path):
    g = Graph()
    x = g.input("pixels", (1, 28, 28), "uint8", scale=1 / 255, zero_point=0)
    y = mnist_cnn().nodes  # the CNN's layers on a uint8 input
    h = x
    for node in y:
        h = node.layer(h)
    g.output(h, "probs")
    rng = np.random.default_rng(1)
    calib = rng.integers(0, 256, (32, 1, 28, 28), dtype=np.uint8)
    program = compile(g, precision="int8", calibration=calib)
    save(program, tmp_path / "m.fnn")
    pixels = rng.integers(0, 256, (300, 1, 28, 28), dtype=np.uint8)
    xd = da.from_array(pixels, chunks=(70, 1, 28, 28))
    want = reference(program, pixels, 16)
    assert np.array_equal(fdask.predict(program, xd, 16).compute(), want)
    assert np.array_equal(fdask.predict(tmp_path / "m.fnn", xd, 16).compute(), want)
    assert np.array_equal(fdask.predict(str(tmp_path / "m.fnn"), xd, 16).compute(), want)


def test_several_outputs_and_output_selection():
    program = compile(residual_cnn())
    x = np.random.default_rng(2).random((45, 3, 16, 16), dtype=np.float32)
    xd = da.from_array(x, chunks=(24, 3, 8, 16))          # chunked along a feature axis too
    want = reference(program, x, 8)
    both = fdask.predict(program, xd, 8)
    assert set(both) == {"score", "features"}
    got = dask.compute(both)[0]
    for k in want:
        assert got[k].shape == want[k].shape and np.array_equal(got[k], want[k])
    one = fdask.predict(program, xd, 8, output="features")
    assert one.shape == want["features"].shape and np.array_equal(one.compute(), want["features"])
    listed = fdask.predict(program, xd, 8, output=["score"])
    assert list(listed) == ["score"] and np.array_equal(listed["score"].compute(), want["score"])


def test_several_inputs_chunked_differently():
    rng = np.random.default_rng(3)
    g = Graph()
    a, b = g.input("a", (6,)), g.input("b", (6,))
    g.output(Dense(rng.standard_normal((3, 6)).astype(np.float32), None, name="fc")(Add()(a, b)), "y")
    program = compile(g)
    xa, xb = rng.random((31, 6), dtype=np.float32), rng.random((31, 6), dtype=np.float32)
    y = fdask.predict(program, {"a": da.from_array(xa, chunks=8), "b": da.from_array(xb, chunks=12)}, 4)
    assert np.array_equal(y.compute(), reference(program, {"a": xa, "b": xb}, 4))


def test_empty_input(cnn):
    y = fdask.predict(cnn, da.zeros((0, 1, 28, 28), dtype=np.float32, chunks=(10, 1, 28, 28)))
    assert y.shape == (0, 10)
    assert y.compute().shape == (0, 10)


def test_the_program_is_one_key_of_the_graph(cnn, images):
    """A Program is shipped as its .fnn bytes once, not once per task."""
    y = fdask.predict(cnn, da.from_array(images, chunks=(20, 1, 28, 28)), batch_size=20)
    assert y.npartitions == 20
    graph = dict(y.__dask_graph__())
    size = len(pickle.dumps(graph))
    assert cnn.weight_bytes < size < 2 * cnn.weight_bytes   # the weights once (+ the input)
    assert len([k for k in graph if isinstance(k, str) and k.startswith("ModelRef")]) == 1


def test_one_session_per_process_sized_by_chunk_and_batch(cnn, images):
    _models._sessions.clear()
    for _ in range(2):
        fdask.predict(cnn, da.from_array(images, chunks=(389, 1, 28, 28)), batch_size=500).compute()
    sessions = list(_models._sessions.values())
    assert len(sessions) == 1
    assert sessions[0].max_batch == 389  # min(batch_size, the largest chunk)


def test_bad_arguments_fail_before_any_task(cnn, images, tmp_path):
    xd = da.from_array(images, chunks=100)
    with pytest.raises(ValueError, match=r"shape \(batch,\) \+ \(1, 28, 28\)"):
        fdask.predict(cnn, da.zeros((10, 1, 28, 27), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        fdask.predict(cnn, da.zeros((10, 784), dtype=np.float32))
    with pytest.raises(TypeError, match="float32, got float64"):
        fdask.predict(cnn, xd.astype(np.float64))
    with pytest.raises(TypeError, match="dask array"):
        fdask.predict(cnn, images)
    with pytest.raises(ValueError, match="missing"):
        fdask.predict(cnn, {"nope": xd})
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fdask.predict(cnn, xd[xd[:, 0, 0, 0] > 0.5])
    with pytest.raises(ValueError, match="unknown output"):
        fdask.predict(cnn, xd, output="logits")
    with pytest.raises(ValueError, match="batch_size"):
        fdask.predict(cnn, xd, batch_size=0)
    with pytest.raises(TypeError, match="num_threads"):
        fdask.predict(cnn, xd, num_threads=1.5)
    with pytest.raises(TypeError, match="model"):
        fdask.predict(compile, xd)
    with pytest.raises(FileNotFoundError):
        fdask.predict(tmp_path / "absent.fnn", xd)


def test_corrupt_file_is_one_format_error_at_construction(cnn, images, tmp_path):
    path = tmp_path / "m.fnn"
    save(cnn, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    calls = []
    xd = da.from_array(images, chunks=50).map_blocks(lambda b: calls.append(1) or b,
                                                  meta=np.empty((0, 0, 0, 0), np.float32))
    with pytest.raises(FormatError):
        fdask.predict(path, xd)
    assert calls == []


def test_a_model_file_replaced_after_construction_is_refused_by_the_tasks(cnn, images, tmp_path):
    """A worker that maps the path checks the bytes are the ones predict checked."""
    path = tmp_path / "m.fnn"
    save(cnn, path)
    ref, _ = _models.model_ref(path)
    save(compile(mnist_cnn(seed=5)), path)
    with pytest.raises(FormatError, match="content changed"):
        _models._load(ref)


def test_a_damaged_file_of_shipped_bytes_is_written_again(images):
    """A worker's copy of a Program's bytes that no longer matches them is replaced, not refused
    (the bytes travel with the job); the model it then maps scores as the Program does."""
    program = compile(mnist_cnn(seed=13))
    ref, _ = _models.model_ref(program)
    path = _models._cache_dir() + f"/{ref.digest}-{ref.size}.fnn"
    with open(path, "wb") as f:                # present, the right size, the wrong bytes
        f.write(bytes(ref.size))
    loaded = _models._load(ref)
    with open(path, "rb") as f:
        assert f.read() == ref.data
    s = Session(loaded, max_batch=8, num_threads=1)
    assert np.array_equal(s.run(images[:8]), Session(program, max_batch=8, num_threads=1).run(images[:8]))


def test_predict_from_several_threads_at_once(cnn, images):
    """Jobs built and computed from 4 threads share this process's model and Session caches:
    each gets exactly its own answer."""
    import threading

    parts = {k: np.ascontiguousarray(images[k::4]) for k in range(4)}
    want = {k: reference(cnn, parts[k], 32) for k in range(4)}
    got, errors = {}, []

    def job(k):
        try:
            for _ in range(3):
                y = fdask.predict(cnn, da.from_array(parts[k], chunks=(32, 1, 28, 28)), 32)
                got[k] = y.compute()
                assert np.array_equal(got[k], want[k])
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=job, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and set(got) == {0, 1, 2, 3}
