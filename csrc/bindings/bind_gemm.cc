// GEMM bindings: dtype / shape / contiguity checks (the Python layer checks first and words
// the errors; these are the last line), pointer extraction, the GIL released for compute.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings/array_checks.h"
#include "bindings/bindings.h"
#include "kernels/gemm/gemm.h"
#include "memory/scratch.h"
#include "runtime/thread_pool.h"

namespace py = pybind11;

namespace fnn {
namespace {

WeightKind parse_kind(const std::string& kind) {
  if (kind == "f32") return WeightKind::kF32;
  if (kind == "f16") return WeightKind::kF16;
  if (kind == "bf16") return WeightKind::kBf16;
  if (kind == "int8") return WeightKind::kInt8;
  if (kind == "codebook") throw py::value_error("codebook weights are packed by pack_codebook");
  throw py::value_error("kind must be one of 'f32', 'f16', 'bf16', 'int8', got '" + kind + "'");
}

size_t rows_of(const py::array& a, const PackedWeights& w) {
  if (static_cast<size_t>(a.shape(1)) != w.k()) {
    throw py::value_error("a has " + std::to_string(a.shape(1)) + " columns but the weights have K = " +
                          std::to_string(w.k()));
  }
  return static_cast<size_t>(a.shape(0));
}

}  // namespace

void bind_gemm(py::module_& m) {
  py::class_<PackedWeights, std::shared_ptr<PackedWeights>>(
      m, "PackedWeights", "Weights packed once into the GEMM micro-kernels' layout (native).")
      .def_property_readonly("kind", [](const PackedWeights& w) { return weight_kind_name(w.kind()); })
      .def_property_readonly("k", &PackedWeights::k)
      .def_property_readonly("n", &PackedWeights::n)
      .def_property_readonly("nbytes", &PackedWeights::nbytes)
      .def_property_readonly("has_bias", &PackedWeights::has_bias)
      .def_property_readonly("codebook_bits", [](const PackedWeights& w) -> std::optional<uint32_t> {
        if (w.kind() != WeightKind::kCodebook) return std::nullopt;
        return w.codebook_bits();
      }, "Index bits of codebook weights, else None.")
      .def_property_readonly("per_channel", &PackedWeights::per_channel,
                             "Codebook weights with one table per output column.")
      .def(
          "unpack",
          [](const PackedWeights& w) -> py::array {
            if (w.kind() == WeightKind::kInt8) {
              auto v = w.unpack_int8();
              py::array_t<int8_t> out({w.k(), w.n()});
              std::copy(v.begin(), v.end(), out.mutable_data());
              return std::move(out);
            }
            auto v = w.unpack_float();
            py::array_t<float> out({w.k(), w.n()});
            std::copy(v.begin(), v.end(), out.mutable_data());
            return std::move(out);
          },
          "The stored K x N weights (f32 for the float kinds, after their rounding).")
      .def(
          "scales",
          [](const PackedWeights& w) -> std::optional<py::array_t<float>> {
            if (w.kind() != WeightKind::kInt8) return std::nullopt;
            py::array_t<float> out(static_cast<py::ssize_t>(w.n()));
            std::copy(w.w_scale(), w.w_scale() + w.n(), out.mutable_data());
            return out;
          },
          "Per-output-channel weight scales (int8 only).")
      .def(
          "bias",
          [](const PackedWeights& w) -> std::optional<py::array_t<float>> {
            if (!w.has_bias()) return std::nullopt;
            py::array_t<float> out(static_cast<py::ssize_t>(w.n()));
            std::copy(w.bias(), w.bias() + w.n(), out.mutable_data());
            return out;
          });

  m.def(
      "pack_weights",
      [](const py::array& w, const std::string& kind, const std::optional<py::array>& bias,
         const std::optional<py::array>& scales, const std::shared_ptr<Pool>& pool) {
        const WeightKind k = parse_kind(kind);
        const float* b = bias ? checked<float>(*bias, "bias", 1) : nullptr;
        if (b != nullptr && static_cast<size_t>(bias->shape(0)) != static_cast<size_t>(w.shape(1))) {
          throw py::value_error("bias must have N elements");
        }
        std::shared_ptr<PackedWeights> out;
        if (k == WeightKind::kInt8) {
          const int8_t* wp = checked<int8_t>(w, "w", 2);
          if (!scales) throw py::value_error("int8 weights need scales");
          const float* s = checked<float>(*scales, "scales", 1);
          const auto ns = static_cast<size_t>(scales->shape(0));
          const auto kk = static_cast<size_t>(w.shape(0)), nn = static_cast<size_t>(w.shape(1));
          py::gil_scoped_release nogil;
          out = PackedWeights::pack_int8(wp, kk, nn, s, ns, b, pool);
        } else {
          const float* wp = checked<float>(w, "w", 2);
          const auto kk = static_cast<size_t>(w.shape(0)), nn = static_cast<size_t>(w.shape(1));
          py::gil_scoped_release nogil;
          out = PackedWeights::pack_float(k, wp, kk, nn, b, pool);
        }
        return out;
      },
      py::arg("w"), py::arg("kind"), py::arg("bias"), py::arg("scales"), py::arg("pool"),
      "Pack K x N weights (checked by frugalnn.ops.pack_weights).");

  m.def(
      "pack_codebook",
      [](const py::array& idx, uint32_t bits, const py::array& centroids, bool per_channel,
         const std::optional<py::array>& bias, const std::shared_ptr<Pool>& pool) {
        const uint8_t* ip = checked<uint8_t>(idx, "indices", 2);
        const float* cp = checked<float>(centroids, "centroids", 2);
        const auto kk = static_cast<size_t>(idx.shape(0)), nn = static_cast<size_t>(idx.shape(1));
        if (bits < PackedWeights::kMinCodebookBits || bits > PackedWeights::kMaxCodebookBits) {
          throw py::value_error("bits must be in 2..8, got " + std::to_string(bits));
        }
        if (static_cast<size_t>(centroids.shape(0)) != (per_channel ? nn : 1) ||
            static_cast<size_t>(centroids.shape(1)) != (size_t{1} << bits)) {
          throw py::value_error("centroids must be (1 or N, 2^bits)");
        }
        const float* b = bias ? checked<float>(*bias, "bias", 1) : nullptr;
        if (b != nullptr && static_cast<size_t>(bias->shape(0)) != nn) {
          throw py::value_error("bias must have N elements");
        }
        if (kk == 0 || nn == 0) throw py::value_error("indices must be non-empty");
        std::shared_ptr<PackedWeights> out;
        try {
          py::gil_scoped_release nogil;
          out = PackedWeights::pack_codebook(ip, kk, nn, bits, cp, per_channel, b, pool);
        } catch (const std::invalid_argument& e) {
          throw py::value_error(e.what());
        }
        return out;
      },
      py::arg("indices"), py::arg("bits"), py::arg("centroids"), py::arg("per_channel"), py::arg("bias"),
      py::arg("pool"), "Pack K x N codebook indices (checked by frugalnn.ops.pack_codebook).");

  m.def(
      "matmul",
      [](const py::array& a, const PackedWeights& w, py::array& out, float min, float max,
         bool bf16_compute) {
        if (w.kind() == WeightKind::kInt8) throw py::value_error("int8 weights need qmatmul");
        const float* ap = checked<float>(a, "a", 2);
        const size_t m = rows_of(a, w);
        float* cp = checked_out<float>(out, "out", m, w.n());
        py::gil_scoped_release nogil;
        gemm_float(ap, m, w.k(), w, cp, w.n(), Activation{min, max}, bf16_compute);
      },
      py::arg("a"), py::arg("w"), py::arg("out"), py::arg("min"), py::arg("max"),
      py::arg("bf16_compute"));

  m.def(
      "qmatmul",
      [](const py::array& a, const PackedWeights& w, py::array& out, float a_scale,
         int32_t a_zero_point, const std::string& output, float out_scale,
         int32_t out_zero_point, bool relu) {
        if (w.kind() != WeightKind::kInt8) throw py::value_error("qmatmul needs int8 weights");
        QuantArgs q;
        q.a_scale = a_scale;
        q.a_zero_point = a_zero_point;
        q.out_scale = out_scale;
        q.out_zero_point = out_zero_point;
        q.relu = relu;
        const void* ap;
        if (a.dtype().equal(py::dtype::of<uint8_t>())) {
          ap = checked<uint8_t>(a, "a", 2);
        } else {
          ap = checked<int8_t>(a, "a", 2);
          q.a_signed = true;
        }
        const size_t m = rows_of(a, w);
        void* cp;
        if (output == "int32") {
          q.output = QOutput::kInt32;
          cp = checked_out<int32_t>(out, "out", m, w.n());
        } else if (output == "f32") {
          q.output = QOutput::kF32;
          cp = checked_out<float>(out, "out", m, w.n());
        } else if (output == "u8") {
          q.output = QOutput::kU8;
          cp = checked_out<uint8_t>(out, "out", m, w.n());
        } else {
          throw py::value_error("output must be 'int32', 'f32' or 'u8'");
        }
        py::gil_scoped_release nogil;
        gemm_int8(ap, m, w.k(), w, cp, w.n(), q);
      },
      py::arg("a"), py::arg("w"), py::arg("out"), py::arg("a_scale"), py::arg("a_zero_point"),
      py::arg("output"), py::arg("out_scale"), py::arg("out_zero_point"), py::arg("relu"));

  m.def(
      "qmatmul_dynamic",
      [](const py::array& a, const PackedWeights& w, py::array& out, bool relu) {
        if (w.kind() != WeightKind::kInt8) throw py::value_error("qmatmul needs int8 weights");
        const float* ap = checked<float>(a, "a", 2);
        const size_t m = rows_of(a, w);
        float* cp = checked_out<float>(out, "out", m, w.n());
        py::gil_scoped_release nogil;
        gemm_int8_dynamic(ap, m, w.k(), w, cp, w.n(), relu);
      },
      py::arg("a"), py::arg("w"), py::arg("out"), py::arg("relu"));

  m.def(
      "dynamic_quant_params",
      [](const py::array& a) {
        const float* ap = checked<float>(a, "a", 2);
        float scale;
        int32_t zp;
        dynamic_quant_params(ap, a.shape(0), a.shape(1), a.shape(1), &scale, &zp);
        return py::make_tuple(scale, zp);
      },
      py::arg("a"), "(scale, zero_point) of ONNX DynamicQuantizeLinear for a 2-D float32 array.");

  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
        set_num_threads(static_cast<size_t>(n));
      },
      py::arg("n"), "Threads of the library's pool (the caller counts as one).");
  m.def("get_num_threads", [] { return get_num_threads(); });
  m.def(
      "_scratch_pool", [] { return scratch_pool(); },
      "The pool behind kernels' per-call scratch (re-strided A, quantized A, per-call scales).");
}

}  // namespace fnn
