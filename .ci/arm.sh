#!/usr/bin/env bash
# AArch64 under emulation: the C library cross-built without Python (Debian's
# g++-aarch64-linux-gnu, cmake/toolchains/aarch64-linux-gnu.cmake), then run by qemu-aarch64 as
# two CPUs: -cpu max (Armv8.x with the dot-product extension: levels scalar, neon, neondot) and
# -cpu cortex-a53 (Armv8.0, no dotprod: scalar, neon). On each:
#   * fnn_kernel_check (tests/native): every kernel the CPU runs against its scalar kernel, bit
#     for bit for integers, and the ISA levels the dispatch finds;
#   * tests/capi against this machine's Python: the models' outputs (tests/capi/test_capi_models.py
#     says which must be bit for bit), bad input, and on -cpu max the .fnn fuzz corpus.
# Times under emulation mean nothing and are not taken. Installs the cross compiler and qemu
# with apt-get when they are missing. Run from anywhere in a clone: .ci/arm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
section() { printf '\n=== %s ===\n' "$*"; }

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  section "installing g++-aarch64-linux-gnu and qemu-user"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q g++-aarch64-linux-gnu qemu-user >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q g++-aarch64-linux-gnu qemu-user >/dev/null; }
fi

section "cross build: libfrugalnn and fnn_kernel_check for aarch64"
prefix="$(mktemp -d)/frugalnn-aarch64"
cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DFRUGALNN_PYTHON=OFF -DFRUGALNN_NATIVE_TESTS=ON >/dev/null
cmake --build build/aarch64
cmake --install build/aarch64 --prefix "$prefix" >/dev/null
stripped="$(mktemp)"
aarch64-linux-gnu-strip -o "$stripped" "$prefix"/lib/libfrugalnn.so.*.*
echo "libfrugalnn.so (aarch64) stripped: $(stat -c %s "$stripped") bytes"

sysroot=/usr/aarch64-linux-gnu
for cpu in "max scalar,neon,neondot" "cortex-a53 scalar,neon"; do
  set -- $cpu
  section "qemu-aarch64 -cpu $1"
  qemu-aarch64 -L "$sysroot" -cpu "$1" build/aarch64/fnn_kernel_check --expect-isas "$2"
  tests=(tests/capi/test_capi_models.py tests/capi/test_capi_errors.py)
  [ "$1" = max ] && tests+=(tests/capi/test_capi_fuzz.py)
  FRUGALNN_CAPI_PREFIX="$prefix" FRUGALNN_CAPI_TOOLCHAIN=cmake/toolchains/aarch64-linux-gnu.cmake \
    FRUGALNN_CAPI_EMULATOR="qemu-aarch64 -L $sysroot -cpu $1" \
    python -m pytest -q -p no:cacheprovider "${tests[@]}"
done
