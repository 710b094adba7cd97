// Whole-array sums: the smallest kernel family, kept to prove the dispatch ladder end to end
// and to give every ISA object library a real tenant.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fnn {

// Exact sum of n bytes.
using U8RsumFn = uint64_t (*)(const uint8_t* x, size_t n);
// Sum of n floats, accumulated in f32 lanes; the order of additions is the kernel's own.
using F32RsumFn = float (*)(const float* x, size_t n);

uint64_t u8_rsum_ukernel__scalar(const uint8_t* x, size_t n);
uint64_t u8_rsum_ukernel__avx2(const uint8_t* x, size_t n);
uint64_t u8_rsum_ukernel__avx512(const uint8_t* x, size_t n);
uint64_t u8_rsum_ukernel__avx512vnni(const uint8_t* x, size_t n);

float f32_rsum_ukernel__scalar(const float* x, size_t n);
float f32_rsum_ukernel__avx2(const float* x, size_t n);
float f32_rsum_ukernel__avx512(const float* x, size_t n);

}  // namespace fnn
