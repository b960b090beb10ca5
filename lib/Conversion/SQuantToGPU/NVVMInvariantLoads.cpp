//===- NVVMInvariantLoads.cpp - squant-nvvm-invariant-loads ---------------===//
//
// NVPTX reads global memory through the read-only data cache (ld.global.nc)
// when a load is marked invariant, or when its pointer is a noalias,
// read-only kernel parameter. MLIR's memref calling convention passes two
// pointers per buffer (allocated and aligned), so it cannot mark them
// noalias; it does forward `llvm.readonly`. This pass closes the gap: loads
// whose address is a GEP chain rooted at a read-only kernel argument become
// invariant, and read-only pointer arguments become noalias. convert-squant-to-gpu marks exactly the buffers a kernel never
// writes, and the kernel's outputs never alias its inputs (destination-style
// ops), so the contents are constant for the kernel's lifetime.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTNVVMINVARIANTLOADS
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {
/// The kernel argument `ptr` is derived from through GEPs and address-space
/// casts, if any.
BlockArgument rootArgument(Value ptr) {
  while (Operation *def = ptr.getDefiningOp()) {
    if (auto gep = dyn_cast<LLVM::GEPOp>(def))
      ptr = gep.getBase();
    else if (auto cast = dyn_cast<LLVM::AddrSpaceCastOp>(def))
      ptr = cast.getArg();
    else
      return nullptr;
  }
  return dyn_cast<BlockArgument>(ptr);
}

struct SQuantNVVMInvariantLoadsPass
    : squant::impl::SQuantNVVMInvariantLoadsBase<SQuantNVVMInvariantLoadsPass> {
  void runOnOperation() override {
    getOperation().walk([](gpu::GPUModuleOp module) {
      module.walk([](LLVM::LLVMFuncOp func) {
        if (!func->hasAttr(gpu::GPUDialect::getKernelFuncAttrName()) &&
            !func->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName()))
          return;
        if (func.getBody().empty())
          return;
        Block *entry = &func.getBody().front();
        // Both pointers of a read-only buffer's descriptor: the allocated one
        // is never dereferenced, the aligned one only read, so `noalias`
        // holds; NVPTX then selects ld.global.nc even where LLVM's
        // optimizations drop the invariant.load metadata.
        for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
          if (isa<LLVM::LLVMPointerType>(func.getArgument(i).getType()) &&
              func.getArgAttr(i, LLVM::LLVMDialect::getReadonlyAttrName()))
            func.setArgAttr(i, LLVM::LLVMDialect::getNoAliasAttrName(),
                            UnitAttr::get(func.getContext()));
        func.walk([&](LLVM::LoadOp load) {
          BlockArgument arg = rootArgument(load.getAddr());
          if (!arg || arg.getOwner() != entry)
            return;
          if (func.getArgAttr(arg.getArgNumber(),
                              LLVM::LLVMDialect::getReadonlyAttrName()))
            load.setInvariant(true);
        });
      });
    });
  }
};
} // namespace
