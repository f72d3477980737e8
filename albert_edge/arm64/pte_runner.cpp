// ExecuTorch logits runner in C++, for the arm64 parity check (albert_edge/arm64/pte.py builds it).
//
// Why C++ and not albert-edge's Python runner: the executorch wheel's Python bindings link libtorch
// (the aarch64 torch wheel is 427 MB, and importing it under qemu-user takes minutes), while its
// runtime libraries (libexecutorch.so, the XNNPACK backend, the portable/optimized and quantized
// kernels) need only libc/libstdc++. This program uses exactly those libraries of the aarch64 wheel,
// i.e. the XNNPACK Arm micro-kernels a phone runs. The same source built natively against the x86
// wheel must give the same logits as ExecuTorchRunner (tests/test_executorch.py), so an
// aarch64-vs-x86 difference is the ISA's, not the runner's.
//
// It feeds the program as ExecuTorchRunner does: one text per call, input_ids / attention_mask /
// token_type_ids int64 [1, n] with n = the text's length (at least 2: the program's minimum; padded
// with pad_id and mask 0 below that), no batch padding. XNNPACK's weight cache is turned on before
// the program loads (the backend option ExecuTorchRunner sets, and what ExecuTorch's Android build
// preset compiles in).
//
// usage: pte_runner MODEL.pte IDS.txt OUT.f32 [--threads N] [--pad-id P]
//   IDS.txt: one text per line, its token ids separated by spaces.
//   OUT.f32: float32 logits, row-major [texts, labels].
//   stdout:  one JSON line {"file", "texts", "labels", "weight_cache", "threads", "seconds"}.
// Exit status 0 on success, 1 on any failure (one line on stderr).

#include <executorch/extension/data_loader/file_data_loader.h>
#include <executorch/extension/memory_allocator/malloc_memory_allocator.h>
#include <executorch/runtime/backend/interface.h>
#include <executorch/runtime/backend/options.h>
#include <executorch/runtime/core/evalue.h>
#include <executorch/runtime/core/exec_aten/exec_aten.h>
#include <executorch/runtime/executor/method.h>
#include <executorch/runtime/executor/program.h>
#include <executorch/runtime/platform/runtime.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

// Declared here because the wheel ships the library but not its header (extension/threadpool/threadpool.h).
namespace executorch::extension::threadpool {
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

using executorch::aten::ScalarType;
using executorch::aten::Tensor;
using executorch::aten::TensorImpl;
using executorch::extension::FileDataLoader;
using executorch::extension::MallocMemoryAllocator;
using executorch::runtime::BackendOptions;
using executorch::runtime::Error;
using executorch::runtime::EValue;
using executorch::runtime::HierarchicalAllocator;
using executorch::runtime::MemoryManager;
using executorch::runtime::Method;
using executorch::runtime::Program;
using executorch::runtime::Result;
using executorch::runtime::Span;

namespace {

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "pte_runner: %s\n", msg.c_str());
  std::exit(1);
}

std::string err(Error e) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "error 0x%x", static_cast<unsigned>(e));
  return buf;
}

std::vector<std::vector<int64_t>> read_ids(const char* path) {
  std::ifstream in(path);
  if (!in) fail(std::string("cannot read ") + path);
  std::vector<std::vector<int64_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<int64_t> ids;
    long long v;
    while (ss >> v) ids.push_back(static_cast<int64_t>(v));
    if (!ss.eof()) fail(std::string("not a list of integers in ") + path + ": " + line.substr(0, 60));
    if (ids.empty()) fail(std::string("empty line in ") + path);
    out.push_back(std::move(ids));
  }
  return out;
}

// XNNPACK's weight cache: one packed copy of ALBERT's shared layer instead of one per application.
// True when the backend reads the option back as on.
bool enable_weight_cache() {
  BackendOptions<1> opts;
  if (opts.set_option("weight_cache_enabled", true) != Error::Ok) return false;
  if (executorch::runtime::set_option("XnnpackBackend", opts.view()) != Error::Ok) return false;
  BackendOptions<1> back;
  back.set_option("weight_cache_enabled", false);
  if (executorch::runtime::get_option("XnnpackBackend", back.view()) != Error::Ok) return false;
  const bool* v = std::get_if<bool>(&back.view()[0].value);
  return v != nullptr && *v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) fail("usage: pte_runner MODEL.pte IDS.txt OUT.f32 [--threads N] [--pad-id P]");
  const char* model_path = argv[1];
  const char* ids_path = argv[2];
  const char* out_path = argv[3];
  int threads = 0;
  int64_t pad_id = 0;
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--pad-id" && i + 1 < argc) {
      pad_id = std::atoll(argv[++i]);
    } else {
      fail("unknown option " + a);
    }
  }

  executorch::runtime::runtime_init();
  auto* pool = executorch::extension::threadpool::get_threadpool();
  if (threads > 0 && pool != nullptr) pool->_unsafe_reset_threadpool(static_cast<uint32_t>(threads));
  const size_t thread_count = pool != nullptr ? pool->get_thread_count() : 1;
  const bool cache_on = enable_weight_cache();

  const auto texts = read_ids(ids_path);
  const auto t0 = std::chrono::steady_clock::now();

  Result<FileDataLoader> loader = FileDataLoader::from(model_path);
  if (!loader.ok()) fail(std::string("cannot open ") + model_path + " (" + err(loader.error()) + ")");
  Result<Program> program = Program::load(&loader.get(), Program::Verification::InternalConsistency);
  if (!program.ok()) fail(std::string(model_path) + " is not an ExecuTorch program (" + err(program.error()) + ")");
  auto meta = program->method_meta("forward");
  if (!meta.ok()) fail(std::string(model_path) + " has no `forward` method");
  if (meta->num_inputs() != 3) fail("expected 3 inputs (input_ids, attention_mask, token_type_ids)");

  // Planned memory: one buffer per memory id, sizes from the program (what Module does).
  std::vector<std::unique_ptr<uint8_t[]>> planned;
  std::vector<Span<uint8_t>> spans;
  for (size_t i = 0; i < meta->num_memory_planned_buffers(); ++i) {
    const size_t n = static_cast<size_t>(meta->memory_planned_buffer_size(i).get());
    planned.emplace_back(new uint8_t[n]);
    spans.emplace_back(planned.back().get(), n);
  }
  HierarchicalAllocator planned_memory({spans.data(), spans.size()});
  MallocMemoryAllocator method_allocator;
  MallocMemoryAllocator temp_allocator;
  MemoryManager memory(&method_allocator, &planned_memory, &temp_allocator);
  Result<Method> method = program->load_method("forward", &memory);
  if (!method.ok()) fail(std::string("cannot load forward of ") + model_path + " (" + err(method.error()) + ")");

  std::vector<float> logits;
  size_t labels = 0;
  for (const auto& ids : texts) {
    const size_t n = ids.size();
    const size_t L = n < 2 ? 2 : n;
    std::vector<int64_t> x(L, pad_id), mask(L, 0), types(L, 0);
    for (size_t j = 0; j < n; ++j) {
      x[j] = ids[j];
      mask[j] = 1;
    }
    executorch::aten::SizesType sizes[2] = {1, static_cast<executorch::aten::SizesType>(L)};
    executorch::aten::DimOrderType order[2] = {0, 1};
    executorch::aten::StridesType strides[2] = {static_cast<executorch::aten::StridesType>(L), 1};
    TensorImpl ti(ScalarType::Long, 2, sizes, x.data(), order, strides);
    TensorImpl tm(ScalarType::Long, 2, sizes, mask.data(), order, strides);
    TensorImpl tt(ScalarType::Long, 2, sizes, types.data(), order, strides);
    EValue inputs[3] = {EValue(Tensor(&ti)), EValue(Tensor(&tm)), EValue(Tensor(&tt))};
    for (size_t k = 0; k < 3; ++k) {
      Error e = method->set_input(inputs[k], k);
      if (e != Error::Ok) fail("set_input " + std::to_string(k) + " for " + std::to_string(n) + " tokens: " + err(e));
    }
    Error e = method->execute();
    if (e != Error::Ok) fail("execute on " + std::to_string(n) + " tokens: " + err(e));
    const EValue& out = method->get_output(0);
    if (!out.isTensor()) fail("output 0 is not a tensor");
    const Tensor t = out.toTensor();
    if (t.scalar_type() != ScalarType::Float) fail("output 0 is not float32");
    if (labels == 0) labels = static_cast<size_t>(t.numel());
    if (static_cast<size_t>(t.numel()) != labels) fail("output size changed between texts");
    const float* p = t.const_data_ptr<float>();
    logits.insert(logits.end(), p, p + labels);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  FILE* f = std::fopen(out_path, "wb");
  if (f == nullptr) fail(std::string("cannot write ") + out_path);
  if (!logits.empty() && std::fwrite(logits.data(), sizeof(float), logits.size(), f) != logits.size()) fail(std::string("short write to ") + out_path);
  if (std::fclose(f) != 0) fail(std::string("cannot write ") + out_path);

  const char* base = std::strrchr(model_path, '/');
  std::printf("{\"file\": \"%s\", \"texts\": %zu, \"labels\": %zu, \"weight_cache\": %s, \"threads\": %zu, \"seconds\": %.3f}\n",
              base ? base + 1 : model_path, texts.size(), labels, cache_on ? "true" : "false", thread_count, seconds);
  return 0;
}
