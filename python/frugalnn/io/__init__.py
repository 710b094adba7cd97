"""Model I/O: .fnn save / load (mapped, no extra needed), ONNX export and import (optional
``onnx`` extra)."""
from .fnn import FormatError, info, load, save
from .onnx_export import to_onnx
from .onnx_import import load_onnx

__all__ = ["FormatError", "info", "load", "load_onnx", "save", "to_onnx"]
