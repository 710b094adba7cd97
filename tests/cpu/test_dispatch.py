"""CPU feature detection, the ISA ladder, FRUGALNN_ISA and run-time switching."""
import os
import platform
import subprocess
import sys

import pytest

import frugalnn
from frugalnn import _core

LEVELS = ["scalar", "avx2", "avx512", "avx512vnni"]
# Kernels gated by a feature rather than a rung report the feature; it sits on this rung.
RUNG_OF = {"avx512bf16": "avx512", "avxvnni": "avx2"}


def rung(isa):
    return LEVELS.index(RUNG_OF.get(isa, isa))


def run_python(code: str, isa_env):
    env = dict(os.environ)
    env.pop("FRUGALNN_ISA", None)
    if isa_env is not None:
        env["FRUGALNN_ISA"] = isa_env
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


def proc_cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def test_runtime_info_is_consistent():
    info = frugalnn.runtime_info()
    assert info["version"] == frugalnn.__version__
    assert info["available_isas"][0] == "scalar"
    for level in info["available_isas"]:
        assert level in info["compiled_isas"] and level in info["supported_isas"]
    assert info["best_isa"] == info["available_isas"][-1]
    assert info["active_isa"] in info["available_isas"]
    assert set(info["kernels"]) >= {"u8_rsum", "f32_rsum"}
    active = LEVELS.index(info["active_isa"])
    assert all(rung(v) <= active for v in info["kernels"].values())
    assert all(isinstance(v, bool) for v in info["features"].values())


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 features")
def test_features_match_the_kernels_view():
    """/proc/cpuinfo lists what the kernel enabled (CPU and OS): an independent reference."""
    flags = proc_cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo")
    features = frugalnn.runtime_info()["features"]
    names = {"avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512f",
             "avx512bw": "avx512bw", "avx512vl": "avx512vl", "avx512dq": "avx512dq",
             "avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16",
             "avx512fp16": "avx512_fp16", "avxvnni": "avx_vnni"}
    for ours, kernel in names.items():
        assert features[ours] == (kernel in flags), ours


def test_every_available_level_can_be_selected_and_restored():
    start = frugalnn.active_isa()
    for level in frugalnn.available_isas():
        with frugalnn.use_isa(level):
            assert frugalnn.active_isa() == level
            kernels = frugalnn.runtime_info()["kernels"]
            assert all(rung(v) <= LEVELS.index(level) for v in kernels.values())
        assert frugalnn.active_isa() == start


def test_use_isa_restores_after_an_exception():
    start = frugalnn.active_isa()
    with pytest.raises(RuntimeError):
        with frugalnn.use_isa("scalar"):
            raise RuntimeError("boom")
    assert frugalnn.active_isa() == start


def test_set_isa_rejects_unknown_and_unavailable_levels():
    with pytest.raises(ValueError, match="unknown ISA level 'avx3'"):
        frugalnn.set_isa("avx3")
    with pytest.raises(TypeError):
        frugalnn.set_isa(2)
    missing = [lv for lv in LEVELS if lv not in frugalnn.available_isas()]
    if missing:
        with pytest.raises(ValueError, match="not available"):
            frugalnn.set_isa(missing[0])


@pytest.mark.parametrize("level", LEVELS)
def test_env_var_forces_a_level(level):
    r = run_python("import frugalnn; print(frugalnn.active_isa())", level)
    if level in frugalnn.available_isas():
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == level
    else:
        # Above what the CPU has: a warning, and the best level that exists.
        assert r.returncode == 0, r.stderr
        assert "RuntimeWarning" in r.stderr and "not available" in r.stderr
        assert r.stdout.strip() == frugalnn.runtime_info()["best_isa"]


def test_env_var_with_an_unknown_level_refuses_to_import():
    r = run_python("import frugalnn", "avx-512")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "FRUGALNN_ISA='avx-512' is not an ISA level" in r.stderr


def test_empty_env_var_means_the_best_level():
    r = run_python("import frugalnn; print(frugalnn.active_isa(), frugalnn.runtime_info()['best_isa'])", "")
    active, best = r.stdout.split()
    assert active == best


def test_raw_env_report_has_the_documented_shape():
    # The env check lives in the package: the raw module only reports it.
    value, invalid, message = _core._isa_env()
    assert isinstance(value, str) and isinstance(invalid, bool) and isinstance(message, str)


def test_feature_kernels_can_be_switched_off_and_back():
    info = frugalnn.runtime_info()
    assert info["feature_kernels"] is True
    with frugalnn.use_isa(info["best_isa"], feature_kernels=False):
        kernels = frugalnn.runtime_info()["kernels"]
        assert "avxvnni" not in kernels.values() and "avx512bf16" not in kernels.values()
        assert frugalnn.runtime_info()["feature_kernels"] is False
    assert frugalnn.runtime_info()["feature_kernels"] is True
    with pytest.raises(TypeError):
        frugalnn.set_feature_kernels(1)


@pytest.mark.skipif(not frugalnn.runtime_info()["features"]["avxvnni"], reason="no AVX-VNNI")
def test_avx_vnni_serves_int8_below_the_avx512vnni_rung():
    with frugalnn.use_isa("avx2"):
        assert frugalnn.runtime_info()["kernels"]["gemm_qu8_qs8w"] == "avxvnni"
    with frugalnn.use_isa("avx2", feature_kernels=False):
        assert frugalnn.runtime_info()["kernels"]["gemm_qu8_qs8w"] == "avx2"


# Which kernel each family must run at each rung, feature kernels off (the rung's own
# kernels). A family whose table says "scalar" above the scalar rung has no SIMD kernel for
# that rung yet (bf16 x bf16 without AVX512-BF16 runs the exact emulation).
RUNG_KERNELS = {
    "scalar": dict.fromkeys(["u8_rsum", "f32_rsum", "gemm_f32", "gemm_f32_f16w", "gemm_f32_bf16w", "gemm_bf16",
                             "gemm_qu8_qs8w", "quantize_f32_qu8", "spmm", "dwconv_f32", "dwconv_qu8", "f32_adam",
                             "codebook_decode", "gemm_f32_codebook4w", "unary_f32", "vadd_qu8", "softmax_f32"],
                            "scalar"),
    "avx2": {**dict.fromkeys(["u8_rsum", "f32_rsum", "gemm_f32", "gemm_f32_f16w", "gemm_f32_bf16w", "gemm_qu8_qs8w",
                              "quantize_f32_qu8", "spmm", "dwconv_f32", "dwconv_qu8", "f32_adam", "codebook_decode", "gemm_f32_codebook4w",
                              "unary_f32", "vadd_qu8", "softmax_f32"], "avx2"),
             "gemm_bf16": "scalar"},
    "avx512": {**dict.fromkeys(["u8_rsum", "f32_rsum", "gemm_f32", "gemm_f32_f16w", "gemm_f32_bf16w", "gemm_qu8_qs8w",
                                "quantize_f32_qu8", "spmm", "dwconv_f32", "dwconv_qu8", "f32_adam", "codebook_decode", "gemm_f32_codebook4w",
                                "unary_f32", "vadd_qu8", "softmax_f32"], "avx512"),
               "gemm_bf16": "scalar"},
    "avx512vnni": {**dict.fromkeys(["f32_rsum", "gemm_f32", "gemm_f32_f16w", "gemm_f32_bf16w", "quantize_f32_qu8",
                                    "spmm", "dwconv_f32", "f32_adam", "codebook_decode", "gemm_f32_codebook4w", "unary_f32",
                                    "vadd_qu8", "softmax_f32"],
                                   "avx512"),
                   **dict.fromkeys(["u8_rsum", "gemm_qu8_qs8w", "dwconv_qu8"], "avx512vnni"), "gemm_bf16": "scalar"},
}


@pytest.mark.parametrize("level", list(RUNG_KERNELS))
def test_every_family_runs_its_rungs_kernel(level):
    """On a CPU that has the rung, no family silently falls back to a lower one."""
    if level not in frugalnn.available_isas():
        pytest.skip(f"{level} is not available here")
    with frugalnn.use_isa(level, feature_kernels=False):
        assert frugalnn.runtime_info()["kernels"] == RUNG_KERNELS[level]


def test_feature_kernels_serve_where_the_cpu_has_them():
    f = frugalnn.runtime_info()["features"]
    for level in frugalnn.available_isas():
        with frugalnn.use_isa(level):
            kernels = frugalnn.runtime_info()["kernels"]
        want_bf16 = "avx512bf16" if f["avx512bf16"] and level in ("avx512", "avx512vnni") else "scalar"
        assert kernels["gemm_bf16"] == want_bf16, level
        if level in ("avx2", "avx512") and f["avxvnni"]:
            assert kernels["gemm_qu8_qs8w"] == "avxvnni", level
