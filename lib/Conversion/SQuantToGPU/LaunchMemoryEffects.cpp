//===- LaunchMemoryEffects.cpp - memory effects of gpu.launch_func --------===//
//
// gpu.launch_func does not describe its memory effects, so the ownership-
// based buffer deallocation pipeline (which squant-gpu-pipeline runs after
// convert-squant-to-gpu, on the host code) rejects it as "unknown". A kernel
// can only reach memory through its memref operands, so an external model
// declares exactly that: every memref operand may be read and written.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
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
    for (OpOperand &operand : op->getOpOperands()) {
      if (!isa<BaseMemRefType>(operand.get().getType()))
        continue;
      if (!llvm::is_contained(launch.getKernelOperands(), operand.get()))
        continue;
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    }
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
