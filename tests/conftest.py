import os

import pytest

import frugalnn

ALL_ISAS = ["scalar", "avx2", "avx512", "avx512vnni"]


@pytest.fixture(params=ALL_ISAS)
def isa(request):
    """Run the test at every ISA level: levels this CPU or build lacks are skipped, not faked,
    and so are levels above FRUGALNN_ISA when the environment forces one."""
    level = request.param
    if level not in frugalnn.available_isas():
        pytest.skip(f"ISA level {level} is not available on this CPU / build")
    forced = os.environ.get("FRUGALNN_ISA")
    if forced in ALL_ISAS and ALL_ISAS.index(level) > ALL_ISAS.index(forced):
        pytest.skip(f"FRUGALNN_ISA={forced} caps the levels under test")
    with frugalnn.use_isa(level):
        yield level
