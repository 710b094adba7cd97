// The .fnn file format, version 2.0: a compiled Program, memory-mappable. This comment is the
// normative specification; fnn_writer.cc and fnn_reader.cc implement it, and a C reader needs
// nothing else (no third-party library: the checksum is XXH64, fnn_hash.h).
//
// All integers and floats are little-endian (IEEE 754 binary32 floats); the runtime refuses to
// build on a big-endian host. Offsets and sizes are in bytes from the start of the file.
//
//   [file header, 64 B][blob table, 32 B x blob_count][meta records][0-pad to 64]
//   [blob 0][0-pad to 64][blob 1] ... [last blob][0-pad to 64][tail pad, 64 zero bytes]
//
// File header (64 bytes)
//    0  u8[8] magic          89 46 4E 4E 0D 0A 1A 0A ("\x89FNN\r\n\x1a\n": the high byte and
//                            the line endings catch text-mode transfers, as PNG's does)
//    8  u16   version_major  2 (1: the version 1 layout of 'STEP' below); a reader refuses
//                            any major version it does not know
//   10  u16   version_minor  0: a newer minor only adds record tags, which readers skip
//   12  u32   flags          0
//   16  u64   file_size      the whole file, tail pad included
//   24  u64   header_bytes   64 + 32 * blob_count + meta_bytes
//   32  u64   meta_bytes
//   40  u32   blob_count
//   44  u32   reserved       0
//   48  u64   header_checksum  XXH64 (seed 0) of bytes [64, header_bytes): blob table + meta
//   56  u64   reserved       0
// Every field outside the checksum is checked against the others and the real file size.
//
// Blob table entry (32 bytes): u64 offset, u64 size, u64 checksum (XXH64 of the size bytes),
// u32 kind (BlobKind), u32 reserved 0. Offsets are multiples of 64, ascending, the blobs do not
// overlap, the first starts at or after header_bytes rounded up to 64, and every blob ends at
// least 64 bytes before file_size: SIMD kernels may read up to 64 bytes past a blob's end, and
// those bytes are still inside the mapping. Every blob is used by exactly one step.
// Blobs hold the kernels' storage byte for byte, so loading maps them and repacks nothing:
//   kPackedWeights (1)  PackedWeights (gemm.h): panels, bias, and for int8 column sums and scales,
//                   each section 64-aligned, PackedWeights::layout_bytes(kind, k, n) bytes
//   kSparseMatrix (2)   SparseMatrix (sparse_matrix.h): row_ptr, idx, val, row_scale (s8), each
//                   section 64-aligned, SparseMatrix::layout_bytes(...) bytes
//   kCodebookWeights (3)  PackedWeights of kind codebook (4): per 16-column panel, K index
//                   rows of 8 bytes (bits 2..4: byte j = column j low nibble, column j + 8 high)
//                   or 16 bytes (bits 5..8: byte j = column j); then the bias (panels*16 f32);
//                   then the tables: one of 2^bits f32 (per layer), or panels*16 of them back
//                   to back, column c's at c * 2^bits (per channel); each section 64-aligned,
//                   PackedWeights::layout_bytes(kCodebook, k, n, bits, per_channel) bytes.
//                   Every index, padding columns' too, is < 2^bits (the reader checks).
//
// Meta records follow the blob table, back to back: u32 tag, u32 length, length bytes of
// payload. Each tag appears once; unknown tags are skipped. A string is a u32 byte length and
// that many bytes of UTF-8 (no terminator). Reserved fields are 0. Records of version 1.0:
//   'PROD' str producer ("frugalnn 0.1.0")
//   'TENS' u32 n, then per tensor (24 B): u64 sample_elems, u8 external, u8 dtype (DType:
//          0 float32, 1 u8, 2 s8), u16 reserved, i32 alias_of (-1: none), f32 scale,
//          i32 zero_point (u8 / s8: real = scale * (q - zero_point); the scale finite and
//          > 0, the zero point in 0..255 for u8, -128..127 for s8; float32: ignored). Outputs
//          are float32; an input may be u8 / s8 (a camera frame): its scale and zero point
//          are the ones in its tensor's entry here, nowhere else. s8 tensors are an s8 input
//          and its layout change / aliases only (read by dequantize).
//   'STEP' u32 n, then per step: str kind (the step kind's name: "conv2d"), str name,
//          str precision ("f32" | "f16" | "bf16" | "int8" | "sparse" | "codebook"),
//          u32 n_in, i32 in[n_in], i32 out, f32 lo, f32 hi (the output clamp; +-inf: none),
//          u32 param_bytes, then param_bytes bytes: the kind's parameter record, below.
//          A reference to weights in a blob is, for packed weights (24 B): u32 blob,
//          u8 kind (WeightKind: 0 f32, 1 f16, 2 bf16, 3 int8, 4 codebook), u8 has_bias,
//          u16 reserved (codebook: u8 bits in 2..8, u8 per_channel flag; its blob is a
//          kCodebookWeights blob, the others' a kPackedWeights one), u64 k, u64 n; for a sparse
//          matrix (32 B): u32 blob, u8 bk, u8 values (SpmmValueKind), u16 reserved, u64 rows,
//          u64 cols, u64 nblocks. An array is u32 n then n values; a u8 parameter pair is
//          f32 scale, i32 zero_point; a flag is u8 0 or 1; conv geometry is u64[15] (h w c oh ow oc kh kw sh sw
//          dh dw pad_top pad_left groups), pool geometry u64[11] (h w c oh ow kh kw sh sw
//          pad_top pad_left). Parameter records, each written and read by its kind's file
//          (runtime/steps/<kind>.cc):
//            to_nhwc, to_nchw    u64 c, u64 hw
//            dense               packed reference, u8 pair (the int8 input's), [fused]
//            sparse_dense        sparse reference, f32 bias[]
//            conv2d              conv geometry, u32 groups, packed reference per group,
//                                u8 pair, u8 pool_fused, pool geometry (of the fused
//                                max-pool; ignored without one), [fused]
//            depthwise_conv2d    conv geometry, f32 weights[] ([kh][kw][c]), i8 weights_s8[],
//                                f32 weight_scale[], f32 bias[], u8 pair (int8: s8 weights
//                                with a scale per channel; tiny, so inline), [fused]
//            [fused]             optional, last: activations run in the epilogue, in order
//                                (after the step's clamp, on each output tile) — absent (no
//                                bytes), or u8 n (1 to 4), then per function u64 op (UnaryOp,
//                                kernels/eltwise/unary_f32.h: the unary codes, 18 sigmoid,
//                                19 hard_swish, 20 silu_quantized_gate), f32 alpha, f32 beta,
//                                f32 lo, f32 hi (its own clamp after it). The output is then
//                                float32. Files without one are unchanged; a reader from before
//                                fused activations refuses a record that has one (bytes left
//                                over).
//            maxpool2d, avgpool2d  pool geometry
//            global_avgpool      u64 c, u64 hw, u32 n, u8 pair per input (int8 inputs)
//            add                 u32 n, u8 pair per input (int8 inputs)
//            softmax, log_softmax  u64 cols
//            scale_shift         f32 scale[], f32 shift[]
//            concat              u32 n, u64 parts[n]
//            broadcast           u64 op, u64 dims[], u64 a_strides[], u64 b_strides[],
//                                u64 a_sample, u64 b_sample, u64 a_offset,
//                                u8 swap, f32 constant[]
//            unary               u64 op (UnaryOp), f32 constants[] (alpha, beta)
//            resize              u64 h, u64 w, u64 c, u64 oh, u64 ow, u8 linear, u64 rows[],
//                                u64 cols[], f32 row_weights[], f32 col_weights[] (source
//                                row / column per output row / column, nearest; two each
//                                and their weights, linear)
//            conv_transpose2d    conv geometry (of the transposed conv: input h w c, output
//                                oh ow oc), u32 groups, packed reference per group (f32,
//                                c / groups x kh kw oc / groups), f32 bias[]
//            clamp, sigmoid, quantize, dequantize  (empty)
//   'PGIO' u32 n_in, i32 inputs[n_in], u32 n_out, i32 outputs[n_out]  (program tensors)
//   'SPEC' the graph's inputs then outputs, each list u32 n, then per tensor: str name,
//          u8 dtype (0 float32, 1 uint8, 2 int8: the program tensor's 'TENS' dtype, which
//          must agree; outputs 0; files before quantized inputs hold 0 only, and read as
//          before), u8 ndim, u16 reserved, u64 dims[ndim] (per sample, no batch)
//   'QUAN' u32 n, then per int8 layer: str name, f32 input scale, i32 input zero point
//   'PLAN' the memory plan a Session makes for this program (informational: a Session plans
//          for its own max_batch): u64 max_batch, u64 threads, u64 arena_bytes,
//          u64 lower_bound, u64 naive_bytes, str strategy, u32 n (= tensors), per tensor
//          i64 offset (-1: not in the arena), u64 bytes; u32 n (= steps), per step i64 scratch
//          offset (-1: none), u64 scratch bytes
// Version 1 'STEP' (still read; fnn_reader_v1.cc): per step u8 kind (0 to_nhwc, 1 to_nchw,
// 2 dense, 3 sparse_dense, 4 conv2d, 5 depthwise_conv2d, 6 maxpool2d, 7 avgpool2d,
// 8 global_avgpool, 9 add, 10 clamp, 11 sigmoid, 12 softmax, 13 scale_shift, 14 concat,
// 15 quantize), u8 pool_fused, u16 reserved, str name, str precision, u32 n_in, i32 in[n_in],
// i32 out, f32 lo, f32 hi, u64 conv[15], u64 pool[11], u64 c, u64 hw, f32 a_scale,
// i32 a_zero_point, u32 n_packed + packed references, u8 has_sparse + a sparse reference,
// f32 bias[], f32 weights[] (scale_shift: c scales then c shifts), u64 parts[],
// i8 weights_s8[], f32 w_scale[], u32 n + u8 pairs (add / global_avgpool inputs). Each kind
// uses its fields (softmax: c as cols); the others must be empty.
//
// The program is the one compile() built, quantize steps and u8 tensors included (a reader
// checks that assigning activation dtypes again changes nothing); derived state (int8 output
// stages) is recomputed on load.
//
// A reader refuses a file (FormatError, naming what and where) unless, in this order: the
// magic and the major version match; file_size is the real size; header_bytes adds up and
// leaves room for the tail pad; flags and reserved fields are 0; the header checksum holds;
// the blob table keeps the rules above; every record parses with each read inside its
// length, each count no larger than the bytes left could hold, each enum and flag valid, and
// no bytes left over; every blob is claimed by one step with its kind, and its checksum
// holds; each blob's size is exactly the layout its step declares, and sparse row pointers
// and indices stay in range (PackedWeights::view, SparseMatrix::view); the program passes
// check_program (runtime/program_check.h): every size, index, geometry and dtype agrees with
// what the kernels read and write; per-step precisions match the weights; and the SPEC
// shapes and dtypes match the program's input and output tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>

namespace fnn {

// The file is not a valid .fnn file (truncated, corrupted, wrong version): the message says
// what is wrong and where. Maps to Python's frugalnn.FormatError (a ValueError).
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace fnn_format {

constexpr uint8_t kMagic[8] = {0x89, 'F', 'N', 'N', '\r', '\n', 0x1a, '\n'};
constexpr uint16_t kVersionMajor = 2;
constexpr uint16_t kOldestVersionMajor = 1;  // the oldest a reader still reads
constexpr uint16_t kVersionMinor = 0;
constexpr size_t kFileHeaderBytes = 64;
constexpr size_t kBlobEntryBytes = 32;
constexpr size_t kAlignment = 64;
constexpr size_t kTailPadBytes = 64;

// Field offsets in the file header.
constexpr size_t kOffVersionMajor = 8, kOffVersionMinor = 10, kOffFlags = 12, kOffFileSize = 16,
                 kOffHeaderBytes = 24, kOffMetaBytes = 32, kOffBlobCount = 40,
                 kOffReserved1 = 44, kOffHeaderChecksum = 48, kOffReserved2 = 56;

enum BlobKind : uint32_t { kBlobPackedWeights = 1, kBlobSparseMatrix = 2, kBlobCodebookWeights = 3 };

constexpr uint32_t tag(const char (&s)[5]) {
  return uint32_t(uint8_t(s[0])) | uint32_t(uint8_t(s[1])) << 8 | uint32_t(uint8_t(s[2])) << 16 |
         uint32_t(uint8_t(s[3])) << 24;
}
constexpr uint32_t kTagProducer = tag("PROD"), kTagTensors = tag("TENS"), kTagSteps = tag("STEP"),
                   kTagProgramIo = tag("PGIO"), kTagSpecs = tag("SPEC"), kTagQuant = tag("QUAN"),
                   kTagPlan = tag("PLAN");

constexpr size_t kMaxIo = 16;    // program inputs / outputs (Session::run's limit)
constexpr size_t kMaxNdim = 8;   // dims of a graph input / output

}  // namespace fnn_format

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              ".fnn blobs are the kernels' storage byte for byte: little-endian hosts only");

}  // namespace fnn
