// The output side of steps that read u8 (int8 dense / conv / depthwise, u8 add and global
// pool): their output stage, and the part of the output clamp their epilogue cannot fuse.
#pragma once

#include <cstddef>

#include "kernels/eltwise/eltwise.h"
#include "kernels/gemm/gemm.h"
#include "runtime/step.h"
#include "runtime/step_kind.h"
#include "runtime/tensor_info.h"

namespace fnn {

// A layer that is int8 when its parameters say so (P::int8()): it then reads input 0 as u8
// quantized with P::input and can write u8; prepare() sets its output stage.
template <typename P>
class Int8LayerStep : public StepKindWith<P> {
 public:
  bool reads_u8(const Step& s, size_t k, QuantIn* q) const override {
    const P* p = s.try_params<P>();
    if (k != 0 || p == nullptr || !p->int8()) return false;
    *q = p->input;
    return true;
  }
  bool writes_u8(const Step& s, const std::vector<TensorInfo>&) const override {
    const P* p = s.try_params<P>();
    return p != nullptr && p->int8() && p->post.empty();  // a fused activation runs on float32
  }
  void prepare(Step& s, const std::vector<TensorInfo>& tensors) const override {
    P& p = s.params_as<P>();
    if (p.int8()) prepare_int8(s, p, tensors[s.out]);
  }

 protected:
  virtual void prepare_int8(const Step& s, P& p, const TensorInfo& out) const = 0;
};

// An int8 layer's GEMM output stage: requantized u8 with the output tensor's parameters, or
// f32; ReLU (lo == 0) fused either way.
QuantArgs int8_output_args(const Step& s, const QuantIn& input, const TensorInfo& out);

// The output stage of a u8 element-wise step: the output tensor's u8 parameters with ReLU
// fused (finish_int8_clamp applies other bounds), or float32 clamped to [lo, hi].
QOutputStage eltwise_output_stage(const Step& s, const TensorInfo& out);

// Applies the part of [s.lo, s.hi] the int8 epilogue did not (it fuses ReLU only) to a
// rows x cols block of the step's output (row stride ldy, the output tensor's dtype).
void finish_int8_clamp(const Step& s, const TensorInfo& out, void* y, size_t rows, size_t cols,
                       size_t ldy);

// For a u8 output: narrows the output stage's bounds [*qmin, *qmax] by the u8 bounds
// finish_int8_clamp would apply after it, and returns true: that clamp is then done (a clamp of
// a clamp at integer bounds is the clamp at the intersection). False, bounds unchanged, when
// the output is float32 or the intersection is empty.
bool fold_int8_clamp(const Step& s, const TensorInfo& out, int32_t* qmin, int32_t* qmax);
// The same for a float32 output stage's bounds [*lo, *hi] (maxps / minps order, as the int8
// kernels clamp): false when an upper bound of zero (whose -0.0 / +0.0 the two clamps would
// order differently) or an empty intersection is left for finish_int8_clamp.
bool fold_int8_clamp(const Step& s, float* lo, float* hi);

}  // namespace fnn
