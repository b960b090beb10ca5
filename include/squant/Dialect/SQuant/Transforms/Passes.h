//===- Passes.h - squant dialect transforms ---------------------*- C++ -*-===//

#ifndef SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_H
#define SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace squant {

#define GEN_PASS_DECL
#include "squant/Dialect/SQuant/Transforms/Passes.h.inc"

/// Patterns that rewrite every squant op into linalg/tensor/memref/arith (the
/// reference semantics used by `squant-decompose`).
void populateSQuantDecomposePatterns(RewritePatternSet &patterns);

/// The KV-cache part of the above (kv_append, kv_dequantize, kv_attention);
/// populateSQuantDecomposePatterns includes it.
void populateSQuantDecomposeKVCachePatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "squant/Dialect/SQuant/Transforms/Passes.h.inc"

} // namespace squant
} // namespace mlir

#endif // SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_H
