//===- GPUHostBuffers.cpp - squant-gpu-host-buffers -----------------------===//
//
// After bufferization, the host functions of a GPU module allocate their
// temporaries (kernel outputs, split-K workspaces) with memref.alloc, which
// is host memory. Kernels need device memory, so every allocation that
// reaches a kernel becomes gpu.alloc (and its frees gpu.dealloc, copies
// touching it gpu.memcpy; gpu-to-llvm lowers them to mgpuMemAlloc,
// mgpuMemFree, mgpuMemcpy).
//
// A buffer is device memory when it flows (through views and casts) into a
// kernel launch, a gpu.memcpy, a memref.copy with device memory on the
// other side, the result of a public function (the functions' buffers are
// device pointers by contract, arguments and results alike), or a call
// argument the callee treats as device memory.
// Everything else stays on the host: e.g. the small pointer arrays of the
// buffer-deallocation helpers, and public function arguments marked
// `squant.host` (read by the host code only, e.g. a decoder's position).
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"
#include "squant/Dialect/SQuant/IR/SQuantDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPUHOSTBUFFERS
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {

/// The buffer a memref value views: through view-like ops, casts and the
/// base buffer of extract_strided_metadata.
Value rootBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(def)) {
      v = view.getViewSource();
    } else if (auto cast = dyn_cast<memref::CastOp>(def)) {
      v = cast.getSource();
    } else if (auto meta = dyn_cast<memref::ExtractStridedMetadataOp>(def)) {
      v = meta.getSource();
    } else {
      break;
    }
  }
  return v;
}

/// Function argument attribute: a host buffer (only the host code reads it).
constexpr llvm::StringLiteral kHostBufferAttrName =
    squant::SQuantDialect::kHostAttrName;

struct SQuantGPUHostBuffersPass
    : squant::impl::SQuantGPUHostBuffersBase<SQuantGPUHostBuffersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> funcs(module.getOps<func::FuncOp>());

    // Values (allocations, function arguments) that must be device memory.
    DenseSet<Value> device;
    auto sink = [&](Value v) {
      if (isa<BaseMemRefType>(v.getType()))
        return device.insert(rootBuffer(v)).second;
      return false;
    };
    // Arguments marked `squant.host` are host buffers the host code reads
    // (e.g. a decoder layer's position); all others are device pointers.
    DenseSet<Value> host;
    for (func::FuncOp f : funcs)
      if (f.isPublic() && !f.isExternal())
        for (BlockArgument arg : f.getArguments()) {
          if (f.getArgAttr(arg.getArgNumber(), kHostBufferAttrName))
            host.insert(arg);
          else
            sink(arg);
        }
    // Propagate to a fixpoint (calls make private parameters device).
    bool changed = true;
    while (changed) {
      changed = false;
      for (func::FuncOp f : funcs) {
        f.walk([&](Operation *op) {
          if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
            for (Value v : launch.getKernelOperands())
              changed |= sink(v);
          } else if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
            // An explicit copy: its non-global side is device memory.
            for (Value v : {copy.getDst(), copy.getSrc()})
              if (!rootBuffer(v).getDefiningOp<memref::GetGlobalOp>() &&
                  !rootBuffer(v).getDefiningOp<memref::AllocaOp>())
                changed |= sink(v);
          } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
            // Buffer-to-buffer copies stay on one side.
            if (device.contains(rootBuffer(copy.getSource())) ||
                device.contains(rootBuffer(copy.getTarget())))
              for (Value v : {copy.getSource(), copy.getTarget()})
                if (!rootBuffer(v).getDefiningOp<memref::GetGlobalOp>())
                  changed |= sink(v);
          } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
            if (f.isPublic())
              for (Value v : ret.getOperands())
                changed |= sink(v);
          } else if (auto call = dyn_cast<func::CallOp>(op)) {
            auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
            if (!callee || callee.isExternal())
              return;
            for (auto [operand, param] :
                 llvm::zip(call.getOperands(), callee.getArguments()))
              if (device.contains(param))
                changed |= sink(operand);
            // Results of a callee returning device buffers.
            for (Operation &inner : callee.getBody().getOps())
              if (auto r = dyn_cast<func::ReturnOp>(inner))
                for (auto [res, val] :
                     llvm::zip(call.getResults(), r.getOperands()))
                  if (device.contains(rootBuffer(val)))
                    changed |= sink(res);
          }
        });
      }
    }

    IRRewriter rewriter(&getContext());
    bool failed = false;
    for (Value arg : host)
      if (device.contains(arg)) {
        auto f = cast<func::FuncOp>(
            cast<BlockArgument>(arg).getOwner()->getParentOp());
        f.emitError() << "squant-gpu-host-buffers: argument #"
                      << cast<BlockArgument>(arg).getArgNumber()
                      << " is marked " << kHostBufferAttrName
                      << " but reaches device code";
        failed = true;
      }
    for (func::FuncOp f : funcs) {
      SmallVector<Operation *> ops;
      f.walk([&](Operation *op) {
        if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp,
                memref::GetGlobalOp, memref::LoadOp, memref::StoreOp>(op))
          ops.push_back(op);
      });
      auto onDevice = [&](Value v) { return device.contains(rootBuffer(v)); };
      for (Operation *op : ops) {
        rewriter.setInsertionPoint(op);
        if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
          if (!device.contains(alloc.getResult()))
            continue;
          auto gpuAlloc = gpu::AllocOp::create(
              rewriter, op->getLoc(), alloc.getType(), /*asyncToken=*/Type(),
              /*asyncDependencies=*/ValueRange{}, alloc.getDynamicSizes(),
              alloc.getSymbolOperands(), /*hostShared=*/false);
          // Keep the root set pointing at the live value.
          device.insert(gpuAlloc.getMemref());
          rewriter.replaceOp(op, gpuAlloc.getMemref());
        } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
          if (!onDevice(dealloc.getMemref()))
            continue;
          gpu::DeallocOp::create(rewriter, op->getLoc(), /*asyncToken=*/Type(),
                                 ValueRange{}, dealloc.getMemref());
          rewriter.eraseOp(op);
        } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
          if (!onDevice(copy.getSource()) && !onDevice(copy.getTarget()))
            continue;
          gpu::MemcpyOp::create(rewriter, op->getLoc(), /*asyncToken=*/Type(),
                                ValueRange{}, copy.getTarget(),
                                copy.getSource());
          rewriter.eraseOp(op);
        } else if (auto global = dyn_cast<memref::GetGlobalOp>(op)) {
          // A host constant may only be uploaded, never reach a kernel.
          if (!device.contains(global.getResult()))
            continue;
          bool uploadOnly = llvm::all_of(global->getUses(), [](OpOperand &u) {
            if (auto c = dyn_cast<gpu::MemcpyOp>(u.getOwner()))
              return c.getSrc() == u.get();
            if (auto c = dyn_cast<memref::CopyOp>(u.getOwner()))
              return c.getSource() == u.get();
            return false;
          });
          if (uploadOnly)
            continue;
          op->emitError()
              << "squant-gpu-host-buffers: host constants cannot reach GPU "
                 "kernels; pass the data as a function argument or copy it "
                 "to device memory";
          failed = true;
        } else {
          Value buffer = isa<memref::LoadOp>(op)
                             ? cast<memref::LoadOp>(op).getMemRef()
                             : cast<memref::StoreOp>(op).getMemRef();
          if (onDevice(buffer)) {
            op->emitError() << "squant-gpu-host-buffers: host code reads or "
                               "writes a buffer that lives in device memory";
            failed = true;
          }
        }
      }
    }
    if (failed)
      signalPassFailure();
  }
};
} // namespace
