"""
frugalnn native core (C++): CPU dispatch, pool allocator, memory planner, kernels
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['AdamConfig', 'AddParams', 'BroadcastParams', 'ConcatParams', 'Conv2dGeometry', 'Conv2dParams', 'Conv2dTrainGeometry', 'ConvTranspose2dParams', 'DenseParams', 'DepthwiseConv2dParams', 'FNN_FORMAT_VERSION', 'FormatError', 'GlobalAvgPoolParams', 'LayoutParams', 'PackedWeights', 'Pool', 'Pool2dGeometry', 'Pool2dParams', 'Pool2dTrainGeometry', 'Program', 'ResizeParams', 'ScaleShiftParams', 'Session', 'SgdConfig', 'SoftmaxParams', 'SparseDenseParams', 'SparseMatrix', 'StepParams', 'UnaryParams', 'active_isa', 'adam_update', 'available_isas', 'avgpool2d_backward', 'avgpool2d_train_forward', 'bias_backward', 'channel_affine2', 'channel_dot', 'channel_moments', 'channel_scale_shift', 'clip_backward', 'conv2d_backward', 'conv2d_train_forward', 'dropout_mask', 'dynamic_quant_params', 'fake_quant_s8', 'fake_quant_u8', 'feature_kernels_enabled', 'fnn_load', 'fnn_reseal', 'fnn_save', 'get_num_threads', 'global_avgpool_backward', 'global_avgpool_forward', 'largest_max_batch', 'mask_scale', 'matmul', 'maxpool2d_backward', 'maxpool2d_train_forward', 'pack_codebook', 'pack_weights', 'plan_memory', 'qmatmul', 'qmatmul_dynamic', 'reduce_sum', 'runtime_info', 'session_arena_bytes', 'set_feature_kernels', 'set_isa', 'set_num_threads', 'sgd_update', 'sgemm', 'sigmoid_backward', 'softmax_backward', 'softmax_cross_entropy', 'softmax_forward', 'sparse_matrix', 'spmm', 'spmm_linear', 'step_kinds', 'xxh64']
class Pool:
    """
    Thread-safe pool of 64-byte aligned blocks (native).
    """
    def __init__(self, budget: typing.SupportsInt | typing.SupportsIndex | None = None) -> None:
        ...
    def empty(self, shape: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], dtype: numpy.dtype[typing.Any]) -> numpy.ndarray:
        """
        Uninitialised C-contiguous array in pool memory.
        """
    def reserve(self, nbytes: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Map memory now so later requests up to nbytes need no OS call.
        """
    def reset_peak(self) -> None:
        ...
    def stats(self) -> dict:
        ...
    def trim(self) -> int:
        """
        Unmap wholly free regions; returns the bytes released.
        """
    @property
    def budget(self) -> int | None:
        ...
    @budget.setter
    def budget(self, arg1: typing.SupportsInt | typing.SupportsIndex | None) -> None:
        ...
class PackedWeights:
    """
    Weights packed once into the GEMM micro-kernels' layout (native).
    """
    def bias(self) -> numpy.typing.NDArray[numpy.float32] | None:
        ...
    def scales(self) -> numpy.typing.NDArray[numpy.float32] | None:
        """
        Per-output-channel weight scales (int8 only).
        """
    def unpack(self) -> numpy.ndarray:
        """
        The stored K x N weights (f32 for the float kinds, after their rounding).
        """
    @property
    def codebook_bits(self) -> int | None:
        """
        Index bits of codebook weights, else None.
        """
    @property
    def has_bias(self) -> bool:
        ...
    @property
    def k(self) -> int:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def n(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def per_channel(self) -> bool:
        """
        Codebook weights with one table per output column.
        """
class SparseMatrix:
    """
    Sparse weights in the SpMM kernels' storage (native).
    """
    def values_f32(self) -> numpy.typing.NDArray[numpy.float32]:
        """
        The stored values as f32 (dequantized), one row of bk per block.
        """
    @property
    def bk(self) -> int:
        ...
    @property
    def cols(self) -> int:
        ...
    @property
    def data(self) -> numpy.ndarray:
        ...
    @property
    def index_dtype(self) -> str:
        ...
    @property
    def indices(self) -> numpy.ndarray:
        ...
    @property
    def indptr(self) -> numpy.ndarray:
        ...
    @property
    def nblocks(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def row_scales(self) -> numpy.ndarray | None:
        ...
    @property
    def rows(self) -> int:
        ...
    @property
    def values(self) -> str:
        ...
class Conv2dGeometry:
    """
    A convolution's per-sample geometry (NHWC).
    """
    def __init__(self, *, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, oh: typing.SupportsInt | typing.SupportsIndex, ow: typing.SupportsInt | typing.SupportsIndex, oc: typing.SupportsInt | typing.SupportsIndex, kh: typing.SupportsInt | typing.SupportsIndex = 1, kw: typing.SupportsInt | typing.SupportsIndex = 1, sh: typing.SupportsInt | typing.SupportsIndex = 1, sw: typing.SupportsInt | typing.SupportsIndex = 1, dh: typing.SupportsInt | typing.SupportsIndex = 1, dw: typing.SupportsInt | typing.SupportsIndex = 1, pad_top: typing.SupportsInt | typing.SupportsIndex = 0, pad_left: typing.SupportsInt | typing.SupportsIndex = 0, groups: typing.SupportsInt | typing.SupportsIndex = 1) -> None:
        ...
    def __repr__(self) -> str:
        ...
    @property
    def c(self) -> int:
        ...
    @property
    def dh(self) -> int:
        ...
    @property
    def dw(self) -> int:
        ...
    @property
    def groups(self) -> int:
        ...
    @property
    def h(self) -> int:
        ...
    @property
    def kh(self) -> int:
        ...
    @property
    def kw(self) -> int:
        ...
    @property
    def oc(self) -> int:
        ...
    @property
    def oh(self) -> int:
        ...
    @property
    def ow(self) -> int:
        ...
    @property
    def pad_left(self) -> int:
        ...
    @property
    def pad_top(self) -> int:
        ...
    @property
    def sh(self) -> int:
        ...
    @property
    def sw(self) -> int:
        ...
    @property
    def w(self) -> int:
        ...
class Pool2dGeometry:
    """
    A pooling window's per-sample geometry (NHWC).
    """
    def __init__(self, *, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, oh: typing.SupportsInt | typing.SupportsIndex, ow: typing.SupportsInt | typing.SupportsIndex, kh: typing.SupportsInt | typing.SupportsIndex, kw: typing.SupportsInt | typing.SupportsIndex, sh: typing.SupportsInt | typing.SupportsIndex, sw: typing.SupportsInt | typing.SupportsIndex, pad_top: typing.SupportsInt | typing.SupportsIndex = 0, pad_left: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def c(self) -> int:
        ...
    @property
    def h(self) -> int:
        ...
    @property
    def kh(self) -> int:
        ...
    @property
    def kw(self) -> int:
        ...
    @property
    def oh(self) -> int:
        ...
    @property
    def ow(self) -> int:
        ...
    @property
    def pad_left(self) -> int:
        ...
    @property
    def pad_top(self) -> int:
        ...
    @property
    def sh(self) -> int:
        ...
    @property
    def sw(self) -> int:
        ...
    @property
    def w(self) -> int:
        ...
class StepParams:
    """
    A step kind's parameters.
    """
class LayoutParams(StepParams):
    """
    to_nhwc / to_nchw: c channels of hw pixels.
    """
    def __init__(self, *, c: typing.SupportsInt | typing.SupportsIndex, hw: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class DenseParams(StepParams):
    """
    dense: packed weights; int8 ones read a u8 input with input_quant = (scale, zero point).
    """
    def __init__(self, *, weights: PackedWeights, input_quant: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, post: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] | None = None) -> None:
        ...
class SparseDenseParams(StepParams):
    """
    sparse_dense: y = x @ matrix^T (+ bias).
    """
    def __init__(self, *, matrix: SparseMatrix, bias: numpy.ndarray | None = None) -> None:
        ...
class Conv2dParams(StepParams):
    """
    conv2d: geometry, packed weights per group, the int8 input's (scale, zero point), and an optional max-pool fused over the output (stride == window, no padding).
    """
    def __init__(self, *, geometry: Conv2dGeometry, weights: collections.abc.Sequence[PackedWeights], input_quant: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, pool: Pool2dGeometry | None = None, post: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] | None = None) -> None:
        ...
class DepthwiseConv2dParams(StepParams):
    """
    depthwise_conv2d: f32 weights [kh][kw][c], or s8 weights_s8 with a weight_scale per channel reading a u8 input quantized as input_quant says.
    """
    def __init__(self, *, geometry: Conv2dGeometry, weights: numpy.ndarray | None = None, weights_s8: numpy.ndarray | None = None, weight_scale: numpy.ndarray | None = None, bias: numpy.ndarray | None = None, input_quant: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex] | None = None, post: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex]] | None = None) -> None:
        ...
class ConvTranspose2dParams(StepParams):
    """
    conv_transpose2d: the transposed conv's geometry (input h w c, output oh ow oc), f32 packed weights per group (c / groups x kh kw oc / groups, columns [ky][kx][o]) and an optional bias.
    """
    def __init__(self, *, geometry: Conv2dGeometry, weights: collections.abc.Sequence[PackedWeights], bias: numpy.ndarray | None = None) -> None:
        ...
class ResizeParams(StepParams):
    """
    resize: h x w -> oh x ow over c channels; per output row / column its source (nearest) or two sources and their weights (linear).
    """
    def __init__(self, *, h: typing.SupportsInt | typing.SupportsIndex, w: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, oh: typing.SupportsInt | typing.SupportsIndex, ow: typing.SupportsInt | typing.SupportsIndex, linear: bool, rows: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], cols: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], row_weights: numpy.ndarray | None = None, col_weights: numpy.ndarray | None = None) -> None:
        ...
class Pool2dParams(StepParams):
    """
    maxpool2d / avgpool2d: the window geometry.
    """
    def __init__(self, *, geometry: Pool2dGeometry) -> None:
        ...
class AddParams(StepParams):
    """
    add: the (scale, zero point) each u8 input is read with; empty: float inputs.
    """
    def __init__(self, *, inputs_u8: collections.abc.Sequence[tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]] = []) -> None:
        ...
class GlobalAvgPoolParams(StepParams):
    """
    global_avgpool: c channels of hw pixels; u8 inputs as for add.
    """
    def __init__(self, *, c: typing.SupportsInt | typing.SupportsIndex, hw: typing.SupportsInt | typing.SupportsIndex, inputs_u8: collections.abc.Sequence[tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]] = []) -> None:
        ...
class SoftmaxParams(StepParams):
    """
    softmax over rows of cols values.
    """
    def __init__(self, *, cols: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class ScaleShiftParams(StepParams):
    """
    scale_shift: y = x * scale + shift per channel (innermost axis).
    """
    def __init__(self, *, scale: numpy.ndarray, shift: numpy.ndarray) -> None:
        ...
class BroadcastParams(StepParams):
    """
    broadcast: y = op(a, b) over dims, each operand by its strides (0: broadcast) and sample stride; b may be a constant.
    """
    def __init__(self, *, op: typing.SupportsInt | typing.SupportsIndex, dims: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], a_strides: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], b_strides: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], a_sample: typing.SupportsInt | typing.SupportsIndex, b_sample: typing.SupportsInt | typing.SupportsIndex, a_offset: typing.SupportsInt | typing.SupportsIndex = 0, swap: bool = False, constant: numpy.ndarray | None = None) -> None:
        ...
class UnaryParams(StepParams):
    """
    unary: y = f(x) for function code op, with constants alpha and beta.
    """
    def __init__(self, *, op: typing.SupportsInt | typing.SupportsIndex, alpha: typing.SupportsFloat | typing.SupportsIndex = 0.0, beta: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        ...
class ConcatParams(StepParams):
    """
    concat: each input's run of values between two runs of the others.
    """
    def __init__(self, *, parts: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
class Program:
    """
    A compiled graph (native).
    """
    def __init__(self) -> None:
        ...
    def add_input_tensor(self, sample_elems: typing.SupportsInt | typing.SupportsIndex, dtype: str, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0, zero_point: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
        """
        An external tensor for a program input of dtype 'float32', 'uint8' or 'int8' (these two with real = scale * (q - zero_point); checked by set_io).
        """
    def add_step(self, kind: str, name: str, inputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], output: typing.SupportsInt | typing.SupportsIndex, params: StepParams = None, *, lo: typing.SupportsFloat | typing.SupportsIndex = ..., hi: typing.SupportsFloat | typing.SupportsIndex = ...) -> None:
        """
        Appends a step: its kind's parameters (a *Params object, None for kinds without) and the clamp of its output. Checked when set_io finishes the program.
        """
    def add_tensor(self, sample_elems: typing.SupportsInt | typing.SupportsIndex, external: bool, alias_of: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def set_io(self, inputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], outputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    def step_info(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> tuple[str, str, str, list[int], int]:
        ...
    def tensor_info(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> tuple[int, str, float, int]:
        """
        (elements per sample, dtype, scale, zero point) of tensor t
        """
    @property
    def num_steps(self) -> int:
        ...
    @property
    def weight_bytes(self) -> int:
        ...
class Session:
    """
    Runs a Program on `concurrency` planned arenas; run() is safe from any number of threads (native).
    """
    def __init__(self, program: Program, max_batch: typing.SupportsInt | typing.SupportsIndex, threads: typing.SupportsInt | typing.SupportsIndex, pool: Pool, concurrency: typing.SupportsInt | typing.SupportsIndex = 1, budget: typing.SupportsInt | typing.SupportsIndex = 0, tiles: str = 'auto') -> None:
        ...
    def profile_run(self, inputs: list, outputs: list, batch: typing.SupportsInt | typing.SupportsIndex, check_finite: bool = False) -> list[float]:
        """
        run(), returning each step's wall time in seconds.
        """
    def run(self, inputs: list, outputs: list, batch: typing.SupportsInt | typing.SupportsIndex, check_finite: bool = False) -> None:
        """
        Runs one batch into the caller's output arrays; allocates nothing. Waits (without the GIL) while every arena is in use.
        """
    @property
    def arena_bytes(self) -> int:
        """
        Bytes of one arena.
        """
    @property
    def concurrency(self) -> int:
        ...
    @property
    def max_batch(self) -> int:
        ...
    @property
    def plan(self) -> dict:
        ...
    @property
    def runs(self) -> int:
        ...
    @property
    def threads(self) -> int:
        ...
    @property
    def tiles(self) -> list[str]:
        """
        Per step: the tiles its scratch is planned for, 'fast' or 'compact'.
        """
class FormatError(ValueError):
    """
    A file is not a valid .fnn file (truncated, corrupted, another format version): the message says what is wrong and where. A ValueError.
    """
class Conv2dTrainGeometry:
    """
    A convolution's constants for conv2d_train_forward / conv2d_backward.
    """
    def __init__(self, *, stride: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], dilation: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], pads: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], groups: typing.SupportsInt | typing.SupportsIndex, lo: typing.SupportsFloat | typing.SupportsIndex = ..., hi: typing.SupportsFloat | typing.SupportsIndex = ...) -> None:
        ...
    @property
    def dilation(self) -> tuple[int, int]:
        ...
    @property
    def groups(self) -> int:
        ...
    @property
    def hi(self) -> float:
        ...
    @property
    def lo(self) -> float:
        ...
    @property
    def pads(self) -> tuple[int, int, int, int]:
        ...
    @property
    def stride(self) -> tuple[int, int]:
        ...
class Pool2dTrainGeometry:
    """
    A pool's window for the pool training kernels.
    """
    def __init__(self, *, kernel: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], stride: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], padding: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], lo: typing.SupportsFloat | typing.SupportsIndex = ..., hi: typing.SupportsFloat | typing.SupportsIndex = ...) -> None:
        """
        lo, hi: maxpool2d_backward passes a gradient only where lo < x < hi (the backward of a clamp before the pool, fused).
        """
    @property
    def hi(self) -> float:
        ...
    @property
    def kernel(self) -> tuple[int, int]:
        ...
    @property
    def lo(self) -> float:
        ...
    @property
    def padding(self) -> tuple[int, int]:
        ...
    @property
    def stride(self) -> tuple[int, int]:
        ...
class SgdConfig:
    """
    torch.optim.SGD's hyper-parameters (lr may change per step).
    """
    def __init__(self, *, lr: typing.SupportsFloat | typing.SupportsIndex, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.0, nesterov: bool = False, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> None:
        ...
    @property
    def lr(self) -> float:
        ...
    @lr.setter
    def lr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def momentum(self) -> float:
        ...
    @property
    def nesterov(self) -> bool:
        ...
    @property
    def weight_decay(self) -> float:
        ...
class AdamConfig:
    """
    torch.optim.Adam / AdamW's hyper-parameters (lr and the 1-based step change).
    """
    def __init__(self, *, lr: typing.SupportsFloat | typing.SupportsIndex, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, weight_decay: typing.SupportsFloat | typing.SupportsIndex = 0.0, decoupled: bool = False, step: typing.SupportsInt | typing.SupportsIndex = 1) -> None:
        ...
    @property
    def beta1(self) -> float:
        ...
    @property
    def beta2(self) -> float:
        ...
    @property
    def decoupled(self) -> bool:
        ...
    @property
    def eps(self) -> float:
        ...
    @property
    def lr(self) -> float:
        ...
    @lr.setter
    def lr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def step(self) -> int:
        ...
    @step.setter
    def step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def weight_decay(self) -> float:
        ...
def _isa_env() -> tuple[str, bool, str]:
    """
    (value, invalid, message) of FRUGALNN_ISA as read at load time.
    """
def _live_os_bytes() -> int:
    """
    OS bytes held by all pools (tests).
    """
def _live_os_regions() -> int:
    """
    OS regions held by all pools (tests).
    """
def _pool_stress(pool: Pool, threads: typing.SupportsInt | typing.SupportsIndex, iterations: typing.SupportsInt | typing.SupportsIndex, max_bytes: typing.SupportsInt | typing.SupportsIndex, max_live: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> dict:
    """
    Native threads hammering one pool without the GIL (tests).
    """
def _scratch_pool() -> Pool:
    """
    The pool behind kernels' per-call scratch (re-strided A, quantized A, per-call scales).
    """
def _set_thread_isa(level: str | None, feature_kernels: bool) -> None:
    """
    Pins this thread's dispatch (None: unpins it).
    """
def _thread_isa() -> typing.Any:
    """
    (level, feature kernels) this thread is pinned to, or None.
    """
def _ukernel_adam(name: str, param: numpy.ndarray, grad: numpy.ndarray, m: numpy.ndarray, v: numpy.ndarray, **kwargs) -> None:
    """
    One Adam / AdamW step of the named kernel (AdamStepArgs as keywords).
    """
def _ukernel_codebook_decode(name: str, rows: typing.SupportsInt | typing.SupportsIndex, bits: typing.SupportsInt | typing.SupportsIndex, per_channel: bool, idx: numpy.ndarray, tables: numpy.ndarray, out: numpy.ndarray) -> None:
    """
    Decode codebook index rows to f32 with the named kernel.
    """
def _ukernel_dwconv_f32(name: str, n: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, x: numpy.ndarray, x_offset: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, w_offset: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex, x_row: typing.SupportsInt | typing.SupportsIndex, x_pix: typing.SupportsInt | typing.SupportsIndex, w_row: typing.SupportsInt | typing.SupportsIndex, w_col: typing.SupportsInt | typing.SupportsIndex, ix0: typing.SupportsInt | typing.SupportsIndex, x_cols: typing.SupportsInt | typing.SupportsIndex, sw: typing.SupportsInt | typing.SupportsIndex, dw: typing.SupportsInt | typing.SupportsIndex, m: typing.SupportsInt | typing.SupportsIndex, x_next: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex, y: numpy.ndarray, y_offset: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_dwconv_qu8(name: str, n: typing.SupportsInt | typing.SupportsIndex, c: typing.SupportsInt | typing.SupportsIndex, x: numpy.ndarray, x_offset: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, w_offset: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex, x_row: typing.SupportsInt | typing.SupportsIndex, x_pix: typing.SupportsInt | typing.SupportsIndex, w_row: typing.SupportsInt | typing.SupportsIndex, w_col: typing.SupportsInt | typing.SupportsIndex, ix0: typing.SupportsInt | typing.SupportsIndex, x_cols: typing.SupportsInt | typing.SupportsIndex, sw: typing.SupportsInt | typing.SupportsIndex, dw: typing.SupportsInt | typing.SupportsIndex, m: typing.SupportsInt | typing.SupportsIndex, x_next: typing.SupportsInt | typing.SupportsIndex, a_zero_point: typing.SupportsInt | typing.SupportsIndex, scale: numpy.ndarray, bias_i32: typing.Any, bias_f32: typing.Any, out_u8: bool, out_zero_point: typing.SupportsInt | typing.SupportsIndex, qmin: typing.SupportsInt | typing.SupportsIndex, qmax: typing.SupportsInt | typing.SupportsIndex, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex, y: numpy.ndarray, y_offset: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_f32_minmax(name: str, x: numpy.ndarray, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex) -> tuple:
    ...
def _ukernel_f32_qu8(name: str, x: numpy.ndarray, scale: typing.SupportsFloat | typing.SupportsIndex, zero_point: typing.SupportsInt | typing.SupportsIndex, y: numpy.ndarray) -> None:
    ...
def _ukernel_f32_to_bf16(name: str, x: numpy.ndarray, y: numpy.ndarray) -> None:
    ...
def _ukernel_gemm_bf16(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, flags: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_gemm_f32(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, flags: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_gemm_f32_bf16w(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, flags: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_gemm_f32_codebook4w(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, table: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, flags: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_gemm_f32_f16w(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, flags: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_gemm_qu8_qs8w(name: str, mr: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, a_stride: typing.SupportsInt | typing.SupportsIndex, w: numpy.ndarray, c: numpy.ndarray, c_offset: typing.SupportsInt | typing.SupportsIndex, c_stride: typing.SupportsInt | typing.SupportsIndex, out_kind: typing.SupportsInt | typing.SupportsIndex, a_zero_point: typing.SupportsInt | typing.SupportsIndex, colsum: numpy.ndarray, bias_i32: typing.Any, scale: typing.Any, bias_f32: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, out_zero_point: typing.SupportsInt | typing.SupportsIndex, qmin: typing.SupportsInt | typing.SupportsIndex, qmax: typing.SupportsInt | typing.SupportsIndex) -> None:
    ...
def _ukernel_rsum(name: str, x: numpy.ndarray) -> typing.Any:
    ...
def _ukernel_selected(op: str, level: str, feature_kernels: bool) -> str:
    """
    The kernel the family configs pick for `op` at a dispatch.
    """
def _ukernel_softmax_f32(name: str, rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex, x: numpy.ndarray, y: numpy.ndarray) -> None:
    """
    Row softmax of `rows` x `cols` values with the named kernel (y may be x).
    """
def _ukernel_spmm(name: str, vector: bool, value_kind: typing.SupportsInt | typing.SupportsIndex, index_kind: typing.SupportsInt | typing.SupportsIndex, block_kind: typing.SupportsInt | typing.SupportsIndex, rows: typing.SupportsInt | typing.SupportsIndex, nc: typing.SupportsInt | typing.SupportsIndex, row_ptr: numpy.ndarray, idx: numpy.ndarray, val: numpy.ndarray, row_scale: typing.Any, p: numpy.ndarray, ldp: typing.SupportsInt | typing.SupportsIndex, y: numpy.ndarray, y_offset: typing.SupportsInt | typing.SupportsIndex, ldy: typing.SupportsInt | typing.SupportsIndex, bias: typing.Any, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex) -> None:
    ...
def _ukernel_unary_f32(name: str, op: typing.SupportsInt | typing.SupportsIndex, n: typing.SupportsInt | typing.SupportsIndex, x: numpy.ndarray, y: numpy.ndarray, alpha: typing.SupportsFloat | typing.SupportsIndex, beta: typing.SupportsFloat | typing.SupportsIndex, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex) -> None:
    """
    y[:n] = clamp(f(x[:n]), lo, hi) with the named unary kernel (f: a UnaryOp code).
    """
def _ukernel_vadd_qu8(name: str, n: typing.SupportsInt | typing.SupportsIndex, a: numpy.ndarray, b: numpy.ndarray, y: numpy.ndarray, a_zero_point: typing.SupportsInt | typing.SupportsIndex, b_zero_point: typing.SupportsInt | typing.SupportsIndex, a_mul: typing.SupportsFloat | typing.SupportsIndex, b_mul: typing.SupportsFloat | typing.SupportsIndex, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex, out_zero_point: typing.SupportsInt | typing.SupportsIndex, out_u8: bool) -> None:
    """
    y[:n] = the named u8 add kernel of a and b (QVaddParams as arguments; y uint8 or float32).
    """
def _ukernels() -> list:
    """
    Every micro-kernel of this build (the families' lists): family, op, name, isa, rung, tile, and whether this CPU can run it.
    """
def active_isa() -> str:
    """
    The ISA level kernels called from this thread dispatch to now.
    """
def adam_update(param: numpy.ndarray, grad: numpy.ndarray, m: numpy.ndarray, v: numpy.ndarray, mask: numpy.ndarray | None, config: AdamConfig) -> None:
    """
    torch.optim.Adam (decoupled=False) / AdamW (decoupled=True) step in place; step is 1-based.
    """
def available_isas() -> list:
    """
    ISA levels this build and CPU can run, lowest first.
    """
def avgpool2d_backward(dy: numpy.ndarray, dx: numpy.ndarray, geometry: Pool2dTrainGeometry) -> None:
    """
    dx overwritten (count_include_pad=False).
    """
def avgpool2d_train_forward(x: numpy.ndarray, y: numpy.ndarray, geometry: Pool2dTrainGeometry) -> None:
    """
    Mean over the real inputs of each window.
    """
def bias_backward(dy: numpy.ndarray, db: numpy.ndarray) -> None:
    """
    db (C,) overwritten with the sum of dy (..., C) over every axis but the last (in double).
    """
def channel_affine2(a: numpy.ndarray, b: numpy.ndarray, k: numpy.ndarray, y: numpy.ndarray) -> None:
    """
    y = a * k[0] + b * k[1] + k[2] along the last axis (k: 3 x C; y may be a or b).
    """
def channel_dot(a: numpy.ndarray, b: numpy.ndarray, sum_a: numpy.ndarray, sum_ab: numpy.ndarray) -> None:
    """
    Per channel: sum(a) and sum(a * b) over every other axis (in double).
    """
def channel_moments(x: numpy.ndarray, mean: numpy.ndarray, var: numpy.ndarray) -> None:
    """
    Per-channel mean and biased variance of x (..., C) over every other axis (in double).
    """
def channel_scale_shift(x: numpy.ndarray, scale: numpy.ndarray, shift: numpy.ndarray, y: numpy.ndarray) -> None:
    """
    y = x * scale + shift along the last axis (C values each; y may be x).
    """
def clip_backward(y: numpy.ndarray, dy: numpy.ndarray, dx: numpy.ndarray, lo: typing.SupportsFloat | typing.SupportsIndex, hi: typing.SupportsFloat | typing.SupportsIndex) -> None:
    """
    dx = dy where lo < y < hi, else 0 (y: the clip's output; dx may be dy).
    """
def conv2d_backward(x: numpy.ndarray, w: numpy.ndarray, dy: numpy.ndarray, dx: numpy.ndarray | None, dw: numpy.ndarray, geometry: Conv2dTrainGeometry) -> None:
    """
    Gradients of conv2d_train_forward from dy (before the activation): dx (or None: skipped) and dw overwritten (the bias gradient: bias_backward).
    """
def conv2d_train_forward(x: numpy.ndarray, w: numpy.ndarray, bias: numpy.ndarray | None, y: numpy.ndarray, geometry: Conv2dTrainGeometry) -> None:
    """
    y (N, OH, OW, O) = conv(x (N, H, W, C), w (O, kh, kw, C // groups)) + bias, clamped to [lo, hi]. pads: (top, left, bottom, right).
    """
def dropout_mask(keep: numpy.ndarray, rate: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    keep (uint8, any shape) = 1 with probability 1 - rate, else 0: a counter-based hash of (seed, index), the same for a seed whatever the threads.
    """
def dynamic_quant_params(a: numpy.ndarray) -> tuple[float, int]:
    """
    (scale, zero_point) of ONNX DynamicQuantizeLinear for a 2-D float32 array.
    """
def fake_quant_s8(w: numpy.ndarray, wq: numpy.ndarray, per_channel: bool = True) -> None:
    """
    wq = w quantized to s8 symmetric and back: scale = max|w| / 127 per output channel (axis 0; per_channel=False: over all of w; 1 where all zero), wq = clamp(round(w / scale), -127, 127) * scale (round half to even). wq may be w.
    """
def fake_quant_u8(x: numpy.ndarray, y: numpy.ndarray, keep: numpy.ndarray | None, scale: typing.SupportsFloat | typing.SupportsIndex, zero_point: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    y = (clamp(round(x / scale) + zero_point, 0, 255) - zero_point) * scale (round half to even: u8 quantize then dequantize); keep (uint8, optional) = 1 where round(x / scale) + zero_point was inside [0, 255] (the straight-through estimator's mask), else 0. Any shape; y may be x.
    """
def feature_kernels_enabled() -> bool:
    ...
def fnn_load(path: str, map: bool, pool: Pool) -> tuple[Program, dict]:
    """
    (program, metadata dict) of a .fnn file: mapped (map=True) or read into the pool.
    """
def fnn_reseal(data: bytes) -> bytes:
    """
    For fuzz tests: the bytes with every checksum recomputed, so mutations reach the checks behind them.
    """
def fnn_save(program: Program, path: str, inputs: collections.abc.Sequence[tuple[str, collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], str]], outputs: collections.abc.Sequence[tuple[str, collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], str]], quantization: collections.abc.Sequence[tuple[str, typing.SupportsFloat | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex]], producer: str, plan_batch: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Write a compiled program as a .fnn file (atomically: a temporary, then a rename).
    """
def get_num_threads() -> int:
    ...
def global_avgpool_backward(dy: numpy.ndarray, dx: numpy.ndarray) -> None:
    """
    dx (N, H, W, C) = dy (N, C) / (H * W) at every pixel.
    """
def global_avgpool_forward(x: numpy.ndarray, y: numpy.ndarray) -> None:
    """
    y (N, C) = the mean of x (N, H, W, C) over H and W.
    """
def largest_max_batch(program: Program, threads: typing.SupportsInt | typing.SupportsIndex, concurrency: typing.SupportsInt | typing.SupportsIndex, budget: typing.SupportsInt | typing.SupportsIndex, limit: typing.SupportsInt | typing.SupportsIndex, tiles: str = 'auto') -> int:
    """
    The largest max_batch <= limit whose arenas fit in budget bytes (0: none fits).
    """
def mask_scale(x: numpy.ndarray, keep: numpy.ndarray, scale: typing.SupportsFloat | typing.SupportsIndex, y: numpy.ndarray) -> None:
    """
    y = x * scale where keep, else 0 (Dropout's forward and backward; y may be x).
    """
def matmul(a: numpy.ndarray, w: PackedWeights, out: numpy.ndarray, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex, bf16_compute: bool) -> None:
    ...
def maxpool2d_backward(x: numpy.ndarray, y: numpy.ndarray, dy: numpy.ndarray, dx: numpy.ndarray, geometry: Pool2dTrainGeometry) -> None:
    """
    dx overwritten: each window's dy goes to the first position (row-major) where x equals y.
    """
def maxpool2d_train_forward(x: numpy.ndarray, y: numpy.ndarray, geometry: Pool2dTrainGeometry) -> None:
    """
    Max over each window.
    """
def pack_codebook(indices: numpy.ndarray, bits: typing.SupportsInt | typing.SupportsIndex, centroids: numpy.ndarray, per_channel: bool, bias: numpy.ndarray | None, pool: Pool) -> PackedWeights:
    """
    Pack K x N codebook indices (checked by frugalnn.ops.pack_codebook).
    """
def pack_weights(w: numpy.ndarray, kind: str, bias: numpy.ndarray | None, scales: numpy.ndarray | None, pool: Pool) -> PackedWeights:
    """
    Pack K x N weights (checked by frugalnn.ops.pack_weights).
    """
def plan_memory(sizes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], first: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], last: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], alignment: typing.SupportsInt | typing.SupportsIndex = 64) -> dict:
    """
    Arena offsets for tensors alive from first[i] to last[i] (steps, inclusive).
    """
def qmatmul(a: numpy.ndarray, w: PackedWeights, out: numpy.ndarray, a_scale: typing.SupportsFloat | typing.SupportsIndex, a_zero_point: typing.SupportsInt | typing.SupportsIndex, output: str, out_scale: typing.SupportsFloat | typing.SupportsIndex, out_zero_point: typing.SupportsInt | typing.SupportsIndex, relu: bool) -> None:
    ...
def qmatmul_dynamic(a: numpy.ndarray, w: PackedWeights, out: numpy.ndarray, relu: bool) -> None:
    ...
def reduce_sum(x: numpy.ndarray) -> typing.Any:
    """
    Sum of all elements: exact for uint8, f32 accumulation for float32.
    """
def runtime_info() -> dict:
    """
    CPU features, compiled / supported / available ISA levels, the active level and the ISA of the kernel each family runs.
    """
def session_arena_bytes(program: Program, max_batch: typing.SupportsInt | typing.SupportsIndex, threads: typing.SupportsInt | typing.SupportsIndex, concurrency: typing.SupportsInt | typing.SupportsIndex, budget: typing.SupportsInt | typing.SupportsIndex, tiles: str) -> int:
    """
    Bytes of the `concurrency` arenas a session with these settings plans (0: overflow).
    """
def set_feature_kernels(enabled: bool) -> None:
    """
    Use (default) or skip kernels gated by a feature off the ladder (AVX-VNNI, AVX512-BF16).
    """
def set_isa(level: str) -> None:
    """
    The process default: dispatch every kernel family to `level` (must be available) on threads without a pin of their own.
    """
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Threads of the library's pool (the caller counts as one).
    """
def sgd_update(param: numpy.ndarray, grad: numpy.ndarray, velocity: numpy.ndarray | None, mask: numpy.ndarray | None, config: SgdConfig) -> None:
    """
    torch.optim.SGD's step in place (velocity: None when momentum == 0).
    """
def sgemm(a: numpy.ndarray, b: numpy.ndarray, out: numpy.ndarray, *, trans: str = 'nn', accumulate: bool = False, bias: numpy.ndarray | None = None) -> None:
    """
    out (M, N) = op(a) @ op(b) [+ bias], or out += op(a) @ op(b) with accumulate (float32); trans: 'nn', 'tn' (a transposed), 'nt' (b transposed) or 'tt'.
    """
def sigmoid_backward(y: numpy.ndarray, dy: numpy.ndarray, dx: numpy.ndarray) -> None:
    """
    dx = dy * (1 - y) * y (y: the sigmoid's output; dx may be dy).
    """
def softmax_backward(y: numpy.ndarray, dy: numpy.ndarray, dx: numpy.ndarray) -> None:
    """
    dx = y * (dy - sum(dy * y)) per row (y: the softmax's output; dx may be dy).
    """
def softmax_cross_entropy(z: numpy.ndarray, labels: numpy.ndarray, dz: numpy.ndarray, scale: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> float:
    """
    Mean softmax cross-entropy of logits z (N, K) and int64 labels (N,); dz = scale * (softmax(z) - onehot) / N. Raises ValueError for a label outside [0, K).
    """
def softmax_forward(x: numpy.ndarray, y: numpy.ndarray) -> None:
    """
    y = softmax(x) along axis 1 (y may be x).
    """
def sparse_matrix(rows: typing.SupportsInt | typing.SupportsIndex, cols: typing.SupportsInt | typing.SupportsIndex, bk: typing.SupportsInt | typing.SupportsIndex, values: str, indptr: numpy.ndarray, indices: numpy.ndarray, data: numpy.ndarray, pool: Pool) -> SparseMatrix:
    """
    Validate CSR / BSR arrays and build a SparseMatrix (checked by frugalnn.sparse).
    """
def spmm(w: SparseMatrix, x: numpy.ndarray, out: numpy.ndarray, bias: numpy.ndarray | None, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex) -> None:
    ...
def spmm_linear(w: SparseMatrix, x: numpy.ndarray, out: numpy.ndarray, bias: numpy.ndarray | None, min: typing.SupportsFloat | typing.SupportsIndex, max: typing.SupportsFloat | typing.SupportsIndex) -> None:
    ...
def step_kinds() -> list[str]:
    """
    The names of the runtime's step kinds (runtime/step_kinds.inc).
    """
def xxh64(data: bytes, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> int:
    """
    XXH64 of bytes: the .fnn checksum.
    """
FNN_FORMAT_VERSION: tuple = (2, 0)
__version__: str = '0.1.0'
