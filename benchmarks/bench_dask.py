"""Scoring on Dask: the seed document's MNIST CNN over 100,000 digits-28-shaped images, read from
.npy files on disk, by frugalnn.dask.predict on a distributed LocalCluster of 1 and of 2 worker
processes (1 thread each), against a plain single-process loop of Session.run over the same
files, on 1 thread and on every core (the library's own threads), in the same run. (Dask's
workers set OMP_NUM_THREADS=1, which frugalnn's thread pool follows: one thread per worker.)

One round scores every image once. extra_info.images_per_s is the median round's throughput;
extra_info.workers lists, per worker process after the rounds, its PSS and RSS
(/proc/PID/smaps_rollup) and the RSS and PSS of its mapping of the .fnn file: PSS divides a
shared page by the processes that map it, so the weights both workers map count half in each.

    python -m pytest benchmarks/bench_dask.py --benchmark-json=dask.json
    python benchmarks/report.py dask.json --baseline plain_loop

FRUGALNN_BENCH_QUICK=1 scores 4,000 images, int8 only, one round.
"""
import functools
import os
import tempfile

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

import frugalnn  # noqa: E402
import frugalnn.dask as fdask  # noqa: E402
import frugalnn.io  # noqa: E402
from frugalnn.data import load_digits28  # noqa: E402
from frugalnn.graph import Session, compile  # noqa: E402
from frugalnn.models import mnist_cnn  # noqa: E402

QUICK = bool(os.environ.get("FRUGALNN_BENCH_QUICK"))
IMAGES = 4_000 if QUICK else 100_000
FILE_IMAGES = 1_000 if QUICK else 10_000     # images per .npy file (one Dask chunk each)
BATCH = 64     # rows per run: two workers share the cores' caches, and small arenas keep them apart
ROUNDS = 1 if QUICK else 3
PRECISIONS = ["int8"] if QUICK else ["int8", "f32"]
CORES = len(os.sched_getaffinity(0))
IMPLS = ["plain_loop", "plain_loop_all_cores", "dask_1_worker", "dask_2_workers"]

_TMP = tempfile.TemporaryDirectory(prefix="frugalnn-bench-dask-")


@functools.lru_cache(maxsize=None)
def _files() -> tuple:
    """The images as .npy files of FILE_IMAGES each: digits-28 digits drawn at random, with a
    little noise so that no two are the same."""
    (x, _), (xt, _) = load_digits28()
    digits = np.concatenate([x, xt])
    rng = np.random.default_rng(0)
    paths = []
    for i in range(IMAGES // FILE_IMAGES):
        batch = digits[rng.integers(0, len(digits), FILE_IMAGES)]
        batch = np.clip(batch + rng.normal(0, 0.02, batch.shape).astype(np.float32), 0, 1)
        path = os.path.join(_TMP.name, f"images-{i:03d}.npy")
        np.save(path, batch.astype(np.float32))
        paths.append(path)
    return tuple(paths)


@functools.lru_cache(maxsize=None)
def _model(precision: str) -> str:
    g = mnist_cnn()
    calibration = load_digits28()[0][0][:64]
    program = compile(g, precision=None if precision == "f32" else "int8",
                      calibration=calibration if precision == "int8" else None)
    path = os.path.join(_TMP.name, f"cnn-{precision}.fnn")
    frugalnn.io.save(program, path)
    return path


def _images() -> "da.Array":
    """A Dask array whose chunks the workers read from the files themselves (mapped)."""
    load = dask.delayed(np.load, pure=True)
    return da.concatenate([da.from_delayed(load(p, mmap_mode="r"), (FILE_IMAGES, 1, 28, 28), np.float32)
                           for p in _files()])


def _smaps(pid: int, model_path: str) -> dict:
    """PSS / RSS of the process, and of its mappings of the model file (bytes)."""
    def kib(line):
        return int(line.split()[1]) * 1024

    out = {"pid": pid}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Pss:", "Rss:")):
                out[line.split(":")[0].lower() + "_bytes"] = kib(line)
    fnn_rss = fnn_pss = 0
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if "-" in line.split()[0] and len(line.split()) >= 5:     # a mapping's header
                inside = line.rstrip().endswith(model_path)
            elif inside and line.startswith("Rss:"):
                fnn_rss += kib(line)
            elif inside and line.startswith("Pss:"):
                fnn_pss += kib(line)
    out.update(fnn_rss_bytes=fnn_rss, fnn_pss_bytes=fnn_pss)
    return out


def _plain_loop(model_path: str, threads: int):
    """Session.run over the files in one process, on `threads` threads (the library's pool
    too: set_num_threads for the rounds, restored by close)."""
    before = frugalnn.get_num_threads()
    frugalnn.set_num_threads(threads)
    session = Session(frugalnn.io.load(model_path), max_batch=BATCH, num_threads=threads)
    out = np.empty((IMAGES, 10), np.float32)

    def run():
        row = 0
        for path in _files():
            x = np.load(path, mmap_mode="r")
            for i in range(0, len(x), BATCH):
                batch = np.ascontiguousarray(x[i:i + BATCH])
                session.run(batch, out=out[row:row + len(batch)])
                row += len(batch)
        return out

    def close():
        frugalnn.set_num_threads(before)

    return run, close


def _on_cluster(model_path: str, workers: int):
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", worker_dashboard_address=None)
    client = distributed.Client(cluster)
    scores = fdask.predict(model_path, _images(), batch_size=BATCH)

    def run():
        return scores.compute()

    def close():
        pids = client.run(os.getpid)
        memory = [_smaps(pid, model_path) for pid in pids.values()]
        client.close()
        cluster.close()
        return memory

    return run, close


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("precision", PRECISIONS)
def bench_score_100k(benchmark, precision, impl):
    model_path = _model(precision)
    if impl.startswith("plain_loop"):
        run, close = _plain_loop(model_path, CORES if impl.endswith("all_cores") else 1)
    else:
        run, close = _on_cluster(model_path, 1 if "1" in impl else 2)
    try:
        first = run()                                 # warm-up: workers load and map the model
        assert first.shape == (IMAGES, 10)
        benchmark.group = f"mnist_cnn {precision}: {IMAGES:,} images from .npy files, batch {BATCH}"
        benchmark.extra_info["impl"] = impl
        benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    finally:
        memory = close()
    if memory is not None:
        benchmark.extra_info["workers"] = memory
    if benchmark.stats is not None:
        benchmark.extra_info["images_per_s"] = IMAGES / benchmark.stats.stats.median
