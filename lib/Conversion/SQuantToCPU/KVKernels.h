//===- KVKernels.h - KV-cache CPU kernels -----------------------*- C++ -*-===//
//
// Fused CPU kernels of the KV-cache ops (docs/kv-cache.md has the
// semantics, docs/cpu-kernels.md the design). They run on the memref form,
// after bufferization, so that kv_append updates the caches in place.
// Every memref argument has the type kvKernelArgType(element type, rank):
// dynamic sizes, dynamic outer strides and offset, unit innermost stride.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVKERNELS_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVKERNELS_H

#include "KernelBuilder.h"

#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/IR/BuiltinTypes.h"

namespace mlir::squant::cpu {

/// `memref<?x...x?xelt, strided<[?, ..., ?, 1], offset: ?>>` of `rank`.
MemRefType kvKernelArgType(Type elt, int64_t rank);

/// What every KV kernel is specialized on.
struct KVSpecBase {
  CPUTarget target = CPUTarget::Generic; // never Auto
  unsigned threads = 0;
  KVCacheFormatAttr format;
  int64_t headDim = 0;
  /// Element types of the tables (kvquant: key_lut, value_lut) and of the
  /// cache tensors, in operand order.
  SmallVector<Type> tableTypes, cacheTypes;

  /// Kernel arguments for the tables and the cache (ranks from the format).
  SmallVector<Type> tableAndCacheArgTypes() const;
  /// "<target>_t<threads>_<method>_b<B>_..._d<D>_<element types>".
  std::string mangle() const;
};

/// kv_append: (keys, values, position, tables..., cache...).
struct KVAppendSpec : KVSpecBase {
  Type keyType, valueType;
  std::string kernelName() const;
  SmallVector<Type> argTypes(MLIRContext *ctx) const;
};

/// kv_attention: (query, len, position, tables..., cache..., out).
struct KVAttentionSpec : KVSpecBase {
  /// Query heads per KV head (static).
  int64_t groupSize = 1;
  RopeStyle rope = RopeStyle::None;
  float theta = 10000.0f, scale = 1.0f;
  Type queryType, outType;
  std::string kernelName() const;
  SmallVector<Type> argTypes(MLIRContext *ctx) const;
};

/// kv_dequantize: (tables..., cache..., start, len, key_out, value_out).
struct KVDequantizeSpec : KVSpecBase {
  Type keyOutType, valueOutType;
  std::string kernelName() const;
  SmallVector<Type> argTypes(MLIRContext *ctx) const;
};

func::FuncOp getOrCreateKVAppendKernel(ModuleOp module,
                                       const KVAppendSpec &spec);
func::FuncOp getOrCreateKVAttentionKernel(ModuleOp module,
                                          const KVAttentionSpec &spec);
func::FuncOp getOrCreateKVDequantizeKernel(ModuleOp module,
                                           const KVDequantizeSpec &spec);

/// Sets the `target_features` of a kernel written for `target` (AVX-512,
/// AVX2) so that an ahead-of-time build for a baseline CPU compiles it.
void setKernelTargetFeatures(func::FuncOp fn, CPUTarget target);

} // namespace mlir::squant::cpu

#endif // SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVKERNELS_H
