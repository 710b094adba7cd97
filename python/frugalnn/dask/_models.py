"""The model a Dask task runs: a small, picklable reference to one ``.fnn`` file's bytes, and the
per-process cache that turns it into a mapped Program and one Session per process.

A reference names the file's content by its XXH64 digest. A path reference is loaded, mapped,
from that path on the worker (a file the workers can read, as for dask's own readers); the
digest makes sure every worker scores with the bytes the client checked, not a file replaced
since. A Program given in memory travels as its ``.fnn`` bytes, once per worker: the worker
writes them under a content-addressed name in a per-user directory of the host's temporary
directory and maps that file, so every worker process on a host shares the weight pages, as
with a path.
"""
from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Union

from .. import _core
from ..graph.compile import Program
from ..graph.session import Session
from ..io import fnn

__all__ = ["ModelRef", "model_ref", "session_for"]

_KEEP = 4   # programs (and their sessions) a process keeps: the ones the newest tasks used


@dataclass(frozen=True)
class ModelRef:
    """What a task needs to find its model: the file's digest and size, and where its bytes
    are — a path on the workers' file system, or the bytes themselves."""

    digest: str
    size: int
    path: Optional[str] = None
    data: Optional[bytes] = field(default=None, repr=False)


def _digest(data: bytes) -> str:
    return f"{_core.xxh64(data):016x}"


def model_ref(model: Union[str, "os.PathLike[str]", Program]) -> tuple[ModelRef, Program]:
    """The reference tasks carry, and the Program checked here in the client (a corrupt file
    raises FormatError now, once, instead of in every task)."""
    if isinstance(model, Program):
        with tempfile.TemporaryDirectory(prefix="frugalnn-") as tmp:
            path = os.path.join(tmp, "model.fnn")
            fnn.save(model, path)
            with open(path, "rb") as f:
                data = f.read()
        ref = ModelRef(_digest(data), len(data), data=data)
        _remember(ref, model)   # the threaded scheduler runs in this process: no copy needed
        return ref, model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a .fnn path or a compiled Program, got {type(model).__name__}")
    path = os.path.abspath(os.fsdecode(os.fspath(model)))
    program = fnn.load(path)                     # FormatError / OSError here, before any task
    with open(path, "rb") as f:
        data = f.read()
    ref = ModelRef(_digest(data), len(data), path=path)
    _remember(ref, program)
    return ref, program


_lock = threading.Lock()
_programs: "OrderedDict[str, Program]" = OrderedDict()
_sessions: "OrderedDict[tuple, Session]" = OrderedDict()


def _remember(ref: ModelRef, program: Program) -> None:
    with _lock:
        _programs[ref.digest] = program
        _programs.move_to_end(ref.digest)
        while len(_programs) > _KEEP:
            gone, _ = _programs.popitem(last=False)
            for key in [k for k in _sessions if k[0] == gone]:
                del _sessions[key]


def _cache_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"frugalnn-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    if hasattr(os, "getuid") and os.stat(path).st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user: not mapping models from it")
    return path


def _write(path: str, data: bytes) -> None:
    """``data`` at ``path``, atomically: concurrent writers of the same bytes race harmlessly."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _load(ref: ModelRef) -> Program:
    """Map the model's file after checking it holds the bytes the client checked. A file of
    shipped bytes that does not (damaged on disk) is written again; a path that does not fails."""
    if ref.path is not None:
        path = ref.path
    else:
        assert ref.data is not None
        path = os.path.join(_cache_dir(), f"{ref.digest}-{ref.size}.fnn")
        if not os.path.exists(path):
            _write(path, ref.data)
    for _ in range(3):
        before = _identity(path)
        with open(path, "rb") as f:
            data = f.read()
        same = len(data) == ref.size and _digest(data) == ref.digest
        del data
        if same:
            program = fnn.load(path, mmap=True)
            if _identity(path) == before:      # not replaced between the check and the mapping
                return program
            continue                           # replaced meanwhile: check what is there now
        if ref.data is None:
            break
        _write(path, ref.data)
    raise fnn.FormatError(f"{path} is not the model this job was built with: its content changed "
                          f"since predict() checked it (XXH64 {ref.digest}); rebuild the job")


def _program_for(ref: ModelRef) -> Program:
    """This process's Program for the model (loaded, mapped, on first use)."""
    with _lock:
        program = _programs.get(ref.digest)
        if program is not None:
            _programs.move_to_end(ref.digest)
            return program
    program = _load(ref)   # outside the lock: loading reads the file
    with _lock:
        program = _programs.setdefault(ref.digest, program)
    _remember(ref, program)
    return program


def _worker_threads() -> int:
    """Runs this process may have in flight at once: the Dask worker's threads, or, outside a
    distributed worker (the threaded scheduler), the local scheduler's."""
    try:
        from distributed import get_worker

        return max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        import dask

        return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def session_for(ref: ModelRef, max_batch: int, num_threads: int, tiles: str) -> Session:
    """This process's Session for the model: one per (model, max_batch, threads, tiles), holding
    as many arenas as the process runs tasks at once, so that its tasks never wait on each other."""
    program = _program_for(ref)
    key = (ref.digest, max_batch, num_threads, tiles)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            session = Session(program, max_batch=max_batch, num_threads=num_threads,
                              concurrency=_worker_threads(), tiles=tiles)
            _sessions[key] = session
            while len(_sessions) > _KEEP:
                _sessions.popitem(last=False)
        _sessions.move_to_end(key)
        return session
