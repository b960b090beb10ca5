//===- NVVMExp2.cpp - squant-nvvm-exp2 ------------------------------------===//
//
// The softmax of the attention kernels computes 2^x with math.exp2, which
// the host emulation runs as exp2f. MLIR's NVVM lowering would make it a
// call to libdevice's __nv_exp2f (and rejects llvm.intr.exp2 once
// convert-math-to-llvm has run), which nothing links when the PTX is
// emitted without a CUDA toolkit. This pass rewrites f32 math.exp2 inside
// gpu.modules to the NVVM intrinsic llvm.nvvm.ex2.approx.f32, i.e. the
// hardware instruction ex2.approx.f32 (relative error about 2^-22): what
// flash-attention kernels use for their softmax.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTNVVMEXP2
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {
struct SQuantNVVMExp2Pass
    : squant::impl::SQuantNVVMExp2Base<SQuantNVVMExp2Pass> {
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    getOperation().walk([&](gpu::GPUModuleOp module) {
      SmallVector<math::Exp2Op> ops;
      module.walk([&](math::Exp2Op op) {
        if (op.getType().isF32())
          ops.push_back(op);
      });
      for (math::Exp2Op op : ops) {
        rewriter.setInsertionPoint(op);
        auto call = LLVM::CallIntrinsicOp::create(
            rewriter, op.getLoc(), Type(op.getType()),
            rewriter.getStringAttr("llvm.nvvm.ex2.approx.f32"),
            ValueRange{op.getOperand()});
        rewriter.replaceOp(op, call.getResult(0));
      }
    });
  }
};
} // namespace
