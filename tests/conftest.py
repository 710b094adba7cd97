import os

import pytest

import frugalnn

ALL_ISAS = ["scalar", "avx2", "avx512", "avx512vnni"]


# (level, feature kernels): every rung with its own kernels, plus the rung with the feature
# kernels the CPU adds (AVX-VNNI, AVX512-BF16) where that changes a kernel.
ISA_CASES = [("scalar", False), ("avx2", False), ("avx2", True), ("avx512", False),
             ("avx512", True), ("avx512vnni", True)]


def _kernels(level, features):
    with frugalnn.use_isa(level, feature_kernels=features):
        return frugalnn.runtime_info()["kernels"]


@pytest.fixture(params=ISA_CASES, ids=[f"{lv}{'+features' if f else ''}" for lv, f in ISA_CASES])
def isa(request):
    """Run the test at every ISA level: levels this CPU or build lacks are skipped, not faked,
    and so are levels above FRUGALNN_ISA when the environment forces one."""
    level, features = request.param
    if level not in frugalnn.available_isas():
        pytest.skip(f"ISA level {level} is not available on this CPU / build")
    forced = os.environ.get("FRUGALNN_ISA")
    if forced in ALL_ISAS and ALL_ISAS.index(level) > ALL_ISAS.index(forced):
        pytest.skip(f"FRUGALNN_ISA={forced} caps the levels under test")
    if features and level != "avx512vnni" and _kernels(level, True) == _kernels(level, False):
        pytest.skip(f"this CPU has no feature kernels on the {level} rung")
    with frugalnn.use_isa(level, feature_kernels=features):
        yield level


from tests.malloc_count import malloc_counter  # noqa: E402,F401  (the fixture, for every test)
