// bf16 A x bf16 W GEMM micro-kernel, AVX512-BF16: up to 12 rows x 16 columns, f32 accumulators.
//
// vdpbf16ps multiplies adjacent bf16 pairs and adds both products into one f32 lane: a packed
// pair row ([16][2], 64 bytes) is exactly its operand, and the A pair (a[2j], a[2j+1]) is one
// 32-bit broadcast. 32 multiply-adds per instruction. vdpbf16ps flushes denormal
// inputs and outputs and rounds to nearest even regardless of MXCSR (Intel SDM).
// The float tile of the avx512 kernels (f32_gemm_tile.h) with one pair row per step.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/f32_gemm_tile.h"
#include "kernels/common/vec16_avx512.h"
#include "kernels/gemm/gemm_ukernel_define.h"

namespace fnn {
namespace {

struct Bf16DotRows {
  using AElem = uint16_t;
  using WElem = uint16_t;
  static constexpr size_t kSteps = 1, kGroupElems = 2 * kGemmNR, kAStep = 2;
  static constexpr bool kPlainFma = false;  // madd is a bf16 dot product
  // A rows are zero-padded to whole pairs.
  static constexpr size_t steps(size_t k) { return (k + 1) / 2; }
  template <typename V>
  static __m512bh row(const uint16_t* g, size_t, size_t) {
    return reinterpret_cast<__m512bh>(_mm512_loadu_si512(g));
  }
  // The A pair (a[0], a[1]) in all 16 lanes.
  template <typename V>
  static __m512bh broadcast(const uint16_t* a) {
    uint32_t pair;
    std::memcpy(&pair, a, sizeof(pair));
    return reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
  }
  template <typename V>
  static __m512 madd(__m512 acc, __m512bh a, __m512bh w) {
    return _mm512_dpbf16_ps(acc, w, a);
  }
};

// Latency is ~6 cycles at 2 per cycle here (Zen 5), so ~12 chains must be in flight.
struct Bf16DotSets {
  static constexpr size_t of(size_t rows) { return rows <= 5 ? 4 : rows <= 11 ? 2 : 1; }
};

}  // namespace

FNN_GEMM_UKERNEL_DEFINE(bf16_gemm_ukernel_12x16c2__avx512bf16, uint16_t, uint16_t, float,
                        GemmF32Params, F32GemmTile<Avx512Vec16, Bf16DotRows, 1, Bf16DotSets>)

}  // namespace fnn
