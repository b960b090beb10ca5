//===- LaunchMemoryEffects.cpp - memory effects of gpu.launch_func --------===//
//
// gpu.launch_func does not describe its memory effects, so the ownership-
// based buffer deallocation pipeline (which squant-gpu-pipeline runs after
// convert-squant-to-gpu, on the host code) rejects it as "unknown". A kernel
// can only reach memory through its buffer operands (memrefs, or pointers
// after gpu-to-llvm), so an external model declares exactly that: every
// buffer operand may be read and written. Without effects a launch would be
// dead code to DCE once its operands are LLVM pointers.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

using namespace mlir;

namespace {
struct LaunchFuncMemoryEffects
    : public MemoryEffectOpInterface::ExternalModel<LaunchFuncMemoryEffects,
                                                    gpu::LaunchFuncOp> {
  void getEffects(
      Operation *op,
      SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
          &effects) const {
    auto launch = cast<gpu::LaunchFuncOp>(op);
    bool any = false;
    for (OpOperand &operand : op->getOpOperands()) {
      // Buffers: memrefs, or pointers once gpu-to-llvm has run.
      if (!isa<BaseMemRefType, LLVM::LLVMPointerType>(operand.get().getType()))
        continue;
      if (!llvm::is_contained(launch.getKernelOperands(), operand.get()))
        continue;
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
      any = true;
    }
    // A launch is never dead code, even without buffers.
    if (!any)
      effects.emplace_back(MemoryEffects::Write::get(),
                           SideEffects::DefaultResource::get());
  }
};
} // namespace

void mlir::squant::registerGPULaunchMemoryEffects(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, gpu::GPUDialect *) {
    OperationName name(gpu::LaunchFuncOp::getOperationName(), ctx);
    if (!name.hasInterface<MemoryEffectOpInterface>())
      gpu::LaunchFuncOp::attachInterface<LaunchFuncMemoryEffects>(*ctx);
  });
}
