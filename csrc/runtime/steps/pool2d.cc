// maxpool2d (f32, or u8: a max-pool commutes with quantization) and avgpool2d (f32).
#include "runtime/steps/pool2d.h"

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
