//===- GPUExpandMath.cpp - squant-gpu-expand-math -------------------------===//
//
// Kernels must not call libdevice (it is only linked when a CUDA toolkit is
// found, and its functions differ from the host's libm that the emulation
// runs). In every kernel (gpu.launch bodies, gpu.func), this pass rewrites
//
//  * transcendental math ops with upstream's polynomial approximations
//    (exp, log, sin, cos, tanh, erf, ... through
//    populateMathPolynomialApproximationPatterns, f16/bf16 computed in f32)
//    and upstream's expansions (rsqrt -> 1 / sqrt, tan, sinh, cosh);
//  * with `intrinsics`, the exactly specified basic ops left over (sqrt,
//    floor, ceil, trunc, roundeven, round, absf, copysign) into calls of
//    the LLVM intrinsics that NVPTX implements natively
//    (convert-gpu-to-nvvm would otherwise route them to libdevice too).
//    math.fma is left to convert-math-to-llvm.
//
// squant-gpu-pipeline runs it without `intrinsics` before
// squant-gpu-launch-to-loops, so host emulation executes the same
// approximations as the GPU, and with `intrinsics` right before the NVVM
// lowering (the basic ops are IEEE-exact on both sides). llvm.call_intrinsic
// has unknown memory effects for MLIR, hence the late second step.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPUEXPANDMATH
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {

/// A scalar f16/bf16/f32/f64 math op inside a kernel -> llvm.call_intrinsic
/// of `intrinsic` (e.g. "llvm.sqrt"), suffixed with the LLVM type name.
template <typename MathOp>
struct ToIntrinsic : OpRewritePattern<MathOp> {
  ToIntrinsic(MLIRContext *ctx, StringRef intrinsic)
      : OpRewritePattern<MathOp>(ctx), intrinsic(intrinsic) {}

  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op->getResult(0).getType();
    StringRef suffix = type.isF32()    ? "f32"
                       : type.isF64()  ? "f64"
                       : type.isF16()  ? "f16"
                       : type.isBF16() ? "bf16"
                                       : "";
    if (suffix.empty())
      return rewriter.notifyMatchFailure(op, "not a scalar float");
    auto call = LLVM::CallIntrinsicOp::create(
        rewriter, op.getLoc(), type,
        rewriter.getStringAttr(intrinsic + "." + suffix), op->getOperands());
    rewriter.replaceOp(op, call.getResults());
    return success();
  }
  std::string intrinsic;
};

bool inKernel(Operation *op) {
  return op->getParentOfType<gpu::LaunchOp>() ||
         op->getParentOfType<gpu::GPUModuleOp>();
}

struct SQuantGPUExpandMathPass
    : squant::impl::SQuantGPUExpandMathBase<SQuantGPUExpandMathPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    static const llvm::StringSet<> approximated = {
        "acos", "asin", "atan", "atan2", "cbrt", "cos",  "erf",
        "erfc", "exp",  "expm1", "log",  "log1p", "log2", "sin", "tanh"};
    // The predicate sees operation names ("math.exp").
    auto approximate = [](StringRef name) {
      return name.consume_front("math.") && approximated.contains(name);
    };
    populateMathF32ExpansionPatterns(patterns, approximate);
    populateMathPolynomialApproximationPatterns(patterns, approximate);
    math::populateExpansionPatterns(patterns,
                                    {"rsqrt", "tan", "sinh", "cosh"});
    if (intrinsics) {
      patterns.add<ToIntrinsic<math::SqrtOp>>(ctx, "llvm.sqrt");
      patterns.add<ToIntrinsic<math::FloorOp>>(ctx, "llvm.floor");
      patterns.add<ToIntrinsic<math::CeilOp>>(ctx, "llvm.ceil");
      patterns.add<ToIntrinsic<math::TruncOp>>(ctx, "llvm.trunc");
      patterns.add<ToIntrinsic<math::RoundEvenOp>>(ctx, "llvm.roundeven");
      patterns.add<ToIntrinsic<math::RoundOp>>(ctx, "llvm.round");
      patterns.add<ToIntrinsic<math::AbsFOp>>(ctx, "llvm.fabs");
      patterns.add<ToIntrinsic<math::CopySignOp>>(ctx, "llvm.copysign");
    }
    FrozenRewritePatternSet frozen(std::move(patterns));

    // Kernel bodies: gpu.func, and gpu.launch not nested in a kernel.
    // Constants stay inside (no folding or constant CSE, which would hoist
    // them out of a gpu.launch, and gpu.shuffle needs its width there).
    SmallVector<Region *> kernels;
    getOperation()->walk([&](Operation *op) {
      if (isa<gpu::GPUFuncOp>(op) ||
          (isa<gpu::LaunchOp>(op) && !inKernel(op)))
        kernels.push_back(&op->getRegion(0));
    });
    for (Region *kernel : kernels) {
      GreedyRewriteConfig config;
      config.setScope(kernel).enableFolding(false).enableConstantCSE(false);
      if (failed(applyPatternsGreedily(*kernel, frozen, config))) {
        kernel->getParentOp()->emitError()
            << "squant-gpu-expand-math: rewriting the math ops of this "
               "kernel did not converge";
        return signalPassFailure();
      }
    }
  }
};

} // namespace
