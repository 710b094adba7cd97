// .fnn writer: encodes a Program (fnn_format.h) and writes it with its blobs in place.
#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "io/byte_io.h"
#include "io/fnn.h"
#include "io/fnn_hash.h"
#include "io/mapped_file.h"
#include "kernels/gemm/gemm.h"
#include "kernels/sparse/sparse_matrix.h"
#include "runtime/program_check.h"
#include "runtime/session.h"

namespace fnn {
namespace {

using namespace fnn_format;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

struct Blob {
  const void* data;
  size_t size;
  uint32_t kind;
};

void put_tensors(ByteWriter& w, const std::vector<TensorInfo>& tensors) {
  w.put<uint32_t>(static_cast<uint32_t>(tensors.size()));
  for (const TensorInfo& t : tensors) {
    w.put<uint64_t>(t.sample_elems);
    w.put<uint8_t>(t.external ? 1 : 0);
    w.put<uint8_t>(static_cast<uint8_t>(t.dtype));
    w.put<uint16_t>(0);
    w.put<int32_t>(t.alias_of);
    w.put<float>(t.scale);
    w.put<int32_t>(t.zero_point);
  }
}

// A step's parameter record: its kind writes it through this; weights become references to
// blobs written after the records.
class ParamRecordWriter final : public StepRecordWriter {
 public:
  ParamRecordWriter(ByteWriter& w, std::vector<Blob>& blobs) : w_(w), blobs_(blobs) {}
  void put_raw(const void* p, size_t n) override { w_.put_bytes(p, n); }
  void put_packed(const PackedWeights& pw) override {
    w_.put<uint32_t>(static_cast<uint32_t>(blobs_.size()));
    w_.put<uint8_t>(static_cast<uint8_t>(pw.kind()));
    w_.put<uint8_t>(pw.has_bias() ? 1 : 0);
    const bool codebook = pw.kind() == WeightKind::kCodebook;
    if (codebook) {
      w_.put<uint8_t>(static_cast<uint8_t>(pw.codebook_bits()));
      w_.put<uint8_t>(pw.per_channel() ? 1 : 0);
    } else {
      w_.put<uint16_t>(0);
    }
    w_.put<uint64_t>(pw.k());
    w_.put<uint64_t>(pw.n());
    blobs_.push_back({pw.panel_data(), pw.nbytes(), codebook ? kBlobCodebookWeights : kBlobPackedWeights});
  }
  void put_sparse(const SparseMatrix& m) override {
    w_.put<uint32_t>(static_cast<uint32_t>(blobs_.size()));
    w_.put<uint8_t>(static_cast<uint8_t>(m.bk()));
    w_.put<uint8_t>(static_cast<uint8_t>(m.value_kind()));
    w_.put<uint16_t>(0);
    w_.put<uint64_t>(m.rows());
    w_.put<uint64_t>(m.cols());
    w_.put<uint64_t>(m.nblocks());
    blobs_.push_back({m.storage(), SparseMatrix::layout_bytes(m.rows(), m.cols(), m.bk(), m.value_kind(), m.nblocks()),
                      kBlobSparseMatrix});
  }

 private:
  ByteWriter& w_;
  std::vector<Blob>& blobs_;
};

void put_step(ByteWriter& w, const Step& s, std::vector<Blob>& blobs) {
  const StepKindImpl& impl = step_impl(s.kind);
  w.put_str(impl.name());
  w.put_str(s.name);
  w.put_str(impl.precision(s));
  w.put<uint32_t>(static_cast<uint32_t>(s.in.size()));
  for (int t : s.in) w.put<int32_t>(t);
  w.put<int32_t>(s.out);
  w.put<float>(s.lo);
  w.put<float>(s.hi);
  const size_t len = w.reserve_u32();
  ParamRecordWriter params(w, blobs);
  impl.write(params, s);
  w.patch_u32(len, static_cast<uint32_t>(w.size() - len - 4));
}

void put_specs(ByteWriter& w, const std::vector<FnnIoSpec>& specs) {
  w.put<uint32_t>(static_cast<uint32_t>(specs.size()));
  for (const FnnIoSpec& s : specs) {
    w.put_str(s.name);
    w.put<uint8_t>(static_cast<uint8_t>(s.dtype));  // 0 float32, 1 uint8, 2 int8
    w.put<uint8_t>(static_cast<uint8_t>(s.dims.size()));
    w.put<uint16_t>(0);
    for (uint64_t d : s.dims) w.put<uint64_t>(d);
  }
}

void put_plan(ByteWriter& w, const ProgramPlan& pp, size_t max_batch, size_t threads) {
  const MemoryPlan& plan = pp.plan;
  w.put<uint64_t>(max_batch);
  w.put<uint64_t>(threads);
  w.put<uint64_t>(plan.arena_bytes);
  w.put<uint64_t>(plan.lower_bound);
  w.put<uint64_t>(plan.naive_bytes);
  w.put_str(plan.strategy);
  for (const std::vector<int>* entries : {&pp.tensor_entry, &pp.scratch_entry}) {
    w.put<uint32_t>(static_cast<uint32_t>(entries->size()));
    for (int e : *entries) {
      w.put<int64_t>(e < 0 ? -1 : static_cast<int64_t>(plan.offsets[e]));
      w.put<uint64_t>(e < 0 ? 0 : plan.sizes[e]);
    }
  }
}

// One meta record: tag, length, payload.
template <typename Fn>
void record(ByteWriter& w, uint32_t tag, const Fn& payload) {
  w.put<uint32_t>(tag);
  const size_t len_at = w.reserve_u32();
  const size_t start = w.size();
  payload();
  const size_t len = w.size() - start;
  if (len > 0xFFFFFFFFu) throw std::length_error(".fnn: a header record exceeds 4 GiB");
  w.patch_u32(len_at, static_cast<uint32_t>(len));
}

// What the reader checks of the metadata, checked before writing: a file it would refuse is
// never written.
void check_meta(const Program& p, const FnnMeta& meta) {
  auto check = [&](const std::vector<FnnIoSpec>& specs, const std::vector<int>& tensors,
                   const char* what) {
    if (specs.size() != tensors.size()) {
      throw std::invalid_argument(std::string("one spec per program ") + what + " is needed");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < specs.size(); ++i) {
      const FnnIoSpec& s = specs[i];
      uint64_t n = 1;
      bool dims_ok = s.dims.size() <= kMaxNdim;
      for (uint64_t d : s.dims) {
        dims_ok = dims_ok && d >= 1 && d <= (uint64_t{1} << 40) && !__builtin_mul_overflow(n, d, &n);
      }
      if (!dims_ok || n != p.tensors()[tensors[i]].sample_elems) {
        throw std::invalid_argument(std::string(what) + " '" + s.name +
                                    "': the shape does not match the program's tensor");
      }
      if (!names.insert(s.name).second) {
        throw std::invalid_argument(std::string(what) + " name '" + s.name + "' appears twice");
      }
      if (s.dtype != p.tensors()[tensors[i]].dtype) {
        throw std::invalid_argument(std::string(what) + " '" + s.name +
                                    "': the dtype does not match the program's tensor");
      }
    }
  };
  check(meta.inputs, p.inputs(), "input");
  check(meta.outputs, p.outputs(), "output");
  std::set<std::string> layers;
  for (const FnnQuant& q : meta.quant) {
    if (!layers.insert(q.name).second || !(std::isfinite(q.scale) && q.scale > 0.f) ||
        q.zero_point < 0 || q.zero_point > 255) {
      throw std::invalid_argument("quantization of layer '" + q.name +
                                  "': a duplicate name or a scale / zero point out of range");
    }
  }
}

}  // namespace

void write_fnn(const Program& program, const FnnMeta& meta, size_t plan_batch,
               const std::string& path) {
  check_program(program);  // a file the reader would refuse is never written
  check_meta(program, meta);
  if (plan_batch == 0) throw std::invalid_argument("plan_batch must be >= 1");
  const size_t plan_threads = 1;
  const ProgramPlan pp = plan_program(program, plan_batch, plan_threads,
                                      StepTiles(program.steps().size(), Tiles::kFast));

  std::vector<Blob> blobs;
  ByteWriter m;
  record(m, kTagProducer, [&] { m.put_str(meta.producer); });
  record(m, kTagTensors, [&] { put_tensors(m, program.tensors()); });
  record(m, kTagSteps, [&] {
    m.put<uint32_t>(static_cast<uint32_t>(program.steps().size()));
    for (const Step& s : program.steps()) put_step(m, s, blobs);
  });
  record(m, kTagProgramIo, [&] {
    for (const std::vector<int>* list : {&program.inputs(), &program.outputs()}) {
      m.put<uint32_t>(static_cast<uint32_t>(list->size()));
      for (int t : *list) m.put<int32_t>(t);
    }
  });
  record(m, kTagSpecs, [&] {
    put_specs(m, meta.inputs);
    put_specs(m, meta.outputs);
  });
  record(m, kTagQuant, [&] {
    m.put<uint32_t>(static_cast<uint32_t>(meta.quant.size()));
    for (const FnnQuant& q : meta.quant) {
      m.put_str(q.name);
      m.put<float>(q.scale);
      m.put<int32_t>(q.zero_point);
    }
  });
  record(m, kTagPlan, [&] { put_plan(m, pp, plan_batch, plan_threads); });

  // Blobs back to back from the first 64-aligned offset after the header.
  const size_t header_bytes = kFileHeaderBytes + kBlobEntryBytes * blobs.size() + m.size();
  ByteWriter table;
  size_t at = round_up(header_bytes, kAlignment);
  for (const Blob& b : blobs) {
    table.put<uint64_t>(at);
    table.put<uint64_t>(b.size);
    table.put<uint64_t>(xxh64(b.data, b.size));
    table.put<uint32_t>(b.kind);
    table.put<uint32_t>(0);
    at = round_up(at + b.size, kAlignment);
  }
  const size_t file_size = at + kTailPadBytes;
  Xxh64 h;
  h.update(table.bytes().data(), table.size());
  h.update(m.bytes().data(), m.size());

  uint8_t head[kFileHeaderBytes] = {};
  auto put = [&](size_t off, auto v) { std::memcpy(head + off, &v, sizeof(v)); };
  std::memcpy(head, kMagic, sizeof(kMagic));
  put(kOffVersionMajor, kVersionMajor);
  put(kOffVersionMinor, kVersionMinor);
  put(kOffFileSize, uint64_t{file_size});
  put(kOffHeaderBytes, uint64_t{header_bytes});
  put(kOffMetaBytes, uint64_t{m.size()});
  put(kOffBlobCount, static_cast<uint32_t>(blobs.size()));
  put(kOffHeaderChecksum, h.digest());

  AtomicFileWriter out(path);
  out.write(head, sizeof(head));
  out.write(table.bytes().data(), table.size());
  out.write(m.bytes().data(), m.size());
  for (const Blob& b : blobs) {
    out.zeros(round_up(out.written(), kAlignment) - out.written());
    out.write(b.data, b.size);
  }
  out.zeros(round_up(out.written(), kAlignment) - out.written() + kTailPadBytes);
  if (out.written() != file_size) throw std::logic_error(".fnn writer: size bookkeeping is off");
  out.commit();
}

}  // namespace fnn
