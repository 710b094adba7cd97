// maxpool2d (f32, or u8: a max-pool commutes with quantization) and avgpool2d (f32).
#include "runtime/steps/pool2d.h"

#include <algorithm>

#include "memory/scratch.h"
#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

template <bool kMax>
class Pool2dStep final : public StepKindWith<Pool2dParams> {
 public:
  const char* name() const override { return kMax ? "maxpool2d" : "avgpool2d"; }
  bool writes_u8(const Step& s, const std::vector<TensorInfo>& tensors) const override {
    if (!kMax || s.in.empty()) return false;  // (an unchecked step without inputs: check() refuses it)
    const TensorInfo& in = tensors[s.in[0]];
    return tensors[in.alias_of >= 0 ? in.alias_of : s.in[0]].dtype == DType::kU8;
  }
  bool passes_u8(const Step&) const override { return kMax; }
  void check_params(const StepCheck& c, const Pool2dParams& p) const override {
    const Pool2dGeometry& g = p.geometry;
    const Step& s = c.step();
    c.no_clamp();
    c.inputs(1);
    c.pool_geometry(g);
    c.size_is(s.in[0], StepCheck::product({g.h, g.w, g.c}), "the input");
    c.size_is(s.out, StepCheck::product({g.oh, g.ow, g.c}), "the output");
    if (kMax) {
      c.expect(c.dtype(s.in[0]) == c.dtype(s.out), "max-pool input and output dtypes differ");
    } else {
      c.all_f32();
    }
  }
  void run_params(const StepRun& r, const Pool2dParams& p) const override {
    Pool2dGeometry g = p.geometry;
    g.n = r.batch;
    const bool u8 = r.out_info().dtype == DType::kU8;
    parallel_ranges(r.batch * g.oh * g.ow, 512, r.threads, [&](size_t b, size_t e) {
      if (!kMax) {
        avgpool2d_nhwc(g, r.in(), r.out(), b, e - b);
      } else if (u8) {
        maxpool2d_nhwc(g, r.in<uint8_t>(), r.out<uint8_t>(), b, e - b);
      } else {
        maxpool2d_nhwc(g, r.in(), r.out(), b, e - b);
      }
    });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(maxpool2d_step, Pool2dStep<true>)
FNN_DEFINE_STEP_KIND(avgpool2d_step, Pool2dStep<false>)

}  // namespace fnn

// ---- Training -------------------------------------------------------------------------------

namespace fnn {
namespace {

size_t train_threads() { return in_parallel_task() ? 1 : get_num_threads(); }

}  // namespace

void maxpool2d_train_forward(const Pool2dGeometry& g, const float* x, float* y) {
  parallel_ranges(g.n * g.oh * g.ow, 512, train_threads(),
                  [&](size_t b, size_t e) { maxpool2d_nhwc(g, x, y, b, e - b); });
}

void avgpool2d_train_forward(const Pool2dGeometry& g, const float* x, float* y) {
  parallel_ranges(g.n * g.oh * g.ow, 512, train_threads(),
                  [&](size_t b, size_t e) { avgpool2d_nhwc(g, x, y, b, e - b); });
}

// Windows of one image may overlap: images are the unit of work, so each dx value is summed
// by one task in pixel order.
void maxpool2d_backward(const Pool2dGeometry& g, const float* x, const float* y, const float* dy,
                        float* dx, float lo, float hi) {
  if (g.n == 0) return;
  const size_t tasks = std::min(train_threads(), g.n);
  const size_t slot = (g.c + 15) / 16 * 16;
  ScratchBlock found(tasks * slot * sizeof(float));
  run_tasks(tasks, [&](size_t t) {
    maxpool2d_backward_nhwc(g, x, y, dy, dx, g.n * t / tasks, g.n * (t + 1) / tasks, lo, hi,
                            found.as<float>() + t * slot);
  });
}

void avgpool2d_backward(const Pool2dGeometry& g, const float* dy, float* dx) {
  parallel_ranges(g.n, 1, train_threads(),
                  [&](size_t b0, size_t b1) { avgpool2d_backward_nhwc(g, dy, dx, b0, b1); });
}

}  // namespace fnn
