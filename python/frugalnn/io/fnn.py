"""Compiled programs as ``.fnn`` files: save once, load in milliseconds with the weights mapped.

A ``.fnn`` file holds a compiled Program — its steps, its tensors with their dtypes and int8
parameters, and the packed weights byte for byte in the kernels' layouts (64-byte aligned) —
plus the graph's input / output names, shapes and dtypes (an input may be uint8 / int8, its scale
and zero point kept), the per-layer quantization, and the memory
plan at ``max_batch=64``. ``load(path)`` maps the file: nothing is copied or repacked, the
weights become resident in the process only as kernels touch them, and processes that load
the same file share those pages. (Loading verifies every checksum by reading the file once
through the OS page cache, without mapping its pages into the process.) Reading and writing live in C++ (``csrc/io``; the layout is specified
in ``csrc/io/fnn_format.h``), so C/C++ programs can load the same files without Python.

Every file is checked before it is used: magic number, format version, sizes and offsets,
a checksum of the header and one of each weight blob, then the program's own consistency.
A file that fails raises :class:`FormatError` (a ``ValueError``) saying what is wrong and
where; it never crashes the process.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Union

import numpy as np

from .. import _core
from ..graph.compile import Program, TensorSpec, compile
from ..graph.graph import Graph
from ..memory import default_pool

__all__ = ["FormatError", "info", "load", "save"]

FormatError = _core.FormatError

#: (major, minor) of the files save() writes; load() also reads every older major version.
FORMAT_VERSION: tuple = tuple(_core.FNN_FORMAT_VERSION)

PLAN_BATCH = 64  # max_batch of the memory plan stored in the file (informational)

PathLike = Union[str, "os.PathLike[str]"]


def _path(path: object) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def _specs(specs: list[TensorSpec], what: str) -> list[tuple[str, list[int], str]]:
    out = []
    allowed = ("float32", "uint8", "int8") if what == "input" else ("float32",)
    for s in specs:
        if np.dtype(s.dtype).name not in allowed:
            raise ValueError(f"{what} '{s.name}' is {np.dtype(s.dtype)}: .fnn files hold {' / '.join(allowed)} "
                             f"{what}s")
        out.append((s.name, [int(d) for d in s.shape[1:]], np.dtype(s.dtype).name))
    return out


def save(program_or_graph: Union[Program, Graph], path: PathLike, *,
         precision: Union[None, str, Mapping[str, str]] = None,
         calibration: Optional[Any] = None) -> None:
    """Write a compiled Program (or a Graph, compiled first with ``precision`` and
    ``calibration`` as :func:`frugalnn.graph.compile` takes them) to ``path``.

    The file appears atomically: it is written under a temporary name in the same directory,
    synced, and renamed over ``path``, so a reader never sees half a file.
    """
    if isinstance(program_or_graph, Graph):
        program = compile(program_or_graph, precision=precision, calibration=calibration)
    elif isinstance(program_or_graph, Program):
        if precision is not None or calibration is not None:
            raise ValueError("precision and calibration apply when saving a Graph: this Program is compiled already")
        program = program_or_graph
    else:
        raise TypeError(f"save takes a compiled Program or a Graph, got {type(program_or_graph).__name__}")
    quant = [(str(name), float(scale), int(zp)) for name, (scale, zp) in program.quantization.items()]
    _core.fnn_save(program._core, _path(path), _specs(program.inputs, "input"),
                   _specs(program.outputs, "output"), quant, f"frugalnn {_core.__version__}", PLAN_BATCH)


def _load(path: PathLike, mmap: bool) -> tuple[Program, dict]:
    if not isinstance(mmap, (bool, np.bool_)):
        raise TypeError(f"mmap must be a bool, got {type(mmap).__name__}")
    core, meta = _core.fnn_load(_path(path), bool(mmap), default_pool()._core)
    inputs = [TensorSpec(name, (None,) + tuple(dims)) if dt == "float32"
              else TensorSpec(name, (None,) + tuple(dims), np.dtype(dt), float(scale), int(zp))
              for (name, dims), (dt, scale, zp) in zip(meta["inputs"], meta["input_dtypes"])]
    outputs = [TensorSpec(name, (None,) + tuple(dims)) for name, dims in meta["outputs"]]
    return Program(core, inputs, outputs, dict(meta["quantization"]), None), meta


def load(path: PathLike, mmap: bool = True) -> Program:
    """The compiled Program in a ``.fnn`` file, ready for :class:`frugalnn.graph.Session`.

    ``mmap=True`` maps the file: the weights are views of the mapping, which stays alive as
    long as the program (even if the file is deleted; not if it is truncated or rewritten in
    place — :func:`save` never does that). ``mmap=False`` reads the file into the default
    pool. Raises :class:`FormatError` for a file that is not a valid ``.fnn`` file and
    ``OSError`` (``FileNotFoundError`` ...) when it cannot be read. The program has no
    ``graph`` (the file holds the compiled steps, not the layers).
    """
    return _load(path, mmap)[0]


def info(path: PathLike) -> dict:
    """What a ``.fnn`` file holds besides its steps (the file is fully checked, as by load):
    ``producer``, ``version``, ``file_size``, ``header_bytes``, ``inputs`` / ``outputs``
    (name, per-sample shape), ``input_dtypes`` (per input: dtype, scale, zero point; 1.0
    and 0 for float32), ``quantization``, ``precisions`` (per step), ``blobs``
    (offset, size, kind, use) and ``plan`` (the memory plan at ``max_batch=64``)."""
    return _load(path, True)[1]
