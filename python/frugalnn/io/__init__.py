"""Model I/O: .fnn save / load (mapped, no extra needed), ONNX export and import (optional
``onnx`` extra), TFLite import (no extra: frugalnn reads the flatbuffer itself)."""
from .fnn import FormatError, info, load, save
from .onnx_export import to_onnx
from .onnx_import import load_onnx
from .tflite_import import load_tflite

__all__ = ["FormatError", "info", "load", "load_onnx", "load_tflite", "save", "to_onnx"]
