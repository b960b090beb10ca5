//===- LlamaBuilder.h - LLaMA decoder graph as MLIR -------------*- C++ -*-===//
//
// Builds the decoder as func + tensor/linalg + squant ops: `embed`, one
// `layer_<n>` function per distinct layer signature (the formats of its
// nine weights), and `head`. Weights are function arguments; identical
// layers share one function, which the runtime calls once per layer with
// that layer's buffers, so compile time does not grow with the layer count.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_IMPORT_LLAMABUILDER_H
#define SQUANT_IMPORT_LLAMABUILDER_H

#include "squant/Import/Weights.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace mlir::squant::import {

struct BuildOptions {
  /// Element type of an unquantized KV cache: F32 or F16.
  runtime::DType kvCache = runtime::DType::F32;
  /// A quantized KV cache (squant.kv_append / squant.kv_attention over
  /// #squant.kv_format) when `kvFormat.quantized()`; see KVCacheGraph.h.
  runtime::KVFormat kvFormat;
  /// ggml linears: build the per-group tables once at load time (compiled
  /// `prepare_<type>` functions) instead of on every call. The tables take
  /// 2 (Q4_x) or 32 (Q8_0) bytes per weight; a lowering that fuses
  /// squant.build_lut into squant.lut_matmul wants this off (squant-compile
  /// turns it off for the fast CPU kernels, which do).
  bool hoistTables = true;
};

/// Builds the module and fills `manifest` (functions, bindings, shapes).
FailureOr<OwningOpRef<ModuleOp>>
buildLlamaModule(MLIRContext &context, const LlamaConfig &config,
                 const LlamaWeights &weights, const BuildOptions &options,
                 runtime::ModelManifest &manifest);

} // namespace mlir::squant::import

#endif // SQUANT_IMPORT_LLAMABUILDER_H
