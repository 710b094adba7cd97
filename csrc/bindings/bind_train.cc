// Training kernels (frugalnn.train calls them): argument checks and conversions only. Every
// array is checked for dtype (TypeError), ndim, shape, C-contiguity, writability and overlap
// (ValueError), naming the argument, before native code runs with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/bindings.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/gemm/gemm_general.h"
#include "runtime/parallel.h"
#include "runtime/steps/conv2d.h"
#include "runtime/steps/pool2d.h"
#include "train/fake_quant.h"
#include "train/optimizer_update.h"

namespace py = pybind11;

namespace fnn {
namespace {

using Pair = std::pair<int64_t, int64_t>;
using Quad = std::tuple<int64_t, int64_t, int64_t, int64_t>;
using OptArray = std::optional<py::array>;

constexpr int64_t kMaxDim = int64_t{1} << 24;  // as check_program's cap on conv geometry

// A shape without the heap: the training step calls these bindings every batch and must
// allocate nothing (tests/train/test_trainer.py counts it).
struct Dims {
  static constexpr size_t kMax = 8;
  size_t d[kMax] = {};
  size_t n = 0;
  Dims() = default;
  Dims(std::initializer_list<size_t> l) {
    for (size_t v : l) d[n++] = v;
  }
  size_t size() const { return n; }
  size_t operator[](size_t i) const { return d[i]; }
  bool operator!=(const Dims& o) const {
    if (n != o.n) return true;
    for (size_t i = 0; i < n; ++i) {
      if (d[i] != o.d[i]) return true;
    }
    return false;
  }
};

std::string shape_str(const Dims& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

Dims shape_of(const py::array& a) {
  Dims s;
  s.n = std::min(static_cast<size_t>(a.ndim()), Dims::kMax);
  for (size_t i = 0; i < s.n; ++i) s.d[i] = static_cast<size_t>(a.shape(static_cast<py::ssize_t>(i)));
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
const T* in(const py::array& a, const char* name, const Dims& shape) {
  check_array<T>(a, name, static_cast<py::ssize_t>(shape.size()), false);
  if (shape_of(a) != shape) {
    throw py::value_error(std::string(name) + " has shape " + shape_str(shape_of(a)) + ", expected " +
                          shape_str(shape));
  }
  return static_cast<const T*>(a.data());
}

template <typename T>
T* out(py::array& a, const char* name, const Dims& shape) {
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
  const Dims xs = shape_of(x), ws = shape_of(w);
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
  const Dims xs = shape_of(x_or_dx);
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

// What a layer's training calls keep from call to call: pybind11 dispatches a call of at most
// six arguments without touching the heap, so the per-layer constants travel in one object.
struct ConvTrainGeometry {
  Pair stride{1, 1}, dilation{1, 1};
  Quad pads{0, 0, 0, 0};
  int64_t groups = 1;
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
};

struct PoolTrainGeometry {
  Pair kernel{1, 1}, stride{1, 1}, padding{0, 0};
  // max pool backward: the clamp of an activation before the pool, its backward fused
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
};

struct SgdConfig {
  float lr = 0.f, momentum = 0.f, weight_decay = 0.f;
  bool nesterov = false;
};

struct AdamConfig {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;
  int64_t step = 1;
};

// dx = f(y, dy) element-wise over flat arrays of one size (dx may be dy), on the pool's
// threads: kernel(n, y, dy, dx) on each chunk.
template <typename Kernel>
void eltwise_backward(const py::array& y, const py::array& dy, py::array& dx, const Kernel& kernel) {
  const size_t n = flat<float>(y, "y", false, static_cast<size_t>(-1), "");
  flat<float>(dy, "dy", false, n, "y");
  flat<float>(dx, "dx", true, n, "y");
  if (dx.data() != dy.data()) no_overlap(dx, "dx", dy, "dy");
  no_overlap(dx, "dx", y, "y");
  const auto* yp = static_cast<const float*>(y.data());
  const auto* dyp = static_cast<const float*>(dy.data());
  auto* dxp = static_cast<float*>(dx.mutable_data());
  py::gil_scoped_release nogil;
  parallel_ranges(n, size_t{1} << 16, get_num_threads(),
                  [&](size_t b, size_t e) { kernel(e - b, yp + b, dyp + b, dxp + b); });
}

// A channels-last tensor (..., C) seen as (rows, C).
struct Rows {
  size_t rows = 0, c = 0;
};

Rows rows_of(const py::array& a, const char* name) {
  check_array<float>(a, name, -1, false);
  if (a.ndim() < 1) throw py::value_error(std::string(name) + " needs at least one axis (the channels)");
  Rows r;
  r.c = static_cast<size_t>(a.shape(a.ndim() - 1));
  r.rows = r.c == 0 ? 0 : static_cast<size_t>(a.size()) / r.c;
  return r;
}

// pool(x, y, geometry): y = the pool of x (max / average).
void def_pool_forward(py::module_& m, const char* name,
                      void (*pool)(const Pool2dGeometry&, const float*, float*), const char* doc) {
  m.def(
      name,
      [pool](const py::array& x, py::array& y, const PoolTrainGeometry& geo) {
        const Pool2dGeometry g = pool_geometry(x, "x", geo.kernel, geo.stride, geo.padding);
        float* yp = out<float>(y, "y", {g.n, g.oh, g.ow, g.c});
        no_overlap(y, "y", x, "x");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        pool(g, xp, yp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("geometry"), doc);
}

}  // namespace

void bind_train(py::module_& m) {
  const float inf = std::numeric_limits<float>::infinity();
  py::class_<ConvTrainGeometry>(m, "Conv2dTrainGeometry",
                                "A convolution's constants for conv2d_train_forward / conv2d_backward.")
      .def(py::init([](Pair stride, Pair dilation, Quad pads, int64_t groups, float lo, float hi) {
             if (!(lo <= hi)) throw py::value_error("lo must be <= hi");
             if (groups < 1) throw py::value_error("groups must be >= 1");
             return ConvTrainGeometry{stride, dilation, pads, groups, lo, hi};
           }),
           py::kw_only(), py::arg("stride"), py::arg("dilation"), py::arg("pads"), py::arg("groups"),
           py::arg("lo") = -inf, py::arg("hi") = inf)
      .def_readonly("stride", &ConvTrainGeometry::stride)
      .def_readonly("dilation", &ConvTrainGeometry::dilation)
      .def_readonly("pads", &ConvTrainGeometry::pads)
      .def_readonly("groups", &ConvTrainGeometry::groups)
      .def_readonly("lo", &ConvTrainGeometry::lo)
      .def_readonly("hi", &ConvTrainGeometry::hi);
  py::class_<PoolTrainGeometry>(m, "Pool2dTrainGeometry", "A pool's window for the pool training kernels.")
      .def(py::init([](Pair kernel, Pair stride, Pair padding, float lo, float hi) {
             if (!(lo <= hi)) throw py::value_error("lo must be <= hi");
             return PoolTrainGeometry{kernel, stride, padding, lo, hi};
           }),
           py::kw_only(), py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("lo") = -inf,
           py::arg("hi") = inf,
           "lo, hi: maxpool2d_backward passes a gradient only where lo < x < hi (the backward of a "
           "clamp before the pool, fused).")
      .def_readonly("lo", &PoolTrainGeometry::lo)
      .def_readonly("hi", &PoolTrainGeometry::hi)
      .def_readonly("kernel", &PoolTrainGeometry::kernel)
      .def_readonly("stride", &PoolTrainGeometry::stride)
      .def_readonly("padding", &PoolTrainGeometry::padding);
  py::class_<SgdConfig>(m, "SgdConfig", "torch.optim.SGD's hyper-parameters (lr may change per step).")
      .def(py::init([](float lr, float momentum, bool nesterov, float weight_decay) {
             return SgdConfig{lr, momentum, weight_decay, nesterov};
           }),
           py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("nesterov") = false,
           py::arg("weight_decay") = 0.0f)
      .def_readwrite("lr", &SgdConfig::lr)
      .def_readonly("momentum", &SgdConfig::momentum)
      .def_readonly("nesterov", &SgdConfig::nesterov)
      .def_readonly("weight_decay", &SgdConfig::weight_decay);
  py::class_<AdamConfig>(m, "AdamConfig",
                         "torch.optim.Adam / AdamW's hyper-parameters (lr and the 1-based step change).")
      .def(py::init([](double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                       int64_t step) {
             return AdamConfig{lr, beta1, beta2, eps, weight_decay, decoupled, step};
           }),
           py::kw_only(), py::arg("lr"), py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
           py::arg("weight_decay") = 0.0, py::arg("decoupled") = false, py::arg("step") = 1)
      .def_readwrite("lr", &AdamConfig::lr)
      .def_readwrite("step", &AdamConfig::step)
      .def_readonly("beta1", &AdamConfig::beta1)
      .def_readonly("beta2", &AdamConfig::beta2)
      .def_readonly("eps", &AdamConfig::eps)
      .def_readonly("weight_decay", &AdamConfig::weight_decay)
      .def_readonly("decoupled", &AdamConfig::decoupled);

  m.def(
      "sgemm",
      [](const py::array& a, const py::array& b, py::array& c_arr, const std::string& trans,
         bool accumulate, const OptArray& bias) {
        if (trans.size() != 2 || (trans[0] != 'n' && trans[0] != 't') || (trans[1] != 'n' && trans[1] != 't')) {
          throw py::value_error("trans must be 'nn', 'tn', 'nt' or 'tt' (a, then b), got '" + trans + "'");
        }
        const bool trans_a = trans[0] == 't', trans_b = trans[1] == 't';
        check_array<float>(a, "a", 2, false);
        check_array<float>(b, "b", 2, false);
        const Dims as = shape_of(a), bs = shape_of(b);
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
      py::arg("trans") = "nn", py::arg("accumulate") = false, py::arg("bias").noconvert() = py::none(),
      "out (M, N) = op(a) @ op(b) [+ bias], or out += op(a) @ op(b) with accumulate (float32); "
      "trans: 'nn', 'tn' (a transposed), 'nt' (b transposed) or 'tt'.");

  m.def(
      "conv2d_train_forward",
      [](const py::array& x, const py::array& w, const OptArray& bias, py::array& y,
         const ConvTrainGeometry& geo) {
        Conv2dGeometry g = conv_geometry(x, w, geo.stride, geo.dilation, geo.pads, geo.groups);
        const float lo = geo.lo, hi = geo.hi;
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
      py::arg("y").noconvert(), py::arg("geometry"),
      "y (N, OH, OW, O) = conv(x (N, H, W, C), w (O, kh, kw, C // groups)) + bias, clamped to "
      "[lo, hi]. pads: (top, left, bottom, right).");

  m.def(
      "conv2d_backward",
      [](const py::array& x, const py::array& w, const py::array& dy, OptArray& dx, py::array& dw,
         const ConvTrainGeometry& geo) {
        Conv2dGeometry g = conv_geometry(x, w, geo.stride, geo.dilation, geo.pads, geo.groups);
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.oc});
        float* dxp = dx ? out<float>(*dx, "dx", {g.n, g.h, g.w, g.c}) : nullptr;
        float* dwp = out<float>(dw, "dw", shape_of(w));
        std::pair<const py::array*, const char*> outs[3] = {{&dw, "dw"}};
        size_t n_outs = 1;
        if (dx) outs[n_outs++] = {&*dx, "dx"};
        for (size_t i = 0; i < n_outs; ++i) {
          no_overlap(*outs[i].first, outs[i].second, x, "x");
          no_overlap(*outs[i].first, outs[i].second, w, "w");
          no_overlap(*outs[i].first, outs[i].second, dy, "dy");
          for (size_t j = 0; j < i; ++j) no_overlap(*outs[i].first, outs[i].second, *outs[j].first, outs[j].second);
        }
        const auto* xp = static_cast<const float*>(x.data());
        const auto* wp = static_cast<const float*>(w.data());
        py::gil_scoped_release nogil;
        conv2d_backward(g, xp, wp, dyp, dxp, dwp, nullptr);
      },
      py::arg("x").noconvert(), py::arg("w").noconvert(), py::arg("dy").noconvert(),
      py::arg("dx").noconvert(), py::arg("dw").noconvert(), py::arg("geometry"),
      "Gradients of conv2d_train_forward from dy (before the activation): dx (or None: skipped) "
      "and dw overwritten (the bias gradient: bias_backward).");

  m.def(
      "bias_backward",
      [](const py::array& dy, py::array& db) {
        check_array<float>(dy, "dy", -1, false);
        if (dy.ndim() < 1) throw py::value_error("dy must have at least one dimension");
        const size_t c = static_cast<size_t>(dy.shape(dy.ndim() - 1));
        float* dbp = out<float>(db, "db", {c});
        no_overlap(db, "db", dy, "dy");
        const size_t rows = c == 0 ? 0 : static_cast<size_t>(dy.size()) / c;
        const auto* dyp = static_cast<const float*>(dy.data());
        py::gil_scoped_release nogil;
        sum_rows_nhwc(rows, c, dyp, dbp);
      },
      py::arg("dy").noconvert(), py::arg("db").noconvert(),
      "db (C,) overwritten with the sum of dy (..., C) over every axis but the last (in double).");

  def_pool_forward(m, "maxpool2d_train_forward", &maxpool2d_train_forward, "Max over each window.");

  m.def(
      "maxpool2d_backward",
      [](const py::array& x, const py::array& y, const py::array& dy, py::array& dx,
         const PoolTrainGeometry& geo) {
        const Pool2dGeometry g = pool_geometry(x, "x", geo.kernel, geo.stride, geo.padding);
        const float* yp = in<float>(y, "y", {g.n, g.oh, g.ow, g.c});
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.c});
        float* dxp = out<float>(dx, "dx", {g.n, g.h, g.w, g.c});
        no_overlap(dx, "dx", x, "x");
        no_overlap(dx, "dx", y, "y");
        no_overlap(dx, "dx", dy, "dy");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        maxpool2d_backward(g, xp, yp, dyp, dxp, geo.lo, geo.hi);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("dy").noconvert(),
      py::arg("dx").noconvert(), py::arg("geometry"),
      "dx overwritten: each window's dy goes to the first position (row-major) where x equals y.");

  def_pool_forward(m, "avgpool2d_train_forward", &avgpool2d_train_forward,
                   "Mean over the real inputs of each window.");

  m.def(
      "avgpool2d_backward",
      [](const py::array& dy, py::array& dx, const PoolTrainGeometry& geo) {
        const Pool2dGeometry g = pool_geometry(dx, "dx", geo.kernel, geo.stride, geo.padding);
        const float* dyp = in<float>(dy, "dy", {g.n, g.oh, g.ow, g.c});
        float* dxp = out<float>(dx, "dx", {g.n, g.h, g.w, g.c});
        no_overlap(dx, "dx", dy, "dy");
        py::gil_scoped_release nogil;
        avgpool2d_backward(g, dyp, dxp);
      },
      py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::arg("geometry"), "dx overwritten (count_include_pad=False).");

  m.def(
      "clip_backward",
      [](const py::array& y, const py::array& dy, py::array& dx, float lo, float hi) {
        eltwise_backward(y, dy, dx, [lo, hi](size_t n, const float* yp, const float* dyp, float* dxp) {
          clamp_backward_f32(n, yp, dyp, dxp, lo, hi);
        });
      },
      py::arg("y").noconvert(), py::arg("dy").noconvert(), py::arg("dx").noconvert(), py::arg("lo"),
      py::arg("hi"), "dx = dy where lo < y < hi, else 0 (y: the clip's output; dx may be dy).");

  m.def(
      "fake_quant_u8",
      [](const py::array& x, py::array& y, OptArray& keep, float scale, int64_t zero_point) {
        const size_t n = flat<float>(x, "x", false, static_cast<size_t>(-1), "");
        flat<float>(y, "y", true, n, "x");
        if (!(std::isfinite(scale) && scale > 0.f)) {
          throw py::value_error("scale must be positive and finite, got " + std::to_string(scale));
        }
        if (zero_point < 0 || zero_point > 255) {
          throw py::value_error("zero_point must be in [0, 255], got " + std::to_string(zero_point));
        }
        if (y.data() != x.data()) no_overlap(y, "y", x, "x");
        uint8_t* kp = nullptr;
        if (keep) {
          flat<uint8_t>(*keep, "keep", true, n, "x");
          no_overlap(*keep, "keep", x, "x");
          no_overlap(*keep, "keep", y, "y");
          kp = static_cast<uint8_t*>(keep->mutable_data());
        }
        const auto* xp = static_cast<const float*>(x.data());
        auto* yp = static_cast<float*>(y.mutable_data());
        py::gil_scoped_release nogil;
        fake_quant_u8_f32(n, xp, scale, static_cast<int32_t>(zero_point), yp, kp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), py::arg("keep").noconvert(), py::arg("scale"),
      py::arg("zero_point"),
      "y = (clamp(round(x / scale) + zero_point, 0, 255) - zero_point) * scale (round half to even: "
      "u8 quantize then dequantize); keep (uint8, optional) = 1 where round(x / scale) + zero_point was "
      "inside [0, 255] (the straight-through estimator's mask), else 0. Any shape; y may be x.");

  m.def(
      "fake_quant_s8",
      [](const py::array& w, py::array& wq, bool per_channel) {
        check_array<float>(w, "w", -1, false);
        if (w.ndim() < 1) throw py::value_error("w needs at least one axis (the output channels)");
        const size_t n = flat<float>(w, "w", false, static_cast<size_t>(-1), "");
        flat<float>(wq, "wq", true, n, "w");
        if (wq.data() != w.data()) no_overlap(wq, "wq", w, "w");
        const auto rows = static_cast<size_t>(w.shape(0));
        const size_t cols = rows == 0 ? 0 : n / rows;
        const auto* wp = static_cast<const float*>(w.data());
        auto* qp = static_cast<float*>(wq.mutable_data());
        py::gil_scoped_release nogil;
        fake_quant_s8_f32(rows, cols, wp, !per_channel, qp);
      },
      py::arg("w").noconvert(), py::arg("wq").noconvert(), py::arg("per_channel") = true,
      "wq = w quantized to s8 symmetric and back: scale = max|w| / 127 per output channel (axis 0; "
      "per_channel=False: over all of w; 1 where all zero), wq = clamp(round(w / scale), -127, 127) * "
      "scale (round half to even). wq may be w.");

  m.def(
      "dropout_mask",
      [](py::array& keep, double rate, uint64_t seed) {
        const size_t n = flat<uint8_t>(keep, "keep", true, static_cast<size_t>(-1), "");
        if (!(rate >= 0.0 && rate < 1.0)) throw py::value_error("rate must be in [0, 1)");
        auto* kp = static_cast<uint8_t*>(keep.mutable_data());
        py::gil_scoped_release nogil;
        parallel_ranges(n, size_t{1} << 16, get_num_threads(), [&](size_t b, size_t e) {
          dropout_mask(e - b, seed, static_cast<float>(rate), kp + b, b);
        });
      },
      py::arg("keep").noconvert(), py::arg("rate"), py::arg("seed"),
      "keep (uint8, any shape) = 1 with probability 1 - rate, else 0: a counter-based hash of (seed, "
      "index), the same for a seed whatever the threads.");

  m.def(
      "mask_scale",
      [](const py::array& x, const py::array& keep, float scale, py::array& y) {
        const size_t n = flat<float>(x, "x", false, static_cast<size_t>(-1), "");
        flat<uint8_t>(keep, "keep", false, n, "x");
        flat<float>(y, "y", true, n, "x");
        if (y.data() != x.data()) no_overlap(y, "y", x, "x");
        no_overlap(y, "y", keep, "keep");
        const auto* xp = static_cast<const float*>(x.data());
        const auto* kp = static_cast<const uint8_t*>(keep.data());
        auto* yp = static_cast<float*>(y.mutable_data());
        py::gil_scoped_release nogil;
        parallel_ranges(n, size_t{1} << 16, get_num_threads(), [&](size_t b, size_t e) {
          mask_scale_f32(e - b, xp + b, kp + b, scale, yp + b);
        });
      },
      py::arg("x").noconvert(), py::arg("keep").noconvert(), py::arg("scale"), py::arg("y").noconvert(),
      "y = x * scale where keep, else 0 (Dropout's forward and backward; y may be x).");

  m.def(
      "channel_scale_shift",
      [](const py::array& x, const py::array& scale, const py::array& shift, py::array& y) {
        const Rows r = rows_of(x, "x");
        const float* sp = in<float>(scale, "scale", {r.c});
        const float* hp = in<float>(shift, "shift", {r.c});
        float* yp = out<float>(y, "y", shape_of(x));
        if (y.data() != x.data()) no_overlap(y, "y", x, "x");
        no_overlap(y, "y", scale, "scale");
        no_overlap(y, "y", shift, "shift");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        parallel_ranges(r.rows, 1024, get_num_threads(), [&](size_t b, size_t e) {
          scale_shift_channels_f32(e - b, r.c, xp + b * r.c, sp, hp, yp + b * r.c);
        });
      },
      py::arg("x").noconvert(), py::arg("scale").noconvert(), py::arg("shift").noconvert(),
      py::arg("y").noconvert(), "y = x * scale + shift along the last axis (C values each; y may be x).");

  m.def(
      "channel_moments",
      [](const py::array& x, py::array& mean, py::array& var) {
        const Rows r = rows_of(x, "x");
        float* mp = out<float>(mean, "mean", {r.c});
        float* vp = out<float>(var, "var", {r.c});
        no_overlap(mean, "mean", x, "x");
        no_overlap(var, "var", x, "x");
        no_overlap(var, "var", mean, "mean");
        const auto* xp = static_cast<const float*>(x.data());
        py::gil_scoped_release nogil;
        channel_moments_f32(r.rows, r.c, xp, mp, vp);
      },
      py::arg("x").noconvert(), py::arg("mean").noconvert(), py::arg("var").noconvert(),
      "Per-channel mean and biased variance of x (..., C) over every other axis (in double).");

  m.def(
      "channel_dot",
      [](const py::array& a, const py::array& b, py::array& sum_a, py::array& sum_ab) {
        const Rows r = rows_of(a, "a");
        const float* bp = in<float>(b, "b", shape_of(a));
        float* sap = out<float>(sum_a, "sum_a", {r.c});
        float* sabp = out<float>(sum_ab, "sum_ab", {r.c});
        for (const py::array* o : {&sum_a, &sum_ab}) {
          no_overlap(*o, "an output", a, "a");
          no_overlap(*o, "an output", b, "b");
        }
        no_overlap(sum_a, "sum_a", sum_ab, "sum_ab");
        const auto* ap = static_cast<const float*>(a.data());
        py::gil_scoped_release nogil;
        channel_dot_f32(r.rows, r.c, ap, bp, sap, sabp);
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("sum_a").noconvert(),
      py::arg("sum_ab").noconvert(), "Per channel: sum(a) and sum(a * b) over every other axis (in double).");

  m.def(
      "channel_affine2",
      [](const py::array& a, const py::array& b, const py::array& k, py::array& y) {
        const Rows r = rows_of(a, "a");
        const float* bp = in<float>(b, "b", shape_of(a));
        const float* kp = in<float>(k, "k", {3, r.c});
        float* yp = out<float>(y, "y", shape_of(a));
        if (y.data() != a.data()) no_overlap(y, "y", a, "a");
        if (y.data() != b.data()) no_overlap(y, "y", b, "b");
        no_overlap(y, "y", k, "k");
        const auto* ap = static_cast<const float*>(a.data());
        py::gil_scoped_release nogil;
        parallel_ranges(r.rows, 1024, get_num_threads(), [&](size_t b0, size_t e) {
          channel_affine2_f32(e - b0, r.c, ap + b0 * r.c, bp + b0 * r.c, kp, yp + b0 * r.c);
        });
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("k").noconvert(), py::arg("y").noconvert(),
      "y = a * k[0] + b * k[1] + k[2] along the last axis (k: 3 x C; y may be a or b).");

  m.def(
      "global_avgpool_forward",
      [](const py::array& x, py::array& y) {
        check_array<float>(x, "x", 4, false);
        const Dims xs = shape_of(x);
        float* yp = out<float>(y, "y", {xs[0], xs[3]});
        no_overlap(y, "y", x, "x");
        const auto* xp = static_cast<const float*>(x.data());
        if (xs[1] * xs[2] == 0) throw py::value_error("x has no pixels");
        py::gil_scoped_release nogil;
        parallel_ranges(xs[0], 1, get_num_threads(), [&](size_t b, size_t e) {
          global_avgpool_nhwc(e - b, xs[1] * xs[2], xs[3], xp + b * xs[1] * xs[2] * xs[3], yp + b * xs[3]);
        });
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), "y (N, C) = the mean of x (N, H, W, C) over H and W.");

  m.def(
      "global_avgpool_backward",
      [](const py::array& dy, py::array& dx) {
        check_array<float>(dx, "dx", 4, true);
        const Dims xs = shape_of(dx);
        const float* dyp = in<float>(dy, "dy", {xs[0], xs[3]});
        no_overlap(dx, "dx", dy, "dy");
        auto* dxp = static_cast<float*>(dx.mutable_data());
        if (xs[1] * xs[2] == 0) throw py::value_error("dx has no pixels");
        py::gil_scoped_release nogil;
        parallel_ranges(xs[0], 1, get_num_threads(), [&](size_t b, size_t e) {
          global_avgpool_backward_nhwc(xs[1] * xs[2], xs[3], dyp, dxp, b, e);
        });
      },
      py::arg("dy").noconvert(), py::arg("dx").noconvert(), "dx (N, H, W, C) = dy (N, C) / (H * W) at every pixel.");

  m.def(
      "softmax_forward",
      [](const py::array& x, py::array& y) {
        check_array<float>(x, "x", 2, false);
        const Dims xs = shape_of(x);
        float* yp = out<float>(y, "y", xs);
        if (x.data() != y.data()) no_overlap(y, "y", x, "x");
        const auto* xp = static_cast<const float*>(x.data());
        if (xs[1] == 0) return;
        py::gil_scoped_release nogil;
        softmax_rows_f32(xs[0], xs[1], xp, yp);
      },
      py::arg("x").noconvert(), py::arg("y").noconvert(), "y = softmax(x) along axis 1 (y may be x).");

  m.def(
      "softmax_backward",
      [](const py::array& y, const py::array& dy, py::array& dx) {
        check_array<float>(y, "y", 2, false);
        const Dims ys = shape_of(y);
        const float* dyp = in<float>(dy, "dy", ys);
        float* dxp = out<float>(dx, "dx", ys);
        if (dx.data() != dy.data()) no_overlap(dx, "dx", dy, "dy");
        no_overlap(dx, "dx", y, "y");
        const auto* yp = static_cast<const float*>(y.data());
        py::gil_scoped_release nogil;
        softmax_backward_f32(ys[0], ys[1], yp, dyp, dxp);
      },
      py::arg("y").noconvert(), py::arg("dy").noconvert(), py::arg("dx").noconvert(),
      "dx = y * (dy - sum(dy * y)) per row (y: the softmax's output; dx may be dy).");

  m.def(
      "softmax_cross_entropy",
      [](const py::array& z, const py::array& labels, py::array& dz, double scale) {
        check_array<float>(z, "z", 2, false);
        const Dims zs = shape_of(z);
        const auto* lp = in<int64_t>(labels, "labels", {zs[0]});
        float* dzp = out<float>(dz, "dz", zs);
        no_overlap(dz, "dz", z, "z");
        no_overlap(dz, "dz", labels, "labels");
        if (zs[0] == 0) return 0.0;
        if (zs[1] == 0) throw py::value_error("z has no classes");
        for (size_t r = 0; r < zs[0]; ++r) {
          if (lp[r] < 0 || static_cast<size_t>(lp[r]) >= zs[1]) {
            throw py::value_error("labels[" + std::to_string(r) + "] = " + std::to_string(lp[r]) +
                                  " is not a class index in [0, " + std::to_string(zs[1]) + ")");
          }
        }
        if (!std::isfinite(scale)) throw py::value_error("scale must be finite");
        const auto* zp = static_cast<const float*>(z.data());
        double total;
        {
          py::gil_scoped_release nogil;
          total = softmax_cross_entropy_f32(zs[0], zs[1], zp, lp, dzp, static_cast<float>(scale / zs[0]));
        }
        return total / static_cast<double>(zs[0]);
      },
      py::arg("z").noconvert(), py::arg("labels").noconvert(), py::arg("dz").noconvert(), py::arg("scale") = 1.0,
      "Mean softmax cross-entropy of logits z (N, K) and int64 labels (N,); dz = scale * (softmax(z) - "
      "onehot) / N. Raises ValueError for a label outside [0, K).");

  m.def(
      "sigmoid_backward",
      [](const py::array& y, const py::array& dy, py::array& dx) {
        eltwise_backward(y, dy, dx, sigmoid_backward_f32);
      },
      py::arg("y").noconvert(), py::arg("dy").noconvert(), py::arg("dx").noconvert(),
      "dx = dy * (1 - y) * y (y: the sigmoid's output; dx may be dy).");

  m.def(
      "sgd_update",
      [](py::array& param, py::array& grad, OptArray& velocity, const OptArray& mask, const SgdConfig& cfg) {
        const float lr = cfg.lr, momentum = cfg.momentum, weight_decay = cfg.weight_decay;
        const bool nesterov = cfg.nesterov;
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
      py::arg("mask").noconvert(), py::arg("config"),
      "torch.optim.SGD's step in place (velocity: None when momentum == 0).");

  m.def(
      "adam_update",
      [](py::array& param, py::array& grad, py::array& m1, py::array& v2, const OptArray& mask,
         const AdamConfig& cfg) {
        const double lr = cfg.lr, beta1 = cfg.beta1, beta2 = cfg.beta2, eps = cfg.eps,
                     weight_decay = cfg.weight_decay;
        const bool decoupled = cfg.decoupled;
        const int64_t step = cfg.step;
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
      py::arg("v").noconvert(), py::arg("mask").noconvert(), py::arg("config"),
      "torch.optim.Adam (decoupled=False) / AdamW (decoupled=True) step in place; step is 1-based.");
}

}  // namespace fnn
