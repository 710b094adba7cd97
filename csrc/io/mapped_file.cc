#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "io/fnn_hash.h"

namespace fnn {
namespace {

[[noreturn]] void os_fail(int err, const std::string& path, const std::string& doing) {
  throw FileError(err, path, doing + " '" + path + "': " + std::strerror(err));
}

const uint8_t kEmpty[1] = {0};

}  // namespace

int FileBytes::open_regular(const std::string& path, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) os_fail(errno, path, "cannot open");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    os_fail(err, path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    os_fail(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, path, "not a regular file");
  }
  *size = static_cast<size_t>(st.st_size);
  return fd;
}

std::shared_ptr<FileBytes> FileBytes::map(const std::string& path) {
  std::shared_ptr<FileBytes> f(new FileBytes());
  f->path_ = path;
  f->fd_ = open_regular(path, &f->size_);
  f->data_ = kEmpty;
  if (f->size_ == 0) return f;  // mmap refuses empty mappings; the reader reports truncation
  void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, f->fd_, 0);
  if (p == MAP_FAILED) os_fail(errno, path, "cannot map");
  f->data_ = static_cast<const uint8_t*>(p);
  f->mapped_ = true;
  return f;
}

std::shared_ptr<FileBytes> FileBytes::read(const std::string& path, std::shared_ptr<Pool> pool) {
  std::shared_ptr<FileBytes> f(new FileBytes());
  f->path_ = path;
  f->fd_ = open_regular(path, &f->size_);
  f->pool_ = std::move(pool);
  f->block_ = f->pool_->allocate(f->size_);
  auto* dst = static_cast<uint8_t*>(f->block_);
  f->data_ = dst;
  size_t done = 0;
  while (done < f->size_) {
    const ssize_t r = ::pread(f->fd_, dst + done, f->size_ - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) os_fail(errno, path, "cannot read");
    if (r == 0) break;  // shrank while reading: the reader sees fewer bytes than the header says
    done += static_cast<size_t>(r);
  }
  f->size_ = done;
  f->close_descriptor();
  return f;
}

std::shared_ptr<FileBytes> FileBytes::copy(const void* data, size_t size, std::string name,
                                           std::shared_ptr<Pool> pool) {
  std::shared_ptr<FileBytes> f(new FileBytes());
  f->path_ = std::move(name);
  f->pool_ = std::move(pool);
  f->block_ = f->pool_->allocate(size);
  f->data_ = static_cast<const uint8_t*>(f->block_);
  if (size > 0) std::memcpy(f->block_, data, size);
  f->size_ = size;
  return f;
}

FileBytes::~FileBytes() {
  close_descriptor();
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (block_ != nullptr) pool_->deallocate(block_);
}

void FileBytes::close_descriptor() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

uint64_t FileBytes::hash(size_t off, size_t n) const {
  if (!mapped_ || fd_ < 0) return xxh64(data_ + off, n);
  Xxh64 h;
  unsigned char buf[32768];
  while (n > 0) {
    const size_t want = n < sizeof(buf) ? n : sizeof(buf);
    const ssize_t r = ::pread(fd_, buf, want, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) os_fail(errno, path_, "cannot read");
    if (r == 0) os_fail(EIO, path_, "file shrank while reading");
    h.update(buf, static_cast<size_t>(r));
    off += static_cast<size_t>(r);
    n -= static_cast<size_t>(r);
  }
  return h.digest();
}

AtomicFileWriter::AtomicFileWriter(const std::string& path) : path_(path) {
  static std::atomic<unsigned> counter{0};
  tmp_ = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) os_fail(errno, path, "cannot create a file next to");
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFileWriter::write(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    const ssize_t r = ::write(fd_, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) os_fail(errno, path_, "cannot write");
    b += r;
    n -= static_cast<size_t>(r);
    written_ += static_cast<size_t>(r);
  }
}

void AtomicFileWriter::zeros(size_t n) {
  static const uint8_t z[256] = {};
  while (n > 0) {
    const size_t k = n < sizeof(z) ? n : sizeof(z);
    write(z, k);
    n -= k;
  }
}

void AtomicFileWriter::commit() {
  if (::fsync(fd_) != 0) os_fail(errno, path_, "cannot sync");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    os_fail(err, path_, "cannot close");
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    os_fail(err, path_, "cannot rename the written file to");
  }
}

}  // namespace fnn
