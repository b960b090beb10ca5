//===- squant-fuzz-mlir.cpp - fuzz the parser, verifiers and pipelines ----===//
//
// libFuzzer target: MLIR text -> parse -> verify -> squant-decompose ->
// squant-cpu-pipeline and squant-gpu-pipeline{format=isa}, on whatever
// verifies. Diagnostics are expected (and
// swallowed); a crash, an ASan/UBSan report, a hang or an over-allocation is
// a bug. A custom mutator swaps squant-relevant tokens (dimensions, element
// types, op names, layouts, formats) so that mutants stay close to valid IR.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/Transforms/Passes.h"
#include "squant/InitSQuant.h"
#include "squant/Pipelines/Pipelines.h"
#include "squant/Support/ParserGuard.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace mlir;

namespace {
const DialectRegistry &getRegistry() {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    squant::registerSQuantDialects(*r);
    return r;
  }();
  return *registry;
}

/// Runs `build` on a clone of `module`; returns whether it succeeded.
template <typename BuildFn>
bool runOnClone(MLIRContext &ctx, ModuleOp module, BuildFn build) {
  OwningOpRef<ModuleOp> clone = module.clone();
  PassManager pm(&ctx);
  build(pm);
  return succeeded(pm.run(*clone));
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Inputs far larger than any test case only slow the search down.
  if (size > 16 * 1024)
    return 0;
  std::string text(reinterpret_cast<const char *>(data), size);
  // What the tools reject before parsing (known upstream parser crashes).
  if (squant::findKnownParserCrash(text))
    return 0;
  MLIRContext ctx(getRegistry(), MLIRContext::Threading::DISABLED);
  ctx.getDiagEngine().registerHandler([](Diagnostic &) { return success(); });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &ctx);
  if (!module || failed(verify(*module)))
    return 0;
  if (!runOnClone(ctx, *module, [](PassManager &pm) {
        pm.addPass(squant::createSQuantDecompose());
      }))
    return 0;
  runOnClone(ctx, *module, [](PassManager &pm) {
    squant::buildCPUPipeline(pm, squant::CPUPipelineOptions());
  });
  runOnClone(ctx, *module, [](PassManager &pm) {
    squant::GPUPipelineOptions options;
    options.chip = "sm_80";
    options.format = "isa";
    squant::buildGPUPipeline(pm, options);
  });
  return 0;
}

//===----------------------------------------------------------------------===//
// Structure-aware mutation: replace one token by another of its class.
//===----------------------------------------------------------------------===//

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {
const std::vector<std::vector<std::string>> &tokenClasses() {
  static const std::vector<std::vector<std::string>> classes = {
      {"i1", "i2", "i3", "i4", "i5", "i8", "i16", "i32", "f16", "bf16", "f32",
       "f64", "index"},
      {"squant.lut_matmul", "squant.lut_dequant", "squant.pack",
       "squant.unpack", "squant.build_lut"},
      {"squeezellm", "row_major"},
      {"affine", "nf4", "fp4_e2m1", "iq4_nl"},
      {"tensor<", "memref<"},
      {"dense", "compressed", "singleton"},
  };
  return classes;
}

const char *kDims[] = {"0", "1", "2", "3", "4", "7", "8", "12", "16", "31",
                       "32", "33", "64", "100", "128", "?", "4096",
                       "9223372036854775807"};

bool isDigit(char c) { return c >= '0' && c <= '9'; }
} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  std::mt19937 rng(seed);
  if (rng() % 3 == 0 || size == 0)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string text(reinterpret_cast<char *>(data), size);
  if (rng() % 2 == 0) {
    // Replace a number (a dimension, a constant) by an interesting one.
    std::vector<size_t> starts;
    for (size_t i = 0; i < text.size(); ++i)
      if (isDigit(text[i]) && (i == 0 || !isDigit(text[i - 1])))
        starts.push_back(i);
    if (!starts.empty()) {
      size_t b = starts[rng() % starts.size()], e = b;
      while (e < text.size() && isDigit(text[e]))
        ++e;
      text.replace(b, e - b, kDims[rng() % (sizeof(kDims) / sizeof(*kDims))]);
    }
  } else {
    const auto &cls = tokenClasses()[rng() % tokenClasses().size()];
    const std::string &from = cls[rng() % cls.size()];
    std::vector<size_t> hits;
    for (size_t p = text.find(from); p != std::string::npos;
         p = text.find(from, p + 1))
      hits.push_back(p);
    if (!hits.empty())
      text.replace(hits[rng() % hits.size()], from.size(),
                   cls[rng() % cls.size()]);
  }
  if (text.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  memcpy(data, text.data(), text.size());
  return text.size();
}
