"""Heap allocations counted from outside the library: malloc_counter.c, built once per test
session and preloaded into a child process, counts every call to malloc and its kin;
``run_counted`` runs a child script under it and returns the JSON the script printed last.
The child reads the counter with ``ctypes.CDLL(sys.argv[1]).fnn_malloc_count``."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def malloc_counter(tmp_path_factory) -> pathlib.Path:
    """The counter library (skips without a C compiler, glibc, or under a sanitizer)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler and glibc")
    if "san" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("a sanitizer runtime owns malloc in this process (its build needs it preloaded first)")
    lib = tmp_path_factory.mktemp("malloc") / "malloc_counter.so"
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(ROOT / "tests" / "malloc_counter.c")],
                   check=True)
    return lib


def run_counted(lib: pathlib.Path, code: str, *args: str, timeout: float = 300) -> dict:
    """Run ``code`` in a child with the counter preloaded (argv: lib, then ``args``)."""
    env = dict(os.environ, LD_PRELOAD=str(lib), PYTHONMALLOC="pymalloc")
    r = subprocess.run([sys.executable, "-c", code, str(lib), *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])
