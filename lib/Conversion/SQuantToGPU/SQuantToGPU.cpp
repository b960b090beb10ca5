//===- SQuantToGPU.cpp - convert-squant-to-gpu ----------------------------===//
//
// The pass: reports ops that cannot be lowered, then rewrites the consumers
// (lut_matmul, lut_dequant, which fuse a producing squeezellm unpack) and
// the KV-cache ops, then the remaining ops (unpack, pack, build_lut). The
// kernels are built by the per-family files.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "squant/Conversion/Passes.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::squant {
#define GEN_PASS_DEF_CONVERTSQUANTTOGPU
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant;

void mlir::squant::populateSQuantToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &options) {
  populateLutMatmulToGPUPatterns(patterns, options);
  populateLutDequantToGPUPatterns(patterns, options);
  populateUnpackToGPUPatterns(patterns, options);
  populatePackToGPUPatterns(patterns, options);
  populateBuildLutToGPUPatterns(patterns, options);
  populateKVAppendToGPUPatterns(patterns, options);
  populateKVDequantizeToGPUPatterns(patterns, options);
  populateKVAttentionToGPUPatterns(patterns, options);
}

std::string mlir::squant::getGPULoweringBlocker(Operation *op) {
  if (isa<LutMatmulOp>(op))
    return getLutMatmulGPUBlocker(op);
  if (isa<LutDequantOp>(op))
    return getLutDequantGPUBlocker(op);
  if (isa<UnpackOp>(op))
    return getUnpackGPUBlocker(op);
  if (isa<PackOp>(op))
    return getPackGPUBlocker(op);
  if (isa<BuildLutOp>(op))
    return getBuildLutGPUBlocker(op);
  if (isa<KVAppendOp>(op))
    return getKVAppendGPUBlocker(op);
  if (isa<KVDequantizeOp>(op))
    return getKVDequantizeGPUBlocker(op);
  if (isa<KVAttentionOp>(op))
    return getKVAttentionGPUBlocker(op);
  return "no GPU kernel exists for this op";
}

namespace {
struct ConvertSQuantToGPUPass
    : squant::impl::ConvertSQuantToGPUBase<ConvertSQuantToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    bool blocked = false;
    module.walk([&](Operation *op) {
      if (!isa_and_nonnull<SQuantDialect>(op->getDialect()))
        return;
      std::string reason = getGPULoweringBlocker(op);
      if (reason.empty())
        return;
      op->emitOpError() << "cannot be lowered to GPU kernels: " << reason;
      blocked = true;
    });
    if (blocked)
      return signalPassFailure();

    SQuantToGPUOptions options;
    options.numSMs = numSMs;
    options.splitK = splitK;
    options.warpsK = warpsK;
    options.kvSplits = kvSplits;
    if (numSMs <= 0 || splitK < 0 || warpsK < 0 || warpsK > 32 ||
        kvSplits < 0) {
      emitError(module.getLoc()) << "convert-squant-to-gpu: expected num-sms > 0, "
                            "split-k >= 0, 0 <= warps-k <= 32 and "
                            "kv-splits >= 0";
      return signalPassFailure();
    }

    // Consumers first, so that they read packed words and the unpack ops
    // they fused die; then the remaining unpack ops.
    RewritePatternSet consumers(ctx);
    populateLutMatmulToGPUPatterns(consumers, options);
    populateLutDequantToGPUPatterns(consumers, options);
    populateKVAppendToGPUPatterns(consumers, options);
    populateKVDequantizeToGPUPatterns(consumers, options);
    populateKVAttentionToGPUPatterns(consumers, options);
    if (failed(applyPatternsGreedily(module, std::move(consumers))))
      return signalPassFailure();
    RewritePatternSet rest(ctx);
    populateUnpackToGPUPatterns(rest, options);
    populatePackToGPUPatterns(rest, options);
    populateBuildLutToGPUPatterns(rest, options);
    if (failed(applyPatternsGreedily(module, std::move(rest))))
      return signalPassFailure();

    module.walk([&](Operation *op) {
      if (!isa_and_nonnull<SQuantDialect>(op->getDialect()))
        return;
      op->emitOpError() << "was not lowered to GPU kernels";
      blocked = true;
    });
    if (blocked)
      signalPassFailure();
  }
};
} // namespace
