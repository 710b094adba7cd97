"""``frugalnn convert | inspect | run``: model files from the command line.

convert  an ONNX or TFLite model -> a .fnn file (optionally int8 with a calibration batch, f16
         weights, or dense layers pruned into sparse storage)
inspect  a .fnn, ONNX or TFLite model: inputs and outputs, steps with their precision and kernel,
         weight bytes, and the arena plan against its lower bound
run      a .fnn (or ONNX / TFLite) model on an .npy batch, writing an .npy of outputs
"""
from __future__ import annotations

import argparse
import os
from typing import Callable

import numpy as np

from .memory import _format_bytes

Out = Callable[[str], None]


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="ONNX / TFLite -> .fnn (compiled, packed, mmap-able)")
    p.add_argument("model", help="an .onnx or .tflite file")
    p.add_argument("-o", "--output", required=True, help="the .fnn file to write")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--int8", action="store_true",
                      help="int8 weights and activations (calibrated with --calib unless the model is quantized)")
    mode.add_argument("--fp16", action="store_true", help="f16 weights, f32 compute")
    mode.add_argument("--float", action="store_true",
                      help="float32 weights even for a quantized model (default: a quantized model stays int8)")
    p.add_argument("--calib", help="an .npy / .npz calibration batch for --int8 (first array of an .npz)")
    p.add_argument("--prune", type=float, metavar="SPARSITY",
                   help="prune the smallest weights, this fraction of them over all layers (0 <= s < 1); Dense "
                        "layers that then store smaller sparse are stored sparse")
    p.add_argument("--codebook", type=int, metavar="BITS",
                   help="non-uniform weights: 2^BITS k-means centroids per layer and BITS-bit indices (2..8)")
    p.add_argument("--structured", action="store_true",
                   help="with --prune: remove whole channels / neurons instead (a smaller dense model)")
    p.add_argument("--budget", metavar="SIZE",
                   help="fit weights + batch-1 arena into SIZE (200KiB, 1.5MiB, 300000): per-layer storage and "
                        "width chosen with --calib data, keeping the original's answers on it")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("inspect", help="steps, precisions, kernels, weight bytes, arena plan")
    p.add_argument("model", help="a .fnn, .onnx or .tflite file")
    p.add_argument("--batch", type=int, default=64, help="max batch to plan the arena for (default 64)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("run", help="run a model on an .npy batch")
    p.add_argument("model", help="a .fnn, .onnx or .tflite file")
    p.add_argument("input", help="an .npy file: a batch (batch, *input shape) of the input's dtype "
                                 "(float32, or uint8 / int8 for a quantized input)")
    p.add_argument("-o", "--output", help="write the outputs here (.npy; .npz for several outputs)")
    p.set_defaults(func=cmd_run)


def _is_tflite(path: str) -> bool:
    """A .tflite file, by extension or by the flatbuffer identifier "TFL3" at byte 4."""
    if path.endswith(".tflite"):
        return True
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"


def _import(path: str):
    """The Graph of an ONNX or TFLite model file (None for anything else: a .fnn)."""
    from .io import load_onnx, load_tflite

    if path.endswith(".onnx"):
        return load_onnx(path)
    if _is_tflite(path):
        return load_tflite(path)
    return None


def _load_program(path: str, **compile_args):
    """A compiled Program from a .fnn (mapped) or an .onnx / .tflite (imported and compiled)
    file. A quantized model's int8 layers run int8 with its own parameters."""
    from .io import load
    from .graph import compile

    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    g = _import(path)
    if g is not None:
        if _is_tflite(path) and "precision" not in compile_args:  # as convert writes it
            int8 = [layer.name for layer in _weighted(g) if _statically_quantized(layer)]
            compile_args["precision"] = {name: "int8" for name in int8 + (_quantized_eltwise(g) if int8 else [])}
        return compile(g, **compile_args)
    return load(path)


def _calibration(path: str) -> np.ndarray:
    data = np.load(path)
    if isinstance(data, np.lib.npyio.NpzFile):
        if not data.files:
            raise ValueError(f"{path}: the .npz holds no arrays")
        data = data[data.files[0]]
    if data.dtype in (np.uint8, np.int8):  # frames for a model with a uint8 / int8 input, as they are
        return np.ascontiguousarray(data)
    return np.ascontiguousarray(data, dtype=np.float32)


_UNITS = {"": 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000 ** 2, "mib": 1024 ** 2, "k": 1024, "m": 1024 ** 2}


def parse_bytes(text: str) -> int:
    """``"200KiB"`` -> 204800; ``"1.5MB"`` -> 1500000; ``"300000"`` -> 300000."""
    t = text.strip().replace(" ", "")
    i = len(t)
    while i and not (t[i - 1].isdigit() or t[i - 1] == "."):
        i -= 1
    unit = t[i:].lower()
    try:
        value = float(t[:i])
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or not value > 0 or value * _UNITS[unit] >= 2 ** 62:
        raise ValueError(f"a size must be a positive number of bytes with an optional unit (KiB, MiB, KB, MB), "
                         f"got {text!r}")
    return int(value * _UNITS[unit])


def cmd_convert(args: argparse.Namespace, out: Out = print) -> int:
    from . import compress
    from .graph import compile
    from .io import save

    g = _import(args.model) if os.path.exists(args.model) else None
    if g is None:
        raise ValueError(f"convert reads an .onnx or .tflite model, got {args.model}")
    if args.structured and args.prune is None:
        raise ValueError("--structured goes with --prune SPARSITY")
    if args.budget is not None and (args.int8 or args.fp16 or args.prune is not None or args.codebook is not None):
        raise ValueError("--budget chooses the storage itself: give it without --int8 / --fp16 / --prune / "
                         "--codebook")
    if args.codebook is not None and (args.int8 or args.fp16):
        raise ValueError("--codebook is a weight storage of its own: give it without --int8 / --fp16")
    budget = parse_bytes(args.budget) if args.budget is not None else None
    weighted = _weighted(g)
    if budget is not None:
        return _convert_to_budget(g, budget, args, out)
    # A layer the model quantized statically (input scale and zero point included) stays
    # int8 unless asked otherwise: writing its weights back as float would make the file
    # ~4x the ONNX one and change its numbers.
    precision: dict = {layer.name: "int8" if _statically_quantized(layer) and not args.float else "f32"
                       for layer in weighted}
    calibration = None
    if args.int8:
        precision = {layer.name: "int8" for layer in weighted}
        if any(layer.quant is None or layer.quant.input_scale is None for layer in weighted):
            if not args.calib:
                raise ValueError("--int8 needs --calib data.npz for a model that is not quantized already")
            calibration = _calibration(args.calib)
    if args.prune is not None:
        if not 0.0 <= args.prune < 1.0:
            raise ValueError(f"--prune takes a sparsity in [0, 1), got {args.prune}")
        # layers the model brings int8 weights for keep them: pruning the float copy would not reach them
        g = compress.prune(g, args.prune, structured=args.structured,
                           keep=[layer.name for layer in weighted if precision[layer.name] == "int8"])
        weighted = _weighted(g)
        precision = {name: p for name, p in precision.items() if p == "int8"}  # the others: their own
    if args.codebook is not None:
        g = compress.codebook(g, args.codebook, keep=[layer.name for layer in weighted
                                                      if precision.get(layer.name) == "int8"])
        precision = {name: p for name, p in precision.items() if p == "int8"}
    if args.fp16:
        g = compress.half(g, "f16")
        precision = {}
    elif not args.int8 and args.prune is None and args.codebook is None:
        precision = {name: p for name, p in precision.items() if p == "int8"}
    if not (args.float or args.fp16):  # a quantized model's Add / GlobalAvgPool stay int8 with its layers
        precision.update({name: "int8" for name in _quantized_eltwise(g)})
    program = compile(g, precision=precision, calibration=calibration)
    save(program, args.output)
    src_bytes, fnn_bytes = os.path.getsize(args.model), os.path.getsize(args.output)
    kind = "ONNX" if args.model.endswith(".onnx") else "TFLite"
    out(f"{args.output}: {_format_bytes(fnn_bytes)} ({kind} {_format_bytes(src_bytes)}, "
        f"{fnn_bytes / src_bytes:.2f}x); {len(program.steps)} steps, "
        f"weights {_format_bytes(program.weight_bytes)}")
    dynamic = [layer.name for layer in weighted
               if layer.quant is not None and not _statically_quantized(layer) and precision.get(layer.name) != "int8"]
    if dynamic and not (args.float or args.fp16):
        out(f"note: {len(dynamic)} layer(s) were quantized dynamically (no activation scales) and are written "
            "in float; --int8 --calib data.npz calibrates them to int8")
    return 0


def _convert_to_budget(g, budget: int, args: argparse.Namespace, out: Out) -> int:
    """--budget: compress.fit on the --calib inputs, scored by agreement with the original."""
    from . import compress
    from .graph import Session, compile
    from .io import save

    if not args.calib:
        raise ValueError("--budget needs --calib data.npz: the inputs the choices are measured on")
    x = _calibration(args.calib)
    s = Session(compile(g), max_batch=min(len(x), 256))
    labels = np.concatenate([s.run(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    r = compress.fit(g, budget, x, (x, labels), progress=out)
    program = compile(r.graph)
    save(program, args.output)
    out(f"{args.output}: {_format_bytes(os.path.getsize(args.output))}; weights {_format_bytes(r.weight_bytes)} + "
        f"arena {_format_bytes(r.arena_bytes)} = {_format_bytes(r.footprint)} <= {_format_bytes(budget)} "
        f"(the original: {_format_bytes(r.original_footprint)}); {100 * r.accuracy:.1f}% of the calibration "
        "inputs get the original's answer")
    for name, choice in r.choices.items():
        out(f"  {name}: {choice}")
    if r.width:
        out(f"  {r.width:.0%} of the channels removed")
    return 0


def _weighted(g) -> list:
    """The Dense / Conv2d layers (the ones with weights a precision applies to)."""
    from .graph import layers as L

    return [n.layer for n in g.nodes if isinstance(n.layer, (L.Dense, L.Conv2d))]


def _quantized_eltwise(g) -> list[str]:
    """Names of the Add / GlobalAvgPool layers a quantized model gave u8 input parameters."""
    from .graph import layers as L

    return [n.layer.name for n in g.nodes
            if isinstance(n.layer, (L.Add, L.GlobalAvgPool)) and n.layer.quant is not None]


def _statically_quantized(layer) -> bool:
    return layer.quant is not None and layer.quant.input_scale is not None


def cmd_inspect(args: argparse.Namespace, out: Out = print) -> int:
    from .graph import Session
    from .graph.session import _kernel_isa
    from ._runtime import runtime_info

    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    program = _load_program(args.model)
    out(f"{args.model}: {len(program.steps)} steps, weights {_format_bytes(program.weight_bytes)}")
    for spec in program.inputs:
        qs = f" (scale {spec.scale:.4g}, zero point {spec.zero_point})" if spec.scale is not None else ""
        out(f"  input  {spec.name}: {spec.shape} {np.dtype(spec.dtype).name}{qs}")
    for spec in program.outputs:
        out(f"  output {spec.name}: {spec.shape} {np.dtype(spec.dtype).name}")
    r = Session(program, max_batch=args.batch, num_threads=1).memory_report()
    kernels = runtime_info()["kernels"]
    out(f"  arena at max_batch={args.batch}: {_format_bytes(r.arena_bytes)} "
        f"(lower bound {_format_bytes(r.lower_bound)}, one buffer per tensor {_format_bytes(r.naive_bytes)})")
    # Columns as wide as their longest entry: ONNX names run long ("/features/features.3/conv/...").
    name_w = max([len(st[0]) for st in r.steps] + [4]) + 2
    kind_w = max([len(st[1]) for st in r.steps] + [4]) + 2
    for info, (name, kind, prec, out_b, scr_b) in zip(program.steps, r.steps):
        q = program.quantization.get(name)
        qs = f"  in u8 scale {q[0]:.4g} zp {q[1]}" if q else ""
        out(f"    {name:<{name_w}}{kind:<{kind_w}}{prec:<7}{_kernel_isa(info, kernels):<12}"
            f"out {_format_bytes(out_b):>11}  scratch {_format_bytes(scr_b):>10}{qs}")
    return 0


def cmd_run(args: argparse.Namespace, out: Out = print) -> int:
    from .graph import Session

    program = _load_program(args.model)
    x = np.load(args.input)
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{args.input}: expected one array (.npy)")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"{args.input}: an empty batch")
    s = Session(program, max_batch=len(x))
    y = s.run(np.ascontiguousarray(x))
    ys = y if isinstance(y, dict) else {program.outputs[0].name: y}
    if args.output:
        if len(ys) == 1:
            np.save(args.output, next(iter(ys.values())))
        else:
            np.savez(args.output, **ys)
    for name, v in ys.items():
        top = f", argmax {v.reshape(len(v), -1).argmax(1)[:8].tolist()}" if v.ndim == 2 else ""
        out(f"{name}: {v.shape} {v.dtype}{top}")
    return 0
