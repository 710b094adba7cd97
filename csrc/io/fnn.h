// Saving and loading compiled Programs as .fnn files (the layout: fnn_format.h). Everything a
// loader needs is here, in C++, so a C API can load and run .fnn files without Python.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/fnn_format.h"
#include "memory/pool.h"
#include "runtime/program.h"

namespace fnn {

// A graph input or output as the user sees it: name, per-sample shape (NCHW, no batch) and
// dtype (float32; an input may be u8 / s8, its program tensor's, which holds its parameters).
struct FnnIoSpec {
  std::string name;
  std::vector<uint64_t> dims;
  DType dtype = DType::kF32;
};

struct FnnQuant {
  std::string name;  // an int8 layer
  float scale = 1.f;  // its input's
  int32_t zero_point = 0;
};

// What the writer is given beside the program.
struct FnnMeta {
  std::string producer;
  std::vector<FnnIoSpec> inputs, outputs;  // one per program input / output, in order
  std::vector<FnnQuant> quant;
};

// The memory plan stored in the file (informational).
struct FnnPlanInfo {
  uint64_t max_batch = 0, threads = 0, arena_bytes = 0, lower_bound = 0, naive_bytes = 0;
  std::string strategy;
  std::vector<int64_t> tensor_offset, scratch_offset;  // -1: not in the arena
  std::vector<uint64_t> tensor_bytes, scratch_bytes;
};

struct FnnBlobInfo {
  uint64_t offset = 0, size = 0;
  uint32_t kind = 0;
  std::string use;  // "packed weights of step 'conv2'"
};

// Everything a file holds besides the program.
struct FnnFileInfo {
  FnnMeta meta;
  FnnPlanInfo plan;
  std::vector<std::string> precisions;  // per step
  std::vector<FnnBlobInfo> blobs;
  uint16_t version_major = 0, version_minor = 0;
  uint64_t file_size = 0, header_bytes = 0;
  bool mapped = false;
};

// Writes `program` atomically (a temporary next to `path`, then a rename). plan_batch: the
// max_batch of the stored memory plan. Throws std::invalid_argument for a program that is
// not runnable (check_program) or metadata that does not match it, FileError when the OS
// refuses.
void write_fnn(const Program& program, const FnnMeta& meta, size_t plan_batch,
               const std::string& path);

// Loads a .fnn file: map = true maps it (weights are views of the mapping, which lives as
// long as any of them), false reads it into one block of `pool`. Throws FormatError saying
// what is wrong and where for any file that is not a valid .fnn file — it never reads out of
// bounds and never returns a program a Session could not run safely — and FileError when the
// OS refuses. info (optional) receives the metadata.
std::shared_ptr<Program> read_fnn(const std::string& path, bool map, std::shared_ptr<Pool> pool,
                                  FnnFileInfo* info);

// read_fnn for a .fnn file's bytes in memory (the C API's load from a buffer): they are
// copied into one block of `pool`. `name` stands for the path in messages.
std::shared_ptr<Program> read_fnn_bytes(const void* data, size_t size, const std::string& name,
                                        std::shared_ptr<Pool> pool, FnnFileInfo* info);

// For fuzz tests: the file with every checksum recomputed (where the blob table and header
// sizes still point inside it), so that mutations reach the structural checks behind them.
std::vector<uint8_t> reseal_fnn(const uint8_t* data, size_t size);

}  // namespace fnn
