"""Run fuzz cases in child processes, so that a crash or a hang fails the test with the
case that caused it instead of killing (or stalling) the whole test session.

Parent side: ``run_cases(target, cases)`` starts worker processes
(``python -m tests.io.fuzz_harness module:function``). It streams each case's payload to
one of them and collects the outcome string ``function(payload)`` returns. A few cases are
in flight per worker, so mutating the next case overlaps with running the current one.
Workers run their cases in order. When a worker dies (a signal, an abort, a sanitizer
report) the first case it had not answered is recorded as a crash. When it stops
answering for ``timeout`` seconds, that case is recorded as a hang and the worker is
killed. Either way a new worker takes the rest of the in-flight cases, and the crashing
payload is saved to ``save_dir`` so that it can be replayed (``replay``).

Worker side: warnings are errors, as in the test session (pytest.ini_options), and
stdout is redirected to stderr so that nothing but result frames reaches the parent. An
outcome starting with "FAIL" is a failure the worker itself detected (an undocumented
exception type, a wrong shape...). The parent reports it like a crash, with the case.
"""
from __future__ import annotations

import collections
import importlib
import os
import pickle
import queue
import select
import struct
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

REPO = Path(__file__).resolve().parents[2]
_HEADER = struct.Struct("<I")
_READY = "__ready__"


@dataclass
class Case:
    """One fuzz case: ``label`` says how to regenerate it (file, index, operator)."""

    label: str
    payload: Any


@dataclass
class Failure:
    label: str
    kind: str          # "crash", "hang" or "FAIL" (the worker's own verdict)
    detail: str
    saved: Optional[Path] = None

    def __str__(self) -> str:
        where = f" (payload saved to {self.saved})" if self.saved else ""
        return f"{self.kind}: {self.label}: {self.detail}{where}"


@dataclass
class Report:
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    failures: list[Failure] = field(default_factory=list)
    cases: int = 0
    workers_started: int = 0
    seconds: float = 0.0


def _send_frame(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


class _Worker:
    """One child process: a writer thread feeds it (a hung child must not block the
    parent on a full pipe), the parent reads its answers with select."""

    def __init__(self, target: str, setup: Any, env: dict) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.io.fuzz_harness", target], cwd=REPO, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.inbox: queue.Queue = queue.Queue()
        self.pending: collections.deque[tuple[int, Case]] = collections.deque()
        self.buf = b""
        self.ready = False
        self.last = time.monotonic()
        self.inbox.put(setup)
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()

    def _feed(self) -> None:
        try:
            while True:
                obj = self.inbox.get()
                if obj is _STOP:
                    return
                _send_frame(self.proc.stdin, obj)
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child died or was killed: the parent notices on its stdout
        finally:
            # Closed here, by the one thread that writes it, however the worker ends.
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def send(self, index: int, case: Case) -> None:
        if not self.pending:  # idle until now: the clock for this case starts here
            self.last = time.monotonic()
        self.pending.append((index, case))
        self.inbox.put(case.payload)

    def frames(self) -> Optional[list[Any]]:
        """Answers available now ([] if none yet), or None when the child has exited."""
        chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
        if not chunk:
            return None
        self.buf += chunk
        out = []
        while len(self.buf) >= _HEADER.size:
            (n,) = _HEADER.unpack_from(self.buf)
            if len(self.buf) < _HEADER.size + n:
                break
            out.append(pickle.loads(self.buf[_HEADER.size:_HEADER.size + n]))
            self.buf = self.buf[_HEADER.size + n:]
        return out

    def stop(self, kill: bool = False) -> int:
        if kill:
            self.proc.kill()
        self.inbox.put(_STOP)  # the feeder ends and closes the child's stdin, killed or not
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.feeder.join(timeout=60)
            self.proc.stdout.close()


_STOP = object()


def _describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def run_cases(target: str, cases: Iterable[Case], *, setup: Any = None, timeout: float = 60.0,
              startup_timeout: float = 300.0, workers: Optional[int] = None, in_flight: int = 4,
              save_dir: Optional[Path] = None, max_failures: int = 50) -> Report:
    """Run every case through ``target`` ("module:function", called as function(payload)
    in a worker after module.setup(setup) when the module has one) and collect the
    outcomes. Stops early after ``max_failures`` failures."""
    workers = workers or max(1, min(2, os.cpu_count() or 1))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    if "asan" not in env.get("LD_PRELOAD", ""):  # a Python traceback next to a segfault
        env.setdefault("PYTHONFAULTHANDLER", "1")
    report = Report()
    start = time.monotonic()
    source = iter(enumerate(cases))
    retry: collections.deque[tuple[int, Case]] = collections.deque()
    pool: list[_Worker] = []

    def start_worker() -> _Worker:
        report.workers_started += 1
        return _Worker(target, setup, env)

    def next_case() -> Optional[tuple[int, Case]]:
        if retry:
            return retry.popleft()
        return next(source, None)

    def fail(kind: str, index: int, case: Case, detail: str) -> None:
        saved = None
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            saved = save_dir / f"case-{index}.pickle"
            saved.write_bytes(pickle.dumps((target, setup, case.payload)))
        report.failures.append(Failure(case.label, kind, detail, saved))
        report.outcomes[kind] += 1

    exhausted = False
    try:
        pool = [start_worker() for _ in range(workers)]
        while True:
            for i, w in enumerate(pool):
                while w.ready and not exhausted and len(w.pending) < in_flight:
                    nxt = next_case()
                    if nxt is None:
                        exhausted = True
                        break
                    w.send(*nxt)
            busy = [w for w in pool if w.pending or not w.ready]
            if exhausted and not any(w.pending for w in pool) and not retry:
                break
            if len(report.failures) >= max_failures:
                break
            ready, _, _ = select.select([w.proc.stdout for w in busy], [], [], 1.0)
            now = time.monotonic()
            for i, w in enumerate(pool):
                died = False
                if w.proc.stdout in ready:
                    frames = w.frames()
                    if frames is None:
                        died = True
                    else:
                        for f in frames:
                            w.last = now
                            if f == _READY:
                                w.ready = True
                                continue
                            index, case = w.pending.popleft()
                            report.cases += 1
                            if f.startswith("FAIL"):
                                fail("FAIL", index, case, f)
                            else:
                                report.outcomes[f] += 1
                limit = timeout if w.ready else startup_timeout
                if died or ((w.pending or not w.ready) and now - w.last > limit):
                    code = w.stop(kill=not died)
                    if not w.ready and not w.pending:
                        raise RuntimeError(f"fuzz worker for {target} failed to start ({_describe_exit(code)})")
                    if w.pending:
                        index, case = w.pending.popleft()
                        report.cases += 1
                        if died:
                            fail("crash", index, case, _describe_exit(code))
                        else:
                            fail("hang", index, case, f"no answer in {limit:.0f} s")
                        retry.extendleft(reversed(w.pending))
                        exhausted = exhausted and not retry
                    pool[i] = start_worker()
    finally:
        for w in pool:
            w.stop(kill=bool(w.pending))
        report.seconds = time.monotonic() - start
    return report


def run_program(program: Any, x: dict) -> Any:
    """A fuzzed model's outputs by name, or a "FAIL..." string: a Session must build (or
    refuse the arena with MemoryError) and run, with outputs of the shapes the program says."""
    from frugalnn.graph import Session

    try:
        session = Session(program, max_batch=2, num_threads=1)
    except MemoryError:
        return "session: MemoryError"
    except Exception as e:  # noqa: BLE001
        return f"FAIL: Session() raised {type(e).__name__}: {e}"
    try:
        y = session.run(x)
    except Exception as e:  # noqa: BLE001
        return f"FAIL: run raised {type(e).__name__}: {e}"
    out = y if isinstance(y, dict) else {program.outputs[0].name: y}
    for spec in program.outputs:
        if out[spec.name].shape != (2,) + tuple(spec.shape[1:]):
            return f"FAIL: output '{spec.name}' has shape {out[spec.name].shape}, the program says {spec.shape}"
    return out


def worker_file(name: str) -> Path:
    """In a worker: a path in a private folder that goes when the worker exits (for the
    mutant file each case writes)."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="fuzz-worker-")
    atexit.register(shutil.rmtree, folder, True)
    return Path(folder) / name


def replay(saved: Path) -> str:
    """Run a saved case in this process (to debug it): the outcome its worker would send."""
    target, setup, payload = pickle.loads(Path(saved).read_bytes())
    return _load(target, setup)(payload)


def _load(target: str, setup: Any) -> Callable[[Any], str]:
    module, function = target.split(":")
    mod = importlib.import_module(module)
    if hasattr(mod, "setup"):
        mod.setup(setup)
    return getattr(mod, function)


def _worker_main(target: str) -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the result frames
    sys.stdout = sys.stderr
    warnings.simplefilter("error")
    inp = sys.stdin.buffer

    def read_frame() -> Any:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return _STOP
        (n,) = _HEADER.unpack(head)
        return pickle.loads(inp.read(n))

    fn = _load(target, read_frame())
    _send_frame(out, _READY)
    while True:
        payload = read_frame()
        if payload is _STOP:
            out.close()
            return
        try:
            outcome = fn(payload)
        except BaseException as e:  # noqa: BLE001 - the worker function should catch; report, don't die
            outcome = f"FAIL: the worker raised {type(e).__name__}: {e}"
        _send_frame(out, outcome)


if __name__ == "__main__":
    _worker_main(sys.argv[1])
