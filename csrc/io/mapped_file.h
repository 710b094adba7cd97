// The operating-system side of .fnn files: a file's bytes in memory, mapped or read, and an
// atomic writer. POSIX only (mmap, pread, rename); Windows would need its own version of
// these two classes and nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "memory/pool.h"

namespace fnn {

// The OS refused (no such file, permission, I/O error): errno and the path, for Python's
// OSError (FileNotFoundError and so on).
class FileError : public std::runtime_error {
 public:
  FileError(int err, std::string path, const std::string& what)
      : std::runtime_error(what), err_(err), path_(std::move(path)) {}
  int error() const { return err_; }
  const std::string& path() const { return path_; }

 private:
  int err_;
  std::string path_;
};

// A whole file in memory. map(): read-only and private; pages come from the page cache, are
// shared by every process mapping the file, and enter the process only when touched — the
// mapping stays valid after the path is unlinked (not if the file is truncated: then touching
// the lost pages raises SIGBUS, as with any mapping). read(): one pool block.
class FileBytes {
 public:
  static std::shared_ptr<FileBytes> map(const std::string& path);
  static std::shared_ptr<FileBytes> read(const std::string& path, std::shared_ptr<Pool> pool);
  // A caller's bytes, copied into one pool block (64-byte aligned, as the weights need);
  // `name` stands for the path in messages.
  static std::shared_ptr<FileBytes> copy(const void* data, size_t size, std::string name,
                                         std::shared_ptr<Pool> pool);
  ~FileBytes();
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool mapped() const { return mapped_; }

  // XXH64 of bytes [off, off + n) (in range). While the descriptor is open a mapped file is
  // hashed through pread, so verifying checksums does not fault the mapping's pages into the
  // process: its resident memory grows only as kernels touch the weights.
  uint64_t hash(size_t off, size_t n) const;
  void close_descriptor();

 private:
  FileBytes() = default;
  static int open_regular(const std::string& path, size_t* size);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
  int fd_ = -1;
  std::shared_ptr<Pool> pool_;
  void* block_ = nullptr;
};

// Writes a file under a temporary name in the target's directory, then fsyncs and renames it
// over the target: readers see the old file or the whole new one, never a partial one.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();  // without commit(): the temporary is removed
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* p, size_t n);
  void zeros(size_t n);
  size_t written() const { return written_; }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  size_t written_ = 0;
};

}  // namespace fnn
