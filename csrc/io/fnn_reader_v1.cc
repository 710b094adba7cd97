// Version 1 step records: one fixed layout for every kind (conv and pool geometry, c / hw,
// packed weights, a sparse matrix, inline arrays, u8 input parameters), each kind using some
// of it. Read field by field, then handed to the kind as its typed parameters; a field the
// kind does not use must hold nothing, as version 1 readers required.
#include <cstring>

#include "io/fnn_step_reading.h"
#include "runtime/program_check.h"
#include "runtime/steps/concat.h"
#include "runtime/steps/conv2d.h"
#include "runtime/steps/dense.h"
#include "runtime/steps/depthwise_conv2d.h"
#include "runtime/steps/layout.h"
#include "runtime/steps/pool2d.h"
#include "runtime/steps/scale_shift.h"
#include "runtime/steps/softmax.h"
#include "runtime/steps/sparse_dense.h"
#include "runtime/steps/u8_inputs.h"

namespace fnn {
namespace {

// Version 1's kind numbers, frozen.
constexpr const char* kV1Kinds[] = {"to_nhwc", "to_nchw", "dense", "sparse_dense", "conv2d",
                                    "depthwise_conv2d", "maxpool2d", "avgpool2d", "global_avgpool",
                                    "add", "clamp", "sigmoid", "softmax", "scale_shift", "concat",
                                    "quantize"};
constexpr size_t kNumV1Kinds = sizeof(kV1Kinds) / sizeof(kV1Kinds[0]);

std::vector<float> get_floats(ByteReader& r) {
  std::vector<float> v(r.get_count(4));
  if (!v.empty()) std::memcpy(v.data(), r.take(v.size() * 4), v.size() * 4);
  return v;
}

// Every field of a version 1 record.
struct V1Fields {
  bool pool_fused = false;
  Conv2dGeometry conv;
  Pool2dGeometry pool;
  size_t c = 0, hw = 0;
  QuantIn a;
  bool has_sparse = false;
  std::vector<float> bias, weights, w_scale;
  std::vector<size_t> parts;
  std::vector<int8_t> weights_s8;
  std::vector<QuantIn> in_quant;
};

}  // namespace

Step read_fnn_step_v1(ByteReader& r, size_t index, FnnBlobClaims& claims, std::string* precision) {
  Step s;
  const uint8_t kind = r.get<uint8_t>();
  if (kind >= kNumV1Kinds || !parse_step_kind(kV1Kinds[kind], &s.kind)) {
    r.fail("unknown kind " + std::to_string(kind));
  }
  V1Fields f;
  f.pool_fused = r.get_flag();
  r.reserved<uint16_t>();
  const std::string who = read_step_io(r, index, s, precision);
  Conv2dGeometry& g = f.conv;
  for (size_t* v : {&g.h, &g.w, &g.c, &g.oh, &g.ow, &g.oc, &g.kh, &g.kw, &g.sh, &g.sw, &g.dh,
                    &g.dw, &g.pad_top, &g.pad_left, &g.groups}) {
    *v = r.get_size();
  }
  Pool2dGeometry& p = f.pool;
  for (size_t* v : {&p.h, &p.w, &p.c, &p.oh, &p.ow, &p.kh, &p.kw, &p.sh, &p.sw, &p.pad_top, &p.pad_left}) {
    *v = r.get_size();
  }
  f.c = r.get_size();
  f.hw = r.get_size();
  f.a.scale = r.get<float>();
  f.a.zero_point = r.get<int32_t>();
  // Weights go straight into the kind's parameters: their slots must not move once claimed.
  auto dense = std::make_shared<DenseParams>();
  auto conv = std::make_shared<Conv2dParams>();
  auto sparse = std::make_shared<SparseDenseParams>();
  const size_t n_packed = r.get_count(24);
  std::vector<std::shared_ptr<PackedWeights>>* packed =
      s.kind == StepKind::kDense ? nullptr : &conv->weights;
  if (packed != nullptr) packed->resize(n_packed);
  if (s.kind == StepKind::kDense && n_packed != 1) r.fail(who + ": a dense step has one packed weights");
  for (size_t i = 0; i < n_packed; ++i) {
    claims.packed(r, packed != nullptr ? &(*packed)[i] : &dense->weights,
                  "packed weights of " + who + (n_packed > 1 ? " group " + std::to_string(i) : ""));
  }
  f.has_sparse = r.get_flag();
  if (f.has_sparse) claims.sparse(r, &sparse->matrix, "sparse matrix of " + who);
  f.bias = get_floats(r);
  f.weights = get_floats(r);
  f.parts.resize(r.get_count(8));
  for (size_t& v : f.parts) v = r.get_size();
  f.weights_s8.resize(r.get_count(1));
  if (!f.weights_s8.empty()) std::memcpy(f.weights_s8.data(), r.take(f.weights_s8.size()), f.weights_s8.size());
  f.w_scale = get_floats(r);
  f.in_quant.resize(r.get_count(8));
  for (QuantIn& q : f.in_quant) {
    q.scale = r.get<float>();
    q.zero_point = r.get<int32_t>();
  }

  // What each kind takes; everything else must be empty.
  bool uses_packed = false, uses_sparse = false, uses_bias = false, uses_weights = false,
       uses_parts = false, uses_s8 = false, uses_in_quant = false;
  // The kind's parameters, made and attached.
  auto make = [&s](auto params) -> auto& {
    s.params = params;
    return *params;
  };
  switch (s.kind) {
    case StepKind::kToNhwc:
    case StepKind::kToNchw: {
      auto& l = make(std::make_shared<LayoutParams>());
      l.c = f.c, l.hw = f.hw;
      break;
    }
    case StepKind::kDense:
      uses_packed = true;
      make(dense).input = f.a;
      break;
    case StepKind::kSparseDense:
      uses_sparse = uses_bias = true;
      if (!f.has_sparse) r.fail(who + ": has no sparse matrix");
      make(sparse).bias = f.bias;
      break;
    case StepKind::kConv:
      uses_packed = true;
      make(conv);
      conv->geometry = f.conv, conv->input = f.a, conv->pool_fused = f.pool_fused;
      if (f.pool_fused) conv->pool = f.pool;
      break;
    case StepKind::kDepthwise: {
      uses_bias = uses_weights = uses_s8 = true;
      auto& d = make(std::make_shared<DepthwiseConv2dParams>());
      d.geometry = f.conv, d.weights = f.weights, d.weights_s8 = f.weights_s8;
      d.weight_scale = f.w_scale, d.bias = f.bias, d.input = f.a;
      break;
    }
    case StepKind::kMaxPool:
    case StepKind::kAvgPool:
      make(std::make_shared<Pool2dParams>()).geometry = f.pool;
      break;
    case StepKind::kGlobalAvgPool: {
      uses_in_quant = true;
      auto& q = make(std::make_shared<GlobalAvgPoolParams>());
      q.c = f.c, q.hw = f.hw, q.inputs_u8 = f.in_quant;
      break;
    }
    case StepKind::kAdd:
      uses_in_quant = true;
      make(std::make_shared<U8InputsParams>()).inputs_u8 = f.in_quant;
      break;
    case StepKind::kSoftmax:
      make(std::make_shared<SoftmaxParams>()).cols = f.c;
      break;
    case StepKind::kScaleShift: {
      uses_weights = true;
      if (f.weights.size() % 2 != 0 || f.weights.size() / 2 != f.c) r.fail(who + ": needs c scales then c shifts");
      auto& q = make(std::make_shared<ScaleShiftParams>());
      q.scale.assign(f.weights.begin(), f.weights.begin() + f.c);
      q.shift.assign(f.weights.begin() + f.c, f.weights.end());
      break;
    }
    case StepKind::kConcat: {
      uses_parts = true;
      size_t sum = 0;
      for (size_t v : f.parts) sum += v > (size_t{1} << 24) ? 0 : v;
      if (sum != f.c) r.fail(who + ": parts do not add up to the output's channels");
      make(std::make_shared<ConcatParams>()).parts = f.parts;
      break;
    }
    default:  // clamp, sigmoid, quantize: no parameters
      break;
  }
  auto unused = [&](bool used, bool empty, const char* what) {
    if (!used && !empty) r.fail(who + ": has " + what + " it does not use");
  };
  unused(uses_packed, n_packed == 0, "packed weights");
  unused(uses_sparse, !f.has_sparse, "a sparse matrix");
  unused(uses_bias, f.bias.empty(), "a bias");
  unused(uses_weights, f.weights.empty(), "weights");
  unused(uses_s8, f.weights_s8.empty() && f.w_scale.empty(), "int8 weights");
  unused(uses_parts, f.parts.empty(), "concat parts");
  unused(uses_in_quant, f.in_quant.empty(), "u8 input parameters");
  if (f.pool_fused && s.kind != StepKind::kConv) r.fail(who + ": only a conv carries a fused pool");
  return s;
}

}  // namespace fnn
