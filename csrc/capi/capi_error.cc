// Versions, status names, and the translation of the runtime's exceptions into statuses.
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>

#include "capi/capi_handles.h"
#include "io/fnn_format.h"
#include "io/mapped_file.h"
#include "memory/pool.h"

namespace fnn {

void ErrorSlot::set(const char* message) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  while (n < kBytes - 1 && message[n] != '\0') ++n;
  std::memcpy(text_, message, n);
  text_[n] = '\0';
}

frugalnn_status status_of_current_exception(ErrorSlot* error) noexcept {
  try {
    throw;
  } catch (const FormatError& e) {
    return fail(error, FRUGALNN_FORMAT_ERROR, e.what());
  } catch (const FileError& e) {
    return fail(error, FRUGALNN_IO_ERROR, e.what());
  } catch (const PoolBudgetError& e) {
    return fail(error, FRUGALNN_OUT_OF_MEMORY, e.what());
  } catch (const std::bad_alloc&) {
    return fail(error, FRUGALNN_OUT_OF_MEMORY, "out of memory");
  } catch (const std::invalid_argument& e) {
    return fail(error, FRUGALNN_INVALID_ARGUMENT, e.what());
  } catch (const std::domain_error& e) {
    return fail(error, FRUGALNN_INVALID_ARGUMENT, e.what());
  } catch (const std::length_error& e) {
    // Sizes past what the runtime can address (a max_batch of 2^60 samples): a bad argument.
    return fail(error, FRUGALNN_INVALID_ARGUMENT, e.what());
  } catch (const std::out_of_range& e) {
    return fail(error, FRUGALNN_INVALID_ARGUMENT, e.what());
  } catch (const std::exception& e) {
    return fail(error, FRUGALNN_INTERNAL_ERROR, e.what());
  } catch (...) {
    return fail(error, FRUGALNN_INTERNAL_ERROR, "unknown exception");
  }
}

}  // namespace fnn

extern "C" {

FRUGALNN_API const char* frugalnn_version(void) { return FRUGALNN_VERSION; }

FRUGALNN_API int frugalnn_abi_version(void) { return FRUGALNN_ABI_VERSION; }

FRUGALNN_API const char* frugalnn_status_string(frugalnn_status status) {
  switch (status) {
    case FRUGALNN_OK: return "ok";
    case FRUGALNN_INVALID_ARGUMENT: return "invalid argument";
    case FRUGALNN_FORMAT_ERROR: return "not a valid .fnn file";
    case FRUGALNN_IO_ERROR: return "I/O error";
    case FRUGALNN_OUT_OF_MEMORY: return "out of memory";
    case FRUGALNN_INTERNAL_ERROR: return "internal error";
  }
  return "unknown status";
}

}  // extern "C"
