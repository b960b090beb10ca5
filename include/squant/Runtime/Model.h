//===- Model.h - compiled whole-model artifacts -----------------*- C++ -*-===//
//
// A compiled model is a directory: a shared library built by squant-compile
// (one `embed` function, one function per distinct layer signature, one
// `head` function, all with the C interface) and `manifest.json`, which says
// which function runs for each layer and which weight tensors (in the
// original safetensors / GGUF files, mapped read-only at run time) are bound
// to its arguments. Weights never enter the IR.
//
// Function ABI (every argument a memref descriptor):
//   embed(tokens: [T] i32, params...) -> x [T, H] f32
//   layer(x [T,H] f32, pos [1] i64, k_cache [Lmax,Hkv,D], v_cache, params...)
//       -> x' [T, H] f32     (k/v caches written in place at rows pos..pos+T)
//   head(x [T, H] f32, params...) -> logits [T, V] f32
//
// With a quantized KV cache (#squant.kv_format, docs/driver.md) a layer
// takes the cache tensors of its format instead of k_cache/v_cache
// (kvCacheComponents(), each [1, Hkv, ...] with the token dimension sized
// at run time), then for kvquant its two tables (key_lut [Hkv, D, 2^B],
// value_lut [2^B] f32, calibrated by the runtime), then its params; and a
// kvquant model has per layer signature
//   kv_project(x [T,H] f32, norm, k_proj, v_proj) -> [2, T, Hkv*D] f32
// (the pre-RoPE keys and the values) for that calibration.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_MODEL_H
#define SQUANT_RUNTIME_MODEL_H

#include "squant/Runtime/SafeTensors.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlir::squant::runtime {

/// One weight buffer bound to a function argument: a tensor of a weight
/// file, or a part derived from a ggml block tensor ("codes", "scale",
/// "zero"). Dimensions of -1 are dynamic in the function type (CSR outlier
/// arrays); `shape` always holds the actual sizes.
struct ParamBinding {
  unsigned file = 0;
  std::string tensor;
  std::string part;
  DType dtype = DType::F32;
  llvm::SmallVector<int64_t> shape;
  /// For part "lut": the compiled function that builds the tables once at
  /// load time from this tensor's "scale" (and "zero") parts.
  std::string prepare;
};

struct FunctionCall {
  std::string function;
  std::vector<ParamBinding> params;
};

/// A quantized KV cache format (#squant.kv_format); `method` empty means
/// an unquantized cache of ModelManifest::kvCache elements.
struct KVFormat {
  std::string method; ///< "", "kvquant" or "kivi"
  int64_t bits = 0, group = 0, sink = 0, residual = 0, outliers = 0;
  bool quantized() const { return !method.empty(); }
  bool hasTables() const { return method == "kvquant"; }
  /// "kvquant, bits = 3, sink = 1, outliers = 1" (the attribute's syntax).
  std::string str() const;
};

/// One tensor of a layer's quantized cache.
struct KVCacheComponent {
  std::string name;
  DType dtype;
  llvm::SmallVector<int64_t> shape;
};

/// The cache tensors of one layer for `slots` tokens (one sequence), in the
/// operand order of the squant.kv_* ops (docs/kv-cache.md): codes i8,
/// outlier channel indices i8 (i16 when D > 256), every float f16.
std::vector<KVCacheComponent> kvCacheComponents(const KVFormat &format,
                                                int64_t heads,
                                                int64_t headDim,
                                                int64_t slots);

struct ModelManifest {
  std::string library = "model.so";
  int64_t hidden = 0, numLayers = 0, numHeads = 0, numKVHeads = 0,
          headDim = 0, vocab = 0, maxPositions = 0;
  DType kvCache = DType::F32;
  KVFormat kvFormat;
  std::vector<std::string> files;
  /// "gguf" (tokenizer.ggml.* metadata of files[0]), "hf" (tokenizer.json)
  /// or "" (none).
  std::string tokenizerKind, tokenizerPath;
  int64_t bos = -1;
  std::vector<int64_t> eos;
  /// "chatml" when the model expects <|im_start|> turns, else "".
  std::string chatTemplate;
  FunctionCall embed, head;
  std::vector<FunctionCall> layers;
  /// kvquant: the kv_project call of every layer (norm, k, v weights).
  std::vector<FunctionCall> kvProject;
  unsigned numLayerFunctions = 0;

  llvm::json::Value toJSON() const;
  static llvm::Expected<ModelManifest> fromJSON(llvm::StringRef text,
                                                llvm::StringRef path);
};

class Tokenizer;

/// A loaded model: weights mapped, shared library loaded, KV cache allocated.
class CompiledModel {
public:
  ~CompiledModel();
  static llvm::Expected<std::unique_ptr<CompiledModel>>
  load(llvm::StringRef dir);

  const ModelManifest &manifest() const { return man; }
  /// (Re)allocates the KV caches for `maxTokens` positions (zeroed).
  llvm::Error resetCache(int64_t maxTokens);
  int64_t cacheCapacity() const { return capacity; }

  /// Runs tokens at positions [pos, pos + T): embed, every layer (writing
  /// the KV cache), head. Returns the logits of the last token, or of every
  /// token when `allLogits` ([T, V] row-major).
  llvm::Expected<std::vector<float>> forward(llvm::ArrayRef<int32_t> tokens,
                                             int64_t pos, bool allLogits);

  /// Bytes of weights mapped and of buffers derived from them at load time.
  uint64_t mappedWeightBytes() const { return mappedBytes; }
  uint64_t derivedWeightBytes() const { return derivedBytes; }
  uint64_t cacheBytes() const;

  /// kvquant caches need per-layer tables before the first forward().
  bool needsKVCalibration() const;
  /// Derives every layer's kvquant tables from the pre-RoPE keys and the
  /// values of `tokens` (run from position 0 through the model, layer by
  /// layer, each layer with its freshly calibrated tables, in a cache of
  /// at least tokens.size() slots; afterwards the cache is zeroed at its
  /// previous capacity). The rule is in docs/driver.md.
  llvm::Error calibrateKV(llvm::ArrayRef<int32_t> tokens);
  /// The tables in use (key_lut_<l>, value_lut_<l>), for --kv-tables.
  llvm::Error writeKVTables(llvm::StringRef path) const;

private:
  CompiledModel() = default;
  /// A [T, H] f32 activation returned by compiled code (freed by
  /// `allocated`).
  struct Activation {
    void *allocated;
    float *data;
  };
  llvm::Expected<Activation> runEmbed(llvm::ArrayRef<int32_t> tokens);
  llvm::Expected<Activation> runLayer(int64_t layer, float *x, int64_t t,
                                      int64_t pos);
  struct Impl;
  std::unique_ptr<Impl> impl;
  ModelManifest man;
  int64_t capacity = 0;
  uint64_t mappedBytes = 0, derivedBytes = 0;
};

/// Calls `fn(ptrs[0], ..., ptrs[n-1])` for a C function taking n pointer
/// arguments (n <= 64): the `_mlir_ciface_` ABI of functions whose
/// arguments and results are all memrefs.
llvm::Error callPointerFunction(void *fn, llvm::ArrayRef<void *> ptrs);

} // namespace mlir::squant::runtime

#endif // SQUANT_RUNTIME_MODEL_H
