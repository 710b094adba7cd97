// Training kernels (frugalnn.train calls them): argument checks and conversions only. Every
// array is checked for dtype (TypeError), ndim, shape, C-contiguity, writability and overlap
// (ValueError), naming the argument, before native code runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/bindings.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/gemm/gemm_general.h"
#include "runtime/steps/conv2d.h"
#include "runtime/steps/pool2d.h"
#include "train/optimizer_update.h"

namespace py = pybind11;

namespace fnn {
namespace {

using Pair = std::pair<int64_t, int64_t>;
using Quad = std::tuple<int64_t, int64_t, int64_t, int64_t>;
using OptArray = std::optional<py::array>;

constexpr int64_t kMaxDim = int64_t{1} << 24;  // as check_program's cap on conv geometry

std::string shape_str(const std::vector<size_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::vector<size_t> shape_of(const py::array& a) {
  std::vector<size_t> s(static_cast<size_t>(a.ndim()));
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<size_t>(a.shape(static_cast<py::ssize_t>(i)));
  return s;
}

template <typename T>
void check_array(const py::array& a, const char* name, py::ssize_t ndim, bool out) {
  if (!a.dtype().equal(py::dtype::of<T>())) {
    throw py::type_error(std::string(name) + " has dtype " + py::str(a.dtype()).cast<std::string>() +
                         ", expected " + py::str(py::dtype::of<T>()).cast<std::string>());
  }
  if (ndim >= 0 && a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                          shape_str(shape_of(a)));
  }
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  if (out && !a.writeable()) throw py::value_error(std::string(name) + " is read-only");
}

template <typename T>
const T* in(const py::array& a, const char* name, const std::vector<size_t>& shape) {
  check_array<T>(a, name, static_cast<py::ssize_t>(shape.size()), false);
  if (shape_of(a) != shape) {
    throw py::value_error(std::string(name) + " has shape " + shape_str(shape_of(a)) + ", expected " +
                          shape_str(shape));
  }
  return static_cast<const T*>(a.data());
}

template <typename T>
T* out(py::array& a, const char* name, const std::vector<size_t>& shape) {
  in<T>(a, name, shape);
  if (!a.writeable()) throw py::value_error(std::string(name) + " is read-only");
  return static_cast<T*>(a.mutable_data());
}

// Arrays whose bytes overlap (outputs must not overlap inputs or each other).
bool overlap(const py::array& a, const py::array& b) {
  if (a.nbytes() == 0 || b.nbytes() == 0) return false;
  const auto* a0 = static_cast<const char*>(a.data());
  const auto* b0 = static_cast<const char*>(b.data());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
}

void no_overlap(const py::array& o, const char* oname, const py::array& i, const char* iname) {
  if (overlap(o, i)) {
    throw py::value_error(std::string(oname) + " overlaps " + iname + " in memory: use separate arrays");
  }
}

size_t dim(int64_t v, const char* name, int64_t lo) {
  if (v < lo || v > kMaxDim) {
    throw py::value_error(std::string(name) + " must be in [" + std::to_string(lo) + ", 2**24], got " +
                          std::to_string(v));
  }
  return static_cast<size_t>(v);
}

// Output extent of a window of `k` taps (dilation d) over `in` padded by lo + hi, stride s.
size_t out_extent(size_t in, size_t lo, size_t hi, size_t k, size_t d, size_t s, const char* what) {
  const size_t span = (k - 1) * d + 1;
  if (in + lo + hi < span) {
    throw py::value_error(std::string("the ") + what + " window (" + std::to_string(span) +
                          " with dilation) exceeds the padded input (" + std::to_string(in + lo + hi) + ")");
  }
  return (in + lo + hi - span) / s + 1;
}

// Conv geometry from x (N, H, W, C), w (O, kh, kw, C / groups) and the keywords.
Conv2dGeometry conv_geometry(const py::array& x, const py::array& w, Pair stride, Pair dilation,
                             Quad pads, int64_t groups) {
  check_array<float>(x, "x", 4, false);
  check_array<float>(w, "w", 4, false);
  Conv2dGeometry g;
  const std::vector<size_t> xs = shape_of(x), ws = shape_of(w);
  g.n = xs[0];
  g.h = dim(static_cast<int64_t>(xs[1]), "x's height", 1);
  g.w = dim(static_cast<int64_t>(xs[2]), "x's width", 1);
  g.c = dim(static_cast<int64_t>(xs[3]), "x's channels", 1);
  g.oc = dim(static_cast<int64_t>(ws[0]), "w's output channels", 1);
  g.kh = dim(static_cast<int64_t>(ws[1]), "the kernel height", 1);
  g.kw = dim(static_cast<int64_t>(ws[2]), "the kernel width", 1);
  g.groups = dim(groups, "groups", 1);
  g.sh = dim(stride.first, "stride[0]", 1);
  g.sw = dim(stride.second, "stride[1]", 1);
  g.dh = dim(dilation.first, "dilation[0]", 1);
  g.dw = dim(dilation.second, "dilation[1]", 1);
  const size_t top = dim(std::get<0>(pads), "pads[0] (top)", 0);
  const size_t left = dim(std::get<1>(pads), "pads[1] (left)", 0);
  const size_t bottom = dim(std::get<2>(pads), "pads[2] (bottom)", 0);
  const size_t right = dim(std::get<3>(pads), "pads[3] (right)", 0);
  g.pad_top = top;
  g.pad_left = left;
  if (g.c % g.groups != 0 || g.oc % g.groups != 0) {
    throw py::value_error("groups = " + std::to_string(g.groups) + " must divide x's channels (" +
                          std::to_string(g.c) + ") and w's output channels (" + std::to_string(g.oc) + ")");
  }
  if (ws[3] != g.c / g.groups) {
    throw py::value_error("w has shape " + shape_str(ws) + ": its last dimension must be C // groups = " +
                          std::to_string(g.c / g.groups));
  }
  g.oh = out_extent(g.h, top, bottom, g.kh, g.dh, g.sh, "kernel's height");
  g.ow = out_extent(g.w, left, right, g.kw, g.dw, g.sw, "kernel's width");
  return g;
}

Pool2dGeometry pool_geometry(const py::array& x_or_dx, const char* name, Pair kernel, Pair stride,
                             Pair padding) {
  check_array<float>(x_or_dx, name, 4, false);
  const std::vector<size_t> xs = shape_of(x_or_dx);
  Pool2dGeometry g;
  g.n = xs[0];
  g.h = dim(static_cast<int64_t>(xs[1]), "the input height", 1);
  g.w = dim(static_cast<int64_t>(xs[2]), "the input width", 1);
  g.c = dim(static_cast<int64_t>(xs[3]), "the channels", 1);
  g.kh = dim(kernel.first, "kernel[0]", 1);
  g.kw = dim(kernel.second, "kernel[1]", 1);
  g.sh = dim(stride.first, "stride[0]", 1);
  g.sw = dim(stride.second, "stride[1]", 1);
  g.pad_top = dim(padding.first, "padding[0]", 0);
  g.pad_left = dim(padding.second, "padding[1]", 0);
  if (g.pad_top >= g.kh || g.pad_left >= g.kw) {
    throw py::value_error("padding must be smaller than the kernel in each dimension (a window must "
                          "hold a real input), got padding " + shape_str({g.pad_top, g.pad_left}) +
                          " with kernel " + shape_str({g.kh, g.kw}));
  }
  g.oh = out_extent(g.h, g.pad_top, g.pad_top, g.kh, 1, g.sh, "pool's height");
  g.ow = out_extent(g.w, g.pad_left, g.pad_left, g.kw, 1, g.sw, "pool's width");
  return g;
}

// A flat array of `n` elements (any shape), or the first array's size when n is npos.
template <typename T>
size_t flat(const py::array& a, const char* name, bool is_out, size_t n, const char* like) {
  check_array<T>(a, name, -1, is_out);
  const auto size = static_cast<size_t>(a.size());
  if (n != static_cast<size_t>(-1) && size != n) {
    throw py::value_error(std::string(name) + " has " + std::to_string(size) + " elements, " + like + " has " +
                          std::to_string(n));
  }
  return size;
}

const uint8_t* mask_of(const OptArray& mask, size_t n, const char* like) {
  if (!mask) return nullptr;
  flat<uint8_t>(*mask, "mask", false, n, like);
  return static_cast<const uint8_t*>(mask->data());
}

void finite_param(double v, const char* name, bool nonneg) {
  if (!std::isfinite(v) || (nonneg && v < 0)) {
    throw py::value_error(std::string(name) + " must be finite" + (nonneg ? " and >= 0" : "") + ", got " +
                          std::to_string(v));
  }
}

}  // namespace

void bind_train(py::module_& m) {
  m.def(
      "sgemm",
      [](const py::array& a, const py::array& b, py::array& c_arr, bool trans_a, bool trans_b,
         bool accumulate, const OptArray& bias) {
        check_array<float>(a, "a", 2, false);
        check_array<float>(b, "b", 2, false);
        const std::vector<size_t> as = shape_of(a), bs = shape_of(b);
        const size_t m = trans_a ? as[1] : as[0], k = trans_a ? as[0] : as[1];
        const size_t kb = trans_b ? bs[1] : bs[0], n = trans_b ? bs[0] : bs[1];
        if (kb != k) {
          throw py::value_error("op(a) is " + shape_str({m, k}) + " but op(b) is " + shape_str({kb, n}) +
                                ": inner dimensions differ");
        }
        float* c = out<float>(c_arr, "out", {m, n});
        no_overlap(c_arr, "out", a, "a");
        no_overlap(c_arr, "out", b, "b");
        const float* bp = nullptr;
        if (bias) {
          if (accumulate) throw py::value_error("bias is not allowed with accumulate=True");
          bp = in<float>(*bias, "bias", {n});
          no_overlap(c_arr, "out", *bias, "bias");
        }
        const auto* ap = static_cast<const float*>(a.data());
        const auto* bptr = static_cast<const float*>(b.data());
        py::gil_scoped_release nogil;
        sgemm(trans_a, trans_b, m, n, k, ap, as[1], bptr, bs[1], c, n, bp, accumulate);
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("out").noconvert(), py::kw_only(),
      py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("accumulate") = false,
      py::arg("bias").noconvert() = py::none(),
      "out (M, N) = op(a) @ op(b) [+ bias], or out += op(a) @ op(b) with accumulate (float32).");

  m.def(
      "conv2d_train_forward",
      [](const py::array& x, const py::array& w, const OptArray& bias, py::array& y, Pair stride,
         Pair dilation, Quad pads, int64_t groups, float lo, float hi) {
        Conv2dGeometry g = conv_geometry(x, w, stride, dilation, pads, groups);
        if (!(lo <= hi)) throw py::value_error("lo must be <= hi");
        const float* bp = bias ? in<float>(*bias, "bias", {g.oc}) : nullptr;
        float* yp = out<float>(y, "y", {g.n, g.oh, g.ow, g.oc});
        no_overlap(y, "y", x, "x");
        no_overlap(y, "y", w, "w");
        if (bias) no_overlap(y, "y", *bias, "bias");
        const auto* xp = static_cast<const float*>(x.data());
        const auto* wp = static_cast<const float*>(w.data());
        py::gil_scoped_release nogil;
        conv2d_train_forward(g, xp, wp, bp, lo, hi, yp);
      },
      py::arg("x").noconvert(), py::arg("w").noconvert(), py::arg("bias").noconvert(),
      py::arg("y").noconvert(), py::kw_only(), py::arg("stride"), py::arg("dilation"), py::arg("pads"),
      py::arg("groups"), py::arg("lo") = -std::numeric_limits<float>::infinity(),
      py::arg("hi") = std::numeric_limits<float>::infinity(),
      "y (N, OH, OW, O) = conv(x (N, H, W, C), w (O, kh, kw, C // groups)) + bias, clamped to "
      "[lo, hi]. pads: (top, left, bottom, right).");

  m.def(
      "conv2d_backward",
      [](const py::array& x, const py::array& w, const py::array& dy, OptArray& dx, py::array& dw,
         OptArray& db, Pair stride, Pair dilation, Quad pads, int64_t groups) {
        Conv2dGeometry g = conv_geometry(x, w, stride, dilation, pads, groups);
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.oc});
        float* dxp = dx ? out<float>(*dx, "dx", {g.n, g.h, g.w, g.c}) : nullptr;
        float* dwp = out<float>(dw, "dw", shape_of(w));
        float* dbp = db ? out<float>(*db, "db", {g.oc}) : nullptr;
        std::vector<std::pair<const py::array*, const char*>> outs{{&dw, "dw"}};
        if (dx) outs.push_back({&*dx, "dx"});
        if (db) outs.push_back({&*db, "db"});
        for (size_t i = 0; i < outs.size(); ++i) {
          no_overlap(*outs[i].first, outs[i].second, x, "x");
          no_overlap(*outs[i].first, outs[i].second, w, "w");
          no_overlap(*outs[i].first, outs[i].second, dy, "dy");
          for (size_t j = 0; j < i; ++j) no_overlap(*outs[i].first, outs[i].second, *outs[j].first, outs[j].second);
        }
        const auto* xp = static_cast<const float*>(x.data());
        const auto* wp = static_cast<const float*>(w.data());
        py::gil_scoped_release nogil;
        conv2d_backward(g, xp, wp, dyp, dxp, dwp, dbp);
      },
      py::arg("x").noconvert(), py::arg("w").noconvert(), py::arg("dy").noconvert(),
      py::arg("dx").noconvert(), py::arg("dw").noconvert(), py::arg("db").noconvert(), py::kw_only(),
      py::arg("stride"), py::arg("dilation"), py::arg("pads"), py::arg("groups"),
      "Gradients of conv2d_train_forward from dy (before the activation): dx (or None: skipped), "
      "dw and db (or None) overwritten.");

  m.def(
      "maxpool2d_train_forward",
      [](const py::array& x, py::array& y, Pair kernel, Pair stride, Pair padding) {
        const Pool2dGeometry g = pool_geometry(x, "x", kernel, stride, padding);
        float* yp = out<float>(y, "y", {g.n, g.oh, g.ow, g.c});
        no_overlap(y, "y", x, "x");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        maxpool2d_train_forward(g, xp, yp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::kw_only(), py::arg("kernel"),
      py::arg("stride"), py::arg("padding"));

  m.def(
      "maxpool2d_backward",
      [](const py::array& x, const py::array& y, const py::array& dy, py::array& dx, Pair kernel,
         Pair stride, Pair padding) {
        const Pool2dGeometry g = pool_geometry(x, "x", kernel, stride, padding);
        const float* yp = in<float>(y, "y", {g.n, g.oh, g.ow, g.c});
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.c});
        float* dxp = out<float>(dx, "dx", {g.n, g.h, g.w, g.c});
        no_overlap(dx, "dx", x, "x");
        no_overlap(dx, "dx", y, "y");
        no_overlap(dx, "dx", dy, "dy");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        maxpool2d_backward(g, xp, yp, dyp, dxp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("dy").noconvert(),
      py::arg("dx").noconvert(), py::kw_only(), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
      "dx overwritten: each window's dy goes to the first position (row-major) where x equals y.");

  m.def(
      "avgpool2d_train_forward",
      [](const py::array& x, py::array& y, Pair kernel, Pair stride, Pair padding) {
        const Pool2dGeometry g = pool_geometry(x, "x", kernel, stride, padding);
        float* yp = out<float>(y, "y", {g.n, g.oh, g.ow, g.c});
        no_overlap(y, "y", x, "x");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        avgpool2d_train_forward(g, xp, yp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::kw_only(), py::arg("kernel"),
      py::arg("stride"), py::arg("padding"), "Mean over the real inputs of each window.");

  m.def(
      "avgpool2d_backward",
      [](const py::array& dy, py::array& dx, Pair kernel, Pair stride, Pair padding) {
        const Pool2dGeometry g = pool_geometry(dx, "dx", kernel, stride, padding);
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.c});
        float* dxp = out<float>(dx, "dx", {g.n, g.h, g.w, g.c});
        no_overlap(dx, "dx", dy, "dy");
        py::gil_scoped_release nogil;
        avgpool2d_backward(g, dyp, dxp);
      },
      py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::kw_only(), py::arg("kernel"),
      py::arg("stride"), py::arg("padding"), "dx overwritten (count_include_pad=False).");

  m.def(
      "clip_backward",
      [](const py::array& y, const py::array& dy, py::array& dx, float lo, float hi) {
        const size_t n = flat<float>(y, "y", false, static_cast<size_t>(-1), "");
        flat<float>(dy, "dy", false, n, "y");
        flat<float>(dx, "dx", true, n, "y");
        if (dx.data() != dy.data()) no_overlap(dx, "dx", dy, "dy");
        no_overlap(dx, "dx", y, "y");
        const auto* yp = static_cast<const float*>(y.data());
        const auto* dyp = static_cast<const float*>(dy.data());
        auto* dxp = static_cast<float*>(dx.mutable_data());
        py::gil_scoped_release nogil;
        clamp_backward_f32(n, yp, dyp, dxp, lo, hi);
      },
      py::arg("y").noconvert(), py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::arg("lo"),
      py::arg("hi"), "dx = dy where lo < y < hi, else 0 (y: the clip's output; dx may be dy).");

  m.def(
      "sigmoid_backward",
      [](const py::array& y, const py::array& dy, py::array& dx) {
        const size_t n = flat<float>(y, "y", false, static_cast<size_t>(-1), "");
        flat<float>(dy, "dy", false, n, "y");
        flat<float>(dx, "dx", true, n, "y");
        if (dx.data() != dy.data()) no_overlap(dx, "dx", dy, "dy");
        no_overlap(dx, "dx", y, "y");
        const auto* yp = static_cast<const float*>(y.data());
        const auto* dyp = static_cast<const float*>(dy.data());
        auto* dxp = static_cast<float*>(dx.mutable_data());
        py::gil_scoped_release nogil;
        sigmoid_backward_f32(n, yp, dyp, dxp);
      },
      py::arg("y").noconvert(), py::arg("dy").noconvert(), py::arg("dx").noconvert(),
      "dx = dy * (1 - y) * y (y: the sigmoid's output; dx may be dy).");

  m.def(
      "sgd_update",
      [](py::array& param, py::array& grad, OptArray& velocity, float lr, float momentum, bool nesterov,
         float weight_decay, const OptArray& mask) {
        const size_t n = flat<float>(param, "param", true, static_cast<size_t>(-1), "");
        flat<float>(grad, "grad", true, n, "param");
        finite_param(lr, "lr", true);
        finite_param(momentum, "momentum", true);
        finite_param(weight_decay, "weight_decay", true);
        if (nesterov && momentum == 0.f) throw py::value_error("nesterov needs momentum > 0");
        float* vp = nullptr;
        if (momentum != 0.f) {
          if (!velocity) throw py::value_error("velocity is required when momentum != 0");
          flat<float>(*velocity, "velocity", true, n, "param");
          vp = static_cast<float*>(velocity->mutable_data());
          no_overlap(*velocity, "velocity", param, "param");
          no_overlap(*velocity, "velocity", grad, "grad");
        }
        no_overlap(grad, "grad", param, "param");
        const uint8_t* mp = mask_of(mask, n, "param");
        SgdArgs args;
        args.lr = lr;
        args.momentum = momentum;
        args.nesterov = nesterov;
        args.weight_decay = weight_decay;
        auto* pp = static_cast<float*>(param.mutable_data());
        auto* gp = static_cast<float*>(grad.mutable_data());
        py::gil_scoped_release nogil;
        sgd_update(n, pp, gp, vp, mp, args);
      },
      py::arg("param").noconvert(), py::arg("grad").noconvert(), py::arg("velocity").noconvert(),
      py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("nesterov") = false,
      py::arg("weight_decay") = 0.0f, py::arg("mask").noconvert() = py::none(),
      "torch.optim.SGD's step in place (velocity: None when momentum == 0).");

  m.def(
      "adam_update",
      [](py::array& param, py::array& grad, py::array& m1, py::array& v2, double lr, double beta1,
         double beta2, double eps, double weight_decay, bool decoupled, int64_t step, const OptArray& mask) {
        const size_t n = flat<float>(param, "param", true, static_cast<size_t>(-1), "");
        flat<float>(grad, "grad", true, n, "param");
        flat<float>(m1, "m", true, n, "param");
        flat<float>(v2, "v", true, n, "param");
        finite_param(lr, "lr", true);
        finite_param(eps, "eps", true);
        finite_param(weight_decay, "weight_decay", true);
        if (!(beta1 >= 0 && beta1 < 1)) throw py::value_error("beta1 must be in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) throw py::value_error("beta2 must be in [0, 1)");
        if (step < 1) throw py::value_error("step is 1-based, got " + std::to_string(step));
        const py::array* arrays[] = {&param, &grad, &m1, &v2};
        const char* names[] = {"param", "grad", "m", "v"};
        for (int i = 0; i < 4; ++i) {
          for (int j = 0; j < i; ++j) no_overlap(*arrays[i], names[i], *arrays[j], names[j]);
        }
        const uint8_t* mp = mask_of(mask, n, "param");
        AdamArgs args;
        args.lr = lr;
        args.beta1 = beta1;
        args.beta2 = beta2;
        args.eps = eps;
        args.weight_decay = weight_decay;
        args.decoupled = decoupled;
        args.step = step;
        auto* pp = static_cast<float*>(param.mutable_data());
        auto* gp = static_cast<float*>(grad.mutable_data());
        auto* mptr = static_cast<float*>(m1.mutable_data());
        auto* vptr = static_cast<float*>(v2.mutable_data());
        py::gil_scoped_release nogil;
        adam_update(n, pp, gp, mptr, vptr, mp, args);
      },
      py::arg("param").noconvert(), py::arg("grad").noconvert(), py::arg("m").noconvert(),
      py::arg("v").noconvert(), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("decoupled") = false, py::arg("step"),
      py::arg("mask").noconvert() = py::none(),
      "torch.optim.Adam (decoupled=False) / AdamW (decoupled=True) step in place; step is 1-based.");
}

}  // namespace fnn
