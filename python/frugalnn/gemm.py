"""Dense matrix multiplication on packed weights: f32, f16 / bf16 weights, int8 (u8 x s8).

Weights are packed once (``pack_weights``) into the micro-kernels' panel layout in pool
memory; the packed object holds its bias, scales and column sums, and the original array can
be dropped. Calls take activations as C-contiguous numpy arrays (non-contiguous arrays are
rejected, not silently copied) and never cast dtypes implicitly.

int8 semantics follow ONNX: ``output="int32"`` is ``MatMulInteger``; ``output="u8"`` is
``QLinearMatMul`` (round half to even, saturate) with an optional fused bias (folded into
int32 as ``QLinearConv`` does) and ReLU; ``output="f32"`` dequantizes with
``a_scale * w_scale[n]`` and adds the bias.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from . import _core
from .memory import Pool, default_pool

__all__ = [
    "PackedWeights",
    "matmul",
    "pack_codebook",
    "pack_weights",
    "qmatmul",
    "qmatmul_dynamic",
    "quantize_weights",
]

_KINDS = ("f32", "f16", "bf16", "int8")
_F16_MAX = 65504.0
_MAX_INT8_K = 65536  # 255 * 128 * K must fit int32
_ACTIVATIONS = {None: (-math.inf, math.inf), "relu": (0.0, math.inf), "relu6": (0.0, 6.0)}


class PackedWeights:
    """K x N weights packed for the GEMM kernels (created by :func:`pack_weights`)."""

    # Kind, shape and bias presence are cached: every call checks them, and the native
    # getters (bias() copies) cost more than the checks themselves.
    __slots__ = ("_core", "_kind", "_k", "_n", "_has_bias")

    def __init__(self, core: "_core.PackedWeights") -> None:
        self._core = core
        self._kind: str = core.kind
        self._k: int = core.k
        self._n: int = core.n
        self._has_bias: bool = core.has_bias

    @property
    def kind(self) -> str:
        """``"f32"``, ``"f16"``, ``"bf16"``, ``"int8"`` or ``"codebook"``."""
        return self._kind

    @property
    def shape(self) -> tuple[int, int]:
        """(K, N)."""
        return (self._k, self._n)

    @property
    def nbytes(self) -> int:
        """Pool bytes held: panels (padded to 16 columns), bias, scales, column sums."""
        return self._core.nbytes

    @property
    def bias(self) -> Optional[np.ndarray]:
        return self._core.bias()

    @property
    def scales(self) -> Optional[np.ndarray]:
        """Per-output-channel weight scales (int8), else ``None``."""
        return self._core.scales()

    def unpack(self) -> np.ndarray:
        """The stored weights as K x N (float32 after f16 / bf16 rounding, or int8)."""
        return self._core.unpack()

    def __repr__(self) -> str:
        k, n = self.shape
        return f"<PackedWeights {self.kind} {k}x{n}, {self.nbytes} bytes, bias={self.bias is not None}>"


def _as_float32_vector(name: str, v: object, n: int) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {arr.dtype} (no implicit casts)")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(arr)


def quantize_weights(w: np.ndarray, per_channel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of K x N float32 weights: (w_int8, scales).

    ``scales[n] = max|w[:, n]| / 127`` (one scale for the whole matrix if not per channel),
    values rounded half to even and clipped to [-127, 127]; an all-zero column gets scale 1,
    and so does one whose scale underflows to 0 (all |w| below ~1.8e-43: they round to 0).
    """
    if not isinstance(w, np.ndarray) or w.dtype != np.float32 or w.ndim != 2:
        raise TypeError("w must be a 2-D float32 numpy array")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or infinity")
    amax = np.abs(w).max(axis=0) if per_channel else np.array([np.abs(w).max()], np.float32)
    scales = (amax / np.float32(127)).astype(np.float32)
    scales = np.where(scales > 0, scales, np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(w / scales), -127, 127).astype(np.int8)
    return q, scales


def pack_weights(
    w: np.ndarray,
    kind: str = "f32",
    *,
    bias: Optional[np.ndarray] = None,
    scales: Optional[np.ndarray] = None,
    per_channel: bool = True,
    pool: Optional[Pool] = None,
) -> PackedWeights:
    """Pack K x N weights ``w`` once for :func:`matmul` / :func:`qmatmul`.

    Args:
        w: float32 K x N (any layout: packing copies), or int8 for ``kind="int8"``.
        kind: ``"f32"``; ``"f16"`` / ``"bf16"`` (stored rounded to nearest even; half the
            bytes); ``"int8"`` (symmetric, zero point 0). A float32 ``w`` with
            ``kind="int8"`` is quantized by :func:`quantize_weights`; an int8 ``w`` needs
            ``scales``.
        bias: N float32 values added to every output row (fused in the kernel).
        scales: int8 only: 1 (per tensor) or N (per output channel) positive float32 scales.
        per_channel: when quantizing float32 weights to int8, one scale per column.
        pool: the pool that holds the packed bytes (default: ``frugalnn.default_pool()``).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
    if w.ndim != 2:
        raise ValueError(f"w must be 2-D (K x N), got shape {w.shape}")
    k, n = w.shape
    if k == 0 or n == 0:
        raise ValueError(f"w must have K >= 1 and N >= 1, got shape {w.shape}")
    if pool is not None and not isinstance(pool, Pool):
        raise TypeError(f"pool must be a frugalnn.Pool, got {type(pool).__name__}")
    core_pool = (pool or default_pool())._core
    b = None if bias is None else _as_float32_vector("bias", bias, n)
    if kind == "int8":
        if k > _MAX_INT8_K:
            raise ValueError(f"int8 weights need K <= {_MAX_INT8_K} (int32 accumulation), got K={k}")
        if w.dtype == np.float32:
            if scales is not None:
                raise ValueError("scales are computed when float32 weights are quantized")
            w, scales = quantize_weights(w, per_channel)
        elif w.dtype != np.int8:
            raise TypeError(f"int8 weights must be int8 or float32, got {w.dtype}")
        if scales is None:
            raise ValueError("int8 weights need scales (1 per tensor or N per output channel)")
        s = np.asarray(scales)
        if s.dtype != np.float32:
            raise TypeError(f"scales must be float32, got {s.dtype}")
        s = s.reshape(-1)
        if s.shape[0] not in (1, n):
            raise ValueError(f"scales must have 1 or N={n} elements, got {s.shape[0]}")
        if not np.all(np.isfinite(s)) or not np.all(s > 0):
            raise ValueError("scales must be positive and finite")
        return PackedWeights(
            _core.pack_weights(np.ascontiguousarray(w), "int8", b, np.ascontiguousarray(s), core_pool)
        )
    if w.dtype != np.float32:
        raise TypeError(f"w must be float32 for kind={kind!r}, got {w.dtype} (no implicit casts)")
    if scales is not None:
        raise ValueError(f"scales apply to int8 weights only, not kind={kind!r}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or infinity")
    if kind == "f16" and np.abs(w).max() > _F16_MAX:
        raise ValueError(f"w has values beyond the float16 range (|w| <= {_F16_MAX})")
    return PackedWeights(_core.pack_weights(np.ascontiguousarray(w), kind, b, None, core_pool))


def pack_codebook(
    indices: np.ndarray,
    centroids: np.ndarray,
    bits: int,
    *,
    bias: Optional[np.ndarray] = None,
    pool: Optional[Pool] = None,
) -> PackedWeights:
    """Pack K x N codebook weights for :func:`matmul`: ``w[k, n] = centroids[t, indices[k, n]]``.

    The indices are stored in ``bits`` bits each (two per byte up to 4 bits, else one byte)
    and decoded through the table inside the GEMM, so the packed weights stay about
    ``32 / bits`` times smaller than f32 (``nbytes``).

    Args:
        indices: uint8 K x N, every value < ``2**bits``.
        centroids: float32 ``(1, 2**bits)`` (one table for the layer) or ``(N, 2**bits)``
            (one per output column, ``t = n``).
        bits: index width, an int in 2..8.
        bias: N float32 values added to every output row.
        pool: the pool that holds the packed bytes (default: ``frugalnn.default_pool()``).
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"bits must be an int, got {type(bits).__name__}")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")
    bits = int(bits)
    for name, a in (("indices", indices), ("centroids", centroids)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    if indices.dtype != np.uint8:
        raise TypeError(f"indices must be uint8, got {indices.dtype}")
    if centroids.dtype != np.float32:
        raise TypeError(f"centroids must be float32, got {centroids.dtype} (no implicit casts)")
    k, n = indices.shape
    if k == 0 or n == 0:
        raise ValueError(f"indices must have K >= 1 and N >= 1, got shape {indices.shape}")
    if centroids.shape not in ((1, 1 << bits), (n, 1 << bits)):
        raise ValueError(f"centroids must have shape (1, {1 << bits}) or ({n}, {1 << bits}), got {centroids.shape}")
    if int(indices.max()) >= 1 << bits:
        raise ValueError(f"indices must be < 2**bits = {1 << bits}, got {int(indices.max())}")
    if not np.all(np.isfinite(centroids)):
        raise ValueError("centroids contain NaN or infinity")
    if pool is not None and not isinstance(pool, Pool):
        raise TypeError(f"pool must be a frugalnn.Pool, got {type(pool).__name__}")
    b = None if bias is None else _as_float32_vector("bias", bias, n)
    per_channel = centroids.shape[0] == n and n > 1  # one column, one table: the same thing
    return PackedWeights(_core.pack_codebook(np.ascontiguousarray(indices), bits, np.ascontiguousarray(centroids),
                                             per_channel, b, (pool or default_pool())._core))


def _check_packed(packed: object) -> PackedWeights:
    if not isinstance(packed, PackedWeights):
        raise TypeError(f"weights must come from frugalnn.ops.pack_weights, got {type(packed).__name__}")
    return packed


def _check_a(a: object, dtypes: tuple, k: int) -> tuple[np.ndarray, bool]:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"a must be a numpy.ndarray, got {type(a).__name__}")
    if a.ndim == 2 and a.dtype in dtypes and a.shape[1] == k and a.flags.c_contiguous:
        return a, False  # the common case, checked in one go
    if a.dtype not in dtypes:
        names = " or ".join(str(np.dtype(d)) for d in dtypes)
        raise TypeError(f"a must be {names}, got {a.dtype} (no implicit casts)")
    vector = a.ndim == 1
    if vector:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"a must be 1-D or 2-D (M x K), got shape {a.shape}")
    if a.shape[1] != k:
        raise ValueError(f"a has K={a.shape[1]} columns but the weights have K={k} rows")
    if not a.flags.c_contiguous:
        raise ValueError("a must be C-contiguous (pass np.ascontiguousarray(a))")
    return a, vector


def _output(out: Optional[np.ndarray], m: int, n: int, dtype: type, a: np.ndarray,
            vector: bool) -> tuple[np.ndarray, np.ndarray]:
    """(array the kernel writes, array returned to the caller)."""
    shape = (n,) if vector else (m, n)
    if out is None:
        res = np.empty(shape, dtype)
        return res.reshape(m, n), res
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if (not vector and out.dtype == dtype and out.shape == shape and out.flags.c_contiguous
            and out.flags.writeable and not np.may_share_memory(out, a)):
        return out, out  # the common case, checked in one go
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"out must be {np.dtype(dtype)}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")
    if np.may_share_memory(out, a):  # bounds only: cheap, and never misses an overlap
        raise ValueError("out must not overlap a")
    return out.reshape(m, n), out


def matmul(
    a: np.ndarray,
    weights: PackedWeights,
    *,
    activation: Optional[str] = None,
    bf16_compute: bool = False,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """``a @ W + bias`` with a fused ``activation`` (``None``, ``"relu"``, ``"relu6"``).

    ``a``: float32, M x K (or a single row of K), C-contiguous; M may be 0. Float kinds
    only (``"f32"``, ``"f16"``, ``"bf16"``, ``"codebook"``): W is converted (decoded) inside the kernel, products and
    sums are f32. ``bf16_compute=True`` (bf16 weights only) also rounds ``a`` to bf16 and
    multiplies in bf16 (AVX512-BF16 ``vdpbf16ps`` where the CPU has it): faster, less exact.
    """
    w = _check_packed(weights)
    if w.kind == "int8":
        raise ValueError("int8 weights need qmatmul or qmatmul_dynamic")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be None, 'relu' or 'relu6', got {activation!r}")
    if bf16_compute and w.kind != "bf16":
        raise ValueError("bf16_compute needs bf16 weights")
    k, n = w.shape
    a2, vector = _check_a(a, (np.float32,), k)
    c, res = _output(out, a2.shape[0], n, np.float32, a2, vector)
    lo, hi = _ACTIVATIONS[activation]
    _core.matmul(a2, w._core, c, lo, hi, bool(bf16_compute))
    return res


_F32_MAX = float(np.finfo(np.float32).max)
_F32_TINY = float(np.finfo(np.float32).smallest_subnormal)


def _check_scale(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    f = float(v)
    # Positive and finite once rounded to float32 (NaN fails both comparisons).
    if not (_F32_TINY <= f <= _F32_MAX):
        raise ValueError(f"{name} must be positive and finite in float32, got {v}")
    return f


def _check_zero_point(name: str, v: object, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if not lo <= int(v) <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
    return int(v)


def qmatmul(
    a: np.ndarray,
    weights: PackedWeights,
    *,
    a_scale: float,
    a_zero_point: int,
    output: str = "f32",
    out_scale: Optional[float] = None,
    out_zero_point: Optional[int] = None,
    activation: Optional[str] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """int8 GEMM: ``(a - a_zero_point) @ W_int8`` with int32 accumulation, then

    * ``output="int32"``: the accumulator (ONNX ``MatMulInteger``); no bias or activation;
    * ``output="f32"``: ``acc * a_scale * w_scale[n] + bias``, optional ``"relu"``;
    * ``output="u8"``: ``saturate(rint((acc + bias_q) * a_scale * w_scale[n] / out_scale)
      + out_zero_point)`` (ONNX ``QLinearMatMul``; ``bias_q = rint(bias / (a_scale *
      w_scale[n]))``), ``"relu"`` clamps at ``out_zero_point``.

    ``a`` is uint8 (zero point 0..255) or int8 (zero point -128..127), M x K, C-contiguous.
    Every ISA path gives bit-identical results.
    """
    w = _check_packed(weights)
    if w.kind != "int8":
        raise ValueError(f"qmatmul needs int8 weights, got {w.kind!r}; use matmul")
    if output not in ("int32", "f32", "u8"):
        raise ValueError(f"output must be 'int32', 'f32' or 'u8', got {output!r}")
    if activation not in (None, "relu"):
        raise ValueError(f"activation must be None or 'relu' for int8, got {activation!r}")
    k, n = w.shape
    a2, vector = _check_a(a, (np.uint8, np.int8), k)
    signed = a2.dtype == np.int8
    zp = _check_zero_point("a_zero_point", a_zero_point, -128 if signed else 0, 127 if signed else 255)
    sa = _check_scale("a_scale", a_scale)
    so, zo = 1.0, 0
    if output == "u8":
        if out_scale is None or out_zero_point is None:
            raise ValueError("output='u8' needs out_scale and out_zero_point")
        so = _check_scale("out_scale", out_scale)
        zo = _check_zero_point("out_zero_point", out_zero_point, 0, 255)
    elif out_scale is not None or out_zero_point is not None:
        raise ValueError(f"out_scale / out_zero_point apply to output='u8' only, not {output!r}")
    if output == "int32" and (w._has_bias or activation is not None):
        raise ValueError("output='int32' has no bias or activation: pack without bias, or use 'f32' / 'u8'")
    dtype = {"int32": np.int32, "f32": np.float32, "u8": np.uint8}[output]
    c, res = _output(out, a2.shape[0], n, dtype, a2, vector)
    _core.qmatmul(a2, w._core, c, sa, zp, output, so, zo, activation == "relu")
    return res


def qmatmul_dynamic(
    a: np.ndarray,
    weights: PackedWeights,
    *,
    activation: Optional[str] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """float32 ``a`` quantized per tensor on the fly (ONNX ``DynamicQuantizeLinear``: u8,
    range including 0, round half to even), multiplied by int8 weights, returned as float32
    (``+ bias``, optional ``"relu"``). Raises ``ValueError`` if ``a`` holds NaN or infinity.
    """
    w = _check_packed(weights)
    if w.kind != "int8":
        raise ValueError(f"qmatmul_dynamic needs int8 weights, got {w.kind!r}")
    if activation not in (None, "relu"):
        raise ValueError(f"activation must be None or 'relu', got {activation!r}")
    k, n = w.shape
    a2, vector = _check_a(a, (np.float32,), k)
    c, res = _output(out, a2.shape[0], n, np.float32, a2, vector)
    _core.qmatmul_dynamic(a2, w._core, c, activation == "relu")
    return res
