//===- ModelConfig.h - LLaMA-family model configuration ---------*- C++ -*-===//
//
// The hyper-parameters of a LLaMA-family decoder, read from a Hugging Face
// `config.json` or from GGUF metadata (`llama.*`), and validated.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_IMPORT_MODELCONFIG_H
#define SQUANT_IMPORT_MODELCONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::squant {
namespace runtime {
class GGUFFile;
}
namespace import {

/// How rotary embeddings pair the channels of a head: Hugging Face's
/// rotate_half pairs (i, i + D/2); ggml's "normal" mode, which GGUF
/// conversions of LLaMA checkpoints use (their q/k rows are permuted to
/// match), pairs (2i, 2i + 1).
enum class RopeStyle { Half, Interleaved };

struct LlamaConfig {
  int64_t hiddenSize = 0, intermediateSize = 0, numLayers = 0, numHeads = 0,
          numKVHeads = 0, headDim = 0, vocabSize = 0, maxPositions = 2048;
  double ropeTheta = 10000.0, rmsNormEps = 1e-6;
  bool tieWordEmbeddings = false;
  RopeStyle ropeStyle = RopeStyle::Half;
  int64_t bosTokenId = -1;
  std::vector<int64_t> eosTokenIds;

  /// Parses config.json text; `file` names it in errors.
  static llvm::Expected<LlamaConfig> fromJSON(llvm::StringRef text,
                                              llvm::StringRef file);
  /// Reads `llama.*` metadata of a GGUF file.
  static llvm::Expected<LlamaConfig> fromGGUF(const runtime::GGUFFile &file);
  /// Checks every constraint the decoder graph relies on.
  llvm::Error validate(llvm::StringRef source) const;
};

} // namespace import
} // namespace mlir::squant

#endif // SQUANT_IMPORT_MODELCONFIG_H
