"""Model I/O: ONNX export (optional ``onnx`` extra)."""
from .onnx_export import to_onnx

__all__ = ["to_onnx"]
