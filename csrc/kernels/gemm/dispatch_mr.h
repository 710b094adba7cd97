// dispatch_mr<MaxMR>(mr, f): calls f(std::integral_constant<size_t, mr>{}) for a run-time
// row count 1 <= mr <= MaxMR (mr > MaxMR takes MaxMR), so a micro-kernel's entry point picks
// its compile-time tile height in one line instead of a hand-written switch per kernel.
// Header-only and template-only: ISA translation units include it (every instantiation is
// local to its TU, through the caller's lambda type).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace fnn {
namespace dispatch_detail {

template <typename F, size_t... Ms>
inline void dispatch_mr(size_t mr, F&& f, std::index_sequence<Ms...>) {
  constexpr size_t kMax = sizeof...(Ms);
  const size_t rows = mr < kMax ? mr : kMax;
  // One comparison per candidate height; the matching one calls f and stops the chain.
  static_cast<void>(((rows == Ms + 1 ? (f(std::integral_constant<size_t, Ms + 1>{}), true) : false) || ...));
}

}  // namespace dispatch_detail

template <size_t MaxMR, typename F>
inline void dispatch_mr(size_t mr, F&& f) {
  static_assert(MaxMR >= 1, "a tile has at least one row");
  dispatch_detail::dispatch_mr(mr, std::forward<F>(f), std::make_index_sequence<MaxMR>{});
}

}  // namespace fnn
