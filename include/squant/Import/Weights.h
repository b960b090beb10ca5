//===- Weights.h - locating and classifying model weights -------*- C++ -*-===//
//
// Finds every weight of a LLaMA-family decoder in safetensors files (Hugging
// Face names; dense F16/BF16/F32, or SqueezeLLM `<name>.qweight`,
// `.lookup_table` and optional `.rows/.cols/.vals`, detected per linear) or
// in a GGUF file (ggml names; F32/F16/BF16/Q4_0/Q4_1/Q8_0), checks dtypes
// and shapes, and describes each as a `WeightSpec`: its format and the
// buffers bound to the compiled function's arguments.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_IMPORT_WEIGHTS_H
#define SQUANT_IMPORT_WEIGHTS_H

#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/GGUF.h"
#include "squant/Runtime/Model.h"
#include "squant/Runtime/SafeTensors.h"

#include <array>
#include <memory>

namespace mlir::squant::import {

enum class WeightFormat {
  /// [N, K] (or [H] for norms) of F16, BF16 or F32.
  Dense,
  /// SqueezeLLM: qweight i32 [K*B/32, N] (squeezellm packing), lookup_table
  /// [N, 2^B], optional CSR outliers rows [N+1], cols [nnz], vals [nnz].
  SqueezeLLM,
  /// ggml Q4_0 / Q4_1 / Q8_0, re-laid out at load time into codes i32
  /// [N, K*B/32] (row_major packing), scale f16 [N, K/32] and, for Q4_1,
  /// zero f32 [N, K/32].
  GGML,
};

struct WeightSpec {
  std::string name;
  WeightFormat format = WeightFormat::Dense;
  /// Dense: element dtype. SqueezeLLM: table dtype.
  runtime::DType dtype = runtime::DType::F32;
  runtime::DType outlierDType = runtime::DType::F32;
  uint32_t ggmlType = 0;
  unsigned bits = 0;
  bool outliers = false;
  /// GGML only: the tables are built once at load time by a compiled
  /// `prepare_<type>` function (squant.build_lut) and passed to the layer
  /// functions instead of the scales and zero points.
  bool hoistedTables = false;
  /// Rank-1 weights (norms) have rows == 0.
  int64_t rows = 0, cols = 0;
  std::vector<runtime::ParamBinding> bindings;

  /// A string equal for weights that compile to the same code.
  std::string key() const;
};

/// Layer weights in order: attn_norm, q, k, v, o, ffn_norm, gate, up, down.
using LayerWeights = std::array<WeightSpec, 9>;

struct LlamaWeights {
  WeightSpec embed, finalNorm, lmHead;
  std::vector<LayerWeights> layers;
};

/// An open set of weight files: safetensors shards, or one GGUF file.
class WeightFiles {
public:
  static llvm::Expected<std::unique_ptr<WeightFiles>>
  open(llvm::ArrayRef<std::string> paths);
  bool isGGUF() const { return gguf != nullptr; }
  const runtime::GGUFFile *getGGUF() const { return gguf.get(); }
  llvm::ArrayRef<std::string> paths() const { return filePaths; }
  /// A safetensors tensor and the index of its file.
  const runtime::TensorView *lookup(llvm::StringRef name,
                                    unsigned &file) const;

private:
  std::vector<std::string> filePaths;
  std::vector<std::unique_ptr<runtime::SafeTensorsFile>> st;
  std::unique_ptr<runtime::GGUFFile> gguf;
};

/// Finds and checks every weight of `config` in `files`.
llvm::Expected<LlamaWeights> resolveLlamaWeights(const LlamaConfig &config,
                                                 const WeightFiles &files);

/// Weights of the given dense dtype and no files: enough to compile (the
/// manifest then has no bindings and cannot be run).
LlamaWeights syntheticLlamaWeights(const LlamaConfig &config,
                                   runtime::DType dtype);

} // namespace mlir::squant::import

#endif // SQUANT_IMPORT_WEIGHTS_H
