// Per-call scratch (quantized activations, per-call scales) from one process-wide pool.
// A call takes a block and gives it back when it returns, so in steady state every request
// is a pool hit: no OS allocation, and the pool's counters show it.
#pragma once

#include <cstddef>
#include <memory>

#include "memory/pool.h"

namespace fnn {

std::shared_ptr<Pool> scratch_pool();

class ScratchBlock {
 public:
  explicit ScratchBlock(size_t nbytes)
      : pool_(nbytes ? scratch_pool() : nullptr),
        data_(nbytes ? pool_->allocate(nbytes) : nullptr) {}
  ~ScratchBlock() {
    if (data_ != nullptr) pool_->deallocate(data_);
  }
  ScratchBlock(const ScratchBlock&) = delete;
  ScratchBlock& operator=(const ScratchBlock&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  std::shared_ptr<Pool> pool_;
  void* data_;
};

}  // namespace fnn
