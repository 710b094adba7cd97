"""The one way ops register what they provide (lowering, reference forward, ONNX export)."""
from __future__ import annotations

from typing import Any, Callable


def registrar(table: dict, doc: str) -> Callable[..., Callable[[Callable], Callable]]:
    """``register = registrar(table, doc)``; then ``@register(key, ...)`` stores the decorated
    function in ``table`` under every key and returns it unchanged."""
    def register(*keys: Any) -> Callable[[Callable], Callable]:
        def add(fn: Callable) -> Callable:
            for key in keys:
                table[key] = fn
            return fn
        return add
    register.__doc__ = doc
    return register
