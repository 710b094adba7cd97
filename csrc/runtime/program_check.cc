#include "runtime/program_check.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fnn {
namespace {

constexpr size_t kMaxIo = 16;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

bool valid_u8_quant(float scale, int32_t zero_point) {
  return std::isfinite(scale) && scale > 0.f && zero_point >= 0 && zero_point <= 255;
}

bool valid_s8_quant(float scale, int32_t zero_point) {
  return std::isfinite(scale) && scale > 0.f && zero_point >= -128 && zero_point <= 127;
}

}  // namespace

std::string printable_name(const std::string& name) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  for (; i < name.size() && out.size() < 80; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return i < name.size() ? out + "..." : out;
}

void check_program(const std::vector<TensorInfo>& tensors, const std::vector<Step>& steps,
                   const std::vector<int>& inputs, const std::vector<int>& outputs) {
  const int nt = static_cast<int>(tensors.size());
  for (int i = 0; i < nt; ++i) {
    const TensorInfo& t = tensors[i];
    const std::string where = "tensor " + std::to_string(i) + ": ";
    if (t.sample_elems < 1 || t.sample_elems > StepCheck::kMaxElems) {
      fail(where + "elements per sample outside [1, 2^40]");
    }
    if (t.dtype != DType::kF32 && t.dtype != DType::kU8 && t.dtype != DType::kS8) fail(where + "unknown dtype");
    if (t.dtype == DType::kU8 && !valid_u8_quant(t.scale, t.zero_point)) {
      fail(where + "u8 needs a positive finite scale and a zero point in 0..255");
    }
    if (t.dtype == DType::kS8 && !valid_s8_quant(t.scale, t.zero_point)) {
      fail(where + "s8 needs a positive finite scale and a zero point in -128..127");
    }
    if (t.alias_of < -1 || t.alias_of >= i) fail(where + "aliases a tensor that does not precede it");
    if (t.alias_of >= 0) {
      const TensorInfo& r = tensors[t.alias_of];
      if (r.alias_of >= 0 || t.external || r.sample_elems != t.sample_elems || r.dtype != t.dtype ||
          (t.quantized() && (r.scale != t.scale || r.zero_point != t.zero_point))) {
        fail(where + "an alias must be internal and match its (unaliased) tensor in size and dtype");
      }
    }
  }
  auto root = [&](int t) { return tensors[t].alias_of >= 0 ? tensors[t].alias_of : t; };
  // 0: not written yet, 1: written (or a program input), 2: program input.
  std::vector<char> state(tensors.size(), 0);
  std::vector<char> io(tensors.size(), 0);
  auto io_list = [&](const std::vector<int>& list, const char* what) {
    if (list.empty() || list.size() > kMaxIo) fail(std::string("the program needs 1..16 ") + what);
    for (int t : list) {
      if (t < 0 || t >= nt || !tensors[t].external) fail(std::string(what) + " must be external tensors");
      if (io[t]) fail("tensor " + std::to_string(t) + " is listed twice among the inputs and outputs");
      io[t] = 1;
    }
  };
  io_list(inputs, "inputs");
  io_list(outputs, "outputs");
  for (int t : outputs) {
    if (tensors[t].dtype != DType::kF32) fail("output tensor " + std::to_string(t) + " must be float32");
  }
  for (int i = 0; i < nt; ++i) {
    if (tensors[i].external && !io[i]) {
      fail("tensor " + std::to_string(i) + " is external but neither an input nor an output");
    }
  }
  for (int t : inputs) state[t] = 2;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    StepCheck c(tensors, s, i);
    if (static_cast<int>(s.kind) < 0 || static_cast<int>(s.kind) >= kNumStepKinds) c.fail("unknown kind");
    c.expect(s.out >= 0 && s.out < nt, "writes a tensor that does not exist");
    c.expect(tensors[s.out].alias_of < 0, "writes an alias");
    c.expect(state[s.out] == 0, "writes a tensor already written, or a program input");
    for (int t : s.in) {
      c.expect(t >= 0 && t < nt, "reads a tensor that does not exist");
      c.expect(root(t) != s.out, "reads its own output");
      c.expect(state[root(t)] != 0, "reads tensor " + std::to_string(t) + " before any step writes it");
    }
    step_impl(s.kind).check(c);
    state[s.out] = 1;
  }
  for (int t : outputs) {
    if (state[t] != 1) fail("output tensor " + std::to_string(t) + " is never written");
  }
}

}  // namespace fnn
