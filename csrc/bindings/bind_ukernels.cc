// The micro-kernel tester's hook (tests/kernels/test_ukernels.py): the registry as a list,
// and a call per op that runs ONE named micro-kernel on caller buffers. Buffers are flat
// arrays with explicit offsets and strides, so a test can surround a tile with canaries; the
// checks here only keep a call inside its buffers and off ISAs this CPU lacks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "cpu/isa.h"
#include "kernels/common/ukernel_registry.h"
#include "kernels/conv/dwconv_ukernels.h"
#include "kernels/eltwise/qu8_vadd.h"
#include "kernels/eltwise/softmax_f32.h"
#include "kernels/eltwise/unary_f32.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/quant/quant.h"
#include "kernels/optim/adam.h"
#include "kernels/gemm/codebook_decode.h"
#include "kernels/reduce/rsum.h"
#include "kernels/sparse/spmm_ukernels.h"

namespace py = pybind11;

namespace fnn {
namespace {

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// A flat array of T with at least `need` elements.
template <typename T>
T* flat(const py::array& a, size_t need, const char* what) {
  if (!a.dtype().equal(py::dtype::of<T>())) {
    throw py::type_error(std::string(what) + " has dtype " + dtype_name(a) + ", expected " +
                         py::str(py::dtype::of<T>()).cast<std::string>());
  }
  if (a.ndim() != 1 || !(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(what) + " must be a contiguous 1-D array");
  }
  if (static_cast<size_t>(a.size()) < need) {
    throw py::value_error(std::string(what) + " has " + std::to_string(a.size()) +
                          " elements, the call reads or writes " + std::to_string(need));
  }
  return static_cast<T*>(const_cast<void*>(a.data()));
}

template <typename T>
T* flat_out(py::array& a, size_t need, const char* what) {
  if (!a.writeable()) throw py::value_error(std::string(what) + " is read-only");
  return flat<T>(a, need, what);
}

// None, or a flat array of T with at least `need` elements.
template <typename T>
const T* optional(const py::object& o, size_t need, const char* what) {
  if (o.is_none()) return nullptr;
  return flat<T>(o.cast<py::array>(), need, what);
}

// Elements a (rows x cols, row stride `stride`) tile spans.
size_t span(size_t rows, size_t cols, size_t stride) {
  return rows == 0 ? 0 : (rows - 1) * stride + cols;
}

// The named kernel, which must have signature `op` and run on this CPU.
const UkernelInfo& kernel(const std::string& name, UkernelOp op) {
  const UkernelInfo* u = find_ukernel(name.c_str());
  if (u == nullptr) throw py::value_error("no micro-kernel named '" + name + "' in this build");
  if (u->op != op) {
    throw py::value_error(name + " is a " + ukernel_op_name(u->op) + " kernel, not " +
                          ukernel_op_name(op));
  }
  if (!ukernel_serves(*u, best_isa(), /*features=*/true)) {
    throw py::value_error(name + " needs " + u->isa + ", which this CPU does not have");
  }
  return *u;
}

void check_tile(const UkernelInfo& u, size_t mr, size_t nc, size_t k) {
  if (mr < 1 || mr > u.mr || nc < 1 || nc > u.nr || k < 1) {
    throw py::value_error(std::string(u.name) + " takes 1 <= mr <= " + std::to_string(u.mr) +
                          ", 1 <= nc <= " + std::to_string(u.nr) + ", k >= 1");
  }
}

size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// ---- GEMM -------------------------------------------------------------------------------

template <UkernelOp Op, typename A, typename W>
void gemm_float(const std::string& name, size_t mr, size_t nc, size_t k, const py::array& a,
                size_t a_stride, const py::array& w, py::array& c, size_t c_offset,
                size_t c_stride, const py::object& bias, float min, float max, uint32_t flags) {
  const UkernelInfo& u = kernel(name, Op);
  check_tile(u, mr, nc, k);
  // bf16 A rows are whole pairs (the caller zero-pads); W is the whole tile's nr / 16 panels
  // one after the other, K padded.
  const size_t a_cols = u.kr > 1 && sizeof(A) == 2 ? round_up(k, u.kr) : k;
  const A* pa = flat<A>(a, span(mr, a_cols, a_stride), "a");
  const W* pw = flat<W>(w, round_up(k, u.kr) * u.nr, "w");
  float* pc = flat_out<float>(c, c_offset + span(mr, nc, c_stride), "c") + c_offset;
  GemmF32Params p{optional<float>(bias, u.nr, "bias"), min, max, flags, round_up(k, u.kr) * kGemmNR};
  ukernel_fn<Op>(u)(mr, nc, k, pa, a_stride, pw, pc, c_stride, &p);
}

template <UkernelOp Op, typename A, typename W>
void def_gemm_float(py::module_& m, const char* hook) {
  m.def(hook, &gemm_float<Op, A, W>, py::arg("name"), py::arg("mr"), py::arg("nc"), py::arg("k"),
        py::arg("a"), py::arg("a_stride"), py::arg("w"), py::arg("c"), py::arg("c_offset"),
        py::arg("c_stride"), py::arg("bias"), py::arg("min"), py::arg("max"), py::arg("flags"));
}

void gemm_qu8(const std::string& name, size_t mr, size_t nc, size_t k, const py::array& a,
              size_t a_stride, const py::array& w, py::array& c, size_t c_offset,
              size_t c_stride, uint32_t out_kind, int32_t a_zero_point, const py::array& colsum,
              const py::object& bias_i32, const py::object& scale, const py::object& bias_f32,
              float min, float max, int32_t out_zero_point, int32_t qmin, int32_t qmax) {
  const UkernelInfo& u = kernel(name, UkernelOp::kGemmQu8Qs8w);
  check_tile(u, mr, nc, k);
  if (out_kind > kQGemmOutU8) throw py::value_error("out_kind must be 0, 1 or 2");
  QGemmParams p{};
  p.out_kind = out_kind;
  p.a_zero_point = a_zero_point;
  p.colsum = flat<int32_t>(colsum, u.nr, "colsum");
  p.bias_i32 = optional<int32_t>(bias_i32, u.nr, "bias_i32");
  p.scale = optional<float>(scale, u.nr, "scale");
  if (out_kind != kQGemmOutInt32 && p.scale == nullptr) throw py::value_error("scale is needed");
  p.bias_f32 = optional<float>(bias_f32, u.nr, "bias_f32");
  p.min = min;
  p.max = max;
  p.out_zero_point = out_zero_point;
  p.qmin = qmin;
  p.qmax = qmax;
  const uint8_t* pa = flat<uint8_t>(a, span(mr, k, a_stride), "a");
  const int8_t* pw = flat<int8_t>(w, round_up(k, u.kr) * u.nr, "w");
  const size_t need = c_offset + span(mr, nc, c_stride);
  void* pc = out_kind == kQGemmOutU8 ? static_cast<void*>(flat_out<uint8_t>(c, need, "c") + c_offset)
             : out_kind == kQGemmOutF32 ? static_cast<void*>(flat_out<float>(c, need, "c") + c_offset)
                                        : static_cast<void*>(flat_out<int32_t>(c, need, "c") + c_offset);
  ukernel_fn<UkernelOp::kGemmQu8Qs8w>(u)(mr, nc, k, pa, a_stride, pw, pc, c_stride, &p);
}

void f32_to_bf16(const std::string& name, const py::array& x, py::array& y) {
  const UkernelInfo& u = kernel(name, UkernelOp::kF32ToBf16);
  const size_t n = static_cast<size_t>(x.size());
  ukernel_fn<UkernelOp::kF32ToBf16>(u)(flat<float>(x, n, "x"), n, flat_out<uint16_t>(y, n, "y"));
}

// ---- depthwise --------------------------------------------------------------------------

// Elements the rows x x_cols input columns of a run span from x (0 without any).
size_t input_span(size_t c, size_t rows, size_t x_cols, size_t row, size_t pix) {
  if (rows == 0 || x_cols == 0) return 0;
  return (rows - 1) * row + (x_cols - 1) * pix + c;
}

// A depthwise kernel's taps: a run over m output rows (x_next apart) of rows input rows of
// x_cols columns (c channels each) and the rows x cols weights, over flat x and w.
template <typename Taps, typename X, typename W>
Taps window_taps(size_t c, const py::array& x, size_t x_offset, const py::array& w, size_t w_offset, size_t rows,
                 size_t cols, size_t x_row, size_t x_pix, size_t w_row, size_t w_col, std::ptrdiff_t ix0,
                 size_t x_cols, size_t sw, size_t dw, size_t m, size_t x_next) {
  if (c < 1) throw py::value_error("c must be >= 1");
  if (sw < 1 || dw < 1 || m < 1) throw py::value_error("sw, dw and m must be >= 1");
  Taps t;
  const size_t span = input_span(c, rows, x_cols, x_row, x_pix);
  t.x = flat<X>(x, x_offset + (span == 0 ? 0 : (m - 1) * x_next + span), "x") + x_offset;
  const size_t w_span = rows == 0 || cols == 0 ? 0 : (rows - 1) * w_row + (cols - 1) * w_col + c;
  t.w = flat<W>(w, w_offset + w_span, "w") + w_offset;
  t.rows = rows;
  t.cols = cols;
  t.x_row = x_row;
  t.x_pix = x_pix;
  t.w_row = w_row;
  t.w_col = w_col;
  t.ix0 = ix0;
  t.x_cols = x_cols;
  t.sw = sw;
  t.dw = dw;
  t.m = m;
  t.x_next = x_next;
  return t;
}

void dwconv_f32(const std::string& name, size_t n, size_t c, const py::array& x, size_t x_offset,
                const py::array& w, size_t w_offset, size_t rows, size_t cols, size_t x_row, size_t x_pix,
                size_t w_row, size_t w_col, std::ptrdiff_t ix0, size_t x_cols, size_t sw, size_t dw, size_t m,
                size_t x_next, const py::object& bias, float lo, float hi, py::array& y, size_t y_offset) {
  const UkernelInfo& u = kernel(name, UkernelOp::kDwconvF32);
  const auto t = window_taps<F32DwTaps, float, float>(c, x, x_offset, w, w_offset, rows, cols, x_row, x_pix, w_row,
                                                      w_col, ix0, x_cols, sw, dw, m, x_next);
  const float* pb = optional<float>(bias, c, "bias");
  float* py_ = flat_out<float>(y, y_offset + m * n * c, "y") + y_offset;
  ukernel_fn<UkernelOp::kDwconvF32>(u)(n, c, t, pb, lo, hi, py_);
}

void dwconv_qu8(const std::string& name, size_t n, size_t c, const py::array& x, size_t x_offset,
                const py::array& w, size_t w_offset, size_t rows, size_t cols, size_t x_row, size_t x_pix,
                size_t w_row, size_t w_col, std::ptrdiff_t ix0, size_t x_cols, size_t sw, size_t dw, size_t m,
                size_t x_next, int32_t a_zero_point,
                const py::array& scale, const py::object& bias_i32, const py::object& bias_f32,
                bool out_u8, int32_t out_zero_point, int32_t qmin, int32_t qmax, float lo, float hi,
                py::array& y, size_t y_offset) {
  const UkernelInfo& u = kernel(name, UkernelOp::kDwconvQu8);
  const auto t = window_taps<QDwTaps, uint8_t, int8_t>(c, x, x_offset, w, w_offset, rows, cols, x_row, x_pix, w_row,
                                                       w_col, ix0, x_cols, sw, dw, m, x_next);
  QDwParams p;
  p.a_zero_point = a_zero_point;
  p.scale = flat<float>(scale, c, "scale");
  p.bias_i32 = optional<int32_t>(bias_i32, c, "bias_i32");
  p.bias_f32 = optional<float>(bias_f32, c, "bias_f32");
  p.out_u8 = out_u8;
  p.out_zero_point = out_zero_point;
  p.qmin = qmin;
  p.qmax = qmax;
  p.lo = lo;
  p.hi = hi;
  void* out = out_u8 ? static_cast<void*>(flat_out<uint8_t>(y, y_offset + m * n * c, "y") + y_offset)
                     : static_cast<void*>(flat_out<float>(y, y_offset + m * n * c, "y") + y_offset);
  ukernel_fn<UkernelOp::kDwconvQu8>(u)(n, c, t, p, out);
}

// ---- reductions and quantization ---------------------------------------------------------

py::object rsum(const std::string& name, const py::array& x) {
  const size_t n = static_cast<size_t>(x.size());
  const UkernelInfo* u = find_ukernel(name.c_str());
  if (u != nullptr && u->op == UkernelOp::kRsumF32) {
    return py::float_(ukernel_fn<UkernelOp::kRsumF32>(kernel(name, UkernelOp::kRsumF32))(
        flat<float>(x, n, "x"), n));
  }
  return py::int_(ukernel_fn<UkernelOp::kRsumU8>(kernel(name, UkernelOp::kRsumU8))(
      flat<uint8_t>(x, n, "x"), n));
}

// One Adam step of kernel `name` over flat arrays, with the step constants as keywords.
void f32_adam(const std::string& name, py::array& param, const py::array& grad, py::array& m, py::array& v,
              const py::kwargs& kw) {
  const UkernelInfo& u = kernel(name, UkernelOp::kF32Adam);
  const size_t n = static_cast<size_t>(param.size());
  AdamStepArgs a;
  for (auto item : kw) {
    const std::string key = py::str(item.first);
    if (key == "decay_kind") a.decay_kind = item.second.cast<int>();
    else if (key == "small_w1") a.small_w1 = item.second.cast<bool>();
    else if (key == "decay") a.decay = item.second.cast<float>();
    else if (key == "wd") a.wd = item.second.cast<float>();
    else if (key == "w1") a.w1 = item.second.cast<float>();
    else if (key == "one_minus_w1") a.one_minus_w1 = item.second.cast<float>();
    else if (key == "b2") a.b2 = item.second.cast<float>();
    else if (key == "w2") a.w2 = item.second.cast<float>();
    else if (key == "bc2_sqrt") a.bc2_sqrt = item.second.cast<float>();
    else if (key == "neg_step") a.neg_step = item.second.cast<float>();
    else if (key == "eps") a.eps = item.second.cast<float>();
    else throw py::type_error("_ukernel_adam: unknown constant '" + key + "'");
  }
  ukernel_fn<UkernelOp::kF32Adam>(u)(n, flat_out<float>(param, n, "param"), flat<float>(grad, n, "grad"),
                                     flat_out<float>(m, n, "m"), flat_out<float>(v, n, "v"), &a);
}

// y[:n] = clamp(f(x[:n]), lo, hi) with the named unary kernel, f the function coded op.
void f32_unary(const std::string& name, size_t op, size_t n, const py::array& x, py::array& y, float alpha,
               float beta, float lo, float hi) {
  const UkernelInfo& u = kernel(name, UkernelOp::kUnaryF32);
  if (op >= static_cast<size_t>(UnaryOp::kCount)) throw py::value_error("unknown unary function " + std::to_string(op));
  UnaryArgs a;
  a.op = op;
  a.alpha = alpha;
  a.beta = beta;
  a.lo = lo;
  a.hi = hi;
  ukernel_fn<UkernelOp::kUnaryF32>(u)(n, flat<float>(x, n, "x"), flat_out<float>(y, n, "y"), &a);
}

// y[:n] = the named u8 add kernel of a[:n] and b[:n], with QVaddParams' fields as arguments;
// y is uint8 (out_u8) or float32.
void vadd_qu8(const std::string& name, size_t n, const py::array& a, const py::array& b, py::array& y,
              int32_t a_zero_point, int32_t b_zero_point, float a_mul, float b_mul, float lo, float hi,
              int32_t out_zero_point, bool out_u8) {
  const UkernelInfo& u = kernel(name, UkernelOp::kVaddQu8);
  if (out_u8) {
    // The kernels' contract (qu8_vadd.h): whole bounds inside [0, 255] once zero_point is added.
    // (No float -> int cast on the way: out of range it would be undefined.)
    const auto whole = [](float v) { return std::isfinite(v) && std::floor(v) == v; };
    const float qlo = lo + static_cast<float>(out_zero_point), qhi = hi + static_cast<float>(out_zero_point);
    if (!(whole(lo) && whole(hi) && 0.0f <= qlo && qlo <= qhi && qhi <= 255.0f)) {
      throw py::value_error("a u8 output needs whole lo <= hi with 0 <= lo + out_zero_point, hi + out_zero_point <= 255");
    }
  }
  QVaddParams p;
  p.a_zero_point = a_zero_point;
  p.b_zero_point = b_zero_point;
  p.a_mul = a_mul;
  p.b_mul = b_mul;
  p.lo = lo;
  p.hi = hi;
  p.out_zero_point = out_zero_point;
  p.out_u8 = out_u8;
  void* out = out_u8 ? static_cast<void*>(flat_out<uint8_t>(y, n, "y")) : static_cast<void*>(flat_out<float>(y, n, "y"));
  ukernel_fn<UkernelOp::kVaddQu8>(u)(n, flat<uint8_t>(a, n, "a"), flat<uint8_t>(b, n, "b"), out, &p);
}

// The named softmax kernel over `rows` rows of `cols` values of x, into y (y may be x).
void softmax_f32(const std::string& name, size_t rows, size_t cols, const py::array& x, py::array& y) {
  const UkernelInfo& u = kernel(name, UkernelOp::kSoftmaxF32);
  if (cols < 1) throw py::value_error("cols must be >= 1");
  ukernel_fn<UkernelOp::kSoftmaxF32>(u)(rows, cols, flat<float>(x, rows * cols, "x"),
                                        flat_out<float>(y, rows * cols, "y"));
}

// Decodes `rows` packed index rows (8 or 16 bytes each, codebook_decode.h) through `tables`.
void f32_codebook_decode(const std::string& name, size_t rows, uint32_t bits, bool per_channel,
                         const py::array& idx, const py::array& tables, py::array& out) {
  const UkernelInfo& u = kernel(name, UkernelOp::kF32CodebookDecode);
  if (bits < 2 || bits > 8) throw py::value_error("bits must be in 2..8, got " + std::to_string(bits));
  const size_t entries = size_t{1} << bits;
  const size_t row_bytes = bits <= 4 ? 8 : 16;
  const uint8_t* ip = flat<uint8_t>(idx, rows * row_bytes, "idx");
  for (size_t i = 0; i < rows * row_bytes; ++i) {
    const unsigned lo = bits <= 4 ? ip[i] & 0x0Fu : ip[i], hi = bits <= 4 ? ip[i] >> 4 : 0;
    if (lo >= entries || hi >= entries) throw py::value_error("idx holds an index >= 2^bits");
  }
  const size_t need = per_channel ? 16 * entries : std::max<size_t>(16, entries);
  ukernel_fn<UkernelOp::kF32CodebookDecode>(u)(rows, bits, per_channel, ip, flat<float>(tables, need, "tables"),
                                               flat_out<float>(out, rows * 16, "out"));
}

// The fused 4-bit codebook GEMM of kernel `name`: W is k index rows of 8 bytes, table 16 floats.
void gemm_f32_codebook4w(const std::string& name, size_t mr, size_t nc, size_t k, const py::array& a,
                         size_t a_stride, const py::array& w, const py::array& table, py::array& c,
                         size_t c_offset, size_t c_stride, const py::object& bias, float min, float max,
                         uint32_t flags) {
  const UkernelInfo& u = kernel(name, UkernelOp::kGemmF32Codebook4w);
  check_tile(u, mr, nc, k);
  const float* pa = flat<float>(a, span(mr, k, a_stride), "a");
  const uint8_t* pw = flat<uint8_t>(w, k * 8, "w");
  float* pc = flat_out<float>(c, c_offset + span(mr, nc, c_stride), "c") + c_offset;
  GemmF32Params p{optional<float>(bias, u.nr, "bias"), min, max, flags};
  ukernel_fn<UkernelOp::kGemmF32Codebook4w>(u)(mr, nc, k, pa, a_stride, pw, flat<float>(table, 16, "table"), pc,
                                               c_stride, &p);
}

py::tuple f32_minmax(const std::string& name, const py::array& x, float lo, float hi) {
  const UkernelInfo& u = kernel(name, UkernelOp::kF32Minmax);
  const size_t n = static_cast<size_t>(x.size());
  const bool finite = ukernel_fn<UkernelOp::kF32Minmax>(u)(flat<float>(x, n, "x"), n, &lo, &hi);
  return py::make_tuple(finite, lo, hi);
}

void f32_qu8(const std::string& name, const py::array& x, float scale, int32_t zero_point,
             py::array& y) {
  const UkernelInfo& u = kernel(name, UkernelOp::kF32Qu8);
  const size_t n = static_cast<size_t>(x.size());
  ukernel_fn<UkernelOp::kF32Qu8>(u)(flat<float>(x, n, "x"), n, scale, zero_point,
                                    flat_out<uint8_t>(y, n, "y"));
}

// ---- sparse -------------------------------------------------------------------------------

// One panel (vector when `vector`) kernel of the named ISA's SpMM table. The matrix must be
// valid (row_ptr ascending within idx / val, indices within p's rows): the test builds it.
void spmm(const std::string& name, bool vector, int value_kind, int index_kind, int block_kind,
          size_t rows, size_t nc, const py::array& row_ptr, const py::array& idx,
          const py::array& val, const py::object& row_scale, const py::array& p, size_t ldp,
          py::array& y, size_t y_offset, size_t ldy, const py::object& bias, float min,
          float max) {
  const UkernelInfo& u = kernel(name, UkernelOp::kSpmmTable);
  if (value_kind < 0 || value_kind >= kSpmmNumValueKinds || index_kind < 0 ||
      index_kind >= kSpmmNumIndexKinds || block_kind < 0 || block_kind >= kSpmmNumBlockKinds) {
    throw py::value_error("value, index or block kind out of range");
  }
  if (rows < 1 || nc < 1 || nc > u.nr || (vector && nc != 1)) {
    throw py::value_error("1 <= nc <= " + std::to_string(u.nr) + " (1 for the vector kernel)");
  }
  SpmmUkernels table{};
  ukernel_fn<UkernelOp::kSpmmTable>(u)(&table);
  if (table.nr != u.nr) throw std::logic_error(std::string(name) + ": nr differs from the list");
  const uint32_t* rp = flat<uint32_t>(row_ptr, rows + 1, "row_ptr");
  const size_t nb = rp[rows];
  const size_t bk = block_kind == kSpmmBk4 ? 4 : 1;
  SpmmWeights w;
  w.row_ptr = rp;
  w.idx = index_kind == kSpmmU16 ? static_cast<const void*>(flat<uint16_t>(idx, nb, "idx"))
                                 : static_cast<const void*>(flat<uint32_t>(idx, nb, "idx"));
  w.val = value_kind == kSpmmF32   ? static_cast<const void*>(flat<float>(val, nb * bk, "val"))
          : value_kind == kSpmmF16 ? static_cast<const void*>(flat<uint16_t>(val, nb * bk, "val"))
                                   : static_cast<const void*>(flat<int8_t>(val, nb * bk, "val"));
  w.row_scale = optional<float>(row_scale, rows, "row_scale");
  if (value_kind == kSpmmS8 && w.row_scale == nullptr) throw py::value_error("row_scale is needed");
  SpmmParams params{optional<float>(bias, rows, "bias"), min, max};
  // Every p row (x element) the matrix names must be readable.
  size_t last_row = 0;
  for (size_t b = 0; b < nb; ++b) {
    const size_t i = index_kind == kSpmmU16 ? static_cast<const uint16_t*>(w.idx)[b]
                                            : static_cast<const uint32_t*>(w.idx)[b];
    last_row = std::max(last_row, i * bk + bk - 1);
  }
  const float* pp = flat<float>(p, vector ? last_row + 1 : last_row * ldp + nc, "p");
  float* out = flat_out<float>(y, y_offset + span(rows, nc, vector ? 1 : ldy), "y") + y_offset;
  if (vector) {
    table.spmv[value_kind][index_kind][block_kind](rows, &w, pp, out, &params);
  } else {
    table.panel[value_kind][index_kind][block_kind](rows, nc, &w, pp, ldp, out, ldy, &params);
  }
}

py::list ukernels() {
  py::list out;
  const UkernelList all = all_ukernels();
  for (size_t i = 0; i < all.size; ++i) {
    const UkernelInfo& u = all.begin[i];
    py::dict d;
    d["family"] = u.family;
    d["op"] = ukernel_op_name(u.op);
    d["name"] = u.name;
    d["isa"] = u.isa;
    d["rung"] = isa_name(u.rung);
    d["mr"] = u.mr;
    d["nr"] = u.nr;
    d["kr"] = u.kr;
    d["runs_here"] = ukernel_serves(u, best_isa(), /*features=*/true);
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_ukernels(py::module_& m) {
  m.def("_ukernels", &ukernels,
        "Every micro-kernel of this build (the families' lists): family, op, name, isa, rung, "
        "tile, and whether this CPU can run it.");
  m.def(
      "_ukernel_selected",
      [](const std::string& op, const std::string& level, bool feature_kernels) {
        IsaLevel l;
        if (!parse_isa(level, &l)) throw py::value_error("unknown ISA level '" + level + "'");
        for (int i = 0; i < kNumUkernelOps; ++i) {
          if (op == ukernel_op_name(static_cast<UkernelOp>(i))) {
            return std::string(best_ukernel(static_cast<UkernelOp>(i), l, feature_kernels).name);
          }
        }
        throw py::value_error("unknown op '" + op + "'");
      },
      py::arg("op"), py::arg("level"), py::arg("feature_kernels"),
      "The kernel the family configs pick for `op` at a dispatch.");
  def_gemm_float<UkernelOp::kGemmF32, float, float>(m, "_ukernel_gemm_f32");
  def_gemm_float<UkernelOp::kGemmF32F16w, float, uint16_t>(m, "_ukernel_gemm_f32_f16w");
  def_gemm_float<UkernelOp::kGemmF32Bf16w, float, uint16_t>(m, "_ukernel_gemm_f32_bf16w");
  def_gemm_float<UkernelOp::kGemmBf16, uint16_t, uint16_t>(m, "_ukernel_gemm_bf16");
  m.def("_ukernel_gemm_qu8_qs8w", &gemm_qu8, py::arg("name"), py::arg("mr"), py::arg("nc"),
        py::arg("k"), py::arg("a"), py::arg("a_stride"), py::arg("w"), py::arg("c"),
        py::arg("c_offset"), py::arg("c_stride"), py::arg("out_kind"), py::arg("a_zero_point"),
        py::arg("colsum"), py::arg("bias_i32"), py::arg("scale"), py::arg("bias_f32"),
        py::arg("min"), py::arg("max"), py::arg("out_zero_point"), py::arg("qmin"),
        py::arg("qmax"));
  m.def("_ukernel_f32_to_bf16", &f32_to_bf16, py::arg("name"), py::arg("x"), py::arg("y"));
  m.def("_ukernel_dwconv_f32", &dwconv_f32, py::arg("name"), py::arg("n"), py::arg("c"), py::arg("x"),
        py::arg("x_offset"), py::arg("w"), py::arg("w_offset"), py::arg("rows"), py::arg("cols"),
        py::arg("x_row"), py::arg("x_pix"), py::arg("w_row"), py::arg("w_col"), py::arg("ix0"), py::arg("x_cols"),
        py::arg("sw"), py::arg("dw"), py::arg("m"), py::arg("x_next"), py::arg("bias"), py::arg("lo"), py::arg("hi"), py::arg("y"), py::arg("y_offset"));
  m.def("_ukernel_dwconv_qu8", &dwconv_qu8, py::arg("name"), py::arg("n"), py::arg("c"), py::arg("x"),
        py::arg("x_offset"), py::arg("w"), py::arg("w_offset"), py::arg("rows"), py::arg("cols"),
        py::arg("x_row"), py::arg("x_pix"), py::arg("w_row"), py::arg("w_col"), py::arg("ix0"), py::arg("x_cols"),
        py::arg("sw"), py::arg("dw"), py::arg("m"), py::arg("x_next"), py::arg("a_zero_point"), py::arg("scale"), py::arg("bias_i32"), py::arg("bias_f32"), py::arg("out_u8"),
        py::arg("out_zero_point"), py::arg("qmin"), py::arg("qmax"), py::arg("lo"), py::arg("hi"), py::arg("y"),
        py::arg("y_offset"));
  m.def("_ukernel_rsum", &rsum, py::arg("name"), py::arg("x"));
  m.def("_ukernel_adam", &f32_adam, py::arg("name"), py::arg("param"), py::arg("grad"), py::arg("m"),
        py::arg("v"), "One Adam / AdamW step of the named kernel (AdamStepArgs as keywords).");
  m.def("_ukernel_unary_f32", &f32_unary, py::arg("name"), py::arg("op"), py::arg("n"), py::arg("x"), py::arg("y"),
        py::arg("alpha"), py::arg("beta"), py::arg("lo"), py::arg("hi"),
        "y[:n] = clamp(f(x[:n]), lo, hi) with the named unary kernel (f: a UnaryOp code).");
  m.def("_ukernel_vadd_qu8", &vadd_qu8, py::arg("name"), py::arg("n"), py::arg("a"), py::arg("b"), py::arg("y"),
        py::arg("a_zero_point"), py::arg("b_zero_point"), py::arg("a_mul"), py::arg("b_mul"), py::arg("lo"),
        py::arg("hi"), py::arg("out_zero_point"), py::arg("out_u8"),
        "y[:n] = the named u8 add kernel of a and b (QVaddParams as arguments; y uint8 or float32).");
  m.def("_ukernel_softmax_f32", &softmax_f32, py::arg("name"), py::arg("rows"), py::arg("cols"), py::arg("x"),
        py::arg("y"), "Row softmax of `rows` x `cols` values with the named kernel (y may be x).");
  m.def("_ukernel_codebook_decode", &f32_codebook_decode, py::arg("name"), py::arg("rows"), py::arg("bits"),
        py::arg("per_channel"), py::arg("idx"), py::arg("tables"), py::arg("out"),
        "Decode codebook index rows to f32 with the named kernel.");
  m.def("_ukernel_gemm_f32_codebook4w", &gemm_f32_codebook4w, py::arg("name"), py::arg("mr"), py::arg("nc"),
        py::arg("k"), py::arg("a"), py::arg("a_stride"), py::arg("w"), py::arg("table"), py::arg("c"),
        py::arg("c_offset"), py::arg("c_stride"), py::arg("bias"), py::arg("min"), py::arg("max"), py::arg("flags"));
  m.def("_ukernel_f32_minmax", &f32_minmax, py::arg("name"), py::arg("x"), py::arg("lo"),
        py::arg("hi"));
  m.def("_ukernel_f32_qu8", &f32_qu8, py::arg("name"), py::arg("x"), py::arg("scale"),
        py::arg("zero_point"), py::arg("y"));
  m.def("_ukernel_spmm", &spmm, py::arg("name"), py::arg("vector"), py::arg("value_kind"),
        py::arg("index_kind"), py::arg("block_kind"), py::arg("rows"), py::arg("nc"),
        py::arg("row_ptr"), py::arg("idx"), py::arg("val"), py::arg("row_scale"), py::arg("p"),
        py::arg("ldp"), py::arg("y"), py::arg("y_offset"), py::arg("ldy"), py::arg("bias"),
        py::arg("min"), py::arg("max"));
}

}  // namespace fnn
