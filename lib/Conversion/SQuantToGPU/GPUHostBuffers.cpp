//===- GPUHostBuffers.cpp - squant-gpu-host-buffers -----------------------===//
//
// After bufferization, the host functions of a GPU module allocate their
// temporaries (kernel outputs, split-K workspaces) with memref.alloc, which
// is host memory. The kernels need device memory, and the functions'
// arguments are device pointers by contract, so every allocation, free and
// copy of a host function becomes its gpu dialect counterpart (lowered to
// mgpuMemAlloc/mgpuMemFree/mgpuMemcpy by gpu-to-llvm).
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPUHOSTBUFFERS
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {
struct SQuantGPUHostBuffersPass
    : squant::impl::SQuantGPUHostBuffersBase<SQuantGPUHostBuffersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    IRRewriter rewriter(&getContext());
    bool failed = false;
    for (auto func : module.getOps<func::FuncOp>()) {
      SmallVector<Operation *> ops;
      func.walk([&](Operation *op) {
        if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp,
                memref::GetGlobalOp>(op))
          ops.push_back(op);
      });
      for (Operation *op : ops) {
        rewriter.setInsertionPoint(op);
        if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
          auto gpuAlloc = gpu::AllocOp::create(
              rewriter, op->getLoc(), alloc.getType(), /*asyncToken=*/Type(),
              /*asyncDependencies=*/ValueRange{}, alloc.getDynamicSizes(),
              alloc.getSymbolOperands(), /*hostShared=*/false);
          rewriter.replaceOp(op, gpuAlloc.getMemref());
        } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
          gpu::DeallocOp::create(rewriter, op->getLoc(), /*asyncToken=*/Type(),
                                 ValueRange{}, dealloc.getMemref());
          rewriter.eraseOp(op);
        } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
          gpu::MemcpyOp::create(rewriter, op->getLoc(), /*asyncToken=*/Type(),
                                ValueRange{}, copy.getTarget(),
                                copy.getSource());
          rewriter.eraseOp(op);
        } else {
          op->emitError()
              << "squant-gpu-host-buffers: host constants cannot reach GPU "
                 "kernels; pass the data as a function argument";
          failed = true;
        }
      }
      // The host must not touch device buffers itself.
      func.walk([&](Operation *op) {
        if (isa<memref::LoadOp, memref::StoreOp>(op)) {
          op->emitError() << "squant-gpu-host-buffers: host code reads or "
                             "writes a buffer that lives in device memory";
          failed = true;
        }
      });
    }
    if (failed)
      signalPassFailure();
  }
};
} // namespace
