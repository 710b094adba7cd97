#include "memory/scratch.h"

namespace fnn {

std::shared_ptr<Pool> scratch_pool() {
  static const std::shared_ptr<Pool> pool = std::make_shared<Pool>();
  return pool;
}

}  // namespace fnn
