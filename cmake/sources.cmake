# Every C++ source of the build, listed by hand and grouped per folder and per ISA level.
# CMakeLists.txt refuses to configure when a .cc file under csrc/ is on no list, so a new file
# cannot silently go uncompiled.

set(FNN_UKERNELS_scalar
  csrc/kernels/conv/f32_dwconv_scalar.cc
  csrc/kernels/conv/qu8_dwconv_scalar.cc
  csrc/kernels/eltwise/qu8_vadd_scalar.cc
  csrc/kernels/eltwise/softmax_f32_scalar.cc
  csrc/kernels/eltwise/unary_f32_scalar.cc
  csrc/kernels/gemm/bf16_gemm_scalar.cc
  csrc/kernels/gemm/codebook_decode_scalar.cc
  csrc/kernels/gemm/f32_bf16_convert_scalar.cc
  csrc/kernels/gemm/f32_gemm_scalar.cc
  csrc/kernels/gemm/qu8_qs8w_gemm_scalar.cc
  csrc/kernels/optim/adam_scalar.cc
  csrc/kernels/quant/quant_scalar.cc
  csrc/kernels/reduce/rsum_scalar.cc
  csrc/kernels/sparse/spmm_scalar.cc
)

set(FNN_UKERNELS_avx2
  csrc/kernels/conv/f32_dwconv_avx2.cc
  csrc/kernels/conv/qu8_dwconv_avx2.cc
  csrc/kernels/eltwise/qu8_vadd_avx2.cc
  csrc/kernels/eltwise/softmax_f32_avx2.cc
  csrc/kernels/eltwise/unary_f32_avx2.cc
  csrc/kernels/gemm/codebook_decode_avx2.cc
  csrc/kernels/gemm/f32_gemm_avx2.cc
  csrc/kernels/gemm/qu8_qs8w_gemm_avx2.cc
  csrc/kernels/optim/adam_avx2.cc
  csrc/kernels/quant/quant_avx2.cc
  csrc/kernels/reduce/rsum_avx2.cc
  csrc/kernels/sparse/spmm_avx2.cc
)

set(FNN_UKERNELS_avx512
  csrc/kernels/conv/f32_dwconv_avx512.cc
  csrc/kernels/conv/qu8_dwconv_avx512.cc
  csrc/kernels/eltwise/qu8_vadd_avx512.cc
  csrc/kernels/eltwise/softmax_f32_avx512.cc
  csrc/kernels/eltwise/unary_f32_avx512.cc
  csrc/kernels/gemm/codebook_decode_avx512.cc
  csrc/kernels/gemm/f32_gemm_avx512.cc
  csrc/kernels/gemm/qu8_qs8w_gemm_avx512.cc
  csrc/kernels/optim/adam_avx512.cc
  csrc/kernels/quant/quant_avx512.cc
  csrc/kernels/reduce/rsum_avx512.cc
  csrc/kernels/sparse/spmm_avx512.cc
)

set(FNN_UKERNELS_avx512vnni
  csrc/kernels/conv/qu8_dwconv_avx512vnni.cc
  csrc/kernels/gemm/qu8_qs8w_gemm_avx512vnni.cc
  csrc/kernels/reduce/rsum_avx512vnni.cc
)

set(FNN_UKERNELS_avx512bf16
  csrc/kernels/gemm/bf16_gemm_avx512bf16.cc
  csrc/kernels/gemm/f32_bf16_convert_avx512bf16.cc
)

set(FNN_UKERNELS_avxvnni
  csrc/kernels/gemm/qu8_qs8w_gemm_avxvnni.cc
)

# AArch64 (CMakeLists.txt adds these only there).
set(FNN_UKERNELS_neon
  csrc/kernels/conv/f32_dwconv_neon.cc
  csrc/kernels/conv/qu8_dwconv_neon.cc
  csrc/kernels/gemm/f32_gemm_neon.cc
  csrc/kernels/gemm/qu8_qs8w_gemm_neon.cc
  csrc/kernels/quant/quant_neon.cc
)

set(FNN_UKERNELS_neondot
  csrc/kernels/gemm/qu8_qs8w_gemm_neondot.cc
)

# Portable core: CPU detection, dispatch, memory, runtime, .fnn I/O, kernel drivers.
set(FNN_CORE_SOURCES
  # csrc/cpu
  csrc/cpu/cpu_features.cc
  csrc/cpu/dispatch.cc
  csrc/cpu/isa.cc
  # csrc/io
  csrc/io/fnn_hash.cc
  csrc/io/fnn_reader.cc
  csrc/io/fnn_reader_v1.cc
  csrc/io/mapped_file.cc
  # csrc/kernels/common
  csrc/kernels/common/half.cc
  csrc/kernels/common/ukernel_registry.cc
  # csrc/kernels/conv
  csrc/kernels/conv/conv_nhwc.cc
  # csrc/kernels/eltwise
  csrc/kernels/eltwise/eltwise.cc
  # csrc/kernels/gemm
  csrc/kernels/gemm/gemm_config.cc
  csrc/kernels/gemm/gemm_driver.cc
  csrc/kernels/gemm/gemm_general.cc
  csrc/kernels/gemm/gemm_pack.cc
  # csrc/kernels/sparse
  csrc/kernels/sparse/sparse_matrix_pack.cc
  csrc/kernels/sparse/spmm_config.cc
  csrc/kernels/sparse/spmm_driver.cc
  # csrc/memory
  csrc/memory/planner.cc
  csrc/memory/pool.cc
  csrc/memory/scratch.cc
  # csrc/runtime
  csrc/runtime/activation_dtypes.cc
  csrc/runtime/program.cc
  csrc/runtime/program_check.cc
  csrc/runtime/session.cc
  csrc/runtime/step_check.cc
  csrc/runtime/step_kind.cc
  csrc/runtime/thread_pool.cc
  # csrc/runtime/steps: one file per step kind (step_kinds.inc lists them)
  csrc/runtime/steps/broadcast.cc
  csrc/runtime/steps/concat.cc
  csrc/runtime/steps/conv2d.cc
  csrc/runtime/steps/conv_transpose.cc
  csrc/runtime/steps/dense.cc
  csrc/runtime/steps/depthwise_conv2d.cc
  csrc/runtime/steps/eltwise.cc
  csrc/runtime/steps/int8_output.cc
  csrc/runtime/steps/layout.cc
  csrc/runtime/steps/log_softmax.cc
  csrc/runtime/steps/pool2d.cc
  csrc/runtime/steps/quantize.cc
  csrc/runtime/steps/dequantize.cc
  csrc/runtime/steps/resize.cc
  csrc/runtime/steps/scale_shift.cc
  csrc/runtime/steps/softmax.cc
  csrc/runtime/steps/sparse_dense.cc
  csrc/runtime/steps/u8_eltwise.cc
  csrc/runtime/steps/unary.cc
)

# Training, .fnn writing and test hooks: only the Python module calls them, so the C library
# (libfrugalnn) leaves them out.
set(FNN_PYTHON_ONLY_SOURCES
  csrc/io/fnn_writer.cc
  csrc/train/fake_quant.cc
  csrc/train/optimizer_update.cc
  csrc/testing/pool_stress.cc
)

set(FNN_BINDING_SOURCES
  csrc/bindings/bind_cpu.cc
  csrc/bindings/bind_gemm.cc
  csrc/bindings/bind_io.cc
  csrc/bindings/bind_memory.cc
  csrc/bindings/bind_ops.cc
  csrc/bindings/bind_runtime.cc
  csrc/bindings/bind_sparse.cc
  csrc/bindings/bind_step_params.cc
  csrc/bindings/bind_train.cc
  csrc/bindings/bind_ukernels.cc
  csrc/bindings/module.cc
)

# The C API (include/frugalnn.h): libfrugalnn's own sources, on top of the core and kernels.
set(FNN_CAPI_SOURCES
  csrc/capi/capi_error.cc
  csrc/capi/capi_model.cc
  csrc/capi/capi_session.cc
)
