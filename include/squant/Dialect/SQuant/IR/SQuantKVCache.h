//===- SQuantKVCache.h - quantized KV cache components ----------*- C++ -*-===//
//
// The tensors that make up a quantized KV cache. Which of them a cache has,
// and in which order they appear in the `cache(...)` operand list of the
// squant.kv_* ops, follows from its #squant.kv_format
// (KVCacheFormatAttr::getComponents()); docs/kv-cache.md has their shapes.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHE_H
#define SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir {
class Type;
namespace squant {
class KVCacheFormatAttr;

/// One tensor of a KV cache. Shapes use Bt (batch), H (KV heads), L (Lmax,
/// token slots), D (head dim), B (bits), S (sink), R (residual), G (group),
/// O (outlier slots).
enum class KVComponent {
  KeyCodes,            ///< [Bt, H, L, D*B/8] i8, packed codes per token
  ValueCodes,          ///< [Bt, H, L, D*B/8] i8
  KeyScale,            ///< kivi: [Bt, H, (L-S)/G, D] float
  KeyZero,             ///< kivi: [Bt, H, (L-S)/G, D] float
  ValueScale,          ///< kvquant: [Bt, H, L]; kivi: [Bt, H, L, D/G] float
  ValueZero,           ///< kivi: [Bt, H, L, D/G] float
  KeyOutlierValues,    ///< kvquant, O > 0: [Bt, H, L, O] float
  KeyOutlierIndices,   ///< kvquant, O > 0: [Bt, H, L, O] i8/i16/i32
  ValueOutlierValues,  ///< kvquant, O > 0: [Bt, H, L, O] float
  ValueOutlierIndices, ///< kvquant, O > 0: [Bt, H, L, O] i8/i16/i32
  KeySink,             ///< S > 0: [Bt, H, S, D] float
  ValueSink,           ///< S > 0: [Bt, H, S, D] float
  KeyResidual,         ///< kivi: [Bt, H, R, D] float
  ValueResidual,       ///< kivi: [Bt, H, R, D] float
};

/// The snake_case name of a component ("key_codes", ...), used in
/// diagnostics and docs.
llvm::StringRef getKVComponentName(KVComponent component);

/// Memory of one layer's KV cache for one sequence (one batch row), from
/// its format, KV heads, head dim and the element types of its tensors.
struct KVCacheMemory {
  struct Part {
    KVComponent component;
    double bytes;
  };
  /// Bytes per token (per layer, per sequence) of each per-token tensor;
  /// kivi key scales/zeros (one row per G tokens) are amortized over G.
  llvm::SmallVector<Part> perToken;
  /// Bytes per layer and sequence independent of the length (sinks,
  /// residual buffers).
  llvm::SmallVector<Part> fixed;
  /// Bytes of the per-layer tables (shared by every sequence).
  double tables = 0;
  /// An fp16 cache: 2 (K, V) x H x D x 2 bytes per token.
  double fp16PerToken = 0;

  double perTokenTotal() const;
  double fixedTotal() const;
};

/// `componentTypes` are the element types of the cache tensors in
/// KVCacheFormatAttr::getComponents() order, `tableTypes` those of the
/// tables (none for kivi).
KVCacheMemory getKVCacheMemory(KVCacheFormatAttr format, int64_t heads,
                               int64_t headDim,
                               llvm::ArrayRef<Type> componentTypes,
                               llvm::ArrayRef<Type> tableTypes);

} // namespace squant
} // namespace mlir

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHE_H
