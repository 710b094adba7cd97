"""The committed _core.pyi matches the compiled module (regenerate: see README, Development)."""
import pathlib
import subprocess
import sys

import pytest

import frugalnn

STUB = pathlib.Path(frugalnn.__file__).with_name("_core.pyi")


def test_stubs_are_current(tmp_path):
    if not _has_module("pybind11_stubgen"):  # run below with this interpreter, not from PATH
        pytest.skip("pybind11-stubgen is not installed for this interpreter")
    r = subprocess.run(
        [sys.executable, "-m", "pybind11_stubgen", "frugalnn._core", "-o", str(tmp_path),
         "--numpy-array-wrap-with-annotated", "--exit-code"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    fresh = (tmp_path / "frugalnn" / "_core.pyi").read_text()
    assert fresh == STUB.read_text(), (
        "python/frugalnn/_core.pyi is stale: run "
        "`pybind11-stubgen frugalnn._core -o python/ --numpy-array-wrap-with-annotated`"
    )


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
