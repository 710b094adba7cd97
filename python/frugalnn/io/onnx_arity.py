"""Node arity, checked once for every node before anything reads its inputs or outputs.

The counts come from onnx's own operator schemas: how many inputs and outputs a node may
have, and which must be named. A handler (or the constant folder) then never meets a node
without outputs (an IndexError otherwise) or without a required input (an assertion).
Ops onnx has no schema for (onnxruntime's com.microsoft ops) must have a named first
output. Their handlers read every input through the importer, which refuses a missing
required one.
"""
from __future__ import annotations

from typing import Any

from .onnx_values import malformed

_UNBOUNDED = 2**31 - 1  # what onnx's schemas say for "any number"


def check_arity(onnx: Any, node: Any, opset: int) -> None:
    """ValueError naming ``node`` when it has too few or too many inputs or outputs, or
    leaves a required one unnamed."""
    schema = _schema(onnx, node, opset)
    if schema is None:
        if not node.output or not node.output[0]:
            raise malformed(node, "has no (named) output")
        return
    _count(node, "input", len(node.input), schema.min_input, schema.max_input)
    _count(node, "output", len(node.output), schema.min_output, schema.max_output)
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    for kind, formals, names in (("input", schema.inputs, node.input), ("output", schema.outputs, node.output)):
        for i, p in enumerate(formals):
            if p.option == single and (i >= len(names) or not names[i]):
                raise malformed(node, f"{kind} {i} ('{p.name}') is required but missing")


def _schema(onnx: Any, node: Any, opset: int) -> Any:
    """The schema of the node's op at ``opset`` (default domain only); None when onnx has
    none. Then the op is either one of onnxruntime's, or unknown, and is refused later."""
    if node.domain not in ("", "ai.onnx"):
        return None
    try:
        return onnx.defs.get_schema(node.op_type, opset, "")
    except onnx.defs.SchemaError:
        return None


def _count(node: Any, kind: str, n: int, lo: int, hi: int) -> None:
    if lo <= n <= hi:
        return
    allowed = f"at least {lo}" if hi >= _UNBOUNDED else (f"{lo}" if lo == hi else f"{lo} to {hi}")
    raise malformed(node, f"has {n} {kind}s; {node.op_type} takes {allowed}")
