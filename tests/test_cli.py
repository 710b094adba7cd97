"""The `frugalnn` command: real output of the dispatch, the pool and a memory plan."""
import subprocess
import sys

import frugalnn
from frugalnn import cli


def test_info_shows_dispatch_pool_and_plan(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for level in frugalnn.available_isas():
        assert f"{level:<11} ok" in out
    assert "MISMATCH" not in out
    assert "1000 allocations -> 1 OS allocation(s)" in out
    assert "MemoryError" in out
    assert "= lower bound" in out and "conv2" in out and "int8" in out


def test_python_dash_m_runs():
    r = subprocess.run([sys.executable, "-m", "frugalnn", "info"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "MNIST CNN" in r.stdout


def test_unknown_command_fails_cleanly():
    r = subprocess.run([sys.executable, "-m", "frugalnn", "bogus"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "invalid choice" in r.stderr
