"""The child-process fuzz harness itself: a case that segfaults, aborts or hangs is
reported as that case's crash or hang (payload saved), the cases after it still run in a
new worker, and every other outcome is counted."""
import os
import signal
import time

from tests.io.fuzz_harness import Case, replay, run_cases

_STATE = {}


def setup(arg):
    _STATE["setup"] = arg


def run_case(payload):
    """A worker: payload is (what to do, value)."""
    what, v = payload
    if what == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if what == "abort":
        os.abort()
    if what == "hang":
        time.sleep(3600)
    if what == "fail":
        return f"FAIL: {v}"
    if what == "raise":
        raise KeyError(v)
    return f"ok {_STATE['setup']}"


def test_crashes_and_hangs_are_reported_per_case(tmp_path):
    plan = [("ok", 0)] * 5 + [("segv", 0)] + [("ok", 0)] * 3 + [("hang", 0)] + [("ok", 0)] * 2 + \
        [("abort", 0), ("fail", "wrong shape"), ("raise", "k")] + [("ok", 0)] * 4
    cases = [Case(f"case {i} ({what})", (what, v)) for i, (what, v) in enumerate(plan)]
    report = run_cases("tests.io.test_fuzz_harness:run_case", cases, setup="S", timeout=8.0, workers=2,
                       save_dir=tmp_path)
    assert report.cases == len(plan)
    assert report.outcomes["ok S"] == plan.count(("ok", 0))
    kinds = {f.label: f.kind for f in report.failures}
    assert kinds == {"case 5 (segv)": "crash", "case 9 (hang)": "hang", "case 12 (abort)": "crash",
                     "case 13 (fail)": "FAIL", "case 14 (raise)": "FAIL"}
    details = {f.label: f.detail for f in report.failures}
    # Under AddressSanitizer (.ci/run) its own handler reports the SIGSEGV and exits with 1.
    asan = "asan" in os.environ.get("LD_PRELOAD", "")
    assert ("exited with status 1" if asan else "SIGSEGV") in details["case 5 (segv)"]
    assert "SIGABRT" in details["case 12 (abort)"]
    assert "KeyError" in details["case 14 (raise)"]
    # Three workers replaced the two that crashed and the one that hung.
    assert report.workers_started == 2 + 3
    saved = next(f.saved for f in report.failures if f.label == "case 13 (fail)")
    assert replay(saved) == "FAIL: wrong shape"
