"""External data of an ONNX model, read by load_onnx itself.

onnx's own loader validates the paths with its checker, which raises
``onnx.checker.ValidationError`` (not a ValueError). When a tensor is read lazily, it
resolves a relative location against the current directory. Here every tensor with
external data is resolved against the model's folder, and refused with a ValueError
unless its file is a regular file inside that folder (after symlinks) and its offset
and length lie inside the file. Nothing outside the folder is opened: a path that
escapes it is refused before any I/O. A FIFO or device is refused without blocking.
"""
from __future__ import annotations

import os
import stat
from typing import Any, Iterator, Optional

_KNOWN_KEYS = {"location", "offset", "length", "checksum", "basepath"}


def load_external_data(onnx: Any, model: Any, base_dir: Optional[str]) -> None:
    """Read the external data of every tensor of ``model`` (initializers, Constant values,
    subgraphs, functions) into its ``raw_data``, in place.

    Args:
        base_dir: the folder of the model file; None when the model came as bytes or a
            ModelProto: then any tensor with external data is refused.

    Raises:
        ValueError: a location outside ``base_dir`` (absolute, ``..``, a symlink out), a
            missing or non-regular file, a bad offset / length, or no folder to read from.
    """
    external = onnx.TensorProto.EXTERNAL
    for t, what in _tensors(model):
        if t.data_location != external:
            continue
        if base_dir is None:
            raise ValueError(f"load_onnx: {what} keeps its values in an external file; pass the model's "
                             "path (not bytes or a ModelProto) so the file can be read from beside it")
        entries = {}
        for e in t.external_data:
            if e.key not in _KNOWN_KEYS:
                raise ValueError(f"load_onnx: {what}: unknown external data key {e.key!r}")
            entries[e.key] = e.value
        t.raw_data = _read(base_dir, entries, what)
        del t.external_data[:]
        t.data_location = onnx.TensorProto.DEFAULT


def _tensors(model: Any) -> Iterator[tuple[Any, str]]:
    """(TensorProto, description) of every tensor the model holds, at any nesting depth."""
    graphs = [(model.graph, "")]
    nodes = [(n, "") for f in model.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            g, where = graphs.pop()
            for t in g.initializer:
                yield t, f"initializer '{t.name}'{where}"
            for st in g.sparse_initializer:
                yield st.values, f"sparse initializer '{st.values.name}'{where}"
                yield st.indices, f"sparse initializer '{st.values.name}' (indices){where}"
            nodes.extend((n, where) for n in g.node)
            continue
        n, where = nodes.pop()
        here = f" of {n.op_type} node '{n.name or (n.output[0] if n.output else '?')}'{where}"
        for a in n.attribute:
            what = f"attribute '{a.name}'{here}"
            if a.HasField("t"):
                yield a.t, what
            yield from ((t, what) for t in a.tensors)
            if a.HasField("sparse_tensor"):
                yield a.sparse_tensor.values, what
                yield a.sparse_tensor.indices, what
            for st in a.sparse_tensors:
                yield st.values, what
                yield st.indices, what
            if a.HasField("g"):
                graphs.append((a.g, f" in the subgraph {what}"))
            graphs.extend((sg, f" in a subgraph {what}") for sg in a.graphs)


def _int_entry(entries: dict, key: str, what: str) -> Optional[int]:
    if key not in entries:
        return None
    try:
        v = int(entries[key])
    except ValueError:
        raise ValueError(f"load_onnx: {what}: external data {key} {entries[key]!r} is not an integer") from None
    if v < 0:
        raise ValueError(f"load_onnx: {what}: external data {key} {v} is negative")
    return v


def _read(base_dir: str, entries: dict, what: str) -> bytes:
    location = entries.get("location", "")
    if not location or "\0" in location or os.path.isabs(location):
        raise ValueError(f"load_onnx: {what}: external data location {location!r} must be a relative path "
                         "inside the model's folder")
    base = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(base, location))
    if os.path.commonpath([base, path]) != base or path == base:
        raise ValueError(f"load_onnx: {what}: external data location {location!r} is outside the model's "
                         "folder; refusing to read it")
    offset = _int_entry(entries, "offset", what) or 0
    length = _int_entry(entries, "length", what)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise ValueError(f"load_onnx: {what}: cannot open external data file {location!r}: "
                         f"{e.strerror or e}") from e
    try:
        st = os.fstat(fd)  # of what was opened: a path swapped meanwhile is checked too
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"load_onnx: {what}: external data {location!r} is not a regular file")
        end = st.st_size if length is None else offset + length
        if offset > st.st_size or end > st.st_size:
            raise ValueError(f"load_onnx: {what}: external data bytes [{offset}, {end}) lie past the end of "
                             f"{location!r} ({st.st_size} bytes)")
        chunks, left = [], end - offset
        while left:
            chunk = os.pread(fd, left, offset + (end - offset - left))
            if not chunk:  # the file shrank meanwhile
                raise ValueError(f"load_onnx: {what}: external data file {location!r} is truncated")
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise ValueError(f"load_onnx: {what}: cannot read external data file {location!r}: "
                         f"{e.strerror or e}") from e
    finally:
        os.close(fd)
    return b"".join(chunks)
