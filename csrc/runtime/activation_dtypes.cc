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

}  // namespace

void Program::assign_activation_dtypes() {
  require_open();
  const size_t nt = tensors_.size();
  auto root = [&](int t) { return tensors_[t].alias_of >= 0 ? tensors_[t].alias_of : t; };
  std::vector<Want> want(nt);
  for (size_t i = steps_.size(); i-- > 0;) {
    const Step& s = steps_[i];
    const StepKindImpl& impl = step_impl(s.kind);
    for (size_t k = 0; k < s.in.size(); ++k) {
      const int r = root(s.in[k]);
      Want& w = want[r];
      QuantIn q;
      if (tensors_[r].external) {
        w.ok = false;
      } else if (impl.reads_u8(s, k, &q)) {
        w.merge(q.scale, q.zero_point);
      } else if (impl.passes_u8(s) && want[root(s.out)].u8()) {
        w.merge(want[root(s.out)].scale, want[root(s.out)].zero_point);
      } else {
        w.ok = false;
      }
    }
  }
  for (const Step& s : steps_) {
    const int r = root(s.out);
    const bool producer_ok = step_impl(s.kind).writes_u8(s, tensors_);
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
      QuantIn q;
      if (!step_impl(s.kind).reads_u8(s, k, &q) || tensors_[s.in[k]].dtype != DType::kF32) continue;
      const float scale = q.scale;
      const int32_t zp = q.zero_point;
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
}

}  // namespace fnn
