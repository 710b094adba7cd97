// Each step kind's parameters as a Python class with keyword arguments (frugalnn.graph.compile
// builds them; Program.add_step takes one). Conversions only: every value is checked by the
// kind's check when the program is finished (set_io), as for programs loaded from files.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/array_checks.h"
#include "bindings/bindings.h"
#include "runtime/steps/broadcast.h"
#include "runtime/steps/concat.h"
#include "runtime/steps/conv2d.h"
#include "runtime/steps/conv_transpose.h"
#include "runtime/steps/dense.h"
#include "runtime/steps/depthwise_conv2d.h"
#include "runtime/steps/layout.h"
#include "runtime/steps/pool2d.h"
#include "runtime/steps/resize.h"
#include "runtime/steps/scale_shift.h"
#include "runtime/steps/softmax.h"
#include "runtime/steps/sparse_dense.h"
#include "runtime/steps/unary.h"
#include "runtime/steps/u8_inputs.h"

namespace py = pybind11;

namespace fnn {
namespace {

template <typename T>
std::vector<T> values(const std::optional<py::array>& a, const char* name) {
  if (!a) return {};
  const T* p = checked<T>(*a, name, 1);
  return std::vector<T>(p, p + a->shape(0));
}

QuantIn quant_in(const std::optional<std::pair<float, int32_t>>& q) {
  QuantIn out;
  if (q) {
    out.scale = q->first;
    out.zero_point = q->second;
  }
  return out;
}

std::vector<QuantIn> quant_ins(const std::vector<std::pair<float, int32_t>>& v) {
  std::vector<QuantIn> out;
  for (const auto& q : v) out.push_back({q.first, q.second});
  return out;
}

// (op, alpha, beta, lo, hi) of each activation fused into a conv / dense epilogue, in order.
using PostArg = std::optional<std::vector<std::tuple<size_t, float, float, float, float>>>;
std::vector<FusedUnary> fused_unary(const PostArg& a) {
  std::vector<FusedUnary> v;
  if (a) {
    for (const auto& t : *a) {
      FusedUnary f;
      std::tie(f.op, f.alpha, f.beta, f.lo, f.hi) = t;
      v.push_back(f);
    }
  }
  return v;
}

template <typename P, typename Fill>
std::shared_ptr<P> make_params(Fill&& fill) {
  auto p = std::make_shared<P>();
  fill(*p);
  return p;
}

std::string conv_repr(const Conv2dGeometry& g) {
  return "Conv2dGeometry(h=" + std::to_string(g.h) + ", w=" + std::to_string(g.w) + ", c=" + std::to_string(g.c) +
         ", oh=" + std::to_string(g.oh) + ", ow=" + std::to_string(g.ow) + ", oc=" + std::to_string(g.oc) +
         ", kh=" + std::to_string(g.kh) + ", kw=" + std::to_string(g.kw) + ", sh=" + std::to_string(g.sh) +
         ", sw=" + std::to_string(g.sw) + ", dh=" + std::to_string(g.dh) + ", dw=" + std::to_string(g.dw) +
         ", pad_top=" + std::to_string(g.pad_top) + ", pad_left=" + std::to_string(g.pad_left) +
         ", groups=" + std::to_string(g.groups) + ")";
}

}  // namespace

void bind_step_params(py::module_& m) {
  py::class_<Conv2dGeometry>(m, "Conv2dGeometry", "A convolution's per-sample geometry (NHWC).")
      .def(py::init([](size_t h, size_t w, size_t c, size_t oh, size_t ow, size_t oc, size_t kh, size_t kw,
                       size_t sh, size_t sw, size_t dh, size_t dw, size_t pad_top, size_t pad_left,
                       size_t groups) {
             Conv2dGeometry g;
             g.h = h, g.w = w, g.c = c, g.oh = oh, g.ow = ow, g.oc = oc, g.kh = kh, g.kw = kw;
             g.sh = sh, g.sw = sw, g.dh = dh, g.dw = dw, g.pad_top = pad_top, g.pad_left = pad_left;
             g.groups = groups;
             return g;
           }),
           py::kw_only(), py::arg("h"), py::arg("w"), py::arg("c"), py::arg("oh"), py::arg("ow"), py::arg("oc"),
           py::arg("kh") = 1, py::arg("kw") = 1, py::arg("sh") = 1, py::arg("sw") = 1, py::arg("dh") = 1,
           py::arg("dw") = 1, py::arg("pad_top") = 0, py::arg("pad_left") = 0, py::arg("groups") = 1)
      .def_readonly("h", &Conv2dGeometry::h).def_readonly("w", &Conv2dGeometry::w)
      .def_readonly("c", &Conv2dGeometry::c).def_readonly("oh", &Conv2dGeometry::oh)
      .def_readonly("ow", &Conv2dGeometry::ow).def_readonly("oc", &Conv2dGeometry::oc)
      .def_readonly("kh", &Conv2dGeometry::kh).def_readonly("kw", &Conv2dGeometry::kw)
      .def_readonly("sh", &Conv2dGeometry::sh).def_readonly("sw", &Conv2dGeometry::sw)
      .def_readonly("dh", &Conv2dGeometry::dh).def_readonly("dw", &Conv2dGeometry::dw)
      .def_readonly("pad_top", &Conv2dGeometry::pad_top).def_readonly("pad_left", &Conv2dGeometry::pad_left)
      .def_readonly("groups", &Conv2dGeometry::groups)
      .def("__repr__", &conv_repr);

  py::class_<Pool2dGeometry>(m, "Pool2dGeometry", "A pooling window's per-sample geometry (NHWC).")
      .def(py::init([](size_t h, size_t w, size_t c, size_t oh, size_t ow, size_t kh, size_t kw, size_t sh,
                       size_t sw, size_t pad_top, size_t pad_left) {
             Pool2dGeometry g;
             g.h = h, g.w = w, g.c = c, g.oh = oh, g.ow = ow, g.kh = kh, g.kw = kw, g.sh = sh, g.sw = sw;
             g.pad_top = pad_top, g.pad_left = pad_left;
             return g;
           }),
           py::kw_only(), py::arg("h"), py::arg("w"), py::arg("c"), py::arg("oh"), py::arg("ow"), py::arg("kh"),
           py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("pad_top") = 0, py::arg("pad_left") = 0)
      .def_readonly("h", &Pool2dGeometry::h).def_readonly("w", &Pool2dGeometry::w)
      .def_readonly("c", &Pool2dGeometry::c).def_readonly("oh", &Pool2dGeometry::oh)
      .def_readonly("ow", &Pool2dGeometry::ow).def_readonly("kh", &Pool2dGeometry::kh)
      .def_readonly("kw", &Pool2dGeometry::kw).def_readonly("sh", &Pool2dGeometry::sh)
      .def_readonly("sw", &Pool2dGeometry::sw).def_readonly("pad_top", &Pool2dGeometry::pad_top)
      .def_readonly("pad_left", &Pool2dGeometry::pad_left);

  py::class_<StepParams, std::shared_ptr<StepParams>>(m, "StepParams", "A step kind's parameters.");

  py::class_<LayoutParams, StepParams, std::shared_ptr<LayoutParams>>(
      m, "LayoutParams", "to_nhwc / to_nchw: c channels of hw pixels.")
      .def(py::init([](size_t c, size_t hw) {
             return make_params<LayoutParams>([&](LayoutParams& p) {
               p.c = c;
               p.hw = hw;
             });
           }),
           py::kw_only(), py::arg("c"), py::arg("hw"));

  py::class_<DenseParams, StepParams, std::shared_ptr<DenseParams>>(
      m, "DenseParams", "dense: packed weights; int8 ones read a u8 input with input_quant = (scale, zero point).")
      .def(py::init([](std::shared_ptr<PackedWeights> weights, std::optional<std::pair<float, int32_t>> q,
                       const PostArg& post) {
             return make_params<DenseParams>([&](DenseParams& p) {
               p.weights = std::move(weights);
               p.input = quant_in(q);
               p.post = fused_unary(post);
             });
           }),
           py::kw_only(), py::arg("weights"), py::arg("input_quant") = py::none(), py::arg("post") = py::none());

  py::class_<SparseDenseParams, StepParams, std::shared_ptr<SparseDenseParams>>(
      m, "SparseDenseParams", "sparse_dense: y = x @ matrix^T (+ bias).")
      .def(py::init([](std::shared_ptr<SparseMatrix> matrix, const std::optional<py::array>& bias) {
             return make_params<SparseDenseParams>([&](SparseDenseParams& p) {
               p.matrix = std::move(matrix);
               p.bias = values<float>(bias, "bias");
             });
           }),
           py::kw_only(), py::arg("matrix"), py::arg("bias") = py::none());

  py::class_<Conv2dParams, StepParams, std::shared_ptr<Conv2dParams>>(
      m, "Conv2dParams",
      "conv2d: geometry, packed weights per group, the int8 input's (scale, zero point), and an "
      "optional max-pool fused over the output (stride == window, no padding).")
      .def(py::init([](const Conv2dGeometry& g, std::vector<std::shared_ptr<PackedWeights>> weights,
                       std::optional<std::pair<float, int32_t>> q, std::optional<Pool2dGeometry> pool,
                       const PostArg& post) {
             return make_params<Conv2dParams>([&](Conv2dParams& p) {
               p.geometry = g;
               p.weights = std::move(weights);
               p.input = quant_in(q);
               p.pool_fused = pool.has_value();
               if (pool) p.pool = *pool;
               p.post = fused_unary(post);
             });
           }),
           py::kw_only(), py::arg("geometry"), py::arg("weights"), py::arg("input_quant") = py::none(),
           py::arg("pool") = py::none(), py::arg("post") = py::none());

  py::class_<DepthwiseConv2dParams, StepParams, std::shared_ptr<DepthwiseConv2dParams>>(
      m, "DepthwiseConv2dParams",
      "depthwise_conv2d: f32 weights [kh][kw][c], or s8 weights_s8 with a weight_scale per channel "
      "reading a u8 input quantized as input_quant says.")
      .def(py::init([](const Conv2dGeometry& g, const std::optional<py::array>& weights,
                       const std::optional<py::array>& weights_s8, const std::optional<py::array>& weight_scale,
                       const std::optional<py::array>& bias, std::optional<std::pair<float, int32_t>> q,
                       const PostArg& post) {
             return make_params<DepthwiseConv2dParams>([&](DepthwiseConv2dParams& p) {
               p.geometry = g;
               p.weights = values<float>(weights, "weights");
               p.weights_s8 = values<int8_t>(weights_s8, "weights_s8");
               p.weight_scale = values<float>(weight_scale, "weight_scale");
               p.bias = values<float>(bias, "bias");
               p.input = quant_in(q);
               p.post = fused_unary(post);
             });
           }),
           py::kw_only(), py::arg("geometry"), py::arg("weights") = py::none(), py::arg("weights_s8") = py::none(),
           py::arg("weight_scale") = py::none(), py::arg("bias") = py::none(), py::arg("input_quant") = py::none(),
           py::arg("post") = py::none());

  py::class_<ConvTranspose2dParams, StepParams, std::shared_ptr<ConvTranspose2dParams>>(
      m, "ConvTranspose2dParams",
      "conv_transpose2d: the transposed conv's geometry (input h w c, output oh ow oc), f32 packed weights "
      "per group (c / groups x kh kw oc / groups, columns [ky][kx][o]) and an optional bias.")
      .def(py::init([](const Conv2dGeometry& g, std::vector<std::shared_ptr<PackedWeights>> weights,
                       const std::optional<py::array>& bias) {
             return make_params<ConvTranspose2dParams>([&](ConvTranspose2dParams& p) {
               p.geometry = g;
               p.weights = std::move(weights);
               p.bias = values<float>(bias, "bias");
             });
           }),
           py::kw_only(), py::arg("geometry"), py::arg("weights"), py::arg("bias") = py::none());

  py::class_<ResizeParams, StepParams, std::shared_ptr<ResizeParams>>(
      m, "ResizeParams",
      "resize: h x w -> oh x ow over c channels; per output row / column its source (nearest) or two "
      "sources and their weights (linear).")
      .def(py::init([](size_t h, size_t w, size_t c, size_t oh, size_t ow, bool linear, std::vector<size_t> rows,
                       std::vector<size_t> cols, const std::optional<py::array>& row_weights,
                       const std::optional<py::array>& col_weights) {
             return make_params<ResizeParams>([&](ResizeParams& p) {
               p.h = h, p.w = w, p.c = c, p.oh = oh, p.ow = ow;
               p.linear = linear;
               p.rows = std::move(rows);
               p.cols = std::move(cols);
               p.row_weights = values<float>(row_weights, "row_weights");
               p.col_weights = values<float>(col_weights, "col_weights");
             });
           }),
           py::kw_only(), py::arg("h"), py::arg("w"), py::arg("c"), py::arg("oh"), py::arg("ow"), py::arg("linear"),
           py::arg("rows"), py::arg("cols"), py::arg("row_weights") = py::none(), py::arg("col_weights") = py::none());

  py::class_<Pool2dParams, StepParams, std::shared_ptr<Pool2dParams>>(m, "Pool2dParams",
                                                                       "maxpool2d / avgpool2d: the window geometry.")
      .def(py::init([](const Pool2dGeometry& g) {
             return make_params<Pool2dParams>([&](Pool2dParams& p) {
               p.geometry = g;
             });
           }),
           py::kw_only(), py::arg("geometry"));

  py::class_<U8InputsParams, StepParams, std::shared_ptr<U8InputsParams>>(
      m, "AddParams", "add: the (scale, zero point) each u8 input is read with; empty: float inputs.")
      .def(py::init([](const std::vector<std::pair<float, int32_t>>& inputs_u8) {
             return make_params<U8InputsParams>([&](U8InputsParams& p) {
               p.inputs_u8 = quant_ins(inputs_u8);
             });
           }),
           py::kw_only(), py::arg("inputs_u8") = std::vector<std::pair<float, int32_t>>{});

  py::class_<GlobalAvgPoolParams, StepParams, std::shared_ptr<GlobalAvgPoolParams>>(
      m, "GlobalAvgPoolParams", "global_avgpool: c channels of hw pixels; u8 inputs as for add.")
      .def(py::init([](size_t c, size_t hw, const std::vector<std::pair<float, int32_t>>& inputs_u8) {
             return make_params<GlobalAvgPoolParams>([&](GlobalAvgPoolParams& p) {
               p.c = c;
               p.hw = hw;
               p.inputs_u8 = quant_ins(inputs_u8);
             });
           }),
           py::kw_only(), py::arg("c"), py::arg("hw"),
           py::arg("inputs_u8") = std::vector<std::pair<float, int32_t>>{});

  py::class_<SoftmaxParams, StepParams, std::shared_ptr<SoftmaxParams>>(m, "SoftmaxParams",
                                                                         "softmax over rows of cols values.")
      .def(py::init([](size_t cols) {
             return make_params<SoftmaxParams>([&](SoftmaxParams& p) {
               p.cols = cols;
             });
           }),
           py::kw_only(), py::arg("cols"));

  py::class_<ScaleShiftParams, StepParams, std::shared_ptr<ScaleShiftParams>>(
      m, "ScaleShiftParams", "scale_shift: y = x * scale + shift per channel (innermost axis).")
      .def(py::init([](const py::array& scale, const py::array& shift) {
             return make_params<ScaleShiftParams>([&](ScaleShiftParams& p) {
               p.scale = values<float>(scale, "scale");
               p.shift = values<float>(shift, "shift");
             });
           }),
           py::kw_only(), py::arg("scale"), py::arg("shift"));

  py::class_<BroadcastParams, StepParams, std::shared_ptr<BroadcastParams>>(
      m, "BroadcastParams",
      "broadcast: y = op(a, b) over dims, each operand by its strides (0: broadcast) and sample stride; "
      "b may be a constant.")
      .def(py::init([](size_t op, std::vector<size_t> dims, std::vector<size_t> a_strides,
                       std::vector<size_t> b_strides, size_t a_sample, size_t b_sample, size_t a_offset, bool swap,
                       const std::optional<py::array>& constant) {
             return make_params<BroadcastParams>([&](BroadcastParams& p) {
               p.op = op;
               p.dims = std::move(dims);
               p.a_strides = std::move(a_strides);
               p.b_strides = std::move(b_strides);
               p.a_sample = a_sample;
               p.b_sample = b_sample;
               p.a_offset = a_offset;
               p.swap = swap;
               p.constant = values<float>(constant, "constant");
             });
           }),
           py::kw_only(), py::arg("op"), py::arg("dims"), py::arg("a_strides"), py::arg("b_strides"),
           py::arg("a_sample"), py::arg("b_sample"), py::arg("a_offset") = 0, py::arg("swap") = false,
           py::arg("constant") = std::nullopt);

  py::class_<UnaryParams, StepParams, std::shared_ptr<UnaryParams>>(
      m, "UnaryParams", "unary: y = f(x) for function code op, with constants alpha and beta.")
      .def(py::init([](size_t op, float alpha, float beta) {
             return make_params<UnaryParams>([&](UnaryParams& p) {
               p.op = op;
               p.constants = {alpha, beta};
             });
           }),
           py::kw_only(), py::arg("op"), py::arg("alpha") = 0.0f, py::arg("beta") = 0.0f);

  py::class_<ConcatParams, StepParams, std::shared_ptr<ConcatParams>>(
      m, "ConcatParams", "concat: each input's run of values between two runs of the others.")
      .def(py::init([](std::vector<size_t> parts) {
             return make_params<ConcatParams>([&](ConcatParams& p) {
               p.parts = std::move(parts);
             });
           }),
           py::kw_only(), py::arg("parts"));
}

}  // namespace fnn
