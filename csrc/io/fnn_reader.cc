// .fnn reader: checks a file against fnn_format.h field by field before anything is built
// from it, then rebuilds the Program around views of the blobs. The order matters: sizes and
// bounds first (so every later read is in range), checksums next (a corrupted byte is named
// as such, not as whatever inconsistency it causes), then the program's own consistency.
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "io/byte_io.h"
#include "io/fnn_step_reading.h"
#include "io/fnn.h"
#include "io/fnn_hash.h"
#include "io/mapped_file.h"
#include "runtime/program_check.h"

namespace fnn {
namespace {

using namespace fnn_format;

[[noreturn]] void fail(const std::string& what) { throw FormatError(what); }

std::string tag_name(uint32_t tag) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((tag >> (8 * i)) & 0xFF);
    s += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  return "'" + s + "'";
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

struct FixedHeader {
  uint64_t file_size, header_bytes, meta_bytes;
  uint32_t blob_count;
  uint64_t checksum;
  uint16_t major, minor;
};

FixedHeader parse_fixed_header(const uint8_t* d, size_t size) {
  if (size < sizeof(kMagic) || std::memcmp(d, kMagic, sizeof(kMagic)) != 0) {
    fail("not a .fnn file (its first bytes are not the .fnn magic number)");
  }
  if (size < kFileHeaderBytes) {
    fail("truncated: " + std::to_string(size) + " bytes, shorter than the 64-byte file header");
  }
  FixedHeader h;
  h.major = load<uint16_t>(d + kOffVersionMajor);
  h.minor = load<uint16_t>(d + kOffVersionMinor);
  if (h.major < kOldestVersionMajor || h.major > kVersionMajor) {
    fail("unsupported .fnn format version " + std::to_string(h.major) + "." +
         std::to_string(h.minor) + " (this reader reads versions " +
         std::to_string(kOldestVersionMajor) + ".x to " + std::to_string(kVersionMajor) + ".x)");
  }
  h.file_size = load<uint64_t>(d + kOffFileSize);
  h.header_bytes = load<uint64_t>(d + kOffHeaderBytes);
  h.meta_bytes = load<uint64_t>(d + kOffMetaBytes);
  h.blob_count = load<uint32_t>(d + kOffBlobCount);
  h.checksum = load<uint64_t>(d + kOffHeaderChecksum);
  if (h.file_size > size) {
    fail("truncated: the header says " + std::to_string(h.file_size) + " bytes, the file has " +
         std::to_string(size));
  }
  if (h.file_size < size) {
    fail(std::to_string(size - h.file_size) + " bytes past the end the header gives (" +
         std::to_string(h.file_size) + " bytes)");
  }
  if (load<uint32_t>(d + kOffFlags) != 0 || load<uint32_t>(d + kOffReserved1) != 0 ||
      load<uint64_t>(d + kOffReserved2) != 0) {
    fail("file header: flags or reserved fields are not zero");
  }
  // Every term is bounded by the file size before the sum is formed.
  if (h.meta_bytes > size || h.blob_count > size / kBlobEntryBytes ||
      h.header_bytes != kFileHeaderBytes + kBlobEntryBytes * uint64_t{h.blob_count} + h.meta_bytes) {
    fail("file header: header_bytes " + std::to_string(h.header_bytes) + " is not 64 + 32 x " +
         std::to_string(h.blob_count) + " blobs + " + std::to_string(h.meta_bytes) + " meta bytes");
  }
  if (h.header_bytes + kTailPadBytes > size) {
    fail("truncated: the header says it takes " + std::to_string(h.header_bytes) +
         " bytes plus a 64-byte tail, the file has " + std::to_string(size));
  }
  return h;
}

std::vector<FnnBlobEntry> parse_blob_table(const uint8_t* d, const FixedHeader& h) {
  std::vector<FnnBlobEntry> blobs(h.blob_count);
  uint64_t end = (h.header_bytes + kAlignment - 1) / kAlignment * kAlignment;
  for (uint32_t i = 0; i < h.blob_count; ++i) {
    const uint8_t* e = d + kFileHeaderBytes + kBlobEntryBytes * i;
    FnnBlobEntry& b = blobs[i];
    b.offset = load<uint64_t>(e);
    b.size = load<uint64_t>(e + 8);
    b.checksum = load<uint64_t>(e + 16);
    b.kind = load<uint32_t>(e + 24);
    const std::string where = "blob " + std::to_string(i) + ": ";
    if (load<uint32_t>(e + 28) != 0) fail(where + "a reserved field is not zero");
    if (b.kind != kBlobPackedWeights && b.kind != kBlobSparseMatrix && b.kind != kBlobCodebookWeights) {
      fail(where + "unknown kind " + std::to_string(b.kind));
    }
    if (b.offset % kAlignment != 0) {
      fail(where + "offset " + std::to_string(b.offset) + " is not 64-byte aligned");
    }
    if (b.offset < end) {
      fail(where + "offset " + std::to_string(b.offset) +
           " overlaps the header or the previous blob (which end at " + std::to_string(end) + ")");
    }
    // offset <= file_size here, so the subtraction cannot wrap.
    if (b.offset > h.file_size - kTailPadBytes || b.size > h.file_size - kTailPadBytes - b.offset) {
      fail(where + std::to_string(b.size) + " bytes at offset " + std::to_string(b.offset) +
           " run past the end of the file's data (" + std::to_string(h.file_size - kTailPadBytes) + ")");
    }
    end = b.offset + b.size;
  }
  return blobs;
}

// Meta records by tag (each once); unknown tags are skipped.
std::map<uint32_t, ByteReader> parse_records(const uint8_t* meta, size_t n) {
  static const std::set<uint32_t> known = {kTagProducer, kTagTensors, kTagSteps, kTagProgramIo,
                                           kTagSpecs, kTagQuant, kTagPlan};
  std::map<uint32_t, ByteReader> out;
  ByteReader r(meta, n, "meta records");
  while (r.left() > 0) {
    const uint32_t tag = r.get<uint32_t>();
    const uint32_t len = r.get<uint32_t>();
    if (len > r.left()) {
      r.fail("record " + tag_name(tag) + " of " + std::to_string(len) + " bytes runs past the header");
    }
    const uint8_t* p = r.take(len);
    if (!known.count(tag)) continue;
    if (out.count(tag)) r.fail("record " + tag_name(tag) + " appears twice");
    out.emplace(tag, ByteReader(p, len, "record " + tag_name(tag)));
  }
  for (uint32_t tag : known) {
    if (!out.count(tag)) fail("meta records: record " + tag_name(tag) + " is missing");
  }
  return out;
}

void done(const ByteReader& r) {
  if (r.left() != 0) r.fail(std::to_string(r.left()) + " bytes left over at the end of the record");
}

std::vector<TensorInfo> get_tensors(ByteReader& r) {
  std::vector<TensorInfo> tensors(r.get_count(24));
  for (TensorInfo& t : tensors) {
    t.sample_elems = r.get_size();
    t.external = r.get_flag();
    const uint8_t dt = r.get<uint8_t>();
    if (dt > static_cast<uint8_t>(DType::kS8)) r.fail("unknown dtype " + std::to_string(dt));
    t.dtype = static_cast<DType>(dt);
    r.reserved<uint16_t>();
    t.alias_of = r.get<int32_t>();
    t.scale = r.get<float>();
    t.zero_point = r.get<int32_t>();
  }
  done(r);
  return tensors;
}

// A step's parameter record (version 2): its kind reads it through this, each read within
// the record's declared length.
class ParamRecordReader final : public StepRecordReader {
 public:
  ParamRecordReader(ByteReader& r, FnnBlobClaims& claims, std::string who)
      : r_(r), claims_(claims), who_(std::move(who)) {}
  const uint8_t* take(size_t n) override { return r_.take(n); }
  size_t left() const override { return r_.left(); }
  [[noreturn]] void fail(const std::string& what) const override { r_.fail(who_ + ": " + what); }
  void get_packed(std::shared_ptr<PackedWeights>* slot, const std::string& use) override {
    claims_.packed(r_, slot, use + " of " + who_);
  }
  void get_sparse(std::shared_ptr<SparseMatrix>* slot, const std::string& use) override {
    claims_.sparse(r_, slot, use + " of " + who_);
  }

 private:
  ByteReader& r_;
  FnnBlobClaims& claims_;
  std::string who_;
};

// Version 2: str kind, str name, str precision, u32 n_in, i32 in[n_in], i32 out, f32 lo,
// f32 hi, u32 param_bytes, then the kind's record of exactly param_bytes.
Step get_step(ByteReader& r, size_t index, FnnBlobClaims& claims, std::string* precision) {
  Step s;
  const std::string kind = r.get_str();
  if (!parse_step_kind(kind, &s.kind)) r.fail("unknown kind '" + printable_name(kind) + "'");
  const std::string who = read_step_io(r, index, s, precision);
  const uint32_t n = r.get<uint32_t>();
  ByteReader pr(r.take(n), n, "record 'STEP', " + who + " parameters");
  ParamRecordReader params(pr, claims, who);
  s.params = step_impl(s.kind).read(params);
  done(pr);
  return s;
}

std::vector<FnnIoSpec> get_specs(ByteReader& r) {
  std::vector<FnnIoSpec> specs(r.get_count(8));
  std::set<std::string> names;
  for (FnnIoSpec& s : specs) {
    s.name = r.get_str();
    if (!names.insert(s.name).second) r.fail("the name '" + printable_name(s.name) + "' appears twice");
    const std::string who = "'" + printable_name(s.name) + "'";
    const uint8_t dt = r.get<uint8_t>();
    if (dt > static_cast<uint8_t>(DType::kS8)) {
      r.fail(who + ": unknown dtype " + std::to_string(dt) + " (0 float32, 1 uint8, 2 int8)");
    }
    s.dtype = static_cast<DType>(dt);
    const uint8_t ndim = r.get<uint8_t>();
    if (ndim > kMaxNdim) r.fail(who + ": " + std::to_string(ndim) + " dimensions (at most 8)");
    r.reserved<uint16_t>();
    s.dims.resize(ndim);
    for (uint64_t& d : s.dims) {
      d = r.get<uint64_t>();
      if (d < 1 || d > (uint64_t{1} << 40)) r.fail(who + ": a dimension of " + std::to_string(d));
    }
  }
  return specs;
}

FnnPlanInfo get_plan(ByteReader& r, size_t tensors, size_t steps) {
  FnnPlanInfo p;
  p.max_batch = r.get<uint64_t>();
  p.threads = r.get<uint64_t>();
  p.arena_bytes = r.get<uint64_t>();
  p.lower_bound = r.get<uint64_t>();
  p.naive_bytes = r.get<uint64_t>();
  p.strategy = r.get_str();
  if (p.max_batch < 1 || p.threads < 1) r.fail("max_batch and threads must be >= 1");
  auto entries = [&](size_t want, std::vector<int64_t>& off, std::vector<uint64_t>& bytes, const char* what) {
    const size_t n = r.get_count(16);
    if (n != want) {
      r.fail(std::to_string(n) + " " + what + " entries for " + std::to_string(want) + " " + what + "s");
    }
    off.resize(n);
    bytes.resize(n);
    for (size_t i = 0; i < n; ++i) {
      off[i] = r.get<int64_t>();
      bytes[i] = r.get<uint64_t>();
      const bool placed = off[i] >= 0 && bytes[i] <= p.arena_bytes &&
                          static_cast<uint64_t>(off[i]) <= p.arena_bytes - bytes[i];
      if (!(placed || (off[i] == -1 && bytes[i] == 0))) {
        r.fail(std::string(what) + " " + std::to_string(i) + " lies outside the arena");
      }
    }
  };
  entries(tensors, p.tensor_offset, p.tensor_bytes, "tensor");
  entries(steps, p.scratch_offset, p.scratch_bytes, "step");
  done(r);
  return p;
}

std::shared_ptr<Program> read(const std::shared_ptr<FileBytes>& file, FnnFileInfo* info) {
  const uint8_t* d = file->data();
  const FixedHeader h = parse_fixed_header(d, file->size());
  if (file->hash(kFileHeaderBytes, h.header_bytes - kFileHeaderBytes) != h.checksum) {
    fail("header checksum mismatch: the blob table or the metadata is corrupted");
  }
  std::vector<FnnBlobEntry> blobs = parse_blob_table(d, h);
  auto records = parse_records(d + kFileHeaderBytes + kBlobEntryBytes * h.blob_count, h.meta_bytes);

  ByteReader& prod = records.at(kTagProducer);
  const std::string producer = prod.get_str();
  done(prod);
  const std::vector<TensorInfo> tensors = get_tensors(records.at(kTagTensors));

  ByteReader& sr = records.at(kTagSteps);
  // A step takes well over 200 bytes; 64 is a safe floor for the count check.
  std::vector<Step> steps(sr.get_count(h.major == 1 ? 64 : 28));
  std::vector<std::string> precisions(steps.size());
  FnnBlobClaims claims(blobs);
  for (size_t i = 0; i < steps.size(); ++i) {
    sr.set_where("record 'STEP', step " + std::to_string(i));
    steps[i] = h.major == 1 ? read_fnn_step_v1(sr, i, claims, &precisions[i])
                            : get_step(sr, i, claims, &precisions[i]);
  }
  sr.set_where("record 'STEP'");
  done(sr);

  ByteReader& io = records.at(kTagProgramIo);
  std::vector<int> inputs(io.get_count(4));
  for (int& t : inputs) t = io.get<int32_t>();
  std::vector<int> outputs(io.get_count(4));
  for (int& t : outputs) t = io.get<int32_t>();
  done(io);

  ByteReader& sp = records.at(kTagSpecs);
  FnnFileInfo out;
  out.meta.producer = producer;
  out.meta.inputs = get_specs(sp);
  out.meta.outputs = get_specs(sp);
  done(sp);

  ByteReader& qr = records.at(kTagQuant);
  out.meta.quant.resize(qr.get_count(12));
  std::set<std::string> qnames;
  for (FnnQuant& q : out.meta.quant) {
    q.name = qr.get_str();
    q.scale = qr.get<float>();
    q.zero_point = qr.get<int32_t>();
    if (!qnames.insert(q.name).second) qr.fail("layer '" + printable_name(q.name) + "' appears twice");
    if (!(std::isfinite(q.scale) && q.scale > 0.f) || q.zero_point < 0 || q.zero_point > 255) {
      qr.fail("layer '" + printable_name(q.name) + "': scale / zero point out of range");
    }
  }
  done(qr);
  out.plan = get_plan(records.at(kTagPlan), tensors.size(), steps.size());

  // Every blob belongs to a step; its bytes are what the writer hashed.
  for (size_t i = 0; i < blobs.size(); ++i) {
    if (blobs[i].use.empty()) fail("blob " + std::to_string(i) + " is not used by any step");
    if (file->hash(blobs[i].offset, blobs[i].size) != blobs[i].checksum) {
      fail("blob " + std::to_string(i) + " (" + blobs[i].use + "): checksum mismatch");
    }
  }
  claims.resolve(d, file);

  // The program as stored must be runnable before any Program method sees it, and must be
  // what compile() leaves: assigning activation dtypes again changes nothing.
  try {
    check_program(tensors, steps, inputs, outputs);
  } catch (const std::invalid_argument& e) {
    fail(std::string("program: ") + e.what());
  }
  auto program = std::make_shared<Program>();
  try {
    for (const TensorInfo& t : tensors) program->add_tensor(t);
    for (Step& s : steps) program->add_step(std::move(s));
    program->set_io(inputs, outputs);  // checks the program again, as compiled
  } catch (const std::invalid_argument& e) {
    fail(std::string("program: ") + e.what());
  }
  bool same = program->tensors().size() == tensors.size() && program->steps().size() == steps.size();
  for (size_t t = 0; same && t < tensors.size(); ++t) {
    const TensorInfo& a = program->tensors()[t];
    same = a.dtype == tensors[t].dtype && (a.dtype == DType::kF32 ||
           (a.scale == tensors[t].scale && a.zero_point == tensors[t].zero_point));
  }
  if (!same) fail("program: its tensor dtypes are not the ones its int8 steps imply");
  for (size_t i = 0; i < precisions.size(); ++i) {
    const Step& s = program->steps()[i];
    const std::string actual = step_impl(s.kind).precision(s);
    if (precisions[i] != actual) {
      fail("step " + std::to_string(i) + " '" + printable_name(s.name) + "': precision says '" +
           printable_name(precisions[i]) + "', its weights are " + actual);
    }
  }
  auto check_specs = [&](const std::vector<FnnIoSpec>& specs, const std::vector<int>& list,
                         const char* what) {
    if (specs.size() != list.size()) {
      fail(std::string("record 'SPEC': ") + std::to_string(specs.size()) + " " + what +
           "s for a program with " + std::to_string(list.size()));
    }
    for (size_t i = 0; i < specs.size(); ++i) {
      uint64_t n = 1;
      for (uint64_t dim : specs[i].dims) {
        if (__builtin_mul_overflow(n, dim, &n)) n = 0;
      }
      if (n != program->tensors()[list[i]].sample_elems) {
        fail(std::string("record 'SPEC': ") + what + " '" + printable_name(specs[i].name) + "' has " +
             std::to_string(n) + " elements per sample, the program's tensor " +
             std::to_string(program->tensors()[list[i]].sample_elems));
      }
      if (specs[i].dtype != program->tensors()[list[i]].dtype) {
        fail(std::string("record 'SPEC': ") + what + " '" + printable_name(specs[i].name) + "' has dtype " +
             std::to_string(static_cast<int>(specs[i].dtype)) + ", the program's tensor " +
             std::to_string(static_cast<int>(program->tensors()[list[i]].dtype)));
      }
    }
  };
  check_specs(out.meta.inputs, program->inputs(), "input");
  check_specs(out.meta.outputs, program->outputs(), "output");

  if (info != nullptr) {
    out.precisions = std::move(precisions);
    for (const FnnBlobEntry& b : blobs) out.blobs.push_back({b.offset, b.size, b.kind, b.use});
    out.version_major = h.major;
    out.version_minor = h.minor;
    out.file_size = h.file_size;
    out.header_bytes = h.header_bytes;
    out.mapped = file->mapped();
    *info = std::move(out);
  }
  return program;
}

// read(), with every refusal a FormatError naming the file.
std::shared_ptr<Program> read_named(const std::shared_ptr<FileBytes>& file, const std::string& path,
                                    FnnFileInfo* info) {
  try {
    std::shared_ptr<Program> p = read(file, info);
    file->close_descriptor();
    return p;
  } catch (const FormatError& e) {
    throw FormatError(path + ": " + e.what());
  } catch (const std::invalid_argument& e) {
    // Checks of the runtime's own (views, program building) that the reader did not wrap.
    throw FormatError(path + ": " + e.what());
  } catch (const std::length_error& e) {
    throw FormatError(path + ": " + e.what());
  }
}

}  // namespace

std::shared_ptr<Program> read_fnn(const std::string& path, bool map, std::shared_ptr<Pool> pool,
                                  FnnFileInfo* info) {
  std::shared_ptr<FileBytes> file = map ? FileBytes::map(path) : FileBytes::read(path, std::move(pool));
  return read_named(file, path, info);
}

std::shared_ptr<Program> read_fnn_bytes(const void* data, size_t size, const std::string& name,
                                        std::shared_ptr<Pool> pool, FnnFileInfo* info) {
  return read_named(FileBytes::copy(data, size, name, std::move(pool)), name, info);
}

std::vector<uint8_t> reseal_fnn(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(data, data + size);
  if (size < kFileHeaderBytes) return out;
  uint8_t* d = out.data();
  const uint64_t header_bytes = load<uint64_t>(d + kOffHeaderBytes);
  const uint32_t count = load<uint32_t>(d + kOffBlobCount);
  if (count > (size - kFileHeaderBytes) / kBlobEntryBytes) return out;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* e = d + kFileHeaderBytes + kBlobEntryBytes * i;
    const uint64_t off = load<uint64_t>(e), n = load<uint64_t>(e + 8);
    if (off <= size && n <= size - off) {
      const uint64_t sum = xxh64(d + off, n);
      std::memcpy(e + 16, &sum, 8);
    }
  }
  if (header_bytes >= kFileHeaderBytes && header_bytes <= size) {
    const uint64_t sum = xxh64(d + kFileHeaderBytes, header_bytes - kFileHeaderBytes);
    std::memcpy(d + kOffHeaderChecksum, &sum, 8);
  }
  return out;
}

}  // namespace fnn
