//===- squant-fuzz-gguf.cpp - fuzz the GGUF reader and what reads it ------===//
//
// libFuzzer target: bytes -> GGUFFile::parse, then everything the driver
// derives from an accepted file: the LLaMA config (llama.* metadata), the
// BPE tokenizer (tokenizer.ggml.*; it encodes and decodes a fixed string),
// and for every tensor of a supported type its ggml block re-layout and
// reference dequantization. Accepted data is read in full so that an
// offset the reader failed to validate shows up as an ASan report.
//
//===----------------------------------------------------------------------===//

#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/GGUF.h"
#include "squant/Runtime/Tokenizer.h"

#include <cstdint>

using namespace mlir::squant;
using namespace mlir::squant::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto file = GGUFFile::parse(llvm::ArrayRef<uint8_t>(data, size), "fuzz.gguf");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const GGUFTensor &t : (*file)->tensors()) {
    for (uint8_t b : t.data)
      sink ^= b;
    // Bounded work per input: large tensors only have their bytes touched.
    if (t.numElements() > (1 << 16))
      continue;
    if (auto params = relayoutGGMLBlocks(t); !params)
      llvm::consumeError(params.takeError());
    if (auto values = dequantizeGGML(t); !values)
      llvm::consumeError(values.takeError());
  }
  if (auto config = import::LlamaConfig::fromGGUF(**file); !config)
    llvm::consumeError(config.takeError());
  if (auto tok = Tokenizer::fromGGUF(**file)) {
    std::vector<int32_t> ids = (*tok)->encode("Hello, world! 123 <|im_end|>");
    (void)(*tok)->decode(ids, /*special=*/true);
  } else {
    llvm::consumeError(tok.takeError());
  }
  (void)sink;
  return 0;
}
