//===- KVCacheGraph.h - quantized KV cache in the decoder graph -*- C++ -*-===//
//
// The attention block of a layer over a quantized KV cache
// (#squant.kv_format): the cache tensors are memref arguments of the layer
// function, written in place by squant.kv_append and read by
// squant.kv_attention. Keys are appended pre-RoPE; kv_attention rotates
// keys and queries itself.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_IMPORT_KVCACHEGRAPH_H
#define SQUANT_IMPORT_KVCACHEGRAPH_H

#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/Model.h"

#include "mlir/IR/Builders.h"

namespace mlir::squant::import {

/// The #squant.kv_format of `format` for a model of `config`, or a
/// diagnostic at `loc` (attribute constraints, and those that involve the
/// head dimension: D a multiple of 8, G divides D, O <= D).
FailureOr<KVCacheFormatAttr> getKVFormatAttr(MLIRContext *ctx, Location loc,
                                             const LlamaConfig &config,
                                             const runtime::KVFormat &format);

/// Argument types of the cache tensors (memrefs, token dimension dynamic)
/// followed by, for kvquant, the tables (tensors): the layout of
/// runtime::kvCacheComponents.
SmallVector<Type> quantizedCacheArgTypes(MLIRContext *ctx,
                                         const LlamaConfig &config,
                                         const runtime::KVFormat &format);

/// Causal GQA attention of the T new tokens over a quantized cache: for
/// token i (position pos + i), kv_append of its pre-RoPE key and value,
/// then kv_attention of its pre-RoPE query over the pos + i + 1 cached
/// tokens. `q` [T, Hq*D], `k`, `v` [T, Hkv*D] f32; `cacheAndTables` the
/// arguments of quantizedCacheArgTypes. Returns [T, Hq*D] f32.
Value buildQuantizedAttention(OpBuilder &b, Location loc,
                              const LlamaConfig &config,
                              KVCacheFormatAttr format, Value q, Value k,
                              Value v, Value pos, Value numTokens,
                              ValueRange cacheAndTables);

} // namespace mlir::squant::import

#endif // SQUANT_IMPORT_KVCACHEGRAPH_H
