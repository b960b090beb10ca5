//===- Tokenizer.h - byte-level BPE tokenizer -------------------*- C++ -*-===//
//
// GPT-2 style byte-level BPE, as LLaMA-family models with a "gpt2" GGUF
// tokenizer (SmolLM2, ...) or a Hugging Face tokenizer.json (BPE model,
// ByteLevel pre-tokenizer) use it. Pre-tokenization follows the GPT-2
// pattern with digits split individually; letters are ASCII letters plus
// every non-ASCII code point (an approximation of \p{L}, exact for ASCII
// text). Control / added tokens are matched literally before BPE.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_TOKENIZER_H
#define SQUANT_RUNTIME_TOKENIZER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace mlir::squant::runtime {

class GGUFFile;

class Tokenizer {
public:
  /// From `tokenizer.ggml.*` metadata (model "gpt2").
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  fromGGUF(const GGUFFile &file);
  /// From a Hugging Face tokenizer.json (model type BPE).
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  fromHFJson(llvm::StringRef path);
  /// The same from the file's text; `path` names it in errors.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  fromHFJsonText(llvm::StringRef text, llvm::StringRef path);

  std::vector<int32_t> encode(llvm::StringRef text) const;
  /// Text of the tokens; control tokens are left out unless `special`.
  std::string decode(llvm::ArrayRef<int32_t> ids, bool special = false) const;
  int64_t size() const { return int64_t(tokens.size()); }
  /// Id of a token given by its text, or -1.
  int32_t lookup(llvm::StringRef token) const;

private:
  Tokenizer() = default;
  void finish();
  void bpe(llvm::StringRef piece, std::vector<int32_t> &out) const;

  std::vector<std::string> tokens;       // id -> token text (byte-mapped)
  std::vector<bool> control;             // id -> matched literally
  llvm::StringMap<int32_t> vocab;        // token text -> id
  llvm::StringMap<int32_t> mergeRank;    // "a b" -> rank
  std::vector<std::pair<std::string, int32_t>> specials; // longest first
  std::string byteToUnicode[256];
  std::unordered_map<uint32_t, uint8_t> unicodeToByte;
};

} // namespace mlir::squant::runtime

#endif // SQUANT_RUNTIME_TOKENIZER_H
