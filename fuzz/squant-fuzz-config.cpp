//===- squant-fuzz-config.cpp - fuzz the JSON readers of the driver -------===//
//
// libFuzzer target: text -> LlamaConfig::fromJSON (config.json, validated)
// and Tokenizer::fromHFJsonText (tokenizer.json; an accepted tokenizer
// encodes and decodes a fixed string).
//
//===----------------------------------------------------------------------===//

#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/Tokenizer.h"

#include <cstdint>

using namespace mlir::squant;
using namespace mlir::squant::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 64 * 1024)
    return 0;
  llvm::StringRef text(reinterpret_cast<const char *>(data), size);
  if (auto config = import::LlamaConfig::fromJSON(text, "config.json"); !config)
    llvm::consumeError(config.takeError());
  if (auto tok = Tokenizer::fromHFJsonText(text, "tokenizer.json")) {
    std::vector<int32_t> ids = (*tok)->encode("Hello, world! 123 \xc3\xa9t\xc3\xa9");
    (void)(*tok)->decode(ids, /*special=*/true);
  } else {
    llvm::consumeError(tok.takeError());
  }
  return 0;
}
