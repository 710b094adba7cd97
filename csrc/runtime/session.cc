#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels/eltwise/eltwise.h"
#include "kernels/quant/quant_config.h"
#include "kernels/sparse/spmm.h"
#include "runtime/thread_pool.h"

namespace fnn {
namespace {

size_t round64(size_t v) { return (v + 63) / 64 * 64; }

// Splits [0, total) into at most `threads` chunks of at least `min_chunk` and runs
// fn(begin, end) on the pool; a single chunk runs on the caller, leaving the pool free for
// the kernels it calls.
template <typename Fn>
void parallel_ranges(size_t total, size_t min_chunk, size_t threads, const Fn& fn) {
  if (total == 0) return;
  const size_t chunks = std::max<size_t>(1, std::min(threads, total / std::max<size_t>(1, min_chunk)));
  if (chunks == 1) {
    fn(size_t{0}, total);
    return;
  }
  global_thread_pool()->parallel_for(chunks, [&](size_t c) {
    fn(total * c / chunks, total * (c + 1) / chunks);
  });
}

// Static activation quantization with calibrated parameters, on the active ISA's quantize
// kernel (ONNX QuantizeLinear rounding; out-of-range values saturate).
void quantize_static(const float* x, size_t n, float scale, int32_t zp, uint8_t* q) {
  quant_config().qu8(x, n, scale, zp, q);
}

QuantArgs quant_args(const Step& s) {
  QuantArgs q;
  q.a_scale = s.a_scale;
  q.a_zero_point = s.a_zero_point;
  q.output = QOutput::kF32;
  q.relu = s.lo == 0.0f;
  return q;
}

// The part of [lo, hi] the int8 f32 epilogue did not apply (it fuses ReLU only).
void finish_clamp(const Step& s, float* y, size_t rows, size_t cols, size_t ldy) {
  const bool lo_left = s.lo > -std::numeric_limits<float>::infinity() && s.lo != 0.0f;
  if (!lo_left && !(s.hi < std::numeric_limits<float>::infinity())) return;
  for (size_t r = 0; r < rows; ++r) clamp_f32(cols, y + r * ldy, y + r * ldy, s.lo, s.hi);
}

}  // namespace

Session::Session(std::shared_ptr<const Program> program, size_t max_batch, size_t threads,
                 std::shared_ptr<Pool> pool)
    : program_(std::move(program)), max_batch_(max_batch), threads_(std::max<size_t>(1, threads)),
      pool_(std::move(pool)) {
  if (max_batch_ == 0) throw std::invalid_argument("max_batch must be >= 1");
  const auto& tensors = program_->tensors();
  const auto& steps = program_->steps();
  const size_t nt = tensors.size(), ns = steps.size();
  std::vector<int64_t> first(nt, -1), last(nt, -1);
  auto root = [&](int t) { return tensors[t].alias_of >= 0 ? tensors[t].alias_of : t; };
  for (size_t i = 0; i < ns; ++i) {
    auto touch = [&](int t) {
      const int r = root(t);
      if (first[r] < 0) first[r] = static_cast<int64_t>(i);
      last[r] = static_cast<int64_t>(i);
    };
    for (int t : steps[i].in) touch(t);
    touch(steps[i].out);
  }
  std::vector<uint64_t> sizes;
  std::vector<int64_t> f, l;
  tensor_entry_.assign(nt, -1);
  for (size_t t = 0; t < nt; ++t) {
    if (tensors[t].external || tensors[t].alias_of >= 0 || first[t] < 0) continue;
    const size_t elems = tensors[t].sample_elems;
    if (elems != 0 && max_batch_ > std::numeric_limits<size_t>::max() / 4 / elems) {
      throw std::length_error("max_batch x tensor size overflows");
    }
    tensor_entry_[t] = static_cast<int>(sizes.size());
    sizes.push_back(elems * max_batch_ * sizeof(float));
    f.push_back(first[t]);
    l.push_back(last[t]);
  }
  scratch_entry_.assign(ns, -1);
  for (size_t i = 0; i < ns; ++i) {
    const size_t bytes = program_->step_scratch_bytes(i, max_batch_, threads_);
    if (bytes == 0) continue;
    scratch_entry_[i] = static_cast<int>(sizes.size());
    sizes.push_back(bytes);
    f.push_back(static_cast<int64_t>(i));
    l.push_back(static_cast<int64_t>(i));
  }
  plan_ = plan_memory(sizes, f, l, Pool::kAlignment);
  arena_bytes_ = plan_.arena_bytes;
  if (arena_bytes_ > 0) arena_ = static_cast<char*>(pool_->allocate(arena_bytes_));
  ptr_.assign(nt, nullptr);
  for (size_t t = 0; t < nt; ++t) {
    if (tensor_entry_[t] >= 0) ptr_[t] = reinterpret_cast<float*>(arena_ + plan_.offsets[tensor_entry_[t]]);
  }
  scratch_.assign(ns, nullptr);
  for (size_t i = 0; i < ns; ++i) {
    if (scratch_entry_[i] >= 0) scratch_[i] = arena_ + plan_.offsets[scratch_entry_[i]];
  }
  step_seconds_.assign(ns, 0.0);
}

Session::~Session() {
  if (arena_ != nullptr) pool_->deallocate(arena_);
}

void Session::run(const float* const* inputs, float* const* outputs, size_t batch) {
  const Program& p = *program_;
  for (size_t i = 0; i < p.inputs().size(); ++i) ptr_[p.inputs()[i]] = const_cast<float*>(inputs[i]);
  for (size_t i = 0; i < p.outputs().size(); ++i) ptr_[p.outputs()[i]] = outputs[i];
  const auto& tensors = p.tensors();
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (tensors[t].alias_of >= 0) ptr_[t] = ptr_[tensors[t].alias_of];
  }
  for (size_t i = 0; i < p.steps().size(); ++i) {
    if (profiling_) {
      const auto t0 = std::chrono::steady_clock::now();
      run_step(i, batch);
      step_seconds_[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else {
      run_step(i, batch);
    }
  }
  ++runs_;
}

void Session::run_step(size_t i, size_t batch) {
  const Step& s = program_->steps()[i];
  const float* x = s.in.empty() ? nullptr : ptr_[s.in[0]];
  float* y = ptr_[s.out];
  const auto& tensors = program_->tensors();
  const size_t in_elems = s.in.empty() ? 0 : tensors[s.in[0]].sample_elems;
  const size_t out_elems = tensors[s.out].sample_elems;
  const size_t threads = threads_;
  switch (s.kind) {
    case StepKind::kToNhwc:
      nchw_to_nhwc(batch, s.c, s.hw, x, y);
      break;
    case StepKind::kToNchw:
      nhwc_to_nchw(batch, s.c, s.hw, x, y);
      break;
    case StepKind::kDense: {
      const PackedWeights& w = *s.packed[0];
      if (w.kind() == WeightKind::kInt8) {
        auto* q = reinterpret_cast<uint8_t*>(scratch_[i]);
        quantize_static(x, batch * w.k(), s.a_scale, s.a_zero_point, q);
        gemm_int8(q, batch, w.k(), w, y, w.n(), quant_args(s));
        finish_clamp(s, y, batch, w.n(), w.n());
      } else {
        gemm_float(x, batch, w.k(), w, y, w.n(), Activation{s.lo, s.hi}, false);
      }
      break;
    }
    case StepKind::kSparseDense: {
      SpmmEpilogue ep;
      ep.bias = s.bias.empty() ? nullptr : s.bias.data();
      ep.min = s.lo;
      ep.max = s.hi;
      spmm_linear(*s.sparse, x, batch, s.sparse->cols(), y, s.sparse->rows(), ep);
      break;
    }
    case StepKind::kConv: {
      Conv2dGeometry g = s.conv;
      g.n = batch;
      const size_t pixels = batch * g.oh * g.ow;
      const size_t cg = g.c / g.groups, ocg = g.oc / g.groups;
      const size_t k = g.kh * g.kw * cg;
      const bool int8 = s.packed[0]->kind() == WeightKind::kInt8;
      if (Program::conv_is_pointwise(s)) {
        if (int8) {
          auto* q = reinterpret_cast<uint8_t*>(scratch_[i]);
          quantize_static(x, pixels * k, s.a_scale, s.a_zero_point, q);
          gemm_int8(q, pixels, k, *s.packed[0], y, g.oc, quant_args(s));
          finish_clamp(s, y, pixels, g.oc, g.oc);
        } else {
          gemm_float(x, pixels, k, *s.packed[0], y, g.oc, Activation{s.lo, s.hi}, false);
        }
        break;
      }
      // Equal tiles, a whole number per task: 196 pixels on 2 threads are 4 tiles of 49, not
      // 64 + 64 + 64 + 4 with one thread doing 128 rows and the other 68.
      const size_t min_tiles = (pixels + Program::kConvTileRows - 1) / Program::kConvTileRows;
      const size_t tasks = std::min(threads, min_tiles > 1 ? min_tiles : size_t{1});
      const size_t tiles = (min_tiles + tasks - 1) / tasks * tasks;
      const size_t rows_per_tile = (pixels + tiles - 1) / tiles;
      const size_t slot = Program::conv_slot_bytes(s);
      auto task = [&](size_t t) {
        char* base = scratch_[i] + t * slot;
        auto* col = reinterpret_cast<float*>(base);
        auto* qcol = reinterpret_cast<uint8_t*>(base + round64(rows_per_tile * k * sizeof(float)));
        for (size_t tile = t; tile < tiles; tile += tasks) {
          const size_t p0 = tile * rows_per_tile;
          if (p0 >= pixels) break;
          const size_t rows = std::min(rows_per_tile, pixels - p0);
          for (size_t grp = 0; grp < g.groups; ++grp) {
            im2col_nhwc(g, x, p0, rows, grp, col, k);
            float* dst = y + p0 * g.oc + grp * ocg;
            if (int8) {
              quantize_static(col, rows * k, s.a_scale, s.a_zero_point, qcol);
              gemm_int8(qcol, rows, k, *s.packed[grp], dst, g.oc, quant_args(s));
              finish_clamp(s, dst, rows, ocg, g.oc);
            } else {
              gemm_float(col, rows, k, *s.packed[grp], dst, g.oc, Activation{s.lo, s.hi}, false);
            }
          }
        }
      };
      if (tasks == 1) {
        task(0);
      } else {
        global_thread_pool()->parallel_for(tasks, [&](size_t t) { task(t); });
      }
      break;
    }
    case StepKind::kDepthwise: {
      Conv2dGeometry g = s.conv;
      g.n = batch;
      const float* bias = s.bias.empty() ? nullptr : s.bias.data();
      parallel_ranges(batch * g.oh * g.ow, 256, threads, [&](size_t b, size_t e) {
        depthwise_conv2d_nhwc(g, x, s.weights.data(), bias, s.lo, s.hi, y, b, e - b);
      });
      break;
    }
    case StepKind::kMaxPool:
    case StepKind::kAvgPool: {
      Pool2dGeometry g = s.pool;
      g.n = batch;
      parallel_ranges(batch * g.oh * g.ow, 512, threads, [&](size_t b, size_t e) {
        if (s.kind == StepKind::kMaxPool) {
          maxpool2d_nhwc(g, x, y, b, e - b);
        } else {
          avgpool2d_nhwc(g, x, y, b, e - b);
        }
      });
      break;
    }
    case StepKind::kGlobalAvgPool:
      global_avgpool_nhwc(batch, s.hw, s.c, x, y);
      break;
    case StepKind::kAdd:
      add_clamp_f32(batch * out_elems, x, ptr_[s.in[1]], y, s.lo, s.hi);
      break;
    case StepKind::kClamp:
      clamp_f32(batch * out_elems, x, y, s.lo, s.hi);
      break;
    case StepKind::kSigmoid:
      sigmoid_f32(batch * out_elems, x, y);
      break;
    case StepKind::kSoftmax:
      softmax_rows_f32(batch * (out_elems / s.c), s.c, x, y);
      break;
    case StepKind::kScaleShift:
      scale_shift_channels_f32(batch * (in_elems / s.c), s.c, x, s.weights.data(),
                               s.weights.data() + s.c, y);
      break;
    case StepKind::kConcat: {
      const size_t pixels = batch * (out_elems / s.c);
      size_t off = 0;
      for (size_t j = 0; j < s.in.size(); ++j) {
        const float* src = ptr_[s.in[j]];
        const size_t cj = s.parts[j];
        for (size_t p = 0; p < pixels; ++p) std::memcpy(y + p * s.c + off, src + p * cj, cj * sizeof(float));
        off += cj;
      }
      break;
    }
  }
}

}  // namespace fnn
