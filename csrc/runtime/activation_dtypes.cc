// Program::assign_activation_dtypes: which planned tensors hold u8 instead of float32.
//
// Between int8 layers a float tensor is pure overhead: the producer converts its int32 sums
// to float, stores 4 bytes per value, and the consumer re-quantizes them (after im2col,
// for a convolution, once per tap). Storing the consumer's u8 directly — requantized in the
// producer's GEMM epilogue — moves a quarter of the bytes and skips both conversions. A
// max-pool commutes with quantization (it is monotone, saturation included), so pooling
// the u8 values gives exactly the u8 of the pooled floats.
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "runtime/program.h"

namespace fnn {
namespace {

// The (scale, zero point) every reader of a tensor wants, or a conflict / a float reader.
struct Want {
  bool any = false;
  bool ok = true;
  float scale = 1.f;
  int32_t zero_point = 0;
  void merge(float s, int32_t zp) {
    if (!ok) return;
    if (any && (s != scale || zp != zero_point)) {
      ok = false;
      return;
    }
    any = true;
    scale = s;
    zero_point = zp;
  }
  bool u8() const { return ok && any; }
};

// qgemm_columns for an int8 depthwise step, from the step's own vectors.
QGemmColumns depthwise_columns(const Step& s, const QuantArgs& q) {
  const size_t c = s.conv.c;
  if (s.w_scale.size() != c || s.weights_s8.size() != s.conv.kh * s.conv.kw * c) {
    throw std::invalid_argument("int8 depthwise '" + s.name + "': weights or scales do not match its channels");
  }
  QGemmColumns cols;
  cols.scale.resize(c);
  cols.bias_i32.resize(c);
  for (size_t j = 0; j < c; ++j) {
    qgemm_column(q, s.w_scale[j], s.bias.empty() ? nullptr : &s.bias[j], &cols.scale[j], &cols.bias_i32[j]);
  }
  return cols;
}

}  // namespace

bool Program::is_int8_gemm(const Step& s) {
  return (s.kind == StepKind::kDense || s.kind == StepKind::kConv) && !s.packed.empty() &&
         s.packed[0]->kind() == WeightKind::kInt8;
}

bool Program::is_int8_layer(const Step& s) {
  return is_int8_gemm(s) || (s.kind == StepKind::kDepthwise && !s.weights_s8.empty());
}

bool Program::reads_u8(const Step& s, size_t k, float* scale, int32_t* zero_point) {
  if (is_int8_layer(s) && k == 0) {
    *scale = s.a_scale;
    *zero_point = s.a_zero_point;
    return true;
  }
  if (k < s.in_scale.size() && k < s.in_zero_point.size()) {
    *scale = s.in_scale[k];
    *zero_point = s.in_zero_point[k];
    return true;
  }
  return false;
}

bool Program::writes_u8(const Step& s) { return is_int8_layer(s) || !s.in_scale.empty(); }

void Program::assign_activation_dtypes() {
  require_open();
  const size_t nt = tensors_.size();
  auto root = [&](int t) { return tensors_[t].alias_of >= 0 ? tensors_[t].alias_of : t; };
  std::vector<Want> want(nt);
  for (size_t i = steps_.size(); i-- > 0;) {
    const Step& s = steps_[i];
    for (size_t k = 0; k < s.in.size(); ++k) {
      const int r = root(s.in[k]);
      Want& w = want[r];
      float scale;
      int32_t zp;
      if (tensors_[r].external) {
        w.ok = false;
      } else if (reads_u8(s, k, &scale, &zp)) {
        w.merge(scale, zp);
      } else if (s.kind == StepKind::kMaxPool && want[root(s.out)].u8()) {
        w.merge(want[root(s.out)].scale, want[root(s.out)].zero_point);
      } else {
        w.ok = false;
      }
    }
  }
  for (const Step& s : steps_) {
    const int r = root(s.out);
    const bool producer_ok =
        writes_u8(s) ||
        (s.kind == StepKind::kMaxPool && tensors_[root(s.in[0])].dtype == DType::kU8);
    if (tensors_[r].dtype == DType::kU8 || !producer_ok || !want[r].u8()) continue;
    tensors_[r].dtype = DType::kU8;
    tensors_[r].scale = want[r].scale;
    tensors_[r].zero_point = want[r].zero_point;
  }
  for (TensorInfo& t : tensors_) {
    if (t.alias_of >= 0) {
      const TensorInfo& r = tensors_[t.alias_of];
      t.dtype = r.dtype;
      t.scale = r.scale;
      t.zero_point = r.zero_point;
    }
  }
  // u8 readers of float tensors: one quantize step per (tensor, parameters), placed before
  // the first step that needs it.
  std::map<std::tuple<int, float, int32_t>, int> quantized;
  std::vector<Step> steps;
  steps.reserve(steps_.size());
  for (Step& s : steps_) {
    for (size_t k = 0; k < s.in.size(); ++k) {
      float scale;
      int32_t zp;
      if (!reads_u8(s, k, &scale, &zp) || tensors_[s.in[k]].dtype != DType::kF32) continue;
      const int src = s.in[k];
      const auto key = std::make_tuple(src, scale, zp);
      auto it = quantized.find(key);
      if (it == quantized.end()) {
        TensorInfo q;
        q.sample_elems = tensors_[src].sample_elems;
        q.dtype = DType::kU8;
        q.scale = scale;
        q.zero_point = zp;
        tensors_.push_back(q);
        const int dst = static_cast<int>(tensors_.size()) - 1;
        Step qs;
        qs.kind = StepKind::kQuantize;
        qs.name = s.name + (s.in.size() > 1 ? ":quantize" + std::to_string(k) : ":quantize");
        qs.in = {src};
        qs.out = dst;
        steps.push_back(std::move(qs));
        it = quantized.emplace(key, dst).first;
      }
      s.in[k] = it->second;
    }
    steps.push_back(std::move(s));
  }
  steps_ = std::move(steps);
  // The output stage of each int8 layer: requantized u8 with its output tensor's parameters,
  // or f32. Either way ReLU (lo == 0) is fused in the epilogue.
  for (Step& s : steps_) {
    if (!is_int8_layer(s)) continue;
    const TensorInfo& out = tensors_[s.out];
    QuantArgs& q = s.qargs;
    q.a_scale = s.a_scale;
    q.a_zero_point = s.a_zero_point;
    q.relu = s.lo == 0.0f;
    q.output = out.dtype == DType::kU8 ? QOutput::kU8 : QOutput::kF32;
    q.out_scale = out.scale;
    q.out_zero_point = out.zero_point;
    s.qcolumns.clear();
    if (s.kind == StepKind::kDepthwise) {
      s.qcolumns.push_back(depthwise_columns(s, q));
      const size_t c = s.conv.c;
      s.w_sum.assign(c, 0);
      for (size_t i = 0; i < s.weights_s8.size(); ++i) {  // wrapping, as the kernels' sums
        const auto sum = static_cast<uint32_t>(s.w_sum[i % c]) + static_cast<uint32_t>(int32_t{s.weights_s8[i]});
        s.w_sum[i % c] = static_cast<int32_t>(sum);
      }
    } else {
      for (const auto& pw : s.packed) s.qcolumns.push_back(qgemm_columns(*pw, q));
    }
  }
}

}  // namespace fnn
