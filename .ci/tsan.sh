#!/usr/bin/env bash
# ThreadSanitizer build of frugalnn and its concurrency tests: the pool, the kernels' scratch
# pool and the library thread pool, shared sessions, and ISA / thread-count switching while
# runs are in flight. Any TSan report fails the script.
#
# Run from anywhere in a clean clone: .ci/tsan.sh. It builds into build/tsan and a throwaway
# venv (TSAN_VENV to reuse one). About 3.5 minutes on 2 cores, most of it the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

section() { printf '\n=== %s ===\n' "$*"; }
t0=$SECONDS

section "TSan build"
venv="${TSAN_VENV:-$(mktemp -d)/venv}"
[ -x "$venv/bin/python" ] || python -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q numpy scipy pytest hypothesis
# install.strip=false: scikit-build-core strips Release installs by default, and a stripped
# module gives TSan reports without function names or lines.
"$py" -m pip install -q -Ccmake.define.FRUGALNN_TSAN=ON -Cinstall.strip=false \
  -Cbuild-dir=build/tsan .
echo "build: $((SECONDS - t0)) s"

# The TSan runtime must be the first object loaded: python itself is not instrumented.
export LD_PRELOAD
LD_PRELOAD="$(g++ -print-file-name=libtsan.so)"
# halt_on_error=0 + exitcode=66: every report is printed, and any report makes the process
# exit 66 however pytest itself ended. allocator_may_return_null=1: a test asks on purpose for
# a plan no allocator can serve and expects MemoryError, not a TSan abort.
export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:allocator_may_return_null=1"
# numpy's OpenBLAS threads hand work over with spin flags in uninstrumented code, which TSan
# cannot see, so it reports numpy freeing a buffer an OpenBLAS thread wrote (a false report,
# not in our code). One BLAS thread removes those threads instead of suppressing the reports.
export OPENBLAS_NUM_THREADS=1
export PYTHONUNBUFFERED=1

section "canary: a deliberate race must be reported"
# Two sessions writing one out= array at once. If this exits cleanly, the module is not
# instrumented or reports do not fail the run, and the test run below proves nothing.
set +e
canary_out="$("$py" .ci/tsan_canary.py 2>&1)"
canary_rc=$?
set -e
if [ "$canary_rc" -ne 66 ] || ! grep -q "WARNING: ThreadSanitizer: data race" <<<"$canary_out"; then
  printf '%s\n' "$canary_out" | tail -40
  echo "canary: expected a TSan data race report and exit code 66, got exit code $canary_rc" >&2
  exit 1
fi
echo "canary: race reported, exit code 66 (as it must be)"

section "concurrency tests under TSan"
t1=$SECONDS
# The two stress tests shrink (about 40 s and 100 s at full size under TSan): TSan needs
# overlapping runs of each path, not thousands of them.
FRUGALNN_STRESS_RUNNERS=4 FRUGALNN_STRESS_RUNS=16 FRUGALNN_POOL_STRESS_ITERATIONS=1500 \
"$py" -m pytest -q -p no:cacheprovider \
  tests/memory/test_pool.py \
  tests/kernels/test_kernel_threads.py \
  tests/kernels/test_gemm_float.py::test_results_do_not_depend_on_thread_count \
  tests/kernels/test_gemm_float.py::test_steady_state_calls_allocate_nothing \
  tests/kernels/test_gemm_float.py::test_scratch_memory_can_be_given_back \
  tests/kernels/test_gemm_int8.py::test_results_do_not_depend_on_thread_count \
  tests/kernels/test_gemm_int8.py::test_steady_state_calls_allocate_nothing \
  tests/sparse/test_spmm.py::test_results_do_not_depend_on_thread_count \
  tests/sparse/test_spmm.py::test_steady_state_calls_allocate_nothing \
  tests/graph/test_session_threads.py \
  tests/graph/test_session.py::test_clones_share_weights_and_run_in_threads
echo "tests: $((SECONDS - t1)) s; total: $((SECONDS - t0)) s"
