//===- SQuantToGPU.h - squant to GPU kernel patterns ------------*- C++ -*-===//
//
// The GPU lowering is split by op family, one file and one populate function
// per family (lib/Conversion/SQuantToGPU/<Family>ToGPU.cpp), all declared
// here. A new family (e.g. the KV-cache ops) adds a file, a populate
// function and a call in populateSQuantToGPUPatterns.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_SQUANTTOGPU_SQUANTTOGPU_H
#define SQUANT_CONVERSION_SQUANTTOGPU_SQUANTTOGPU_H

#include <cstdint>
#include <string>

namespace mlir {
class DialectRegistry;
class Operation;
class RewritePatternSet;

namespace squant {

/// Knobs of the kernel generator (the pass options of convert-squant-to-gpu).
struct SQuantToGPUOptions {
  /// Streaming multiprocessors of the target; the K split aims at enough
  /// blocks to fill them.
  int64_t numSMs = 132;
  /// Forced number of K splits of lut_matmul (0: choose per shape).
  int64_t splitK = 0;
  /// Forced warps per block along K (0: choose per M bucket).
  int64_t warpsK = 0;
  /// Forced number of token splits of kv_attention (0: choose per shape).
  int64_t kvSplits = 0;
};

/// lut_matmul: matvec/GEMM kernels per M bucket, fused with a producing
/// `squant.unpack squeezellm`, CSR outliers in the combine kernel.
void populateLutMatmulToGPUPatterns(RewritePatternSet &patterns,
                                    const SQuantToGPUOptions &options);

/// lut_dequant: one kernel writing W, fused with squeezellm unpacking.
void populateLutDequantToGPUPatterns(RewritePatternSet &patterns,
                                     const SQuantToGPUOptions &options);

/// unpack: one kernel per layout (squeezellm, row_major).
void populateUnpackToGPUPatterns(RewritePatternSet &patterns,
                                 const SQuantToGPUOptions &options);

/// pack: one kernel per layout, the inverse of unpack.
void populatePackToGPUPatterns(RewritePatternSet &patterns,
                               const SQuantToGPUOptions &options);

/// build_lut: one thread per table entry.
void populateBuildLutToGPUPatterns(RewritePatternSet &patterns,
                                   const SQuantToGPUOptions &options);

/// kv_append: quantize-on-append in place (kvquant: a warp per token
/// vector; kivi: a block per batch row and KV head).
void populateKVAppendToGPUPatterns(RewritePatternSet &patterns,
                                   const SQuantToGPUOptions &options);

/// kv_dequantize: a thread per token vector.
void populateKVDequantizeToGPUPatterns(RewritePatternSet &patterns,
                                       const SQuantToGPUOptions &options);

/// kv_attention: flash-decoding main kernel (splits over tokens, GQA
/// heads per block) and a deterministic combine kernel.
void populateKVAttentionToGPUPatterns(RewritePatternSet &patterns,
                                      const SQuantToGPUOptions &options);

/// Every family above.
void populateSQuantToGPUPatterns(RewritePatternSet &patterns,
                                 const SQuantToGPUOptions &options);

/// Why `op` (a squant op) cannot be lowered to a GPU kernel, or an empty
/// string when it can. The pass reports these before rewriting anything.
std::string getGPULoweringBlocker(Operation *op);

/// Declares the memory effects of gpu.launch_func (its memref operands are
/// read and written), which the buffer deallocation pipeline needs when it
/// runs on host code that already launches kernels.
void registerGPULaunchMemoryEffects(DialectRegistry &registry);

} // namespace squant
} // namespace mlir

#endif // SQUANT_CONVERSION_SQUANTTOGPU_SQUANTTOGPU_H
