"""The library's default thread count: FRUGALNN_NUM_THREADS, else OMP_NUM_THREADS (what Dask's
workers and batch schedulers set to keep each process to its share of the cores), else the CPUs
the process may run on; values that are not a positive count are ignored."""
import os
import subprocess
import sys

import pytest


def threads_with(env: dict) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in ("FRUGALNN_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", "import frugalnn; print(frugalnn.get_num_threads())"],
                         env={**clean, **env}, capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_default_thread_count_from_the_environment():
    cpus = len(os.sched_getaffinity(0))
    assert threads_with({}) == cpus
    assert threads_with({"OMP_NUM_THREADS": "1"}) == 1
    assert threads_with({"OMP_NUM_THREADS": "3"}) == 3
    assert threads_with({"FRUGALNN_NUM_THREADS": "5", "OMP_NUM_THREADS": "1"}) == 5


@pytest.mark.parametrize("value", ["0", "-2", "two", "4x", "", "99999"])
def test_values_that_are_not_a_count_are_ignored(value):
    assert threads_with({"OMP_NUM_THREADS": value}) == len(os.sched_getaffinity(0))
