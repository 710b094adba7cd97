// Program::assign_activation_dtypes: which planned tensors hold u8 instead of float32.
//
// Between int8 layers a float tensor is pure overhead: the producer converts its int32 sums
// to float, stores 4 bytes per value, and the consumer re-quantizes them (after im2col,
// for a convolution, once per tap). Storing the consumer's u8 directly — requantized in the
// producer's GEMM epilogue — moves a quarter of the bytes and skips both conversions. A
// max-pool commutes with quantization (it is monotone, saturation included), so pooling
// the u8 values gives exactly the u8 of the pooled floats.
//
// A program input may be u8 / s8 (a camera frame), with parameters of its own: an int8 step
// reads it as stored when its parameters are the input's, a layout change moves its bytes,
// and any other reader gets it dequantized to float32 once.
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
    const StepKindImpl& impl = step_impl(s.kind);
    if (tensors_[r].dtype != DType::kF32 || tensors_[r].external) continue;
    const TensorInfo* in = s.in.size() == 1 ? &tensors_[root(s.in[0])] : nullptr;
    if (in != nullptr && in->quantized() && impl.keeps_dtype(s)) {
      // A layout change of a quantized program input moves its bytes as they are.
      tensors_[r].dtype = in->dtype;
      tensors_[r].scale = in->scale;
      tensors_[r].zero_point = in->zero_point;
      continue;
    }
    if (!impl.writes_u8(s, tensors_) || !want[r].u8()) continue;
    // A max-pool passes its input's parameters on: those of a program input are fixed.
    if (impl.passes_u8(s) && in != nullptr && in->quantized() &&
        (in->scale != want[r].scale || in->zero_point != want[r].zero_point)) {
      continue;
    }
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
  // Conversions, each placed before the first step that needs it: one dequantize per
  // quantized tensor some step reads as float32 (a quantized program input, or its layout
  // change, read by a float step or by an int8 step calibrated otherwise) and one per s8
  // tensor an int8 step reads as the same values in u8 (+128), then one quantize per (float
  // tensor, parameters) an int8 step reads as u8.
  std::map<int, int> dequantized, shifted;
  std::map<std::tuple<int, float, int32_t>, int> quantized;
  std::vector<Step> steps;
  steps.reserve(steps_.size());
  auto convert = [&](StepKind kind, const std::string& name, int src, const TensorInfo& info) {
    tensors_.push_back(info);
    const int dst = static_cast<int>(tensors_.size()) - 1;
    Step cs;
    cs.kind = kind;
    cs.name = name;
    cs.in = {src};
    cs.out = dst;
    steps.push_back(std::move(cs));
    return dst;
  };
  for (Step& s : steps_) {
    const StepKindImpl& impl = step_impl(s.kind);
    for (size_t k = 0; k < s.in.size(); ++k) {
      const std::string tag = s.in.size() > 1 ? std::to_string(k) : "";
      QuantIn q;
      const bool reads_u8 = impl.reads_u8(s, k, &q);
      const TensorInfo src_info = tensors_[s.in[k]];
      if (src_info.quantized()) {
        const TensorInfo& out = tensors_[s.out];
        const bool out_same = out.dtype == src_info.dtype && out.scale == src_info.scale &&
                              out.zero_point == src_info.zero_point;
        const bool as_stored =
            impl.reads_quantized(s) ||
            (reads_u8 && src_info.dtype == DType::kU8 && q.scale == src_info.scale &&
             q.zero_point == src_info.zero_point) ||
            ((impl.keeps_dtype(s) || impl.passes_u8(s)) && out_same);
        if (as_stored) continue;
        const int r = root(s.in[k]);
        // An s8 input read as u8 with its own parameters in the u8 domain: q + 128, exact.
        const bool shift = reads_u8 && src_info.dtype == DType::kS8 && q.scale == src_info.scale &&
                           q.zero_point == src_info.zero_point + 128;
        std::map<int, int>& done = shift ? shifted : dequantized;
        auto it = done.find(r);
        if (it == done.end()) {
          TensorInfo f;
          f.sample_elems = src_info.sample_elems;
          if (shift) {
            f.dtype = DType::kU8;
            f.scale = src_info.scale;
            f.zero_point = src_info.zero_point + 128;
          }
          const std::string what = shift ? ":to_u8" : ":dequantize";
          it = done.emplace(r, convert(StepKind::kDequantize, s.name + what + tag, r, f)).first;
        }
        s.in[k] = it->second;
      }
      if (!reads_u8 || tensors_[s.in[k]].dtype != DType::kF32) continue;
      const int src = s.in[k];
      const auto key = std::make_tuple(src, q.scale, q.zero_point);
      auto it = quantized.find(key);
      if (it == quantized.end()) {
        TensorInfo u;
        u.sample_elems = tensors_[src].sample_elems;
        u.dtype = DType::kU8;
        u.scale = q.scale;
        u.zero_point = q.zero_point;
        it = quantized.emplace(key, convert(StepKind::kQuantize, s.name + ":quantize" + tag, src, u)).first;
      }
      s.in[k] = it->second;
    }
    steps.push_back(std::move(s));
  }
  steps_ = std::move(steps);
}

}  // namespace fnn
