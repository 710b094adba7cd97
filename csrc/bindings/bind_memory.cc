#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "memory/planner.h"
#include "memory/pool.h"
#include "testing/pool_stress.h"

namespace py = pybind11;

namespace fnn {
namespace {

// What a pooled numpy array's base capsule owns: the block and a reference to its pool, so
// the block goes back to the pool when the last view dies, even after the Pool object is gone.
struct PooledBlock {
  std::shared_ptr<Pool> pool;
  void* data;
};

void release_block(void* p) {
  std::unique_ptr<PooledBlock> block(static_cast<PooledBlock*>(p));
  try {
    block->pool->deallocate(block->data);
  } catch (const std::exception& e) {
    // A capsule destructor cannot raise, and terminating the interpreter is worse than
    // reporting: this would be an internal bug, never a user error.
    std::fprintf(stderr, "frugalnn: internal error releasing a pooled block: %s\n", e.what());
  }
}

py::array pooled_empty(const std::shared_ptr<Pool>& pool, const std::vector<py::ssize_t>& shape,
                       const py::dtype& dtype) {
  if (dtype.attr("hasobject").cast<bool>()) {
    throw py::type_error("pool arrays cannot hold Python objects (dtype " +
                         py::str(dtype).cast<std::string>() + ")");
  }
  const size_t itemsize = static_cast<size_t>(dtype.itemsize());
  size_t nbytes = itemsize;
  for (py::ssize_t d : shape) {
    if (d < 0) throw py::value_error("negative dimension " + std::to_string(d) + " in shape");
    if (__builtin_mul_overflow(nbytes, static_cast<size_t>(d), &nbytes) ||
        nbytes > Pool::kMaxRequestBytes) {
      throw py::value_error("array of this shape and dtype is too large for the pool");
    }
  }
  auto block = std::make_unique<PooledBlock>(PooledBlock{pool, pool->allocate(nbytes)});
  void* data = block->data;
  py::capsule owner(block.get(), "frugalnn.PooledBlock", &release_block);
  block.release();  // the capsule owns it now
  return py::array(dtype, shape, std::vector<py::ssize_t>{}, data, owner);
}

py::dict stats_dict(const PoolStats& s) {
  py::dict d;
  d["bytes_in_use"] = s.bytes_in_use;
  d["requested_bytes"] = s.requested_bytes;
  d["peak_bytes_in_use"] = s.peak_bytes_in_use;
  d["reserved_bytes"] = s.reserved_bytes;
  d["free_bytes"] = s.free_bytes;
  d["largest_free_block"] = s.largest_free_block;
  d["blocks"] = s.blocks;
  d["regions"] = s.regions;
  d["allocations"] = s.allocations;
  d["frees"] = s.frees;
  d["os_allocations"] = s.os_allocations;
  d["os_frees"] = s.os_frees;
  d["cache_hits"] = s.cache_hits;
  d["cache_misses"] = s.cache_misses;
  d["fragmentation"] = s.fragmentation();
  d["budget"] = s.budget == 0 ? py::object(py::none()) : py::object(py::int_(s.budget));
  return d;
}

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace

py::dict plan_dict(const MemoryPlan& plan) {
  py::dict d;
  d["offsets"] = to_numpy(plan.offsets);
  d["sizes"] = to_numpy(plan.sizes);
  d["arena_bytes"] = plan.arena_bytes;
  d["lower_bound"] = plan.lower_bound;
  d["naive_bytes"] = plan.naive_bytes;
  d["alignment"] = plan.alignment;
  d["strategy"] = plan.strategy;
  return d;
}

void bind_memory(py::module_& m) {
  py::class_<Pool, std::shared_ptr<Pool>>(m, "Pool",
                                          "Thread-safe pool of 64-byte aligned blocks (native).")
      .def(py::init([](std::optional<size_t> budget) {
             if (budget && *budget == 0) throw py::value_error("budget must be positive or None");
             return std::make_shared<Pool>(budget.value_or(0));
           }),
           py::arg("budget") = py::none())
      .def(
          "empty",
          [](const std::shared_ptr<Pool>& self, const std::vector<py::ssize_t>& shape,
             const py::dtype& dtype) { return pooled_empty(self, shape, dtype); },
          py::arg("shape"), py::arg("dtype"),
          "Uninitialised C-contiguous array in pool memory.")
      .def("stats", [](const Pool& self) { return stats_dict(self.stats()); })
      .def("trim", &Pool::trim, "Unmap wholly free regions; returns the bytes released.")
      .def("reserve", &Pool::reserve, py::arg("nbytes"),
           "Map memory now so later requests up to nbytes need no OS call.")
      .def("reset_peak", &Pool::reset_peak)
      .def_property(
          "budget",
          [](const Pool& self) -> std::optional<size_t> {
            return self.budget() == 0 ? std::nullopt : std::optional<size_t>(self.budget());
          },
          [](Pool& self, std::optional<size_t> budget) {
            if (budget && *budget == 0) throw py::value_error("budget must be positive or None");
            self.set_budget(budget.value_or(0));
          });

  m.def(
      "_pool_stress",
      [](Pool& pool, int threads, int iterations, size_t max_bytes, int max_live, uint64_t seed) {
        if (threads < 1 || iterations < 0 || max_live < 1) {
          throw py::value_error("threads and max_live must be >= 1, iterations >= 0");
        }
        PoolStressResult r;
        {
          py::gil_scoped_release nogil;
          r = pool_stress(pool, threads, iterations, max_bytes, max_live, seed);
        }
        return py::dict(py::arg("allocations") = r.allocations,
                        py::arg("corrupted") = r.corrupted, py::arg("misaligned") = r.misaligned);
      },
      py::arg("pool"), py::arg("threads"), py::arg("iterations"), py::arg("max_bytes"),
      py::arg("max_live"), py::arg("seed"),
      "Native threads hammering one pool without the GIL (tests).");
  m.def("_live_os_regions", &Pool::live_os_regions, "OS regions held by all pools (tests).");
  m.def("_live_os_bytes", &Pool::live_os_bytes, "OS bytes held by all pools (tests).");

  m.def(
      "plan_memory",
      [](const std::vector<uint64_t>& sizes, const std::vector<int64_t>& first,
         const std::vector<int64_t>& last, uint64_t alignment) {
        MemoryPlan plan;
        {
          py::gil_scoped_release nogil;
          plan = fnn::plan_memory(sizes, first, last, alignment);
        }
        return plan_dict(plan);
      },
      py::arg("sizes"), py::arg("first"), py::arg("last"), py::arg("alignment") = 64,
      "Arena offsets for tensors alive from first[i] to last[i] (steps, inclusive).");
}

}  // namespace fnn
