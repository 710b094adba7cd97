"""The C library for tests/capi, built once per test session: configured without Python
(-DFRUGALNN_PYTHON=OFF), built, installed into a temporary prefix; then the test programs
(tests/capi/c) and the example (examples/c) are built against the installed package with
find_package, as a user would. FRUGALNN_CAPI_PREFIX=<prefix> skips the library build and uses
one installed there (CI builds it once; its sanitizer stage points it at an ASan build).

Another architecture (.ci/arm.sh): FRUGALNN_CAPI_PREFIX names a cross-built install,
FRUGALNN_CAPI_TOOLCHAIN the CMake toolchain file the test programs are built with, and
FRUGALNN_CAPI_EMULATOR the command that runs them (qemu-aarch64 -L ... -cpu ...); the tests
then compare the emulated C API with this machine's Python (CApi.cross).

Skipped cleanly without cmake or a C compiler."""
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Runs a command (in c_env() unless told otherwise); a failure shows its output."""
    kw.setdefault("env", c_env())
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")
    return r


def c_env() -> dict:
    """The environment for compilers and the C programs. In the sanitizer stage the Python
    process runs with the ASan runtime preloaded and leak checking off; compilers must not
    inherit the preload, and the C programs link ASan themselves (an ASan build of the
    library asks for it) with no interpreter to confuse LeakSanitizer."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env["ASAN_OPTIONS"] = "detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


def cmake_build(source: Path, build: Path, *defines: str) -> None:
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", source, "-B", build, *generator, *defines])
    run(["cmake", "--build", build, "--parallel", os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")])


@dataclass
class CApi:
    prefix: Path      # the installed package: include/, lib/, lib/cmake/frugalnn, lib/pkgconfig
    programs: Path    # capi_run, capi_errors, capi_fuzz_replay (shared library)
    example: Path     # examples/c's classify
    work: Path        # a scratch folder of the session
    emulator: tuple = ()  # the command prefix that runs the programs of a cross build

    @property
    def cross(self) -> bool:
        """The programs are another architecture's, run by an emulator."""
        return bool(self.emulator)

    def program(self, name: str) -> list:
        """The command that runs test program `name` (a list: run() and subprocess take it
        spliced, ``[*capi.program("capi_run"), args...]``)."""
        return [*self.emulator, self.programs / name]


@pytest.fixture(scope="session")
def capi(tmp_path_factory) -> CApi:
    if shutil.which("cmake") is None or (shutil.which("cc") is None and shutil.which("gcc") is None):
        pytest.skip("needs cmake and a C compiler")
    work = tmp_path_factory.mktemp("capi")
    prefix = os.environ.get("FRUGALNN_CAPI_PREFIX")
    if prefix:
        prefix = Path(prefix)
        assert (prefix / "include" / "frugalnn.h").is_file(), f"FRUGALNN_CAPI_PREFIX={prefix} holds no frugalnn install"
    else:
        prefix = work / "prefix"
        cmake_build(ROOT, work / "build", "-DFRUGALNN_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release")
        run(["cmake", "--install", work / "build", "--prefix", prefix])
    found = [f"-DCMAKE_PREFIX_PATH={prefix}"]
    toolchain = os.environ.get("FRUGALNN_CAPI_TOOLCHAIN")
    if toolchain:
        found.append(f"-DCMAKE_TOOLCHAIN_FILE={Path(toolchain).resolve()}")
    cmake_build(ROOT / "tests" / "capi" / "c", work / "programs", *found)
    cmake_build(ROOT / "examples" / "c", work / "example", *found)
    emulator = tuple(shlex.split(os.environ.get("FRUGALNN_CAPI_EMULATOR", "")))
    return CApi(prefix, work / "programs", work / "example" / "classify", work, emulator)
