#include "cpu/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#define FNN_X86_64 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace fnn {
namespace {

#if FNN_X86_64
struct Regs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(uint32_t leaf, uint32_t subleaf) {
  Regs r;
#if defined(_MSC_VER)
  int out[4];
  __cpuidex(out, static_cast<int>(leaf), static_cast<int>(subleaf));
  r.eax = out[0]; r.ebx = out[1]; r.ecx = out[2]; r.edx = out[3];
#else
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
#endif
  return r;
}

uint64_t xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
#endif
}

bool bit(uint32_t v, int n) { return (v >> n) & 1u; }

void detect_x86(CpuFeatures& f) {
  f.arch = "x86_64";
  const Regs r0 = cpuid(0, 0);
  char vendor[13] = {};
  std::memcpy(vendor + 0, &r0.ebx, 4);
  std::memcpy(vendor + 4, &r0.edx, 4);
  std::memcpy(vendor + 8, &r0.ecx, 4);
  f.vendor = vendor;
  const uint32_t max_leaf = r0.eax;

  const Regs ext0 = cpuid(0x80000000u, 0);
  if (ext0.eax >= 0x80000004u) {
    char brand[49] = {};
    for (uint32_t i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002u + i, 0);
      std::memcpy(brand + 16 * i + 0, &r.eax, 4);
      std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
      std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
      std::memcpy(brand + 16 * i + 12, &r.edx, 4);
    }
    std::string b = brand;
    const auto first = b.find_first_not_of(' ');
    const auto last = b.find_last_not_of(' ');
    f.brand = first == std::string::npos ? "" : b.substr(first, last - first + 1);
  }
  if (max_leaf < 1) return;

  const Regs r1 = cpuid(1, 0);
  f.sse42 = bit(r1.ecx, 20);
  const bool osxsave = bit(r1.ecx, 27);
  // The OS must enable saving of XMM+YMM state (XCR0 bits 1, 2) before AVX may be used, and
  // of opmask + ZMM state (bits 5, 6, 7) before AVX-512 may be used.
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;

  f.avx = os_avx && bit(r1.ecx, 28);
  f.fma = f.avx && bit(r1.ecx, 12);
  f.f16c = f.avx && bit(r1.ecx, 29);
  if (max_leaf < 7) return;

  const Regs r7 = cpuid(7, 0);
  f.avx2 = f.avx && bit(r7.ebx, 5);
  f.avx512f = os_avx512 && bit(r7.ebx, 16);
  f.avx512dq = f.avx512f && bit(r7.ebx, 17);
  f.avx512bw = f.avx512f && bit(r7.ebx, 30);
  f.avx512vl = f.avx512f && bit(r7.ebx, 31);
  f.avx512vnni = f.avx512f && bit(r7.ecx, 11);
  f.avx512fp16 = f.avx512f && bit(r7.edx, 23);
  if (r7.eax >= 1) {
    const Regs r71 = cpuid(7, 1);
    f.avxvnni = f.avx2 && bit(r71.eax, 4);
    f.avx512bf16 = f.avx512f && bit(r71.eax, 5);
  }
}
#endif  // FNN_X86_64

CpuFeatures detect() {
  CpuFeatures f;
#if FNN_X86_64
  detect_x86(f);
#elif defined(__aarch64__)
  f.arch = "aarch64";
  f.neon = true;  // Advanced SIMD is mandatory on AArch64.
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP);
#ifdef HWCAP_ASIMDDP
  f.dotprod = (hwcap & HWCAP_ASIMDDP) != 0;
#endif
#elif defined(__ARM_FEATURE_DOTPROD)
  f.dotprod = true;
#endif
#else
  f.arch = "unknown";
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace fnn
