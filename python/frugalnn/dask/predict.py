"""``predict``: a compiled model over a Dask array, chunk by chunk, one Session per worker process."""
from __future__ import annotations

import math
import os
import string
from typing import Mapping, Optional, Sequence, Union

import dask
import dask.array as da
import numpy as np

from ..graph.compile import Program, TensorSpec
from ..graph.session import _count
from ._models import ModelRef, model_ref, session_for

__all__ = ["predict"]

Inputs = Union[da.Array, Mapping[str, da.Array]]


def predict(model: Union[str, "os.PathLike[str]", Program], x: Inputs, batch_size: int = 256,
            output: Union[None, str, Sequence[str]] = None, *, num_threads: int = 1
            ) -> Union[da.Array, dict]:
    """``model``'s outputs for every row of ``x``, as a lazy Dask array (a dict of them for a
    program with several outputs, or for ``output`` given as a list of names).

    Args:
        model: a ``.fnn`` path (read, mapped, by every worker process: a file they can all
            reach) or a compiled :class:`~frugalnn.graph.Program` (its ``.fnn`` bytes are one
            key of the graph, sent once to each worker process, which maps them from a file
            of its host's temporary directory).
        x: a Dask array whose first axis is the batch and whose other axes are the model
            input's shape, of exactly its dtype (``float32``, or the ``uint8`` / ``int8`` an
            input was declared with); a dict ``{name: array}`` for several inputs.
        batch_size: rows per ``Session.run``; each worker's Session is planned for
            ``min(batch_size, largest chunk)`` rows.
        output: one output's name (that array alone), a list of names (a dict), or None
            (every output).
        num_threads: threads each run splits its work over (Dask already runs one task per
            worker thread).

    Each chunk runs in consecutive slices of ``batch_size`` rows from its first row, so the
    result is bit-identical to ``Session(program, max_batch=batch_size, num_threads=num_threads)``
    run over each chunk that way, whatever the scheduler, the worker count or the retries after
    a lost worker; with chunks that are multiples of ``batch_size`` rows (but the last), that is
    ``Session.run`` over ``x`` in slices of ``batch_size``. Chunks are never moved to realign
    them: int8 results are exact whatever the slices, and float32 ones differ at most in the
    last bits (a row's sum depends on the GEMM tile it falls in, which the slice's rows and the
    thread count decide). Chunk the batch axis in multiples of ``batch_size`` for both.

    Everything that can be checked is checked here, before any task runs: the model file
    (``FormatError``), the inputs' names, shapes and dtypes, and ``output``.
    """
    ref, program = model_ref(model)
    batch_size = _count("batch_size", batch_size, 1)
    num_threads = _count("num_threads", num_threads, 1)
    arrays = _inputs(x, program.inputs)
    names = _outputs(output, program.outputs)
    arrays = [a.rechunk({i: -1 for i in range(1, a.ndim)}) for a in arrays]   # whole rows per block
    max_batch = max(1, min(batch_size, max(arrays[0].chunks[0], default=1)))
    # A Session planned for one row would take compact tiles ("auto"); the reference planned
    # for batch_size rows takes fast ones: keep the same tiles so the bits agree.
    tiles = "auto" if batch_size == 1 else "fast"
    specs = [s for s in program.outputs if s.name in names]
    width = sum(_size(s) for s in specs)

    handle = _ship(ref)
    letters = iter(string.ascii_letters.replace("n", ""))
    operands: list = [handle, None]
    for a in arrays:
        operands += [a, "n" + "".join(next(letters) for _ in range(a.ndim - 1))]
    flat = next(letters)
    packed = da.blockwise(_score_block, "n" + flat, *operands, new_axes={flat: width}, concatenate=True,
                          dtype=np.float32, meta=np.empty((0, 0), np.float32),
                          name="frugalnn-predict-" + dask.base.tokenize(handle.key, [a.name for a in arrays],
                                                                         batch_size, num_threads, names),
                          input_names=[s.name for s in program.inputs], output_names=[s.name for s in specs], width=width,
                          batch_size=batch_size, max_batch=max_batch, num_threads=num_threads, tiles=tiles)
    results, start = {}, 0
    for s in specs:
        size = _size(s)
        part = packed[:, start:start + size]
        results[s.name] = part.reshape((-1,) + tuple(s.shape[1:])) if len(s.shape) != 2 else part
        start += size
    if isinstance(output, str) or (output is None and len(specs) == 1):
        return results[specs[0].name]
    return results


def _size(spec: TensorSpec) -> int:
    return int(math.prod(spec.shape[1:]))


def _ship(ref: ModelRef):
    """The graph's one handle on the model: a single key every task depends on. Under a
    distributed client its bytes go to the scheduler once, to one worker, and from there to the
    others; if every worker holding it dies, the scheduler computes the key again from the
    graph. (Scattered data has no such recipe: a lost holder fails every task after it.)"""
    return dask.delayed(ref, pure=True, traverse=False)


def _inputs(x: Inputs, specs: list[TensorSpec]) -> list[da.Array]:
    if isinstance(x, da.Array):
        if len(specs) != 1:
            raise ValueError(f"the model has {len(specs)} inputs {[s.name for s in specs]}: pass x as a dict "
                             "{name: dask array}")
        given = {specs[0].name: x}
    elif isinstance(x, Mapping):
        missing = [s.name for s in specs if s.name not in x]
        extra = sorted(set(x) - {s.name for s in specs})
        if missing or extra:
            raise ValueError(f"inputs: missing {missing}, unknown {extra}")
        given = dict(x)
    elif isinstance(x, np.ndarray):
        raise TypeError("x must be a dask array (da.from_array(x, chunks=...)); for a numpy array in "
                        "memory, Session.run needs no Dask")
    else:
        raise TypeError(f"x must be a dask array or a dict of them, got {type(x).__name__}")
    arrays, rows = [], None
    for s in specs:
        a = given[s.name]
        if not isinstance(a, da.Array):
            raise TypeError(f"input '{s.name}' must be a dask array, got {type(a).__name__}")
        shape = tuple(s.shape[1:])
        if a.ndim != len(shape) + 1 or tuple(a.shape[1:]) != shape:
            raise ValueError(f"input '{s.name}' must have shape (batch,) + {shape}, got {a.shape}")
        if a.dtype != s.dtype:
            raise TypeError(f"input '{s.name}' must be {s.dtype}, got {a.dtype} (no implicit casts: "
                            f"x.astype(np.{np.dtype(s.dtype).name}))")
        if any(math.isnan(c) for c in a.chunks[0]):
            raise ValueError(f"input '{s.name}' has unknown chunk sizes: call x.compute_chunk_sizes() first")
        if rows is None:
            rows = a.shape[0]
        elif a.shape[0] != rows:
            raise ValueError(f"the inputs disagree on the batch: {rows} and {a.shape[0]} rows")
        arrays.append(a)
    if len(arrays) > 1:   # every input chunked like the first along the batch
        arrays = [arrays[0]] + [a.rechunk({0: arrays[0].chunks[0]}) for a in arrays[1:]]
    return arrays


def _outputs(output: Union[None, str, Sequence[str]], specs: list[TensorSpec]) -> list[str]:
    known = [s.name for s in specs]
    if output is None:
        return known
    names = [output] if isinstance(output, str) else list(output)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"output must be an output's name or a list of them, got {output!r}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown output(s) {unknown}: the model's are {known}")
    return names


def _score_block(ref, *blocks: np.ndarray, input_names: list, output_names: list, width: int, batch_size: int,
                 max_batch: int, num_threads: int, tiles: str) -> np.ndarray:
    """The outputs of one chunk, flattened per row and side by side: (rows, total width)."""
    n = blocks[0].shape[0]
    if n == 0:
        return np.empty((0, width), np.float32)
    session = session_for(ref, max_batch, num_threads, tiles)
    outs = {s.name: np.empty((n,) + tuple(s.shape[1:]), np.float32) for s in session.outputs}
    blocks = tuple(np.ascontiguousarray(b) for b in blocks)
    for i in range(0, n, batch_size):
        xs = {name: b[i:i + batch_size] for name, b in zip(input_names, blocks)}
        ys = {name: o[i:i + batch_size] for name, o in outs.items()}
        session.run(xs if len(xs) > 1 else next(iter(xs.values())),
                    out=ys if len(ys) > 1 else next(iter(ys.values())))
    if len(output_names) == 1:
        return outs[output_names[0]].reshape(n, -1)
    return np.concatenate([outs[name].reshape(n, -1) for name in output_names], axis=1)
